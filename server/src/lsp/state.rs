//! The one task that owns the language server's state: workspaces, open documents, settings and runs. Events (notifications, queries, finished loads and runs) are applied in arrival order; diagnostics are published with the version they were computed for.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::exec::Cancel;
use engine::exec::local::KeepSandboxes;
use engine::goals::{GoalOptions, Goals};
use engine::parse_cache::ContentDigest;
use engine::project::{Project, Update};
use engine::store::Store;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{
    CodeLens, Diagnostic, DiagnosticSeverity, MessageType, NumberOrString, Range, Uri,
};

use super::event::{ClientCaps, Event, Status, TestResults};
use super::memory;
use super::results::Results;
use super::runs::{self, Job, Outcome};
use super::settings::Settings;
use super::text::Text;
use super::workspace::{self, Loaded, Workspace};
use engine::python::imports::{Edit, IncrementalParser};

/// An open document: its text and version as the editor has them.
pub struct Document {
    pub file: PathBuf,
    pub text: Text<'static>,
    pub version: i32,
    /// The content on disk as of the last open or save; the buffer is dirty when it differs.
    pub saved: ContentDigest,
    /// Keeps the document's syntax tree between edits (below [`INCREMENTAL_LIMIT`]).
    parser: Option<IncrementalParser>,
    /// Edits made since the parser last saw the text.
    pending: Vec<Edit>,
}

/// Documents up to this size keep their syntax tree and are re-parsed incrementally;
/// larger ones are parsed afresh on each change and give their memory back.
const INCREMENTAL_LIMIT: usize = 16 << 20;

impl Document {
    fn digest(&self) -> ContentDigest {
        digest(&self.text)
    }
}

/// The digest the project gives a file's content.
fn digest(text: &str) -> ContentDigest {
    *blake3::hash(text.as_bytes()).as_bytes()
}

/// A run in flight.
struct Running {
    job: Job,
    cancel: Cancel,
    /// Commands waiting for its results.
    waiters: Vec<oneshot::Sender<Value>>,
}

/// The store and the per-workspace goals, made once the first workspace is loaded.
enum Engine {
    NotYet,
    Ready(Arc<Store>, Remotes),
    Failed(String),
}

/// The remote caches workspaces configure, connected once per address and instance
/// (`None`: it did not answer at start; that workspace runs without it).
type Remotes = HashMap<(String, String), Option<Arc<remote::RemoteCacheClient>>>;

fn lock(engine: &std::sync::Mutex<Engine>) -> std::sync::MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens the store once (the first folder loaded does it) and builds the goals of a
/// project, with the remote cache its `[tool.pleat.remote]` names; on a loading thread.
/// What the user should know (a remote that cannot be used) goes to `warnings`.
fn prepare_goals(
    engine: &std::sync::Mutex<Engine>,
    cache_dir: Option<PathBuf>,
    project: &Project,
    warn: &remote::cache::Warn,
    warnings: &mut Vec<String>,
) -> Option<Arc<Goals>> {
    let mut engine = lock(engine);
    let Some(cache_dir) = cache_dir else {
        *engine = Engine::Failed("no cache folder: set PLEAT_CACHE_DIR or HOME".to_owned());
        return None;
    };
    let mut options = GoalOptions::for_project(cache_dir, &project.config, KeepSandboxes::Never);
    if let Engine::NotYet = *engine {
        *engine = match Goals::open_store(&options) {
            Ok(store) => Engine::Ready(Arc::new(store), HashMap::new()),
            Err(e) => Engine::Failed(e.to_string()),
        };
    }
    let Engine::Ready(store, remotes) = &mut *engine else { return None };
    if let Some(config) = &project.config.remote {
        options.remote = remote_cache(remotes, config, store, warn, warnings);
    }
    match Goals::with_store(Arc::clone(store), &options) {
        Ok(goals) => Some(Arc::new(goals)),
        Err(e) => {
            *engine = Engine::Failed(e.to_string());
            None
        }
    }
}

