//! The remote cache the runner stack asks on a local miss (`engine::exec::remote::RemoteCache`): lookups fetch a hit's outputs into the local store, verified; uploads go through a bounded queue drained by one thread, flushed at exit with a deadline. A remote that fails trips a circuit breaker: one warning, then no call for a while, and every process runs here meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use engine::exec::{Process, ProcessResult, ResultSource};
use engine::hash::{Digest, DigestFunction};
use engine::reapi;
use engine::store::Store;
use prost::Message as _;

use crate::blobs::{self, Limits};
use crate::client::{Client, Target};
use crate::{RemoteError, convert, digest};

/// How long the breaker keeps the remote out after a failure.
pub const PAUSE: Duration = Duration::from_mins(1);
/// Results waiting for upload; more are dropped (counted), never waited for.
const QUEUE: usize = 256;

/// What the remote cache is asked to do.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    pub target: Target,
    /// Look results up on a local miss.
    pub read: bool,
    /// Upload results run here.
    pub write: bool,
}

/// Receives the remote cache's warnings (the engine and this crate never print).
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

/// What `GetCapabilities` said, and how long it took.
#[derive(Debug, Clone)]
pub struct Status {
    pub capabilities: re::ServerCapabilities,
    pub round_trip: Duration,
}

impl Status {
    /// The digest functions the server serves, by name (`sha256`, …).
    pub fn digest_functions(&self) -> Vec<String> {
        self.capabilities
            .cache_capabilities
            .as_ref()
            .map(|c| {
                c.digest_functions
                    .iter()
                    .map(|v| {
                        re::digest_function::Value::try_from(*v).map_or_else(
                            |_| format!("unknown({v})"),
                            |v| v.as_str_name().to_ascii_lowercase(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the server serves `function` (an empty list means SHA-256, as in REAPI 2.0).
    pub fn serves(&self, function: DigestFunction) -> bool {
        let served = self.capabilities.cache_capabilities.as_ref().map(|c| c.digest_functions.as_slice());
        match served {
            None | Some([]) => function == DigestFunction::Sha256,
            Some(list) => list.contains(&function.reapi_value()),
        }
    }

    /// Whether the server accepts `UpdateActionResult`.
    pub fn accepts_updates(&self) -> bool {
        self.capabilities
            .cache_capabilities
            .as_ref()
            .and_then(|c| c.action_cache_update_capabilities.as_ref())
            .is_some_and(|u| u.update_enabled)
    }

    pub fn max_batch_bytes(&self) -> i64 {
        self.capabilities.cache_capabilities.as_ref().map_or(0, |c| c.max_batch_total_size_bytes)
    }
}

/// Asks the server for its capabilities, timing the round trip.
pub fn status(client: &Client) -> Result<Status, RemoteError> {
    let started = Instant::now();
    let capabilities = client.capabilities()?;
    Ok(Status { capabilities, round_trip: started.elapsed() })
}

/// A circuit breaker: after a failure no call for [`PAUSE`]; the first trip is said.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    /// No call before this instant.
    closed_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
}

impl Breaker {
    /// Whether calls may be made.
    pub(crate) fn open(&self) -> bool {
        let mut until = self.closed_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *until {
            Some(t) if Instant::now() < t => false,
            Some(_) => {
                *until = None;
                true
            }
            None => true,
        }
    }

    /// A call failed: no call for [`PAUSE`]; `true` the first time (to be said).
    pub(crate) fn trip(&self) -> bool {
        *self.closed_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Instant::now() + PAUSE);
        !self.warned.swap(true, Ordering::SeqCst)
    }
}

/// One result to upload.
struct Upload {
    action: Digest,
    result: reapi::ActionResult,
    blobs: Vec<Digest>,
}

/// Counts for the summary and the benchmarks.
#[derive(Debug, Default)]
pub struct Counts {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub rejected: AtomicU64,
    pub uploaded: AtomicU64,
    pub upload_bytes: AtomicU64,
    pub download_bytes: AtomicU64,
    pub dropped: AtomicU64,
}

impl Counts {
    /// What crossed the wire, for `-v`: hits, misses, rejected results, bytes each way.
    pub fn summary(&self) -> String {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} hits, {} misses, {} rejected; {} bytes fetched; {} results uploaded ({} bytes), {} dropped",
            n(&self.hits),
            n(&self.misses),
            n(&self.rejected),
            n(&self.download_bytes),
            n(&self.uploaded),
            n(&self.upload_bytes),
            n(&self.dropped)
        )
    }
}

/// The remote cache: a client, the local store, the breaker and the upload queue.
pub struct RemoteCacheClient {
    client: Arc<Client>,
    store: Arc<Store>,
    options: RemoteOptions,
    limits: Limits,
    warn: Warn,
    breaker: Breaker,
    /// A problem with one result (not the remote's failure) was said.
    noted: AtomicBool,
    queue: Mutex<Option<SyncSender<Upload>>>,
    drained: Mutex<Option<Receiver<()>>>,
    pub counts: Arc<Counts>,
}

impl std::fmt::Debug for RemoteCacheClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCacheClient")
            .field("address", &self.options.target.address)
            .finish_non_exhaustive()
    }
}

impl RemoteCacheClient {
    /// Connects and checks the server's capabilities against the store. A server that does
    /// not answer is said once through `warn` and gives `Ok(None)` (the run goes on without
    /// it); one that serves another digest function than the store's is an error.
    pub fn connect(
        options: RemoteOptions,
        store: Arc<Store>,
        warn: Warn,
    ) -> Result<Option<Arc<Self>>, RemoteError> {
        let client = Arc::new(Client::new(options.target.clone())?);
        let status = match status(&client) {
            Ok(status) => status,
            Err(e) => {
                warn(&format!(
                    "the remote cache at {} did not answer ({e}); this run goes on without it, running every process here",
                    options.target.address
                ));
                return Ok(None);
            }
        };
        check_function(&status, store.function(), &options.target.address)?;
        let mut options = options;
        if options.write && !status.accepts_updates() {
            warn(&format!(
                "the remote cache at {} does not accept results (its action cache is read-only), so none are uploaded; turn cache_write off",
                options.target.address
            ));
            options.write = false;
        }
        let limits = Limits::new(status.max_batch_bytes(), store.function().reapi_value());
        let this = Arc::new(Self {
            client,
            store,
            options,
            limits,
            warn,
            breaker: Breaker::default(),
            noted: AtomicBool::new(false),
            queue: Mutex::new(None),
            drained: Mutex::new(None),
            counts: Arc::new(Counts::default()),
        });
        if this.options.write {
            this.start_uploader();
        }
        Ok(Some(this))
    }

