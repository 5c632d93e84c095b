//! The small, seedable generator behind jitter.
//!
//! Jitter needs speed and reproducibility, not secrecy: a SplitMix64 stream is a few
//! instructions per draw, passes the usual statistical batteries, and gives the same
//! sequence for the same seed on every platform and in every version of this crate,
//! which a schedule test relies on.

use std::time::Duration;

/// A seedable source of randomness for backoff and jitter.
///
/// Each call seeds its own generator when it first needs a delay (after its first
/// failure), from a seed unique to the call and the process, unless the policy fixes a
/// seed: clients that share one policy never share one sequence of delays. It is
/// public because [`Backoff`](crate::Backoff) implementations draw from it.
///
/// ```
/// use std::time::Duration;
/// use steadfast::JitterRng;
///
/// let mut a = JitterRng::seeded(7);
/// let mut b = JitterRng::seeded(7);
/// let d = a.duration_between(Duration::ZERO, Duration::from_secs(1));
/// assert_eq!(d, b.duration_between(Duration::ZERO, Duration::from_secs(1)));
/// assert!(d <= Duration::from_secs(1));
/// ```
#[derive(Debug, Clone)]
pub struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A generator whose sequence is fixed by `seed`.
    ///
    /// ```
    /// let mut rng = steadfast::JitterRng::seeded(1);
    /// let _ = rng.next_u64();
    /// ```
    #[must_use]
    #[inline]
    pub const fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    ///
    /// ```
    /// let mut rng = steadfast::JitterRng::seeded(1);
    /// assert_ne!(rng.next_u64(), rng.next_u64());
    /// ```
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniformly drawn integer in `lo..=hi` (the bounds are swapped if reversed).
    ///
    /// ```
    /// let mut rng = steadfast::JitterRng::seeded(3);
    /// let x = rng.between(10, 20);
    /// assert!((10..=20).contains(&x));
    /// ```
    #[inline]
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = u128::from(hi.wrapping_sub(lo)).saturating_add(1);
        // Multiply-shift maps 64 random bits onto the span without a division; the bias
        // is below 2^-64 per value, far under anything a delay could show.
        let offset = (u128::from(self.next_u64()).saturating_mul(span)) >> 64;
        lo.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    }

    /// A uniformly drawn duration in `lo..=hi` (the bounds are swapped if reversed), at
    /// nanosecond resolution for spans up to 584 years.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut rng = steadfast::JitterRng::seeded(3);
    /// let d = rng.duration_between(Duration::from_millis(5), Duration::from_millis(9));
    /// assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(9));
    /// ```
    #[inline]
    pub fn duration_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = hi.saturating_sub(lo);
        let offset = match crate::clock::nanos(span) {
            span_nanos if span_nanos < u64::MAX => {
                Duration::from_nanos(self.between(0, span_nanos))
            }
            // Spans of centuries: a 53-bit fraction of the span is resolution enough.
            _ => {
                let fraction = (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
                Duration::try_from_secs_f64(span.as_secs_f64() * fraction)
                    .unwrap_or(span)
                    .min(span)
            }
        };
        lo.saturating_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_covers_both_ends_of_a_small_span() {
        let mut rng = JitterRng::seeded(0);
        let mut seen = [false; 3];
        for _ in 0..200 {
            let x = rng.between(4, 6);
            assert!((4..=6).contains(&x));
            seen[usize::try_from(x - 4).unwrap()] = true;
        }
        assert_eq!(seen, [true; 3]);
    }

    #[test]
    fn between_handles_the_full_range_and_a_point() {
        let mut rng = JitterRng::seeded(9);
        assert_eq!(rng.between(5, 5), 5);
        let _ = rng.between(0, u64::MAX);
        assert!(rng.between(u64::MAX - 1, u64::MAX) >= u64::MAX - 1);
    }
}
