//! Failure counts over a sliding window of time, for the breaker's time-based rule.

use crate::window::{Ledger, TimeSlots};

#[derive(Debug)]
pub(crate) struct TimeWindow {
    slots: TimeSlots,
    calls: Ledger,
    failures: Ledger,
}

impl TimeWindow {
    pub(crate) fn new(window_nanos: u64) -> Self {
        Self {
            slots: TimeSlots::new(window_nanos),
            calls: Ledger::new(),
            failures: Ledger::new(),
        }
    }

    /// The generation of `now`, with expired slots swept out of both counts.
    fn generation(&self, now: u64) -> u64 {
        self.slots.advance(now, [&self.calls, &self.failures])
    }

    pub(crate) fn record(&self, failed: bool, now: u64) {
        let generation = self.generation(now);
        for (ledger, counts) in [(&self.calls, true), (&self.failures, failed)] {
            if counts {
                ledger.add_to_total(1);
                if !ledger.record(generation, 1) {
                    ledger.take_from_total(1);
                }
            }
        }
    }

    /// Calls and failures in the window ending at `now`.
    pub(crate) fn counts(&self, now: u64) -> (u64, u64) {
        let _ = self.generation(now);
        (self.calls.total(), self.failures.total())
    }

    pub(crate) fn clear(&self) {
        self.calls.clear();
        self.failures.clear();
    }
}
