//! Deadlines for many objects, with lazy cancellation.
//!
//! Each object keeps its own deadlines; the queue only remembers when to look
//! at it again. A stale entry (the object moved its deadline or is gone) costs
//! one lookup when it comes due, which is cheaper than finding and removing it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

pub(crate) struct TimerQueue<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Clone> TimerQueue<K> {
    pub fn new() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
        }
    }

    pub fn schedule(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns one key due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }
}