    pub fn options(&self) -> &RemoteOptions {
        &self.options
    }

    /// The uploading thread, draining the queue until it is closed.
    fn start_uploader(self: &Arc<Self>) {
        let (send, receive) = std::sync::mpsc::sync_channel::<Upload>(QUEUE);
        let (done, drained) = std::sync::mpsc::channel();
        *self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(send);
        *self.drained.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(drained);
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("pleat-remote-upload".into()).spawn(move || {
            while let Ok(upload) = receive.recv() {
                let Some(this) = weak.upgrade() else { break };
                if this.open() {
                    this.send(&upload);
                }
            }
            let _ = done.send(());
        });
        if spawned.is_err() {
            (self.warn)(
                "cannot start the remote cache's upload thread; results are not uploaded in this run",
            );
            *self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
    }

    /// Whether calls may be made (the breaker is closed).
    fn open(&self) -> bool {
        self.breaker.open()
    }

    /// A call failed: keep the remote out for [`PAUSE`], and say so the first time.
    fn trip(&self, error: &RemoteError) {
        if self.breaker.trip() {
            (self.warn)(&format!(
                "the remote cache at {} failed ({error}); this run goes on without it, running processes here, and asks it again in {} s",
                self.options.target.address,
                PAUSE.as_secs()
            ));
        }
    }

    /// Says a problem that is not the remote's failure, once per run.
    fn note_once(&self, message: &str) {
        if !self.noted.swap(true, Ordering::SeqCst) {
            (self.warn)(message);
        }
    }

    /// Uploads one result's blobs (only those missing), then the result.
    fn send(&self, upload: &Upload) {
        let sent = blobs::upload(&self.client, &self.store, &upload.blobs, self.limits).and_then(|sent| {
            let result: re::ActionResult = convert(&upload.result);
            self.client.update_action_result(&digest(&upload.action), &result, self.limits.function)?;
            Ok(sent)
        });
        match sent {
            Ok(sent) => {
                self.counts.uploaded.fetch_add(1, Ordering::Relaxed);
                self.counts.upload_bytes.fetch_add(sent.bytes, Ordering::Relaxed);
            }
            Err(e @ (RemoteError::Rpc { .. } | RemoteError::Closed)) => self.trip(&e),
            Err(e) => self.note_once(&format!("a result was not uploaded to the remote cache: {e}")),
        }
    }

    /// Waits until the queued uploads are sent, or `deadline` passes (then says how many
    /// were left). Later uploads are refused.
    pub fn flush(&self, deadline: Duration) {
        let sender = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let Some(sender) = sender else { return };
        drop(sender);
        let drained = self.drained.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(drained) = drained
            && drained.recv_timeout(deadline).is_err()
        {
            (self.warn)(&format!(
                "uploads to the remote cache at {} did not finish within {} s; the rest are dropped",
                self.options.target.address,
                deadline.as_secs()
            ));
        }
        let dropped = self.counts.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            (self.warn)(&format!("{dropped} results were not uploaded: the upload queue was full"));
        }
    }

