use std::time::Duration;

use crate::clock::nanos;

use super::{Backoff, scaled};
use crate::rng::JitterRng;

/// A delay that grows by a fixed step: `base + step * (retry - 1)`, capped.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Backoff, JitterRng, Linear};
///
/// let mut backoff = Linear::new(Duration::from_millis(100));
/// let mut rng = JitterRng::seeded(0);
/// let cap = Duration::from_secs(1);
/// let delays: Vec<_> = (1..=3).map(|n| backoff.delay(n, cap, &mut rng)).collect();
/// assert_eq!(delays, [100, 200, 300].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    // Nanoseconds: a call carries its policy, so every byte counts.
    base: u64,
    step: u64,
}

impl Linear {
    /// Starts at `base` and grows by `base` per retry.
    ///
    /// ```
    /// let backoff = steadfast::Linear::new(std::time::Duration::from_millis(100));
    /// ```
    #[must_use]
    pub const fn new(base: Duration) -> Self {
        Self {
            base: nanos(base),
            step: nanos(base),
        }
    }

    /// Grows by `step` per retry instead of by `base`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{Backoff, JitterRng, Linear};
    ///
    /// let mut backoff = Linear::new(Duration::from_millis(100)).step(Duration::from_millis(10));
    /// let delay = backoff.delay(3, Duration::MAX, &mut JitterRng::seeded(0));
    /// assert_eq!(delay, Duration::from_millis(120));
    /// ```
    #[must_use]
    pub const fn step(mut self, step: Duration) -> Self {
        self.step = nanos(step);
        self
    }
}

impl Backoff for Linear {
    #[inline]
    fn delay(&mut self, retry: u32, cap: Duration, _rng: &mut JitterRng) -> Duration {
        let growth = scaled(
            Duration::from_nanos(self.step),
            u64::from(retry.saturating_sub(1)),
        );
        Duration::from_nanos(self.base)
            .saturating_add(growth)
            .min(cap)
    }
}
