//! mypy's configuration as mypy finds it from the root (`mypy.ini`, `.mypy.ini`, `pyproject.toml` with `[tool.mypy]`, `setup.cfg` with `[mypy]`) and the files it names to check (`files`, `packages`, `modules`, less what `exclude` leaves out of folders).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::goals::GoalError;
use crate::graph::FileId;
use crate::project::Project;

/// The part of mypy's configuration that says where it is and what to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MypyConfig {
    /// The root-relative configuration file mypy reads, if any.
    pub file: Option<String>,
    /// `files`: paths and globs, relative to the root.
    pub files: Vec<String>,
    /// `packages`: dotted names, checked with their submodules.
    pub packages: Vec<String>,
    /// `modules`: dotted names.
    pub modules: Vec<String>,
    /// `exclude`: regular expressions over paths met while walking a folder.
    pub exclude: Vec<String>,
    /// `plugins`: module names or `.py` paths, each with an optional `:function`.
    pub plugins: Vec<String>,
}

/// The files mypy checks when it runs bare from the root, as its configuration names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredTargets {
    /// The configuration file that names them.
    pub file: String,
    pub ids: Vec<FileId>,
}

impl MypyConfig {
    /// Reads the configuration file mypy would read in `root`: the first of `mypy.ini`,
    /// `.mypy.ini` (taken even without a `[mypy]` section), `pyproject.toml` with
    /// `[tool.mypy]`, `setup.cfg` with `[mypy]`. A file that does not parse is passed over,
    /// as mypy passes over it.
    pub fn find(root: &Path) -> Self {
        for name in ["mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg"] {
            let Ok(text) = std::fs::read_to_string(root.join(name)) else { continue };
            let found = if name == "pyproject.toml" {
                from_pyproject(&text)
            } else {
                let section = ini_section(&text, "mypy");
                if section.is_none() && name == "setup.cfg" {
                    continue;
                }
                Some(from_ini(&section.unwrap_or_default()))
            };
            if let Some(config) = found {
                return Self { file: Some(name.to_owned()), ..config };
            }
        }
        Self::default()
    }

    /// The project's files mypy loads as plugins: a `.py` path, or a module of the project
    /// with what it imports.
    pub fn plugin_inputs(&self, project: &Project) -> Vec<String> {
        let mut inputs = Vec::new();
        for plugin in &self.plugins {
            let name = match plugin.rsplit_once(':') {
                Some((name, function)) if !function.contains(['/', '.']) => name,
                _ => plugin.as_str(),
            };
            let id = if name.ends_with(".py") {
                let path = normalise(name);
                inputs.push(path.clone());
                project.id(&path)
            } else {
                project.files().map(|(id, _)| id).find(|id| project.module(*id) == Some(name))
            };
            if let Some(id) = id {
                inputs.push(project.path(id).to_owned());
                inputs.extend(
                    project.dependencies(&[id], true).into_iter().map(|d| project.path(d).to_owned()),
                );
            }
        }
        inputs
    }

    fn names_targets(&self) -> bool {
        !(self.files.is_empty() && self.packages.is_empty() && self.modules.is_empty())
    }
}

