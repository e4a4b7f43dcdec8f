//! What the handlers hand the state task: events in arrival order (`Event`), questions (`Query`, `ask`), what the client can do (`ClientCaps`), and Pleat's own notifications.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::{ClientCapabilities, Uri};

use super::state::State;
use super::{runs, workspace};

/// A question for the state task; it answers through a channel the closure holds.
pub type Query =
    Box<dyn for<'a> FnOnce(&'a mut State) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> + Send>;

/// What the client can do, as far as the server cares.
#[derive(Debug, Clone, Copy, Default)]
#[allow(clippy::struct_excessive_bools)] // independent yes-or-no answers of the client, no state machine
pub struct ClientCaps {
    /// `window/workDoneProgress/create` is supported.
    pub work_done_progress: bool,
    /// `workspace/didChangeWatchedFiles` can be registered dynamically.
    pub watch_dynamic: bool,
    /// `workspace/codeLens/refresh` is supported.
    pub code_lens_refresh: bool,
    /// The client handles `pleat.debugTest` itself (`experimental.pleatDebugTest`): it starts
    /// `pleat test --debug-adapter` and attaches a debugger. Opt-in, since a lens a client
    /// cannot act on (Neovim without nvim-dap) is worse than none.
    pub debug_test: bool,
}

impl ClientCaps {
    pub fn of(caps: &ClientCapabilities) -> Self {
        let workspace = caps.workspace.as_ref();
        Self {
            work_done_progress: caps.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false),
            watch_dynamic: workspace
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|w| w.dynamic_registration)
                .unwrap_or(false),
            code_lens_refresh: workspace
                .and_then(|w| w.code_lens.as_ref())
                .and_then(|c| c.refresh_support)
                .unwrap_or(false),
            debug_test: caps
                .experimental
                .as_ref()
                .and_then(|e| e.get("pleatDebugTest"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// Something for the state task, in the order it happened.
pub enum Event {
    Initialize {
        folders: Vec<PathBuf>,
        settings: Value,
        caps: ClientCaps,
    },
    Initialized,
    Configuration(Value),
    Folders {
        added: Vec<PathBuf>,
        removed: Vec<PathBuf>,
    },
    Loaded {
        folder: PathBuf,
        result: Box<std::result::Result<workspace::Loaded, String>>,
    },
    Open {
        uri: Uri,
        text: String,
        version: i32,
    },
    /// Incremental sync's changes, in order (a range of None replaces the whole text).
    Change {
        uri: Uri,
        changes: Vec<(Option<tower_lsp_server::ls_types::Range>, String)>,
        version: i32,
    },
    Save {
        uri: Uri,
        text: Option<String>,
    },
    Close {
        uri: Uri,
    },
    FilesChanged(Vec<PathBuf>),
    /// A change of a workspace's module index, applied on a blocking thread
    /// (`workspace::Reindexing`): the project with every file re-resolved.
    Reindexed {
        folder: PathBuf,
        id: u64,
        result: Box<std::result::Result<engine::project::Project, String>>,
    },
    /// No file changed outside the editor since change number N: time to run for them.
    OutsideQuiet(u64),
    RunDone(Box<runs::Outcome>),
    Query(Query),
}

impl Event {
    /// The event's name, for the log.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Initialize { .. } => "initialize",
            Event::Initialized => "initialized",
            Event::Configuration(_) => "a configuration change",
            Event::Folders { .. } => "a workspace folder change",
            Event::Loaded { .. } => "a finished load",
            Event::Open { .. } => "didOpen",
            Event::Change { .. } => "didChange",
            Event::Save { .. } => "didSave",
            Event::Close { .. } => "didClose",
            Event::FilesChanged(_) => "files changed on disk",
            Event::Reindexed { .. } => "a finished re-resolution",
            Event::OutsideQuiet(_) => "the run for changes on disk",
            Event::RunDone(_) => "a finished run",
            Event::Query(_) => "a request",
        }
    }
}

/// `pleat/testResults`: structured per-test results of a finished run.
pub enum TestResults {}

impl Notification for TestResults {
    type Params = Value;
    const METHOD: &'static str = "pleat/testResults";
}

/// `pleat/status`: what the server is doing (`indexing`, `running`, `idle`), for status bars.
pub enum Status {}

impl Notification for Status {
    type Params = Value;
    const METHOD: &'static str = "pleat/status";
}

/// Runs `f` on the state, in order with the events sent before it, and gives back its answer.
pub async fn ask<T: Send + 'static>(
    events: &mpsc::UnboundedSender<Event>,
    f: impl FnOnce(&mut State) -> T + Send + 'static,
) -> Result<T> {
    let (sender, receiver) = oneshot::channel();
    let query: Query = Box::new(move |state| {
        let _ = sender.send(f(state));
        Box::pin(async {})
    });
    // The state task only stops when the server does.
    let _ = events.send(Event::Query(query));
    receiver.await.map_err(|_| Error::internal_error())
}
