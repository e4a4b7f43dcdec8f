//! The one task that owns the language server's state: the project and the open documents. Notifications are applied in arrival order; diagnostics are published with the version they were computed for.

use std::collections::HashMap;
use std::path::PathBuf;

use engine::loader::{self, LoadOptions};
use engine::project::{Project, SourceFile, Update};
use tokio::sync::mpsc;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{MessageType, Uri};

use super::{Event, to_proto};

/// An open document: its text and version as the editor has them.
struct Document {
    path: String,
    text: String,
    version: i32,
}

struct State {
    client: Client,
    cache_dir: Option<PathBuf>,
    project: Option<Project>,
    documents: HashMap<Uri, Document>,
}

/// Applies events until the channel closes (the server stopped).
pub async fn run(client: Client, mut events: mpsc::UnboundedReceiver<Event>, cache_dir: Option<PathBuf>) {
    let mut state = State { client, cache_dir, project: None, documents: HashMap::new() };
    while let Some(event) = events.recv().await {
        state.apply(event).await;
    }
}

impl State {
    async fn apply(&mut self, event: Event) {
        match event {
            Event::Initialize { root } => self.initialize(root).await,
            Event::Open { uri, text, version } | Event::Change { uri, text, version } => {
                self.update(uri, text, version).await;
            }
            Event::Save { uri } => self.publish(&uri).await,
            Event::Close { uri } => {
                if let Some(doc) = self.documents.remove(&uri) {
                    // Back to what is on disk; the editor's diagnostics for it are cleared.
                    if let Some(project) = self.project.as_mut()
                        && let Ok(bytes) = std::fs::read(project.root.join(&doc.path))
                    {
                        let options = Project::parse_options(&project.config);
                        let _ = project.set_file(SourceFile::from_bytes(&doc.path, &bytes, options));
                    }
                    self.client.publish_diagnostics(uri, Vec::new(), None).await;
                }
            }
        }
    }

    async fn initialize(&mut self, root: Option<PathBuf>) {
        let Some(root) = root else {
            self.client.log_message(MessageType::WARNING, "pleat: no workspace folder; open a folder").await;
            return;
        };
        let root = engine::config::find_root(&root);
        let options = LoadOptions { cache_dir: self.cache_dir.clone() };
        let loaded = tokio::task::spawn_blocking(move || loader::load(&root, &options)).await;
        match loaded {
            Ok(Ok((project, report))) => {
                for warning in report.warnings {
                    self.client.log_message(MessageType::WARNING, format!("pleat: {warning}")).await;
                }
                self.client
                    .log_message(
                        MessageType::INFO,
                        format!("pleat: {} files under {}", project.len(), project.root.display()),
                    )
                    .await;
                self.project = Some(project);
            }
            Ok(Err(e)) => self.client.log_message(MessageType::ERROR, format!("pleat: {e}")).await,
            Err(e) => {
                self.client.log_message(MessageType::ERROR, format!("pleat: loading failed: {e}")).await;
            }
        }
    }

    async fn update(&mut self, uri: Uri, text: String, version: i32) {
        let Some(project) = self.project.as_mut() else { return };
        let Some(path) = uri.to_file_path().and_then(|p| engine::vfs::relative(&project.root, &p)) else {
            return; // outside the workspace: nothing to say about it
        };
        if !(path.ends_with(".py") || path.ends_with(".pyi")) {
            return;
        }
        let options = Project::parse_options(&project.config);
        let update = project.set_file(SourceFile::from_bytes(&path, text.as_bytes(), options));
        self.documents.insert(uri.clone(), Document { path, text, version });
        match update {
            Ok(Update::Everything) => {
                let uris: Vec<Uri> = self.documents.keys().cloned().collect();
                for uri in uris {
                    self.publish(&uri).await;
                }
            }
            Ok(_) => self.publish(&uri).await,
            Err(e) => self.client.log_message(MessageType::ERROR, format!("pleat: {e}")).await,
        }
    }

    /// Publishes the import diagnostics of one open document, for its current version.
    async fn publish(&self, uri: &Uri) {
        let (Some(project), Some(doc)) = (self.project.as_ref(), self.documents.get(uri)) else { return };
        let Some(id) = project.id(&doc.path) else { return };
        let diagnostics = project
            .deps(id)
            .map(|deps| deps.findings.iter().map(|f| to_proto::diagnostic(f, &doc.text)).collect())
            .unwrap_or_default();
        self.client.publish_diagnostics(uri.clone(), diagnostics, Some(doc.version)).await;
    }
}
