//! Source roots (configured or detected) and the module name each Python file gets under them.

use std::collections::BTreeSet;

use crate::vfs::{self, GlobError};

/// The source roots of a repository: repository-relative folders, `""` for the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceRoots {
    /// Sorted, deepest last among those sharing a prefix.
    roots: Vec<String>,
}

impl SourceRoots {
    /// Roots given explicitly (tests, configuration already expanded).
    pub fn new(roots: impl IntoIterator<Item = String>) -> Self {
        let set: BTreeSet<String> = roots.into_iter().map(|r| normalize(&r)).collect();
        Self { roots: set.into_iter().collect() }
    }

    /// Configured patterns (`src`, `libs/*`, `.`) matched against the folders holding
    /// Python files and their ancestors.
    pub fn configured(patterns: &[String], python_files: &[String]) -> Result<Self, GlobError> {
        let dirs = all_dirs(python_files);
        let mut roots = BTreeSet::new();
        for pattern in patterns {
            let pattern = normalize(pattern);
            if pattern.contains(['*', '?', '[', '{']) {
                let matcher = vfs::glob(&pattern, "source_roots")?;
                roots.extend(dirs.iter().filter(|d| !d.is_empty() && matcher.is_match(d.as_str())).cloned());
            } else {
                roots.insert(pattern);
            }
        }
        Ok(Self { roots: roots.into_iter().collect() })
    }

    /// The indexes of the glob `patterns` that match no folder holding Python files (nor
    /// an ancestor of one): warnings, since the folders may come later.
    pub fn unmatched_globs(patterns: &[String], python_files: &[String]) -> Vec<usize> {
        let dirs = all_dirs(python_files);
        let mut unmatched = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let pattern = normalize(pattern);
            if !pattern.contains(['*', '?', '[', '{']) {
                continue;
            }
            let Ok(matcher) = vfs::glob(&pattern, "source_roots") else { continue };
            if !dirs.iter().any(|d| !d.is_empty() && matcher.is_match(d.as_str())) {
                unmatched.push(index);
            }
        }
        unmatched
    }

    /// Detection: the repository root, every folder named `src`, and every folder that
    /// holds a top-level package (a package whose parent folder is not one).
    pub fn detect(python_files: &[String]) -> Self {
        let mut package_dirs = BTreeSet::new();
        for path in python_files {
            let name = vfs::file_name(path);
            if name == "__init__.py" || name == "__init__.pyi" {
                package_dirs.insert(vfs::parent(path).to_owned());
            }
        }
        let mut roots = BTreeSet::from([String::new()]);
        for dir in all_dirs(python_files) {
            if vfs::file_name(&dir) == "src" {
                roots.insert(dir);
            }
        }
        for dir in &package_dirs {
            let parent = vfs::parent(dir);
            if !package_dirs.contains(parent) {
                roots.insert(parent.to_owned());
            }
        }
        Self { roots: roots.into_iter().collect() }
    }

    /// All roots, sorted.
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// The roots containing `path`, deepest first.
    pub fn containing<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.roots.iter().rev().map(String::as_str).filter(move |root| is_under(path, root))
    }

    /// The deepest root containing `path`.
    pub fn root_of<'a>(&'a self, path: &'a str) -> Option<&'a str> {
        self.containing(path).next()
    }

    /// `src/, .` — for messages.
    pub fn describe(&self) -> String {
        if self.roots.is_empty() {
            return "(none)".to_owned();
        }
        let mut shown: Vec<String> = self
            .roots
            .iter()
            .map(|r| if r.is_empty() { "`.`".to_owned() } else { format!("`{r}/`") })
            .collect();
        // Deepest first reads better: the roots most likely meant come first.
        shown.reverse();
        if shown.len() > SHOWN_ROOTS {
            let more = shown.len() - SHOWN_ROOTS;
            shown.truncate(SHOWN_ROOTS);
            shown.push(format!("{more} more (see `pleat list` and source_roots in [tool.pleat])"));
        }
        shown.join(", ")
    }
}

