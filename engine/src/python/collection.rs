//! Which files a plain `pytest` at the root collects, decided from pytest's configuration without running pytest: test modules (`python_files` under `testpaths`, outside `norecursedirs` and ignored paths), modules collected only for their doctests (`--doctest-modules`) or for the items of file plugins (pytest-ruff and the like), and non-Python files that pytest's doctest text collector or a plugin collects, which Pleat reports rather than runs. `[tool.pleat] test_patterns` overrides the Python side.

use std::path::Path;

use globset::GlobSet;

use super::fnmatch::Pattern;
use super::pytest_config::PytestConfig;
use crate::vfs::{self, GlobError};

/// How pytest collects a Python file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    /// Not at all.
    No,
    /// As a test module (and for its doctests too under `--doctest-modules`).
    Tests,
    /// Only for its doctests (`--doctest-modules`, a module that is no test module), and
    /// for the items of file plugins.
    DoctestsOnly,
    /// Only for the items a file plugin (pytest-ruff, pytest-mypy, …) adds to every
    /// Python file: a module that is no test module and has no doctest.
    PluginItems,
}

/// A non-Python file the walk kept because a collector might read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherFile {
    pub path: String,
    /// The text has a doctest example line (`>>>`).
    pub has_examples: bool,
}

/// A file pytest collects and Pleat does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    pub file: String,
    /// Who collects it, for people: `pytest plugin pytest-mypy-plugins`.
    pub collector: String,
}

/// True when the text holds a doctest example: a line that starts, after indentation,
/// with `>>>` (what `doctest` looks for in docstrings and text files).
pub fn has_doctest_examples(text: &[u8]) -> bool {
    text.split(|b| *b == b'\n').any(|line| line.trim_ascii_start().starts_with(b">>>"))
}

/// Where pytest starts collecting.
#[derive(Debug, Clone)]
enum Start {
    /// A repository-relative path (`` is the root).
    Path(String),
    /// A `testpaths` glob (Python's `glob`: `*` stays within a name, `**` spans
    /// folders), matched against folders and files.
    Glob(GlobSet),
}

/// pytest's collection rules for one repository.
#[derive(Debug, Clone)]
pub struct Collection {
    /// `[tool.pleat] test_patterns`: when set, a Python file is a test by its name alone.
    patterns: Option<GlobSet>,
    /// The absolute root, for patterns with a `/` (pytest matches them on absolute paths).
    root: String,
    starts: Vec<Start>,
    /// Literal starts and their parent folders: pytest never ignores them.
    exempt: Vec<String>,
    python_files: Vec<PathPattern>,
    norecursedirs: Vec<PathPattern>,
    ignore: Vec<String>,
    /// Absolute patterns, matched against absolute paths.
    ignore_glob: Vec<Pattern>,
    doctest_modules: bool,
    /// Empty when the doctest plugin is blocked (`-p no:doctest`).
    doctest_globs: Vec<PathPattern>,
    mypy_plugin: bool,
    /// The file plugins the project turns on ([`super::file_plugins`]).
    file_plugins: Vec<&'static str>,
}

/// A pattern as pytest's `fnmatch_ex` applies it: without `/` to the name, with `/` to
/// the absolute path (anchored anywhere after a `/` unless the pattern is absolute).
#[derive(Debug, Clone)]
struct PathPattern {
    pattern: Pattern,
    on_path: bool,
}

impl PathPattern {
    fn new(text: &str) -> Self {
        let on_path = text.contains('/');
        let anchored = if on_path && !text.starts_with('/') { format!("*/{text}") } else { text.to_owned() };
        Self { pattern: Pattern::new(&anchored), on_path }
    }

    fn many(texts: &[String]) -> Vec<Self> {
        texts.iter().map(|t| Self::new(t)).collect()
    }

    /// Whether the pattern matches a repository-relative path under `root` (absolute).
    fn matches(&self, root: &str, path: &str) -> bool {
        if self.on_path {
            self.pattern.matches(&format!("{root}/{path}"))
        } else {
            self.pattern.matches(vfs::file_name(path))
        }
    }
}

/// The pytest-mypy-plugins distribution and the plugin names `-p` can use for it.
const MYPY_PLUGINS: &str = "pytest-mypy-plugins";
const MYPY_PLUGINS_MODULE: &str = "pytest_mypy_plugins.collect";

