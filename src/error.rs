//! What a call returns when retrying stops, and what a policy rejects when it is built.
//!
//! ```
//! use steadfast::{RetryError, StopReason};
//!
//! fn should_reschedule<E>(error: &RetryError<E>) -> bool {
//!     matches!(error.reason(), StopReason::RetryAfterTooLong { .. } | StopReason::DeadlineExceeded)
//! }
//! ```

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::time::Duration;

/// The error of a call that did not succeed: your operation's last error, why retrying
/// stopped, and how many attempts ran.
///
/// Your error comes back unchanged: [`error`](Self::error) borrows it,
/// [`into_error`](Self::into_error) returns it, and the message ends with it. There is
/// no error of yours when the last attempt timed out rather than failed.
///
/// # With `?`
///
/// `RetryError<E>` is a [`std::error::Error`] for any error that can be printed
/// (`E: Debug + Display + 'static`), so a failed call goes through `?` into
/// `anyhow::Result`, `eyre::Result` or `Result<_, Box<dyn Error + Send + Sync>>`, also
/// when your operation's own error is an `anyhow::Error`, which is not a
/// `std::error::Error` itself.
///
/// Its [`source`](std::error::Error::source) is the last attempt's failure, so error
/// reporters print the chain. Past your error, the chain goes on through the error's own
/// sources when it is an [`std::io::Error`], a boxed `dyn Error` (`Box` or `Arc`, with or
/// without `Send + Sync`), a `reqwest::Error` or `reqwest_middleware::Error` (features
/// `reqwest`, `reqwest-middleware`), an `anyhow::Error` (feature `anyhow`) or an
/// `eyre::Report` (feature `eyre`). For any other type Rust cannot ask a type that might not be an
/// error for its sources, so the chain ends at your error: read them from
/// [`error`](Self::error).
///
/// ```
/// use steadfast::retry;
///
/// async fn fetch() -> anyhow::Result<u32> {
///     let value = retry(|_| async { Err::<u32, _>(anyhow::anyhow!("connection reset")) })
///         .with(steadfast::Policy::builder(steadfast::Constant::new(std::time::Duration::ZERO)).build()?)
///         .await?;
///     Ok(value)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = fetch().await.unwrap_err();
/// assert_eq!(
///     format!("{err:#}"),
///     "gave up after 3 attempts (attempts exhausted): connection reset: connection reset"
/// );
/// # }
/// ```
///
/// ```
/// use steadfast::{retry, Policy, StopReason};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let policy = Policy::builder(steadfast::Constant::new(std::time::Duration::ZERO))
///     .max_attempts(2)
///     .build()
///     .unwrap();
/// let err = retry(|_| async { Err::<(), _>("down") }).with(policy).await.unwrap_err();
///
/// assert_eq!(err.reason(), StopReason::AttemptsExhausted);
/// assert_eq!(err.attempts(), 2);
/// assert_eq!(err.error(), Some(&"down"));
/// assert_eq!(err.to_string(), "gave up after 2 attempts (attempts exhausted): down");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryError<E> {
    reason: StopReason,
    attempts: u32,
    last: Option<AttemptError<E>>,
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.attempts == 1 {
            "attempt"
        } else {
            "attempts"
        };
        write!(
            f,
            "gave up after {} {noun} ({})",
            self.attempts, self.reason
        )?;
        match &self.last {
            Some(last) => write!(f, ": {last}"),
            None => Ok(()),
        }
    }
}

impl<E: fmt::Debug + fmt::Display + 'static> Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        let last = self.last.as_ref()?;
        match last {
            AttemptError::Operation(error) => Some(as_error(error).unwrap_or(last)),
            AttemptError::TimedOut(_) => Some(last),
        }
    }
}

/// Your error as a `dyn Error`, when its type is one that is known to be an error (see
/// [`RetryError`]'s section on `?`). Without specialisation, a generic `E` that might not
/// be an error cannot be asked for its sources in any other way.
fn as_error<E: 'static>(error: &E) -> Option<&(dyn Error + 'static)> {
    let any: &dyn Any = error;
    if let Some(io) = any.downcast_ref::<std::io::Error>() {
        return Some(io);
    }
    macro_rules! boxed {
        ($($carrier:ty),*) => {$(
            if let Some(boxed) = any.downcast_ref::<$carrier>() {
                return Some(&**boxed);
            }
        )*};
    }
    boxed!(
        Box<dyn Error + Send + Sync>,
        Box<dyn Error + Send>,
        Box<dyn Error>,
        std::sync::Arc<dyn Error + Send + Sync>,
        std::sync::Arc<dyn Error>
    );
    #[cfg(feature = "reqwest")]
    if let Some(error) = any.downcast_ref::<reqwest::Error>() {
        return Some(error);
    }
    #[cfg(feature = "reqwest-middleware")]
    if let Some(error) = any.downcast_ref::<reqwest_middleware::Error>() {
        return Some(error);
    }
    #[cfg(feature = "anyhow")]
    if let Some(error) = any.downcast_ref::<anyhow::Error>() {
        return Some(error.as_ref());
    }
    #[cfg(feature = "eyre")]
    if let Some(report) = any.downcast_ref::<eyre::Report>() {
        return Some(report.as_ref());
    }
    None
}

