//! `pleat worker`: a worker for BuildGrid's Bots API (Remote Workers API v1test2). It keeps a bot session open, takes each lease's action, refuses one whose platform (OS, architecture, interpreter) is not this machine's, fetches the command and the input tree (one `GetTree`, then the missing files) into its local store (its cache), builds the tool environments the command names from the specs the client published, runs the process with Pleat's leaf runner (its sandbox; no local action cache: the server's is the cache) and stops it when the server drops the lease (cancelled), uploads stdout, stderr and outputs, and completes the lease with the `ActionResult`.

use std::sync::Arc;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::rpc::Status;
use engine::exec::{Cancel, ExecError, HostPath, Process};
use engine::goals::Goals;
use engine::reapi;
use prost::Message as _;

use crate::blobs::{self, Limits};
use crate::bots::{self, BotSession, BotStatus, BotsClient, Device, LeaseState, Property, Worker};
use crate::client::Client;
use crate::{RemoteError, content_digest, convert, environments};

/// gRPC status codes the worker reports in a lease.
const FAILED_PRECONDITION: i32 = 9;
const DEADLINE_EXCEEDED: i32 = 4;
const INTERNAL: i32 = 13;

/// The platform properties a worker offers and the scheduler matches.
pub fn platform(goals: &Goals) -> Vec<(String, String)> {
    vec![
        ("os".to_owned(), std::env::consts::OS.to_owned()),
        ("arch".to_owned(), std::env::consts::ARCH.to_owned()),
        ("interpreter".to_owned(), goals.tools.interpreter.identity()),
    ]
}

/// Notes a lease as finished with (completed or cancelled), keeping the last 64: a server
/// may send one back before it forgets it, and it is not run twice.
fn remember(finished: &mut Vec<String>, id: &str) {
    finished.push(id.to_owned());
    if finished.len() > 64 {
        finished.remove(0);
    }
}

/// A running worker.
pub struct BotWorker {
    client: Arc<Client>,
    goals: Goals,
    limits: Limits,
    properties: Vec<(String, String)>,
    log: Box<dyn Fn(&str) + Send + Sync>,
    envs: Envs,
    /// Pleat's leaf runner (a fresh sandbox per process), without the local action cache:
    /// the server's action cache is the cache, and an action it sends is to be run.
    runner: Arc<engine::exec::local::LocalRunner>,
}

/// The tool environments built or found so far, by folder: one value each, so its files
/// are checked against its fingerprint once per worker, not once per lease.
type Envs = Arc<std::sync::Mutex<std::collections::BTreeMap<String, engine::tools::ToolEnv>>>;

/// What a lease came to.
struct Done {
    status: Status,
    result: Option<re::ActionResult>,
}

fn failed(code: i32, message: String) -> Done {
    Done { status: Status { code, message, details: Vec::new() }, result: None }
}

