//! pytest's configuration of a repository, found as pytest 9 finds it (the first of pytest.toml, .pytest.toml, pytest.ini, .pytest.ini, pyproject.toml, tox.ini, setup.cfg at the root that holds pytest settings) and read for what decides which files pytest collects: testpaths, python_files, norecursedirs and addopts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ini;

/// The files pytest looks for in a folder, in its order of precedence (pytest 9.x,
/// `_pytest/config/findpaths.py`). The first that holds pytest settings is the
/// configuration file; pytest.toml, .pytest.toml, pytest.ini and .pytest.ini are, even
/// without any.
pub const CONFIG_FILES: [&str; 7] =
    ["pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"];

/// pytest's `python_files` when the configuration does not set it.
pub const DEFAULT_PYTHON_FILES: [&str; 2] = ["test_*.py", "*_test.py"];

/// pytest's `norecursedirs` when the configuration does not set it.
pub const DEFAULT_NORECURSEDIRS: [&str; 9] =
    ["*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}"];

/// What pytest's configuration says about collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PytestConfig {
    /// The configuration file pytest uses (a name from [`CONFIG_FILES`]), if any. A
    /// pyproject.toml without pytest settings is the file when no other holds settings.
    pub file: Option<String>,
    /// `testpaths` as written (globs allowed); empty: pytest starts at the root.
    pub testpaths: Vec<String>,
    /// File-name patterns of test modules (fnmatch; a pattern with `/` matches the path).
    pub python_files: Vec<String>,
    /// Folder patterns pytest does not enter.
    pub norecursedirs: Vec<String>,
    pub addopts: Addopts,
}

impl Default for PytestConfig {
    fn default() -> Self {
        Self {
            file: None,
            testpaths: Vec::new(),
            python_files: DEFAULT_PYTHON_FILES.map(str::to_owned).to_vec(),
            norecursedirs: DEFAULT_NORECURSEDIRS.map(str::to_owned).to_vec(),
            addopts: Addopts::default(),
        }
    }
}

/// The options in `addopts` that change which files pytest collects. The others (`-m`,
/// `-k`, `-x`, …) select or run tests inside files; they still apply, because the
/// configuration file reaches every test process. `--rootdir` is recognised but changes
/// nothing here: pytest settles the rootdir before it reads addopts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addopts {
    /// Positional arguments: where pytest starts instead of `testpaths`.
    pub paths: Vec<String>,
    /// `--doctest-modules`: every module pytest walks is searched for doctests.
    pub doctest_modules: bool,
    /// `--doctest-glob` patterns (pytest's default, `test*.txt`, when empty).
    pub doctest_globs: Vec<String>,
    /// `-p NAME` and `-p no:NAME`, as written.
    pub plugins: Vec<String>,
    /// `--ignore` paths.
    pub ignore: Vec<String>,
    /// `--ignore-glob` patterns.
    pub ignore_glob: Vec<String>,
    /// `--pyargs`: `testpaths` and positional arguments are module names.
    pub pyargs: bool,
    /// `-o key=value` / `--override-ini key=value`: pytest applies them over the file's
    /// settings (pytest 9).
    pub overrides: Vec<(String, String)>,
    /// Every other long option's name, as written (`--ruff`, `--mypy`): plugins' switches.
    pub flags: Vec<String>,
}

/// pytest's configuration could not be read (pytest could not read it either).
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct PytestConfigError {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Finds and reads pytest's configuration at `root`; pytest's defaults when there is none.
/// Only the root is searched: it is where Pleat runs pytest from, and the only folder
/// whose configuration files reach the test sandboxes.
pub fn load(root: &Path) -> Result<PytestConfig, PytestConfigError> {
    let mut bare_pyproject = false;
    for name in CONFIG_FILES {
        let path = root.join(name);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| PytestConfigError {
            path: path.clone(),
            line: 1,
            message: format!("cannot read it as UTF-8 text ({e}); pytest reads its configuration from it"),
        })?;
        if let Some(config) = parse(name, &text).map_err(|(line, message)| PytestConfigError {
            path: path.clone(),
            line,
            message,
        })? {
            return Ok(config);
        }
        bare_pyproject |= name == "pyproject.toml";
    }
    Ok(PytestConfig { file: bare_pyproject.then(|| "pyproject.toml".to_owned()), ..PytestConfig::default() })
}

