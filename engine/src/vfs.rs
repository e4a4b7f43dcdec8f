//! The files of a repository: walking it (honouring .gitignore), repository-relative paths, and the stat data that tells whether a file changed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// What the walk keeps of a file: enough to tell, without reading it, whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStat {
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
    pub inode: u64,
}

/// A file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkedFile {
    /// Repository-relative, `/`-separated.
    pub path: String,
    pub stat: FileStat,
}

/// Everything of interest in a repository.
#[derive(Debug, Default)]
pub struct Walk {
    /// Python sources and stubs, sorted by path.
    pub python: Vec<WalkedFile>,
    /// Requirements files (see [`is_requirements_file`]), sorted.
    pub requirements: Vec<String>,
    /// Every folder that directly holds a Python file, sorted.
    pub dirs: Vec<String>,
    /// Other files the caller asked to keep (see [`walk_keeping`]), sorted.
    pub other: Vec<String>,
    /// Every folder the walk entered (the root is `""`), sorted: what a file watcher
    /// watches, so that it skips what the walk skips.
    pub folders: Vec<String>,
    /// Folders (and files) the walk could not read, sorted: what they hold is left out.
    pub unreadable: Vec<Unreadable>,
}

/// A file or folder that could not be read, with the operating system's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Repository-relative, `/`-separated.
    pub path: String,
    /// The OS error, as it prints (`Permission denied (os error 13)`).
    pub error: String,
    pub is_dir: bool,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_dir {
            write!(
                f,
                "cannot read the folder {}/: {}; the files under it are left out. Give your user read access to it (chmod), or add it to exclude in [tool.pleat]",
                self.path, self.error
            )
        } else {
            write!(
                f,
                "cannot read {}: {}; it is left out (its imports, its tests). Give your user read access to it (chmod), or add it to exclude in [tool.pleat]",
                self.path, self.error
            )
        }
    }
}

/// The path and the OS error of a walk error (ignore wraps them in depth and path layers).
fn unreadable_of(root: &Path, error: &ignore::Error) -> Option<Unreadable> {
    match error {
        ignore::Error::WithPath { path, err } => {
            let reason = match err.as_ref() {
                ignore::Error::Io(io) => io.to_string(),
                other => other.to_string(),
            };
            let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            Some(Unreadable { path: relative(root, path)?, error: reason, is_dir })
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            unreadable_of(root, err)
        }
        ignore::Error::Partial(errors) => errors.iter().find_map(|e| unreadable_of(root, e)),
        _ => None,
    }
}

/// A glob list that could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error("invalid glob {glob:?} in {setting}: {message}; fix the pattern in [tool.pleat]")]
pub struct GlobError {
    pub glob: String,
    pub setting: &'static str,
    pub message: String,
}

/// Compiles a list of globs (`*` does not cross `/`).
pub fn glob_set(globs: &[String], setting: &'static str) -> Result<GlobSet, GlobError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let compiled = globset::GlobBuilder::new(glob.trim_start_matches('/'))
            .literal_separator(true)
            .build()
            .map_err(|e| GlobError { glob: glob.clone(), setting, message: e.kind().to_string() })?;
        builder.add(compiled);
    }
    builder.build().map_err(|e| GlobError { glob: String::new(), setting, message: e.to_string() })
}

/// A single glob, as a matcher.
pub fn glob(pattern: &str, setting: &'static str) -> Result<globset::GlobMatcher, GlobError> {
    Glob::new(pattern).map(|g| g.compile_matcher()).map_err(|e| GlobError {
        glob: pattern.to_owned(),
        setting,
        message: e.kind().to_string(),
    })
}

/// Folders never walked: version control, caches, virtualenvs, node modules.
pub fn skipped_dir(name: &str, path: &Path) -> bool {
    matches!(name, "__pycache__" | "node_modules" | "site-packages")
        || (name.starts_with('.') && name.len() > 1)
        || path.join("pyvenv.cfg").is_file()
}

/// Whether the `.gitignore` files from `root` down to the folder of `rel` leave the file or
/// folder at repository path `rel` out of the walk (the deepest file that says anything
/// decides, as git does); for a file watcher, which sees one path at a time.
pub fn gitignored(root: &Path, rel: &str, is_dir: bool) -> bool {
    let mut folders = vec![root.to_path_buf()];
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    for part in parts {
        let next = folders[folders.len() - 1].join(part);
        folders.push(next);
    }
    let path = root.join(rel);
    for folder in folders.iter().rev() {
        let file = folder.join(".gitignore");
        if !file.is_file() {
            continue;
        }
        let (matcher, _) = ignore::gitignore::Gitignore::new(&file);
        match matcher.matched_path_or_any_parents(&path, is_dir) {
            ignore::Match::Ignore(_) => return true,
            ignore::Match::Whitelist(_) => return false,
            ignore::Match::None => {}
        }
    }
    false
}

