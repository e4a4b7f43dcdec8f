//! `pleat remote status`: the configured remote cache's capabilities, the round trip of `GetCapabilities`, its digest functions against the local store's, and what this machine would do with it (read, write).

use engine::config::RemoteSettings;

use crate::output::{Failure, Format, Out};
use crate::setup::{Setup, remote_options};

#[derive(clap::Subcommand, Debug)]
pub enum RemoteCommand {
    /// Ask the remote cache for its capabilities; exit 1 when it does not answer or cannot
    /// serve the local store's digest function.
    Status {
        #[command(flatten)]
        remote: crate::RemoteArgs,
    },
}

pub fn run(setup: &Setup, format: Format, command: &RemoteCommand) -> Result<u8, Failure> {
    let RemoteCommand::Status { .. } = command;
    let root = setup.root()?;
    let config = engine::config::load(&root).map_err(|e| Failure::usage(e.to_string()))?;
    let Some(remote) = setup.remote.apply(&config)? else {
        return Err(Failure::usage(
            "no remote cache is configured: set address under [tool.pleat.remote] (like \"grpc://127.0.0.1:50051\") or pass --remote-address",
        ));
    };
    let local = config.digest_function_set.unwrap_or(engine::hash::DigestFunction::Sha256);
    let options = remote_options(&remote)?;
    let client =
        remote::client::Client::new(options.target.clone()).map_err(|e| Failure::usage(e.to_string()))?;
    let status = remote::cache::status(&client);
    let mut out = Out::new();
    let (reachable, problem) = match &status {
        Ok(status) => {
            (true, remote::cache::check_function(status, local, &remote.address).err().map(|e| e.to_string()))
        }
        Err(e) => (
            false,
            Some(format!(
                "the remote cache at {} did not answer: {e}; check that the server runs and the address{}",
                remote.address,
                if remote.address.starts_with("grpcs://") {
                    format!(", and {}", RemoteSettings::Table("[tool.pleat.remote]").tls_advice())
                } else {
                    String::new()
                }
            )),
        ),
    };
    if format == Format::Json {
        let mut json = serde_json::json!({
            "address": remote.address,
            "instance_name": remote.instance_name,
            "reachable": reachable,
            "local_digest_function": local.name(),
            "cache_read": options.read,
            "cache_write": options.write,
            "problem": problem,
        });
        if let Ok(status) = &status {
            json["round_trip_ms"] = (status.round_trip.as_secs_f64() * 1000.0).into();
            json["digest_functions"] = status.digest_functions().into();
            json["max_batch_total_size_bytes"] = status.max_batch_bytes().into();
            json["action_cache_updates"] = status.accepts_updates().into();
            json["remote_execution"] = execution(status).into();
        }
        out.json(&json)?;
    } else {
        let instance = if remote.instance_name.is_empty() {
            "the default instance".to_owned()
        } else {
            format!("instance \"{}\"", remote.instance_name)
        };
        out.line(format_args!("remote cache: {} ({instance})", remote.address))?;
        if let Ok(status) = &status {
            out.line(format_args!(
                "round trip: {:.1} ms (GetCapabilities)",
                status.round_trip.as_secs_f64() * 1000.0
            ))?;
            let served = status.digest_functions();
            out.line(format_args!(
                "digest functions: {} (the local store uses {})",
                if served.is_empty() { "sha256 (none listed)".to_owned() } else { served.join(", ") },
                local.name()
            ))?;
            let batch = match status.max_batch_bytes() {
                0 => "no limit given".to_owned(),
                n => format!("{n} bytes"),
            };
            out.line(format_args!("batch limit: {batch}; larger blobs go through ByteStream"))?;
            out.line(format_args!(
                "action cache updates: {}",
                if status.accepts_updates() { "accepted" } else { "refused (read-only)" }
            ))?;
            out.line(format_args!(
                "remote execution: {}",
                if execution(status) { "offered (Pleat does not use it yet)" } else { "not offered" }
            ))?;
        }
        let on = |b: bool| if b { "on" } else { "off" };
        out.line(format_args!("cache_read: {}, cache_write: {}", on(options.read), on(options.write)))?;
        if let Some(problem) = &problem {
            out.line(format_args!("✕ {problem}"))?;
        } else {
            out.line("✓ usable")?;
        }
    }
    out.finish()?;
    Ok(u8::from(problem.is_some()))
}

/// Whether the server offers remote execution.
fn execution(status: &remote::Status) -> bool {
    status.capabilities.execution_capabilities.as_ref().is_some_and(|e| e.exec_enabled)
}
