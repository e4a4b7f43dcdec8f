//! The REAPI v2 gRPC client: one channel, a runtime of its own behind a blocking API (the runners are synchronous), the instance name and a bearer token on every call, a time limit per call, bounded concurrency, and retries with backoff on `UNAVAILABLE` / `RESOURCE_EXHAUSTED`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use re::action_cache_client::ActionCacheClient;
use re::capabilities_client::CapabilitiesClient;
use re::content_addressable_storage_client::ContentAddressableStorageClient;
use tonic::transport::{Channel, Endpoint};

use crate::RemoteError;

/// Calls in flight at once, across every thread that uses the client.
const CONCURRENCY: usize = 16;
/// Attempts of a call that failed with `UNAVAILABLE` or `RESOURCE_EXHAUSTED` (then it fails).
const ATTEMPTS: u32 = 3;
/// The first pause before a retry; doubled each time.
const BACKOFF: Duration = Duration::from_millis(40);
/// The longest wait for a connection (a server that does not answer is down for this run).
const CONNECT: Duration = Duration::from_millis(750);
/// The longest wait for the capabilities at start, tried once: a dead or hanging remote
/// costs a run at most this (a server nearby answers in milliseconds).
const FIRST_CALL: Duration = Duration::from_millis(750);
/// Digests per `FindMissingBlobs` request (well below gRPC's 4 MiB message limit).
const DIGESTS_PER_REQUEST: usize = 4096;

/// How to reach a server.
#[derive(Debug, Clone)]
pub struct Target {
    /// `grpc://host:port`, as configured (for messages).
    pub address: String,
    pub instance_name: String,
    /// A bearer token sent as `authorization: Bearer …`.
    pub token: Option<String>,
    /// The time limit of one call (and of connecting).
    pub timeout: Duration,
    /// For `grpcs://`: what to trust and how to identify (`None`: the system's roots).
    pub tls: Option<Tls>,
}

/// TLS settings of a `grpcs://` remote, as PEM bytes.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// Certificates of the authorities to trust instead of the system's.
    pub ca: Option<Vec<u8>>,
    /// This client's certificate and key, for a server that asks for one (mutual TLS).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// A REAPI client with a blocking API.
pub struct Client {
    pub target: Target,
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("address", &self.target.address).finish_non_exhaustive()
    }
}

/// `grpc://host:port` → the URI tonic connects to (`http://`); `grpcs://host[:port]` →
/// `https://`, port 443 unless given.
pub fn endpoint_uri(address: &str) -> Result<String, RemoteError> {
    engine::config::check_remote_address(address).map_err(RemoteError::Config)?;
    if let Some(host) = address.strip_prefix("grpcs://") {
        let host = host.trim_end_matches('/');
        let has_port = host.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
        return Ok(if has_port { format!("https://{host}") } else { format!("https://{host}:443") });
    }
    let host = address.trim_start_matches("grpc://").trim_end_matches('/');
    Ok(format!("http://{host}"))
}

/// The TLS configuration of a `grpcs://` endpoint: the given authorities or the system's,
/// and the client's identity when given.
fn tls_config(tls: Option<&Tls>) -> tonic::transport::ClientTlsConfig {
    let mut config = tonic::transport::ClientTlsConfig::new();
    match tls.and_then(|t| t.ca.as_ref()) {
        Some(ca) => config = config.ca_certificate(tonic::transport::Certificate::from_pem(ca)),
        None => config = config.with_native_roots(),
    }
    if let Some((cert, key)) = tls.and_then(|t| t.identity.as_ref()) {
        config = config.identity(tonic::transport::Identity::from_pem(cert, key));
    }
    config
}

/// Whether a failed call may succeed when tried again.
fn retryable(status: &tonic::Status) -> bool {
    matches!(status.code(), tonic::Code::Unavailable | tonic::Code::ResourceExhausted)
}

