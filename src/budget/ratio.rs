//! A ratio budget: retries stay under a fraction of recent first attempts.
//!
//! Deposits (first attempts) and withdrawals (retries) are kept in two windowed sums
//! (see [`crate::window`]) and expire a window after they are dated. A deposit is made
//! by every call, so it only adds to the calling thread's own counter cell, without a
//! clock; the deposits are dated when the budget next needs them (a withdrawal that
//! the deposits dated so far cannot pay for, or a snapshot), see [`Undated`]. A withdrawal is one compare-and-swap on the running
//! total of withdrawals, checked against the deposits, so two threads can never both
//! spend the last token.

use crate::window::{Ledger, TimeSlots, Undated};

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
    undated: Undated,
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
            undated: Undated::default(),
        }
    }

    /// The generation of `now`, with stale slots swept out of both sums and the
    /// deposits made since the last reading dated.
    fn generation(&self, now: u64) -> u64 {
        self.undated
            .advance_and_date(now, &self.slots, [&self.deposits, &self.withdrawals])
    }

    /// Records a first attempt, without a clock (see [`Undated`]).
    #[inline]
    pub(crate) fn deposit(&self) {
        self.undated.add();
    }

    /// Tokens, times [`MILLI`], that the deposits and reserve of the window allow.
    fn allowance_milli(&self) -> f64 {
        self.reserve_milli + self.ratio_milli * self.deposits.total() as f64
    }

    /// Spends `cost_milli` at `now` if the window's allowance covers it.
    pub(crate) fn try_withdraw(&self, cost_milli: u32, now: u64) -> bool {
        // Deposits already dated usually suffice; the others are dated (which sums
        // every thread's counter) only when they are needed.
        let mut generation = self.slots.advance(now, [&self.deposits, &self.withdrawals]);
        let mut granted = self.spend(cost_milli);
        if !granted {
            generation = self.generation(now);
            granted = self.spend(cost_milli);
        }
        if !granted {
            return false;
        }
        // A slot that cannot hold the cost keeps it in the total for good: the budget
        // errs towards fewer retries, never more.
        let _ = self.withdrawals.record(generation, cost_milli);
        true
    }

    /// Takes `cost_milli` from the window's allowance if it has that much left.
    fn spend(&self, cost_milli: u32) -> bool {
        let allowance = self.allowance_milli();
        self.withdrawals
            .add_to_total_if(u64::from(cost_milli), |after| after as f64 <= allowance)
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
            budget.deposit();
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
    fn deposits_are_dated_when_read_and_expire_a_window_later() {
        let budget = Ratio::new(1.0, 0.0, 10 * SECOND);
        assert_eq!(budget.balance(0), 0.0);
        budget.deposit();
        // Read at 1 s: the deposit is dated then.
        assert!(budget.try_withdraw(1000, SECOND));
        assert!(!budget.try_withdraw(1000, 2 * SECOND));
        budget.deposit();
        assert!(budget.try_withdraw(1000, 5 * SECOND));
        assert!(!budget.try_withdraw(1000, 9 * SECOND));
        // At 11 s the deposit dated at 1 s has expired, and so has the withdrawal
        // made then: one deposit (5 s), one withdrawal (5 s).
        assert_eq!(budget.balance(11 * SECOND), 0.0);
        budget.deposit();
        assert_eq!(budget.balance(12 * SECOND), 1.0);
        // A year later nothing is left.
        assert_eq!(budget.balance(365 * 24 * 3600 * SECOND), 0.0);
    }

    #[test]
    fn deposits_unread_for_longer_than_a_window_keep_their_share_of_it() {
        let budget = Ratio::new(1.0, 0.0, 10 * SECOND);
        assert_eq!(budget.balance(0), 0.0);
        for _ in 0..40 {
            budget.deposit();
        }
        // First read 40 s later: 40 deposits spread over 40 s, 10 in the last 10 s.
        assert_eq!(budget.balance(40 * SECOND), 10.0);
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
