use std::time::Duration;

use crate::clock::nanos;

use super::Backoff;
use crate::rng::JitterRng;

/// The same delay before every retry.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Backoff, Constant, JitterRng};
///
/// let mut backoff = Constant::new(Duration::from_millis(50));
/// let mut rng = JitterRng::seeded(0);
/// let cap = Duration::from_secs(1);
/// assert_eq!(backoff.delay(1, cap, &mut rng), Duration::from_millis(50));
/// assert_eq!(backoff.delay(9, cap, &mut rng), Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constant {
    // Nanoseconds: a call carries its policy, so every byte counts.
    delay: u64,
}

impl Constant {
    /// Waits `delay` before each retry. A zero delay retries at once, without a timer.
    ///
    /// ```
    /// let immediate = steadfast::Constant::new(std::time::Duration::ZERO);
    /// ```
    #[must_use]
    pub const fn new(delay: Duration) -> Self {
        Self {
            delay: nanos(delay),
        }
    }
}

impl Backoff for Constant {
    #[inline]
    fn delay(&mut self, _retry: u32, cap: Duration, _rng: &mut JitterRng) -> Duration {
        Duration::from_nanos(self.delay).min(cap)
    }
}
