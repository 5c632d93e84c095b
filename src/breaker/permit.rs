//! Admission to call a dependency once, and how the call went.

use std::fmt;

use super::CircuitBreaker;
use crate::classify::Decision;

/// How a call went, as far as a breaker cares.
///
/// ```
/// use steadfast::{CallOutcome, CircuitBreaker};
/// let breaker = CircuitBreaker::default();
/// let permit = breaker.try_acquire()?;
/// breaker.record(permit, CallOutcome::Failure);
/// assert_eq!(breaker.snapshot().consecutive_failures, 1);
/// # Ok::<(), steadfast::Rejected>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The dependency answered: a success, or a failure that is not its fault.
    Success,
    /// The dependency failed: a transient error or a timeout.
    Failure,
}

impl CallOutcome {
    /// The outcome a [`Decision`] stands for: retryable decisions are failures.
    pub(crate) fn from_decision(decision: Decision) -> Self {
        match decision {
            Decision::Retry | Decision::RetryUnsent | Decision::RetryAfter(_) => Self::Failure,
            Decision::Success | Decision::Fail | Decision::RetryIfKeyed => Self::Success,
        }
    }
}

/// Admission to call the dependency once. Hand it back with
/// [`CircuitBreaker::record`](super::CircuitBreaker::record).
///
/// # Cancellation
///
/// Dropping a permit without recording gives back what it holds: a half-open probe
/// slot is freed, so a cancelled call can never leave the breaker stuck half-open.
///
/// ```
/// let breaker = steadfast::CircuitBreaker::default();
/// let permit = breaker.try_acquire()?;
/// assert!(!permit.is_probe());
/// drop(permit); // nothing is recorded
/// # Ok::<(), steadfast::Rejected>(())
/// ```
#[must_use = "a permit should be recorded with `CircuitBreaker::record`"]
pub struct Permit {
    pub(crate) kind: PermitKind,
    /// When the call started, on the breaker's clock, if slow calls count; else
    /// `NOT_TIMED`. (A plain word: an `Option<u64>` here is written as two words and
    /// read back as one, which stalls the store buffer on every admission.)
    pub(crate) started: u64,
}

/// [`Permit::started`] of a call whose duration does not matter.
pub(crate) const NOT_TIMED: u64 = u64::MAX;

/// What a permit admits.
pub(crate) enum PermitKind {
    Closed { epoch: u32 },
    Probe(ProbeSlot),
    Disabled,
}

/// A half-open probe slot, given back if the permit is dropped unrecorded. Only a
/// probe holds anything, so only it has a destructor: a closed-state permit is
/// recorded or dropped without one.
pub(crate) struct ProbeSlot {
    pub(crate) breaker: CircuitBreaker,
    pub(crate) epoch: u32,
    /// Cleared once the probe's outcome is recorded.
    pub(crate) held: bool,
}

impl Drop for ProbeSlot {
    fn drop(&mut self) {
        if self.held {
            self.breaker.release_probe(self.epoch);
        }
    }
}

impl Permit {
    /// Whether this call is a half-open probe.
    ///
    /// ```
    /// let permit = steadfast::CircuitBreaker::default().try_acquire()?;
    /// assert!(!permit.is_probe());
    /// # Ok::<(), steadfast::Rejected>(())
    /// ```
    #[must_use]
    pub fn is_probe(&self) -> bool {
        matches!(self.kind, PermitKind::Probe(_))
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("probe", &self.is_probe())
            .finish_non_exhaustive()
    }
}
