//! The stdio transport around tower-lsp: frames from the client are checked before the framework sees them, because one undecodable frame ends tower-lsp's input stream (tokio-util's FramedRead yields nothing after a decoder error) and with it the session. A bad frame is answered with a JSON-RPC error and dropped; the session goes on.

use serde::Deserialize;
use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// Larger bodies are treated as garbage (a corrupt header, not a real message).
const MAX_BODY: usize = 256 << 20;

/// One framed message: its body; `None` ends the output (the server closed it).
type Frame = Vec<u8>;
pub type Outgoing = Option<Frame>;

/// Reads frames from `input`; good ones go to `server`, bad ones are answered on `replies`.
pub async fn filter(
    input: impl AsyncRead + Unpin,
    mut server: impl AsyncWrite + Unpin,
    replies: mpsc::UnboundedSender<Outgoing>,
) {
    let mut input = BufReader::new(input);
    loop {
        let body = match read_frame(&mut input).await {
            Read::Frame(body) => body,
            Read::Garbage => {
                let reply = error(
                    &Value::Null,
                    -32700,
                    "Parse error: a message without a valid Content-Length header was skipped",
                );
                let _ = replies.send(Some(reply));
                continue;
            }
            Read::End => return,
        };
        match check(&body) {
            Ok(()) => {
                if !write_frame(&mut server, &body).await {
                    return;
                }
            }
            Err(reply) => {
                let _ = replies.send(Some(reply));
            }
        }
    }
}

/// What reading one frame gave.
enum Read {
    Frame(Frame),
    /// A header block without a usable Content-Length (skipped).
    Garbage,
    End,
}

async fn read_frame(input: &mut (impl AsyncBufReadExt + Unpin)) -> Read {
    let length = match read_headers(input).await {
        Header::Length(length) => length,
        Header::Garbage => return Read::Garbage,
        Header::End => return Read::End,
    };
    let mut body = vec![0u8; length];
    if input.read_exact(&mut body).await.is_err() {
        return Read::End;
    }
    Read::Frame(body)
}

/// Writes one framed message; false when the other side is gone.
async fn write_frame(output: &mut (impl AsyncWrite + Unpin), body: &[u8]) -> bool {
    let header = format!("Content-Length: {}\r\n\r\n", body.len());
    if output.write_all(header.as_bytes()).await.is_err() || output.write_all(body).await.is_err() {
        return false;
    }
    let _ = output.flush().await;
    true
}

enum Header {
    Length(usize),
    Garbage,
    End,
}

/// Reads one header block; lines that are not headers before it are skipped.
async fn read_headers(input: &mut (impl AsyncBufReadExt + Unpin)) -> Header {
    let mut length = None;
    let mut saw_any = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return Header::End,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !saw_any {
                continue;
            }
            return match length {
                Some(length) if length <= MAX_BODY => Header::Length(length),
                _ => Header::Garbage,
            };
        }
        saw_any = true;
        if let Some((name, value)) = text.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
}

/// A body tower-lsp can take, or the error answer for it.
fn check(body: &[u8]) -> Result<(), Frame> {
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return Err(error(&Value::Null, -32700, "Parse error: the message is not valid JSON"));
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let valid_id = matches!(id, Value::Null | Value::Number(_) | Value::String(_));
    let is_request = value.get("method").is_some_and(Value::is_string)
        && value.get("params").is_none_or(|p| p.is_object() || p.is_array() || p.is_null());
    let is_response =
        value.get("id").is_some() && (value.get("result").is_some() || value.get("error").is_some());
    if value.get("jsonrpc") != Some(&json!("2.0")) || !valid_id || !(is_request || is_response) {
        let id = if valid_id { id } else { Value::Null };
        return Err(error(
            &id,
            -32600,
            "Invalid Request: not a JSON-RPC 2.0 request, notification or response",
        ));
    }
    // tower-lsp decodes into stricter types than a JSON value: an id must fit an i64, and a
    // key given twice is an error (found by the fuzz target `lsp_framing`). Its types take any
    // JSON as params and result, so those are left out of the trial decode rather than
    // decoded a second time (a didOpen can carry megabytes).
    if let Some(object) = value.as_object_mut() {
        for payload in ["params", "result"] {
            if let Some(inner) = object.get_mut(payload) {
                *inner = Value::Null;
            }
        }
    }
    if repeats_a_key(body) || serde_json::from_value::<Decoded>(value).is_err() {
        return Err(error(
            &id,
            -32600,
            "Invalid Request: the id must be an integer, a string or null, and no key may appear twice",
        ));
    }
    Ok(())
}

