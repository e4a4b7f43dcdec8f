//! Files changed outside the editor: `workspace/didChangeWatchedFiles` registered with the client when it can watch, else the server's own watcher of each workspace (`notify`), over the folders the project's walk enters.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use engine::exec::Cancel;
use engine::vfs::FileStat;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;
use tower_lsp_server::ls_types::{
    DidChangeWatchedFilesRegistrationOptions, FileSystemWatcher, GlobPattern, MessageType, Registration,
};

use super::event::Event;
use super::state::State;

/// The files whose changes matter: Python sources, configuration (pytest's too: it
/// decides which files are tests), requirements.
pub const WATCHED: &[&str] = &[
    "**/*.py",
    "**/*.pyi",
    "**/pyproject.toml",
    "**/pleat.toml",
    "**/pytest.toml",
    "**/.pytest.toml",
    "**/pytest.ini",
    "**/.pytest.ini",
    "**/tox.ini",
    "**/setup.cfg",
    "**/uv.lock",
    "pylock*.toml",
    "**/requirements*.txt",
    "**/requirements*.in",
    "**/requirements/*.txt",
    "**/requirements/*.in",
];

/// How long a burst of changes on disk is gathered before it is handed on as one.
const GATHER: Duration = Duration::from_millis(50);

/// Registers the watchers with a client that supports dynamic registration; never waits
/// on the answer.
pub fn register(state: &State) {
    if !state.caps.watch_dynamic {
        return;
    }
    let watchers = WATCHED
        .iter()
        .map(|glob| FileSystemWatcher { glob_pattern: GlobPattern::String((*glob).to_owned()), kind: None })
        .collect();
    let options = DidChangeWatchedFilesRegistrationOptions { watchers };
    let registration = Registration {
        id: "pleat-watched-files".to_owned(),
        method: "workspace/didChangeWatchedFiles".to_owned(),
        register_options: serde_json::to_value(options).ok(),
    };
    let client = state.client.clone();
    tokio::spawn(async move {
        let answer =
            tokio::time::timeout(Duration::from_secs(30), client.register_capability(vec![registration]))
                .await;
        if !matches!(answer, Ok(Ok(()))) {
            client
                .log_message(
                    MessageType::WARNING,
                    "pleat: the client did not accept the file watchers; files changed outside the editor are seen when opened or saved",
                )
                .await;
        }
    });
}

/// Starts watching workspace `index` on disk (inotify, FSEvents, … through `notify`) when
/// the client cannot watch files; changes reach the state as the client's would
/// (`Event::FilesChanged`). The watcher stops when the workspace's `poller` is cancelled
/// (reload, removal) or the server stops.
pub fn start_watching(state: &mut State, index: usize) {
    if state.caps.watch_dynamic {
        return;
    }
    let cache_dir = state.cache_dir().map(Path::to_path_buf);
    let ws = &mut state.workspaces[index];
    let stop = Cancel::new();
    if let Some(old) = ws.poller.replace(stop.clone()) {
        old.cancel();
    }
    let scope = Scope {
        root: ws.project.root.clone(),
        exclude: engine::vfs::glob_set(&ws.project.config.exclude, "exclude").unwrap_or_default(),
        cache_dir,
    };
    let loaded: HashMap<String, FileStat> =
        ws.project.files().map(|(_, f)| (f.path.clone(), f.stat)).collect();
    let events = state.events();
    std::thread::spawn(move || {
        if let Err(e) = watch(&scope, &loaded, &stop, &events) {
            // stderr is the client's log of the server.
            eprintln!(
                "pleat: cannot watch {} for changes ({e}); files changed outside the editor are seen when opened or saved (raise fs.inotify.max_user_watches if it ran out)",
                scope.root.display()
            );
        }
    });
}

/// What a workspace's watcher looks at: the folders the project's walk enters (so not
/// `.git`, hidden folders, virtualenvs, what .gitignore or `exclude` leave out), never the
/// cache folder.
struct Scope {
    root: PathBuf,
    exclude: globset::GlobSet,
    cache_dir: Option<PathBuf>,
}

impl Scope {
    /// Whether the folder at repository path `rel` is, or lies in, one the walk skips.
    fn skips_folder(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        if self.cache_dir.as_ref().is_some_and(|cache| self.root.join(rel).starts_with(cache)) {
            return true;
        }
        let mut prefix = String::new();
        rel.split('/').any(|name| {
            prefix = if prefix.is_empty() { name.to_owned() } else { engine::vfs::join(&prefix, name) };
            self.exclude.is_match(&prefix) || engine::vfs::skipped_dir(name, &self.root.join(&prefix))
        }) || engine::vfs::gitignored(&self.root, rel, true)
    }

    /// Whether a change of the file at repository path `rel` matters (see [`WATCHED`]).
    fn watches_file(&self, rel: &str) -> bool {
        let name = engine::vfs::file_name(rel);
        !self.skips_folder(engine::vfs::parent(rel))
            && !self.exclude.is_match(rel)
            && !engine::vfs::gitignored(&self.root, rel, false)
            && (engine::vfs::is_python(rel)
                || engine::vfs::is_requirements_file(rel)
                || matches!(name, "pyproject.toml" | "pleat.toml" | "uv.lock" | "tox.ini" | "setup.cfg")
                || (rel == name && name.starts_with("pylock") && name.ends_with(".toml"))
                || engine::python::pytest_config::CONFIG_FILES.contains(&name))
    }
}

