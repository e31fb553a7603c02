//! A worker's timers: one heap of `(deadline, slot)` for all its connections.
//!
//! Each connection keeps the deadline it armed (`Conn::armed`); a popped entry that is
//! no longer its connection's armed deadline is stale and skipped, so moving a
//! deadline later costs nothing until it fires.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    /// Arms `deadline` for `slot` unless `armed` is already as early; returns the
    /// deadline now armed.
    pub(super) fn arm(
        &mut self,
        slot: usize,
        deadline: Instant,
        armed: Option<Instant>,
    ) -> Instant {
        match armed {
            Some(a) if a <= deadline => a,
            _ => {
                self.heap.push(Reverse((deadline, slot)));
                deadline
            }
        }
    }

    /// How long until the earliest deadline (`None`: none armed).
    pub(super) fn next_in(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((t, _))| t.saturating_duration_since(now))
    }

    /// The next entry due at `now`, stale ones included: `(deadline, slot)`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize)> {
        match self.heap.peek() {
            Some(&Reverse((t, slot))) if t <= now => {
                self.heap.pop();
                Some((t, slot))
            }
            _ => None,
        }
    }
}