/// Reads one configuration file by its name (a name from [`CONFIG_FILES`]): `None` when
/// it holds no pytest settings and pytest would look further. Errors are (line, message).
pub fn parse(name: &str, text: &str) -> Result<Option<PytestConfig>, (usize, String)> {
    let settings = match name {
        "pytest.toml" | ".pytest.toml" => Some(pytest_toml(text)?),
        "pyproject.toml" => pyproject_toml(text)?,
        "pytest.ini" | ".pytest.ini" => Some(ini_section(text, "pytest")?.unwrap_or_default()),
        "tox.ini" => ini_section(text, "pytest")?,
        "setup.cfg" => setup_cfg(text)?,
        _ => None,
    };
    settings.map(|s| from_settings(name, &s)).transpose()
}

/// A setting as the file gives it.
#[derive(Debug, Clone)]
enum Value {
    /// INI text, or a TOML scalar in `ini_options` (pytest splits it like a shell).
    Text(String),
    List(Vec<String>),
    /// A TOML value of another type (named), or a string where native TOML needs a list.
    Wrong(&'static str),
}

/// The settings of a file, with the line each is on.
#[derive(Debug, Clone, Default)]
struct Settings(BTreeMap<String, (Value, usize)>);

fn from_settings(name: &str, settings: &Settings) -> Result<PytestConfig, (usize, String)> {
    let addopts = match settings.0.get("addopts") {
        Some(_) => parse_addopts(&args_of(settings, "addopts")?.unwrap_or_default()),
        None => Addopts::default(),
    };
    let mut settings = settings.clone();
    for (key, value) in &addopts.overrides {
        let line = settings.0.get("addopts").map_or(1, |(_, line)| *line);
        settings.0.insert(key.clone(), (Value::Text(value.clone()), line));
    }
    let defaults = PytestConfig::default();
    Ok(PytestConfig {
        file: Some(name.to_owned()),
        testpaths: args_of(&settings, "testpaths")?.unwrap_or_default(),
        python_files: args_of(&settings, "python_files")?.unwrap_or(defaults.python_files),
        norecursedirs: args_of(&settings, "norecursedirs")?.unwrap_or(defaults.norecursedirs),
        addopts,
    })
}

/// A setting of pytest's "args" type: a list, or text split like a shell would.
fn args_of(settings: &Settings, key: &str) -> Result<Option<Vec<String>>, (usize, String)> {
    let Some((value, line)) = settings.0.get(key) else { return Ok(None) };
    let bad = |what: &str| (*line, format!("`{key}` {what}; pytest expects a list of strings there"));
    match value {
        Value::List(items) => Ok(Some(items.clone())),
        Value::Text(text) => shell_split(text).map(Some).map_err(|e| bad(&e)),
        Value::Wrong(kind) => Err(bad(&format!("is {kind}"))),
    }
}

/// `[section]` of an INI file, if present.
fn ini_section(text: &str, section: &str) -> Result<Option<Settings>, (usize, String)> {
    let ini = ini::parse(text).map_err(|e| (e.line, e.message))?;
    Ok(ini.section(section).map(|s| {
        Settings(s.entries.iter().map(|e| (e.key.clone(), (Value::Text(e.value.clone()), e.line))).collect())
    }))
}

/// setup.cfg: `[tool:pytest]`; a plain `[pytest]` section there is an error to pytest.
fn setup_cfg(text: &str) -> Result<Option<Settings>, (usize, String)> {
    if let Some(settings) = ini_section(text, "tool:pytest")? {
        return Ok(Some(settings));
    }
    let ini = ini::parse(text).map_err(|e| (e.line, e.message))?;
    match ini.section("pytest") {
        Some(section) => Err((
            section.line,
            "pytest no longer reads a [pytest] section in setup.cfg; rename it to [tool:pytest]".to_owned(),
        )),
        None => Ok(None),
    }
}

fn toml_table(text: &str) -> Result<toml::Table, (usize, String)> {
    text.parse::<toml::Table>().map_err(|e| {
        let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        (line, e.message().trim().to_owned())
    })
}

/// pytest.toml: the `[pytest]` table, native TOML types.
fn pytest_toml(text: &str) -> Result<Settings, (usize, String)> {
    let doc = toml_table(text)?;
    if let Some(table) = doc.get("pytest").and_then(toml::Value::as_table) {
        return Ok(native(text, table));
    }
    let top_level: Vec<&str> = doc.iter().filter(|(_, v)| !v.is_table()).map(|(k, _)| k.as_str()).collect();
    if top_level.is_empty() {
        Ok(Settings::default())
    } else {
        Err((
            line_of_key(text, top_level[0]),
            format!("pytest settings must be under a [pytest] table (found {})", top_level.join(", ")),
        ))
    }
}

/// pyproject.toml: `[tool.pytest]` (native TOML types, pytest 9) or
/// `[tool.pytest.ini_options]` (INI-style values); not both.
fn pyproject_toml(text: &str) -> Result<Option<Settings>, (usize, String)> {
    let doc = toml_table(text)?;
    let Some(tool_pytest) = doc.get("tool").and_then(|t| t.get("pytest")).and_then(toml::Value::as_table)
    else {
        return Ok(None);
    };
    let ini_options = tool_pytest.get("ini_options").and_then(toml::Value::as_table);
    let mut native_table = tool_pytest.clone();
    native_table.remove("ini_options");
    match (native_table.is_empty(), ini_options) {
        (false, Some(_)) => Err((
            line_of_key(text, "ini_options"),
            "[tool.pytest] and [tool.pytest.ini_options] cannot be used together; keep one".to_owned(),
        )),
        (false, None) => Ok(Some(native(text, &native_table))),
        (true, Some(options)) => Ok(Some(Settings(
            options
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        toml::Value::Array(items) => strings(items),
                        toml::Value::String(s) => Value::Text(s.clone()),
                        // pytest takes `str()` of other scalars.
                        toml::Value::Integer(i) => Value::Text(i.to_string()),
                        toml::Value::Float(f) => Value::Text(f.to_string()),
                        toml::Value::Boolean(b) => Value::Text(if *b { "True" } else { "False" }.to_owned()),
                        other => Value::Wrong(other.type_str()),
                    };
                    (k.clone(), (value, line_of_key(text, k)))
                })
                .collect(),
        ))),
        (true, None) => Ok(None),
    }
}