impl Client {
    /// A client for `target`; nothing is sent until the first call.
    pub fn new(target: Target) -> Result<Self, RemoteError> {
        let uri = endpoint_uri(&target.address)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pleat-remote")
            .enable_all()
            .build()
            .map_err(|e| {
                RemoteError::Config(format!(
                    "cannot start the remote client's threads ({e}); check the process limits"
                ))
            })?;
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| {
                RemoteError::Config(format!("{}: {e}; write it like grpc://host:port", target.address))
            })?
            .connect_timeout(target.timeout.min(CONNECT))
            .timeout(target.timeout)
            .tcp_nodelay(true);
        let endpoint = if target.address.starts_with("grpcs://") {
            endpoint.tls_config(tls_config(target.tls.as_ref())).map_err(|e| {
                RemoteError::Config(format!(
                    "{}: the TLS settings cannot be used ({e}); check that tls_ca_file, tls_client_cert_file and tls_client_key_file under [tool.pleat.remote] (pleat worker's --tls-ca-file, --tls-client-cert-file and --tls-client-key-file) hold PEM certificates and a PEM key",
                    target.address
                ))
            })?
        } else {
            endpoint
        };
        let channel = {
            let _inside = runtime.enter();
            endpoint.connect_lazy()
        };
        let authorization = match &target.token {
            Some(token) => Some(format!("Bearer {token}").parse().map_err(|_| {
                RemoteError::Config(
                    "the remote's token holds characters an HTTP header cannot carry; check the variable token_env (pleat worker's --token-env) names".to_owned(),
                )
            })?),
            None => None,
        };
        Ok(Self {
            target,
            runtime,
            channel,
            authorization,
            permits: Arc::new(tokio::sync::Semaphore::new(CONCURRENCY)),
        })
    }

    /// A request carrying the token and the time limit.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = &self.authorization {
            request.metadata_mut().insert("authorization", value.clone());
        }
        request.set_timeout(self.target.timeout);
        request
    }

    /// Runs `call` on the client's runtime, blocking this thread, holding one of the
    /// concurrency permits, retrying with backoff while the server says to try again.
    pub(crate) fn call<T, F, Fut>(&self, name: &'static str, mut call: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        self.runtime.block_on(async {
            let _permit = self.permits.acquire().await.map_err(|_| RemoteError::Closed)?;
            let mut pause = BACKOFF;
            let mut attempt = 1;
            loop {
                match call().await {
                    Ok(value) => return Ok(value),
                    Err(status) if retryable(&status) && attempt < ATTEMPTS => {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                        attempt += 1;
                    }
                    Err(status) => return Err(RemoteError::Rpc { call: name, status: Box::new(status) }),
                }
            }
        })
    }

    /// Runs a future on the client's runtime (streams, which retry themselves).
    pub(crate) fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub(crate) fn stamped<T>(&self, message: T) -> tonic::Request<T> {
        self.request(message)
    }

    /// `GetCapabilities`, tried once within a short deadline: the first call, which
    /// tells whether the remote is there at all.
    pub fn capabilities(&self) -> Result<re::ServerCapabilities, RemoteError> {
        let mut client = CapabilitiesClient::new(self.channel());
        let mut request =
            self.request(re::GetCapabilitiesRequest { instance_name: self.target.instance_name.clone() });
        request.set_timeout(self.target.timeout.min(FIRST_CALL));
        self.block_on(async {
            match tokio::time::timeout(self.target.timeout.min(FIRST_CALL), client.get_capabilities(request))
                .await
            {
                Ok(Ok(response)) => Ok(response.into_inner()),
                Ok(Err(status)) => {
                    Err(RemoteError::Rpc { call: "GetCapabilities", status: Box::new(status) })
                }
                Err(_) => Err(RemoteError::Rpc {
                    call: "GetCapabilities",
                    status: Box::new(tonic::Status::deadline_exceeded("no answer in time")),
                }),
            }
        })
    }

    /// `FindMissingBlobs`: which of `digests` the server lacks.
    pub fn find_missing(
        &self,
        digests: &[re::Digest],
        function: i32,
    ) -> Result<Vec<re::Digest>, RemoteError> {
        let mut missing = Vec::new();
        for chunk in digests.chunks(DIGESTS_PER_REQUEST) {
            let found = self.call("FindMissingBlobs", || {
                let mut client = ContentAddressableStorageClient::new(self.channel());
                let request = self.request(re::FindMissingBlobsRequest {
                    instance_name: self.target.instance_name.clone(),
                    blob_digests: chunk.to_vec(),
                    digest_function: function,
                });
                async move { client.find_missing_blobs(request).await.map(tonic::Response::into_inner) }
            })?;
            missing.extend(found.missing_blob_digests);
        }
        Ok(missing)
    }

    /// `BatchUpdateBlobs`; a blob the server refuses is an error naming it.
    pub fn batch_update(&self, blobs: Vec<(re::Digest, Vec<u8>)>, function: i32) -> Result<(), RemoteError> {
        let requests: Vec<_> = blobs
            .into_iter()
            .map(|(digest, data)| re::batch_update_blobs_request::Request {
                digest: Some(digest),
                data,
                compressor: 0,
            })
            .collect();
        let response = self.call("BatchUpdateBlobs", || {
            let mut client = ContentAddressableStorageClient::new(self.channel());
            let request = self.request(re::BatchUpdateBlobsRequest {
                instance_name: self.target.instance_name.clone(),
                requests: requests.clone(),
                digest_function: function,
            });
            async move { client.batch_update_blobs(request).await.map(tonic::Response::into_inner) }
        })?;
        for blob in response.responses {
            if let Some(status) = blob.status.filter(|s| s.code != 0) {
                return Err(RemoteError::Blob {
                    digest: blob.digest.map(|d| format!("{}/{}", d.hash, d.size_bytes)).unwrap_or_default(),
                    reason: format!("the server refused it (code {}: {})", status.code, status.message),
                });
            }
        }
        Ok(())
    }

    /// `BatchReadBlobs`: each digest with its bytes, or the status the server gave it.
    pub fn batch_read(
        &self,
        digests: &[re::Digest],
        function: i32,
    ) -> Result<Vec<re::batch_read_blobs_response::Response>, RemoteError> {
        let response = self.call("BatchReadBlobs", || {
            let mut client = ContentAddressableStorageClient::new(self.channel());
            let request = self.request(re::BatchReadBlobsRequest {
                instance_name: self.target.instance_name.clone(),
                digests: digests.to_vec(),
                acceptable_compressors: Vec::new(),
                digest_function: function,
            });
            async move { client.batch_read_blobs(request).await.map(tonic::Response::into_inner) }
        })?;
        Ok(response.responses)
    }

    /// `GetTree`: the folder `root` and every folder below it (root first), read through
    /// the stream's pages.
    pub fn get_tree(&self, root: &re::Digest, function: i32) -> Result<Vec<re::Directory>, RemoteError> {
        let mut folders = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = page_token.clone();
            let (mut got, next) = self.call("GetTree", || {
                let mut client = ContentAddressableStorageClient::new(self.channel());
                let request = self.request(re::GetTreeRequest {
                    instance_name: self.target.instance_name.clone(),
                    root_digest: Some(root.clone()),
                    page_size: 0,
                    page_token: page.clone(),
                    digest_function: function,
                });
                async move {
                    let mut stream = client.get_tree(request).await?.into_inner();
                    let mut got = Vec::new();
                    let mut next = String::new();
                    while let Some(response) = stream.message().await? {
                        got.extend(response.directories);
                        next = response.next_page_token;
                    }
                    Ok((got, next))
                }
            })?;
            folders.append(&mut got);
            if next.is_empty() || next == page_token {
                return Ok(folders);
            }
            page_token = next;
        }
    }

    /// `GetActionResult`; `None` when the server has none (`NOT_FOUND`).
    pub fn get_action_result(
        &self,
        action: &re::Digest,
        function: i32,
    ) -> Result<Option<re::ActionResult>, RemoteError> {
        let result = self.call("GetActionResult", || {
            let mut client = ActionCacheClient::new(self.channel());
            let request = self.request(re::GetActionResultRequest {
                instance_name: self.target.instance_name.clone(),
                action_digest: Some(action.clone()),
                digest_function: function,
                ..re::GetActionResultRequest::default()
            });
            async move {
                match client.get_action_result(request).await {
                    Ok(response) => Ok(Some(response.into_inner())),
                    Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
                    Err(status) => Err(status),
                }
            }
        })?;
        Ok(result)
    }

    /// `UpdateActionResult`.
    pub fn update_action_result(
        &self,
        action: &re::Digest,
        result: &re::ActionResult,
        function: i32,
    ) -> Result<(), RemoteError> {
        self.call("UpdateActionResult", || {
            let mut client = ActionCacheClient::new(self.channel());
            let request = self.request(re::UpdateActionResultRequest {
                instance_name: self.target.instance_name.clone(),
                action_digest: Some(action.clone()),
                action_result: Some(result.clone()),
                digest_function: function,
                ..re::UpdateActionResultRequest::default()
            });
            async move { client.update_action_result(request).await.map(|_| ()) }
        })
    }
}
