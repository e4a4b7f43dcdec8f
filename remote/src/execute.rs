//! Remote execution (`engine::exec::remote::RemoteExecutor`): a process's action, command, input tree and tool-environment specs uploaded (only what `FindMissingBlobs` names), `Execute` with its operation stream (`WaitExecution` when the stream breaks or a call's time limit ends it), the result's blobs fetched into the local store and verified, `CancelOperation` on a cancel and, through a stop hook, for every operation in flight when Pleat stops on Ctrl+C. A remote that fails, refuses or keeps the action queued too long trips a breaker like the cache's: one warning, and the processes run here.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::longrunning::operations_client::OperationsClient;
use bazel_remote_apis::google::longrunning::{CancelOperationRequest, Operation, operation};
use engine::exec::{Cancel, ExecError, Process, ProcessResult, ResultSource};
use engine::hash::Digest;
use engine::reapi;
use engine::store::Store;
use prost::Message as _;
use re::execution_client::ExecutionClient;

use crate::blobs::{self, Limits};
use crate::cache::{Breaker, PAUSE, Warn};
use crate::client::{Client, Target};
use crate::{RemoteError, convert, digest, environments};

/// The longest an action may wait in the queue with no worker taking it before it runs here
/// (no worker for its platform, or all of them gone).
pub const QUEUE_LIMIT: Duration = Duration::from_mins(2);
/// How often a wait looks at the cancel flag.
const POLL: Duration = Duration::from_millis(100);

/// Counts for the summary and the benchmarks.
#[derive(Debug, Default)]
pub struct Counts {
    pub executed: AtomicU64,
    pub fell_back: AtomicU64,
    /// Inputs, actions and commands the server lacked (tool environment specs aside).
    pub upload_bytes: AtomicU64,
    /// Results' blobs the local store lacked.
    pub download_bytes: AtomicU64,
}

impl Counts {
    /// What ran remotely and what crossed the wire, for `-v`.
    pub fn summary(&self) -> String {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} executed, {} run here instead; {} bytes uploaded, {} bytes fetched",
            n(&self.executed),
            n(&self.fell_back),
            n(&self.upload_bytes),
            n(&self.download_bytes)
        )
    }
}

/// The remote executor: a client, the local store, the breaker.
pub struct RemoteExecutorClient {
    client: Arc<Client>,
    store: Arc<Store>,
    limits: Limits,
    warn: Warn,
    breaker: Breaker,
    /// Ask the server not to answer from its action cache (the remote cache is not read).
    skip_cache_lookup: bool,
    /// Environment folders whose spec was published in this run.
    published: Mutex<BTreeSet<String>>,
    /// The operations being followed, cancelled on the server when Pleat stops on a signal.
    in_flight: Arc<Mutex<BTreeSet<String>>>,
    _on_stop: engine::children::StopHook,
    pub counts: Counts,
}

/// Sends `CancelOperation` for each of `names`, together, within `limit`; best effort.
fn cancel_operations(client: &Client, names: Vec<String>, limit: Duration) {
    if names.is_empty() {
        return;
    }
    let channel = client.channel();
    let requests: Vec<_> =
        names.into_iter().map(|name| client.stamped(CancelOperationRequest { name })).collect();
    client.block_on(async move {
        let mut calls = tokio::task::JoinSet::new();
        for request in requests {
            let mut operations = OperationsClient::new(channel.clone());
            calls.spawn(async move { operations.cancel_operation(request).await });
        }
        let _ = tokio::time::timeout(limit, async { while calls.join_next().await.is_some() {} }).await;
    });
}

/// Keeps an operation's name in the in-flight set while it is followed.
struct Following<'a> {
    in_flight: &'a Mutex<BTreeSet<String>>,
    name: String,
}

impl Following<'_> {
    fn named(&mut self, name: &str) {
        if name.is_empty() || name == self.name {
            return;
        }
        let mut set = self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        set.remove(&self.name);
        set.insert(name.to_owned());
        name.clone_into(&mut self.name);
    }
}

impl Drop for Following<'_> {
    fn drop(&mut self) {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.name);
    }
}

