use std::time::Duration;

use crate::clock::nanos;

use super::{Backoff, scaled};
use crate::rng::JitterRng;

/// A delay that follows the Fibonacci numbers: `base * [1, 1, 2, 3, 5, 8, ...]`, capped.
///
/// It grows more gently than doubling, which suits dependencies that recover in
/// seconds rather than minutes.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Backoff, Fibonacci, JitterRng};
///
/// let mut backoff = Fibonacci::new(Duration::from_millis(10));
/// let mut rng = JitterRng::seeded(0);
/// let delays: Vec<_> = (1..=6).map(|n| backoff.delay(n, Duration::MAX, &mut rng)).collect();
/// assert_eq!(delays, [10, 10, 20, 30, 50, 80].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fibonacci {
    // Nanoseconds: a call carries its policy, so every byte counts.
    base: u64,
}

impl Fibonacci {
    /// Starts at `base`.
    ///
    /// ```
    /// let backoff = steadfast::Fibonacci::new(std::time::Duration::from_millis(10));
    /// ```
    #[must_use]
    pub const fn new(base: Duration) -> Self {
        Self { base: nanos(base) }
    }
}

/// The `n`th Fibonacci number (`fib(1) = fib(2) = 1`), saturating at `u64::MAX`.
fn fibonacci(n: u32) -> u64 {
    // fib(93) is the last that fits in a u64; beyond it every delay is capped anyway,
    // so the loop is bounded at 93 steps whatever `n` is.
    let (mut previous, mut current) = (0_u64, 1_u64);
    for _ in 1..n.min(94) {
        let next = previous.saturating_add(current);
        previous = current;
        current = next;
    }
    if n == 0 { 0 } else { current }
}

impl Backoff for Fibonacci {
    #[inline]
    fn delay(&mut self, retry: u32, cap: Duration, _rng: &mut JitterRng) -> Duration {
        scaled(Duration::from_nanos(self.base), fibonacci(retry)).min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibonacci_numbers_and_saturation() {
        let first: Vec<u64> = (0..=10).map(fibonacci).collect();
        assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]);
        assert_eq!(fibonacci(93), 12_200_160_415_121_876_738);
        assert_eq!(fibonacci(94), u64::MAX);
        assert_eq!(fibonacci(u32::MAX), u64::MAX);
    }
}
