//! A true sliding window over the last N outcomes, lock-free.
//!
//! Outcomes go into a ring of bits (1 = failure) at a position taken from a shared
//! cursor. Setting a bit with `fetch_or`/`fetch_and` returns the outcome it replaced,
//! so the failure count is adjusted by exactly the difference: the count and the bits
//! never disagree, whatever the interleaving.

use crate::sync::{AtomicU64, Ordering};

#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    cursor: AtomicU64,
    /// The cursor when the window was last cleared: calls since then fill the window.
    base: AtomicU64,
    bits: Box<[AtomicU64]>,
    failures: AtomicU64,
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let size = u64::from(size.max(1));
        let words = size.div_ceil(64);
        Self {
            size,
            cursor: AtomicU64::new(0),
            base: AtomicU64::new(0),
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            failures: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, failed: bool) {
        let position = self
            .cursor
            .fetch_add(1, Ordering::AcqRel)
            .checked_rem(self.size)
            .unwrap_or(0);
        let Some(word) = self.bits.get((position / 64) as usize) else {
            return;
        };
        let mask = 1_u64 << (position % 64);
        // A healthy service overwrites successes with successes: a load that finds the
        // bit already right saves a write to a line every caller shares.
        if (word.load(Ordering::Acquire) & mask != 0) == failed {
            return;
        }
        let previous = if failed {
            word.fetch_or(mask, Ordering::AcqRel)
        } else {
            word.fetch_and(!mask, Ordering::AcqRel)
        };
        match (previous & mask != 0, failed) {
            (false, true) => {
                self.failures.fetch_add(1, Ordering::AcqRel);
            }
            (true, false) => {
                self.failures.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }

    /// Outcomes in the window: the last `size` calls, or fewer since it was cleared.
    pub(crate) fn calls(&self) -> u64 {
        let since_clear = self
            .cursor
            .load(Ordering::Acquire)
            .saturating_sub(self.base.load(Ordering::Acquire));
        since_clear.min(self.size)
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// Empties the window; each word's failures come off the count exactly as cleared.
    pub(crate) fn clear(&self) {
        self.base
            .store(self.cursor.load(Ordering::Acquire), Ordering::Release);
        for word in self.bits.iter() {
            let cleared = word.swap(0, Ordering::AcqRel);
            self.failures
                .fetch_sub(u64::from(cleared.count_ones()), Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slides_over_the_last_n_outcomes() {
        let window = CountWindow::new(3);
        for failed in [true, true, false] {
            window.record(failed);
        }
        assert_eq!((window.calls(), window.failures()), (3, 2));
        window.record(false); // evicts the first failure
        assert_eq!((window.calls(), window.failures()), (3, 1));
        window.record(false);
        assert_eq!(window.failures(), 0);
        window.record(true);
        window.clear();
        assert_eq!((window.calls(), window.failures()), (0, 0));
        window.record(true);
        assert_eq!((window.calls(), window.failures()), (1, 1));
    }

    #[test]
    fn spans_several_words() {
        let window = CountWindow::new(130);
        for i in 0..260 {
            window.record(i % 2 == 0);
        }
        assert_eq!((window.calls(), window.failures()), (130, 65));
    }
}
