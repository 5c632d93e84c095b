use std::time::Duration;

use super::{Backoff, scaled};
use crate::rng::JitterRng;

/// Decorrelated jitter: each delay is drawn from `uniform(base, min(cap, previous * 3))`.
///
/// It is random by nature, so it is usually paired with [`Jitter::none`](crate::Jitter::none).
/// Unlike the textbook `min(cap, uniform(base, previous * 3))`, the upper end of the
/// range is capped rather than the draw, so delays stay spread out once they reach the
/// cap instead of piling up on it.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Backoff, Decorrelated, JitterRng};
///
/// let mut backoff = Decorrelated::new(Duration::from_millis(10));
/// let mut rng = JitterRng::seeded(5);
/// let cap = Duration::from_millis(100);
/// for retry in 1..=20 {
///     let delay = backoff.delay(retry, cap, &mut rng);
///     assert!(delay >= Duration::from_millis(10) && delay <= cap);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decorrelated {
    base: Duration,
    previous: Duration,
}

impl Decorrelated {
    /// Never waits less than `base` (or the cap, if that is smaller).
    ///
    /// ```
    /// let backoff = steadfast::Decorrelated::new(std::time::Duration::from_millis(10));
    /// ```
    #[must_use]
    pub const fn new(base: Duration) -> Self {
        Self {
            base,
            previous: base,
        }
    }
}

impl Backoff for Decorrelated {
    fn delay(&mut self, _retry: u32, cap: Duration, rng: &mut JitterRng) -> Duration {
        let low = self.base.min(cap);
        let high = scaled(self.previous, 3).min(cap).max(low);
        let delay = rng.duration_between(low, high);
        self.previous = delay;
        delay
    }

    fn reset(&mut self) {
        self.previous = self.base;
    }
}