/// How many roots a message names before it says "and N more".
const SHOWN_ROOTS: usize = 6;

fn normalize(root: &str) -> String {
    let trimmed = root.trim().trim_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed == "." { String::new() } else { trimmed.to_owned() }
}

/// Every folder that holds a Python file, and all their ancestors (`""` included).
fn all_dirs(python_files: &[String]) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for path in python_files {
        let mut dir = vfs::parent(path);
        loop {
            if !dirs.insert(dir.to_owned()) {
                break;
            }
            if dir.is_empty() {
                break;
            }
            dir = vfs::parent(dir);
        }
    }
    dirs
}

/// True when `path` lies under `root` (`""` holds everything).
pub fn is_under(path: &str, root: &str) -> bool {
    root.is_empty() || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

/// The module a file provides under `root`: `a/b/c.py` → `a.b.c`, `a/b/__init__.py` →
/// `a.b`. None when the path is not a Python file or a part is not an identifier
/// (such files are still targets; nothing can import them by name).
pub fn module_name(path: &str, root: &str) -> Option<String> {
    let rel = if root.is_empty() { path } else { path.strip_prefix(root)?.strip_prefix('/')? };
    let stem = rel.strip_suffix(".py").or_else(|| rel.strip_suffix(".pyi"))?;
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    if stem == "__init__" {
        return None; // an __init__.py directly in a source root is not a package
    }
    let parts: Vec<&str> = stem.split('/').collect();
    parts.iter().all(|p| is_identifier(p)).then(|| parts.join("."))
}

/// A Python identifier (ASCII letters, digits, underscore and any non-ASCII letter).
pub fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !part.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn detects_root_src_and_folders_holding_top_level_packages() {
        let roots = SourceRoots::detect(&files(&[
            "setup.py",
            "src/app/__init__.py",
            "src/app/core/__init__.py",
            "src/app/core/x.py",
            "projects/lib/lib/__init__.py",
            "projects/lib/tests/test_lib.py",
            "tests/unit/__init__.py",
            "tests/conftest.py",
        ]));
        assert_eq!(roots.roots(), ["", "projects/lib", "src", "tests"]);
        assert_eq!(roots.root_of("src/app/core/x.py"), Some("src"));
        assert_eq!(roots.root_of("projects/lib/lib/__init__.py"), Some("projects/lib"));
        assert_eq!(roots.root_of("projects/other.py"), Some(""));
        assert_eq!(roots.containing("src/app/x.py").collect::<Vec<_>>(), ["src", ""]);
        assert_eq!(roots.describe(), "`tests/`, `src/`, `projects/lib/`, `.`");
    }

    #[test]
    fn configured_roots_with_globs() {
        let python = files(&["libs/a/a.py", "libs/b/b.py", "src/x.py", "top.py"]);
        let roots =
            SourceRoots::configured(&["libs/*".to_owned(), "./src/".to_owned(), ".".to_owned()], &python)
                .unwrap();
        assert_eq!(roots.roots(), ["", "libs/a", "libs/b", "src"]);
        assert!(SourceRoots::configured(&["libs/[".to_owned()], &python).is_err());
    }

    #[test]
    fn module_names() {
        assert_eq!(module_name("src/a/b/c.py", "src").as_deref(), Some("a.b.c"));
        assert_eq!(module_name("src/a/b/__init__.py", "src").as_deref(), Some("a.b"));
        assert_eq!(module_name("a/b.pyi", "").as_deref(), Some("a.b"));
        assert_eq!(module_name("__init__.py", ""), None);
        assert_eq!(module_name("my-scripts/run.py", ""), None);
        assert_eq!(module_name("srcx/a.py", "src"), None);
        assert_eq!(module_name("a/README.md", ""), None);
        assert_eq!(module_name("pkg/données.py", "").as_deref(), Some("pkg.données"));
    }
}
