//! The remote decorator: on a local miss it asks a [`RemoteCache`] (the network client lives in the `pleat-remote` crate, so the engine builds and runs without one), then a [`RemoteExecutor`] when one is configured (in place of running here), and after a run that may be shared it hands the result over for upload. A remote that fails is a miss, or a run here, never an error.

use std::sync::Arc;

use super::{CacheScope, Cancel, CommandRunner, ExecError, Process, ProcessResult};
use crate::hash::Digest;
use crate::store::Store;

/// A remote action cache as the runner stack sees it. Implementations never fail a run:
/// a slow, dead or lying remote answers `None` (and says so once, its own way).
pub trait RemoteCache: Send + Sync + std::fmt::Debug {
    /// The result of `action`, its stdout, stderr and outputs fetched into the local store
    /// and verified against their digests ([`super::ResultSource::RemoteCache`]); `None` on
    /// a miss, when the remote cannot be reached, or when anything it sent is corrupted.
    fn lookup(&self, action: &Digest, process: &Process) -> Option<ProcessResult>;
    /// Queues a local run's result for upload, without waiting for it.
    fn upload(&self, action: &Digest, process: &Process, result: &ProcessResult);
    /// Whether a failed run (non-zero exit) is shared too (off by default: a failure may
    /// be this machine's).
    fn uploads_failures(&self) -> bool {
        false
    }
}

/// A remote executor (REAPI `Execute`) as the runner stack sees it: it runs a process on
/// a worker in place of this machine.
pub trait RemoteExecutor: Send + Sync + std::fmt::Debug {
    /// Runs `process` (whose key is `action`) remotely: its result with stdout, stderr and
    /// outputs fetched into the local store and verified ([`super::ResultSource::Remote`]),
    /// or the run's own error (a time limit, a cancel). `None`: the remote could not run it
    /// (down, refused, no worker for its platform), and the caller runs it here.
    fn execute(
        &self,
        action: &Digest,
        process: &Process,
        cancel: &Cancel,
    ) -> Option<Result<ProcessResult, ExecError>>;
}

/// `Cache(local) → RemoteCacheRunner → Bounded → Local`: a pass-through without a remote.
pub struct RemoteCacheRunner<R> {
    inner: R,
    remote: Option<Arc<dyn RemoteCache>>,
    executor: Option<Arc<dyn RemoteExecutor>>,
    store: Arc<Store>,
}

impl<R: CommandRunner> RemoteCacheRunner<R> {
    pub fn new(inner: R, remote: Option<Arc<dyn RemoteCache>>, store: Arc<Store>) -> Self {
        Self { inner, remote, executor: None, store }
    }

    /// Misses run on `executor` (when given) rather than through the inner runner.
    #[must_use]
    pub fn executing_with(mut self, executor: Option<Arc<dyn RemoteExecutor>>) -> Self {
        self.executor = executor;
        self
    }

    /// Runs a miss: remotely when an executor takes it, else through the inner runner.
    fn run_miss(
        &self,
        action: &Digest,
        process: &Process,
        cancel: &Cancel,
    ) -> Result<ProcessResult, ExecError> {
        if let Some(executor) = &self.executor
            && let Some(result) = executor.execute(action, process, cancel)
        {
            return result;
        }
        self.inner.run(process, cancel)
    }
}