impl Collection {
    /// Collection rules from pytest's configuration; `test_patterns` is `[tool.pleat]`'s
    /// override; `requirements` are the project's normalized distribution names (the
    /// plugins installed in its test environment).
    pub fn new(
        root: &Path,
        pytest: &PytestConfig,
        test_patterns: Option<&[String]>,
        requirements: &[String],
    ) -> Result<Self, GlobError> {
        let patterns = test_patterns.map(|p| vfs::glob_set(p, "test_patterns")).transpose()?;
        let root_text = root.to_string_lossy().trim_end_matches('/').to_owned();
        let addopts = &pytest.addopts;
        // pytest uses testpaths only for a run without arguments (addopts' count), from
        // the rootdir (the root: `--rootdir` in addopts comes too late to change it).
        // Module names (`--pyargs`) are not resolved: pytest's walk from the root
        // stands in for them.
        let paths: &[String] = if !addopts.paths.is_empty() {
            &addopts.paths
        } else if addopts.pyargs {
            &[]
        } else {
            &pytest.testpaths
        };
        let mut starts = Vec::new();
        for path in paths {
            // A pattern globset cannot compile is a plain path to Python's glob too.
            let glob = path
                .contains(['*', '?', '['])
                .then(|| vfs::glob_set(&[path.trim_start_matches("./").to_owned()], "testpaths").ok())
                .flatten();
            if let Some(glob) = glob {
                starts.push(Start::Glob(glob));
            } else if let Some(rel) = normalize(&root_text, path).filter(|rel| root.join(rel).exists()) {
                starts.push(Start::Path(rel));
            }
        }
        if starts.is_empty() {
            starts.push(Start::Path(String::new()));
        }
        let mut exempt = Vec::new();
        for start in &starts {
            if let Start::Path(path) = start {
                let mut dir = path.as_str();
                loop {
                    exempt.push(dir.to_owned());
                    if dir.is_empty() {
                        break;
                    }
                    dir = vfs::parent(dir);
                }
            }
        }
        let plugin = |name: &str| addopts.plugins.iter().any(|p| p == name);
        let doctest_globs: Vec<String> = if plugin("no:doctest") {
            Vec::new()
        } else if addopts.doctest_globs.is_empty() {
            vec!["test*.txt".to_owned()]
        } else {
            addopts.doctest_globs.clone()
        };
        let mypy_plugin = (requirements.iter().any(|r| r == MYPY_PLUGINS) || plugin(MYPY_PLUGINS_MODULE))
            && !plugin(&format!("no:{MYPY_PLUGINS}"))
            && !plugin(&format!("no:{MYPY_PLUGINS_MODULE}"));
        Ok(Self {
            patterns,
            starts,
            exempt,
            python_files: PathPattern::many(&pytest.python_files),
            norecursedirs: PathPattern::many(&pytest.norecursedirs),
            ignore: addopts.ignore.iter().filter_map(|p| normalize(&root_text, p)).collect(),
            ignore_glob: addopts
                .ignore_glob
                .iter()
                .map(|g| Pattern::new(&absolute_pattern(&root_text, g)))
                .collect(),
            root: root_text,
            doctest_modules: addopts.doctest_modules,
            doctest_globs: PathPattern::many(&doctest_globs),
            mypy_plugin,
            file_plugins: super::file_plugins::active(root, &addopts.flags, requirements),
        })
    }

    /// How pytest collects a Python file; `has_examples` when its text holds a doctest.
    pub fn python_file(&self, path: &str, has_examples: bool) -> Collected {
        if let Some(patterns) = &self.patterns {
            return if patterns.is_match(vfs::file_name(path)) { Collected::Tests } else { Collected::No };
        }
        let Some(is_start) = self.reached(path) else { return Collected::No };
        let name = vfs::file_name(path);
        if is_start || self.python_files.iter().any(|p| p.matches(&self.root, path)) {
            Collected::Tests
        } else if self.doctest_modules && has_examples && name != "setup.py" && name != "__main__.py" {
            Collected::DoctestsOnly
        } else if !self.file_plugins.is_empty() {
            Collected::PluginItems
        } else {
            Collected::No
        }
    }