/// The remote cache of `config`, connected at its first use by a workspace: one warning in
/// `warnings` when it cannot be used (its settings, or a server that does not answer).
fn remote_cache(
    remotes: &mut Remotes,
    config: &engine::config::RemoteConfig,
    store: &Arc<Store>,
    warn: &remote::cache::Warn,
    warnings: &mut Vec<String>,
) -> Option<Arc<dyn engine::exec::remote::RemoteCache>> {
    let key = (config.address.clone(), config.instance_name.clone());
    if let Some(connected) = remotes.get(&key) {
        return connected.clone().map(|c| c as Arc<dyn engine::exec::remote::RemoteCache>);
    }
    let connected = crate::setup::remote_options(config)
        .map_err(|f| f.message)
        .and_then(|options| {
            remote::RemoteCacheClient::connect(options, Arc::clone(store), Arc::clone(warn))
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|message| {
            warnings.push(format!("the remote cache is not used: {message}"));
            None
        });
    remotes.insert(key, connected.clone());
    connected.map(|c| c as Arc<dyn engine::exec::remote::RemoteCache>)
}

pub struct State {
    pub client: Client,
    events: mpsc::UnboundedSender<Event>,
    cache_dir: Option<PathBuf>,
    pub settings: Settings,
    pub caps: ClientCaps,
    pub workspaces: Vec<Workspace>,
    goals: HashMap<PathBuf, Arc<Goals>>,
    /// Shared with the loading threads, which open the store and build goals.
    engine: Arc<std::sync::Mutex<Engine>>,
    /// Folders being loaded, and folders whose reload was asked while loading.
    loading: HashSet<PathBuf>,
    reload_again: HashSet<PathBuf>,
    pub documents: HashMap<Uri, Document>,
    running: Vec<Running>,
    next_run: u64,
    /// URIs that were last given a non-empty list (to clear them later).
    published: HashSet<Uri>,
    /// Code-lens requests that arrived while folders were loading.
    waiting_lenses: Vec<(Uri, oneshot::Sender<Vec<CodeLens>>)>,
    /// Python files changed outside the editor since the last run they started, per
    /// workspace root, and the number of the latest change (runs wait for a quiet moment).
    changed_outside: std::collections::BTreeMap<PathBuf, BTreeSet<String>>,
    outside_generation: u64,
}

/// How long changes outside the editor must be quiet before they start one run (a branch
/// switch arrives as many notifications).
const OUTSIDE_QUIET: std::time::Duration = std::time::Duration::from_millis(400);

/// Applies events until the channel closes (the server stopped).
pub async fn run(
    client: Client,
    events: mpsc::UnboundedSender<Event>,
    mut receiver: mpsc::UnboundedReceiver<Event>,
    cache_dir: Option<PathBuf>,
) {
    let mut state = State {
        client,
        events,
        cache_dir: cache_dir.or_else(engine::loader::default_cache_dir),
        settings: Settings::default(),
        caps: ClientCaps::default(),
        workspaces: Vec::new(),
        goals: HashMap::new(),
        engine: Arc::new(std::sync::Mutex::new(Engine::NotYet)),
        loading: HashSet::new(),
        reload_again: HashSet::new(),
        documents: HashMap::new(),
        changed_outside: std::collections::BTreeMap::new(),
        outside_generation: 0,
        running: Vec::new(),
        next_run: 1,
        published: HashSet::new(),
        waiting_lenses: Vec::new(),
    };
    // Requests that came while a module-index change was under way, and every event after
    // the first of them: a request sees each change sent before it, as it did when the
    // re-resolution ran on this task; notifications before it are applied meanwhile.
    let mut held = std::collections::VecDeque::new();
    while let Some(event) = receiver.recv().await {
        let finished = matches!(event, Event::Reindexed { .. });
        if !finished && (!held.is_empty() || (matches!(event, Event::Query(_)) && state.reindexing())) {
            held.push_back(event);
            continue;
        }
        state.step(event).await;
        while !state.reindexing()
            && let Some(next) = held.pop_front()
        {
            state.step(next).await;
        }
    }
}

/// Events that hold the state task at least this long are logged.
const SLOW_EVENT: std::time::Duration = std::time::Duration::from_millis(50);

impl State {
    /// Applies one event, logging it when it held the state task long.
    async fn step(&mut self, event: Event) {
        let (kind, started) = (event.kind(), std::time::Instant::now());
        self.apply(event).await;
        // The state task answers every request: anything that holds it this long is a bug
        // to move onto a blocking thread, and the log says which.
        let took = started.elapsed();
        if took >= SLOW_EVENT {
            self.log(
                MessageType::LOG,
                format!("the server's state task took {} ms on {kind}", took.as_millis()),
            )
            .await;
        }
    }

    /// Whether a workspace's module index is being re-resolved on a blocking thread.
    fn reindexing(&self) -> bool {
        self.workspaces.iter().any(|w| w.reindexing.is_some())
    }

    async fn apply(&mut self, event: Event) {
        match event {
            Event::Initialize { folders, settings, caps } => {
                self.caps = caps;
                self.configure(&settings).await;
                for folder in folders {
                    self.load(folder);
                }
            }
            Event::Initialized => super::watch::register(self),
            Event::Configuration(settings) => self.configure(&settings).await,
            Event::Folders { added, removed } => {
                for folder in removed {
                    self.remove_folder(&folder).await;
                }
                for folder in added {
                    self.load(folder);
                }
            }
            Event::Loaded { folder, result } => self.loaded(folder, result).await,
            Event::Open { uri, text, version } => self.open(uri, text, version).await,
            Event::Change { uri, changes, version } => self.change(uri, changes, version).await,
            Event::Save { uri, text } => self.save(uri, text).await,
            Event::Close { uri } => self.close(uri).await,
            Event::FilesChanged(paths) => self.files_changed(paths).await,
            Event::Reindexed { folder, id, result } => self.reindexed(&folder, id, *result).await,
            Event::OutsideQuiet(generation) => self.run_changed_outside(generation),
            Event::RunDone(outcome) => self.finished(*outcome).await,
            Event::Query(query) => query(self).await,
        }
    }

    // ---- settings and workspaces ----

    async fn configure(&mut self, value: &Value) {
        let (settings, problems) = Settings::from_json(value);
        for problem in problems {
            self.log(MessageType::WARNING, problem).await;
        }
        let republish = settings.import_cycles != self.settings.import_cycles;
        self.settings = settings;
        if republish {
            self.publish_open().await;
        }
    }

    /// Loads (or reloads) a workspace folder on a blocking thread.
    pub fn load(&mut self, folder: PathBuf) {
        if !self.loading.insert(folder.clone()) {
            self.reload_again.insert(folder);
            return;
        }
        let events = self.events.clone();
        let cache_dir = self.cache_dir.clone();
        let engine = Arc::clone(&self.engine);
        let progress = super::progress::start(&self.client, self.caps.work_done_progress, "Pleat: indexing");
        self.status("indexing", &format!("indexing {}", folder.display()), None);
        // The remote cache's warnings during runs (it stopped answering, a corrupted blob),
        // sent from its own threads.
        let (client, runtime) = (self.client.clone(), tokio::runtime::Handle::current());
        let warn: remote::cache::Warn = Arc::new(move |message: &str| {
            let (client, message) = (client.clone(), message.to_owned());
            runtime.spawn(async move { client.log_message(MessageType::WARNING, message).await });
        });
        tokio::task::spawn_blocking(move || {
            let _ = progress.send(format!("indexing {}", folder.display()));
            let mut result = workspace::load(&folder, cache_dir.clone());
            // Opening the store and finding the interpreter (which may start python3) happen
            // here too, never on the state task.
            if let Ok(loaded) = &mut result {
                let mut warnings = Vec::new();
                loaded.goals =
                    prepare_goals(&engine, cache_dir.clone(), &loaded.project, &warn, &mut warnings);
                loaded.report.warnings.extend(warnings);
                if let Some(dir) = &cache_dir
                    && let Some(why) = GoalOptions::sandbox_fallback(&loaded.project.config, dir)
                {
                    loaded.report.warnings.push(why.fallback_warning());
                }
            }
            drop(progress);
            let _ = events.send(Event::Loaded { folder, result: Box::new(result) });
        });
    }

    async fn loaded(&mut self, folder: PathBuf, result: Box<Result<Loaded, String>>) {
        self.loading.remove(&folder);
        if self.reload_again.remove(&folder) {
            self.load(folder.clone());
        }
        let loaded = match *result {
            Ok(loaded) => loaded,
            Err(e) => {
                self.log(MessageType::ERROR, format!("cannot load {}: {e}", folder.display())).await;
                self.answer_waiting_lenses();
                return;
            }
        };
        for warning in &loaded.report.warnings {
            self.log(MessageType::WARNING, warning.clone()).await;
        }
        self.log(
            MessageType::INFO,
            format!(
                "{} Python files under {} ({} parsed)",
                loaded.project.len(),
                loaded.project.root.display(),
                loaded.report.parsed
            ),
        )
        .await;
        if let Some(goals) = &loaded.goals {
            self.goals.insert(loaded.project.root.clone(), Arc::clone(goals));
        }
        if self.loading.is_empty() && self.running.is_empty() {
            self.status("idle", &format!("{} files indexed", loaded.project.len()), None);
        }
        let old_problem =
            self.workspace_index(&folder).and_then(|i| self.workspaces[i].config_problem.clone());
        // Test items are kept by content digest: what a reload did not change stays parsed.
        let test_items = self
            .workspace_index(&folder)
            .map(|i| Arc::clone(&self.workspaces[i].test_items))
            .unwrap_or_default();
        let ws = Workspace {
            folder: folder.clone(),
            project: Arc::new(loaded.project),
            config_problem: loaded.config_problem,
            results: Results::default(),
            poller: None,
            test_items,
            items_pending: Arc::default(),
            reindexing: None,
            events: self.events.clone(),
        };
        let index = if let Some(i) = self.workspace_index(&folder) {
            self.cancel_runs_of(&self.workspaces[i].project.root.clone());
            self.workspaces[i] = ws;
            i
        } else {
            self.workspaces.push(ws);
            self.workspaces.len() - 1
        };
        // Open buffers win over what is on disk.
        let docs: Vec<(String, String)> = self
            .documents
            .values()
            .filter_map(|d| Some((self.locate_in(index, &d.file)?, d.text.to_string())))
            .collect();
        for (path, text) in docs.into_iter().filter(|(path, _)| workspace::is_python(path)) {
            let _ = self.workspaces[index].set_text(&path, text.as_bytes());
        }
        let problem = self.workspaces[index].config_problem.clone();
        if let Some(old) = old_problem.filter(|o| problem.as_ref().is_none_or(|p| p.path != o.path))
            && let Some(uri) = Uri::from_file_path(&old.path)
        {
            self.send_diagnostics(uri, Vec::new(), None).await;
        }
        if let Some(problem) = problem
            && let Some(uri) = Uri::from_file_path(&problem.path)
        {
            let text = std::fs::read_to_string(&problem.path).unwrap_or_default();
            let diagnostic = Diagnostic {
                range: Text::new(&text).line_range(u32::try_from(problem.line).unwrap_or(1)),
                severity: Some(DiagnosticSeverity::ERROR),
                source: Some("pleat".to_owned()),
                code: Some(NumberOrString::String("invalid-config".to_owned())),
                message: problem.message.clone(),
                ..Diagnostic::default()
            };
            self.log(MessageType::ERROR, problem.message.clone()).await;
            self.send_diagnostics(uri, vec![diagnostic], None).await;
        }
        self.publish_open().await;
        self.refresh_lenses();
        self.answer_waiting_lenses();
        super::watch::start_watching(self, index);
        self.replay_cached(index);
        super::export::notice_stale(self, index);
    }

    async fn remove_folder(&mut self, folder: &Path) {
        if let Some(i) = self.workspace_index(folder) {
            let root = self.workspaces[i].project.root.clone();
            self.cancel_runs_of(&root);
            let touched = self.workspaces[i].results.clear();
            self.workspaces.remove(i);
            for path in touched {
                if let Some(uri) = Uri::from_file_path(root.join(path)) {
                    self.send_diagnostics(uri, Vec::new(), None).await;
                }
            }
        }
    }

    fn workspace_index(&self, folder: &Path) -> Option<usize> {
        self.workspaces.iter().position(|w| w.folder == folder)
    }

    /// The repository path of `file` in workspace `index`.
    fn locate_in(&self, index: usize, file: &Path) -> Option<String> {
        let ws = self.workspaces.get(index)?;
        engine::vfs::relative(&ws.project.root, file)
            .or_else(|| engine::vfs::relative(&ws.project.root, &file.canonicalize().ok()?))
    }

    /// The workspace holding `file` (the innermost when folders nest) and the file's path in it.
    pub fn locate(&self, file: &Path) -> Option<(usize, String)> {
        (0..self.workspaces.len())
            .filter_map(|i| Some((i, self.locate_in(i, file)?)))
            .min_by_key(|(_, path)| path.len())
    }

    /// The workspace and path of an open document.
    pub fn locate_uri(&self, uri: &Uri) -> Option<(usize, String)> {
        let file = uri.to_file_path()?;
        self.locate(&file)
    }

    /// A workspace file's text: the open buffer's, else what is on disk (lossy), else empty.
    pub fn text(&self, index: usize, path: &str) -> Text<'_> {
        let full = self.workspaces[index].project.root.join(path);
        match self.documents.values().find(|d| d.file == full) {
            Some(doc) => doc.text.view(),
            None => Text::owned(
                std::fs::read(&full).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default(),
            ),
        }
    }

    /// `pleat/status`: what the server is doing, for status bars.
    pub fn status(&self, state: &str, message: &str, counts: Option<(usize, usize)>) {
        self.status_with(state, message, counts, None);
    }

    /// `pleat/status` with the last run's results counted by source (`sources`).
    fn status_with(
        &self,
        state: &str,
        message: &str,
        counts: Option<(usize, usize)>,
        sources: Option<Value>,
    ) {
        let client = self.client.clone();
        let mut params = serde_json::json!({ "state": state, "message": message });
        if let Some(sources) = sources {
            params["sources"] = sources;
        }
        if let Some((passed, failed)) = counts {
            params["passed"] = passed.into();
            params["failed"] = failed.into();
        }
        if let Some(python) = super::export::exported_python(self) {
            params["exportedPython"] = python.to_string_lossy().into_owned().into();
        }
        tokio::spawn(async move { client.send_notification::<Status>(params).await });
    }

    pub fn uri_of(&self, index: usize, path: &str) -> Option<Uri> {
        Uri::from_file_path(self.workspaces.get(index)?.project.root.join(path))
    }

    /// A test result's location as an LSP location (the whole line).
    pub fn location(
        &self,
        index: usize,
        at: &engine::goals::test::Location,
    ) -> Option<tower_lsp_server::ls_types::Location> {
        let range = self.text(index, &at.file).line_range(at.line);
        Some(tower_lsp_server::ls_types::Location { uri: self.uri_of(index, &at.file)?, range })
    }

    // ---- documents ----

    async fn open(&mut self, uri: Uri, text: String, version: i32) {
        let Some(file) = uri.to_file_path().map(std::borrow::Cow::into_owned) else {
            self.log(MessageType::LOG, format!("ignoring {}: not a file", uri.as_str())).await;
            return;
        };
        let saved = digest(&text);
        self.adopt_root_of(&file).await;
        let text = Text::owned(text);
        let document = Document { file, text, version, saved, parser: None, pending: Vec::new() };
        self.documents.insert(uri.clone(), document);
        self.apply_text(&uri).await;
    }

    /// A Python file outside every workspace folder (a client started without a root, or a
    /// file opened from elsewhere): its repository, found as the CLI finds it, becomes a
    /// workspace when it is one (a Pleat configuration or a git root).
    async fn adopt_root_of(&mut self, file: &Path) {
        let is_python = file.extension().is_some_and(|e| e == "py" || e == "pyi");
        if !is_python || self.locate(file).is_some() {
            return;
        }
        let Some(parent) = file.parent() else { return };
        let root = engine::config::find_root(parent);
        let is_repository = root.join(".git").exists() || engine::config::config_file(&root).is_some();
        // Folders still loading, or loaded with this root (a folder may be a subfolder of
        // its repository), already cover the file.
        let covered = self.loading.iter().any(|f| *f == root || engine::config::find_root(f) == root)
            || self.workspaces.iter().any(|w| w.folder == root || w.project.root == root);
        if !is_repository || covered {
            return;
        }
        self.log(
            MessageType::INFO,
            format!("{} is outside the workspace folders: loading {}", file.display(), root.display()),
        )
        .await;
        self.load(root);
    }

    async fn change(&mut self, uri: Uri, changes: Vec<(Option<Range>, String)>, version: i32) {
        let Some(doc) = self.documents.get_mut(&uri) else {
            self.log(
                MessageType::WARNING,
                format!("didChange for {} which is not open; ignored", uri.as_str()),
            )
            .await;
            return;
        };
        for (range, new) in changes {
            let edit = doc.text.apply(range, &new);
            doc.pending.push(edit);
        }
        doc.version = version;
        self.apply_text(&uri).await;
    }

    /// Hands an open document's text to its project and republishes what changed. The
    /// document's parser re-parses only what its edits since the last parse touched.
    async fn apply_text(&mut self, uri: &Uri) {
        let Some(doc) = self.documents.get(uri) else { return };
        let Some((index, path)) = self.locate(&doc.file) else { return };
        let Some(doc) = self.documents.get_mut(uri) else { return };
        let pending = std::mem::take(&mut doc.pending);
        if !workspace::is_python(&path) {
            doc.parser = None;
            return;
        }
        let options = Project::parse_options(&self.workspaces[index].project.config);
        let large = doc.text.len() >= memory::LARGE_DOCUMENT;
        let parsed = if doc.text.len() <= INCREMENTAL_LIMIT {
            let reuse = doc.parser.as_ref().is_some_and(|p| p.options() == options);
            let parser = match doc.parser.as_mut() {
                Some(parser) if reuse => {
                    for edit in &pending {
                        parser.edit(edit);
                    }
                    parser
                }
                _ => doc.parser.insert(IncrementalParser::new(options)),
            };
            Some(parser.parse(doc.text.as_bytes()))
        } else {
            doc.parser = None;
            None
        };
        let large = large && parsed.is_none();
        let update = match parsed {
            Some(parsed) => self.workspaces[index].set_parsed(&path, digest(&doc.text), parsed),
            None => self.workspaces[index].set_text(&path, doc.text.as_bytes()),
        };
        match update {
            Ok(Update::Everything) => {
                self.publish_open().await;
                self.refresh_lenses();
            }
            Ok(_) => self.publish(index, &path).await,
            Err(e) => self.log(MessageType::ERROR, e.to_string()).await,
        }
        if large {
            // The parse tree of a large buffer is gone; its pages need not stay ours.
            memory::give_back();
        }
    }

    async fn save(&mut self, uri: Uri, text: Option<String>) {
        let Some(doc) = self.documents.get_mut(&uri) else { return };
        if let Some(text) = text
            && text != *doc.text
        {
            let edit = doc.text.apply(None, &text);
            doc.pending.push(edit);
        }
        doc.saved = doc.digest();
        let file = doc.file.clone();
        self.apply_text(&uri).await;
        let Some((index, path)) = self.locate(&file) else { return };
        if super::workspace::is_project_file(&self.workspaces[index].project, &path) {
            let folder = self.workspaces[index].folder.clone();
            self.load(folder);
            return;
        }
        self.on_save(index, &path);
    }

    async fn close(&mut self, uri: Uri) {
        let Some(doc) = self.documents.remove(&uri) else { return };
        let large = doc.text.len() >= memory::LARGE_DOCUMENT;
        let file = doc.file;
        drop((doc.text, doc.parser));
        if let Some((index, path)) = self.locate(&file) {
            if matches!(self.workspaces[index].reload_from_disk(&path), Ok(Update::Everything)) {
                self.publish_open().await;
            }
            // Results for the file stay visible in the problems view.
            self.publish(index, &path).await;
            if large && let Some(reindexing) = &mut self.workspaces[index].reindexing {
                // The current project still holds its parse until the new one comes.
                reindexing.give_back = true;
            }
        }
        if large {
            memory::give_back();
        }
    }

    /// Files changed on disk (watched-file notifications or our own polling).
    async fn files_changed(&mut self, files: Vec<PathBuf>) {
        let mut reload = BTreeSet::new();
        let mut everything = false;
        for file in files {
            let Some((index, path)) = self.locate(&file) else { continue };
            if engine::vfs::in_skipped_dir(&self.workspaces[index].project.root, &path) {
                continue;
            }
            if workspace::is_project_file(&self.workspaces[index].project, &path) {
                reload.insert(self.workspaces[index].folder.clone());
                continue;
            }
            // An open buffer is the truth for its file until it is closed.
            if !workspace::is_python(&path) || self.documents.values().any(|d| d.file == file) {
                continue;
            }
            match self.workspaces[index].reload_from_disk(&path) {
                Ok(update) => {
                    // Marks computed for the old content go at once; a run follows.
                    if matches!(update, Update::Everything) {
                        everything = true;
                    } else {
                        self.publish(index, &path).await;
                    }
                    let root = self.workspaces[index].project.root.clone();
                    self.changed_outside.entry(root).or_default().insert(path);
                }
                Err(e) => self.log(MessageType::ERROR, e.to_string()).await,
            }
        }
        for folder in reload {
            self.load(folder);
        }
        if everything {
            self.publish_open().await;
            self.refresh_lenses();
        }
        self.quiet_timer();
    }

    /// (Re)starts the quiet moment after which the files changed outside the editor run.
    fn quiet_timer(&mut self) {
        if !self.changed_outside.is_empty() {
            self.outside_generation += 1;
            let (generation, events) = (self.outside_generation, self.events.clone());
            tokio::spawn(async move {
                tokio::time::sleep(OUTSIDE_QUIET).await;
                let _ = events.send(Event::OutsideQuiet(generation));
            });
        }
    }

    /// A module-index change came back from its blocking thread: the workspace takes the
    /// re-resolved project (unless reloaded since), every open document is published again,
    /// and the saves and outside changes that waited for it run.
    async fn reindexed(&mut self, folder: &Path, id: u64, result: Result<Project, String>) {
        let Some(index) = self.workspace_index(folder) else { return };
        let Some(done) = self.workspaces[index].reindexed(id, result) else { return };
        if let Some(e) = done.error {
            self.log(MessageType::ERROR, e).await;
        }
        // Its open documents and the files whose publishing waited, once each.
        let mut publish = done.publish;
        publish.extend(self.documents.values().filter_map(|d| self.locate_in(index, &d.file)));
        for path in publish {
            self.publish(index, &path).await;
        }
        self.refresh_lenses();
        if done.give_back {
            memory::give_back();
        }
        for path in done.saves {
            self.on_save(index, &path);
        }
        self.answer_waiting_lenses();
        self.quiet_timer();
    }

    /// Changes outside the editor have been quiet for a moment: one run for all of them, of
    /// what a save of each would run (a 500-file checkout is one run, not 500).
    fn run_changed_outside(&mut self, generation: u64) {
        if generation != self.outside_generation {
            return; // more changes came: their own quiet moment starts the run
        }
        for (root, paths) in std::mem::take(&mut self.changed_outside) {
            let Some(index) = self.workspaces.iter().position(|w| w.project.root == root) else { continue };
            if self.workspaces[index].reindexing.is_some() {
                // Its files are not all known yet: the re-resolution's end restarts the timer.
                self.changed_outside.insert(root, paths);
                continue;
            }
            if let Some((job, _)) = self.save_job(index, &paths)
                && !job.is_empty()
            {
                self.start(job, None, None);
            }
        }
    }

    // ---- runs ----

    /// What a save of `path` runs, per the settings.
    fn on_save(&mut self, index: usize, path: &str) {
        if let Some(reindexing) = &mut self.workspaces[index].reindexing {
            // The save may be of a file the project learns of with the re-resolution.
            reindexing.saves.insert(path.to_owned());
            return;
        }
        let Some((job, affected)) = self.save_job(index, &BTreeSet::from([path.to_owned()])) else { return };
        if job.is_empty() && self.settings.on_save == super::settings::OnSave::Off {
            return;
        }
        self.start(job, Some(&(path.to_owned(), affected)), None);
    }

    /// The job saving `paths` asks for (lint and type-check them, run the tests they
    /// affect, as the settings say) and the tests they affect; None when no path is known.
    fn save_job(&mut self, index: usize, paths: &BTreeSet<String>) -> Option<(Job, BTreeSet<String>)> {
        let project = &self.workspaces[index].project;
        let ids: Vec<_> = paths.iter().filter_map(|p| project.id(p)).collect();
        if ids.is_empty() {
            return None;
        }
        let present: BTreeSet<String> = ids.iter().map(|id| project.path(*id).to_owned()).collect();
        let present_changed = present.clone();
        let affected: BTreeSet<String> =
            project.affected_tests(&ids).into_iter().map(|t| project.path(t).to_owned()).collect();
        let settings = self.settings.clone();
        let mut job = self.new_job(index);
        if settings.on_save.lint() {
            job.lint.clone_from(&present);
        }
        if settings.typecheck.is_some() {
            job.typecheck = present;
        }
        if settings.on_save.tests() {
            job.tests.clone_from(&affected);
        }
        job.changed = present_changed;
        Some((job, affected))
    }

    pub fn new_job(&mut self, index: usize) -> Job {
        let id = self.next_run;
        self.next_run += 1;
        Job {
            id,
            root: self.workspaces[index].project.root.clone(),
            lint: BTreeSet::new(),
            typecheck: BTreeSet::new(),
            only: std::collections::BTreeMap::new(),
            tests: BTreeSet::new(),
            settings: self.settings.clone(),
            force: false,
            cache_only: false,
            changed: BTreeSet::new(),
            catch_up: false,
        }
    }

    /// Starts a run. When it follows a save of a file (`stale`: the file and the tests it
    /// affects), runs whose results that save made stale are cancelled and their work
    /// (and waiting commands) taken over.
    pub fn start(
        &mut self,
        mut job: Job,
        stale: Option<&(String, BTreeSet<String>)>,
        waiter: Option<oneshot::Sender<Value>>,
    ) {
        let mut waiters: Vec<oneshot::Sender<Value>> = waiter.into_iter().collect();
        // Catching up on recorded lines gives way to any other run (and is never taken over).
        self.running.retain(|r| {
            let yields = r.job.catch_up && r.job.root == job.root;
            if yields {
                r.cancel.cancel();
            }
            !yields
        });
        if let Some((path, tests)) = stale {
            let (superseded, kept): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.running)
                .into_iter()
                // A replay from the cache is never taken over: it reads, it runs nothing.
                .partition(|r| {
                    r.job.root == job.root && !r.job.cache_only && r.job.made_stale_by(path, tests)
                });
            self.running = kept;
            for older in superseded {
                older.cancel.cancel();
                job.absorb(&older.job);
                waiters.extend(older.waiters);
            }
        }
        let Some(goals) = self.goals.get(&job.root).cloned() else {
            let reason = match &*lock(&self.engine) {
                Engine::Failed(e) => format!("Pleat cannot run tools: {e}"),
                _ => "Pleat cannot run tools yet: the workspace is still loading; save again in a moment"
                    .to_owned(),
            };
            for waiter in waiters {
                let _ = waiter.send(serde_json::json!({ "error": reason }));
            }
            let client = self.client.clone();
            tokio::spawn(
                async move { client.log_message(MessageType::ERROR, format!("pleat: {reason}")).await },
            );
            return;
        };
        if job.is_empty() {
            for waiter in waiters {
                let _ = waiter.send(serde_json::json!({ "run": job.id, "tests": [], "files": [] }));
            }
            return;
        }
        let Some(ws) = self.workspaces.iter().find(|w| w.project.root == job.root) else { return };
        let snapshot = Arc::clone(&ws.project);
        let dirty: HashSet<String> = self
            .documents
            .values()
            .filter(|d| d.digest() != d.saved)
            .filter_map(|d| engine::vfs::relative(&job.root, &d.file))
            .collect();
        let what = match (job.tests.len(), job.lint.len() + job.typecheck.len()) {
            (0, _) => "checking the saved file".to_owned(),
            (1, _) => "running 1 test file".to_owned(),
            (n, _) => format!("running {n} test files"),
        };
        let cancel = Cancel::new();
        self.running.push(Running { job: job.clone(), cancel: cancel.clone(), waiters });
        let events = self.events.clone();
        if job.catch_up {
            // Quiet: no status, no progress, nothing published.
            tokio::task::spawn_blocking(move || {
                let outcome = runs::execute(&goals, job, snapshot, dirty, &cancel, &|_| {}, &|_| {});
                let _ = events.send(Event::RunDone(Box::new(outcome)));
            });
            return;
        }
        self.status("running", &what, None);
        let progress = super::progress::start(&self.client, self.caps.work_done_progress, "Pleat");
        tokio::task::spawn_blocking(move || {
            let report = |line: String| {
                let _ = progress.send(line);
            };
            // Lint findings and each test file's result are shown as they come (a run of many
            // files shows its first failure early); the whole outcome follows at the end.
            let (each_job, each_snapshot, each_dirty, each_events) =
                (job.clone(), Arc::clone(&snapshot), dirty.clone(), events.clone());
            let each = move |early: runs::Early| {
                let part = runs::Outcome::early(
                    each_job.clone(),
                    Arc::clone(&each_snapshot),
                    each_dirty.clone(),
                    early,
                );
                let query: super::Query = Box::new(move |state| Box::pin(state.early_results(part)));
                let _ = each_events.send(Event::Query(query));
            };
            let outcome = runs::execute(&goals, job, snapshot, dirty, &cancel, &report, &each);
            let _ = events.send(Event::RunDone(Box::new(outcome)));
        });
    }

    fn cancel_runs_of(&mut self, root: &Path) {
        for run in self.running.iter().filter(|r| r.job.root == root) {
            run.cancel.cancel();
        }
    }

    /// Cancels every run (the cache is about to be cleared).
    pub fn cancel_all(&mut self) {
        for run in self.running.drain(..) {
            run.cancel.cancel();
            for waiter in run.waiters {
                let _ = waiter.send(serde_json::json!({ "error": "the run was cancelled" }));
            }
        }
    }

    /// Part of a run still in progress finished: its marks are shown now (a run that was
    /// superseded or cancelled shows nothing).
    async fn early_results(&mut self, one: Outcome) {
        if !self.running.iter().any(|r| r.job.id == one.job.id && !r.cancel.is_cancelled()) {
            return;
        }
        let Some(index) = self.workspaces.iter().position(|w| w.project.root == one.job.root) else { return };
        let touched = self.workspaces[index].results.record(&one);
        for path in &touched {
            self.publish(index, path).await;
        }
    }

    async fn finished(&mut self, mut outcome: Outcome) {
        // A run that was superseded is no longer in the list: its results are never shown.
        let Some(position) = self.running.iter().position(|r| r.job.id == outcome.job.id) else { return };
        let running = self.running.remove(position);
        if outcome.job.catch_up {
            return;
        }
        if outcome.cancelled {
            for waiter in running.waiters {
                let _ = waiter.send(serde_json::json!({ "error": "the run was cancelled" }));
            }
            return;
        }
        // A replay from the cache finds what it finds: what it could not is no error.
        let level = if outcome.job.cache_only { MessageType::LOG } else { MessageType::ERROR };
        for error in &outcome.errors {
            self.log(level, error.clone()).await;
        }
        for warning in &outcome.warnings {
            self.log(MessageType::WARNING, warning.clone()).await;
        }
        let Some(index) = self.workspaces.iter().position(|w| w.project.root == outcome.job.root) else {
            return;
        };
        if outcome.job.cache_only {
            let newer_running: BTreeSet<String> = self
                .running
                .iter()
                .filter(|r| r.job.root == outcome.job.root && r.job.id > outcome.job.id && !r.job.cache_only)
                .flat_map(|r| r.job.tests.iter().cloned())
                .collect();
            self.workspaces[index].results.drop_overtaken(&mut outcome, &newer_running);
        }
        let touched = self.workspaces[index].results.record(&outcome);
        for path in &touched {
            self.publish(index, path).await;
        }
        let report = super::execute_command::test_report(self, index, &outcome);
        if !outcome.tests.is_empty() {
            let client = self.client.clone();
            let params = report.clone();
            tokio::spawn(async move { client.send_notification::<TestResults>(params).await });
        }
        for waiter in running.waiters {
            let _ = waiter.send(report.clone());
        }
        if self.running.is_empty() && !(outcome.job.cache_only && outcome.tests.is_empty()) {
            let (passed, failed) = self.totals();
            // Where the last run's results came from: how many files ran here, came from the
            // local cache or from the remote one.
            let sources = engine::exec::ResultSource::counts(outcome.tests.iter().map(|f| f.source));
            self.status_with(
                "idle",
                &format!("✓ {passed} ✕ {failed}"),
                Some((passed, failed)),
                Some(serde_json::json!(sources)),
            );
        }
        self.refresh_lenses();
        // Once nothing runs, the test files that ran record the lines they execute, on the
        // idle cores (a cached recording costs a lookup), so that the next save can order
        // them (`goals::order`).
        if self.running.is_empty() && !outcome.job.cache_only && !outcome.tests.is_empty() {
            let mut catch_up = self.new_job(index);
            catch_up.tests = outcome.tests.iter().map(|t| t.file.clone()).collect();
            catch_up.catch_up = true;
            self.start(catch_up, None, None);
        }
    }

    /// Shows the last results again: every test file (and, when saves lint, every file)
    /// whose exact inputs have a cached result (from this machine's earlier runs, or CI's through a shared cache), marked
    /// as cached. Nothing runs and nothing is built.
    fn replay_cached(&mut self, index: usize) {
        let project = &self.workspaces[index].project;
        let tests: BTreeSet<String> = project
            .files()
            .filter(|(_, f)| f.kind == engine::project::TargetKind::Test)
            .map(|(_, f)| f.path.clone())
            .collect();
        let lint: BTreeSet<String> = if self.settings.on_save.lint() {
            project.files().map(|(_, f)| f.path.clone()).collect()
        } else {
            BTreeSet::new()
        };
        if (tests.is_empty() && lint.is_empty()) || !self.goals.contains_key(&project.root) {
            return;
        }
        let mut job = self.new_job(index);
        job.tests = tests;
        job.lint = lint;
        job.cache_only = true;
        self.start(job, None, None);
    }

    /// Passed and failed tests over the last results of every workspace (a test file that
    /// could not run counts as one failure).
    fn totals(&self) -> (usize, usize) {
        let mut totals = (0, 0);
        for record in self.workspaces.iter().flat_map(|w| w.results.tests.values()) {
            let result = &record.result;
            if !result.outcome.ok() && result.tests.is_empty() {
                totals.1 += 1;
            }
            for case in &result.tests {
                match case.outcome {
                    engine::goals::test::Outcome::Passed => totals.0 += 1,
                    engine::goals::test::Outcome::Failed | engine::goals::test::Outcome::Error => {
                        totals.1 += 1;
                    }
                    engine::goals::test::Outcome::Skipped => {}
                }
            }
        }
        totals
    }

    // ---- publishing ----

    /// Publishes the diagnostics of one file of a workspace.
    pub async fn publish(&mut self, index: usize, path: &str) {
        if let Some(reindexing) = &mut self.workspaces[index].reindexing {
            // The project is about to be replaced; its end publishes this file then.
            reindexing.publish.insert(path.to_owned());
            return;
        }
        let file = self.workspaces[index].project.root.join(path);
        let open =
            self.documents.iter().find(|(_, d)| d.file == file).map(|(uri, d)| (uri.clone(), d.version));
        let (uri, version) = match open {
            Some((uri, version)) => (uri, Some(version)),
            None => match Uri::from_file_path(&file) {
                Some(uri) => (uri, None),
                None => return,
            },
        };
        let text = self.text(index, path);
        let diagnostics = super::diagnostics::for_file(self, index, path, &text);
        self.send_diagnostics(uri, diagnostics, version).await;
    }

    /// Republishes every open document (after a change that re-resolved everything).
    async fn publish_open(&mut self) {
        let open: Vec<(usize, String)> =
            self.documents.values().filter_map(|d| self.locate(&d.file)).collect();
        for (index, path) in open {
            self.publish(index, &path).await;
        }
    }

    async fn send_diagnostics(&mut self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        if diagnostics.is_empty() {
            if !self.published.remove(&uri) && !self.documents.contains_key(&uri) {
                return; // nothing shown there: nothing to clear
            }
        } else {
            self.published.insert(uri.clone());
        }
        self.client.publish_diagnostics(uri, diagnostics, version).await;
    }

    /// Asks the client to fetch code lenses again (results or counts changed).
    pub fn refresh_lenses(&self) {
        if self.caps.code_lens_refresh {
            let client = self.client.clone();
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), client.code_lens_refresh()).await;
            });
        }
    }

    pub async fn log(&self, kind: MessageType, message: String) {
        self.client.log_message(kind, format!("pleat: {message}")).await;
    }

    /// Forgets every result (after the cache was cleared) and clears their marks.
    pub async fn forget_results(&mut self) {
        for index in 0..self.workspaces.len() {
            let touched = self.workspaces[index].results.clear();
            for path in touched {
                self.publish(index, &path).await;
            }
        }
        self.refresh_lenses();
    }

    /// What a buffer transform (format, fix all) needs: the goals and project of the
    /// document's workspace, its path and its text.
    pub fn buffer(&self, uri: &Uri) -> Option<(Arc<Goals>, Arc<Project>, String, String)> {
        let (index, path) = self.locate_uri(uri)?;
        let doc = self.documents.get(uri)?;
        let project = Arc::clone(&self.workspaces[index].project);
        let goals = Arc::clone(self.goals.get(&project.root)?);
        Some((goals, project, path, doc.text.to_string()))
    }

    /// A document's code lenses, or, while folders are still loading and none holds it yet
    /// or its folder's module index is being re-resolved, a channel that answers after.
    pub fn lenses_or_wait(
        &mut self,
        uri: Uri,
    ) -> std::result::Result<Vec<CodeLens>, oneshot::Receiver<Vec<CodeLens>>> {
        if self.lenses_ready(&uri) {
            return Ok(super::lenses::lenses(self, &uri));
        }
        let (sender, receiver) = oneshot::channel();
        self.waiting_lenses.push((uri, sender));
        Err(receiver)
    }

    /// Answers the lens requests whose workspace is now loaded (all of them once nothing
    /// is loading any more).
    fn answer_waiting_lenses(&mut self) {
        for (uri, sender) in std::mem::take(&mut self.waiting_lenses) {
            if self.lenses_ready(&uri) {
                let _ = sender.send(super::lenses::lenses(self, &uri));
            } else {
                self.waiting_lenses.push((uri, sender));
            }
        }
    }

    /// Whether a document's lenses can be answered now: its workspace is loaded and not
    /// re-resolving (a new file is not in the project until that ends), or nothing loads.
    fn lenses_ready(&self, uri: &Uri) -> bool {
        match self.locate_uri(uri) {
            Some((index, _)) => self.workspaces[index].reindexing.is_none(),
            None => self.loading.is_empty(),
        }
    }

    /// The sender for events from threads the state starts.
    pub fn events(&self) -> mpsc::UnboundedSender<Event> {
        self.events.clone()
    }

    /// The cache folder (the server's own watcher leaves it out).
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// The goals of a loaded project.
    pub fn goals_of(&self, root: &Path) -> Option<Arc<Goals>> {
        self.goals.get(root).cloned()
    }

    /// The store, once open.
    pub fn store(&self) -> Option<Arc<Store>> {
        match &*lock(&self.engine) {
            Engine::Ready(store, _) => Some(Arc::clone(store)),
            _ => None,
        }
    }
}