/// The watcher's own state: the folders it watches and the files it knows of (to tell
/// which went with a folder moved away).
struct Watching {
    watcher: notify::RecommendedWatcher,
    folders: HashSet<String>,
    files: BTreeSet<String>,
}

impl Watching {
    /// Watches the folders under repository path `rel` (itself included) as the walk
    /// finds them; returns the watched files found there, with their stat data.
    fn add_tree(&mut self, scope: &Scope, rel: &str) -> Vec<(String, FileStat)> {
        let walk = engine::vfs::walk(&scope.root.join(rel), &globset::GlobSet::empty());
        let under = |path: &str| match (rel.is_empty(), path.is_empty()) {
            (true, _) => path.to_owned(),
            (false, true) => rel.to_owned(),
            (false, false) => engine::vfs::join(rel, path),
        };
        for folder in walk.folders.iter().map(|f| under(f)) {
            if !scope.skips_folder(&folder)
                && !self.folders.contains(&folder)
                && self.watcher.watch(&scope.root.join(&folder), RecursiveMode::NonRecursive).is_ok()
            {
                self.folders.insert(folder);
            }
        }
        let found: Vec<(String, FileStat)> = walk
            .python
            .iter()
            .map(|f| (under(&f.path), f.stat))
            .chain(walk.requirements.iter().map(|p| (under(p), FileStat::default())))
            .filter(|(p, _)| scope.watches_file(p))
            .collect();
        self.files.extend(found.iter().map(|(p, _)| p.clone()));
        found
    }

    /// Forgets a folder that went away and what was under it; returns its files.
    fn remove_tree(&mut self, scope: &Scope, rel: &str) -> Vec<String> {
        let inside = |path: &str| path == rel || path.strip_prefix(rel).is_some_and(|r| r.starts_with('/'));
        let gone: Vec<String> = self.folders.iter().filter(|f| inside(f)).cloned().collect();
        for folder in &gone {
            self.folders.remove(folder);
            let _ = self.watcher.unwatch(&scope.root.join(folder));
        }
        let files: Vec<String> = self.files.iter().filter(|f| inside(f)).cloned().collect();
        for file in &files {
            self.files.remove(file);
        }
        files
    }

    /// What one path reported by the system means: the repository files that changed.
    fn changed(&mut self, scope: &Scope, path: &Path) -> Vec<String> {
        let Some(rel) = engine::vfs::relative(&scope.root, path) else { return Vec::new() };
        if rel.is_empty() {
            return Vec::new();
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                if scope.skips_folder(&rel) || self.folders.contains(&rel) {
                    return Vec::new();
                }
                // A new folder (a checkout, a move): what it holds already was never seen.
                self.add_tree(scope, &rel).into_iter().map(|(path, _)| path).collect()
            }
            Ok(_) if scope.watches_file(&rel) => {
                self.files.insert(rel.clone());
                vec![rel]
            }
            Err(_) if self.folders.contains(&rel) => self.remove_tree(scope, &rel),
            Err(_) if scope.watches_file(&rel) => {
                self.files.remove(&rel);
                vec![rel]
            }
            Ok(_) | Err(_) => Vec::new(),
        }
    }
}

/// Watches until `stop` or the server's end, sending each burst of changes as one event.
/// What the project held when it loaded (`loaded`: path → stat data) is compared with
/// what the walk finds once the watches are in place, so that a change between the load
/// and the watch is not lost.
fn watch(
    scope: &Scope,
    loaded: &HashMap<String, FileStat>,
    stop: &Cancel,
    events: &UnboundedSender<Event>,
) -> notify::Result<()> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let watcher = notify::recommended_watcher(sender)?;
    let mut watching = Watching { watcher, folders: HashSet::new(), files: BTreeSet::new() };
    watching.add_tree(scope, "");
    if watching.folders.is_empty() {
        return Err(notify::Error::generic("no folder could be watched"));
    }
    // Walked again now that the watches are in place: whatever changed before them
    // (folders included) is found here, whatever changes after them is an event.
    let found = watching.add_tree(scope, "");
    let mut since_load: Vec<PathBuf> = found
        .iter()
        .filter(|(path, stat)| engine::vfs::is_python(path) && loaded.get(path) != Some(stat))
        .map(|(path, _)| scope.root.join(path))
        .collect();
    since_load.extend(loaded.keys().filter(|p| !watching.files.contains(*p)).map(|p| scope.root.join(p)));
    if !since_load.is_empty() && events.send(Event::FilesChanged(since_load)).is_err() {
        return Ok(());
    }
    loop {
        if stop.is_cancelled() || events.is_closed() {
            return Ok(());
        }
        let first = match receiver.recv_timeout(Duration::from_millis(250)) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut burst = vec![first];
        let until = std::time::Instant::now() + GATHER;
        while let Ok(event) =
            receiver.recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
        {
            burst.push(event);
        }
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for event in burst.into_iter().flatten() {
            if matches!(event.kind, EventKind::Access(_)) {
                continue;
            }
            for path in &event.paths {
                changed.extend(watching.changed(scope, path));
            }
        }
        let changed: Vec<PathBuf> = changed.iter().map(|rel| scope.root.join(rel)).collect();
        if !changed.is_empty() && events.send(Event::FilesChanged(changed)).is_err() {
            return Ok(());
        }
    }
}
