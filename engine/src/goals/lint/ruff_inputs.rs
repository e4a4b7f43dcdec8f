//! What ruff reads besides the file it lints, so that a sandbox holding one file answers as `ruff check .` on the whole tree does: the configuration files of the file's folders and their `extend` chains, the `__init__.py` of every folder above it, and, as empty placeholders, the paths its `src` setting makes ruff look for when it sorts the file's imports into first- and third-party.
//!
//! Ruff's rules, as this module follows them (ruff's `pyproject.rs`, `resolver.rs`,
//! `configuration.rs` and `isort/categorize.rs`):
//! - A folder's settings file is its `.ruff.toml`, else its `ruff.toml`, else its
//!   `pyproject.toml` when that has a `[tool.ruff]` table. A file is linted with the settings
//!   of the closest folder above it that has one; the root's are read too (ruff starts there).
//! - `extend = "path"` is relative to the folder of the file that says it, and so are that
//!   file's own paths (`src`, excludes): every file of the chain keeps its place in the sandbox.
//! - `src` (default: the settings file's folder and its `src/`) makes `import a.b` first-party
//!   when some `src` folder has a folder `a/b` or a file `a/b.py` / `a/b.pyi`; ruff asks the
//!   file system, so the sandbox holds an empty placeholder wherever the answer is yes.
//! - A folder is a package when it holds `__init__.py`, whatever is in it (INP001, same-package
//!   import sorting): every ancestor's `__init__.py` goes in.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::goals::GoalError;
use crate::python::imports::{Import, ImportKind};
use crate::vfs;

/// The name of the empty file that makes a placeholder folder exist in a sandbox.
pub(super) const FOLDER_PLACEHOLDER: &str = ".pleat-placeholder";

/// What a lint process's sandbox holds beside the file it lints (which may be among them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Inputs {
    /// Repository files the sandbox holds with their content when they exist: settings
    /// files, the `extend` chains, `__init__.py` files.
    pub files: Vec<String>,
    /// Paths the sandbox holds as empty files: ruff only asks whether they exist.
    pub placeholders: Vec<String>,
}

/// What Pleat reads of a settings file.
#[derive(Debug, Clone, Default)]
struct Settings {
    /// `extend`, as written.
    extend: Option<String>,
    /// `src`, as written.
    src: Option<Vec<String>>,
}

/// Ruff's view of one repository, memoized across the files of a goal.
pub(super) struct RuffFiles<'a> {
    root: &'a Path,
    /// Folder (repository-relative, `""` for the root) → its settings file.
    settings_file: HashMap<String, Option<String>>,
    /// Settings file → the files of its `extend` chain (itself first) and its `src` folders.
    resolved: HashMap<String, (Vec<String>, Vec<String>)>,
    /// (`src` folder, module) → the placeholder that makes ruff find it, if ruff would.
    found: HashMap<(String, String), Option<String>>,
}

impl<'a> RuffFiles<'a> {
    pub fn new(root: &'a Path) -> Self {
        Self { root, settings_file: HashMap::new(), resolved: HashMap::new(), found: HashMap::new() }
    }

