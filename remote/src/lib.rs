//! Pleat's REAPI v2 client and remote cache (its own crate, so the engine builds and runs without a network stack): the gRPC calls (`client`, `bytestream`), blobs moved between the local store and the server (`blobs`), and the remote cache the runner stack asks on a local miss (`cache`).
//!
//! The messages and stubs come from `bazel-remote-apis` (generated from the official
//! protos). The engine declares the few messages its store needs by hand (`engine::reapi`);
//! both are the same protobuf messages, so they convert through their bytes and every
//! digest stays the same.

pub mod blobs;
pub mod bots;
pub mod bytestream;
pub mod cache;
pub mod client;
pub mod environments;
pub mod execute;
pub mod trees;
pub mod worker;

pub use cache::{RemoteCacheClient, RemoteOptions, Status};

/// Something the remote could not do. None of these fails a run: the cache falls back to
/// running the process here (except a wrong digest function or a bad configuration, said
/// at start).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Config(String),
    #[error("{call} failed: {} ({})", status.code(), status.message())]
    Rpc { call: &'static str, status: Box<tonic::Status> },
    #[error("blob {digest}: {reason}")]
    Blob { digest: String, reason: String },
    #[error("the remote sent bytes for {digest} whose digest is {got}; they were rejected")]
    Corrupt { digest: String, got: String },
    #[error(
        "the remote cache at {address} serves {served} digests, but the local store uses {local}; set digest_function = \"{wanted}\" under [tool.pleat] (or remove the setting: with a remote cache the default is sha256), or remove [tool.pleat.remote]"
    )]
    WrongDigestFunction { address: String, served: String, local: String, wanted: String },
    #[error("the remote client was shut down")]
    Closed,
    #[error(transparent)]
    Store(#[from] engine::store::StoreError),
    #[error(transparent)]
    Tree(#[from] engine::tree::TreeError),
    #[error(transparent)]
    Exec(#[from] engine::exec::ExecError),
}

/// Converts a message between the engine's hand-declared REAPI types and the generated
/// ones: the same protobuf message, so the same bytes.
pub fn convert<A: prost::Message, B: prost::Message + Default>(message: &A) -> B {
    B::decode(message.encode_to_vec().as_slice()).unwrap_or_default()
}

/// An engine digest as a REAPI `Digest`.
pub fn digest(
    digest: &engine::hash::Digest,
) -> bazel_remote_apis::build::bazel::remote::execution::v2::Digest {
    bazel_remote_apis::build::bazel::remote::execution::v2::Digest {
        hash: digest.hex(),
        size_bytes: i64::try_from(digest.size).unwrap_or(i64::MAX),
    }
}

/// A REAPI `Digest` as an engine digest of `function`; `None` when malformed.
pub fn content_digest(
    digest: &bazel_remote_apis::build::bazel::remote::execution::v2::Digest,
    function: engine::hash::DigestFunction,
) -> Option<engine::hash::Digest> {
    engine::hash::Digest::from_hex(function, &digest.hash, u64::try_from(digest.size_bytes).ok()?)
}

#[cfg(test)]
mod tests {
    use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
    use engine::reapi;
    use prost::Message as _;

    #[test]
    fn the_engine_s_messages_and_the_generated_ones_have_the_same_bytes() {
        let ours = reapi::ActionResult {
            exit_code: 3,
            stdout_digest: Some(reapi::Digest { hash: "ab".into(), size_bytes: 2 }),
            output_files: vec![reapi::OutputFile {
                path: "out/x".into(),
                digest: Some(reapi::Digest { hash: "cd".into(), size_bytes: 9 }),
                is_executable: true,
            }],
            ..reapi::ActionResult::default()
        };
        let theirs: re::ActionResult = super::convert(&ours);
        assert_eq!(theirs.exit_code, 3);
        assert_eq!(theirs.output_files[0].path, "out/x");
        assert_eq!(theirs.encode_to_vec(), ours.encode_to_vec());
        let back: reapi::ActionResult = super::convert(&theirs);
        assert_eq!(back, ours);
        let action = reapi::Action { do_not_cache: true, ..reapi::Action::default() };
        let generated: re::Action = super::convert(&action);
        assert_eq!(generated.encode_to_vec(), [0x38, 0x01], "the wire bytes engine::reapi's test pins");
    }
}
