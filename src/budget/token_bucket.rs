//! A token bucket as one atomic word: the generic cell rate algorithm.
//!
//! Instead of a token count that must be refilled (which needs the time of the last
//! refill as a second word, or a lock), the bucket stores the "theoretical arrival
//! time": the instant at which the bucket would be full again. Taking `c` tokens moves
//! it `c / rate` later; the take is refused if that would put it more than
//! `burst / rate` ahead of now. Idle time costs nothing to catch up on: a bucket left
//! alone for a year answers with the same single compare-and-swap.

use crate::sync::{AtomicU64, Ordering};

#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// Nanoseconds (on the budget's clock) at which the bucket is full again.
    full_at: AtomicU64,
    /// Nanoseconds of refill per token.
    nanos_per_token: f64,
    /// How far `full_at` may run ahead of now: the burst, in nanoseconds of refill.
    burst_nanos: u64,
}

impl TokenBucket {
    pub(crate) fn new(per_second: f64, burst: f64) -> Self {
        let nanos_per_token = 1e9 / per_second;
        // Rounded down: the bucket never holds more than it was configured to.
        let burst_nanos = (burst * nanos_per_token).floor() as u64;
        Self {
            full_at: AtomicU64::new(0),
            nanos_per_token,
            burst_nanos,
        }
    }

    /// The cost of `tokens`, in nanoseconds of refill, rounded up so that rounding can
    /// never grant more than the configured rate.
    pub(crate) fn cost_nanos(&self, tokens: f64) -> u64 {
        (tokens * self.nanos_per_token).ceil() as u64
    }

    pub(crate) fn try_take(&self, cost_nanos: u64, now: u64) -> bool {
        let mut full_at = self.full_at.load(Ordering::Relaxed);
        loop {
            let next = full_at.max(now).saturating_add(cost_nanos);
            if next.saturating_sub(now) > self.burst_nanos {
                return false;
            }
            match self.full_at.compare_exchange_weak(
                full_at,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => full_at = actual,
            }
        }
    }

    /// Tokens available at `now`.
    pub(crate) fn balance(&self, now: u64) -> f64 {
        let ahead = self.full_at.load(Ordering::Relaxed).saturating_sub(now);
        self.burst_nanos.saturating_sub(ahead) as f64 / self.nanos_per_token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_and_refills_at_the_rate() {
        let bucket = TokenBucket::new(10.0, 3.0);
        let one = bucket.cost_nanos(1.0);
        assert_eq!(one, 100_000_000);
        assert!(bucket.try_take(one, 0));
        assert!(bucket.try_take(one, 0));
        assert!(bucket.try_take(one, 0));
        assert!(!bucket.try_take(one, 0));
        assert!(!bucket.try_take(one, 99_999_999));
        assert!(bucket.try_take(one, 100_000_000));
        assert!(!bucket.try_take(one, 100_000_000));
        // A year of idleness refills to the burst, no more.
        let year = 365 * 24 * 3_600 * 1_000_000_000_u64;
        assert_eq!(bucket.balance(year), 3.0);
    }

    #[test]
    fn extreme_settings_saturate() {
        let slow = TokenBucket::new(f64::MIN_POSITIVE, 1.0);
        assert!(slow.try_take(slow.cost_nanos(1.0), 0));
        let _ = slow.try_take(slow.cost_nanos(1.0), u64::MAX);
        let _ = slow.balance(u64::MAX);
        let fast = TokenBucket::new(f64::MAX, f64::MAX);
        assert!(fast.try_take(fast.cost_nanos(1.0), u64::MAX));
    }
}