/// Native TOML settings: lists stay lists; a string where a list belongs is an error.
fn native(text: &str, table: &toml::Table) -> Settings {
    Settings(
        table
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    toml::Value::Array(items) => strings(items),
                    toml::Value::String(_) => Value::Wrong("a string"),
                    other => Value::Wrong(other.type_str()),
                };
                (k.clone(), (value, line_of_key(text, k)))
            })
            .collect(),
    )
}

fn strings(items: &[toml::Value]) -> Value {
    items
        .iter()
        .map(|i| i.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
        .map_or(Value::Wrong("a list holding something other than strings"), Value::List)
}

/// The 1-based line of the first `key =` in a TOML text (1 when not found).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix(key).or_else(|| l.strip_prefix(&format!("\"{key}\"")));
            l.is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

/// Splits like Python's `shlex.split` (POSIX mode, no comments): whitespace separates,
/// quotes group, a backslash escapes outside single quotes.
pub fn shell_split(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut token = String::new();
    let mut in_token = false;
    let mut chars = text.chars();
    let unclosed = || format!("has an unclosed quote in `{text}`");
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_token {
                    out.push(std::mem::take(&mut token));
                    in_token = false;
                }
            }
            '\\' => {
                in_token = true;
                token.push(chars.next().ok_or_else(|| format!("ends with a lone backslash in `{text}`"))?);
            }
            '\'' => {
                in_token = true;
                loop {
                    match chars.next().ok_or_else(unclosed)? {
                        '\'' => break,
                        other => token.push(other),
                    }
                }
            }
            '"' => {
                in_token = true;
                loop {
                    match chars.next().ok_or_else(unclosed)? {
                        '"' => break,
                        '\\' => match chars.next().ok_or_else(unclosed)? {
                            escaped @ ('"' | '\\') => token.push(escaped),
                            other => {
                                token.push('\\');
                                token.push(other);
                            }
                        },
                        other => token.push(other),
                    }
                }
            }
            other => {
                in_token = true;
                token.push(other);
            }
        }
    }
    if in_token {
        out.push(token);
    }
    Ok(out)
}

