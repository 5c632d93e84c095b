//! Backoff strategies: how long to wait before each retry, before jitter.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::{Backoff, Fibonacci};
//!
//! let mut backoff = Fibonacci::new(Duration::from_millis(10));
//! let delay = backoff.delay(4, Duration::from_secs(1), &mut steadfast::JitterRng::seeded(0));
//! assert_eq!(delay, Duration::from_millis(30));
//! ```
//!
//! A strategy is a plain value. [`Policy`](crate::Policy) asks it for the delay before
//! retry `n` (1 for the first retry), hands it the policy's cap, and then applies
//! [`Jitter`](crate::Jitter). Every strategy saturates instead of overflowing, for any
//! retry number up to `u32::MAX` and any duration.

mod any;
mod constant;
mod decorrelated;
mod exponential;
mod fibonacci;
mod linear;

pub use any::AnyBackoff;
pub use constant::Constant;
pub use decorrelated::Decorrelated;
pub use exponential::Exponential;
pub use fibonacci::Fibonacci;
pub use linear::Linear;

use std::time::Duration;

use crate::error::ConfigError;
use crate::rng::JitterRng;

/// A rule for the delay before each retry.
///
/// Implement it for a schedule of your own; the policy takes care of jitter, caps,
/// attempt limits and deadlines.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Backoff, JitterRng, Policy};
///
/// /// Waits one second per retry so far, but never on the first retry.
/// #[derive(Clone)]
/// struct SlowStart;
///
/// impl Backoff for SlowStart {
///     fn delay(&mut self, retry: u32, cap: Duration, _rng: &mut JitterRng) -> Duration {
///         Duration::from_secs(u64::from(retry - 1)).min(cap)
///     }
/// }
///
/// let policy = Policy::builder(SlowStart).build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a backoff strategy",
    note = "the built-in strategies are `Constant`, `Linear`, `Exponential`, `Fibonacci` and `Decorrelated`; a policy is built from one with `Policy::builder(backoff).build()?`"
)]
pub trait Backoff {
    /// The delay before retry number `retry` (1 for the first retry), at most `cap`.
    ///
    /// `rng` is the call's seeded generator, for strategies that are random by nature.
    fn delay(&mut self, retry: u32, cap: Duration, rng: &mut JitterRng) -> Duration;

    /// Forgets any state from an earlier call; called when a call starts.
    fn reset(&mut self) {}

    /// Checks settings that types cannot rule out; called by
    /// [`PolicyBuilder::build`](crate::PolicyBuilder::build).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the setting that is impossible.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// `base * multiplier`, saturating, for an integer multiplier.
fn scaled(base: Duration, multiplier: u64) -> Duration {
    // `Duration` multiplies by a u32: split the u64 into its halves, so a multiplier
    // past u32::MAX (a Fibonacci number beyond the 47th) still grows the delay.
    let high = u32::try_from(multiplier >> 32).unwrap_or(u32::MAX);
    let low = u32::try_from(multiplier & u64::from(u32::MAX)).unwrap_or(u32::MAX);
    let high_part = base
        .checked_mul(high)
        .and_then(|part| part.checked_mul(1 << 16))
        .and_then(|part| part.checked_mul(1 << 16));
    high_part
        .zip(base.checked_mul(low))
        .and_then(|(high, low)| high.checked_add(low))
        .unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_saturates() {
        assert_eq!(scaled(Duration::from_secs(1), 3), Duration::from_secs(3));
        assert_eq!(scaled(Duration::MAX, 2), Duration::MAX);
        assert_eq!(
            scaled(Duration::from_nanos(1), 12_586_269_025),
            Duration::from_nanos(12_586_269_025)
        );
        assert_eq!(
            scaled(Duration::from_secs(u64::MAX / 2), u64::MAX),
            Duration::MAX
        );
    }
}
