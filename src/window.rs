//! Windowed sums over time, lock-free: what a ratio budget and a time-based breaker
//! window count.
//!
//! Time is cut into [`SLOTS`] slots per window. An amount is recorded in the slot of
//! the moment it happens and expires with it, a window later. Each slot is one atomic
//! word holding its generation (which slot-width of time it belongs to) and its amount,
//! so a slot is recycled, and its amount taken off the running total, exactly once, by
//! whichever operation first sees it stale. Reading the total is one load; keeping it
//! current costs a sweep of the slots once per slot-width of time, a fixed amount of
//! work however long the window sat idle.

use crate::stripe::Striped;
use crate::sync::{AtomicU64, Ordering};

/// Slots per window: expiry is exact to a tenth of the window.
pub(crate) const SLOTS: u64 = 10;

/// The clock side of a window: which generation (slot-width of time) it is, and which
/// generation was last swept.
#[derive(Debug)]
pub(crate) struct TimeSlots {
    window_nanos: u64,
    slot_nanos: u64,
    /// The latest generation any operation has seen: every operation works in it, so
    /// a caller whose clock read was overtaken does not write into the past.
    latest: AtomicU64,
    /// The latest generation whose stale slots have all been swept: slots only go
    /// stale when the generation moves on, so within one generation a sweep is done
    /// once, not on every operation.
    swept: AtomicU64,
}

impl TimeSlots {
    pub(crate) fn new(window_nanos: u64) -> Self {
        Self {
            window_nanos,
            slot_nanos: (window_nanos / SLOTS).max(1),
            latest: AtomicU64::new(0),
            swept: AtomicU64::new(0),
        }
    }

    /// The generation of `now` (nanoseconds on the owner's clock), never earlier than
    /// one another operation has already worked in.
    fn generation(&self, now: u64) -> u64 {
        let generation = now.checked_div(self.slot_nanos).unwrap_or_default();
        let latest = self.latest.load(Ordering::Acquire);
        if generation > latest {
            self.latest
                .fetch_max(generation, Ordering::AcqRel)
                .max(generation)
        } else {
            latest
        }
    }

    /// The generation of `now`, with the stale slots of `ledgers` swept out of their
    /// totals, once per generation.
    pub(crate) fn advance(&self, now: u64, ledgers: [&Ledger; 2]) -> u64 {
        let generation = self.generation(now);
        if self.swept.load(Ordering::Acquire) < generation {
            for ledger in ledgers {
                ledger.sweep(generation);
            }
            self.swept.fetch_max(generation, Ordering::AcqRel);
        }
        generation
    }
}

/// A windowed sum: the slots, and their total.
#[derive(Debug)]
pub(crate) struct Ledger {
    slots: [AtomicU64; SLOTS as usize],
    total: AtomicU64,
}

/// A slot word: the low 32 bits of the slot's generation, then its amount.
fn pack(generation: u64, amount: u32) -> u64 {
    (generation << 32) | u64::from(amount)
}

fn generation_tag(word: u64) -> u32 {
    (word >> 32) as u32
}

fn amount(word: u64) -> u32 {
    word as u32
}

/// Whether a slot tagged `tag` has left the window that ends at `generation`.
///
/// Tags are generations modulo 2^32, compared as a distance from the window's oldest
/// live generation: the window itself, and a window's worth ahead of it (a caller
/// whose clock read was overtaken by another's), are kept; everything else is stale.
fn is_stale(tag: u32, generation: u64) -> bool {
    let oldest_live = generation.saturating_sub(SLOTS - 1) as u32;
    u64::from(tag.wrapping_sub(oldest_live)) >= 2 * SLOTS
}

