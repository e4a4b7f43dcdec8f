//! The reading half of an LSP client over a real server's stdout, shared by the end-to-end tests that drive `pleat lsp`: each message's JSON, in order, on a channel fed by a thread.

use std::io::{BufRead as _, BufReader, Read as _};
use std::sync::mpsc;

use serde_json::Value;

/// Reads `Content-Length`-framed messages until the stream ends.
pub fn messages(stdout: std::process::ChildStdout) -> mpsc::Receiver<Value> {
    let mut stdout = BufReader::new(stdout);
    let (tx, messages) = mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(value) = line.strip_prefix("Content-Length: ") {
                    length = value.parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            if stdout.read_exact(&mut body).is_err() {
                return;
            }
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    messages
}