/// The files a bare `mypy` in the root checks: those named by the `files`, `packages` and
/// `modules` settings of its configuration (folders walked as mypy walks them, `exclude`
/// applied there); `None` when the configuration names none. An entry that names nothing
/// of the project is an error, as it is for mypy.
pub fn configured_targets(project: &Project) -> Result<Option<ConfiguredTargets>, GoalError> {
    let config = MypyConfig::find(&project.root);
    let Some(file) = config.file.clone().filter(|_| config.names_targets()) else { return Ok(None) };
    let problem = |message: String| GoalError::Config { file: file.clone(), reason: message };
    let exclude = config
        .exclude
        .iter()
        .map(|pattern| {
            regex::Regex::new(pattern).map_err(|e| {
                problem(format!(
                    "mypy's `exclude` pattern `{pattern}` is not a regular expression Pleat can read ({}); simplify it or name the files to check (`pleat check src::`)",
                    e.to_string().lines().last().unwrap_or_default().trim()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let python: Vec<(FileId, &str)> = project
        .files()
        .filter(|(_, f)| crate::vfs::is_python(&f.path))
        .map(|(id, f)| (id, f.path.as_str()))
        .collect();
    let mut ids = BTreeSet::new();
    for entry in &config.files {
        let entry = normalise(entry);
        let found: Vec<FileId> = if entry.contains(['*', '?', '[']) {
            let glob = crate::vfs::glob_set(std::slice::from_ref(&entry), "files").map_err(|e| {
                problem(format!(
                    "mypy's `files` entry `{entry}` is not a glob Pleat can read ({}); fix the entry or name the files to check (`pleat check src::`)",
                    e.message
                ))
            })?;
            python
                .iter()
                .filter(|(_, path)| {
                    let walked_from = || ancestors(path).find(|dir| glob.is_match(dir));
                    glob.is_match(path) || walked_from().is_some_and(|dir| !excluded(&exclude, dir, path))
                })
                .map(|(id, _)| *id)
                .collect()
        } else {
            python
                .iter()
                .filter(|(_, path)| {
                    let under = entry.is_empty() || path.starts_with(&format!("{entry}/"));
                    *path == entry || (under && !excluded(&exclude, &entry, path))
                })
                .map(|(id, _)| *id)
                .collect()
        };
        if found.is_empty() {
            return Err(problem(format!(
                "mypy's `files` names `{entry}`, which holds no Python file of the project; fix the entry or name the files to check (`pleat check src::`)"
            )));
        }
        ids.extend(found);
    }
    for (setting, names, with_submodules) in
        [("packages", &config.packages, true), ("modules", &config.modules, false)]
    {
        for name in names {
            let found: Vec<FileId> = python
                .iter()
                .filter(|(id, _)| {
                    project.module(*id).is_some_and(|module| {
                        module == name
                            || (with_submodules
                                && module
                                    .strip_prefix(name.as_str())
                                    .is_some_and(|rest| rest.starts_with('.')))
                    })
                })
                .map(|(id, _)| *id)
                .collect();
            if found.is_empty() {
                return Err(problem(format!(
                    "mypy's `{setting}` names `{name}`, which is no module of the project; fix the entry or name the files to check (`pleat check src::`)"
                )));
            }
            ids.extend(found);
        }
    }
    Ok(Some(ConfiguredTargets { file, ids: ids.into_iter().collect() }))
}

/// A configured path as a root-relative one: no `./`, no trailing `/`, `.` as the empty path.
fn normalise(entry: &str) -> String {
    let mut entry = entry.trim();
    while let Some(rest) = entry.strip_prefix("./") {
        entry = rest;
    }
    let entry = entry.trim_end_matches('/');
    if entry == "." { String::new() } else { entry.to_owned() }
}

/// The folders holding a path, outermost first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(|(at, _)| &path[..at])
}

/// True when mypy, walking folder `dir` (root-relative, empty for the root), leaves `path`
/// out: `exclude` is searched in each folder below `dir` (written with a trailing `/`) and in
/// the file's own path.
fn excluded(exclude: &[regex::Regex], dir: &str, path: &str) -> bool {
    if exclude.is_empty() {
        return false;
    }
    let below = if dir.is_empty() { 0 } else { dir.len() + 1 };
    let folders = ancestors(path).filter(|f| f.len() >= below).map(|f| format!("{f}/"));
    folders.chain(std::iter::once(path.to_owned())).any(|p| exclude.iter().any(|re| re.is_match(&p)))
}

/// `[tool.mypy]` of a pyproject.toml; `None` when it has none (or is not TOML).
fn from_pyproject(text: &str) -> Option<MypyConfig> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let mypy = table.get("tool")?.get("mypy")?;
    let list = |key: &str, split: bool| -> Vec<String> {
        match mypy.get(key) {
            Some(toml::Value::String(s)) if split => split_commas(s),
            Some(toml::Value::String(s)) => vec![s.trim().to_owned()],
            Some(toml::Value::Array(items)) => {
                items.iter().filter_map(toml::Value::as_str).map(|s| s.trim().to_owned()).collect()
            }
            _ => Vec::new(),
        }
    };
    Some(MypyConfig {
        file: None,
        files: list("files", true),
        packages: list("packages", true),
        modules: list("modules", true),
        exclude: list("exclude", false),
        plugins: list("plugins", true),
    })
}

/// The `[mypy]` section of an INI file.
fn from_ini(section: &BTreeMap<String, String>) -> MypyConfig {
    let list = |key: &str| section.get(key).map(|v| split_commas(v)).unwrap_or_default();
    MypyConfig {
        file: None,
        files: list("files"),
        packages: list("packages"),
        modules: list("modules"),
        // One pattern, verbose ones spread over lines.
        exclude: section.get("exclude").map(|v| vec![v.trim().to_owned()]).unwrap_or_default(),
        plugins: list("plugins"),
    }
}

fn split_commas(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// One section of an INI file (`crate::ini`, as Python's `configparser` reads it), keys
/// lower-cased. `None` when the section is missing or the file does not parse.
pub(super) fn ini_section(text: &str, name: &str) -> Option<BTreeMap<String, String>> {
    let ini = crate::ini::parse(text).ok()?;
    let section = ini.section(name)?;
    Some(
        section
            .entries
            .iter()
            .map(|e| (e.key.to_lowercase(), e.value.trim_start_matches('\n').to_owned()))
            .collect(),
    )
}