impl std::fmt::Debug for RemoteExecutorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteExecutorClient")
            .field("address", &self.client.target.address)
            .finish_non_exhaustive()
    }
}

/// What ended a remote run.
enum Outcome {
    Done(Result<ProcessResult, ExecError>),
    /// Run it here (said once through the breaker's warning).
    Fallback(String),
}

impl RemoteExecutorClient {
    /// Connects: the server must execute (`exec_enabled`) and serve the store's digest
    /// function. A server that does not answer is one warning and `Ok(None)`. With
    /// `skip_cache_lookup` the server runs every action it is sent, cached or not.
    pub fn connect(
        target: &Target,
        store: Arc<Store>,
        warn: Warn,
        skip_cache_lookup: bool,
    ) -> Result<Option<Arc<Self>>, RemoteError> {
        let client = Arc::new(Client::new(target.clone())?);
        let status = match crate::cache::status(&client) {
            Ok(status) => status,
            Err(e) => {
                warn(&format!(
                    "the remote executor at {} did not answer ({e}); this run goes on without it, running every process here",
                    target.address
                ));
                return Ok(None);
            }
        };
        crate::cache::check_function(&status, store.function(), &target.address)?;
        let executes = status.capabilities.execution_capabilities.as_ref().is_some_and(|c| c.exec_enabled);
        if !executes {
            warn(&format!(
                "the remote at {} does not execute (its capabilities say exec_enabled = false for instance \"{}\"); processes run here; turn execution off, or name the instance that executes",
                target.address, target.instance_name
            ));
            return Ok(None);
        }
        let limits = Limits::new(status.max_batch_bytes(), store.function().reapi_value());
        // Ctrl+C kills what runs here; what runs on the workers is cancelled on the server.
        let in_flight: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let on_stop = {
            let client = Arc::clone(&client);
            let in_flight = Arc::clone(&in_flight);
            engine::children::on_stop(move || {
                let names = in_flight
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .cloned()
                    .collect();
                cancel_operations(&client, names, Duration::from_secs(2));
            })
        };
        Ok(Some(Arc::new(Self {
            in_flight,
            _on_stop: on_stop,
            client,
            store,
            limits,
            warn,
            breaker: Breaker::default(),
            skip_cache_lookup,
            published: Mutex::new(BTreeSet::new()),
            counts: Counts::default(),
        })))
    }

    fn trip(&self, reason: &str) {
        if self.breaker.trip() {
            (self.warn)(&format!(
                "remote execution at {} failed ({reason}); processes run here, and the remote is asked again in {} s",
                self.client.target.address,
                PAUSE.as_secs()
            ));
        }
    }

