//! `pleat lsp`: the language server over stdio. Handlers only convert and enqueue; one task owns the state and applies notifications in arrival order (tower-lsp runs handlers concurrently, so order is not otherwise guaranteed).

mod state;
mod to_proto;

use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DidSaveTextDocumentParams, InitializeParams, InitializeResult, InitializedParams, ServerCapabilities,
    ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, Uri,
};
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

/// A state-changing notification, in the order the client sent it.
#[derive(Debug)]
pub enum Event {
    Initialize { root: Option<std::path::PathBuf> },
    Open { uri: Uri, text: String, version: i32 },
    Change { uri: Uri, text: String, version: i32 },
    Save { uri: Uri },
    Close { uri: Uri },
}

struct Backend {
    events: mpsc::UnboundedSender<Event>,
}

impl Backend {
    fn send(&self, event: Event) {
        // The state task only stops when the server does.
        let _ = self.events.send(event);
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        #[allow(deprecated)] // root_uri: clients that send no workspace folders still send it
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|folders| folders.first())
            .map(|f| f.uri.clone())
            .or(params.root_uri.clone())
            .and_then(|uri| uri.to_file_path().map(std::borrow::Cow::into_owned));
        self.send(Event::Initialize { root });
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "pleat".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
                ..ServerCapabilities::default()
            },
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {}

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.send(Event::Open { uri: doc.uri, text: doc.text, version: doc.version });
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        // Full sync: the last change holds the whole text.
        if let Some(change) = params.content_changes.into_iter().last() {
            let doc = params.text_document;
            self.send(Event::Change { uri: doc.uri, text: change.text, version: doc.version });
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.send(Event::Save { uri: params.text_document.uri });
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.send(Event::Close { uri: params.text_document.uri });
    }
}

/// Serves the language server on stdin/stdout until the client exits.
pub fn run(cache_dir: Option<std::path::PathBuf>) -> std::result::Result<u8, crate::Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::Failure::usage(format!("cannot start the language server's runtime: {e}")))?;
    runtime.block_on(async move {
        let (events, receiver) = mpsc::unbounded_channel();
        let (service, socket) = LspService::new(|client: Client| {
            tokio::spawn(state::run(client, receiver, cache_dir));
            Backend { events }
        });
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket).serve(service).await;
    });
    Ok(0)
}