impl<E> RetryError<E> {
    pub(crate) fn new(reason: StopReason, attempts: u32, last: Option<AttemptError<E>>) -> Self {
        Self {
            reason,
            attempts,
            last,
        }
    }

    /// Why retrying stopped.
    ///
    /// ```
    /// # use steadfast::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = retry(|_| async { Err::<(), _>("bad input") })
    ///     .classify(|_: &&str| Decision::Fail)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.reason(), StopReason::Permanent);
    /// # }
    /// ```
    #[must_use]
    pub fn reason(&self) -> StopReason {
        self.reason
    }

    /// How many attempts ran (0 if none could start).
    ///
    /// ```
    /// # use steadfast::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = retry(|_| async { Err::<(), _>("bad") })
    ///     .classify(|_: &&str| Decision::Fail)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.attempts(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How the last attempt failed, if one ran.
    ///
    /// ```
    /// # use steadfast::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = retry(|_| async { Err::<(), _>(7) })
    ///     .classify(|_: &i32| Decision::Fail)
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err.last_failure(), Some(AttemptError::Operation(7))));
    /// # }
    /// ```
    #[must_use]
    pub fn last_failure(&self) -> Option<&AttemptError<E>> {
        self.last.as_ref()
    }

    /// Your operation's last error, if the last attempt returned one.
    ///
    /// ```
    /// # use steadfast::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = retry(|_| async { Err::<(), _>(7) })
    ///     .classify(|_: &i32| Decision::Fail)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.error(), Some(&7));
    /// # }
    /// ```
    #[must_use]
    pub fn error(&self) -> Option<&E> {
        match &self.last {
            Some(AttemptError::Operation(error)) => Some(error),
            _ => None,
        }
    }

    /// Takes your operation's last error out, if the last attempt returned one.
    ///
    /// ```
    /// # use steadfast::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = retry(|_| async { Err::<(), _>(String::from("gone")) })
    ///     .classify(|_: &String| Decision::Fail)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.into_error().as_deref(), Some("gone"));
    /// # }
    /// ```
    #[must_use]
    pub fn into_error(self) -> Option<E> {
        match self.last {
            Some(AttemptError::Operation(error)) => Some(error),
            _ => None,
        }
    }
}

/// How one attempt failed.
///
/// ```
/// use std::time::Duration;
/// use steadfast::AttemptError;
///
/// let timeout: AttemptError<std::io::Error> = AttemptError::TimedOut(Duration::from_secs(2));
/// assert_eq!(timeout.to_string(), "attempt timed out after 2s");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptError<E> {
    /// The operation returned this error.
    Operation(E),
    /// The attempt ran out of time (the per-attempt timeout or the call's deadline) and
    /// was dropped.
    TimedOut(Duration),
}

impl<E: fmt::Display> fmt::Display for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operation(error) => error.fmt(f),
            Self::TimedOut(after) => write!(f, "attempt timed out after {after:?}"),
        }
    }
}

/// Stands for your error where it cannot be handed out as itself: it reads the same,
/// and its sources are your error's sources when its type is known to be an error.
impl<E: fmt::Debug + fmt::Display + 'static> Error for AttemptError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Operation(error) => as_error(error)?.source(),
            Self::TimedOut(_) => None,
        }
    }
}

