//! `pleat lsp`: the language server over stdio, and its handlers (`Backend`). Handlers only convert and enqueue (events are in `event`); one task owns the state and applies notifications and queries in arrival order (tower-lsp runs handlers concurrently, so order is not otherwise guaranteed). Tool work runs on blocking threads.

mod actions;
mod diagnostics;
mod event;
mod execute_command;
mod export;
mod lenses;
mod memory;
mod navigate;
mod progress;
mod results;
mod runs;
mod settings;
mod state;
mod text;
mod to_proto;
mod watch;
mod workspace;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pleat::transport;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::{
    CodeActionKind, CodeActionOptions, CodeActionParams, CodeActionProviderCapability, CodeActionResponse,
    CodeLens, CodeLensOptions, CodeLensParams, DidChangeConfigurationParams, DidChangeTextDocumentParams,
    DidChangeWatchedFilesParams, DidChangeWorkspaceFoldersParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, DocumentFormattingParams, DocumentLink,
    DocumentLinkOptions, DocumentLinkParams, ExecuteCommandOptions, ExecuteCommandParams,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverParams, HoverProviderCapability,
    InitializeParams, InitializeResult, InitializedParams, OneOf, SaveOptions, ServerCapabilities,
    ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Uri, WorkDoneProgressOptions, WorkspaceFoldersServerCapabilities,
    WorkspaceServerCapabilities,
};
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use event::{ClientCaps, Event, Query};
use state::State;

struct Backend {
    events: mpsc::UnboundedSender<Event>,
    /// `shutdown` was received: `exit` then ends the process with 0, else with 1 (as the
    /// protocol says).
    shut_down: Arc<AtomicBool>,
}

fn file_path(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(std::borrow::Cow::into_owned)
}

impl Backend {
    fn send(&self, event: Event) {
        // The state task only stops when the server does.
        let _ = self.events.send(event);
    }

