//! The entry points, [`retry`] and [`retry_with`], and the [`Retry`] builder.

use std::future::{Future, IntoFuture};

use crate::classify::{ClassifyOutcome, RetryAnyError};
use crate::future::RetryFuture;
use crate::{
    Attempt, CircuitBreaker, Classify, Clock, Decision, DefaultClock, DefaultSleeper, Idempotency,
    OnRetry, Policy, RetryBudget, RetryEvent, RetryPolicy, Sleeper,
};

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

/// A configured call, not yet started. Await it (it implements [`IntoFuture`]) to run it.
///
/// Each method replaces one part and keeps the rest. Once awaited, a call cannot be
/// reconfigured.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{retry, Decision, Policy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let value = retry(|attempt| async move {
///         if attempt.number() == 1 { Err("warming up") } else { Ok(7) }
///     })
///     .with(Policy::default())
///     .classify(|e: &&str| if *e == "warming up" { Decision::Retry } else { Decision::Fail })
///     .on_retry(|event: &steadfast::RetryEvent<'_, i32, &str>| println!("retry in {:?}", event.delay))
///     .await;
/// assert_eq!(value.unwrap(), 7);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a retry does nothing until it is awaited"]
pub struct Retry<Op, P = Policy, C = RetryAnyError, H = (), S = DefaultSleeper, K = DefaultClock> {
    pub(crate) operation: Op,
    pub(crate) policy: P,
    pub(crate) classifier: C,
    pub(crate) hook: H,
    pub(crate) sleeper: S,
    pub(crate) clock: K,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) idempotency: Idempotency,
}

impl<Op> Retry<Op> {
    /// A call of `operation` with every setting at its default; [`retry`] and
    /// [`retry_with`] are the usual way in.
    ///
    /// ```
    /// use steadfast::{retry, Retry};
    /// let call = retry(|_| async { Ok::<_, ()>(1) });
    /// ```
    pub fn new(operation: Op) -> Self {
        Self {
            operation,
            policy: Policy::default(),
            classifier: RetryAnyError,
            hook: (),
            sleeper: DefaultSleeper::default(),
            clock: DefaultClock::default(),
            budget: None,
            breaker: None,
            idempotency: Idempotency::Idempotent,
        }
    }
}