/// Long options (pytest's and common plugins') that take a value, so that the value is
/// not mistaken for a path. An unknown option is taken for a flag.
const LONG_WITH_VALUE: &[&str] = &[
    "--basetemp",
    "--benchmark-columns",
    "--benchmark-group-by",
    "--benchmark-json",
    "--benchmark-save",
    "--benchmark-sort",
    "--benchmark-storage",
    "--capture",
    "--code-highlight",
    "--color",
    "--confcutdir",
    "--config-file",
    "--cov-config",
    "--cov-fail-under",
    "--cov-report",
    "--deselect",
    "--dist",
    "--doctest-glob",
    "--doctest-report",
    "--durations",
    "--durations-min",
    "--html",
    "--hypothesis-profile",
    "--hypothesis-seed",
    "--ignore",
    "--ignore-glob",
    "--import-mode",
    "--junit-prefix",
    "--junit-xml",
    "--junitxml",
    "--log-cli-date-format",
    "--log-cli-format",
    "--log-cli-level",
    "--log-date-format",
    "--log-disable",
    "--log-file",
    "--log-file-date-format",
    "--log-file-format",
    "--log-file-level",
    "--log-file-mode",
    "--log-format",
    "--log-level",
    "--maxfail",
    "--maxprocesses",
    "--mypy-ini-file",
    "--mypy-pyproject-toml-file",
    "--mypy-testing-base",
    "--numprocesses",
    "--override-ini",
    "--pythonwarnings",
    "--randomly-seed",
    "--report-log",
    "--reruns",
    "--reruns-delay",
    "--rootdir",
    "--show-capture",
    "--tb",
    "--timeout",
    "--verbosity",
];

/// Long options whose value is optional (taken when the next word is not an option).
const LONG_WITH_OPTIONAL_VALUE: &[&str] = &["--cov", "--cache-show", "--debug"];

/// Short options that take a value (attached, `-pno:x`, or the next word).
const SHORT_WITH_VALUE: &[char] = &['c', 'k', 'm', 'n', 'o', 'p', 'r', 'W'];

/// Reads an addopts list as pytest's argument parser would, keeping what changes
/// collection.
pub fn parse_addopts(args: &[String]) -> Addopts {
    let mut out = Addopts::default();
    let mut words = args.iter().map(String::as_str).peekable();
    while let Some(word) = words.next() {
        if word == "--" {
            out.paths.extend(words.by_ref().map(str::to_owned));
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value.to_owned())),
                None => (word.to_owned(), None),
            };
            let value = if attached.is_some() {
                attached
            } else if LONG_WITH_VALUE.contains(&name.as_str()) {
                words.next().map(str::to_owned)
            } else if LONG_WITH_OPTIONAL_VALUE.contains(&name.as_str()) {
                words.next_if(|w| !w.starts_with('-')).map(str::to_owned)
            } else {
                None
            };
            match (name.as_str(), value) {
                ("--doctest-modules", _) => out.doctest_modules = true,
                ("--pyargs", _) => out.pyargs = true,
                ("--doctest-glob", Some(v)) => out.doctest_globs.push(v),
                ("--ignore", Some(v)) => out.ignore.push(v),
                ("--ignore-glob", Some(v)) => out.ignore_glob.push(v),
                ("--override-ini", Some(v)) => push_override(&mut out, &v),
                _ => out.flags.push(name),
            }
        } else if let Some(cluster) = word.strip_prefix('-').filter(|c| !c.is_empty()) {
            // `-vx` are two flags; `-ra` is `-r a`; `-pno:x` is `-p no:x`.
            for (at, flag) in cluster.char_indices() {
                if SHORT_WITH_VALUE.contains(&flag) {
                    let rest = &cluster[at + flag.len_utf8()..];
                    let value =
                        if rest.is_empty() { words.next().map(str::to_owned) } else { Some(rest.to_owned()) };
                    match (value, flag) {
                        (Some(value), 'p') => out.plugins.push(value.trim().to_owned()),
                        (Some(value), 'o') => push_override(&mut out, &value),
                        _ => {}
                    }
                    break;
                }
            }
        } else {
            out.paths.push(word.to_owned());
        }
    }
    out
}

fn push_override(out: &mut Addopts, text: &str) {
    if let Some((key, value)) = text.split_once('=') {
        out.overrides.push((key.trim().to_owned(), value.to_owned()));
    }
}

#[cfg(test)]
mod tests;
