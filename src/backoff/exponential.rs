use std::time::Duration;

use super::Backoff;
use crate::clock::nanos;
use crate::error::ConfigError;
use crate::rng::JitterRng;

/// A delay that multiplies on every retry: `min(cap, base * factor^(retry - 1))`.
///
/// # Default
///
/// The factor is 2: each wait doubles, the common ground of AWS, gRPC and the SRE book.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Backoff, Exponential, JitterRng};
///
/// let mut backoff = Exponential::new(Duration::from_millis(100));
/// let mut rng = JitterRng::seeded(0);
/// let cap = Duration::from_millis(500);
/// let delays: Vec<_> = (1..=5).map(|n| backoff.delay(n, cap, &mut rng)).collect();
/// assert_eq!(delays, [100, 200, 400, 500, 500].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exponential {
    // Nanoseconds: a call carries its policy, so every byte counts.
    base: u64,
    factor: f64,
}

impl Exponential {
    /// Starts at `base` and doubles.
    ///
    /// ```
    /// let backoff = steadfast::Exponential::new(std::time::Duration::from_millis(100));
    /// ```
    #[must_use]
    pub const fn new(base: Duration) -> Self {
        Self {
            base: nanos(base),
            factor: 2.0,
        }
    }

    /// Multiplies by `factor` instead of 2. It must be finite and not negative, which
    /// [`PolicyBuilder::build`](crate::PolicyBuilder::build) checks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{Exponential, Policy};
    ///
    /// let gentle = Exponential::new(Duration::from_millis(100)).factor(1.5);
    /// assert!(Policy::builder(gentle).build().is_ok());
    ///
    /// let broken = Exponential::new(Duration::from_millis(100)).factor(f64::NAN);
    /// assert!(Policy::builder(broken).build().is_err());
    /// ```
    #[must_use]
    pub const fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }
}

impl Default for Exponential {
    /// 100 ms, doubling.
    fn default() -> Self {
        Self::new(Duration::from_millis(100))
    }
}

impl Backoff for Exponential {
    #[inline]
    fn delay(&mut self, retry: u32, cap: Duration, _rng: &mut JitterRng) -> Duration {
        if self.base == 0 {
            return Duration::ZERO;
        }
        let exponent = f64::from(retry.saturating_sub(1));
        // In floating point the product saturates to infinity instead of overflowing;
        // the comparison with the cap then settles it. Powers of two stay exact.
        let delay = self.base as f64 * self.factor.powf(exponent);
        let cap_nanos = nanos(cap);
        if delay.is_nan() || delay >= cap_nanos as f64 {
            return cap.min(Duration::from_nanos(cap_nanos));
        }
        // In range and not NaN, so the conversion is exact to the nanosecond.
        Duration::from_nanos(delay as u64).min(cap)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_factor("exponential factor", self.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_at_the_cap_for_huge_retry_numbers() {
        let mut backoff = Exponential::new(Duration::from_secs(1));
        let mut rng = JitterRng::seeded(0);
        let cap = Duration::from_secs(30);
        assert_eq!(backoff.delay(u32::MAX, cap, &mut rng), cap);
        assert_eq!(
            backoff.delay(64, Duration::MAX, &mut rng),
            Duration::from_nanos(u64::MAX)
        );
    }

    #[test]
    fn a_zero_factor_waits_base_once_then_nothing() {
        let mut backoff = Exponential::new(Duration::from_secs(1)).factor(0.0);
        let mut rng = JitterRng::seeded(0);
        assert_eq!(
            backoff.delay(1, Duration::MAX, &mut rng),
            Duration::from_secs(1)
        );
        assert_eq!(backoff.delay(2, Duration::MAX, &mut rng), Duration::ZERO);
    }

    #[test]
    fn an_unchecked_nan_factor_waits_the_cap_not_nothing() {
        // Used directly, without a policy to reject it: erring long, not hammering.
        let mut backoff = Exponential::new(Duration::from_secs(1)).factor(f64::NAN);
        let mut rng = JitterRng::seeded(0);
        let cap = Duration::from_secs(30);
        assert_eq!(backoff.delay(2, cap, &mut rng), cap);
    }

    #[test]
    fn rejects_impossible_factors() {
        for factor in [f64::NAN, f64::INFINITY, -1.0, f64::NEG_INFINITY] {
            assert!(
                Exponential::default().factor(factor).validate().is_err(),
                "{factor}"
            );
        }
        assert!(Exponential::default().factor(3.0).validate().is_ok());
    }
}
