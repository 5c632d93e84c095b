//! A ratio budget: retries stay under a fraction of recent first attempts.
//!
//! Deposits (first attempts) and withdrawals (retries) are kept in two windowed sums
//! (see [`crate::window`]) and expire a window after they happen. A withdrawal is one
//! compare-and-swap on the running total of withdrawals, checked against the deposits,
//! so two threads can never both spend the last token.

use crate::window::{Ledger, TimeSlots};

/// Withdrawals are counted in thousandths of a token, so fractional costs add exactly.
pub(crate) const MILLI: f64 = 1000.0;

#[derive(Debug)]
pub(crate) struct Ratio {
    /// Tokens each deposit is worth, times [`MILLI`].
    ratio_milli: f64,
    /// Tokens available in every window whatever the traffic, times [`MILLI`].
    reserve_milli: f64,
    slots: TimeSlots,
    deposits: Ledger,
    withdrawals: Ledger,
}

impl Ratio {
    pub(crate) fn new(ratio: f64, min_per_second: f64, window_nanos: u64) -> Self {
        let window_seconds = window_nanos as f64 / 1e9;
        Self {
            ratio_milli: ratio * MILLI,
            reserve_milli: min_per_second * window_seconds * MILLI,
            slots: TimeSlots::new(window_nanos),
            deposits: Ledger::new(),
            withdrawals: Ledger::new(),
        }
    }

    /// The generation of `now`, with stale slots swept out of both sums.
    fn generation(&self, now: u64) -> u64 {
        self.slots.advance(now, [&self.deposits, &self.withdrawals])
    }

    /// Records a first attempt at `now`.
    pub(crate) fn deposit(&self, now: u64) {
        let generation = self.generation(now);
        // Total first: a concurrent sweep can then never take off more than was added.
        self.deposits.add_to_total(1);
        if !self.deposits.record(generation, 1) {
            // The slot is full (four billion first attempts in one slot): drop the
            // deposit rather than let it outlive its window.
            self.deposits.take_from_total(1);
        }
    }

    /// Tokens, times [`MILLI`], that the deposits and reserve of the window allow.
    fn allowance_milli(&self) -> f64 {
        self.reserve_milli + self.ratio_milli * self.deposits.total() as f64
    }

    /// Spends `cost_milli` at `now` if the window's allowance covers it.
    pub(crate) fn try_withdraw(&self, cost_milli: u32, now: u64) -> bool {
        let generation = self.generation(now);
        let allowance = self.allowance_milli();
        let granted = self
            .withdrawals
            .add_to_total_if(u64::from(cost_milli), |after| after as f64 <= allowance);
        if !granted {
            return false;
        }
        // A slot that cannot hold the cost keeps it in the total for good: the budget
        // errs towards fewer retries, never more.
        let _ = self.withdrawals.record(generation, cost_milli);
        true
    }

    /// Tokens available at `now`.
    pub(crate) fn balance(&self, now: u64) -> f64 {
        // Sweeps expired slots out of the totals.
        let _ = self.generation(now);
        let spent = self.withdrawals.total() as f64;
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
