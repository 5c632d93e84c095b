//! Classification: which outcomes are worth another attempt.
//!
//! A classifier sees the whole outcome of an attempt, so an `Ok` value that means
//! failure (an HTTP 503 response, say) can be retried too, and it answers with a
//! [`Decision`]. Retrying a permanent failure (a validation error, a 404) only adds load
//! and delay; retrying a transient one (a reset connection, a timeout) is what makes a
//! brief outage invisible.

#[cfg(feature = "http")]
mod http;
mod io;
#[cfg(feature = "reqwest")]
mod reqwest;

#[cfg(feature = "http")]
pub use self::http::{ClassifyError, HttpClassifier, RetryAllTransportErrors, parse_retry_after};
#[cfg(feature = "reqwest")]
pub use self::reqwest::ReqwestErrors;
pub use io::IoErrors;

use std::fmt;
use std::time::Duration;

/// What to do with the outcome of one attempt.
///
/// ```
/// use std::time::Duration;
/// use steadfast::Decision;
///
/// fn judge(status: u16) -> Decision {
///     match status {
///         200..=299 => Decision::Success,
///         429 => Decision::RetryAfter(Duration::from_secs(2)),
///         500..=599 => Decision::Retry,
///         _ => Decision::Fail,
///     }
/// }
/// assert_eq!(judge(503), Decision::Retry);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Done: return this outcome to the caller. An `Err` judged a success is returned
    /// as it is, like a permanent failure, without being counted as a failure.
    Success,
    /// A transient failure: try again after the policy's delay.
    Retry,
    /// A transient failure that happened before the request reached the other side
    /// (connection refused, say): retrying is safe even for an operation that is not
    /// idempotent.
    RetryUnsent,
    /// Worth retrying only with the same idempotency key: the other side reports a
    /// request with this key still in progress (HTTP 409 to a keyed request). A call
    /// without a key (see [`Idempotency`](crate::Idempotency)) treats it as a permanent
    /// failure.
    RetryIfKeyed,
    /// A transient failure, and the other side asked to wait at least this long (an
    /// HTTP `Retry-After`, say). The delay is raised to it, within the policy's limit.
    RetryAfter(Duration),
    /// A permanent failure: stop now.
    Fail,
}

/// Judges the outcome of an attempt.
///
/// Closures over the error type implement it directly (every `Ok` then counts as a
/// success); for closures over the whole outcome, use
/// [`Retry::classify_outcome`](crate::Retry::classify_outcome).
///
/// ```
/// use steadfast::{retry, Classify, Decision};
///
/// #[derive(Debug, thiserror::Error)]
/// enum DbError {
///     #[error("deadlock detected")]
///     Deadlock,
///     #[error("duplicate key")]
///     UniqueViolation,
/// }
///
/// /// A classifier as a type, for reuse across call sites.
/// struct DbErrors;
///
/// impl<T> Classify<T, DbError> for DbErrors {
///     fn classify(&self, outcome: &Result<T, DbError>) -> Decision {
///         match outcome {
///             Ok(_) => Decision::Success,
///             Err(DbError::Deadlock) => Decision::Retry,
///             Err(DbError::UniqueViolation) => Decision::Fail,
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = retry(|_| async { Err::<(), _>(DbError::UniqueViolation) })
///     .classify(DbErrors)
///     .await
///     .unwrap_err();
/// assert_eq!(err.attempts(), 1);
///
/// // The same with a closure over the error.
/// let err = retry(|_| async { Err::<(), _>(DbError::UniqueViolation) })
///     .classify(|e: &DbError| match e {
///         DbError::Deadlock => Decision::Retry,
///         DbError::UniqueViolation => Decision::Fail,
///     })
///     .await
///     .unwrap_err();
/// assert_eq!(err.attempts(), 1);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot judge outcomes of type `Result<{T}, {E}>`",
    label = "not a classifier for this operation",
    note = "a closure over the error works with `.when(|error| ...)`, one over the whole outcome with `.classify_outcome(|outcome| ...)`"
)]
pub trait Classify<T, E> {
    /// Judges one attempt's outcome.
    fn classify(&self, outcome: &Result<T, E>) -> Decision;

    /// Says in a few words what was wrong with a value this classifier did not accept
    /// (an `Ok` outcome it asked to retry), for the call's log lines. The default
    /// writes "value rejected by the classifier"; the HTTP classifier writes the status.
    ///
    /// ```
    /// use std::fmt;
    /// use steadfast::{Classify, Decision};
    ///
    /// struct Busy;
    ///
    /// impl Classify<u16, std::io::Error> for Busy {
    ///     fn classify(&self, outcome: &Result<u16, std::io::Error>) -> Decision {
    ///         match outcome {
    ///             Ok(503) | Err(_) => Decision::Retry,
    ///             Ok(_) => Decision::Success,
    ///         }
    ///     }
    ///
    ///     fn describe_rejected(&self, code: &u16, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    ///         write!(f, "busy ({code})")
    ///     }
    /// }
    /// ```
    fn describe_rejected(&self, value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = value;
        f.write_str("value rejected by the classifier")
    }
}

impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&E) -> Decision,
{
    fn classify(&self, outcome: &Result<T, E>) -> Decision {
        match outcome {
            Ok(_) => Decision::Success,
            Err(error) => self(error),
        }
    }
}

/// The default classifier: every `Ok` is a success, every `Err` is transient.
///
/// ```
/// use steadfast::{Classify, Decision, RetryAnyError};
///
/// assert_eq!(RetryAnyError.classify(&Err::<(), _>("boom")), Decision::Retry);
/// assert_eq!(RetryAnyError.classify(&Ok::<_, ()>(1)), Decision::Success);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryAnyError;

impl<T, E> Classify<T, E> for RetryAnyError {
    fn classify(&self, outcome: &Result<T, E>) -> Decision {
        match outcome {
            Ok(_) => Decision::Success,
            Err(_) => Decision::Retry,
        }
    }
}

/// A closure over the whole outcome, as a [`Classify`]: made by
/// [`Retry::classify_outcome`](crate::Retry::classify_outcome).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClassifyOutcome<F>(F);

impl<F> ClassifyOutcome<F> {
    pub(crate) const fn new(judge: F) -> Self {
        Self(judge)
    }
}

impl<T, E, F> Classify<T, E> for ClassifyOutcome<F>
where
    F: Fn(&Result<T, E>) -> Decision,
{
    fn classify(&self, outcome: &Result<T, E>) -> Decision {
        (self.0)(outcome)
    }
}
