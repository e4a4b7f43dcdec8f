//! The bounded decorator: at most N processes at once (default: the number of cores), each given a distinct slot number that the leaf exports when the process asks for it; waiting processes get slots in the order they asked (a goal's first files start first).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use super::{Cancel, CommandRunner, ExecError, Process, ProcessResult};

/// Limits how many processes the inner runner runs at once.
pub struct Bounded<R> {
    inner: R,
    slots: Mutex<Slots>,
    freed: Condvar,
}

/// Which slots are taken, and the tickets of the waiting processes, first come first.
struct Slots {
    taken: Vec<bool>,
    next_ticket: u64,
    waiting: VecDeque<u64>,
}

impl<R: CommandRunner> Bounded<R> {
    pub fn new(inner: R, parallelism: usize) -> Self {
        let slots =
            Slots { taken: vec![false; parallelism.max(1)], next_ticket: 0, waiting: VecDeque::new() };
        Self { inner, slots: Mutex::new(slots), freed: Condvar::new() }
    }

    /// Waits for a free slot and its turn (checking for cancellation) and takes it.
    fn acquire(&self, cancel: &Cancel, description: &str) -> Result<usize, ExecError> {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ticket = slots.next_ticket;
        slots.next_ticket += 1;
        slots.waiting.push_back(ticket);
        loop {
            if cancel.is_cancelled() {
                slots.waiting.retain(|t| *t != ticket);
                self.freed.notify_all();
                return Err(ExecError::Cancelled { description: description.to_owned() });
            }
            if slots.waiting.front() == Some(&ticket)
                && let Some(free) = slots.taken.iter().position(|taken| !taken)
            {
                slots.taken[free] = true;
                slots.waiting.pop_front();
                // The next in line may find another free slot.
                self.freed.notify_all();
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
        slots.taken[slot] = false;
        self.freed.notify_all();
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

    impl Overlap {
        fn new() -> Self {
            Self { running: AtomicUsize::new(0), most: AtomicUsize::new(0), slots: Mutex::new(Vec::new()) }
        }
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
        let inner = Overlap::new();
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
    fn waiting_processes_start_in_the_order_they_asked() {
        let inner = Overlap::new();
        let bounded = Arc::new(Bounded::new(inner, 1));
        let held = bounded.acquire(&Cancel::new(), "first").unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for i in 0..6 {
            let (mine, order) = (Arc::clone(&bounded), Arc::clone(&order));
            handles.push(std::thread::spawn(move || {
                let slot = mine.acquire(&Cancel::new(), "waiting").unwrap();
                order.lock().unwrap().push(i);
                mine.release(slot);
            }));
            // Each asks after the one before it is waiting.
            while bounded.slots.lock().unwrap().waiting.len() < i + 1 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        bounded.release(held);
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_cancelled_wait_gives_up() {
        let inner = Overlap::new();
        let bounded = Bounded::new(inner, 1);
        let _held = bounded.acquire(&Cancel::new(), "first").unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(bounded.acquire(&cancel, "second"), Err(ExecError::Cancelled { .. })));
    }
}