/// What tower-lsp's codec decodes a body into (its own `jsonrpc::Message`, which is private):
/// a frame passed on must decode as this, or tower-lsp's input ends.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // decoded only to learn whether tower-lsp can
enum Decoded {
    Response(Response),
    Request(Request),
}

/// Whether the top-level object names a key twice (a JSON value keeps the last; tower-lsp's
/// derived decoders refuse a repeated field). Values are skipped, not built.
fn repeats_a_key(body: &[u8]) -> bool {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = bool;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            // Read to the end: the deserializer checks the closing brace after the visit.
            // A set: a hostile message may hold a million keys.
            let (mut seen, mut repeated) = (std::collections::HashSet::new(), false);
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                repeated |= !seen.insert(key);
            }
            Ok(repeated)
        }
    }
    serde_json::Deserializer::from_slice(body).deserialize_map(Keys).unwrap_or(false)
}

fn error(id: &Value, code: i64, message: &str) -> Frame {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
        .to_string()
        .into_bytes()
}

/// Copies the server's frames to `output`, with `replies` in between whole frames.
pub async fn forward(
    server: impl AsyncRead + Unpin + Send + 'static,
    mut output: impl AsyncWrite + Unpin,
    replies: mpsc::UnboundedSender<Outgoing>,
    mut frames: mpsc::UnboundedReceiver<Outgoing>,
) {
    tokio::spawn(async move {
        let mut server = BufReader::new(server);
        while let Read::Frame(body) = read_frame(&mut server).await {
            if replies.send(Some(body)).is_err() {
                break;
            }
        }
        let _ = replies.send(None);
    });
    while let Some(Some(body)) = frames.recv().await {
        if !write_frame(&mut output, &body).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn bodies_are_checked() {
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","method":"initialized"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","id":"a","result":null}"#).is_ok());
        let parse = String::from_utf8(check(b"{oops").unwrap_err()).unwrap();
        assert!(parse.contains("-32700"), "{parse}");
        let invalid =
            String::from_utf8(check(br#"{"jsonrpc":"2.0","id":7,"method":3}"#).unwrap_err()).unwrap();
        assert!(invalid.contains("-32600") && invalid.contains("\"id\":7"), "{invalid}");
        assert!(check(br#"[1,2]"#).is_err());
        assert!(check(b"\xff\xfe").is_err());
    }

    /// Found by `fuzz/fuzz_targets/lsp_framing.rs`: bodies that are JSON-RPC to a JSON value
    /// but that tower-lsp cannot decode, which ended its input and with it the session.
    #[test]
    fn bodies_tower_lsp_cannot_decode_are_answered_not_passed() {
        for (body, id) in [
            (&br#"{"jsonrpc":"2.0","id":1.5,"method":"textDocument/hover"}"#[..], "1.5"),
            (br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"shutdown"}"#, "18446744073709551615"),
            (br#"{"jsonrpc":"2.0","method":"initialized","method":"exit"}"#, "null"),
            (br#"{"jsonrpc":"2.0","id":4,"id":4,"result":null}"#, "4"),
        ] {
            let Err(reply) = check(body) else { panic!("passed: {}", String::from_utf8_lossy(body)) };
            let reply = String::from_utf8(reply).unwrap();
            assert!(reply.contains("-32600") && reply.contains(&format!("\"id\":{id}")), "{reply}");
        }
        assert!(check(br#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"shutdown"}"#).is_ok());
        // Many keys cost a linear pass, not a quadratic one.
        let mut many = String::from(r#"{"jsonrpc":"2.0","method":"initialized""#);
        for i in 0..200_000 {
            write!(many, ",\"k{i}\":0").unwrap();
        }
        many.push('}');
        let started = std::time::Instant::now();
        assert!(check(many.as_bytes()).is_ok());
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn bad_frames_are_answered_and_skipped() {
        let input = b"Content-Length: 5\r\n\r\n{oopsjunk line\r\n\r\nContent-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}";
        let (mut server_end, ours) = tokio::io::duplex(4096);
        let (replies, mut answered) = mpsc::unbounded_channel();
        filter(&input[..], ours, replies).await;
        let mut passed = String::new();
        server_end.read_to_string(&mut passed).await.unwrap();
        assert_eq!(passed, "Content-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}");
        let first = String::from_utf8(answered.recv().await.unwrap().unwrap()).unwrap();
        let second = String::from_utf8(answered.recv().await.unwrap().unwrap()).unwrap();
        assert!(first.contains("not valid JSON") && second.contains("Content-Length"), "{first} {second}");
    }
}
