//! REAPI v2 messages (build.bazel.remote.execution.v2) that the store and the runners use, declared with prost by hand: the fields and tags are those of `remote_execution.proto`, so the bytes — and the digests — are what any REAPI server computes.
//!
//! Only the fields Pleat sets are declared; a field never set is never encoded, so leaving
//! the others out changes no digest. Messages are canonical when their repeated fields are
//! sorted as the proto's comments require (`tree` and `exec` sort them).

use crate::hash::{Digest as ContentDigest, DigestFunction};

/// `Digest`: lower-case hex hash and size.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Digest {
    #[prost(string, tag = "1")]
    pub hash: String,
    #[prost(int64, tag = "2")]
    pub size_bytes: i64,
}

impl Digest {
    pub fn from_content(digest: &ContentDigest) -> Self {
        Self { hash: digest.hex(), size_bytes: i64::try_from(digest.size).unwrap_or(i64::MAX) }
    }

    /// Back to a content digest; None when malformed.
    pub fn to_content(&self, function: DigestFunction) -> Option<ContentDigest> {
        ContentDigest::from_hex(function, &self.hash, u64::try_from(self.size_bytes).ok()?)
    }
}

/// `Directory`: files, subdirectories and symlinks, each sorted by name.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Directory {
    #[prost(message, repeated, tag = "1")]
    pub files: Vec<FileNode>,
    #[prost(message, repeated, tag = "2")]
    pub directories: Vec<DirectoryNode>,
    #[prost(message, repeated, tag = "3")]
    pub symlinks: Vec<SymlinkNode>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct FileNode {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub digest: Option<Digest>,
    #[prost(bool, tag = "4")]
    pub is_executable: bool,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DirectoryNode {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub digest: Option<Digest>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SymlinkNode {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub target: String,
}

/// `Command`: what runs, with which environment, producing which outputs.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Command {
    #[prost(string, repeated, tag = "1")]
    pub arguments: Vec<String>,
    /// Sorted by name.
    #[prost(message, repeated, tag = "2")]
    pub environment_variables: Vec<EnvironmentVariable>,
    /// Sorted.
    #[prost(string, repeated, tag = "3")]
    pub output_files: Vec<String>,
    /// Sorted.
    #[prost(string, repeated, tag = "4")]
    pub output_directories: Vec<String>,
    #[prost(string, tag = "6")]
    pub working_directory: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EnvironmentVariable {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `Platform`: properties sorted by name, then value.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Platform {
    #[prost(message, repeated, tag = "1")]
    pub properties: Vec<PlatformProperty>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PlatformProperty {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Duration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `Action`: the cache key — command, input root, timeout, platform.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Action {
    #[prost(message, optional, tag = "1")]
    pub command_digest: Option<Digest>,
    #[prost(message, optional, tag = "2")]
    pub input_root_digest: Option<Digest>,
    #[prost(message, optional, tag = "6")]
    pub timeout: Option<Duration>,
    #[prost(bool, tag = "7")]
    pub do_not_cache: bool,
    #[prost(bytes = "vec", tag = "9")]
    pub salt: Vec<u8>,
    #[prost(message, optional, tag = "10")]
    pub platform: Option<Platform>,
}

/// `ActionResult`: exit code, outputs and the digests of stdout and stderr.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ActionResult {
    #[prost(message, repeated, tag = "2")]
    pub output_files: Vec<OutputFile>,
    #[prost(message, repeated, tag = "3")]
    pub output_directories: Vec<OutputDirectory>,
    #[prost(int32, tag = "4")]
    pub exit_code: i32,
    #[prost(message, optional, tag = "6")]
    pub stdout_digest: Option<Digest>,
    #[prost(message, optional, tag = "8")]
    pub stderr_digest: Option<Digest>,
    #[prost(message, optional, tag = "9")]
    pub execution_metadata: Option<ExecutedActionMetadata>,
}

/// `ExecutedActionMetadata`: only when the process started and ended (so a cached result
/// can say how long the run took).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ExecutedActionMetadata {
    #[prost(message, optional, tag = "7")]
    pub execution_start_timestamp: Option<Timestamp>,
    #[prost(message, optional, tag = "8")]
    pub execution_completed_timestamp: Option<Timestamp>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    pub fn of(time: std::time::SystemTime) -> Self {
        let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self {
            seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            nanos: since.subsec_nanos().cast_signed(),
        }
    }

    fn nanos_since_epoch(self) -> i128 {
        i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos)
    }
}

impl ExecutedActionMetadata {
    /// A run that ended now after `duration`.
    pub fn ended_now(duration: std::time::Duration) -> Self {
        let end = std::time::SystemTime::now();
        Self {
            execution_start_timestamp: Some(Timestamp::of(end.checked_sub(duration).unwrap_or(end))),
            execution_completed_timestamp: Some(Timestamp::of(end)),
        }
    }

    /// How long the execution took (zero when unknown).
    pub fn duration(&self) -> std::time::Duration {
        match (self.execution_start_timestamp, self.execution_completed_timestamp) {
            (Some(start), Some(end)) => {
                let nanos = (end.nanos_since_epoch() - start.nanos_since_epoch()).max(0);
                std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
            _ => std::time::Duration::ZERO,
        }
    }
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OutputFile {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(message, optional, tag = "2")]
    pub digest: Option<Digest>,
    #[prost(bool, tag = "4")]
    pub is_executable: bool,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OutputDirectory {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(message, optional, tag = "3")]
    pub tree_digest: Option<Digest>,
    #[prost(message, optional, tag = "5")]
    pub root_directory_digest: Option<Digest>,
}

/// `Tree`: a root directory and every directory below it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Tree {
    #[prost(message, optional, tag = "1")]
    pub root: Option<Directory>,
    #[prost(message, repeated, tag = "2")]
    pub children: Vec<Directory>,
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn encodings_match_the_proto_wire_format() {
        // Bytes computed by hand from the proto: field 1 (len) "ab", field 2 (varint) 3.
        let digest = Digest { hash: "ab".into(), size_bytes: 3 };
        assert_eq!(digest.encode_to_vec(), [0x0a, 0x02, b'a', b'b', 0x10, 0x03]);
        // An empty directory encodes to nothing: its digest is the empty blob's, as in
        // every REAPI implementation (SHA-256 e3b0c442…).
        assert!(Directory::default().encode_to_vec().is_empty());
        let action = Action { do_not_cache: true, ..Action::default() };
        assert_eq!(action.encode_to_vec(), [0x38, 0x01], "do_not_cache is field 7");
        let file = FileNode { name: "x".into(), digest: None, is_executable: true };
        assert_eq!(file.encode_to_vec(), [0x0a, 0x01, b'x', 0x20, 0x01], "is_executable is field 4");
    }

    #[test]
    fn digests_convert_both_ways() {
        let content = ContentDigest::of(DigestFunction::Sha256, b"abc");
        let message = Digest::from_content(&content);
        assert_eq!(message.size_bytes, 3);
        assert_eq!(message.to_content(DigestFunction::Sha256), Some(content));
        assert_eq!(Digest { hash: "nothex".into(), size_bytes: 1 }.to_content(DigestFunction::Sha256), None);
    }
}
