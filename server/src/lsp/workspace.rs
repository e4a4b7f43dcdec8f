//! One workspace folder: its project (shared with runs as an `Arc`, copied on write; a change of its module index applied on a blocking thread), the problem with its configuration if any, the last results of its runs, and the parsed test items of its test files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::config::{self, Config, ConfigError};
use engine::loader::{self, LoadOptions, LoadReport};
use engine::project::{Project, ProjectError, SourceFile, Update};

use super::event::Event;
use super::results::Results;

/// A change to a workspace's project.
#[derive(Debug, Clone)]
pub enum Change {
    Set(SourceFile),
    Remove(String),
}

impl Change {
    fn apply_to(self, project: &mut Project) -> Result<Update, ProjectError> {
        match self {
            Change::Set(file) => project.set_file(file),
            Change::Remove(path) => {
                Ok(if project.remove_file(&path)? { Update::Everything } else { Update::Unchanged })
            }
        }
    }
}

/// A change of the module index being applied to a copy of the project on a blocking
/// thread (every file re-resolved), to come back as `Event::Reindexed` with this id.
pub struct Reindexing {
    pub id: u64,
    /// Changes that came meanwhile, replayed on its result in order (those that leave the
    /// index alone are applied to the current project too, so that marks follow edits).
    pub queued: Vec<Change>,
    /// Saves that came meanwhile: their runs start on the result, which knows the new files.
    pub saves: BTreeSet<String>,
    /// Files whose marks were to be published meanwhile: published from the result.
    pub publish: BTreeSet<String>,
    /// A large document was closed meanwhile: its parse is freed with the old project,
    /// so the allocator's pages are given back after the swap (`memory::give_back`).
    pub give_back: bool,
}

/// What a finished re-resolution leaves to do (once no other is under way).
#[derive(Default)]
pub struct Reindexed {
    pub saves: BTreeSet<String>,
    pub publish: BTreeSet<String>,
    pub give_back: bool,
    /// The project could not be re-resolved (its configured source roots); it stays as it was.
    pub error: Option<String>,
}

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
    /// A module-index change under way on a blocking thread.
    pub reindexing: Option<Reindexing>,
    /// Where `Event::Reindexed` goes.
    pub events: tokio::sync::mpsc::UnboundedSender<Event>,
}

impl Workspace {
    /// Hands a file's content (an editor buffer) to the project.
    pub fn set_text(&mut self, path: &str, bytes: &[u8]) -> Result<Update, ProjectError> {
        let options = Project::parse_options(&self.project.config);
        self.apply(Change::Set(SourceFile::from_bytes(path, bytes, options)))
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
        self.apply(Change::Set(source))
    }

    /// Back to what is on disk: the file's content and stat data, or its removal.
    pub fn reload_from_disk(&mut self, path: &str) -> Result<Update, ProjectError> {
        let file = self.project.root.join(path);
        let Ok(bytes) = std::fs::read(&file) else {
            return self.apply(Change::Remove(path.to_owned()));
        };
        let options = Project::parse_options(&self.project.config);
        let mut source = SourceFile::from_bytes(path, &bytes, options);
        if let Ok(meta) = std::fs::metadata(&file) {
            source.stat = engine::vfs::stat_of(&meta);
        }
        self.apply(Change::Set(source))
    }

    /// Applies a change. One that changes the module index (a file added or removed, an
    /// `__init__.py` gaining or losing code under `content_only`) re-resolves every file:
    /// that goes to a blocking thread, on a copy, and comes back as `Event::Reindexed`
    /// (`Update::Unchanged` here: nothing changed yet). While one is under way every change
    /// is queued for its result, and one that leaves the index alone is applied now too.
    fn apply(&mut self, change: Change) -> Result<Update, ProjectError> {
        let changes_index = match &change {
            Change::Set(file) => self.project.changes_index(file),
            Change::Remove(path) => self.project.id(path).is_some(),
        };
        if let Some(reindexing) = &mut self.reindexing {
            reindexing.queued.push(change.clone());
            if changes_index {
                return Ok(Update::Unchanged);
            }
        } else if changes_index {
            self.reindex(change);
            return Ok(Update::Unchanged);
        }
        change.apply_to(Arc::make_mut(&mut self.project))
    }

    /// Starts applying `change` to a copy of the project on a blocking thread.
    fn reindex(&mut self, change: Change) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.reindexing = Some(Reindexing {
            id,
            queued: Vec::new(),
            saves: BTreeSet::new(),
            publish: BTreeSet::new(),
            give_back: false,
        });
        let base = Arc::clone(&self.project);
        let (events, folder) = (self.events.clone(), self.folder.clone());
        tokio::task::spawn_blocking(move || {
            // Always answered: requests wait for it (`state::run`).
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut project = (*base).clone();
                drop(base);
                change.apply_to(&mut project).map(|_| project).map_err(|e| e.to_string())
            }))
            .unwrap_or_else(|_| {
                Err("re-resolving the project after a file was added or removed failed; reload the window"
                    .to_owned())
            });
            let _ = events.send(Event::Reindexed { folder, id, result: Box::new(result) });
        });
    }

    /// Takes the result of the re-resolution `id` (none when the workspace was reloaded
    /// since, or the id is another's) and replays the changes queued meanwhile, which may
    /// start another: then what is left to do waits for that one.
    pub fn reindexed(&mut self, id: u64, result: Result<Project, String>) -> Option<Reindexed> {
        if self.reindexing.as_ref().is_none_or(|r| r.id != id) {
            return None;
        }
        let Reindexing { queued, saves, publish, give_back, .. } = self.reindexing.take()?;
        let error = match result {
            Ok(project) => {
                self.project = Arc::new(project);
                None
            }
            Err(e) => Some(e),
        };
        for change in queued {
            let _ = self.apply(change);
        }
        match &mut self.reindexing {
            Some(next) => {
                next.saves.extend(saves);
                next.publish.extend(publish);
                next.give_back |= give_back;
                Some(Reindexed { error, ..Reindexed::default() })
            }
            None => Some(Reindexed { saves, publish, give_back, error }),
        }
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
