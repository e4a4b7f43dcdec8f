//! Files changed outside the editor: `workspace/didChangeWatchedFiles` registered with the client when it can watch, else our own polling of each workspace's stat data.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use engine::exec::Cancel;
use engine::vfs::FileStat;
use tower_lsp_server::ls_types::{
    DidChangeWatchedFilesRegistrationOptions, FileSystemWatcher, GlobPattern, MessageType, Registration,
};

use super::Event;
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

/// How often our own watcher looks.
const POLL_EVERY: Duration = Duration::from_secs(2);

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

/// Starts polling workspace `index` when the client cannot watch files. The poller stops
/// when the workspace's `poller` is cancelled (reload, removal) or the server stops.
pub fn start_polling(state: &mut State, index: usize) {
    if state.caps.watch_dynamic {
        return;
    }
    let ws = &mut state.workspaces[index];
    let stop = Cancel::new();
    if let Some(old) = ws.poller.replace(stop.clone()) {
        old.cancel();
    }
    let root = ws.project.root.clone();
    let exclude = engine::vfs::glob_set(&ws.project.config.exclude, "exclude").unwrap_or_default();
    let events = state.events();
    std::thread::spawn(move || {
        let mut before = snapshot(&root, &exclude);
        loop {
            std::thread::sleep(POLL_EVERY);
            if stop.is_cancelled() || events.is_closed() {
                return;
            }
            let now = snapshot(&root, &exclude);
            let mut changed: Vec<PathBuf> = now
                .iter()
                .filter(|(path, stat)| before.get(*path) != Some(stat))
                .map(|(path, _)| root.join(path))
                .collect();
            changed.extend(before.keys().filter(|p| !now.contains_key(*p)).map(|p| root.join(p)));
            before = now;
            if !changed.is_empty() && events.send(Event::FilesChanged(changed)).is_err() {
                return;
            }
        }
    });
}

/// Stat data of every watched file.
fn snapshot(root: &std::path::Path, exclude: &globset::GlobSet) -> HashMap<String, FileStat> {
    let walk = engine::vfs::walk(root, exclude);
    let mut files: HashMap<String, FileStat> = walk.python.into_iter().map(|f| (f.path, f.stat)).collect();
    let others = walk
        .requirements
        .into_iter()
        .chain(["pleat.toml", "uv.lock", "pylock.toml"].map(String::from))
        .chain(engine::python::pytest_config::CONFIG_FILES.map(String::from));
    for path in others {
        if let Ok(meta) = std::fs::metadata(root.join(&path)) {
            files.insert(path, engine::vfs::stat_of(&meta));
        }
    }
    files
}
