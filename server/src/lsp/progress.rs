//! `$/progress` for one run: created with window/workDoneProgress/create when the client supports it, never waiting on a client that does not answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{NumberOrString, ProgressToken};

/// How long to wait for the client to accept a progress token.
const CREATE_TIMEOUT: Duration = Duration::from_secs(5);

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Starts a progress report titled `title`; each line sent becomes a report, and dropping
/// the sender ends it. Without client support the lines are dropped.
pub fn start(client: &Client, supported: bool, title: &str) -> mpsc::UnboundedSender<String> {
    let (sender, mut lines) = mpsc::unbounded_channel::<String>();
    let client = client.clone();
    let title = title.to_owned();
    tokio::spawn(async move {
        let token: ProgressToken =
            NumberOrString::String(format!("pleat-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let created = supported
            && matches!(
                tokio::time::timeout(CREATE_TIMEOUT, client.create_work_done_progress(token.clone())).await,
                Ok(Ok(()))
            );
        if !created {
            while lines.recv().await.is_some() {}
            return;
        }
        let progress = client.progress(token, title).begin().await;
        let mut last = String::new();
        while let Some(mut line) = lines.recv().await {
            // Report only the newest of a burst.
            while let Ok(newer) = lines.try_recv() {
                line = newer;
            }
            if line != last {
                progress.report(line.clone()).await;
                last = line;
            }
        }
        progress.finish().await;
    });
    sender
}