impl<R: CommandRunner> CommandRunner for RemoteCacheRunner<R> {
    fn run(&self, process: &Process, cancel: &Cancel) -> Result<ProcessResult, ExecError> {
        if self.remote.is_none() && self.executor.is_none() {
            return self.inner.run(process, cancel);
        }
        if process.cache_scope == CacheScope::Never && self.executor.is_none() {
            return self.inner.run(process, cancel);
        }
        let action = process.action_digest(&self.store)?;
        let remote = self.remote.as_ref().filter(|_| process.cache_scope != CacheScope::Never);
        if let Some(hit) = remote.and_then(|r| r.lookup(&action, process)) {
            return Ok(hit);
        }
        if process.cache_only {
            return Err(ExecError::NotCached { description: process.description.clone() });
        }
        let result = self.run_miss(&action, process, cancel)?;
        let Some(remote) = remote else { return Ok(result) };
        let shared = match process.cache_scope {
            CacheScope::Always => result.exit_code == 0 || remote.uploads_failures(),
            CacheScope::Successful => result.exit_code == 0,
            CacheScope::Never => false,
        };
        if shared && !cancel.is_cancelled() && !result.disk_full && result.kept_sandbox.is_none() {
            remote.upload(&action, process, &result);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::exec::ResultSource;
    use crate::store::StoreOptions;

    /// Records what it was asked and answers from a fixed result.
    #[derive(Debug, Default)]
    struct Recording {
        hit: Option<ProcessResult>,
        uploads: Mutex<Vec<(Digest, i32)>>,
        lookups: Mutex<usize>,
    }

    impl RemoteCache for Recording {
        fn lookup(&self, _action: &Digest, _process: &Process) -> Option<ProcessResult> {
            *self.lookups.lock().unwrap() += 1;
            self.hit.clone()
        }
        fn upload(&self, action: &Digest, _process: &Process, result: &ProcessResult) {
            self.uploads.lock().unwrap().push((*action, result.exit_code));
        }
    }

    /// Runs nothing: answers with a fixed exit code.
    struct Fixed(i32, Digest);

    impl CommandRunner for Fixed {
        fn run(&self, _process: &Process, _cancel: &Cancel) -> Result<ProcessResult, ExecError> {
            Ok(ProcessResult {
                exit_code: self.0,
                stdout: self.1,
                stderr: self.1,
                output_root: self.1,
                duration: Duration::ZERO,
                source: ResultSource::Ran,
                kept_sandbox: None,
                disk_full: false,
            })
        }
    }

    fn runner(
        exit_code: i32,
        remote: &Arc<Recording>,
    ) -> (tempfile::TempDir, RemoteCacheRunner<Fixed>, Process) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&StoreOptions::new(dir.path().join("store"))).unwrap());
        let empty = store.put(b"").unwrap();
        let as_dyn: Arc<dyn RemoteCache> = Arc::clone(remote) as Arc<dyn RemoteCache>;
        let runner = RemoteCacheRunner::new(Fixed(exit_code, empty), Some(as_dyn), store);
        (dir, runner, Process::new(vec!["/bin/true".into()], empty))
    }

    #[test]
    fn a_miss_runs_here_and_only_successes_are_uploaded() {
        let remote = Arc::new(Recording::default());
        let (_dir, ok, process) = runner(0, &remote);
        assert_eq!(ok.run(&process, &Cancel::new()).unwrap().source, ResultSource::Ran);
        let (_dir2, failing, mut failed) = runner(1, &remote);
        failed.cache_scope = CacheScope::Always;
        assert_eq!(failing.run(&failed, &Cancel::new()).unwrap().exit_code, 1);
        let uploads = remote.uploads.lock().unwrap();
        assert_eq!(uploads.len(), 1, "the failure is not shared: {uploads:?}");
        assert_eq!(uploads[0].1, 0);
        assert_eq!(*remote.lookups.lock().unwrap(), 2);
    }

    /// Runs nothing: answers from a fixed result, or declines (`None`).
    #[derive(Debug)]
    struct Executor(Option<i32>, Mutex<usize>);

    impl RemoteExecutor for Executor {
        fn execute(
            &self,
            _action: &Digest,
            process: &Process,
            cancel: &Cancel,
        ) -> Option<Result<ProcessResult, ExecError>> {
            *self.1.lock().unwrap() += 1;
            let code = self.0?;
            let ran = Fixed(code, process.input_root).run(process, cancel).unwrap();
            Some(Ok(ProcessResult { source: ResultSource::Remote, ..ran }))
        }
    }

    #[test]
    fn a_miss_runs_remotely_and_a_declined_one_runs_here() {
        let remote = Arc::new(Recording::default());
        let (_dir, runner, process) = runner(7, &remote);
        let taking = Arc::new(Executor(Some(0), Mutex::new(0)));
        let runner = runner.executing_with(Some(Arc::clone(&taking) as Arc<dyn RemoteExecutor>));
        let result = runner.run(&process, &Cancel::new()).unwrap();
        assert_eq!((result.source, result.exit_code), (ResultSource::Remote, 0));
        assert_eq!(*taking.1.lock().unwrap(), 1);
        // A remote run that may be shared is handed to the remote cache like a local one.
        assert_eq!(remote.uploads.lock().unwrap().len(), 1);

        let declining = Arc::new(Executor(None, Mutex::new(0)));
        let (_dir2, runner, process) = runner_with(7, &remote, &declining);
        let result = runner.run(&process, &Cancel::new()).unwrap();
        assert_eq!((result.source, result.exit_code), (ResultSource::Ran, 7), "run here");
        assert_eq!(*declining.1.lock().unwrap(), 1);
    }

    fn runner_with(
        exit_code: i32,
        remote: &Arc<Recording>,
        executor: &Arc<Executor>,
    ) -> (tempfile::TempDir, RemoteCacheRunner<Fixed>, Process) {
        let (dir, runner, process) = runner(exit_code, remote);
        (dir, runner.executing_with(Some(Arc::clone(executor) as Arc<dyn RemoteExecutor>)), process)
    }

    #[test]
    fn a_remote_hit_is_served_without_running() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&StoreOptions::new(dir.path().join("store"))).unwrap());
        let empty = store.put(b"").unwrap();
        let hit = Fixed(0, empty).run(&Process::new(vec![], empty), &Cancel::new()).unwrap();
        let remote = Arc::new(Recording {
            hit: Some(ProcessResult { source: ResultSource::RemoteCache, ..hit }),
            ..Recording::default()
        });
        let (_dir, runner, mut process) = runner(7, &remote);
        process.cache_only = true;
        let result = runner.run(&process, &Cancel::new()).unwrap();
        assert_eq!((result.source, result.exit_code), (ResultSource::RemoteCache, 0));
        assert!(remote.uploads.lock().unwrap().is_empty());
    }
}