/// Why a call stopped retrying.
///
/// ```
/// use std::time::Duration;
/// use steadfast::StopReason;
///
/// let reason = StopReason::RetryAfterTooLong { retry_after: Duration::from_secs(3600) };
/// assert_eq!(reason.to_string(), "server asked to retry after 3600s, beyond the limit");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The classifier judged the failure permanent: retrying cannot help.
    Permanent,
    /// The policy's attempt limit was reached.
    AttemptsExhausted,
    /// The next retry could not start before the call's deadline, or an attempt was cut
    /// short by it.
    DeadlineExceeded,
    /// The server asked for a delay longer than the policy allows, or one that ends past
    /// the deadline. The call stops at once, so you can reschedule the work yourself.
    RetryAfterTooLong {
        /// The delay the server asked for.
        retry_after: Duration,
    },
    /// The attempt failed in a way that may have applied it, and the operation is not
    /// safe to repeat (see [`Idempotency`](crate::Idempotency)).
    NotIdempotent,
    /// The call's [`CircuitBreaker`](crate::CircuitBreaker) refused the attempt, and
    /// the policy's deadline leaves no time to wait for its next probe.
    BreakerOpen {
        /// How long until the breaker admits its next probe, when that is known.
        retry_in: Option<Duration>,
    },
    /// The call's circuit breaker was half-open with every probe slot taken, and the
    /// policy's deadline left no time to wait for the probes to finish (or the policy
    /// has no deadline, so the call does not wait).
    BreakerHalfOpen,
    /// The call's [`RetryBudget`](crate::RetryBudget) had no tokens left for another
    /// retry: retries across all calls sharing it are already at their limit.
    BudgetExhausted,
    /// The attempt holding the operation's threaded state timed out and was dropped
    /// with it (see [`retry_with`](crate::retry_with)), so no further attempt can run.
    StateLost,
    /// The call's [`AdaptiveThrottle`](crate::AdaptiveThrottle) rejected the attempt
    /// before it was sent: the dependency has been refusing most requests lately. No
    /// request left the client, and no breaker counts it as a failure.
    ThrottledLocally,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permanent => f.write_str("permanent failure"),
            Self::AttemptsExhausted => f.write_str("attempts exhausted"),
            Self::DeadlineExceeded => f.write_str("deadline exceeded"),
            Self::RetryAfterTooLong { retry_after } => write!(
                f,
                "server asked to retry after {}s, beyond the limit",
                retry_after.as_secs_f64()
            ),
            Self::BreakerOpen {
                retry_in: Some(wait),
            } => {
                write!(
                    f,
                    "circuit breaker open, next probe in {}s",
                    wait.as_secs_f64()
                )
            }
            Self::BreakerOpen { retry_in: None } => f.write_str("circuit breaker open"),
            Self::BreakerHalfOpen => f.write_str("circuit breaker half-open, its probes busy"),
            Self::NotIdempotent => {
                f.write_str("not safe to repeat an attempt that may have been applied")
            }
            Self::BudgetExhausted => f.write_str("retry budget exhausted"),
            Self::StateLost => f.write_str("operation state lost with a timed-out attempt"),
            Self::ThrottledLocally => f.write_str("rejected locally by the adaptive throttle"),
        }
    }
}

/// A setting that cannot work, found when a policy or strategy is built.
///
/// Each message names the setting, the value given and what is allowed, in words.
///
/// ```
/// use steadfast::{ConfigError, Policy, RetryBudget};
///
/// let err = Policy::builder(steadfast::Exponential::default()).max_attempts(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::ZeroAttempts);
/// assert_eq!(err.to_string(), "max attempts must be at least 1, got 0");
///
/// let err = RetryBudget::token_bucket(0.0, 1.0).build().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "refill rate per second must be greater than 0 and at most 1e9, got 0"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A multiplier that is NaN, infinite or negative.
    #[error("{setting} must be a finite number, 0 or more, got {value}", value = Shown(*.value))]
    InvalidFactor {
        /// The setting at fault.
        setting: &'static str,
        /// The value given.
        value: f64,
    },
    /// A number outside the range the setting allows.
    #[error("{setting} must be {allowed}, got {value}", value = Shown(*.value))]
    OutOfRange {
        /// The setting at fault.
        setting: &'static str,
        /// The value given.
        value: f64,
        /// What the setting allows, in words: "between 0 and 1", "at least 1".
        allowed: &'static str,
    },
    /// A limit of zero attempts, which would never call the operation.
    #[error("max attempts must be at least 1, got 0")]
    ZeroAttempts,
    /// A duration of zero where only a positive one makes sense.
    #[error("{setting} must be longer than zero, got 0s")]
    ZeroDuration {
        /// The setting at fault.
        setting: &'static str,
    },
}

/// A number as a person would write it: `0.25`, `1e9`, `1e-300`, never 300 digits.
struct Shown(f64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let magnitude = self.0.abs();
        if magnitude != 0.0 && magnitude.is_finite() && !(1e-4..1e9).contains(&magnitude) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl ConfigError {
    pub(crate) fn check_factor(setting: &'static str, value: f64) -> Result<(), Self> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(Self::InvalidFactor { setting, value })
        }
    }

    /// Checks `min <= value <= max`; `allowed` says the same in words for the message.
    pub(crate) fn check_range(
        setting: &'static str,
        value: f64,
        (min, max): (f64, f64),
        allowed: &'static str,
    ) -> Result<(), Self> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(Self::OutOfRange {
                setting,
                value,
                allowed,
            })
        }
    }

    pub(crate) fn check_positive(setting: &'static str, value: Duration) -> Result<(), Self> {
        if value.is_zero() {
            Err(Self::ZeroDuration { setting })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_messages_are_short() {
        let shown = |v: f64| Shown(v).to_string();
        assert_eq!(shown(0.0), "0");
        assert_eq!(shown(0.25), "0.25");
        assert_eq!(shown(1e9), "1e9");
        assert_eq!(shown(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(shown(f64::MAX), "1.7976931348623157e308");
        assert_eq!(shown(-0.5), "-0.5");
        assert_eq!(shown(f64::NAN), "NaN");
        assert_eq!(shown(f64::INFINITY), "inf");
    }
}