    /// Uploads what the action needs that the server lacks, and the specs of the tool
    /// environments it runs from; the digest of the action sent (the key's action with
    /// the process's time limit).
    fn upload(&self, process: &Process) -> Result<Digest, RemoteError> {
        let command = self.store.put(&process.command().encode_to_vec())?;
        let mut action = process.action(&command);
        action.timeout = process.timeout.map(|t| reapi::Duration {
            seconds: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(t.subsec_nanos()).unwrap_or(0),
        });
        let sent = self.store.put(&action.encode_to_vec())?;
        let mut wanted = vec![sent, command];
        wanted.extend(blobs::tree_blobs(&self.store, &process.input_root)?);
        let moved = blobs::upload(&self.client, &self.store, &wanted, self.limits)?;
        self.counts.upload_bytes.fetch_add(moved.bytes, Ordering::Relaxed);
        for host in process.host_paths.iter().filter(|h| h.fingerprint.is_some()) {
            let Some(folder) = host.path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&folder) {
                continue;
            }
            if environments::publish(&self.client, &self.store, self.limits, &host.path)? {
                self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(folder);
            }
        }
        Ok(sent)
    }

    /// Waits on one operation stream until the operation is done, the stream ends, or
    /// the cancel is set; the operation's name is kept in `name`.
    async fn follow(
        stream: &mut tonic::Streaming<Operation>,
        name: &mut Following<'_>,
        queued_since: &mut Option<Instant>,
        deadline: Option<Instant>,
        cancel: &Cancel,
    ) -> Result<Option<Operation>, tonic::Status> {
        loop {
            if cancel.is_cancelled() {
                return Ok(None);
            }
            if queued_since.is_some_and(|t| t.elapsed() > QUEUE_LIMIT)
                || deadline.is_some_and(|d| Instant::now() > d)
            {
                return Ok(None);
            }
            match tokio::time::timeout(POLL, stream.message()).await {
                Err(_) => {}
                Ok(Err(status)) => return Err(status),
                Ok(Ok(None)) => return Err(tonic::Status::unavailable("the operation stream ended")),
                Ok(Ok(Some(op))) => {
                    name.named(&op.name);
                    let stage = op
                        .metadata
                        .as_ref()
                        .and_then(|m| re::ExecuteOperationMetadata::decode(m.value.as_slice()).ok())
                        .map(|m| m.stage);
                    if stage == Some(re::execution_stage::Value::Executing as i32) {
                        *queued_since = None;
                    } else if stage == Some(re::execution_stage::Value::Queued as i32)
                        && queued_since.is_none()
                    {
                        *queued_since = Some(Instant::now());
                    }
                    if op.done {
                        return Ok(Some(op));
                    }
                }
            }
        }
    }

    fn run(&self, process: &Process, cancel: &Cancel) -> Result<Outcome, RemoteError> {
        let sent = self.upload(process)?;
        let instance = self.client.target.instance_name.clone();
        let function = self.limits.function;
        let channel = self.client.channel();
        let mut name = Following { in_flight: &self.in_flight, name: String::new() };
        let mut queued_since = Some(Instant::now());
        // A process with a time limit that has not finished within it and the queue's limit
        // (a worker gone while the server still counts it executing) runs here.
        let deadline = process.timeout.map(|t| Instant::now() + t + QUEUE_LIMIT);
        let mut breaks = 0;
        let operation = self.client.block_on(async {
            let mut execution = ExecutionClient::new(channel.clone());
            let mut pause = Duration::from_millis(200);
            let mut stream = loop {
                let request = self.client.stamped(re::ExecuteRequest {
                    instance_name: instance.clone(),
                    skip_cache_lookup: self.skip_cache_lookup,
                    action_digest: Some(digest(&sent)),
                    digest_function: function,
                    ..re::ExecuteRequest::default()
                });
                match execution.execute(request).await {
                    Ok(response) => break Some(response.into_inner()),
                    // A server at its limit of calls in flight (BuildGrid's thread pool) is
                    // waited for, a little longer each time, up to the queue's limit.
                    Err(status)
                        if status.code() == tonic::Code::ResourceExhausted
                            && queued_since.is_some_and(|t| t.elapsed() < QUEUE_LIMIT)
                            && !cancel.is_cancelled() =>
                    {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                    Err(status) => {
                        return Err(RemoteError::Rpc { call: "Execute", status: Box::new(status) });
                    }
                }
            };
            loop {
                let followed = match stream.as_mut() {
                    Some(s) => Self::follow(s, &mut name, &mut queued_since, deadline, cancel).await,
                    None => Err(tonic::Status::unavailable("no stream")),
                };
                match followed {
                    Ok(done) => return Ok(done),
                    Err(status) if name.name.is_empty() || breaks > 1000 => {
                        return Err(RemoteError::Rpc { call: "Execute", status: Box::new(status) });
                    }
                    Err(status) => {
                        // A call's time limit ends a stream too: follow it again.
                        if !matches!(
                            status.code(),
                            tonic::Code::DeadlineExceeded
                                | tonic::Code::Unavailable
                                | tonic::Code::Cancelled
                                | tonic::Code::Unknown
                                | tonic::Code::Internal
                        ) {
                            return Err(RemoteError::Rpc { call: "WaitExecution", status: Box::new(status) });
                        }
                        breaks += 1;
                        let request =
                            self.client.stamped(re::WaitExecutionRequest { name: name.name.clone() });
                        stream = match execution.wait_execution(request).await {
                            Ok(response) => Some(response.into_inner()),
                            Err(status) if status.code() == tonic::Code::NotFound => {
                                return Err(RemoteError::Rpc {
                                    call: "WaitExecution",
                                    status: Box::new(status),
                                });
                            }
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                None
                            }
                        };
                    }
                }
            }
        })?;
        let Some(operation) = operation else {
            // Cancelled, or queued too long: the server is told, best effort.
            if !name.name.is_empty() {
                cancel_operations(&self.client, vec![name.name.clone()], Duration::from_secs(2));
            }
            if cancel.is_cancelled() {
                return Ok(Outcome::Done(Err(ExecError::Cancelled {
                    description: process.description.clone(),
                })));
            }
            return Ok(Outcome::Fallback(format!(
                "{} was not run within {} s of queueing, or within its time limit and that (is there a `pleat worker` for this platform?)",
                process.description,
                QUEUE_LIMIT.as_secs()
            )));
        };
        let response = match operation.result {
            Some(operation::Result::Response(any)) => re::ExecuteResponse::decode(any.value.as_slice())
                .map_err(|e| {
                    RemoteError::Config(format!(
                        "the server sent an ExecuteResponse that does not decode: {e}"
                    ))
                })?,
            Some(operation::Result::Error(status)) => {
                return Ok(Outcome::Fallback(format!(
                    "the operation failed (code {}: {})",
                    status.code, status.message
                )));
            }
            None => return Ok(Outcome::Fallback("the operation ended without a result".to_owned())),
        };
        let status = response.status.clone().unwrap_or_default();
        let mut result: Option<reapi::ActionResult> = response.result.as_ref().map(convert);
        if status.code == tonic::Code::DeadlineExceeded as i32 {
            let empty = self.store.put(b"")?;
            let local = |d: Option<&reapi::Digest>| d.and_then(|d| d.to_content(self.store.function()));
            if let Some(result) = result.as_mut() {
                blobs::download_result(&self.client, &self.store, result, self.limits)?;
            }
            return Ok(Outcome::Done(Err(ExecError::Timeout {
                description: process.description.clone(),
                after: process.timeout.unwrap_or_default(),
                stdout: local(result.as_ref().and_then(|r| r.stdout_digest.as_ref())).unwrap_or(empty),
                stderr: local(result.as_ref().and_then(|r| r.stderr_digest.as_ref())).unwrap_or(empty),
            })));
        }
        if status.code != 0 {
            return Ok(Outcome::Fallback(format!(
                "the worker did not run it (code {}: {})",
                status.code, status.message
            )));
        }
        let Some(mut result) = result else {
            return Ok(Outcome::Fallback("the server sent no result".to_owned()));
        };
        let Some(fetched) = blobs::download_result(&self.client, &self.store, &mut result, self.limits)?
        else {
            return Ok(Outcome::Fallback("the result names a malformed digest".to_owned()));
        };
        self.counts.download_bytes.fetch_add(fetched, Ordering::Relaxed);
        match engine::exec::cache::result_of(&self.store, &result, ResultSource::Remote)? {
            Some(done) => Ok(Outcome::Done(Ok(done))),
            None => Ok(Outcome::Fallback("the result's outputs could not be read back".to_owned())),
        }
    }
}

impl engine::exec::remote::RemoteExecutor for RemoteExecutorClient {
    fn execute(
        &self,
        _action: &Digest,
        process: &Process,
        cancel: &Cancel,
    ) -> Option<Result<ProcessResult, ExecError>> {
        if !self.breaker.open() {
            self.counts.fell_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match self.run(process, cancel) {
            Ok(Outcome::Done(result)) => {
                self.counts.executed.fetch_add(1, Ordering::Relaxed);
                Some(result)
            }
            Ok(Outcome::Fallback(reason)) => {
                self.counts.fell_back.fetch_add(1, Ordering::Relaxed);
                self.trip(&reason);
                None
            }
            Err(e @ RemoteError::Corrupt { .. }) => {
                self.counts.fell_back.fetch_add(1, Ordering::Relaxed);
                (self.warn)(&format!(
                    "the remote at {} sent a corrupted blob: {e}; the result was not used and the process runs here",
                    self.client.target.address
                ));
                None
            }
            Err(e) => {
                self.counts.fell_back.fetch_add(1, Ordering::Relaxed);
                self.trip(&e.to_string());
                None
            }
        }
    }
}