    /// The inputs of the ruff process that lints `file` (repository-relative) with these
    /// imports.
    pub fn inputs(&mut self, file: &str, imports: &[Import]) -> Result<Inputs, GoalError> {
        let folders = ancestors(file);
        let mut files = BTreeSet::new();
        for folder in &folders {
            for name in ["__init__.py", ".ruff.toml", "ruff.toml", "pyproject.toml"] {
                files.insert(vfs::join(folder, name));
            }
        }
        // The root's settings are read first; the closest folder's apply to the file.
        let root_settings = self.settings_file("");
        let closest = folders.iter().find_map(|folder| self.settings_file(folder));
        if let Some(root_settings) = &root_settings {
            files.extend(self.resolve(root_settings)?.0);
        }
        let src = match &closest {
            Some(settings) => {
                let (chain, src) = self.resolve(settings)?;
                files.extend(chain);
                src
            }
            None => self.expand_src("", &[".".to_owned(), "src".to_owned()]),
        };
        let mut placeholders = BTreeSet::new();
        let modules: BTreeSet<&str> = imports
            .iter()
            .filter(|i| i.level == 0 && matches!(i.kind, ImportKind::Import | ImportKind::From))
            .map(|i| i.module.as_str())
            .filter(|m| !m.is_empty() && m.split('.').next() != Some("__future__"))
            .collect();
        for module in modules {
            if let Some(found) = src.iter().find_map(|folder| self.find(folder, module)) {
                placeholders.insert(found);
            }
        }
        placeholders.retain(|p| !files.contains(p) && p != file);
        Ok(Inputs { files: files.into_iter().collect(), placeholders: placeholders.into_iter().collect() })
    }

    /// The settings file ruff takes for a folder, if any.
    fn settings_file(&mut self, folder: &str) -> Option<String> {
        if let Some(known) = self.settings_file.get(folder) {
            return known.clone();
        }
        let found = [".ruff.toml", "ruff.toml", "pyproject.toml"]
            .into_iter()
            .map(|n| vfs::join(folder, n))
            .find(|path| {
                let full = self.root.join(path);
                if path.ends_with("pyproject.toml") {
                    // An unreadable one is ruff's to report: it is taken, and ruff fails on it.
                    full.is_file() && read_table(&full).is_none_or(|t| tool_ruff(&t).is_some())
                } else {
                    full.is_file()
                }
            });
        self.settings_file.insert(folder.to_owned(), found.clone());
        found
    }

    /// A settings file's `extend` chain (itself first) and its `src` folders.
    fn resolve(&mut self, settings_file: &str) -> Result<(Vec<String>, Vec<String>), GoalError> {
        if let Some(known) = self.resolved.get(settings_file) {
            return Ok(known.clone());
        }
        let mut chain: Vec<String> = Vec::new();
        let mut src = None;
        let mut next = Some(settings_file.to_owned());
        while let Some(path) = next.take() {
            if chain.contains(&path) {
                break; // ruff reports the cycle itself
            }
            let settings = read_settings(&self.root.join(&path));
            let folder = vfs::parent(&path).to_owned();
            if src.is_none() {
                src = settings.src.as_ref().map(|written| self.expand_src(&folder, written));
            }
            if let Some(extend) = &settings.extend {
                let target = extended(&path, &folder, extend)?;
                if !self.root.join(&target).is_file() {
                    return Err(config_error(
                        &path,
                        format!("`extend = {extend:?}` names {target}, which does not exist; fix the path"),
                    ));
                }
                next = Some(target);
            }
            chain.push(path);
        }
        let src = src.unwrap_or_else(|| {
            self.expand_src(vfs::parent(settings_file), &[".".to_owned(), "src".to_owned()])
        });
        self.resolved.insert(settings_file.to_owned(), (chain.clone(), src.clone()));
        Ok((chain, src))
    }

    /// `src` entries, relative to `folder`, as the repository folders they name (globs
    /// expanded on disk). Entries outside the repository, or written with `~` or `$`, cannot
    /// be mirrored in a sandbox and are left out.
    fn expand_src(&self, folder: &str, written: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for entry in written {
            if entry.starts_with('~') || entry.contains('$') || entry.starts_with('/') {
                continue;
            }
            let Some(path) = vfs::join_normalized(folder, entry) else { continue };
            if path.contains(['*', '?', '[']) {
                out.extend(glob_folders(self.root, &path));
            } else if self.root.join(&path).is_dir() {
                out.push(path);
            }
        }
        out
    }

