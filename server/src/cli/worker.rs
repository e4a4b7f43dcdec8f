//! `pleat worker --server URL --instance NAME` (with TLS and token flags): runs this machine as a worker of a BuildGrid scheduler (Bots API) until stopped; the logic is the `remote` crate's `worker`.

use std::path::PathBuf;
use std::time::Duration;

use engine::config::{RemoteConfig, RemoteSettings};

use crate::output::{Failure, say};
use crate::setup::{Setup, client_target};

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The BuildGrid server, `grpc://host:port` (or `grpcs://host[:port]` for TLS).
    #[arg(long, value_name = "URL")]
    server: String,
    /// The instance whose leases this worker takes.
    #[arg(long, value_name = "NAME", default_value = "")]
    instance: String,
    /// `grpcs://` only: PEM certificates of the authorities to trust instead of the system's.
    #[arg(long, value_name = "PATH")]
    tls_ca_file: Option<PathBuf>,
    /// `grpcs://` only: this worker's PEM certificate, for a server that asks for one (mutual
    /// TLS; with --tls-client-key-file).
    #[arg(long, value_name = "PATH")]
    tls_client_cert_file: Option<PathBuf>,
    /// `grpcs://` only: the PEM key of --tls-client-cert-file.
    #[arg(long, value_name = "PATH")]
    tls_client_key_file: Option<PathBuf>,
    /// The environment variable holding a bearer token for the server.
    #[arg(long, value_name = "NAME")]
    token_env: Option<String>,
    /// The sandbox the actions run in: `auto` (bubblewrap where it works), `bwrap`, `plain`.
    #[arg(long, default_value = "auto")]
    sandbox: String,
}

pub fn run(setup: &Setup, args: &WorkerArgs) -> Result<u8, Failure> {
    let target = target(args)?;
    let Some(cache_dir) = setup.cache_dir.clone() else {
        return Err(Failure::usage(
            "a worker needs a cache folder (its store and tool environments); drop --no-cache",
        ));
    };
    let sandbox = match args.sandbox.as_str() {
        "auto" => engine::config::Sandbox::Auto,
        "bwrap" => engine::config::Sandbox::Bwrap,
        "plain" => engine::config::Sandbox::Plain,
        other => {
            return Err(Failure::usage(format!("--sandbox {other}: write auto, bwrap or plain")));
        }
    };
    let config = engine::config::Config { sandbox, ..engine::config::Config::default() };
    let mut options = engine::goals::GoalOptions::for_project(cache_dir, &config, setup.keep_sandboxes);
    // BuildGrid speaks SHA-256 only.
    options.digest_function = engine::hash::DigestFunction::Sha256;
    // One lease at a time: a machine runs as many workers as it has cores to give.
    options.parallelism = 1;
    let goals = engine::goals::Goals::new(&options).map_err(|e| Failure::usage(e.to_string()))?;
    let client = remote::client::Client::new(target).map_err(|e| Failure::usage(e.to_string()))?;
    let worker = remote::worker::BotWorker::new(client, goals, Box::new(|line: &str| say(format_args!("{line}"))))
        .map_err(|e| {
            Failure::usage(format!(
                "cannot start the worker for {} ({e}); check that BuildGrid runs there and serves instance \"{}\"{}",
                args.server,
                args.instance,
                if args.server.starts_with("grpcs://") {
                    format!(", and {}", RemoteSettings::WorkerFlags.tls_advice())
                } else {
                    String::new()
                }
            ))
        })?;
    worker.serve().map_err(|e| Failure { message: format!("the worker stopped: {e}"), code: 1 })?;
    Ok(0)
}

/// How the worker reaches the server: its flags checked and read as `[tool.pleat.remote]`
/// is (files only with `grpcs://`, a client certificate with its key, the token from the
/// variable named), the errors naming the flags.
fn target(args: &WorkerArgs) -> Result<remote::client::Target, Failure> {
    engine::config::check_remote_address(&args.server)
        .map_err(|m| Failure::usage(format!("--server: {m}")))?;
    let remote = RemoteConfig {
        instance_name: args.instance.clone(),
        token_env: args.token_env.clone(),
        // Long enough for the server's long poll of UpdateBotSession.
        timeout: Duration::from_mins(1),
        tls_ca_file: args.tls_ca_file.clone(),
        tls_client_cert_file: args.tls_client_cert_file.clone(),
        tls_client_key_file: args.tls_client_key_file.clone(),
        ..RemoteConfig::new(args.server.clone())
    };
    engine::config::check_remote_tls(&remote, RemoteSettings::WorkerFlags)
        .map_err(|(_, m)| Failure::usage(m))?;
    client_target(&remote, RemoteSettings::WorkerFlags)
}