impl<Op: Operation, P, C, H, S, K> Retry<Op, P, C, H, S, K> {
    /// Uses `policy` to choose delays and limits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{retry, Fibonacci, Policy};
    ///
    /// # fn main() -> Result<(), steadfast::ConfigError> {
    /// let policy = Policy::builder(Fibonacci::new(Duration::from_millis(10))).max_attempts(8).build()?;
    /// let call = retry(|_| async { Ok::<_, ()>(()) }).with(policy);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with<P2: RetryPolicy>(self, policy: P2) -> Retry<Op, P2, C, H, S, K> {
        Retry {
            operation: self.operation,
            policy,
            classifier: self.classifier,
            hook: self.hook,
            sleeper: self.sleeper,
            clock: self.clock,
            budget: self.budget,
            breaker: self.breaker,
            idempotency: self.idempotency,
        }
    }

    /// Uses `classifier` to judge each attempt's outcome: a [`Classify`] type such as
    /// [`IoErrors`](crate::IoErrors), or a closure over the error type.
    ///
    /// ```
    /// use steadfast::{retry, Decision};
    ///
    /// let call = retry(|_| async { Err::<(), _>(404_u16) })
    ///     .classify(|status: &u16| if *status >= 500 { Decision::Retry } else { Decision::Fail });
    /// ```
    pub fn classify<C2: Classify<Op::Ok, Op::Err>>(
        self,
        classifier: C2,
    ) -> Retry<Op, P, C2, H, S, K> {
        Retry {
            operation: self.operation,
            policy: self.policy,
            classifier,
            hook: self.hook,
            sleeper: self.sleeper,
            clock: self.clock,
            budget: self.budget,
            breaker: self.breaker,
            idempotency: self.idempotency,
        }
    }

    /// Judges each attempt with a closure over the whole outcome, so an `Ok` value can
    /// be retried too.
    ///
    /// ```
    /// use steadfast::{retry, Decision};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // An `Ok(503)` is retried; after the last attempt it is returned as it is.
    /// let status = retry(|_| async { Ok::<u16, std::io::Error>(503) })
    ///     .classify_outcome(|outcome| match outcome {
    ///         Ok(503) | Err(_) => Decision::Retry,
    ///         Ok(_) => Decision::Success,
    ///     })
    ///     .await;
    /// assert_eq!(status.unwrap(), 503);
    /// # }
    /// ```
    pub fn classify_outcome<F>(self, judge: F) -> Retry<Op, P, ClassifyOutcome<F>, H, S, K>
    where
        F: Fn(&Result<Op::Ok, Op::Err>) -> Decision,
    {
        self.classify(ClassifyOutcome::new(judge))
    }

    /// Calls `hook` before each retry with the failed attempt, the delay and the error.
    ///
    /// ```
    /// use steadfast::retry;
    ///
    /// let call = retry(|_| async { Err::<(), _>("busy") })
    ///     .on_retry(|event| eprintln!("attempt {} failed, retrying in {:?}", event.attempt, event.delay));
    /// ```
    pub fn on_retry<H2>(self, hook: H2) -> Retry<Op, P, C, H2, S, K>
    where
        H2: FnMut(&RetryEvent<'_, Op::Ok, Op::Err>),
    {
        self.hook(hook)
    }

    /// Calls an [`OnRetry`] hook before each retry; [`on_retry`](Self::on_retry) is the
    /// shorthand for closures.
    ///
    /// ```
    /// let call = steadfast::retry(|_| async { Ok::<_, ()>(()) }).hook(());
    /// ```
    pub fn hook<H2: OnRetry<Op::Ok, Op::Err>>(self, hook: H2) -> Retry<Op, P, C, H2, S, K> {
        Retry {
            operation: self.operation,
            policy: self.policy,
            classifier: self.classifier,
            hook,
            sleeper: self.sleeper,
            clock: self.clock,
            budget: self.budget,
            breaker: self.breaker,
            idempotency: self.idempotency,
        }
    }

    /// Shares `budget` with every other call that uses it: the first attempt deposits,
    /// each retry withdraws before it sleeps, and when the budget is empty the call
    /// stops with [`StopReason::BudgetExhausted`](crate::StopReason::BudgetExhausted)
    /// and its last error. (A rejected `Ok` value is returned as it is.)
    ///
    /// ```
    /// use steadfast::{retry, RetryBudget, StopReason};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), steadfast::ConfigError> {
    /// let budget = RetryBudget::token_bucket(1.0, 1.0).build()?;
    /// let err = retry(|_| async { Err::<(), _>("down") }).budget(&budget).await.unwrap_err();
    /// assert_eq!(err.reason(), StopReason::BudgetExhausted);
    /// assert_eq!(err.attempts(), 2); // one retry was in the budget
    /// # Ok(())
    /// # }
    /// ```
    pub fn budget(mut self, budget: &RetryBudget) -> Self {
        self.budget = Some(budget.clone());
        self
    }

    /// Puts every attempt through `breaker`: each asks for admission, and its outcome
    /// is recorded (only transient failures and timeouts count as failures). When the
    /// breaker refuses, the call waits for its next probe if the policy's deadline
    /// leaves time for that, and otherwise stops at once with
    /// [`StopReason::BreakerOpen`](crate::StopReason::BreakerOpen) and its last error.
    /// Without a deadline it never waits.
    ///
    /// ```
    /// use steadfast::{retry, CircuitBreaker, StopReason};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), steadfast::ConfigError> {
    /// let breaker = CircuitBreaker::builder().consecutive_failures(2).build()?;
    /// let err = retry(|_| async { Err::<(), _>("refused") }).breaker(&breaker).await.unwrap_err();
    /// assert!(matches!(err.reason(), StopReason::BreakerOpen { .. }));
    /// assert_eq!(err.attempts(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.breaker = Some(breaker.clone());
        self
    }

    /// Declares whether the operation is safe to repeat. Default:
    /// [`Idempotency::Idempotent`]. See [`Idempotency`] for what each retries.
    ///
    /// ```
    /// use steadfast::{retry, Idempotency};
    ///
    /// // Every attempt sends the call's key, so the server applies the order once.
    /// let call = retry(|attempt| async move {
    ///     let key = attempt.idempotency_key();
    ///     Ok::<_, ()>(format!("POST /orders with Idempotency-Key: \"{key}\""))
    /// })
    /// .idempotency(Idempotency::Keyed);
    /// ```
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = idempotency;
        self
    }

    /// Waits on `sleeper`'s timers instead of the default.
    ///
    /// ```
    /// let call = steadfast::retry(|_| async { Ok::<_, ()>(()) }).sleeper(steadfast::TokioSleeper);
    /// ```
    pub fn sleeper<S2: Sleeper>(self, sleeper: S2) -> Retry<Op, P, C, H, S2, K> {
        Retry {
            operation: self.operation,
            policy: self.policy,
            classifier: self.classifier,
            hook: self.hook,
            sleeper,
            clock: self.clock,
            budget: self.budget,
            breaker: self.breaker,
            idempotency: self.idempotency,
        }
    }

    /// Reads the time from `clock` instead of the default.
    ///
    /// ```
    /// let call = steadfast::retry(|_| async { Ok::<_, ()>(()) }).clock(steadfast::StdClock);
    /// ```
    pub fn clock<K2: Clock>(self, clock: K2) -> Retry<Op, P, C, H, S, K2> {
        Retry {
            operation: self.operation,
            policy: self.policy,
            classifier: self.classifier,
            hook: self.hook,
            sleeper: self.sleeper,
            clock,
            budget: self.budget,
            breaker: self.breaker,
            idempotency: self.idempotency,
        }
    }
}

impl<Op, P, C, H, S, K> IntoFuture for Retry<Op, P, C, H, S, K>
where
    Op: Operation,
    P: RetryPolicy,
    C: Classify<Op::Ok, Op::Err>,
    H: OnRetry<Op::Ok, Op::Err>,
    S: Sleeper,
    K: Clock,
{
    type Output = Result<Op::Ok, crate::RetryError<Op::Err>>;
    type IntoFuture = RetryFuture<Op, P, C, H, S, K>;

    fn into_future(self) -> Self::IntoFuture {
        RetryFuture::new(self)
    }
}
