//! `pleat worker --server URL --instance NAME`: runs this machine as a worker of a BuildGrid scheduler (Bots API) until stopped; the logic is the `remote` crate's `worker`.

use std::time::Duration;

use crate::output::{Failure, say};
use crate::setup::Setup;

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The BuildGrid server, `grpc://host:port`.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The instance whose leases this worker takes.
    #[arg(long, value_name = "NAME", default_value = "")]
    instance: String,
    /// The sandbox the actions run in: `auto` (bubblewrap where it works), `bwrap`, `plain`.
    #[arg(long, default_value = "auto")]
    sandbox: String,
}

pub fn run(setup: &Setup, args: &WorkerArgs) -> Result<u8, Failure> {
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
    let client = remote::client::Client::new(remote::client::Target {
        address: args.server.clone(),
        instance_name: args.instance.clone(),
        token: None,
        // Long enough for the server's long poll of UpdateBotSession.
        timeout: Duration::from_mins(1),
        // grpcs:// trusts the system's authorities.
        tls: None,
    })
    .map_err(|e| Failure::usage(e.to_string()))?;
    let worker = remote::worker::BotWorker::new(client, goals, Box::new(|line: &str| say(format_args!("{line}"))))
        .map_err(|e| {
            Failure::usage(format!(
                "cannot start the worker for {} ({e}); check that BuildGrid runs there and serves instance \"{}\"",
                args.server, args.instance
            ))
        })?;
    worker.serve().map_err(|e| Failure { message: format!("the worker stopped: {e}"), code: 1 })?;
    Ok(0)
}