/// Whether a root-relative path lies in a folder the walk never enters (a virtualenv — an
/// export being built into one —, a hidden or cache folder): a watcher's event for it is
/// no change of the project.
pub fn in_skipped_dir(root: &Path, path: &str) -> bool {
    let mut folder = root.to_owned();
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts.into_iter().any(|part| {
        folder.push(part);
        skipped_dir(part, &folder)
    })
}

/// One walker thread's findings, merged into the shared result when the thread's
/// visitor is dropped (one lock per thread, not per file).
struct Flush<'a> {
    local: Walk,
    into: &'a Mutex<Walk>,
}

impl Drop for Flush<'_> {
    fn drop(&mut self) {
        if let Ok(mut all) = self.into.lock() {
            all.python.append(&mut self.local.python);
            all.requirements.append(&mut self.local.requirements);
            all.dirs.append(&mut self.local.dirs);
            all.other.append(&mut self.local.other);
            all.folders.append(&mut self.local.folders);
            all.unreadable.append(&mut self.local.unreadable);
        }
    }
}

/// Walks `root` on all cores, honouring .gitignore (also outside a git repository),
/// skipping hidden folders, virtualenvs and the `exclude` globs.
pub fn walk(root: &Path, exclude: &GlobSet) -> Walk {
    walk_keeping(root, exclude, &|_| false)
}

/// [`walk`], also keeping the other files (not Python, not requirements) whose
/// repository-relative path `keep` accepts.
pub fn walk_keeping(root: &Path, exclude: &GlobSet, keep: &(dyn Fn(&str) -> bool + Sync)) -> Walk {
    let found = Mutex::new(Walk::default());
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .parents(false)
        .follow_links(false)
        .threads(std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(8))
        .filter_entry(|entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            let name = entry.file_name().to_string_lossy();
            if is_dir && entry.depth() > 0 && skipped_dir(&name, entry.path()) {
                return false;
            }
            true
        })
        .build_parallel();
    walker.run(|| {
        let found = &found;
        let root = root.to_path_buf();
        let exclude = exclude.clone();
        let mut flush = Flush { local: Walk::default(), into: found };
        Box::new(move |entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    flush.local.unreadable.extend(unreadable_of(&root, &error));
                    return ignore::WalkState::Continue;
                }
            };
            let Some(rel) = relative(&root, entry.path()) else { return ignore::WalkState::Continue };
            if !rel.is_empty() && exclude.is_match(&rel) {
                return ignore::WalkState::Skip;
            }
            let Some(file_type) = entry.file_type() else { return ignore::WalkState::Continue };
            if file_type.is_dir() {
                flush.local.folders.push(rel);
                return ignore::WalkState::Continue;
            }
            if !file_type.is_file() {
                return ignore::WalkState::Continue;
            }
            let name = entry.file_name().to_string_lossy();
            if is_python(&name) {
                if let Ok(meta) = entry.metadata() {
                    flush.local.python.push(WalkedFile { path: rel, stat: stat_of(&meta) });
                }
            } else if is_requirements_file(&rel) {
                flush.local.requirements.push(rel);
            } else if keep(&rel) {
                flush.local.other.push(rel);
            }
            ignore::WalkState::Continue
        })
    });
    let mut walk = found.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    walk.python.sort_by(|a, b| a.path.cmp(&b.path));
    walk.python.dedup_by(|a, b| a.path == b.path);
    walk.requirements.sort();
    walk.other.sort();
    walk.folders.sort();
    walk.unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    walk.unreadable.dedup_by(|a, b| a.path == b.path);
    let mut dirs: Vec<String> = walk.python.iter().map(|f| parent(&f.path).to_owned()).collect();
    dirs.dedup();
    dirs.sort();
    dirs.dedup();
    walk.dirs = dirs;
    walk
}

/// `requirements*.txt` (or pip-tools' `.in`) anywhere, and every `.txt`/`.in` file in a
/// folder named `requirements` (`requirements/dev.txt`, `tests/requirements/py3.txt`).
pub fn is_requirements_file(path: &str) -> bool {
    let name = file_name(path);
    let listing = name.ends_with(".txt") || name.ends_with(".in");
    listing && (name.starts_with("requirements") || file_name(parent(path)) == "requirements")
}

