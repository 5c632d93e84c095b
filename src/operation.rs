//! What a call runs: the [`Operation`] trait, and the closures that
//! [`retry`](crate::retry) and [`retry_with`](crate::retry_with) wrap in it.

use std::future::Future;

use crate::attempt::Attempt;

/// A unit of work that can be attempted repeatedly.
///
/// [`retry`](crate::retry) and [`retry_with`](crate::retry_with) wrap closures in it; implement it yourself only for an
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

    /// Whether another attempt can start: only [`retry_with`](crate::retry_with)'s
    /// operation can lose what it needs. Sealed: the argument's type cannot be named
    /// outside the crate, so this can be neither called nor overridden there.
    #[doc(hidden)]
    fn can_start(&self, _: sealed::Token) -> bool {
        true
    }
}

/// Seals [`Operation::can_start`].
mod sealed {
    /// Unnameable outside the crate.
    #[derive(Debug, Clone, Copy)]
    pub struct Token;
}

pub(crate) use sealed::Token;

/// A closure of the attempt context, as an [`Operation`]; made by [`retry`](crate::retry).
///
/// ```
/// use steadfast::{retry, Retry, Stateless};
///
/// fn configured<F, Fut>(op: F) -> Retry<'static, Stateless<F>>
/// where
///     F: FnMut(steadfast::Attempt) -> Fut,
///     Fut: std::future::Future<Output = Result<(), std::io::Error>>,
/// {
///     retry(op)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Stateless<F>(pub(crate) F);

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
/// [`retry_with`](crate::retry_with).
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
    pub(crate) state: Option<S>,
    pub(crate) operation: F,
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

    fn can_start(&self, _: sealed::Token) -> bool {
        self.state.is_some()
    }
}
