//! The cache decorator with a fake inner runner that counts its calls (the leaf is tested on real processes in `local`).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::hash::DigestFunction;
use crate::store::StoreOptions;

/// Answers with a fixed exit code (or an error) and counts how often it ran.
struct Counting {
    store: Arc<Store>,
    calls: AtomicUsize,
    exit_code: i32,
    fail: bool,
}

impl CommandRunner for Counting {
    fn run(&self, process: &Process, _cancel: &Cancel) -> Result<ProcessResult, ExecError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(ExecError::Timeout {
                description: process.description.clone(),
                after: Duration::from_secs(1),
                stdout: self.store.put(b"").unwrap(),
                stderr: self.store.put(b"").unwrap(),
            });
        }
        let out = self.store.put(b"output file").unwrap();
        let mut entries = BTreeMap::new();
        entries.insert("out.txt".to_owned(), Node::File { digest: out, executable: false });
        entries.insert("dir/a".to_owned(), Node::File { digest: out, executable: true });
        Ok(ProcessResult {
            exit_code: self.exit_code,
            stdout: self.store.put(b"stdout").unwrap(),
            stderr: self.store.put(b"stderr").unwrap(),
            output_root: tree::from_entries(&self.store, &entries).unwrap(),
            duration: Duration::from_millis(5),
            source: ResultSource::Ran,
            kept_sandbox: None,
            disk_full: false,
        })
    }
}

fn setup(exit_code: i32, fail: bool) -> (tempfile::TempDir, Arc<Store>, CacheRunner<Counting>, Process) {
    let dir = tempfile::tempdir().unwrap();
    // No lease on what is written: the tests evict outputs with a collection.
    let options = StoreOptions { lease: Duration::ZERO, ..StoreOptions::new(dir.path().join("store")) };
    let store = Arc::new(Store::open(&options).unwrap());
    let inner = Counting { store: Arc::clone(&store), calls: AtomicUsize::new(0), exit_code, fail };
    let runner = CacheRunner::new(inner, Arc::clone(&store));
    let mut process = Process::new(vec!["/bin/true".into()], Digest::of(DigestFunction::Blake3, b"root"));
    process.output_files.insert("out.txt".into());
    process.output_directories.insert("dir".into());
    (dir, store, runner, process)
}

#[test]
fn a_second_run_is_a_hit_with_the_same_outputs() {
    let (_dir, _store, runner, process) = setup(0, false);
    let first = runner.run(&process, &Cancel::new()).unwrap();
    let second = runner.run(&process, &Cancel::new()).unwrap();
    assert_eq!(runner.inner.calls.load(Ordering::SeqCst), 1);
    assert_eq!(first.source, ResultSource::Ran);
    assert_eq!(second.source, ResultSource::Cache);
    assert_eq!((second.exit_code, second.stdout, second.stderr), (0, first.stdout, first.stderr));
    assert_eq!(second.output_root, first.output_root, "the output tree comes back whole");
    // A different process misses.
    let mut other = process.clone();
    other.argv.push("x".into());
    runner.run(&other, &Cancel::new()).unwrap();
    assert_eq!(runner.inner.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn failures_are_cached_only_when_the_scope_says_so() {
    let (_dir, _store, runner, mut process) = setup(1, false);
    runner.run(&process, &Cancel::new()).unwrap();
    runner.run(&process, &Cancel::new()).unwrap();
    assert_eq!(runner.inner.calls.load(Ordering::SeqCst), 2, "scope Successful: a failure reruns");
    process.cache_scope = CacheScope::Always;
    runner.run(&process, &Cancel::new()).unwrap();
    let hit = runner.run(&process, &Cancel::new()).unwrap();
    assert_eq!(runner.inner.calls.load(Ordering::SeqCst), 3);
    assert_eq!((hit.exit_code, hit.source), (1, ResultSource::Cache));
    process.cache_scope = CacheScope::Never;
    runner.run(&process, &Cancel::new()).unwrap();
    runner.run(&process, &Cancel::new()).unwrap();
    assert_eq!(runner.inner.calls.load(Ordering::SeqCst), 5);
}

#[test]
fn errors_are_never_cached() {
    let (_dir, _store, runner, mut process) = setup(0, true);
    process.cache_scope = CacheScope::Always;
    assert!(runner.run(&process, &Cancel::new()).is_err());
    assert!(runner.run(&process, &Cancel::new()).is_err());
    assert_eq!(runner.inner.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_hit_whose_outputs_were_evicted_reruns() {
    let (_dir, store, runner, process) = setup(0, false);
    runner.run(&process, &Cancel::new()).unwrap();
    store.gc(Some(0)).unwrap(); // evicts every blob; the action cache entry stays
    let again = runner.run(&process, &Cancel::new()).unwrap();
    assert_eq!(again.source, ResultSource::Ran);
    assert_eq!(runner.inner.calls.load(Ordering::SeqCst), 2);
}
