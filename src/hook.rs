//! Hooks: your code, told about each retry.

use std::time::Duration;

use crate::classify::Decision;

/// What happened before a retry: passed to [`OnRetry`] hooks.
///
/// ```
/// use steadfast::{retry, Failure};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut log = Vec::new();
/// let _ = retry(|_| async { Err::<(), _>("refused") })
///     .on_retry(|event: &steadfast::RetryEvent<'_, (), &str>| {
///         if let Failure::Error(e) = event.failure {
///             log.push(format!("attempt {} failed ({e}); retrying in {:?}", event.attempt, event.delay));
///         }
///     })
///     .await;
/// assert_eq!(log.len(), 2);
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryEvent<'a, T, E> {
    /// The attempt that failed (1 for the first).
    pub attempt: u32,
    /// How long the call waits before the next attempt.
    pub delay: Duration,
    /// Time since the call started, as [`Attempt::elapsed`](crate::Attempt::elapsed)
    /// measures it: from the first poll for a call with a deadline or attempt timeout,
    /// otherwise from its first sleep (zero before it).
    pub elapsed: Duration,
    /// How the attempt failed.
    pub failure: Failure<'a, T, E>,
    /// The classifier's judgement ([`Decision::Retry`] for a timeout).
    pub decision: Decision,
}

/// How an attempt that is about to be retried failed.
///
/// ```
/// use steadfast::Failure;
/// let timed_out: Failure<'_, (), ()> = Failure::TimedOut(std::time::Duration::from_secs(1));
/// assert!(matches!(timed_out, Failure::TimedOut(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure<'a, T, E> {
    /// The operation returned this error.
    Error(&'a E),
    /// The operation returned this value, and the classifier judged it a failure (an
    /// HTTP 503 response, say).
    Rejected(&'a T),
    /// The attempt ran longer than the per-attempt timeout.
    TimedOut(Duration),
}

/// Told about each retry, before the call sleeps.
///
/// Closures taking a [`RetryEvent`] implement it; `()` is the hook that does nothing.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use steadfast::{OnRetry, RetryEvent};
///
/// /// Counts retries into a shared metric.
/// struct CountRetries<'a>(&'a AtomicU32);
///
/// impl<T, E> OnRetry<T, E> for CountRetries<'_> {
///     fn on_retry(&mut self, _: &RetryEvent<'_, T, E>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let retries = AtomicU32::new(0);
/// let _ = steadfast::retry(|_| async { Err::<(), _>("down") }).hook(CountRetries(&retries)).await;
/// assert_eq!(retries.load(Ordering::Relaxed), 2);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be called before a retry of an operation returning `Result<{T}, {E}>`",
    note = "a closure works with `.on_retry(|event| ...)`, which infers the event's type"
)]
pub trait OnRetry<T, E> {
    /// Called once per retry, after the delay is chosen and before the sleep.
    fn on_retry(&mut self, event: &RetryEvent<'_, T, E>);
}

impl<T, E> OnRetry<T, E> for () {
    fn on_retry(&mut self, _: &RetryEvent<'_, T, E>) {}
}

impl<T, E, F> OnRetry<T, E> for F
where
    F: FnMut(&RetryEvent<'_, T, E>),
{
    fn on_retry(&mut self, event: &RetryEvent<'_, T, E>) {
        self(event);
    }
}
