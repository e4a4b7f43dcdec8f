//! The bounded decorator: at most N processes at once (default: the number of cores), each given a distinct slot number that the leaf exports when the process asks for it.

use std::sync::{Condvar, Mutex};

use super::{Cancel, CommandRunner, ExecError, Process, ProcessResult};

/// Limits how many processes the inner runner runs at once.
pub struct Bounded<R> {
    inner: R,
    slots: Mutex<Vec<bool>>,
    freed: Condvar,
}

impl<R: CommandRunner> Bounded<R> {
    pub fn new(inner: R, parallelism: usize) -> Self {
        Self { inner, slots: Mutex::new(vec![false; parallelism.max(1)]), freed: Condvar::new() }
    }

    /// Waits for a free slot (checking for cancellation) and takes it.
    fn acquire(&self, cancel: &Cancel, description: &str) -> Result<usize, ExecError> {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if cancel.is_cancelled() {
                return Err(ExecError::Cancelled { description: description.to_owned() });
            }
            if let Some(free) = slots.iter().position(|taken| !taken) {
                slots[free] = true;
                return Ok(free);
            }
            let (next, _) = self
                .freed
                .wait_timeout(slots, std::time::Duration::from_millis(50))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            slots = next;
        }
    }

    fn release(&self, slot: usize) {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slots[slot] = false;
        self.freed.notify_one();
    }
}

impl<R: CommandRunner> CommandRunner for Bounded<R> {
    fn run(&self, process: &Process, cancel: &Cancel) -> Result<ProcessResult, ExecError> {
        let slot = self.acquire(cancel, &process.description)?;
        let mut process = process.clone();
        process.execution_slot = Some(slot);
        let result = self.inner.run(&process, cancel);
        self.release(slot);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::exec::ResultSource;
    use crate::hash::{Digest, DigestFunction};

    /// Records how many runs overlap and which slots they got.
    struct Overlap {
        running: AtomicUsize,
        most: AtomicUsize,
        slots: Mutex<Vec<usize>>,
    }

    impl CommandRunner for Overlap {
        fn run(&self, process: &Process, _cancel: &Cancel) -> Result<ProcessResult, ExecError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.slots.lock().unwrap().push(process.execution_slot.unwrap());
            std::thread::sleep(Duration::from_millis(30));
            self.running.fetch_sub(1, Ordering::SeqCst);
            let empty = Digest::empty(DigestFunction::Blake3);
            Ok(ProcessResult {
                exit_code: 0,
                stdout: empty,
                stderr: empty,
                output_root: empty,
                duration: Duration::ZERO,
                source: ResultSource::Ran,
                kept_sandbox: None,
                disk_full: false,
            })
        }
    }

    #[test]
    fn at_most_n_at_once_with_distinct_slots() {
        let inner = Overlap {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            slots: Mutex::new(Vec::new()),
        };
        let bounded = Arc::new(Bounded::new(inner, 2));
        let process = Process::new(vec!["x".into()], Digest::empty(DigestFunction::Blake3));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let bounded = Arc::clone(&bounded);
                let process = process.clone();
                std::thread::spawn(move || bounded.run(&process, &Cancel::new()).unwrap())
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(bounded.inner.most.load(Ordering::SeqCst), 2);
        assert!(bounded.inner.slots.lock().unwrap().iter().all(|s| *s < 2));
    }

    #[test]
    fn a_cancelled_wait_gives_up() {
        let inner = Overlap {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            slots: Mutex::new(Vec::new()),
        };
        let bounded = Bounded::new(inner, 1);
        let _held = bounded.acquire(&Cancel::new(), "first").unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(bounded.acquire(&cancel, "second"), Err(ExecError::Cancelled { .. })));
    }
}