    /// Runs `f` on the state, in order with the notifications before it.
    async fn ask<T: Send + 'static>(&self, f: impl FnOnce(&mut State) -> T + Send + 'static) -> Result<T> {
        event::ask(&self.events, f).await
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        #[allow(deprecated)] // root_uri: clients that send no workspace folders still send it
        let mut folders: Vec<PathBuf> = params
            .workspace_folders
            .as_ref()
            .map(|f| f.iter().filter_map(|f| file_path(&f.uri)).collect())
            .unwrap_or_default();
        #[allow(deprecated)]
        if folders.is_empty()
            && let Some(root) =
                params.root_uri.as_ref().and_then(file_path).or(params.root_path.clone().map(PathBuf::from))
        {
            folders.push(root);
        }
        let settings = params.initialization_options.clone().unwrap_or(Value::Null);
        self.send(Event::Initialize { folders, settings, caps: ClientCaps::of(&params.capabilities) });
        let sync = TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions { include_text: Some(true) })),
            ..TextDocumentSyncOptions::default()
        };
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "pleat".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(sync)),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                document_link_provider: Some(DocumentLinkOptions {
                    resolve_provider: Some(false),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(false) }),
                code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                    code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, actions::FIX_ALL.clone()]),
                    resolve_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                document_formatting_provider: Some(OneOf::Left(true)),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: execute_command::COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                }),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                        supported: Some(true),
                        change_notifications: Some(OneOf::Left(true)),
                    }),
                    file_operations: None,
                }),
                ..ServerCapabilities::default()
            },
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.send(Event::Initialized);
    }

    async fn shutdown(&self) -> Result<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.send(Event::Open { uri: doc.uri, text: doc.text, version: doc.version });
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let changes = params.content_changes.into_iter().map(|c| (c.range, c.text)).collect();
        let doc = params.text_document;
        self.send(Event::Change { uri: doc.uri, changes, version: doc.version });
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.send(Event::Save { uri: params.text_document.uri, text: params.text });
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.send(Event::Close { uri: params.text_document.uri });
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.send(Event::Configuration(params.settings));
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let files = params.changes.iter().filter_map(|c| file_path(&c.uri)).collect();
        self.send(Event::FilesChanged(files));
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let paths = |folders: &[tower_lsp_server::ls_types::WorkspaceFolder]| {
            folders.iter().filter_map(|f| file_path(&f.uri)).collect()
        };
        self.send(Event::Folders {
            added: paths(&params.event.added),
            removed: paths(&params.event.removed),
        });
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let at = params.text_document_position_params;
        self.ask(move |s| navigate::hover(s, &at.text_document.uri, at.position)).await
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let at = params.text_document_position_params;
        let locations =
            self.ask(move |s| navigate::definition(s, &at.text_document.uri, at.position)).await?;
        Ok((!locations.is_empty()).then_some(GotoDefinitionResponse::Array(locations)))
    }

    async fn document_link(&self, params: DocumentLinkParams) -> Result<Option<Vec<DocumentLink>>> {
        Ok(Some(self.ask(move |s| navigate::links(s, &params.text_document.uri)).await?))
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        // While folders load, a document's lenses wait for its workspace (clients without
        // codeLens/refresh would otherwise keep the empty answer).
        let answer = self.ask(move |s| s.lenses_or_wait(params.text_document.uri)).await?;
        Ok(Some(match answer {
            Ok(lenses) => lenses,
            Err(later) => later.await.unwrap_or_default(),
        }))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let command = params.command;
        let clear = command == "pleat.clearCache";
        let reply = self
            .ask(move |s| execute_command::execute(s, &command, &params.arguments))
            .await?
            .map_err(Error::invalid_params)?;
        if clear {
            let (sender, receiver) = oneshot::channel();
            let query: Query = Box::new(move |state| {
                Box::pin(async move {
                    state.forget_results().await;
                    let _ = sender.send(());
                })
            });
            self.send(Event::Query(query));
            let _ = receiver.await;
        }
        match reply {
            execute_command::Reply::Now(value) => Ok(Some(value)),
            execute_command::Reply::Later(receivers) => {
                let mut answers = Vec::new();
                for receiver in receivers {
                    answers.push(
                        receiver.await.unwrap_or_else(|_| serde_json::json!({ "error": "the run stopped" })),
                    );
                }
                Ok(Some(if answers.len() == 1 {
                    answers.remove(0)
                } else {
                    serde_json::json!({ "runs": answers })
                }))
            }
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        actions::code_actions(&self.events, params).await
    }

    async fn code_action_resolve(
        &self,
        action: tower_lsp_server::ls_types::CodeAction,
    ) -> Result<tower_lsp_server::ls_types::CodeAction> {
        actions::resolve(&self.events, action).await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        actions::format(&self.events, &params.text_document.uri).await
    }
}

/// Serves the language server on stdin/stdout until the client exits: exit code 0 after
/// `shutdown`, 1 when the client exits (or goes away) without asking for it.
pub fn run(cache_dir: Option<PathBuf>) -> std::io::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let shut_down = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&shut_down);
    runtime.block_on(async move {
        let (events, receiver) = mpsc::unbounded_channel();
        let (service, socket) = LspService::new(|client: Client| {
            tokio::spawn(state::run(client, events.clone(), receiver, cache_dir));
            Backend { events, shut_down: flag }
        });
        let (server_input, filter_end) = tokio::io::duplex(1 << 20);
        let (server_output, forward_end) = tokio::io::duplex(1 << 20);
        let (frames, outgoing) = mpsc::unbounded_channel();
        tokio::spawn(transport::filter(tokio::io::stdin(), filter_end, frames.clone()));
        let output = tokio::spawn(transport::forward(forward_end, tokio::io::stdout(), frames, outgoing));
        Server::new(server_input, server_output, socket).serve(service).await;
        let _ = output.await;
    });
    // The blocking read of stdin may still be waiting: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(u8::from(!shut_down.load(Ordering::SeqCst)))
}