impl BotWorker {
    /// A worker for the server `client` reaches, running processes with `goals`.
    pub fn new(
        client: Client,
        goals: Goals,
        log: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Self, RemoteError> {
        let status = crate::cache::status(&client)?;
        crate::cache::check_function(&status, goals.store.function(), &client.target.address)?;
        let limits = Limits::new(status.max_batch_bytes(), goals.store.function().reapi_value());
        let properties = platform(&goals);
        let runner = Arc::new(
            engine::exec::local::LocalRunner::new(
                Arc::clone(&goals.store),
                goals.stack.sandboxes.clone(),
                goals.stack.named_caches.clone(),
                goals.stack.keep_sandboxes,
            )
            .with_sandbox(goals.stack.sandbox),
        );
        Ok(Self { client: Arc::new(client), goals, limits, properties, log, envs: Envs::default(), runner })
    }

    fn session(&self, bot_id: &str) -> BotSession {
        BotSession {
            bot_id: bot_id.to_owned(),
            status: BotStatus::Ok as i32,
            worker: Some(Worker {
                devices: vec![Device {
                    handle: "pleat".to_owned(),
                    properties: self
                        .properties
                        .iter()
                        .map(|(k, v)| Property { key: k.clone(), value: v.clone() })
                        .collect(),
                }],
                properties: Vec::new(),
            }),
            ..BotSession::default()
        }
    }

    /// Serves leases until the process is stopped (or the server is gone for good).
    pub fn serve(&self) -> Result<(), RemoteError> {
        let bot_id = format!(
            "pleat-{}-{}",
            std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim(),
            std::process::id()
        );
        let mut stub = BotsClient::new(self.client.channel());
        let mut session = self.create(&mut stub, &bot_id)?;
        let mut failures: u32 = 0;
        // Leases this worker completed (a server may send one back before it forgets it).
        let mut completed: Vec<String> = Vec::new();
        loop {
            let mut running: Option<(String, std::thread::JoinHandle<Done>, Cancel)> = None;
            for lease in &mut session.leases {
                // BuildGrid 0.4.4 hands leases out ACTIVE, not PENDING.
                let open =
                    lease.state == LeaseState::Pending as i32 || lease.state == LeaseState::Active as i32;
                if open && running.is_none() && !completed.contains(&lease.id) {
                    lease.state = LeaseState::Active as i32;
                    let id = lease.id.clone();
                    let payload = lease.payload.clone();
                    let this = self.handle();
                    let cancel = Cancel::new();
                    let stop = cancel.clone();
                    let spawned = std::thread::Builder::new()
                        .name("pleat-lease".into())
                        .spawn(move || this.run_lease(payload.as_ref(), &cancel));
                    match spawned {
                        Ok(handle) => {
                            (self.log)(&format!("lease {id}: started"));
                            running = Some((id, handle, stop));
                        }
                        Err(e) => {
                            lease.state = LeaseState::Completed as i32;
                            lease.status =
                                Some(failed(INTERNAL, format!("cannot start a thread: {e}")).status);
                        }
                    }
                }
            }
            // While a lease runs, the session is kept alive with it ACTIVE.
            while let Some((id, handle, cancel)) = running.take() {
                if handle.is_finished() {
                    let done = handle
                        .join()
                        .unwrap_or_else(|_| failed(INTERNAL, "the lease's thread panicked".to_owned()));
                    if let Some(lease) = session.leases.iter_mut().find(|l| l.id == id) {
                        lease.state = LeaseState::Completed as i32;
                        remember(&mut completed, &id);
                        (self.log)(&format!(
                            "lease {id}: {}",
                            match &done.result {
                                Some(r) if done.status.code == 0 => format!("exit {}", r.exit_code),
                                _ => format!("status {} {}", done.status.code, done.status.message),
                            }
                        ));
                        lease.status = Some(done.status);
                        lease.result = done
                            .result
                            .map(|r| bots::pack("build.bazel.remote.execution.v2.ActionResult", &r));
                    }
                    break;
                }
                // A failed keep-alive is tried again on the next round; the lease runs on.
                if let Ok(next) = self.update(&mut stub, &session, Duration::from_secs(2)) {
                    session = next;
                }
                // The server drops a lease it cancelled (its operation was cancelled by the
                // client: Ctrl+C, or an edit that made the run stale) or gave to another bot:
                // the process is stopped and nothing is reported.
                let kept =
                    session.leases.iter().any(|l| l.id == id && l.state != LeaseState::Cancelled as i32);
                if !kept {
                    cancel.cancel();
                    let _ = handle.join();
                    session.leases.retain(|l| l.id != id);
                    remember(&mut completed, &id);
                    (self.log)(&format!("lease {id}: cancelled by the server; its process was stopped"));
                    break;
                }
                running = Some((id, handle, cancel));
                std::thread::sleep(Duration::from_millis(50));
            }
            match self.update_once(&mut stub, &session) {
                Ok(next) => {
                    if std::env::var_os("PLEAT_WORKER_TRACE").is_some() {
                        (self.log)(&format!(
                            "session update: leases {:?}",
                            next.leases.iter().map(|l| (l.id.as_str(), l.state)).collect::<Vec<_>>()
                        ));
                    }
                    session = next;
                    failures = 0;
                }
                Err(e) => {
                    if failures == 0 {
                        (self.log)(&format!("warning: the bot session's update failed ({e}); trying again"));
                    }
                    failures += 1;
                    // A server that is busy or restarting is waited for (up to 5 s between
                    // tries); one that forgot the session gets a new one.
                    if let RemoteError::Rpc { status, .. } = &e
                        && status.code() == tonic::Code::NotFound
                    {
                        session = self.create(&mut stub, &bot_id)?;
                        continue;
                    }
                    std::thread::sleep(Duration::from_millis(200 * u64::from(failures.min(25))));
                }
            }
        }
    }

    /// `CreateBotSession`.
    fn create(&self, stub: &mut BotsClient, bot_id: &str) -> Result<BotSession, RemoteError> {
        let request = self.client.stamped(bots::CreateBotSessionRequest {
            parent: self.client.target.instance_name.clone(),
            bot_session: Some(self.session(bot_id)),
        });
        let session = self
            .client
            .block_on(stub.create_bot_session(request))
            .map_err(|status| RemoteError::Rpc { call: "CreateBotSession", status: Box::new(status) })?
            .into_inner();
        (self.log)(&format!("worker {bot_id}: bot session {} open", session.name));
        Ok(session)
    }

    /// One `UpdateBotSession`, the leases this side changed kept when the server answers
    /// with them unchanged.
    fn update_once(&self, stub: &mut BotsClient, session: &BotSession) -> Result<BotSession, RemoteError> {
        let request = self.client.stamped(bots::UpdateBotSessionRequest {
            name: session.name.clone(),
            bot_session: Some(session.clone()),
        });
        Ok(self
            .client
            .block_on(stub.update_bot_session(request))
            .map_err(|status| RemoteError::Rpc { call: "UpdateBotSession", status: Box::new(status) })?
            .into_inner())
    }

    /// Keeps the session alive while a lease runs; the running lease stays ACTIVE.
    fn update(
        &self,
        stub: &mut BotsClient,
        session: &BotSession,
        every: Duration,
    ) -> Result<BotSession, RemoteError> {
        std::thread::sleep(every.min(Duration::from_millis(500)));
        let mut next = self.update_once(stub, session)?;
        for lease in &mut next.leases {
            if let Some(ours) = session.leases.iter().find(|l| l.id == lease.id)
                && ours.state == LeaseState::Active as i32
                && lease.state == LeaseState::Pending as i32
            {
                lease.state = LeaseState::Active as i32;
            }
        }
        Ok(next)
    }

    /// What a lease thread needs.
    fn handle(&self) -> LeaseRunner {
        LeaseRunner {
            client: Arc::clone(&self.client),
            goals: self.goals.with_cancel(Cancel::new()),
            limits: self.limits,
            properties: self.properties.clone(),
            envs: Arc::clone(&self.envs),
            runner: Arc::clone(&self.runner),
        }
    }
}

/// Runs one lease (on its own thread).
struct LeaseRunner {
    client: Arc<Client>,
    goals: Goals,
    limits: Limits,
    properties: Vec<(String, String)>,
    envs: Envs,
    runner: Arc<engine::exec::local::LocalRunner>,
}

impl LeaseRunner {
    /// The tool environment in `folder`, built from its published spec; `Err(Done)`: the
    /// lease fails with that.
    fn environment(&self, folder: &str) -> Result<Result<engine::tools::ToolEnv, Done>, RemoteError> {
        let store = &self.goals.store;
        let Some(spec) = environments::fetch(&self.client, store, self.limits, folder)? else {
            return Ok(Err(failed(
                FAILED_PRECONDITION,
                format!(
                    "no spec was published for the tool environment {folder}; run the client with remote execution on"
                ),
            )));
        };
        let spec = match spec.tool_spec() {
            Ok(spec) => spec,
            Err(e) => return Ok(Err(failed(FAILED_PRECONDITION, e))),
        };
        let env = match self.goals.tools.ensure(&spec, &mut |_| {}) {
            Ok(env) => env,
            Err(e) => {
                return Ok(Err(failed(INTERNAL, format!("cannot build the tool environment {folder}: {e}"))));
            }
        };
        if env.root.file_name().and_then(|n| n.to_str()) != Some(folder) {
            return Ok(Err(failed(
                FAILED_PRECONDITION,
                format!(
                    "the tool environment {folder} comes out as {} on this worker (another interpreter?)",
                    env.root.display()
                ),
            )));
        }
        Ok(Ok(env))
    }

