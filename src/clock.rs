//! Where the crate reads the time.
//!
//! Everything that measures time (deadlines, and the shared breaker and budget) reads it
//! through a [`Clock`], so tests under tokio's paused time see the time they set, and
//! other runtimes can plug in their own.

use std::time::{Duration, Instant};

/// A source of the current time.
///
/// ```
/// use std::time::Instant;
/// use steadfast::Clock;
///
/// /// A clock that is always at one instant, for tests.
/// struct Frozen(Instant);
///
/// impl Clock for Frozen {
///     fn now(&self) -> Instant {
///         self.0
///     }
/// }
/// let clock = Frozen(Instant::now());
/// assert_eq!(clock.now(), clock.now());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a clock",
    note = "use `TokioClock` (the default with the `tokio` feature), `StdClock`, or implement `Clock`"
)]
pub trait Clock {
    /// The current instant. It must never go backwards.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// Whole nanoseconds from `origin` to now on `clock`, saturating: the time base of the
/// shared breaker and budget, which keep their times in atomic words.
pub(crate) fn nanos_since(clock: &dyn Clock, origin: Instant) -> u64 {
    nanos(clock.now().saturating_duration_since(origin))
}

/// A duration as whole nanoseconds, saturating at `u64::MAX` (584 years): the one
/// conversion behind every time the crate keeps as an integer.
pub(crate) const fn nanos(d: Duration) -> u64 {
    let whole = d.as_nanos();
    if whole > u64::MAX as u128 {
        u64::MAX
    } else {
        whole as u64
    }
}

/// The operating system's monotonic clock, [`Instant::now`].
///
/// ```
/// use steadfast::{Clock, StdClock};
/// let earlier = StdClock.now();
/// assert!(StdClock.now() >= earlier);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdClock;

impl Clock for StdClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// tokio's clock, which stands still and jumps under paused time (`start_paused`,
/// `tokio::time::pause`), so timed tests are exact and instant. Outside a paused runtime
/// it is the operating system's clock.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Clock, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let before = TokioClock.now();
/// tokio::time::advance(Duration::from_secs(5)).await;
/// assert_eq!(TokioClock.now() - before, Duration::from_secs(5));
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioClock;

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// The clock a call uses unless told otherwise: [`TokioClock`] with the `tokio` feature,
/// else [`StdClock`].
///
/// ```
/// use steadfast::Clock;
/// let now = steadfast::DefaultClock::default().now();
/// ```
#[cfg(feature = "tokio")]
pub type DefaultClock = TokioClock;

/// The clock a call uses unless told otherwise: [`TokioClock`] with the `tokio` feature,
/// else [`StdClock`].
///
/// ```
/// use steadfast::Clock;
/// let now = steadfast::DefaultClock::default().now();
/// ```
#[cfg(not(feature = "tokio"))]
pub type DefaultClock = StdClock;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_saturates() {
        assert_eq!(nanos(Duration::MAX), u64::MAX);
        assert_eq!(nanos(Duration::from_millis(2)), 2_000_000);
    }
}

/// A clock moved by hand, for the crate's unit tests.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct ManualClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

#[cfg(test)]
impl ManualClock {
    pub(crate) fn advance(&self, by: Duration) {
        self.0
            .fetch_add(nanos(by), std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        // One base for every manual clock in the process: an `Instant` has no zero.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now)
            + Duration::from_nanos(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}
