//! What a call runs: the entry points [`retry`] and [`retry_with`], and the
//! [`Operation`] trait that they wrap closures in.

use std::future::Future;

use crate::attempt::Attempt;
use crate::retry::Retry;

/// Retries `operation` until it succeeds, fails permanently, or the policy stops it.
///
/// `operation` is called once per attempt with the attempt's [`Attempt`] context (its
/// number, the time since the call started, and the call's idempotency key) and returns
/// a future of `Result<T, E>`. Nothing runs until the returned builder is awaited.
///
/// With no further settings, a call uses [`Policy::default`] (3 attempts, exponential
/// backoff from 100 ms with full jitter), retries every error ([`RetryAnyError`]) and
/// sleeps on tokio's timer.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{retry, Exponential, IoErrors, Policy};
///
/// async fn fetch(attempt: u32) -> std::io::Result<&'static str> {
///     if attempt < 3 {
///         Err(std::io::ErrorKind::ConnectionReset.into())
///     } else {
///         Ok("payload")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = Policy::builder(Exponential::new(Duration::from_millis(50)))
///     .max_attempts(5)
///     .build()?;
/// let body = retry(|attempt| fetch(attempt.number()))
///     .with(policy)
///     .classify(IoErrors)
///     .await?;
/// assert_eq!(body, "payload");
/// # Ok(())
/// # }
/// ```
#[inline]
pub fn retry<F, Fut, T, E>(operation: F) -> Retry<Stateless<F>>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retry::new(Stateless(operation))
}

/// Retries an operation that needs mutable access to state of yours, such as a
/// `&mut Connection`.
///
/// A future returned by a closure cannot borrow from the closure that is called again
/// for the next attempt, so the state is threaded through instead: each attempt takes
/// the state by value and gives it back with its result. For borrowed state, pass the
/// `&mut` reference itself as `state`; it is handed from attempt to attempt and your
/// variable is yours again when the call ends.
///
/// # Timeouts
///
/// An attempt cut short by the per-attempt timeout is dropped together with the state
/// it holds, so no further attempt can run: the call stops with
/// [`StopReason::StateLost`](crate::StopReason::StateLost). A connection interrupted
/// mid-request is rarely fit for reuse anyway.
///
/// ```
/// use steadfast::retry_with;
///
/// struct Connection { queries: u32 }
///
/// impl Connection {
///     async fn query(&mut self) -> Result<u32, &'static str> {
///         self.queries += 1;
///         if self.queries < 3 { Err("deadlock") } else { Ok(42) }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut conn = Connection { queries: 0 };
/// let answer = retry_with(&mut conn, |conn, _attempt| async move {
///     let result = conn.query().await;
///     (conn, result)
/// })
/// .await;
/// assert_eq!(answer.unwrap(), 42);
/// assert_eq!(conn.queries, 3);
/// # }
/// ```
#[inline]
pub fn retry_with<S, F, Fut, T, E>(state: S, operation: F) -> Retry<Stateful<S, F>>
where
    F: FnMut(S, Attempt) -> Fut,
    Fut: Future<Output = (S, Result<T, E>)>,
{
    Retry::new(Stateful {
        state: Some(state),
        operation,
    })
}

/// A unit of work that can be attempted repeatedly.
///
/// [`retry`] and [`retry_with`] wrap closures in it; implement it yourself only for an
/// operation type with its own way of running attempts.
///
/// ```
/// use std::future::{ready, Ready};
/// use steadfast::{retry, Attempt, Operation, Retry};
///
/// /// Fails a fixed number of times, then succeeds.
/// struct Flaky { failures_left: u32 }
///
/// impl Operation for Flaky {
///     type Ok = ();
///     type Err = &'static str;
///     type Future = Ready<Result<(), &'static str>>;
///
///     fn start(&mut self, _: Attempt) -> Option<Self::Future> {
///         let failed = self.failures_left > 0;
///         self.failures_left = self.failures_left.saturating_sub(1);
///         Some(ready(if failed { Err("flaky") } else { Ok(()) }))
///     }
///
///     fn finish(&mut self, output: Result<(), &'static str>) -> Result<(), &'static str> {
///         output
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert!(Retry::new(Flaky { failures_left: 2 }).await.is_ok());
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an operation that can be retried",
    note = "`retry` takes a closure of the attempt returning a future of a `Result`: `retry(|attempt| async {{ ... }})`"
)]
pub trait Operation {
    /// The value of a successful attempt.
    type Ok;
    /// The error of a failed attempt.
    type Err;
    /// One attempt in flight.
    type Future: Future;

    /// Starts an attempt, or returns `None` if none can start any more (the state it
    /// needs was lost with a timed-out attempt).
    fn start(&mut self, attempt: Attempt) -> Option<Self::Future>;

    /// Turns a finished attempt's output into its result.
    fn finish(&mut self, output: <Self::Future as Future>::Output) -> Result<Self::Ok, Self::Err>;

    /// Whether another attempt can start.
    fn can_start(&self) -> bool {
        true
    }
}

/// A closure of the attempt context, as an [`Operation`]; made by [`retry`].
///
/// ```
/// use steadfast::{retry, Retry, Stateless};
///
/// fn configured<F, Fut>(op: F) -> Retry<Stateless<F>>
/// where
///     F: FnMut(steadfast::Attempt) -> Fut,
///     Fut: std::future::Future<Output = Result<(), std::io::Error>>,
/// {
///     retry(op)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Stateless<F>(F);

impl<F, Fut, T, E> Operation for Stateless<F>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Ok = T;
    type Err = E;
    type Future = Fut;

    fn start(&mut self, attempt: Attempt) -> Option<Fut> {
        Some((self.0)(attempt))
    }

    fn finish(&mut self, output: Result<T, E>) -> Result<T, E> {
        output
    }
}

/// A closure that threads state through its attempts, as an [`Operation`]; made by
/// [`retry_with`].
///
/// ```
/// use steadfast::{retry_with, Retry, Stateful};
///
/// let mut count = 0_u32;
/// let call = retry_with(&mut count, |count, _| async move {
///     *count += 1;
///     (count, Ok::<_, ()>(()))
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Stateful<S, F> {
    state: Option<S>,
    operation: F,
}

impl<S, F, Fut, T, E> Operation for Stateful<S, F>
where
    F: FnMut(S, Attempt) -> Fut,
    Fut: Future<Output = (S, Result<T, E>)>,
{
    type Ok = T;
    type Err = E;
    type Future = Fut;

    fn start(&mut self, attempt: Attempt) -> Option<Fut> {
        let state = self.state.take()?;
        Some((self.operation)(state, attempt))
    }

    fn finish(&mut self, (state, result): (S, Result<T, E>)) -> Result<T, E> {
        self.state = Some(state);
        result
    }

    fn can_start(&self) -> bool {
        self.state.is_some()
    }
}
