//! ByteStream `Read` and `Write` for blobs above the server's batch limit: streamed in chunks between a file and the server, never whole in memory, and a read verified against its digest before it reaches the store.

use std::io::{Read as _, Write as _};
use std::path::Path;

use bazel_remote_apis::google::bytestream::byte_stream_client::ByteStreamClient;
use bazel_remote_apis::google::bytestream::{ReadRequest, WriteRequest};
use engine::hash::{Digest, Hasher};
use engine::store::Store;

use crate::RemoteError;
use crate::client::Client;

/// Bytes per `WriteRequest` (gRPC's default message limit is 4 MiB).
const CHUNK: usize = 1 << 20;

/// `{instance}/` or nothing.
fn prefix(client: &Client) -> String {
    match client.target.instance_name.as_str() {
        "" => String::new(),
        name => format!("{name}/"),
    }
}

/// A name no other upload uses: this process, the time, a counter.
fn upload_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Shaped like a UUID, which some servers require.
    let a = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        n & 0xfff,
        n ^ (nanos as u64 >> 8)
    )
}

/// Uploads the file `path` holding `digest`'s content with ByteStream `Write`, one chunk
/// read at a time.
pub fn write(client: &Client, digest: &Digest, path: &Path) -> Result<(), RemoteError> {
    let resource =
        format!("{}uploads/{}/blobs/{}/{}", prefix(client), upload_id(), digest.hex(), digest.size);
    let io = |e: std::io::Error| RemoteError::Blob {
        digest: digest.to_string(),
        reason: format!("cannot read {} to upload it: {e}", path.display()),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = digest.size;
    let mut offset = 0u64;
    let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let failure = std::sync::Arc::clone(&failed);
    let chunks = std::iter::from_fn(move || {
        if offset >= size && offset > 0 {
            return None;
        }
        let mut data = vec![0u8; CHUNK.min(usize::try_from(size - offset).unwrap_or(CHUNK))];
        if let Err(e) = file.read_exact(&mut data) {
            *failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
            return None;
        }
        let request = WriteRequest {
            resource_name: if offset == 0 { resource.clone() } else { String::new() },
            write_offset: i64::try_from(offset).unwrap_or(i64::MAX),
            finish_write: offset + data.len() as u64 >= size,
            data,
        };
        offset += request.data.len() as u64;
        Some(request)
    });
    let request = client.stamped(tokio_stream::iter(chunks));
    let mut stub = ByteStreamClient::new(client.channel());
    let response = client.block_on(stub.write(request));
    if let Some(e) = failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        return Err(io(e));
    }
    let response = response
        .map_err(|status| RemoteError::Rpc { call: "ByteStream.Write", status: Box::new(status) })?
        .into_inner();
    if u64::try_from(response.committed_size).ok() != Some(size) {
        return Err(RemoteError::Blob {
            digest: digest.to_string(),
            reason: format!("the server committed {} of {size} bytes", response.committed_size),
        });
    }
    Ok(())
}

/// Downloads `digest` with ByteStream `Read` into a file under the store's `tmp/`, hashing
/// as it goes, and stores it only when the bytes match the digest.
pub fn read_into_store(client: &Client, store: &Store, digest: &Digest) -> Result<(), RemoteError> {
    let resource = format!("{}blobs/{}/{}", prefix(client), digest.hex(), digest.size);
    let io = |e: std::io::Error| RemoteError::Blob {
        digest: digest.to_string(),
        reason: format!("cannot write the download under {}: {e}", store.dir().display()),
    };
    let mut file = tempfile::NamedTempFile::new_in(store.dir().join("tmp")).map_err(io)?;
    let mut hasher = Hasher::new(store.function());
    let request = client.stamped(ReadRequest { resource_name: resource, read_offset: 0, read_limit: 0 });
    let mut stub = ByteStreamClient::new(client.channel());
    client.block_on(async {
        let rpc = |status| RemoteError::Rpc { call: "ByteStream.Read", status: Box::new(status) };
        let mut stream = stub.read(request).await.map_err(rpc)?.into_inner();
        while let Some(chunk) = stream.message().await.map_err(rpc)? {
            hasher.update(&chunk.data);
            file.write_all(&chunk.data).map_err(io)?;
            // A server sending more than the digest's size is cut short.
            if hasher.size() > digest.size {
                break;
            }
        }
        Ok::<(), RemoteError>(())
    })?;
    let got = hasher.finish();
    if got != *digest {
        return Err(RemoteError::Corrupt { digest: digest.to_string(), got: got.to_string() });
    }
    file.flush().map_err(io)?;
    let stored = store.put_file(file.path())?;
    if stored != *digest {
        return Err(RemoteError::Corrupt { digest: digest.to_string(), got: stored.to_string() });
    }
    Ok(())
}