    fn run_lease(&self, payload: Option<&bazel_remote_apis::google::protobuf::Any>, cancel: &Cancel) -> Done {
        match self.try_lease(payload, cancel) {
            Ok(done) => done,
            Err(e) => failed(INTERNAL, e.to_string()),
        }
    }

    fn try_lease(
        &self,
        payload: Option<&bazel_remote_apis::google::protobuf::Any>,
        cancel: &Cancel,
    ) -> Result<Done, RemoteError> {
        let store = &self.goals.store;
        let function = store.function();
        let Some(payload) = payload else {
            return Ok(failed(FAILED_PRECONDITION, "the lease has no payload".to_owned()));
        };
        let action: reapi::Action = if payload.type_url.ends_with("build.bazel.remote.execution.v2.Action") {
            reapi::Action::decode(payload.value.as_slice())
                .map_err(|e| RemoteError::Config(format!("the lease's action does not decode: {e}")))?
        } else {
            let remote = re::Digest::decode(payload.value.as_slice())
                .map_err(|e| RemoteError::Config(format!("the lease's payload does not decode: {e}")))?;
            let Some(d) = content_digest(&remote, function) else {
                return Ok(failed(
                    FAILED_PRECONDITION,
                    "the lease names a malformed action digest".to_owned(),
                ));
            };
            blobs::download(&self.client, store, &[d], self.limits)?;
            let bytes = store.get(&d)?.unwrap_or_default();
            reapi::Action::decode(bytes.as_slice())
                .map_err(|e| RemoteError::Config(format!("the lease's action does not decode: {e}")))?
        };
        let platform: std::collections::BTreeMap<String, String> = action
            .platform
            .iter()
            .flat_map(|p| &p.properties)
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        for (key, value) in &self.properties {
            if platform.get(key).is_some_and(|wanted| wanted != value) {
                return Ok(failed(
                    FAILED_PRECONDITION,
                    format!("this worker's {key} is {value}, the action wants {}", platform[key]),
                ));
            }
        }
        let local = |d: &Option<reapi::Digest>| d.as_ref().and_then(|d| d.to_content(function));
        let (Some(command_digest), Some(input_root)) =
            (local(&action.command_digest), local(&action.input_root_digest))
        else {
            return Ok(failed(FAILED_PRECONDITION, "the action names a malformed digest".to_owned()));
        };
        blobs::download(&self.client, store, &[command_digest], self.limits)?;
        blobs::download_trees(&self.client, store, vec![input_root], self.limits)?;
        let command = reapi::Command::decode(store.get(&command_digest)?.unwrap_or_default().as_slice())
            .map_err(|e| RemoteError::Config(format!("the action's command does not decode: {e}")))?;
        // The tool environments, built here from the specs the client published.
        let tools = self.goals.tools.dir.to_string_lossy().into_owned();
        let mut host_paths = Vec::new();
        for folder in environments::folders(&command) {
            let known =
                self.envs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&folder).cloned();
            let env = match known {
                Some(env) => env,
                None => match self.environment(&folder)? {
                    Ok(env) => {
                        self.envs
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .insert(folder.clone(), env.clone());
                        env
                    }
                    Err(done) => return Ok(done),
                },
            };
            host_paths.push(HostPath { path: env.root.clone(), fingerprint: Some(env.fingerprint.clone()) });
        }
        if let Some(prefix) = self.goals.tools.interpreter.prefix() {
            host_paths.push(HostPath { path: prefix, fingerprint: None });
        }
        let here = |text: &str| text.replace(environments::PLACEHOLDER, &tools);
        let mut process = Process::new(command.arguments.iter().map(|a| here(a)).collect(), input_root);
        process.env =
            command.environment_variables.iter().map(|v| (v.name.clone(), here(&v.value))).collect();
        process.working_directory.clone_from(&command.working_directory);
        process.output_files = command.output_files.iter().cloned().collect();
        process.output_directories = command.output_directories.iter().cloned().collect();
        process.timeout = action.timeout.as_ref().map(|t| {
            Duration::from_secs(u64::try_from(t.seconds).unwrap_or(0))
                + Duration::from_nanos(u64::try_from(t.nanos).unwrap_or(0))
        });
        process.cache_scope = match platform.get("pleat.cache_scope").map(String::as_str) {
            Some("always") => engine::exec::CacheScope::Always,
            Some("never") => engine::exec::CacheScope::Never,
            _ => engine::exec::CacheScope::Successful,
        };
        process.platform = platform
            .into_iter()
            .filter(|(k, _)| k != "pleat.cache_scope" && k != "pleat.cache_version")
            .collect();
        process.host_paths = host_paths;
        process.description =
            format!("remote action {}", command.arguments.last().cloned().unwrap_or_default());
        let result = match engine::exec::CommandRunner::run(self.runner.as_ref(), &process, cancel) {
            Ok(result) => result,
            Err(ExecError::Timeout { after, stdout, stderr, .. }) => {
                let partial = reapi::ActionResult {
                    stdout_digest: Some(reapi::Digest::from_content(&stdout)),
                    stderr_digest: Some(reapi::Digest::from_content(&stderr)),
                    exit_code: -1,
                    ..reapi::ActionResult::default()
                };
                blobs::upload(&self.client, store, &[stdout, stderr], self.limits)?;
                return Ok(Done {
                    status: Status {
                        code: DEADLINE_EXCEEDED,
                        message: format!("the action timed out after {:.1} s", after.as_secs_f64()),
                        details: Vec::new(),
                    },
                    result: Some(convert(&partial)),
                });
            }
            Err(e) => return Ok(failed(INTERNAL, e.to_string())),
        };
        let mut action_result = engine::exec::cache::action_result(store, &process, &result)?;
        let mut wanted = crate::trees::attach(store, &mut action_result)?;
        wanted.extend(blobs::result_blobs(store, &action_result)?);
        blobs::upload(&self.client, store, &wanted, self.limits)?;
        Ok(Done { status: Status::default(), result: Some(convert(&action_result)) })
    }
}
