//! The INI reader against configparser's reading of the same text (every expectation but the byte order mark's was checked with Python 3.11's `configparser.ConfigParser(interpolation=None)`; the mark is skipped as pytest's iniconfig skips it).

use super::{IniError, parse, value_lines};

/// `section.key = value` lines for every entry, in file order, values with `\n` escaped.
fn render(text: &str) -> String {
    let ini = parse(text).unwrap();
    let mut out = Vec::new();
    for section in &ini.sections {
        for entry in &section.entries {
            out.push(format!("{}.{}={:?}@{}", section.name, entry.key, entry.value, entry.line));
        }
    }
    out.join("\n")
}

fn error(text: &str) -> IniError {
    parse(text).unwrap_err()
}

#[test]
fn sections_keys_and_both_delimiters() {
    let text = "[pytest]\naddopts = -ra -q\ntestpaths: tests\n\n[tool:pytest]\nx=1\n";
    assert_eq!(
        render(text),
        "pytest.addopts=\"-ra -q\"@2\npytest.testpaths=\"tests\"@3\ntool:pytest.x=\"1\"@6"
    );
    let ini = parse(text).unwrap();
    assert_eq!(ini.section("tool:pytest").unwrap().line, 5);
    assert_eq!(ini.section("pytest").unwrap().get("TESTPATHS"), Some("tests"), "keys ignore case");
    assert!(ini.section("PYTEST").is_none(), "section names keep their case");
}

#[test]
fn the_first_delimiter_splits_and_the_rest_is_value() {
    assert_eq!(
        render("[s]\nurl = http://x:1/?a=b\nk: a = b\n"),
        "s.url=\"http://x:1/?a=b\"@2\ns.k=\"a = b\"@3"
    );
    assert_eq!(render("[s]\nempty =\n"), "s.empty=\"\"@2");
}

#[test]
fn continuation_lines_are_those_indented_deeper_than_their_key() {
    // pytest.ini style: the value starts on the next line.
    assert_eq!(
        render("[pytest]\ntestpaths =\n    tests\n    docs\nx = 1\n"),
        "pytest.testpaths=\"\\ntests\\ndocs\"@2\npytest.x=\"1\"@5"
    );
    // Tabs count as indentation (python-dateutil's setup.cfg), trailing spaces go.
    assert_eq!(
        render("[tool:pytest]\npython_files = \n\ttest_*.py\n\t*_solution.py\t\n"),
        "tool:pytest.python_files=\"\\ntest_*.py\\n*_solution.py\"@2"
    );
    // Keys indented alike are separate entries; deeper lines continue the last one.
    assert_eq!(render("[s]\n  a = 1\n  b = 2\n     more\n"), "s.a=\"1\"@2\ns.b=\"2\\nmore\"@3");
}

#[test]
fn blank_lines_inside_a_value_are_kept_and_trailing_ones_dropped() {
    assert_eq!(render("[s]\na = one\n\n  two\n\n\nb = 3\n"), "s.a=\"one\\n\\ntwo\"@2\ns.b=\"3\"@7");
    assert_eq!(render("[s]\na = one\n\n"), "s.a=\"one\"@2");
}

#[test]
fn comments_are_whole_lines_only() {
    let text = "# top\n; also\n[s]\n# inside\na = b # not a comment\nc = d ; neither\nlist =\n    x\n    # skipped, not the end\n  ; skipped too\n    y\n";
    assert_eq!(render(text), "s.a=\"b # not a comment\"@5\ns.c=\"d ; neither\"@6\ns.list=\"\\nx\\ny\"@7");
}

#[test]
fn headers_end_at_the_last_bracket_and_carriage_returns_and_the_bom_are_ignored() {
    assert_eq!(render("\u{feff}[a]b] trailing\r\nk = v\r\n"), "a]b.k=\"v\"@2");
    assert_eq!(render("  [indented]\nk = v\n"), "indented.k=\"v\"@2");
}

#[test]
fn default_sections_merge_other_repeats_are_errors() {
    assert_eq!(render("[DEFAULT]\na = 1\n[s]\n[DEFAULT]\nb = 2\n"), "DEFAULT.a=\"1\"@2\nDEFAULT.b=\"2\"@5");
    let e = error("[s]\na = 1\n[s]\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("[s] appears twice (first on line 1)"), "{e}");
    let e = error("[s]\nKey = 1\nkey = 2\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("`key` is set twice in [s] (first on line 2)"), "{e}");
}

#[test]
fn lines_configparser_rejects() {
    let e = error("a = 1\n[s]\n");
    assert_eq!((e.line, e.to_string().contains("before any [section]")), (1, true), "{e}");
    let e = error("[s]\njust words\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("not `key = value`"), "{e}");
    let e = error("[s]\n = value\n");
    assert!(e.message.contains("no key"), "{e}");
    let e = error("[]\n");
    assert_eq!(e.line, 1, "`[]` is no header, and no entry either: {e}");
    // An indented line right after a header is an entry, not a continuation.
    assert_eq!(render("[s]\n    a = 1\n"), "s.a=\"1\"@2");
}

#[test]
fn value_lines_splits_multi_line_values() {
    let ini = parse("[s]\nv =\n  a b\n\n  c\n").unwrap();
    let v: Vec<&str> = value_lines(ini.section("s").unwrap().get("v").unwrap()).collect();
    assert_eq!(v, ["a b", "c"]);
}