    /// A hit, its blobs fetched and verified; errors are misses for the caller.
    fn fetch(&self, action: &Digest) -> Result<Option<ProcessResult>, RemoteError> {
        let Some(result) = self.client.get_action_result(&digest(action), self.limits.function)? else {
            return Ok(None);
        };
        let mut result: reapi::ActionResult = convert(&result);
        let Some(fetched) = blobs::download_result(&self.client, &self.store, &mut result, self.limits)?
        else {
            return Ok(None);
        };
        self.counts.download_bytes.fetch_add(fetched, Ordering::Relaxed);
        Ok(engine::exec::cache::result_of(&self.store, &result, ResultSource::RemoteCache)?)
    }

    /// Every blob a result names that the remote needs: the action and its command,
    /// stdout, stderr, output files, output folders (their Directory messages and files;
    /// their `Tree` messages come from `trees::attach`).
    fn blobs_of(
        &self,
        process: &Process,
        action: &Digest,
        result: &reapi::ActionResult,
    ) -> Result<Vec<Digest>, RemoteError> {
        let command = self.store.put(&process.command().encode_to_vec())?;
        let mut out = vec![*action, command];
        out.extend(blobs::result_blobs(&self.store, result)?);
        Ok(out)
    }
}

/// The store's digest function must be one the server serves.
pub fn check_function(status: &Status, local: DigestFunction, address: &str) -> Result<(), RemoteError> {
    if status.serves(local) {
        return Ok(());
    }
    let served = status.digest_functions();
    let wanted = served
        .iter()
        .find_map(|name| DigestFunction::parse(name))
        .map_or_else(|| "sha256".to_owned(), |f| f.name().to_owned());
    Err(RemoteError::WrongDigestFunction {
        address: address.to_owned(),
        served: if served.is_empty() { "sha256".to_owned() } else { served.join(", ") },
        local: local.name().to_owned(),
        wanted,
    })
}

impl engine::exec::remote::RemoteCache for RemoteCacheClient {
    fn lookup(&self, action: &Digest, _process: &Process) -> Option<ProcessResult> {
        if !self.options.read || !self.open() {
            return None;
        }
        match self.fetch(action) {
            Ok(Some(hit)) => {
                self.counts.hits.fetch_add(1, Ordering::Relaxed);
                Some(hit)
            }
            Ok(None) => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e @ RemoteError::Corrupt { .. }) => {
                self.counts.rejected.fetch_add(1, Ordering::Relaxed);
                (self.warn)(&format!(
                    "the remote cache at {} sent a corrupted blob: {e}; the result was not used and the process runs here",
                    self.options.target.address
                ));
                None
            }
            Err(e @ (RemoteError::Rpc { .. } | RemoteError::Closed)) => {
                self.trip(&e);
                None
            }
            Err(e) => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                self.note_once(&format!(
                    "a result in the remote cache at {} could not be used ({e}); the process runs here",
                    self.options.target.address
                ));
                None
            }
        }
    }

    fn upload(&self, action: &Digest, process: &Process, result: &ProcessResult) {
        let queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(queue) = queue.as_ref() else { return };
        let prepared = engine::exec::cache::action_result(&self.store, process, result)
            .map_err(RemoteError::from)
            .and_then(|mut action_result| {
                let mut blobs = crate::trees::attach(&self.store, &mut action_result)?;
                blobs.extend(self.blobs_of(process, action, &action_result)?);
                Ok((blobs, action_result))
            });
        let (blobs, action_result) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                self.note_once(&format!("a result was not uploaded to the remote cache: {e}"));
                return;
            }
        };
        match queue.try_send(Upload { action: *action, result: action_result, blobs }) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
