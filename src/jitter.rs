//! Jitter: spreading retries out so that clients which failed together do not retry
//! together.
//!
//! Without jitter, every client that saw the same outage sleeps the same schedule and
//! hits the recovering service in synchronised waves. Each kind here keeps the delay in
//! `[0, cap]` and stays random at the cap: the range is narrowed to fit under the cap
//! rather than the draw being clamped onto it, because a clamp turns "random" back into
//! "everyone waits exactly the cap".

use std::time::Duration;

use crate::clock::nanos;
use crate::error::ConfigError;
use crate::rng::JitterRng;

/// How a backoff delay `d` (already capped) is randomised.
///
/// # Default
///
/// [`Jitter::full`]: `uniform(0, d)`. It spreads load best and completes contended work
/// in the fewest calls (the finding of AWS's study of backoff and jitter), and it is
/// what the AWS SDKs use.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Jitter, JitterRng};
///
/// let mut rng = JitterRng::seeded(1);
/// let d = Duration::from_millis(800);
/// let cap = Duration::from_secs(1);
/// assert_eq!(Jitter::none().apply(d, cap, &mut rng), d);
/// assert!(Jitter::full().apply(d, cap, &mut rng) <= d);
/// assert!(Jitter::equal().apply(d, cap, &mut rng) >= d / 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    None,
    Full,
    Equal,
    Proportional(f64),
}

impl Jitter {
    /// No randomness: the delay is exactly the backoff.
    ///
    /// ```
    /// let exact = steadfast::Jitter::none();
    /// ```
    #[must_use]
    pub const fn none() -> Self {
        Self { kind: Kind::None }
    }

    /// `uniform(0, d)`.
    ///
    /// ```
    /// let full = steadfast::Jitter::full();
    /// ```
    #[must_use]
    pub const fn full() -> Self {
        Self { kind: Kind::Full }
    }

    /// `d/2 + uniform(0, d/2)`: never less than half the backoff.
    ///
    /// ```
    /// let equal = steadfast::Jitter::equal();
    /// ```
    #[must_use]
    pub const fn equal() -> Self {
        Self { kind: Kind::Equal }
    }

    /// `d * uniform(1 - fraction, 1 + fraction)`, with the upper end lowered to the cap
    /// where it would pass it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] unless `fraction` is in `0.0..=1.0`.
    ///
    /// ```
    /// use steadfast::Jitter;
    ///
    /// assert!(Jitter::proportional(0.2).is_ok());
    /// assert!(Jitter::proportional(1.5).is_err());
    /// assert!(Jitter::proportional(f64::NAN).is_err());
    /// ```
    pub fn proportional(fraction: f64) -> Result<Self, ConfigError> {
        ConfigError::check_range(
            "proportional jitter fraction",
            fraction,
            (0.0, 1.0),
            "between 0 and 1",
        )?;
        Ok(Self {
            kind: Kind::Proportional(fraction),
        })
    }

    /// Randomises `delay`, keeping the result in `[0, cap]`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{Jitter, JitterRng};
    ///
    /// let cap = Duration::from_secs(1);
    /// let jitter = Jitter::proportional(0.5)?;
    /// let d = jitter.apply(cap, cap, &mut JitterRng::seeded(3));
    /// assert!(d >= cap / 2 && d <= cap);
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    #[inline]
    pub fn apply(&self, delay: Duration, cap: Duration, rng: &mut JitterRng) -> Duration {
        let delay = delay.min(cap);
        match self.kind {
            Kind::None => delay,
            Kind::Full => rng.duration_between(Duration::ZERO, delay),
            Kind::Equal => {
                let half = delay.checked_div(2).unwrap_or_default();
                half.saturating_add(
                    rng.duration_between(Duration::ZERO, delay.saturating_sub(half)),
                )
            }
            Kind::Proportional(fraction) => {
                let d = nanos(delay) as f64;
                // Both ends are finite and non-negative: `fraction` is in [0, 1] and `d`
                // is a u64; the casts saturate, and the cap bounds the upper end.
                let low = Duration::from_nanos((d * (1.0 - fraction)) as u64);
                let high = Duration::from_nanos((d * (1.0 + fraction)) as u64).min(cap);
                rng.duration_between(low.min(high), high)
            }
        }
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_random_at_the_cap() {
        let cap = Duration::from_secs(1);
        for jitter in [
            Jitter::full(),
            Jitter::equal(),
            Jitter::proportional(0.3).unwrap(),
        ] {
            let mut rng = JitterRng::seeded(11);
            let draws: Vec<_> = (0..50)
                .map(|_| jitter.apply(cap * 4, cap, &mut rng))
                .collect();
            assert!(draws.iter().all(|d| *d <= cap), "{jitter:?}");
            let at_cap = draws.iter().filter(|d| **d == cap).count();
            assert!(at_cap <= 1, "{jitter:?} piled {at_cap} draws on the cap");
        }
    }

    #[test]
    fn proportional_spreads_both_sides_of_the_delay() {
        // ±50 % of one second, far below the cap: draws cover [0.5 s, 1.5 s], as many
        // above the delay as below it.
        let jitter = Jitter::proportional(0.5).unwrap();
        let delay = Duration::from_secs(1);
        let mut rng = JitterRng::seeded(5);
        let draws: Vec<_> = (0..1000)
            .map(|_| jitter.apply(delay, Duration::from_secs(10), &mut rng))
            .collect();
        let (low, high) = (delay / 2, delay * 3 / 2);
        assert!(draws.iter().all(|d| (low..=high).contains(d)), "{draws:?}");
        let above = draws.iter().filter(|d| **d > delay).count();
        assert!(
            (400..=600).contains(&above),
            "{above} of 1000 above the delay"
        );
        assert!(
            draws.iter().any(|d| *d > delay * 7 / 5),
            "none near the top"
        );
        assert!(
            draws.iter().any(|d| *d < delay * 3 / 5),
            "none near the bottom"
        );
    }

    #[test]
    fn equal_never_goes_below_half() {
        let mut rng = JitterRng::seeded(2);
        let d = Duration::from_millis(101);
        for _ in 0..100 {
            let j = Jitter::equal().apply(d, Duration::MAX, &mut rng);
            assert!(j >= d / 2 && j <= d);
        }
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        let mut rng = JitterRng::seeded(2);
        for jitter in [
            Jitter::full(),
            Jitter::equal(),
            Jitter::proportional(1.0).unwrap(),
        ] {
            assert!(jitter.apply(Duration::MAX, Duration::MAX, &mut rng) <= Duration::MAX);
        }
    }
}
