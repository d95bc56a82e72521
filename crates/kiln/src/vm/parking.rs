//! The waiter queues behind `memory.atomic.wait32/64` and
//! `memory.atomic.notify` (and `SharedMemory`'s methods of those names).
//!
//! Queues are keyed by native address. A shared memory never moves and
//! stays alive while a thread waits on it (the waiter's instance holds
//! it), so an address names one cell of one memory for as long as anyone
//! waits there; unshared memories never get here.
//!
//! Invariants:
//! - One lock guards every queue. A waiter compares the memory's value
//!   and enqueues itself under it, and a notifier dequeues under it, so a
//!   notify that follows a store the waiter did not see always finds the
//!   waiter queued: no wake-up is lost.
//! - A waiter is woken exactly once (its `woken` flag is set by the
//!   notifier that dequeued it) or leaves the queue itself (timeout,
//!   interruption); never both.
//! - A waiter that can be interrupted (the store's epoch deadline) wakes
//!   up at least every `POLL` to ask, so `-W timeout` ends a wait that
//!   nobody will notify; others sleep until notified or timed out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a waiter checks for interruption.
const POLL: Duration = Duration::from_millis(10);

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    Woken,
    Mismatch,
    TimedOut,
    Interrupted,
}

#[derive(Default)]
struct Waiter {
    woken: AtomicBool,
    wake: Condvar,
}

type Queues = HashMap<usize, VecDeque<Arc<Waiter>>>;

static QUEUES: LazyLock<Mutex<Queues>> = LazyLock::new(Mutex::default);

fn queues() -> MutexGuard<'static, Queues> {
    // A panic while holding the lock leaves the queues consistent (every
    // change is a single push or pop), so a poisoned lock is still usable.
    QUEUES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `addr` if `matches()` (the memory still holds the expected
/// value), until notified, `timeout` passes, or `interrupted()`.
/// `interrupted` is `None` when nothing can interrupt the wait: it then
/// sleeps until notified or timed out, without polling.
pub fn wait(addr: usize, matches: impl FnOnce() -> bool, timeout: Option<Duration>, interrupted: Option<&dyn Fn() -> bool>) -> WaitOutcome {
    let mut guard = queues();
    if !matches() {
        return WaitOutcome::Mismatch;
    }
    let me = Arc::new(Waiter::default());
    guard.entry(addr).or_default().push_back(me.clone());
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if me.woken.load(Ordering::Acquire) {
            return WaitOutcome::Woken;
        }
        let now = Instant::now();
        let outcome = match deadline {
            Some(d) if now >= d => Some(WaitOutcome::TimedOut),
            _ if interrupted.is_some_and(|i| i()) => Some(WaitOutcome::Interrupted),
            _ => None,
        };
        if let Some(outcome) = outcome {
            leave(&mut guard, addr, &me);
            return outcome;
        }
        let slice = match (deadline, interrupted) {
            (None, None) => None,
            (Some(d), None) => Some(d - now),
            (d, Some(_)) => Some(d.map_or(POLL, |d| (d - now).min(POLL))),
        };
        guard = match slice {
            Some(slice) => me.wake.wait_timeout(guard, slice).unwrap_or_else(|poisoned| poisoned.into_inner()).0,
            None => me.wake.wait(guard).unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
    }
}

fn leave(queues: &mut Queues, addr: usize, me: &Arc<Waiter>) {
    if let Some(queue) = queues.get_mut(&addr) {
        queue.retain(|w| !Arc::ptr_eq(w, me));
        if queue.is_empty() {
            queues.remove(&addr);
        }
    }
}

/// Wakes up to `count` waiters on `addr`, oldest first; returns how many.
pub fn notify(addr: usize, count: u32) -> u32 {
    let mut guard = queues();
    let Some(queue) = guard.get_mut(&addr) else { return 0 };
    let mut woken = 0;
    while woken < count {
        let Some(waiter) = queue.pop_front() else { break };
        waiter.woken.store(true, Ordering::Release);
        waiter.wake.notify_one();
        woken += 1;
    }
    if queue.is_empty() {
        guard.remove(&addr);
    }
    woken
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn a_mismatch_returns_at_once_and_queues_nothing() {
        assert_eq!(wait(0x1000, || false, None, None), WaitOutcome::Mismatch);
        assert_eq!(notify(0x1000, 1), 0);
    }

    #[test]
    fn a_timeout_ends_the_wait_and_leaves_the_queue() {
        let outcome = wait(0x2000, || true, Some(Duration::from_millis(5)), None);
        assert_eq!(outcome, WaitOutcome::TimedOut);
        assert_eq!(notify(0x2000, 1), 0);
    }

    #[test]
    fn interruption_ends_a_wait_without_timeout() {
        let polls = AtomicU32::new(0);
        let outcome = wait(0x3000, || true, None, Some(&|| polls.fetch_add(1, Ordering::Relaxed) == 2));
        assert_eq!(outcome, WaitOutcome::Interrupted);
    }

    #[test]
    fn notify_wakes_as_many_as_asked_oldest_first() {
        let woken = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let woken = woken.clone();
                std::thread::spawn(move || {
                    let outcome = wait(0x4000, || true, Some(Duration::from_secs(30)), None);
                    assert_eq!(outcome, WaitOutcome::Woken);
                    woken.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        // Wait until all three are queued.
        while queues().get(&0x4000).map_or(0, |q| q.len()) < 3 {
            std::thread::yield_now();
        }
        assert_eq!(notify(0x4000, 2), 2);
        assert_eq!(notify(0x4000, 5), 1);
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(woken.load(Ordering::SeqCst), 3);
        assert_eq!(notify(0x4000, 1), 0);
    }
}
