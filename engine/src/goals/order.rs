//! Likely-first order of test files: each test file's last run (its inputs and the first-party lines it executed, recorded in the store by the test goal) against the changed files' new content — files that executed a changed line first, then files that executed a changed file, then the rest. Ordering only: the set is never changed.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;

use serde::Deserialize;

use super::Goals;
use crate::hash::{Digest, DigestFunction};
use crate::store::Store;
use crate::tree::{self, Node};

/// Where the plugin writes the executed lines inside the sandbox (a declared output).
pub const COVERAGE: &str = ".pleat/coverage.json";

/// In which order test files run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Files whose last run executed a changed line, then those that executed a changed
    /// file, then the rest; by path within each group.
    #[default]
    LikelyFirst,
    /// By path.
    Path,
}

/// A file that changed and its content now.
#[derive(Debug, Clone)]
pub struct Changed {
    pub path: String,
    pub text: Vec<u8>,
}

/// How close a test file's last run came to the change (lower runs first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// It executed a line the change touched.
    ExecutedChangedLine,
    /// It executed some line of a changed file.
    ExecutedChangedFile,
    /// Neither, or Pleat has no record of its last run.
    Rest,
}

/// The 1-based lines of `old` that an edit to `new` touched: the lines between the common
/// prefix and the common suffix (every edit lies within them). A pure insertion touches the
/// lines on either side of it; `None` when the texts are equal.
pub fn changed_lines(old: &[u8], new: &[u8]) -> Option<RangeInclusive<u32>> {
    if old == new {
        return None;
    }
    let old_lines: Vec<&[u8]> = old.split_inclusive(|b| *b == b'\n').collect();
    let new_lines: Vec<&[u8]> = new.split_inclusive(|b| *b == b'\n').collect();
    let prefix = old_lines.iter().zip(&new_lines).take_while(|(a, b)| a == b).count();
    let suffix = old_lines[prefix..]
        .iter()
        .rev()
        .zip(new_lines[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let end = old_lines.len() - suffix; // exclusive, 0-based
    let line = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    if prefix < end {
        Some(line(prefix + 1)..=line(end))
    } else {
        // Inserted between old lines `prefix` and `prefix + 1` (1-based).
        Some(line(prefix.max(1))..=line(prefix + 1))
    }
}

/// A test file's tier from what its last run executed of each changed file: `None` when
/// the run did not execute the file; else the lines it executed and the lines the change
/// touched (`None`: the file is as that run saw it, or its old content is gone).
pub fn tier<'a>(changes: impl IntoIterator<Item = Option<(&'a [u32], Option<RangeInclusive<u32>>)>>) -> Tier {
    let mut best = Tier::Rest;
    for change in changes.into_iter().flatten() {
        match change {
            (executed, Some(touched)) if executed.iter().any(|l| touched.contains(l)) => {
                return Tier::ExecutedChangedLine;
            }
            _ => best = Tier::ExecutedChangedFile,
        }
    }
    best
}

/// Sorts `tests` by tier, keeping their order within a tier.
pub fn by_tier<T>(tests: &mut [T], tier_of: impl Fn(&T) -> Tier) {
    tests.sort_by_cached_key(|t| tier_of(t));
}

/// The store key under which a test file's last run is recorded: the repository and the file.
fn last_run_key(function: DigestFunction, root: &Path, test: &str) -> Digest {
    let text = format!("pleat last run v1\0{}\0{test}", root.display());
    Digest::of(function, text.as_bytes())
}

/// Records a test file's last whole run (its input and output trees), unless it is the one
/// already recorded (a cached result seen again writes nothing).
pub fn record_last_run(
    store: &Store,
    root: &Path,
    test: &str,
    inputs: &Digest,
    outputs: &Digest,
) -> Result<(), crate::store::StoreError> {
    let key = last_run_key(store.function(), root, test);
    let value = format!("{}:{}\n{}:{}", inputs.hex(), inputs.size, outputs.hex(), outputs.size);
    if store.get_action(&key)?.as_deref() == Some(value.as_bytes()) {
        return Ok(());
    }
    store.put_action(&key, value.as_bytes())
}

/// A test file's last recorded run: the digest of each input file, and the lines it
/// executed per first-party file.
struct LastRun {
    inputs: BTreeMap<String, Node>,
    lines: BTreeMap<String, Vec<u32>>,
}

#[derive(Deserialize)]
struct CoverageFile {
    lines: BTreeMap<String, Vec<u32>>,
}

fn last_run(store: &Store, root: &Path, test: &str) -> Option<LastRun> {
    let function = store.function();
    let value = store.get_action(&last_run_key(function, root, test)).ok()??;
    let value = String::from_utf8(value).ok()?;
    let mut digests = value.lines().map(|line| {
        let (hex, size) = line.split_once(':')?;
        Digest::from_hex(function, hex, size.parse().ok()?)
    });
    let (inputs, outputs) = (digests.next()??, digests.next()??);
    let coverage = match tree::entries(store, &outputs).ok()?.remove(COVERAGE)? {
        Node::File { digest, .. } => store.get(&digest).ok()??,
        Node::Symlink { .. } => return None,
    };
    let lines = serde_json::from_slice::<CoverageFile>(&coverage).ok()?.lines;
    Some(LastRun { inputs: tree::entries(store, &inputs).ok()?, lines })
}

/// `tests` (repository paths) in likely-first order for `changed`. Reads each file's last
/// run from the store; a file without one goes with the rest.
pub fn likely_first(goals: &Goals, root: &Path, tests: &[String], changed: &[Changed]) -> Vec<String> {
    let store = &goals.store;
    let new_digests: Vec<Digest> = changed.iter().map(|c| Digest::of(store.function(), &c.text)).collect();
    // Old contents are shared by most files' last runs: each is read and compared once.
    let mut touched: BTreeMap<Digest, Option<RangeInclusive<u32>>> = BTreeMap::new();
    let tiers: BTreeMap<&str, Tier> = tests
        .iter()
        .map(|test| {
            let Some(run) = last_run(store, root, test) else { return (test.as_str(), Tier::Rest) };
            let changes = changed.iter().zip(&new_digests).map(|(change, new)| {
                let executed = run.lines.get(&change.path)?;
                let old = match run.inputs.get(&change.path) {
                    Some(Node::File { digest, .. }) if digest != new => Some(*digest),
                    _ => None,
                };
                let lines = old.and_then(|old| {
                    touched
                        .entry(old)
                        .or_insert_with(|| {
                            store.get(&old).ok().flatten().and_then(|text| changed_lines(&text, &change.text))
                        })
                        .clone()
                });
                Some((executed.as_slice(), lines))
            });
            let tier = tier(changes.collect::<Vec<_>>());
            (test.as_str(), tier)
        })
        .collect();
    let mut ordered = tests.to_vec();
    by_tier(&mut ordered, |t| tiers.get(t.as_str()).copied().unwrap_or(Tier::Rest));
    ordered
}

#[cfg(test)]
mod tests;
