//! What a breaker tells its callers: its state, its rejections, its counts, and the
//! error of a call made through it.

use std::fmt;
use std::time::Duration;

/// The state of a breaker.
///
/// ```
/// use steadfast::{BreakerState, CircuitBreaker};
/// let breaker = CircuitBreaker::default();
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls flow and their outcomes are counted.
    Closed,
    /// Calls are rejected until the open duration ends.
    Open,
    /// A few probe calls are let through to test the dependency.
    HalfOpen,
    /// Opened by hand ([`CircuitBreaker::force_open`](super::CircuitBreaker::force_open)): every call is rejected until
    /// [`reset`](super::CircuitBreaker::reset).
    ForcedOpen,
    /// Switched off by hand ([`CircuitBreaker::disable`](super::CircuitBreaker::disable)): every call is admitted and
    /// nothing is counted until [`reset`](super::CircuitBreaker::reset).
    Disabled,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
            Self::ForcedOpen => "forced open",
            Self::Disabled => "disabled",
        })
    }
}

/// A change of state, passed to the hook set with
/// [`BreakerBuilder::on_state_change`](super::BreakerBuilder::on_state_change).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use steadfast::{BreakerState, CircuitBreaker};
///
/// let changes = Arc::new(Mutex::new(Vec::new()));
/// let log = changes.clone();
/// let breaker = CircuitBreaker::builder()
///     .on_state_change(move |change| log.lock().unwrap().push((change.from, change.to)))
///     .build()?;
/// breaker.force_open();
/// assert_eq!(*changes.lock().unwrap(), [(BreakerState::Closed, BreakerState::ForcedOpen)]);
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
    /// For a change to [`BreakerState::Open`], how long it stays open.
    pub open_for: Option<Duration>,
}

/// Why a breaker refused a call, and when to come back.
///
/// ```
/// use steadfast::{BreakerState, CircuitBreaker};
/// let breaker = CircuitBreaker::default();
/// breaker.force_open();
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.state(), BreakerState::ForcedOpen);
/// assert_eq!(rejected.retry_in(), None);
/// assert_eq!(rejected.to_string(), "circuit breaker forced open: call rejected");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker {state}: call rejected")]
pub struct Rejected {
    state: BreakerState,
    retry_in: Option<Duration>,
}

impl Rejected {
    pub(crate) const fn new(state: BreakerState, retry_in: Option<Duration>) -> Self {
        Self { state, retry_in }
    }

    /// The breaker's state when it refused.
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::default();
    /// breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().state(), steadfast::BreakerState::ForcedOpen);
    /// ```
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// How long until the breaker admits its next probe, when that is known: the rest
    /// of the open duration. `None` when it depends on probes in flight (half-open) or
    /// on a person (forced open).
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::default();
    /// breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_in(), None);
    /// ```
    #[must_use]
    pub fn retry_in(&self) -> Option<Duration> {
        self.retry_in
    }
}

/// A breaker's counts at one moment.
///
/// ```
/// let snapshot = steadfast::CircuitBreaker::default().snapshot();
/// assert_eq!(snapshot.state, steadfast::BreakerState::Closed);
/// assert_eq!((snapshot.window_calls, snapshot.rejections), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The state.
    pub state: BreakerState,
    /// Failures in a row, while closed.
    pub consecutive_failures: u64,
    /// Calls in the failure-rate window (the last N calls).
    pub window_calls: u64,
    /// Failures among them.
    pub window_failures: u64,
    /// Calls in the time window.
    pub recent_calls: u64,
    /// Failures among them.
    pub recent_failures: u64,
    /// Probes in flight, while half-open.
    pub probes_in_flight: u32,
    /// Calls rejected since the breaker was built.
    pub rejections: u64,
    /// Changes of state since the breaker was built.
    pub transitions: u64,
    /// Trips since the breaker last closed.
    pub trips: u64,
}

/// The error of [`CircuitBreaker::call`](super::CircuitBreaker::call): the breaker refused, or the operation failed.
///
/// ```
/// use steadfast::{BreakerError, CircuitBreaker};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::default();
/// let err = breaker.call(|| async { Err::<(), _>(std::io::Error::other("boom")) }).await.unwrap_err();
/// assert!(matches!(err, BreakerError::Operation(_)));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker refused the call; the operation did not run.
    #[error(transparent)]
    Rejected(Rejected),
    /// The operation ran and returned this error.
    #[error(transparent)]
    Operation(E),
}

impl<E> BreakerError<E> {
    /// The rejection, if the breaker refused.
    ///
    /// ```
    /// let err: steadfast::BreakerError<()> = steadfast::BreakerError::Operation(());
    /// assert!(err.rejection().is_none());
    /// ```
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(rejected) => Some(rejected),
            Self::Operation(_) => None,
        }
    }
}
