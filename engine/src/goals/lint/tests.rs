//! Lint: the output parsers, and ruff run for real through the whole stack (cache included).

use super::*;
use crate::loader::{LoadOptions, load};

#[test]
fn parses_each_linters_output() {
    // Real ruff 0.17.5 output for `s = "é😀"; import os` (columns count characters).
    let ruff = r#"[{"cell":null,"code":"F401","end_location":{"column":20,"row":1},"filename":"/tmp/sandbox/root/pkg/a.py","fix":{"applicability":"safe","edits":[{"content":"","end_location":{"column":20,"row":1},"location":{"column":11,"row":1}}],"message":"Remove unused import: `os`"},"location":{"column":18,"row":1},"message":"`os` imported but unused","name":"unused-import","noqa_row":1,"severity":"error","url":"https://docs.astral.sh/ruff/rules/unused-import"},
                   {"code":null,"message":"SyntaxError: bad","location":{"row":3,"column":1},"end_location":{"row":3,"column":2},"filename":"/tmp/sandbox/root/pkg/a.py","fix":null},
                   {"code":"X1","message":"m","location":{"row":4,"column":1},"end_location":{"row":4,"column":2},"filename":"pkg/a.py","fix":{"applicability":"display-only"}}]"#;
    let found = parse_ruff(ruff, "pkg/a.py").unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!((found[0].file.as_str(), found[0].line, found[0].column), ("pkg/a.py", 1, 18));
    assert!(found[0].fix_available && !found[1].fix_available && found[2].fix_available);
    assert_eq!(
        found[0].fix,
        Some(LintFix {
            message: Some("Remove unused import: `os`".to_owned()),
            applicability: "safe".to_owned(),
            edits: vec![LintEdit {
                line: 1,
                column: 11,
                end_line: 1,
                end_column: 20,
                content: String::new()
            }],
        })
    );
    assert_eq!(found[1].fix, None);
    assert_eq!(found[1].code, "syntax-error");
    let display_only = found[2].fix.as_ref().unwrap();
    assert_eq!((display_only.applicability.as_str(), display_only.edits.len()), ("display-only", 0));
    assert!(parse_ruff("not json", "a.py").is_err());

    let flake8 = parse_flake8("./pkg/a.py:2:1: E302 expected 2 blank lines, found 1\nnoise\n");
    assert_eq!(flake8.len(), 1);
    assert!(flake8[0].fix.is_none());
    assert_eq!((flake8[0].file.as_str(), flake8[0].code.as_str()), ("pkg/a.py", "E302"));

    let pylint = r#"[{"type":"convention","module":"a","obj":"","line":1,"column":0,"endLine":1,"endColumn":9,"path":"a.py","symbol":"missing-module-docstring","message":"Missing module docstring","message-id":"C0114"}]"#;
    let found = parse_pylint(pylint, "a.py").unwrap();
    assert_eq!((found[0].column, found[0].code.as_str()), (1, "C0114"));
    assert!(parse_pylint("", "a.py").unwrap().is_empty());
}

use crate::goals::test_support::write;

#[test]
fn ruff_runs_hermetically_and_reruns_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    write(&root, "pkg/a.py", "import os\n");
    write(&root, "pkg/b.py", "X = 1\n");
    write(&root, "pyproject.toml", "[tool.ruff]\nline-length = 100\n");
    let cache = dir.path().join("cache");
    let goals = crate::goals::test_support::goals(&cache, 2);
    let run = |goals: &Goals| {
        let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
        let ids: Vec<_> = project.files().map(|(id, _)| id).collect();
        let mut linted =
            lint(goals, &project, &ids, Linter::Ruff, &LintOptions::default(), &mut |_| {}).unwrap();
        linted.sort_by(|a, b| a.file.cmp(&b.file));
        linted
    };
    let first = run(&goals);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].findings.len(), 1, "{first:?}");
    assert_eq!(first[0].findings[0].code, "F401");
    let fix = first[0].findings[0].fix.as_ref().unwrap();
    assert_eq!(fix.applicability, "safe");
    assert_eq!(
        fix.edits,
        [LintEdit { line: 1, column: 1, end_line: 2, end_column: 1, content: String::new() }]
    );
    assert!(first.iter().all(|f| !f.cached));
    let second = run(&goals);
    assert!(second.iter().all(|f| f.cached), "nothing changed: no process runs");
    assert_eq!(second[0].findings, first[0].findings);
    write(&root, "pkg/b.py", "import sys\n");
    let third = run(&goals);
    assert_eq!(third.iter().map(|f| f.cached).collect::<Vec<_>>(), [true, false], "only b.py reruns");
    assert_eq!(third[1].findings[0].code, "F401");
}

#[test]
fn fix_text_applies_safe_fixes_to_the_buffer_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let on_disk = "import os\n\nX = 1\n";
    write(&root, "pkg/a.py", on_disk);
    let cache = dir.path().join("cache");
    let goals = crate::goals::test_support::goals(&cache, 1);
    let (project, _) = load(&root, &LoadOptions { cache_dir: Some(cache.clone()) }).unwrap();
    let buffer = "import os\nimport sys\n\nprint(sys.argv)\n";
    let fixed = fix_text(&goals, &project, "pkg/a.py", buffer, &mut |_| {}).unwrap();
    assert_eq!(fixed.text.as_deref(), Some("import sys\n\nprint(sys.argv)\n"), "F401's fix removes `os`");
    assert!(!fixed.cached);
    assert_eq!(std::fs::read_to_string(root.join("pkg/a.py")).unwrap(), on_disk);
    let again = fix_text(&goals, &project, "pkg/a.py", buffer, &mut |_| {}).unwrap();
    assert_eq!((again.text, again.cached), (fixed.text, true));
    let clean =
        fix_text(&goals, &project, "pkg/a.py", "import sys\n\nprint(sys.argv)\n", &mut |_| {}).unwrap();
    assert_eq!(clean.text, None, "nothing to fix");
}
