//! Named resolves (`[tool.pleat.resolves.<name>]`): which resolve a file uses (the one whose `paths` match it, else the default; two matching is a configuration error), files grouped by resolve, and each resolve's lock file name.

use std::collections::BTreeMap;

use globset::GlobSet;

use crate::config::Config;
use crate::graph::FileId;
use crate::project::Project;

/// The name of the project's own resolve: the requirements under `[tool.pleat]`.
pub const DEFAULT: &str = "default";

/// A file that two named resolves claim, or a resolve's globs that do not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{config}: {message}")]
pub struct ResolveError {
    /// The configuration file (`pyproject.toml`, `pleat.toml`).
    pub config: String,
    pub message: String,
}

/// The named resolves of a configuration, their `paths` compiled.
pub struct Resolves {
    config: String,
    named: Vec<(String, GlobSet)>,
}

impl Resolves {
    pub fn new(config: &Config) -> Result<Self, ResolveError> {
        let file = config_name(config);
        let mut named = Vec::with_capacity(config.resolves.len());
        for (name, resolve) in &config.resolves {
            // Checked when the configuration was read; kept as an error, not a panic.
            let globs = crate::vfs::glob_set(&resolve.paths, "resolve paths").map_err(|e| ResolveError {
                config: file.clone(),
                message: format!("resolve `{name}`: {e}"),
            })?;
            named.push((name.clone(), globs));
        }
        Ok(Self { config: file, named })
    }

    /// The resolve a repository-relative path uses: the named one whose `paths` match it,
    /// else [`DEFAULT`]. A path two named resolves match is an error naming both.
    pub fn of(&self, path: &str) -> Result<&str, ResolveError> {
        let mut matching =
            self.named.iter().filter(|(_, globs)| globs.is_match(path)).map(|(n, _)| n.as_str());
        let Some(first) = matching.next() else { return Ok(DEFAULT) };
        if let Some(second) = matching.next() {
            return Err(ResolveError {
                config: self.config.clone(),
                message: format!(
                    "{path} matches the paths of two resolves, `{first}` and `{second}`; a file uses one resolve, so narrow the `paths` of one of them"
                ),
            });
        }
        Ok(first)
    }

    /// Files grouped by the resolve they use, the default first, then by name; each group
    /// keeps the files' order.
    pub fn group(
        &self,
        project: &Project,
        files: &[FileId],
    ) -> Result<Vec<(String, Vec<FileId>)>, ResolveError> {
        let mut groups: BTreeMap<(bool, String), Vec<FileId>> = BTreeMap::new();
        for id in files {
            let name = self.of(project.path(*id))?;
            groups.entry((name != DEFAULT, name.to_owned())).or_default().push(*id);
        }
        Ok(groups.into_iter().map(|((_, name), ids)| (name, ids)).collect())
    }
}

/// The name of the file the configuration is in (`pyproject.toml` when there is none).
pub fn config_name(config: &Config) -> String {
    config
        .file
        .as_deref()
        .and_then(std::path::Path::file_name)
        .map_or_else(|| "pyproject.toml".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// A named resolve's table as its configuration file spells it: `[tool.pleat.resolves.<name>]`,
/// or `[resolves.<name>]` in pleat.toml.
pub fn table(config: &Config, name: &str) -> String {
    if config_name(config) == "pleat.toml" {
        format!("[resolves.{name}]")
    } else {
        format!("[tool.pleat.resolves.{name}]")
    }
}

/// The lock file of a resolve, at the root: `pylock.toml` for the default one, else
/// `pylock.<name>.toml` (PEP 751's name for a lock among several).
pub fn lock_file(resolve: &str) -> String {
    if resolve == DEFAULT {
        crate::tools::lock::LOCK_FILE.to_owned()
    } else {
        format!("pylock.{resolve}.toml")
    }
}

/// Every resolve's name: the default first, then the named ones.
pub fn names(config: &Config) -> Vec<String> {
    std::iter::once(DEFAULT.to_owned()).chain(config.resolves.keys().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResolveConfig;

    fn config(resolves: &[(&str, &[&str])]) -> Config {
        let mut config = Config::default();
        for (name, paths) in resolves {
            config.resolves.insert(
                (*name).to_owned(),
                ResolveConfig {
                    requirements: Vec::new(),
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                },
            );
        }
        config
    }

    #[test]
    fn a_file_uses_the_resolve_whose_paths_match_else_the_default() {
        let resolves = Resolves::new(&config(&[("legacy", &["legacy/**"]), ("ml", &["ml/*.py"])])).unwrap();
        assert_eq!(resolves.of("legacy/tests/test_a.py"), Ok("legacy"));
        assert_eq!(resolves.of("ml/model.py"), Ok("ml"));
        assert_eq!(resolves.of("ml/sub/model.py"), Ok(DEFAULT), "`*` does not cross a folder");
        assert_eq!(resolves.of("app/test_b.py"), Ok(DEFAULT));
    }

    #[test]
    fn a_file_two_resolves_match_is_an_error_naming_both() {
        let resolves = Resolves::new(&config(&[("a", &["lib/**"]), ("b", &["lib/x/*.py"])])).unwrap();
        let err = resolves.of("lib/x/test_y.py").unwrap_err().to_string();
        assert!(err.starts_with("pyproject.toml: lib/x/test_y.py matches"), "{err}");
        assert!(err.contains("`a` and `b`") && err.contains("narrow"), "{err}");
        assert_eq!(resolves.of("lib/test_z.py"), Ok("a"));
    }

    #[test]
    fn lock_files_are_named_after_their_resolve() {
        assert_eq!(lock_file(DEFAULT), "pylock.toml");
        assert_eq!(lock_file("legacy"), "pylock.legacy.toml");
        assert_eq!(names(&config(&[("b", &["b/**"]), ("a", &["a/**"])])), ["default", "a", "b"]);
    }
}