/// The stat data of a file's metadata.
pub fn stat_of(meta: &std::fs::Metadata) -> FileStat {
    use std::os::unix::fs::MetadataExt;
    FileStat {
        size: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        inode: meta.ino(),
    }
}

/// `root/a/b.py` → `a/b.py`; None when `path` is not under `root` or not UTF-8.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut out = String::new();
    for part in rel.components() {
        let part = part.as_os_str().to_str()?;
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(part);
    }
    Some(out)
}

/// `a/b/c.py` → `a/b`; `c.py` → ``.
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// `a/b/c.py` → `c.py`.
pub fn file_name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// `dir` joined with `name`, where `dir` may be the root (``).
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// `path` taken from the repository-relative folder `dir`, with `.` and `..` folded:
/// `("tests", "../LICENSE")` → `LICENSE`; `""` for the root itself; `None` when it
/// leaves the repository.
pub fn join_normalized(dir: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// A Python source or stub, by its path.
pub fn is_python(path: &str) -> bool {
    path.ends_with(".py") || path.ends_with(".pyi")
}

/// The absolute path of a repository-relative one.
pub fn absolute(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_python_files_honouring_gitignore_and_skipping_venvs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("pkg/__init__.py", ""),
            ("pkg/a.py", "import os"),
            ("pkg/a.pyi", ""),
            ("ignored/x.py", ""),
            (".hidden/y.py", ""),
            ("venv/lib/z.py", ""),
            ("venv/pyvenv.cfg", ""),
            ("pkg/__pycache__/a.py", ""),
            ("requirements.txt", "requests\n"),
            ("requirements-dev.txt", "pytest\n"),
            ("tests/requirements/py3.txt", "selenium\n"),
            ("docs/notes.txt", "not requirements\n"),
            ("build/gen.py", ""),
            (".gitignore", "ignored/\n"),
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let exclude = glob_set(&["build".to_owned()], "exclude").unwrap();
        let walk = walk_keeping(root, &exclude, &|path| path.ends_with("notes.txt"));
        let paths: Vec<&str> = walk.python.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["pkg/__init__.py", "pkg/a.py", "pkg/a.pyi"]);
        assert_eq!(
            walk.requirements,
            ["requirements-dev.txt", "requirements.txt", "tests/requirements/py3.txt"]
        );
        assert_eq!(walk.dirs, ["pkg"]);
        assert!(walk.folders.iter().any(String::is_empty) && walk.folders.contains(&"pkg".to_owned()));
        for skipped in ["build", "pkg/__pycache__", "ignored"] {
            assert!(!walk.folders.contains(&skipped.to_owned()), "{skipped}: {:?}", walk.folders);
        }
        // One path at a time, as a watcher sees them.
        assert!(gitignored(root, "ignored", true) && gitignored(root, "ignored/x.py", false));
        assert!(gitignored(root, "ignored/new/deeper.py", false));
        assert!(!gitignored(root, "pkg/a.py", false) && !gitignored(root, "pkg", true));
        assert_eq!(walk.other, ["docs/notes.txt"]);
        assert_eq!(walk.python[1].stat.size, 9);
        // A watcher's path is judged by the same folders.
        assert!(in_skipped_dir(root, "venv/lib/z.py") && in_skipped_dir(root, ".hidden/y.py"));
        assert!(in_skipped_dir(root, "dist/.3.11.7.building-1/lib/site-packages/six.py"));
        assert!(!in_skipped_dir(root, "pkg/a.py") && !in_skipped_dir(root, "setup.py"));
    }

    #[test]
    fn path_helpers() {
        assert_eq!(parent("a/b/c.py"), "a/b");
        assert_eq!(parent("c.py"), "");
        assert_eq!(file_name("a/b/c.py"), "c.py");
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", "x"), "a/x");
        assert_eq!(join_normalized("tests", "../LICENSE").as_deref(), Some("LICENSE"));
        assert_eq!(join_normalized("", "./a/./b/").as_deref(), Some("a/b"));
        assert_eq!(join_normalized("tests", "../../x"), None);
        assert_eq!(join_normalized("tests", "..").as_deref(), Some(""));
        assert_eq!(join_normalized("", ".."), None);
        assert_eq!(relative(Path::new("/r"), Path::new("/r/a/b.py")).as_deref(), Some("a/b.py"));
        assert!(glob_set(&["a/[".to_owned()], "exclude").is_err());
    }
}
