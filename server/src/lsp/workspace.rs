//! One workspace folder: its project (shared with runs as an `Arc`, copied on write), the problem with its configuration if any, the last results of its runs, and the parsed test items of its test files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::config::{self, Config, ConfigError};
use engine::loader::{self, LoadOptions, LoadReport};
use engine::project::{Project, ProjectError, SourceFile, Update};

use super::results::Results;

/// Test files' items by path, each with the content digest they were parsed from; shared
/// with the threads that parse them.
pub type ItemCache =
    Arc<std::sync::Mutex<std::collections::HashMap<String, (engine::parse_cache::ContentDigest, TestItems)>>>;

/// A test file's items, each with its name's range in the file.
pub type TestItems = Arc<Vec<(engine::python::test_items::TestItem, tower_lsp_server::ls_types::Range)>>;

pub struct Workspace {
    /// The folder the client opened (documents are matched against it).
    pub folder: PathBuf,
    pub project: Arc<Project>,
    /// The configuration file could not be used; the project runs on defaults.
    pub config_problem: Option<ConfigProblem>,
    pub results: Results,
    /// Stops our own file watcher of this folder (when the client cannot watch).
    pub poller: Option<engine::exec::Cancel>,
    /// Each test file's test items with their LSP ranges, by content digest: parsed once
    /// per content for lenses, counts, `pleat.listTests` and reports.
    pub test_items: ItemCache,
    /// Set while a blocking thread parses test items a lens needs.
    pub items_pending: Arc<std::sync::atomic::AtomicBool>,
}

impl Workspace {
    /// Hands a file's content (an editor buffer) to the project.
    pub fn set_text(&mut self, path: &str, bytes: &[u8]) -> Result<Update, ProjectError> {
        let options = Project::parse_options(&self.project.config);
        Arc::make_mut(&mut self.project).set_file(SourceFile::from_bytes(path, bytes, options))
    }

    /// Hands a file's content, already parsed (an open document's incremental parse), to
    /// the project.
    pub fn set_parsed(
        &mut self,
        path: &str,
        digest: engine::parse_cache::ContentDigest,
        parsed: engine::python::imports::ParsedFile,
    ) -> Result<Update, ProjectError> {
        let source = SourceFile {
            path: path.to_owned(),
            digest,
            stat: engine::vfs::FileStat::default(),
            parsed: Arc::new(parsed),
        };
        Arc::make_mut(&mut self.project).set_file(source)
    }

    /// Back to what is on disk: the file's content and stat data, or its removal.
    pub fn reload_from_disk(&mut self, path: &str) -> Result<Update, ProjectError> {
        let file = self.project.root.join(path);
        let Ok(bytes) = std::fs::read(&file) else {
            let removed = Arc::make_mut(&mut self.project).remove_file(path)?;
            return Ok(if removed { Update::Everything } else { Update::Unchanged });
        };
        let options = Project::parse_options(&self.project.config);
        let mut source = SourceFile::from_bytes(path, &bytes, options);
        if let Ok(meta) = std::fs::metadata(&file) {
            source.stat = engine::vfs::stat_of(&meta);
        }
        Arc::make_mut(&mut self.project).set_file(source)
    }
}

pub use engine::vfs::is_python;

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(poller) = &self.poller {
            poller.cancel();
        }
    }
}

/// An invalid configuration, shown as one diagnostic on its file.
#[derive(Debug, Clone)]
pub struct ConfigProblem {
    pub path: PathBuf,
    /// 1-based, as the configuration reader reports it.
    pub line: usize,
    pub message: String,
}

/// What loading a workspace folder produced.
pub struct Loaded {
    pub project: Project,
    pub report: LoadReport,
    pub config_problem: Option<ConfigProblem>,
    /// The project's goals, built on the loading thread (None when tools cannot run).
    pub goals: Option<std::sync::Arc<engine::goals::Goals>>,
}

/// Loads the project of a workspace folder; an invalid configuration is reported and the
/// defaults used, so the editor keeps working.
pub fn load(folder: &Path, cache_dir: Option<PathBuf>) -> Result<Loaded, String> {
    let root = config::find_root(folder);
    let options = LoadOptions { cache_dir };
    let (config, config_problem) = match config::load(&root) {
        Ok(config) => (config, None),
        Err(e) => {
            let line = match &e {
                ConfigError::Invalid { line, .. } => *line,
                ConfigError::Read { .. } => 1,
            };
            let problem = ConfigProblem {
                path: e.path().to_owned(),
                line,
                message: format!("{e}. Pleat is using the default configuration until it is fixed."),
            };
            (Config::default(), Some(problem))
        }
    };
    let (project, report) = match loader::load_with_config(&root, config, &options) {
        Ok(loaded) => loaded,
        // A setting that only fails when applied (a bad glob): defaults again.
        Err(e) if config_problem.is_none() => {
            let problem = ConfigProblem {
                path: config::config_file(&root).unwrap_or_else(|| root.join("pyproject.toml")),
                line: 1,
                message: format!("{e}. Pleat is using the default configuration until it is fixed."),
            };
            let (project, report) =
                loader::load_with_config(&root, Config::default(), &options).map_err(|e| e.to_string())?;
            return Ok(Loaded { project, report, config_problem: Some(problem), goals: None });
        }
        Err(e) => return Err(e.to_string()),
    };
    Ok(Loaded { project, report, config_problem, goals: None })
}

/// True for files whose change means the workspace must be reloaded: the configuration
/// (pytest's at the root too: it decides which files are tests) and the requirements the
/// resolver reads.
pub fn is_project_file(project: &Project, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(name, "pyproject.toml" | "pleat.toml" | "uv.lock")
        || (name.starts_with("pylock.") && name.ends_with(".toml") && !path.contains('/'))
        || engine::python::pytest_config::CONFIG_FILES.contains(&path)
        || project.requirement_files().iter().any(|(p, _)| p == path)
        || (name.starts_with("requirements") && (name.ends_with(".txt") || name.ends_with(".in")))
}
