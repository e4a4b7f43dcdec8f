//! Fuzz target: the language server's input framing (`pleat::transport::filter`) on an arbitrary byte stream. Every frame it lets through to tower-lsp must be one tower-lsp decodes (a frame it cannot decode ends tower-lsp's input, and with it the session), and every frame it drops must be answered with a JSON-RPC error response (to the client, which may use ids tower-lsp refuses).

#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use pleat::transport;
use serde::Deserialize;
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// What tower-lsp's codec decodes a body into (its `jsonrpc::Message` is private).
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Message {
    Response(Response),
    Request(Request),
}

thread_local! {
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime"),
    );
}

fuzz_target!(|input: &[u8]| {
    let (passed, mut answered) = RUNTIME.with_borrow(|runtime| {
        runtime.block_on(async {
            let mut passed = Vec::new();
            let (replies, answered) = mpsc::unbounded_channel();
            transport::filter(input, &mut passed, replies).await;
            (passed, answered)
        })
    });
    let mut rest = &passed[..];
    while !rest.is_empty() {
        let header_end = rest.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
        let header = std::str::from_utf8(&rest[..header_end]).expect("an ASCII header");
        let length: usize =
            header.strip_prefix("Content-Length: ").and_then(|n| n.parse().ok()).expect("a Content-Length");
        let body = &rest[header_end + 4..header_end + 4 + length];
        let text = std::str::from_utf8(body).expect("tower-lsp takes UTF-8 bodies only");
        if let Err(error) = serde_json::from_str::<Message>(text) {
            panic!("a frame tower-lsp cannot decode was let through ({error}): {text}");
        }
        rest = &rest[header_end + 4 + length..];
    }
    while let Ok(reply) = answered.try_recv() {
        let reply = reply.expect("a reply, not the end of the output");
        // Answered to the client as it is (the id echoed, even one tower-lsp would refuse).
        let reply: serde_json::Value = serde_json::from_slice(&reply).expect("a JSON reply");
        assert!(
            reply["jsonrpc"] == "2.0"
                && reply.get("id").is_some()
                && reply["error"]["code"].is_i64()
                && reply["error"]["message"].is_string(),
            "not a JSON-RPC error response: {reply}"
        );
    }
});
