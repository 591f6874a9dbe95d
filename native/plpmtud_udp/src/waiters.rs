//! A first-come-first-woken queue of waiters (processes blocked in a
//! passive `recv`) with O(1) registration and cancellation, whose dead
//! entries cost nothing once skipped.
//!
//! Cancelled entries leave the set at once and the queue lazily: `pop`
//! skips them. The queue is swept (stale, duplicate and dead entries
//! removed) whenever it has doubled since the last sweep, so its length
//! stays within twice the live waiters plus a constant, at an amortised
//! O(1) per registration.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// The queue length below which no sweep runs.
const SWEEP_MIN: usize = 64;

/// Waiters in order of registration.
#[derive(Debug)]
pub struct WaitQueue<K> {
    queue: VecDeque<K>,
    waiting: HashSet<K>,
    sweep_at: usize,
}

impl<K> Default for WaitQueue<K> {
    fn default() -> Self {
        WaitQueue {
            queue: VecDeque::new(),
            waiting: HashSet::new(),
            sweep_at: SWEEP_MIN,
        }
    }
}

impl<K: Copy + Eq + Hash> WaitQueue<K> {
    /// Registers `key` (a no-op if it waits already); `alive` tells the
    /// sweep which entries still have someone behind them.
    pub fn register(&mut self, key: K, alive: impl Fn(&K) -> bool) {
        if !self.waiting.insert(key) {
            return;
        }
        self.queue.push_back(key);
        if self.queue.len() >= self.sweep_at {
            self.sweep(alive);
        }
    }

    /// Unregisters `key`.
    pub fn cancel(&mut self, key: &K) {
        self.waiting.remove(key);
    }

    /// Takes the longest-waiting registered key.
    pub fn pop(&mut self) -> Option<K> {
        while let Some(key) = self.queue.pop_front() {
            if self.waiting.remove(&key) {
                return Some(key);
            }
        }
        None
    }

    /// Registered keys.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when no key is registered.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Entries in the queue, stale ones included (for tests of the bound).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn sweep(&mut self, alive: impl Fn(&K) -> bool) {
        let mut seen = HashSet::with_capacity(self.waiting.len());
        let waiting = &mut self.waiting;
        self.queue.retain(|key| {
            if !waiting.contains(key) || !seen.insert(*key) {
                return false;
            }
            if !alive(key) {
                waiting.remove(key);
                return false;
            }
            true
        });
        self.sweep_at = SWEEP_MIN.max(2 * self.queue.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_registered_is_first_woken_and_duplicates_are_ignored() {
        let mut q = WaitQueue::default();
        for k in [1, 2, 1, 3] {
            q.register(k, |_| true);
        }
        assert_eq!(q.len(), 3);
        q.cancel(&2);
        assert_eq!((q.pop(), q.pop(), q.pop()), (Some(1), Some(3), None));
    }

    #[test]
    fn dead_and_cancelled_entries_are_swept_as_the_queue_grows() {
        let mut q = WaitQueue::default();
        for k in 0..100_000u32 {
            q.register(k, |k| k % 1000 == 0);
        }
        // Only the entries registered since the last sweep, and the live.
        assert!(q.queued() <= 2 * 100 + SWEEP_MIN, "{}", q.queued());
        // A waiter that times out and registers again in a loop.
        for _ in 0..100_000 {
            q.register(7, |_| true);
            q.cancel(&7);
        }
        assert!(q.queued() <= 2 * (q.len() + SWEEP_MIN), "{}", q.queued());
        assert_eq!(q.pop(), Some(0));
    }
}
