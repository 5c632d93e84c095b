//! Failure counts over a sliding window of time, for the breaker's time-based rule.
//!
//! Failures are rare and read the clock anyway, so each is dated exactly in the
//! window's slots. Successes are every call of a healthy breaker, so they are only
//! counted in the calling thread's own cell and dated when the window is next read (a
//! failure or a snapshot); see [`Undated`].

use crate::window::{Ledger, TimeSlots, Undated};

#[derive(Debug)]
pub(crate) struct TimeWindow {
    slots: TimeSlots,
    calls: Ledger,
    failures: Ledger,
    successes: Undated,
}

impl TimeWindow {
    pub(crate) fn new(window_nanos: u64) -> Self {
        Self {
            slots: TimeSlots::new(window_nanos),
            calls: Ledger::new(),
            failures: Ledger::new(),
            successes: Undated::default(),
        }
    }

    /// The current slot, with expired slots swept and waiting successes dated.
    fn generation(&self, now: u64) -> u64 {
        self.successes
            .advance_and_date(now, &self.slots, [&self.calls, &self.failures])
    }

    #[inline]
    pub(crate) fn record_success(&self) {
        self.successes.add();
    }

    pub(crate) fn record_failure(&self, now: u64) {
        let generation = self.generation(now);
        for ledger in [&self.calls, &self.failures] {
            ledger.add_to_total(1);
            if !ledger.record(generation, 1) {
                ledger.take_from_total(1);
            }
        }
    }

    /// Calls and failures in the window ending `now`.
    pub(crate) fn counts(&self, now: u64) -> (u64, u64) {
        let _ = self.generation(now);
        (self.calls.total(), self.failures.total())
    }

    pub(crate) fn clear(&self, now: u64) {
        self.successes.forget(now);
        self.calls.clear();
        self.failures.clear();
    }
}