impl Ledger {
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            total: AtomicU64::new(0),
        }
    }

    /// Recycles every slot whose generation has left the window ending at `generation`,
    /// taking its amount off the total.
    fn sweep(&self, generation: u64) {
        for slot in &self.slots {
            let word = slot.load(Ordering::Acquire);
            if word == 0 || !is_stale(generation_tag(word), generation) {
                continue;
            }
            if slot
                .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.total
                    .fetch_sub(u64::from(amount(word)), Ordering::AcqRel);
            }
        }
    }

    /// Records `amount` (already added to the total) in the slot of `generation`.
    /// Returns `false`, leaving the slot unchanged, if the slot cannot hold it.
    pub(crate) fn record(&self, generation: u64, add: u32) -> bool {
        let slot = &self.slots[(generation % SLOTS) as usize];
        let mut word = slot.load(Ordering::Acquire);
        loop {
            let tag = generation_tag(word);
            let (next, expired) = if word != 0 && is_stale(tag, generation) {
                // The slot still holds an older generation's amount: recycle it.
                (pack(generation, add), amount(word))
            } else {
                // This generation's slot, or (for a caller that read the clock just
                // before another moved on) a newer one: the amount then expires a
                // little later than it would have, which only ever errs on the safe
                // side for withdrawals.
                let Some(sum) = amount(word).checked_add(add) else {
                    return false;
                };
                let tag = if word == 0 {
                    generation
                } else {
                    u64::from(tag)
                };
                (pack(tag, sum), 0)
            };
            match slot.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if expired > 0 {
                        self.total.fetch_sub(u64::from(expired), Ordering::AcqRel);
                    }
                    return true;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// The sum over the live slots (and anything added but not yet recorded).
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    /// Adds to the running total, ahead of [`record`](Self::record): a concurrent
    /// sweep can then never take off more than was added.
    pub(crate) fn add_to_total(&self, amount: u64) {
        self.total.fetch_add(amount, Ordering::AcqRel);
    }

    /// Adds to the running total if `allowed` approves the new total, atomically.
    pub(crate) fn add_to_total_if(&self, amount: u64, allowed: impl Fn(u64) -> bool) -> bool {
        let mut total = self.total.load(Ordering::Acquire);
        loop {
            let after = total.saturating_add(amount);
            if !allowed(after) {
                return false;
            }
            match self.total.compare_exchange_weak(
                total,
                after,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => total = actual,
            }
        }
    }

    /// Takes back an amount added to the total that could not be recorded.
    pub(crate) fn take_from_total(&self, amount: u64) {
        self.total.fetch_sub(amount, Ordering::AcqRel);
    }

    /// Empties every slot, taking exactly what each held off the total, so amounts
    /// recorded concurrently are either cleared with their slot or kept whole.
    pub(crate) fn clear(&self) {
        for slot in &self.slots {
            let word = slot.swap(0, Ordering::AcqRel);
            self.total
                .fetch_sub(u64::from(amount(word)), Ordering::AcqRel);
        }
    }
}

/// Events counted without reading the clock, dated into a [`Ledger`] later.
///
/// The happy path of every call (a first attempt deposited into a budget, a success
/// counted by a breaker) must not read the clock or write a word that other threads
/// write, so it only adds to a [`Striped`] counter. Whatever needs the windowed total
/// (a withdrawal the dated deposits cannot pay for, a failure, a snapshot: each reads
/// the clock anyway) first dates the events counted since the last dating: all at the present slot if that reading is
/// less than a window old; otherwise, assuming they were spread evenly over the time
/// since, only the share that falls inside the window. An event is so dated at most
/// the time between two readings late, and exactly when readings are frequent (as in
/// an outage, where every call fails or retries).
#[derive(Debug, Default)]
pub(crate) struct Undated {
    counted: Striped,
    /// How many of `counted` are in the ledger.
    dated: AtomicU64,
    /// When they were dated last.
    dated_at: AtomicU64,
}

impl Undated {
    /// Counts one event, now, without a clock.
    #[inline]
    pub(crate) fn add(&self) {
        self.counted.add(1);
    }

    /// Sweeps `slots` to `now` (expiring what `ledgers` hold from before the window),
    /// dates the waiting events into `ledgers[0]`, and returns the current slot.
    pub(crate) fn advance_and_date(
        &self,
        now: u64,
        slots: &TimeSlots,
        ledgers: [&Ledger; 2],
    ) -> u64 {
        let generation = slots.advance(now, ledgers);
        self.date(now, generation, slots.window_nanos, ledgers[0]);
        generation
    }

    /// Moves the events counted since the last call into `ledger`, dated at `now`.
    fn date(&self, now: u64, generation: u64, window_nanos: u64, ledger: &Ledger) {
        let counted = self.counted.sum();
        let mut dated = self.dated.load(Ordering::Acquire);
        loop {
            // Another reader may have summed later and dated more already: the count
            // only moves forward, so every event is dated exactly once. (It would
            // take 2^64 events to wrap.)
            if counted <= dated {
                // Nothing waits: the next events are counted from this reading on.
                self.dated_at.fetch_max(now, Ordering::AcqRel);
                return;
            }
            match self.dated.compare_exchange_weak(
                dated,
                counted,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => dated = actual,
            }
        }
        // This thread alone dates the events between `dated` and `counted`.
        let pending = counted.saturating_sub(dated);
        let since = now.saturating_sub(self.dated_at.fetch_max(now, Ordering::AcqRel));
        let kept = if since > window_nanos {
            // Spread evenly over `since`: the share inside the window is still live.
            // Rounded to the nearest whole event.
            let share = u128::from(pending)
                .saturating_mul(u128::from(window_nanos))
                .saturating_add(u128::from(since / 2))
                .checked_div(u128::from(since))
                .unwrap_or_default();
            u64::try_from(share).unwrap_or(u64::MAX)
        } else {
            pending
        };
        let amount = u32::try_from(kept).unwrap_or(u32::MAX);
        ledger.add_to_total(u64::from(amount));
        if !ledger.record(generation, amount) {
            // The slot is full: drop these rather than let them outlive the window.
            ledger.take_from_total(u64::from(amount));
        }
    }

    /// Forgets everything counted so far (for a breaker that closes).
    pub(crate) fn forget(&self, now: u64) {
        self.dated.store(self.counted.sum(), Ordering::Release);
        self.dated_at.store(now, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_recorded_ahead_of_a_sweep_is_kept() {
        // A caller whose clock read was overtaken sweeps with a generation older than
        // amounts already recorded by others: up to a window ahead, they stay.
        for ahead in 1..SLOTS {
            let ledger = Ledger::new();
            ledger.add_to_total(3);
            assert!(ledger.record(100 + ahead, 3));
            ledger.sweep(100);
            assert_eq!(ledger.total(), 3, "{ahead} generations ahead");
        }
        // Ones that left the window are taken off.
        let ledger = Ledger::new();
        ledger.add_to_total(3);
        assert!(ledger.record(100 - SLOTS, 3));
        ledger.sweep(100);
        assert_eq!(ledger.total(), 0);
    }

    #[test]
    fn a_slot_still_holding_an_old_generation_is_recycled_on_record() {
        // No sweep came between: recording generation 110 into the slot that still
        // holds generation 100 takes the old amount off, and keeps only the new one.
        let ledger = Ledger::new();
        ledger.add_to_total(3);
        assert!(ledger.record(100, 3));
        ledger.add_to_total(4);
        assert!(ledger.record(100 + SLOTS, 4));
        assert_eq!(ledger.total(), 4);
        ledger.sweep(100 + SLOTS);
        assert_eq!(ledger.total(), 4, "the new amount survives the sweep");
    }

    #[test]
    fn events_that_do_not_fit_their_slot_are_dropped_not_kept_forever() {
        let slots = TimeSlots::new(10_000);
        let (ledger, other) = (Ledger::new(), Ledger::new());
        ledger.add_to_total(u64::from(u32::MAX));
        assert!(ledger.record(0, u32::MAX));
        let undated = Undated::default();
        undated.add();
        undated.advance_and_date(0, &slots, [&ledger, &other]);
        assert_eq!(ledger.total(), u64::from(u32::MAX));
        // Once the full slot leaves the window, nothing is left behind.
        undated.advance_and_date(20_000, &slots, [&ledger, &other]);
        assert_eq!(ledger.total(), 0);
    }
}