    /// Who collects a non-Python file, if anyone (pytest's own rules decide, whatever
    /// `test_patterns` says).
    pub fn other_file(&self, file: &OtherFile) -> Option<NotRun> {
        let is_start = self.reached(&file.path)?;
        let name = vfs::file_name(&file.path);
        let text_doctest = self.doctest_globs.iter().any(|g| g.matches(&self.root, &file.path))
            || (is_start
                && !self.doctest_globs.is_empty()
                && (name.ends_with(".txt") || name.ends_with(".rst")));
        let collector = if text_doctest && file.has_examples {
            let globs: Vec<&str> = self.doctest_globs.iter().map(|g| g.pattern.as_str()).collect();
            format!("pytest's doctest plugin, --doctest-glob {}", globs.join(" "))
        } else if self.mypy_plugin && is_mypy_plugins_case(name) {
            format!("pytest plugin {MYPY_PLUGINS}")
        } else {
            return None;
        };
        Some(NotRun { file: file.path.clone(), collector })
    }

    /// True for a pytest-mypy-plugins case file the plugin collects here: Pleat runs it
    /// as a test target of its own.
    pub fn is_plugin_case(&self, file: &OtherFile) -> bool {
        self.mypy_plugin
            && is_mypy_plugins_case(vfs::file_name(&file.path))
            && self.reached(&file.path).is_some()
    }

    /// True for a non-Python file a collector might read (the walk keeps these): a
    /// doctest text file or a pytest-mypy-plugins case, whether or not the plugin is there.
    pub fn may_collect_other(&self, path: &str) -> bool {
        is_mypy_plugins_case(vfs::file_name(path))
            || self.doctest_globs.iter().any(|g| g.matches(&self.root, path))
    }

    /// `Some(true)` when the path is where pytest starts, `Some(false)` when pytest's walk
    /// from a start reaches it, `None` when it does not.
    fn reached(&self, path: &str) -> Option<bool> {
        let mut reached = None;
        for start in &self.starts {
            let from = match start {
                Start::Path(from) => (from == path || is_under(path, from)).then_some(from.as_str()),
                Start::Glob(glob) => ancestors_and_self(path).into_iter().find(|a| glob.is_match(a)),
            };
            match from {
                Some(from) if from == path => return Some(true),
                Some(from) if self.walk_reaches(from, path) => reached = Some(false),
                _ => {}
            }
        }
        reached
    }

    /// pytest's `pytest_ignore_collect` on every folder below `from` down to the file,
    /// then on the file.
    fn walk_reaches(&self, from: &str, path: &str) -> bool {
        let mut dir = vfs::parent(path);
        while dir.len() > from.len() {
            if !self.exempt.iter().any(|e| e == dir)
                && (vfs::file_name(dir) == "__pycache__"
                    || self.ignored(dir)
                    || self.norecursedirs.iter().any(|p| p.matches(&self.root, dir)))
            {
                return false;
            }
            dir = vfs::parent(dir);
        }
        !self.ignored(path)
    }

    fn ignored(&self, path: &str) -> bool {
        self.ignore.iter().any(|i| i == path)
            || (!self.ignore_glob.is_empty() && {
                let absolute = format!("{}/{path}", self.root);
                self.ignore_glob.iter().any(|g| g.matches(&absolute))
            })
    }
}

/// pytest-mypy-plugins collects `test-*.yml` / `test_*.yaml` and the like.
fn is_mypy_plugins_case(name: &str) -> bool {
    (name.starts_with("test-") || name.starts_with("test_"))
        && (name.ends_with(".yml") || name.ends_with(".yaml"))
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// `a/b/c` → [``, `a`, `a/b`, `a/b/c`].
fn ancestors_and_self(path: &str) -> Vec<&str> {
    let mut out = vec![""];
    out.extend(path.match_indices('/').map(|(i, _)| &path[..i]));
    out.push(path);
    out
}

/// A path as pytest would take it from the root (`./tests/`, `/abs/root/tests`) →
/// repository-relative (`tests`, `` for the root); `None` outside the root.
fn normalize(root: &str, path: &str) -> Option<String> {
    let relative = match path.strip_prefix(root) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ if path.starts_with('/') => return None,
        _ => path,
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// An `--ignore-glob` pattern made absolute the way pytest does (relative to the root).
fn absolute_pattern(root: &str, pattern: &str) -> String {
    if pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        format!("{root}/{}", pattern.trim_start_matches("./"))
    }
}

#[cfg(test)]
mod tests;