    /// Whether ruff finds `module` under the `src` folder `folder`, as the placeholder
    /// that makes a sandbox give the same answer.
    fn find(&mut self, folder: &str, module: &str) -> Option<String> {
        let key = (folder.to_owned(), module.to_owned());
        if let Some(known) = self.found.get(&key) {
            return known.clone();
        }
        let base = vfs::join(folder, &module.replace('.', "/"));
        let found = if self.root.join(&base).is_dir() {
            Some(vfs::join(&base, FOLDER_PLACEHOLDER))
        } else {
            ["py", "pyi"].into_iter().map(|ext| format!("{base}.{ext}")).find(|p| self.root.join(p).is_file())
        };
        self.found.insert(key, found.clone());
        found
    }
}

/// The folders above a repository-relative file, closest first, the root (`""`) last.
fn ancestors(file: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = vfs::parent(file);
    loop {
        out.push(current.to_owned());
        if current.is_empty() {
            return out;
        }
        current = vfs::parent(current);
    }
}

/// The folder of a repository-relative path (`""` at the root).
/// The file an `extend` names, or why a sandbox cannot hold it.
fn extended(settings_file: &str, folder: &str, extend: &str) -> Result<String, GoalError> {
    let unusable = |why: &str| {
        config_error(
            settings_file,
            format!(
                "`extend = {extend:?}` {why}; Pleat's sandbox holds only the repository's files, so write a path relative to this file's folder that stays inside the repository"
            ),
        )
    };
    if extend.starts_with('~') || extend.contains('$') {
        return Err(unusable("uses `~` or an environment variable"));
    }
    if extend.starts_with('/') {
        return Err(unusable("is an absolute path"));
    }
    vfs::join_normalized(folder, extend).ok_or_else(|| unusable("leaves the repository"))
}

fn config_error(file: &str, reason: String) -> GoalError {
    GoalError::Config { file: file.to_owned(), reason }
}

fn read_table(path: &Path) -> Option<toml::Table> {
    toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn tool_ruff(pyproject: &toml::Table) -> Option<&toml::Table> {
    pyproject.get("tool")?.as_table()?.get("ruff")?.as_table()
}

/// `extend` and `src` of a settings file (nothing when it does not parse: ruff says why).
fn read_settings(path: &Path) -> Settings {
    let Some(table) = read_table(path) else { return Settings::default() };
    let ruff = if path.ends_with("pyproject.toml") { tool_ruff(&table) } else { Some(&table) };
    let Some(ruff) = ruff else { return Settings::default() };
    Settings {
        extend: ruff.get("extend").and_then(toml::Value::as_str).map(str::to_owned),
        src: ruff
            .get("src")
            .and_then(toml::Value::as_array)
            .map(|list| list.iter().filter_map(toml::Value::as_str).map(str::to_owned).collect()),
    }
}

/// The repository folders a glob names (`*`, `?`, `[…]` within one component, `**` for any
/// depth), sorted.
fn glob_folders(root: &Path, pattern: &str) -> Vec<String> {
    let mut current = vec![String::new()];
    for component in pattern.split('/') {
        let mut next = Vec::new();
        for folder in &current {
            if component == "**" {
                next.extend(all_folders(root, folder));
                continue;
            }
            if !component.contains(['*', '?', '[']) {
                let path = vfs::join(folder, component);
                if root.join(&path).is_dir() {
                    next.push(path);
                }
                continue;
            }
            let Ok(glob) = globset::Glob::new(component) else { return Vec::new() };
            let matcher = glob.compile_matcher();
            let Ok(entries) = std::fs::read_dir(root.join(folder)) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if matcher.is_match(&name) && entry.path().is_dir() {
                    next.push(vfs::join(folder, &name));
                }
            }
        }
        next.sort();
        next.dedup();
        current = next;
    }
    current
}

/// A folder and every folder under it.
fn all_folders(root: &Path, folder: &str) -> Vec<String> {
    let mut out = vec![folder.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(entries) = std::fs::read_dir(root.join(&out[i])) {
            let mut children: Vec<String> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| vfs::join(&out[i], &e.file_name().to_string_lossy()))
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
