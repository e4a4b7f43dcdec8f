//! `pleat cache stats | gc | clear | verify`: the store's sizes, eviction and checks, in human or JSON form.

use engine::store::{Store, StoreOptions};

use crate::output::Out;
use crate::{CacheCommand, Cli, Failure, Format};

pub fn run(cli: &Cli, command: &CacheCommand) -> Result<u8, Failure> {
    let Some(cache_dir) = crate::commands::cache_dir(cli) else {
        return Err(Failure::usage("--no-cache leaves no cache to work on; drop it or pass --cache-dir"));
    };
    let store = Store::open(&StoreOptions::new(cache_dir.join("store-v1")))
        .map_err(|e| Failure::usage(e.to_string()))?;
    let fail = |e: engine::store::StoreError| Failure { message: e.to_string(), code: 3 };
    let mut out = Out::new();
    let json = cli.format == Format::Json;
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
                    human(stats.bytes),
                    human(stats.max_bytes)
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
                    human(report.freed_bytes),
                    report.kept_leased
                ))?;
            }
            0
        }
        CacheCommand::Clear => {
            store.clear().map_err(fail)?;
            let parse_cache = cache_dir.join("graph-v1");
            if parse_cache.exists() {
                std::fs::remove_dir_all(&parse_cache).map_err(|e| Failure {
                    message: format!("cannot remove {}: {e}", parse_cache.display()),
                    code: 3,
                })?;
            }
            if json {
                out.json(&serde_json::json!({"cleared": cache_dir}))?;
            } else {
                out.line(format_args!("cleared {}", cache_dir.display()))?;
            }
            0
        }
        CacheCommand::Verify => {
            let bad = store.verify_all().map_err(fail)?;
            if json {
                let bad: Vec<_> = bad
                    .iter()
                    .map(|(d, why)| serde_json::json!({"digest": d.to_string(), "problem": why}))
                    .collect();
                out.json(&serde_json::json!({"damaged": bad}))?;
            } else if bad.is_empty() {
                out.line("✓ every blob matches its digest")?;
            } else {
                for (digest, why) in &bad {
                    out.line(format_args!("✕ {digest}: {why}"))?;
                }
                out.line(format_args!(
                    "{} damaged blobs; `pleat cache gc` or `clear` removes them",
                    bad.len()
                ))?;
            }
            u8::from(!bad.is_empty())
        }
    };
    out.finish()?;
    Ok(code)
}

/// `1.5 GiB`, `320 KiB`, `12 B`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
