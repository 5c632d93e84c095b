//! Retrying synchronous code, with no runtime: [`retry_blocking`] and
//! [`Retry::call`].
//!
//! A blocking call is the async call itself, driven to completion on the calling
//! thread: the same policy, classifier, breaker, budget, hooks and logs, and the same
//! decisions, made by the same code. Its operation is a plain closure, and its sleeper
//! is [`ThreadSleeper`], which blocks the thread between attempts.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::attempt::Attempt;
use crate::classify::{Classify, RetryAnyError};
use crate::clock::{Clock, StdClock};
use crate::error::RetryError;
use crate::hook::OnRetry;
use crate::operation::Operation;
use crate::policy::{Policy, RetryPolicy};
use crate::retry::Retry;
use crate::sleep::{Sleeper, ThreadSleeper};

/// Starts building a retried call of a synchronous operation; run it with
/// [`call`](Retry::call).
///
/// Everything the async call offers applies: [`with`](Retry::with) a policy,
/// [`when`](Retry::when) or [`classify`](Retry::classify), [`breaker`](Retry::breaker),
/// [`budget`](Retry::budget), [`on_retry`](Retry::on_retry). The thread sleeps between
/// attempts ([`ThreadSleeper`]) and time is read from [`StdClock`]. A per-attempt
/// timeout cannot interrupt synchronous code, so it never cuts an attempt short here;
/// the deadline still bounds the sleeps.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{retry_blocking, Constant, Decision, Policy};
///
/// let mut tries = 0;
/// let value = retry_blocking(|_attempt| {
///     tries += 1;
///     if tries < 3 { Err(std::io::Error::from(std::io::ErrorKind::TimedOut)) } else { Ok(tries) }
/// })
/// .with(Policy::builder(Constant::new(Duration::from_millis(1))).max_attempts(3).build().unwrap())
/// .when(|_| Decision::Retry)
/// .call();
/// assert_eq!(value.unwrap(), 3);
/// ```
#[inline]
pub fn retry_blocking<F, T, E>(
    operation: F,
) -> Retry<'static, Blocking<F>, Policy, RetryAnyError, (), ThreadSleeper, StdClock>
where
    F: FnMut(Attempt) -> Result<T, E>,
{
    Retry::new(Blocking(operation))
        .sleeper(ThreadSleeper)
        .clock(StdClock)
}

/// A synchronous operation, run in place when an attempt starts; made by
/// [`retry_blocking`].
///
/// ```
/// let call = steadfast::retry_blocking(|_| Ok::<_, std::io::Error>(()));
/// ```
#[derive(Debug, Clone)]
pub struct Blocking<F>(F);

impl<F, T, E> Operation for Blocking<F>
where
    F: FnMut(Attempt) -> Result<T, E>,
{
    type Ok = T;
    type Err = E;
    type Future = std::future::Ready<Result<T, E>>;

    fn start(&mut self, attempt: Attempt) -> Option<Self::Future> {
        Some(std::future::ready((self.0)(attempt)))
    }

    fn finish(&mut self, output: Result<T, E>) -> Result<T, E> {
        output
    }
}

impl<F, T, E, P, C, H, S, K> Retry<'_, Blocking<F>, P, C, H, S, K>
where
    F: FnMut(Attempt) -> Result<T, E>,
    E: std::fmt::Display,
    P: RetryPolicy,
    C: Classify<T, E>,
    H: OnRetry<T, E>,
    S: Sleeper<Sleep: Future<Output = ()> + Unpin>,
    K: Clock,
{
    /// Runs the call on this thread until it succeeds or stops, and returns what the
    /// async call would have: the value, or a [`RetryError`] with your last error.
    ///
    /// # Errors
    ///
    /// A [`RetryError`] when retrying stops before a success, as for the async call.
    ///
    /// ```
    /// use steadfast::{retry_blocking, StopReason};
    ///
    /// let err = retry_blocking(|_| Err::<(), _>("down"))
    ///     .with(steadfast::Policy::builder(steadfast::Constant::new(std::time::Duration::ZERO)).build().unwrap())
    ///     .call()
    ///     .unwrap_err();
    /// assert_eq!((err.reason(), err.attempts()), (StopReason::AttemptsExhausted, 3));
    /// ```
    #[inline]
    pub fn call(mut self) -> Result<T, RetryError<E>> {
        // Unpin (a synchronous attempt and a timer that is `Unpin`), so the call runs
        // where it is: pinning it by moving would copy the whole call first.
        let mut call = Pin::new(&mut self);
        // With a sleeper that blocks in place nothing is ever pending, so the first poll
        // finishes the call and no waker is made. A sleeper that does return pending
        // (a timer of some runtime) parks this thread until it wakes it.
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(answer) = call.as_mut().poll(&mut cx) {
            return answer;
        }
        // Poll again at once with a waker that can wake this thread: whatever is
        // pending registers it on that poll.
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(answer) = call.as_mut().poll(&mut cx) {
                return answer;
            }
            std::thread::park();
        }
    }
}

/// Wakes a thread parked in [`Retry::call`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
