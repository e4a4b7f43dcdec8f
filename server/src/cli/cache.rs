//! `pleat cache stats | gc | clear | verify`: the store's sizes, eviction and checks, in human or JSON form.

use engine::lmdb::check::check_file;
use engine::store::{Store, StoreOptions, clear_folder};

use clap::Subcommand;

use crate::output::{Failure, Format, Out, say};
use crate::setup::Setup;

/// `pleat cache …`.
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// What the store holds.
    Stats,
    /// Evict least-recently-used content down to the size cap (or --max-size).
    Gc {
        /// Target size, like `500MiB` or `2GiB` (default: the store's cap, 2 GiB).
        #[arg(long, value_parser = engine::config::parse_size)]
        max_size: Option<u64>,
    },
    /// Remove everything: the store and the parse cache.
    Clear,
    /// Read every stored blob back and check it against its digest.
    Verify,
}

pub fn run(setup: &Setup, format: Format, command: &CacheCommand) -> Result<u8, Failure> {
    let Some(cache_dir) = setup.cache_dir.clone() else {
        return Err(Failure::usage("--no-cache leaves no cache to work on; drop it or pass --cache-dir"));
    };
    let fail = |e: engine::store::StoreError| Failure { message: e.to_string(), code: 3 };
    let mut out = Out::new();
    let json = format == Format::Json;
    let store_dir = cache_dir.join("store-v1");
    match command {
        // Neither opens LMDB: a damaged file must not stop them.
        CacheCommand::Clear => {
            clear_folder(&store_dir).map_err(fail)?;
            let parse_cache = cache_dir.join("graph-v1");
            if parse_cache.exists() {
                std::fs::remove_dir_all(&parse_cache).map_err(|e| Failure {
                    message: format!("cannot remove {}: {e}; remove it by hand", parse_cache.display()),
                    code: 3,
                })?;
            }
            if json {
                out.json(&serde_json::json!({"cleared": cache_dir}))?;
            } else {
                out.line(format_args!("cleared {}", cache_dir.display()))?;
            }
            out.finish()?;
            return Ok(0);
        }
        CacheCommand::Verify => return verify(&cache_dir, json),
        CacheCommand::Stats | CacheCommand::Gc { .. } => {}
    }
    let store = Store::open(&StoreOptions::new(store_dir)).map_err(|e| Failure::usage(e.to_string()))?;
    for report in store.take_reports() {
        say(format_args!("warning: {report}"));
    }
    let code = match command {
        CacheCommand::Stats => {
            let stats = store.stats().map_err(fail)?;
            if json {
                out.json(&serde_json::json!({
                    "dir": store.dir(),
                    "blobs": stats.blobs,
                    "large_blobs": stats.large_blobs,
                    "bytes": stats.bytes,
                    "actions": stats.actions,
                    "max_bytes": stats.max_bytes,
                }))?;
            } else {
                out.line(format_args!("store:        {}", store.dir().display()))?;
                out.line(format_args!("blobs:        {} ({} as files)", stats.blobs, stats.large_blobs))?;
                out.line(format_args!(
                    "content:      {} of {} cap",
                    engine::disk::human_bytes(stats.bytes),
                    engine::disk::human_bytes(stats.max_bytes)
                ))?;
                out.line(format_args!("action cache: {} results", stats.actions))?;
            }
            0
        }
        CacheCommand::Gc { max_size } => {
            let report = store.gc(*max_size).map_err(fail)?;
            if json {
                out.json(&serde_json::json!({
                    "removed": report.removed,
                    "freed_bytes": report.freed_bytes,
                    "kept_leased": report.kept_leased,
                }))?;
            } else {
                out.line(format_args!(
                    "removed {} blobs, freed {} ({} leased kept)",
                    report.removed,
                    engine::disk::human_bytes(report.freed_bytes),
                    report.kept_leased
                ))?;
            }
            0
        }
        CacheCommand::Clear | CacheCommand::Verify => 0,
    };
    out.finish()?;
    Ok(code)
}

/// `pleat cache verify`: every page of both LMDB files checked without mapping them, then
/// every blob of the store read back and hashed. Changes nothing; exits 1 on damage.
fn verify(cache_dir: &std::path::Path, json: bool) -> Result<u8, Failure> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut store_readable = true;
    for (what, sub) in [("parse cache", "graph-v1"), ("store", "store-v1")] {
        let data = cache_dir.join(sub).join("data.mdb");
        if data.exists()
            && let Err(why) = check_file(&data)
        {
            problems.push((format!("the {what}'s file {}", data.display()), why));
            store_readable &= sub != "store-v1";
        }
    }
    let store_dir = cache_dir.join("store-v1");
    if store_readable && store_dir.join("data.mdb").exists() {
        let store = Store::open(&StoreOptions::new(&store_dir)).map_err(|e| Failure::usage(e.to_string()))?;
        let bad = store.verify_all().map_err(|e| Failure { message: e.to_string(), code: 3 })?;
        problems.extend(bad.into_iter().map(|(digest, why)| (format!("blob {digest}"), why)));
    }
    let mut out = Out::new();
    if json {
        let damaged: Vec<_> =
            problems.iter().map(|(what, why)| serde_json::json!({"what": what, "problem": why})).collect();
        out.json(&serde_json::json!({"damaged": damaged}))?;
    } else if problems.is_empty() {
        out.line(
            "✓ every page of the parse cache and the store is readable and every blob matches its digest",
        )?;
    } else {
        for (what, why) in &problems {
            out.line(format_args!("✕ {what}: {why}"))?;
        }
        let count = problems.len();
        out.line(format_args!(
            "{count} problem{}; `pleat cache clear` removes the cache (the next run also clears a damaged file by itself)",
            if count == 1 { "" } else { "s" }
        ))?;
    }
    out.finish()?;
    Ok(u8::from(!problems.is_empty()))
}
