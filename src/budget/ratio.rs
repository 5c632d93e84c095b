//! A ratio budget: retries stay under a fraction of recent first attempts.
//!
//! Time is cut into [`SLOTS`] slots per window. Deposits (first attempts) and
//! withdrawals (retries) are recorded in the slot of the moment they happen and expire
//! with it, a window later. Running totals over the live slots make the decision one
//! compare-and-swap on the withdrawal total, so two threads can never both spend the
//! last token. Each slot is one atomic word holding its generation (which slot-width of
//! time it belongs to) and its amount, so a slot is recycled and its amount taken off
//! the total exactly once, by whichever operation first sees it stale. Every operation
//! sweeps the slots, a fixed amount of work however long the budget sat idle.

use crate::sync::{AtomicU64, Ordering};

/// Slots per window: expiry is exact to a tenth of the window.
pub(crate) const SLOTS: u64 = 10;

/// Withdrawals are counted in thousandths of a token, so fractional costs add exactly.
pub(crate) const MILLI: f64 = 1000.0;

#[derive(Debug)]
pub(crate) struct Ratio {
    /// Tokens each deposit is worth, times [`MILLI`].
    ratio_milli: f64,
    /// Tokens available in every window whatever the traffic, times [`MILLI`].
    reserve_milli: f64,
    slot_nanos: u64,
    /// The latest generation any operation has seen: every operation works in it, so
    /// a caller whose clock read was overtaken does not write into the past.
    latest: AtomicU64,
    /// The latest generation whose stale slots have all been swept: slots only go
    /// stale when the generation moves on, so within one generation a sweep is done
    /// once, not on every operation.
    swept: AtomicU64,
    deposits: Ledger,
    withdrawals: Ledger,
}

/// A windowed sum: the slots, and their total.
#[derive(Debug)]
struct Ledger {
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
    fn new() -> Self {
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
    fn record(&self, generation: u64, add: u32) -> bool {
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
}

impl Ratio {
    pub(crate) fn new(ratio: f64, min_per_second: f64, window_nanos: u64) -> Self {
        let window_seconds = window_nanos as f64 / 1e9;
        Self {
            ratio_milli: ratio * MILLI,
            reserve_milli: min_per_second * window_seconds * MILLI,
            slot_nanos: (window_nanos / SLOTS).max(1),
            latest: AtomicU64::new(0),
            swept: AtomicU64::new(0),
            deposits: Ledger::new(),
            withdrawals: Ledger::new(),
        }
    }

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

    fn sweep(&self, generation: u64) {
        if self.swept.load(Ordering::Acquire) >= generation {
            return;
        }
        self.deposits.sweep(generation);
        self.withdrawals.sweep(generation);
        self.swept.fetch_max(generation, Ordering::AcqRel);
    }

    /// Records a first attempt at `now`.
    pub(crate) fn deposit(&self, now: u64) {
        let generation = self.generation(now);
        self.sweep(generation);
        // Total first: a concurrent sweep can then never take off more than was added.
        self.deposits.total.fetch_add(1, Ordering::AcqRel);
        if !self.deposits.record(generation, 1) {
            // The slot is full (four billion first attempts in one slot): drop the
            // deposit rather than let it outlive its window.
            self.deposits.total.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Tokens, times [`MILLI`], that the deposits and reserve of the window allow.
    fn allowance_milli(&self) -> f64 {
        self.reserve_milli + self.ratio_milli * self.deposits.total.load(Ordering::Acquire) as f64
    }

    /// Spends `cost_milli` at `now` if the window's allowance covers it.
    pub(crate) fn try_withdraw(&self, cost_milli: u32, now: u64) -> bool {
        let generation = self.generation(now);
        self.sweep(generation);
        let allowance = self.allowance_milli();
        let mut spent = self.withdrawals.total.load(Ordering::Acquire);
        loop {
            let after = spent.saturating_add(u64::from(cost_milli));
            if after as f64 > allowance {
                return false;
            }
            match self.withdrawals.total.compare_exchange_weak(
                spent,
                after,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => spent = actual,
            }
        }
        // A slot that cannot hold the cost keeps it in the total for good: the budget
        // errs towards fewer retries, never more.
        let _ = self.withdrawals.record(generation, cost_milli);
        true
    }

    /// Tokens available at `now`.
    pub(crate) fn balance(&self, now: u64) -> f64 {
        let generation = self.generation(now);
        self.sweep(generation);
        let spent = self.withdrawals.total.load(Ordering::Acquire) as f64;
        ((self.allowance_milli() - spent) / MILLI).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_fractional_ratio_is_honoured_exactly() {
        let budget = Ratio::new(0.25, 0.0, 10 * SECOND);
        for _ in 0..10 {
            budget.deposit(0);
        }
        // 10 deposits at 0.25 allow 2.5 tokens: two retries, not three.
        assert!(budget.try_withdraw(1000, 0));
        assert!(budget.try_withdraw(1000, 0));
        assert!(!budget.try_withdraw(1000, 0));
        // Half a token is left for a half-price retry.
        assert!(budget.try_withdraw(500, 0));
        assert!(!budget.try_withdraw(1, 0));
    }

    #[test]
    fn deposits_and_withdrawals_expire_after_the_window() {
        let budget = Ratio::new(1.0, 0.0, 10 * SECOND);
        budget.deposit(0);
        assert!(budget.try_withdraw(1000, SECOND));
        assert!(!budget.try_withdraw(1000, 2 * SECOND));
        budget.deposit(5 * SECOND);
        assert!(budget.try_withdraw(1000, 9 * SECOND));
        assert!(!budget.try_withdraw(1000, 9 * SECOND));
        // At 10 s the deposit made at 0 s has expired, the withdrawals have not.
        assert!(!budget.try_withdraw(1000, 10 * SECOND));
        // At 11 s the withdrawal made at 1 s has expired too: one deposit, one spent.
        assert_eq!(budget.balance(11 * SECOND), 0.0);
        budget.deposit(12 * SECOND);
        assert_eq!(budget.balance(12 * SECOND), 1.0);
        // By 19 s only the deposit at 12 s is left; a year later nothing is.
        assert_eq!(budget.balance(19 * SECOND), 1.0);
        assert_eq!(budget.balance(365 * 24 * 3600 * SECOND), 0.0);
    }

    #[test]
    fn the_reserve_allows_retries_without_traffic() {
        let budget = Ratio::new(0.2, 1.0, 10 * SECOND);
        assert_eq!(budget.balance(0), 10.0);
        for _ in 0..10 {
            assert!(budget.try_withdraw(1000, 0));
        }
        assert!(!budget.try_withdraw(1000, 0));
        assert!(budget.try_withdraw(1000, 10 * SECOND));
    }
}
