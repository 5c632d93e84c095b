//! The call: the entry points [`retry`] and [`retry_with`], and [`Retry`], both the
//! builder that configures a call and the future that runs it, a small state machine
//! over attempts and sleeps that allocates nothing.
//!
//! `poll` is a short driver: it polls the attempt or the timer in flight and moves
//! between states. What a call does next is decided by the plain functions of
//! [`Call`](crate::call::Call).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::attempt::Attempt;
use crate::breaker::{CallOutcome, CircuitBreaker, Permit};
use crate::budget::RetryBudget;
use crate::call::{Call, Ending, IMMEDIATE_RETRIES_PER_POLL, Limit, Next};
use crate::classify::{Classify, ClassifyOutcome, Decision, RetryAnyError};
use crate::clock::{Clock, DefaultClock};
use crate::error::{AttemptError, RetryError, StopReason};
use crate::finished::Finished;
use crate::hook::{Failure, OnRetry, RetryEvent};
use crate::idempotency::Idempotency;
#[cfg(feature = "metrics")]
use crate::meter::RetryMetrics;
use crate::operation::{Operation, Stateful, Stateless};
use crate::policy::{Policy, RetryPolicy};
use crate::sleep::{DefaultSleeper, Sleeper};
use crate::throttle::AdaptiveThrottle;

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
pub fn retry<F, Fut, T, E>(operation: F) -> Retry<'static, Stateless<F>>
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
pub fn retry_with<S, F, Fut, T, E>(state: S, operation: F) -> Retry<'static, Stateful<S, F>>
where
    F: FnMut(S, Attempt) -> Fut,
    Fut: Future<Output = (S, Result<T, E>)>,
{
    Retry::new(Stateful {
        state: Some(state),
        operation,
    })
}

pin_project! {
    /// A call: configure it with the methods below, then await it, spawn it, or use it
    /// anywhere a future is expected (`select!`, `join!`, `.instrument(span)`).
    ///
    /// Each method replaces one part and keeps the rest. Nothing runs until the first
    /// poll; the call then holds the operation, the policy and at most one attempt or
    /// one timer, inline: running it allocates nothing.
    ///
    /// # Cancellation
    ///
    /// Dropping the call drops the attempt or timer in flight, and with it any breaker
    /// probe it held; no further attempt starts.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics, like most futures.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{retry, Decision, Policy};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let call = retry(|attempt| async move {
    ///         if attempt.number() == 1 { Err("warming up") } else { Ok(7) }
    ///     })
    ///     .with(Policy::default())
    ///     .when(|e| if *e == "warming up" { Decision::Retry } else { Decision::Fail })
    ///     .on_retry(|event| println!("retry in {:?}", event.delay));
    /// // A call is a future: spawn it as it is.
    /// let value = tokio::spawn(call).await.unwrap();
    /// assert_eq!(value.unwrap(), 7);
    /// # }
    /// ```
    #[must_use = "a call does nothing until it is awaited or polled"]
    pub struct Retry<'a, Op, P = Policy, C = RetryAnyError, H = (), S = DefaultSleeper, K = DefaultClock>
    where
        Op: Operation,
        S: Sleeper,
    {
        parts: Parts<'a, Op, P, C, H, S, K>,
        // One timer slot, for the attempt timeout and for the sleep between attempts:
        // apart from the state so that starting an attempt moves only the attempt.
        #[pin]
        timer: Option<S::Sleep>,
        #[pin]
        state: State<Op::Future, Op::Ok, Op::Err>,
    }
}

/// The configuration of a call, and the rules' state once it runs.
struct Parts<'a, Op, P, C, H, S, K> {
    operation: Op,
    policy: P,
    classifier: C,
    hook: H,
    sleeper: S,
    clock: K,
    budget: Option<Shared<'a, RetryBudget>>,
    breaker: Option<Shared<'a, CircuitBreaker>>,
    throttle: Option<Shared<'a, AdaptiveThrottle>>,
    #[cfg(feature = "metrics")]
    metrics: Option<Shared<'a, RetryMetrics>>,
    idempotency: Idempotency,
    call: Option<Call>,
}

/// A breaker or budget as a call holds it: borrowed from the caller, so that a call
/// touches no reference count (a shared write on every call, contended by every
/// thread), or owned, for the tower layer's calls, which must be `'static`.
enum Shared<'a, T> {
    Borrowed(&'a T),
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    Owned(T),
}

impl<T> std::ops::Deref for Shared<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Self::Borrowed(shared) => shared,
            Self::Owned(shared) => shared,
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, V, E> {
        Idle,
        // An attempt in flight, bounded by the timer if `limit` is set.
        Running {
            #[pin]
            attempt: F,
            limit: Limit,
            // Admission for the attempt in flight; dropping the call gives it back.
            permit: Option<Permit>,
        },
        // Waiting on the timer before the next attempt; `last` is the outcome that led
        // here, kept in case the call ends before another attempt starts.
        Sleeping {
            last: Option<Ended<V, E>>,
        },
        // The next attempt starts at the next poll: the call yielded to the scheduler
        // after a run of immediate retries.
        Yielded {
            last: Option<Ended<V, E>>,
        },
        Done,
    }
}

/// How an attempt ended.
#[derive(Debug)]
enum Ended<T, E> {
    Finished(Result<T, E>),
    TimedOut(Limit),
}

/// What the driver does after a step.
enum Flow<T, E> {
    /// Poll the new state.
    Continue,
    /// Start the next attempt after `delay` (zero: at once).
    Retry(Duration, Ended<T, E>),
    /// The call is over. The answer is built only where `poll` returns it: moving a
    /// finished `Result` through an intermediate value costs a store-forwarding stall
    /// on every call.
    Done(Stop<T, E>),
}

/// How a call ended: its last outcome, why retrying stopped (`None` when the classifier
/// accepted the outcome), and how many attempts ran.
struct Stop<T, E> {
    last: Option<Ended<T, E>>,
    reason: Option<StopReason>,
    attempts: u32,
}

impl<T, E> Flow<T, E> {
    #[inline]
    fn stop(last: Option<Ended<T, E>>, reason: StopReason, attempts: u32) -> Self {
        Self::Done(Stop {
            last,
            reason: Some(reason),
            attempts,
        })
    }
}

impl<Op: Operation> Retry<'static, Op> {
    /// A call of `operation` with every setting at its default; [`retry`](crate::retry)
    /// and [`retry_with`](crate::retry_with) are the usual way in.
    ///
    /// ```
    /// use steadfast::{retry, Retry};
    /// let call = retry(|_| async { Ok::<_, ()>(1) });
    /// ```
    #[inline]
    pub fn new(operation: Op) -> Self {
        Self::from_parts(Parts {
            operation,
            policy: Policy::default(),
            classifier: RetryAnyError,
            hook: (),
            sleeper: DefaultSleeper::default(),
            clock: DefaultClock::default(),
            budget: None,
            breaker: None,
            throttle: None,
            #[cfg(feature = "metrics")]
            metrics: None,
            idempotency: Idempotency::Idempotent,
            call: None,
        })
    }
}

/// Moves every part of a call into a new one with one part replaced.
macro_rules! replace {
    ($call:expr, $field:ident: $value:expr) => {{
        let parts = $call.parts;
        Retry::from_parts(Parts {
            operation: parts.operation,
            policy: pick!($field, policy, $value, parts),
            classifier: pick!($field, classifier, $value, parts),
            hook: pick!($field, hook, $value, parts),
            sleeper: pick!($field, sleeper, $value, parts),
            clock: pick!($field, clock, $value, parts),
            budget: parts.budget,
            breaker: parts.breaker,
            throttle: parts.throttle,
            #[cfg(feature = "metrics")]
            metrics: parts.metrics,
            idempotency: parts.idempotency,
            call: None,
        })
    }};
}

/// The new value for the replaced field, the old one for the others.
macro_rules! pick {
    (policy, policy, $value:expr, $parts:ident) => {
        $value
    };
    (classifier, classifier, $value:expr, $parts:ident) => {
        $value
    };
    (hook, hook, $value:expr, $parts:ident) => {
        $value
    };
    (sleeper, sleeper, $value:expr, $parts:ident) => {
        $value
    };
    (clock, clock, $value:expr, $parts:ident) => {
        $value
    };
    ($replaced:ident, $field:ident, $value:expr, $parts:ident) => {
        $parts.$field
    };
}

impl<'a, Op: Operation, P, C, H, S: Sleeper, K> Retry<'a, Op, P, C, H, S, K> {
    #[inline]
    fn from_parts(parts: Parts<'a, Op, P, C, H, S, K>) -> Self {
        Self {
            parts,
            timer: None,
            state: State::Idle,
        }
    }

    /// A call with every part given: the tower layer's way in.
    #[cfg(feature = "tower")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn configured(
        operation: Op,
        policy: P,
        classifier: C,
        hook: H,
        sleeper: S,
        clock: K,
        shared: (
            Option<RetryBudget>,
            Option<CircuitBreaker>,
            Option<AdaptiveThrottle>,
        ),
        idempotency: Idempotency,
    ) -> Self {
        Self::from_parts(Parts {
            operation,
            policy,
            classifier,
            hook,
            sleeper,
            clock,
            budget: shared.0.map(Shared::Owned),
            breaker: shared.1.map(Shared::Owned),
            throttle: shared.2.map(Shared::Owned),
            #[cfg(feature = "metrics")]
            metrics: None,
            idempotency,
            call: None,
        })
    }

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
    #[inline]
    pub fn with<P2: RetryPolicy>(self, policy: P2) -> Retry<'a, Op, P2, C, H, S, K> {
        replace!(self, policy: policy)
    }

    /// Uses `classifier` to judge each attempt's outcome: a [`Classify`] type such as
    /// [`IoErrors`](crate::IoErrors). For a closure over the error, [`when`](Self::when)
    /// infers its argument's type.
    ///
    /// ```
    /// use steadfast::{retry, IoErrors};
    ///
    /// let call = retry(|_| async { Err::<(), _>(std::io::Error::other("reset")) }).classify(IoErrors);
    /// ```
    #[inline]
    pub fn classify<C2: Classify<Op::Ok, Op::Err>>(
        self,
        classifier: C2,
    ) -> Retry<'a, Op, P, C2, H, S, K> {
        replace!(self, classifier: classifier)
    }

    /// Judges each failed attempt with a closure over its error; an `Ok` value is a
    /// success.
    ///
    /// ```
    /// use steadfast::{retry, Decision};
    ///
    /// let call = retry(|_| async { Err::<(), _>(404_u16) })
    ///     .when(|status| if *status >= 500 { Decision::Retry } else { Decision::Fail });
    /// ```
    #[inline]
    pub fn when<F>(self, judge: F) -> Retry<'a, Op, P, F, H, S, K>
    where
        F: Fn(&Op::Err) -> Decision,
    {
        replace!(self, classifier: judge)
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
    #[inline]
    pub fn classify_outcome<F>(
        self,
        judge: F,
    ) -> Retry<'a, Op, P, impl Classify<Op::Ok, Op::Err>, H, S, K>
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
    #[inline]
    pub fn on_retry<H2>(self, hook: H2) -> Retry<'a, Op, P, C, H2, S, K>
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
    #[inline]
    pub fn hook<H2: OnRetry<Op::Ok, Op::Err>>(self, hook: H2) -> Retry<'a, Op, P, C, H2, S, K> {
        replace!(self, hook: hook)
    }

    /// Shares `budget` with every other call that uses it. The call borrows it, so that
    /// it touches no reference count (a write that every thread's calls would contend
    /// on); a spawned call moves a clone of the budget into its task and borrows that.
    ///
    /// The first attempt deposits,
    /// each retry withdraws before it sleeps, and when the budget is empty the call
    /// stops with [`StopReason::BudgetExhausted`] and its last error. (A rejected `Ok`
    /// value is returned as it is.)
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
    #[inline]
    pub fn budget<'b>(self, budget: &'b RetryBudget) -> Retry<'b, Op, P, C, H, S, K>
    where
        'a: 'b,
    {
        // Covariance shortens the call's lifetime in place: nothing moves.
        let mut call: Retry<'b, Op, P, C, H, S, K> = self;
        call.parts.budget = Some(Shared::Borrowed(budget));
        call
    }

    /// Puts every attempt through `breaker`: each asks for admission, and its outcome
    /// is recorded (only transient failures and timeouts count as failures). The call
    /// borrows the breaker, like [`budget`](Self::budget), so that it touches no
    /// reference count.
    ///
    /// When the breaker refuses, a call with a deadline waits and asks again if the
    /// deadline leaves time: for an open breaker, until its next probe (plus up to a
    /// quarter more, so waiters do not stampede); for a half-open one whose probes are
    /// all out, as long as its backoff. A call without a deadline, or whose wait would
    /// end past it, stops at once with [`StopReason::BreakerOpen`] or
    /// [`StopReason::BreakerHalfOpen`] and its last error.
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
    #[inline]
    pub fn breaker<'b>(self, breaker: &'b CircuitBreaker) -> Retry<'b, Op, P, C, H, S, K>
    where
        'a: 'b,
    {
        // Covariance shortens the call's lifetime in place: nothing moves.
        let mut call: Retry<'b, Op, P, C, H, S, K> = self;
        call.parts.breaker = Some(Shared::Borrowed(breaker));
        call
    }

    /// Puts every attempt through `throttle`, adaptive client-side throttling: each
    /// attempt, the first included, asks for admission before it is sent, and its
    /// outcome is recorded (a transient failure or a timeout is a refusal; any other
    /// answer, even a permanent error, an accept). An attempt the throttle rejects
    /// ends the call with [`StopReason::ThrottledLocally`] and the last error, if any:
    /// nothing was sent, so no breaker counts it. The call borrows the throttle, like
    /// [`budget`](Self::budget).
    ///
    /// ```
    /// use steadfast::{retry, AdaptiveThrottle, StopReason};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let throttle = AdaptiveThrottle::builder().seed(3).build().unwrap();
    /// let mut throttled = 0;
    /// for _ in 0..100 {
    ///     let err = retry(|_| async { Err::<(), _>("overloaded") })
    ///         .throttle(&throttle)
    ///         .await
    ///         .unwrap_err();
    ///     if err.reason() == StopReason::ThrottledLocally {
    ///         throttled += 1;
    ///     }
    /// }
    /// // The dependency refused everything: most calls never left the client.
    /// assert!(throttled > 75, "{throttled}");
    /// # }
    /// ```
    #[inline]
    pub fn throttle<'b>(self, throttle: &'b AdaptiveThrottle) -> Retry<'b, Op, P, C, H, S, K>
    where
        'a: 'b,
    {
        // Covariance shortens the call's lifetime in place: nothing moves.
        let mut call: Retry<'b, Op, P, C, H, S, K> = self;
        call.parts.throttle = Some(Shared::Borrowed(throttle));
        call
    }

    /// Records the call in `metrics`: its attempts, retries, how it ended and how many
    /// attempts it made (see [`RetryMetrics`] for the names). Like
    /// [`budget`](Self::budget), the call borrows it.
    ///
    /// ```
    /// use steadfast::{retry, RetryMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let metrics = RetryMetrics::new("inventory");
    /// let value = retry(|_| async { Ok::<_, std::io::Error>(3) }).metrics(&metrics).await;
    /// assert_eq!(value.unwrap(), 3);
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    #[inline]
    pub fn metrics<'b>(self, metrics: &'b RetryMetrics) -> Retry<'b, Op, P, C, H, S, K>
    where
        'a: 'b,
    {
        // Covariance shortens the call's lifetime in place: nothing moves.
        let mut call: Retry<'b, Op, P, C, H, S, K> = self;
        call.parts.metrics = Some(Shared::Borrowed(metrics));
        call
    }

    /// Records the tower layer's metrics, which the call owns.
    #[cfg(all(feature = "tower", feature = "metrics"))]
    pub(crate) fn owned_metrics(mut self, metrics: Option<RetryMetrics>) -> Self {
        self.parts.metrics = metrics.map(Shared::Owned);
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
    ///     Ok::<_, std::io::Error>(format!("POST /orders with Idempotency-Key: \"{key}\""))
    /// })
    /// .idempotency(Idempotency::Keyed);
    /// ```
    #[inline]
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.parts.idempotency = idempotency;
        self
    }

    /// Waits on `sleeper`'s timers instead of the default.
    ///
    /// ```
    /// let call = steadfast::retry(|_| async { Ok::<_, ()>(()) }).sleeper(steadfast::TokioSleeper);
    /// ```
    #[inline]
    pub fn sleeper<S2: Sleeper>(self, sleeper: S2) -> Retry<'a, Op, P, C, H, S2, K> {
        replace!(self, sleeper: sleeper)
    }

    /// Reads the time from `clock` instead of the default.
    ///
    /// ```
    /// let call = steadfast::retry(|_| async { Ok::<_, ()>(()) }).clock(steadfast::StdClock);
    /// ```
    #[inline]
    pub fn clock<K2: Clock>(self, clock: K2) -> Retry<'a, Op, P, C, H, S, K2> {
        replace!(self, clock: clock)
    }

    /// Makes the call answer with a [`Finished`] value, which says how many attempts
    /// ran and why retrying stopped when it stopped on a value the classifier
    /// rejected (an `Ok` HTTP 503 after the last attempt, say). Errors are unchanged:
    /// a [`RetryError`] already says both.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let finished = steadfast::retry(|_| async { Ok::<_, std::io::Error>("fine") })
    ///     .report()
    ///     .await
    ///     .unwrap();
    /// assert_eq!((finished.attempts(), finished.stopped()), (1, None));
    /// # }
    /// ```
    #[inline]
    pub fn report(self) -> Report<'a, Op, P, C, H, S, K> {
        Report { call: self }
    }
}

pin_project! {
    /// A call that answers with a [`Finished`] value; made by [`Retry::report`].
    ///
    /// ```
    /// let call: steadfast::Report<'_, _> = steadfast::retry(|_| async { Ok::<_, std::io::Error>(()) }).report();
    /// ```
    #[must_use = "a call does nothing until it is awaited or polled"]
    pub struct Report<'a, Op, P = Policy, C = RetryAnyError, H = (), S = DefaultSleeper, K = DefaultClock>
    where
        Op: Operation,
        S: Sleeper,
    {
        #[pin]
        call: Retry<'a, Op, P, C, H, S, K>,
    }
}

impl<Op, P, C, H, S, K> Future for Report<'_, Op, P, C, H, S, K>
where
    Op: Operation<Err: fmt::Display>,
    P: RetryPolicy,
    C: Classify<Op::Ok, Op::Err>,
    H: OnRetry<Op::Ok, Op::Err>,
    S: Sleeper<Sleep: Future<Output = ()>>,
    K: Clock,
{
    type Output = Result<Finished<Op::Ok>, RetryError<Op::Err>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll_stop(cx).map(Stop::into_report)
    }
}

impl<Op, P, C, H, S, K> fmt::Debug for Report<'_, Op, P, C, H, S, K>
where
    Op: Operation,
    S: Sleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report").field("call", &self.call).finish()
    }
}

impl<Op, P, C, H, S, K> Future for Retry<'_, Op, P, C, H, S, K>
where
    Op: Operation<Err: fmt::Display>,
    P: RetryPolicy,
    C: Classify<Op::Ok, Op::Err>,
    H: OnRetry<Op::Ok, Op::Err>,
    S: Sleeper<Sleep: Future<Output = ()>>,
    K: Clock,
{
    type Output = Result<Op::Ok, RetryError<Op::Err>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_stop(cx).map(Stop::into_result)
    }
}

impl<Op, P, C, H, S, K> Retry<'_, Op, P, C, H, S, K>
where
    Op: Operation<Err: fmt::Display>,
    P: RetryPolicy,
    C: Classify<Op::Ok, Op::Err>,
    H: OnRetry<Op::Ok, Op::Err>,
    S: Sleeper<Sleep: Future<Output = ()>>,
    K: Clock,
{
    /// Runs the call until it stops: `poll` and [`Report`] each shape the answer.
    #[inline(always)]
    fn poll_stop(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Stop<Op::Ok, Op::Err>> {
        let this = self.project();
        let (parts, mut timer, mut state) = (this.parts, this.timer, this.state);
        let mut immediate = 0_u32;
        loop {
            let mut flow = match state.as_mut().project() {
                StateProj::Idle => parts.admit(None, timer.as_mut(), state.as_mut()),
                StateProj::Running {
                    attempt,
                    limit,
                    permit,
                } => {
                    let ended = match attempt.poll(cx) {
                        Poll::Ready(output) => Ended::Finished(parts.operation.finish(output)),
                        Poll::Pending => {
                            if !limit.is_some() {
                                return Poll::Pending;
                            }
                            // `admit` armed the timer with the limit: the slot is
                            // empty only if that invariant broke, and then the
                            // attempt counts as timed out rather than hang.
                            if let Some(timer) = timer.as_mut().as_pin_mut() {
                                ready!(timer.poll(cx));
                            }
                            Ended::TimedOut(*limit)
                        }
                    };
                    let permit = permit.take();
                    if limit.is_some() {
                        timer.set(None);
                    }
                    parts.judge(ended, permit)
                }
                StateProj::Sleeping { last } => {
                    if let Some(sleep) = timer.as_mut().as_pin_mut() {
                        ready!(sleep.poll(cx));
                    }
                    timer.set(None);
                    let last = last.take();
                    parts.admit(last, timer.as_mut(), state.as_mut())
                }
                StateProj::Yielded { last } => {
                    let last = last.take();
                    parts.admit(last, timer.as_mut(), state.as_mut())
                }
                // Misuse by the caller, not a configuration: the contract of `Future`.
                #[allow(clippy::panic)]
                StateProj::Done => panic!("`Retry` polled after completion"),
            };
            loop {
                match flow {
                    Flow::Continue => break,
                    Flow::Retry(delay, last) if delay.is_zero() => {
                        // A zero delay retries without arming a timer (which would cost
                        // a whole timer tick), but only so many times in one poll.
                        immediate = immediate.saturating_add(1);
                        if immediate >= IMMEDIATE_RETRIES_PER_POLL {
                            state.set(State::Yielded { last: Some(last) });
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        flow = parts.admit(Some(last), timer.as_mut(), state.as_mut());
                    }
                    Flow::Retry(delay, last) => {
                        timer.set(Some(parts.sleeper.sleep(delay)));
                        state.set(State::Sleeping { last: Some(last) });
                        break;
                    }
                    Flow::Done(stop) => {
                        state.set(State::Done);
                        #[cfg(feature = "metrics")]
                        if let Some(metrics) = &parts.metrics {
                            metrics.finished(stop.reason, stop.attempts);
                        }
                        // A first-try success logs nothing, and takes no reference to
                        // the answer: one would make it go through memory, which
                        // costs a store-forwarding stall on every call.
                        if stop.reason.is_some() || stop.attempts > 1 {
                            parts.log_stop(&stop);
                        }
                        return Poll::Ready(stop);
                    }
                }
            }
        }
    }
}

impl<Op, P, C, H, S, K> Parts<'_, Op, P, C, H, S, K>
where
    Op: Operation<Err: fmt::Display>,
    P: RetryPolicy,
    C: Classify<Op::Ok, Op::Err>,
    H: OnRetry<Op::Ok, Op::Err>,
    S: Sleeper<Sleep: Future<Output = ()>>,
    K: Clock,
{
    /// Admits the next attempt (the first, when `last` is `None`) and starts it, or
    /// waits for the breaker, or ends the call.
    #[inline(always)]
    fn admit(
        &mut self,
        last: Option<Ended<Op::Ok, Op::Err>>,
        mut timer: Pin<&mut Option<S::Sleep>>,
        mut state: Pin<&mut State<Op::Future, Op::Ok, Op::Err>>,
    ) -> Flow<Op::Ok, Op::Err> {
        let (call, elapsed) = match &mut self.call {
            Some(call) => {
                let elapsed = call.elapsed(&self.clock);
                (call, elapsed)
            }
            call @ None => {
                if let Some(budget) = &self.budget {
                    budget.deposit();
                }
                // The clock, if the call needs one, starts now: no second reading.
                (
                    call.insert(Call::begin(&self.policy, &self.clock)),
                    Duration::ZERO,
                )
            }
        };
        if let Err(reason) = Call::may_start(&self.policy, elapsed) {
            return Flow::stop(last, reason, call.attempts());
        }
        if let Some(throttle) = &self.throttle {
            if throttle.try_admit().is_err() {
                return Flow::stop(last, StopReason::ThrottledLocally, call.attempts());
            }
        }
        let permit = match self.breaker.as_deref().map(CircuitBreaker::try_acquire) {
            None => None,
            Some(Ok(permit)) => Some(permit),
            Some(Err(rejected)) => {
                return match call.refused(&mut self.policy, elapsed, rejected) {
                    Ok(wait) => {
                        tracing::debug!(
                            wait_ms = wait.as_millis() as u64,
                            state = %rejected.state(),
                            "circuit breaker refused; waiting to ask again"
                        );
                        call.start_clock(&self.clock);
                        timer.set(Some(self.sleeper.sleep(wait)));
                        state.set(State::Sleeping { last });
                        Flow::Continue
                    }
                    Err(reason) => Flow::stop(last, reason, call.attempts()),
                };
            }
        };
        let attempts = call.attempts();
        let Some(attempt) = self.operation.start(call.next_attempt(elapsed)) else {
            return Flow::stop(last, StopReason::StateLost, attempts);
        };
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.attempt();
        }
        let limit = Call::limit(&self.policy, elapsed);
        if limit.is_some() {
            timer.set(Some(self.sleeper.sleep(limit.after())));
        }
        state.set(State::Running {
            attempt,
            limit,
            permit,
        });
        Flow::Continue
    }

    /// Judges the attempt that just ended and decides what follows.
    #[inline(always)]
    fn judge(
        &mut self,
        ended: Ended<Op::Ok, Op::Err>,
        permit: Option<Permit>,
    ) -> Flow<Op::Ok, Op::Err> {
        let (decision, ending) = match &ended {
            Ended::Finished(outcome) => {
                let decision = self.classifier.classify(outcome);
                (decision, Ending::Finished(decision))
            }
            Ended::TimedOut(limit) => {
                tracing::debug!(
                    timeout_ms = limit.after().as_millis() as u64,
                    "attempt timed out"
                );
                (Decision::Retry, Ending::TimedOut(*limit))
            }
        };
        if let (Some(breaker), Some(permit)) = (&self.breaker, permit) {
            breaker.record(permit, CallOutcome::from_decision(decision));
        }
        if let Some(throttle) = &self.throttle {
            throttle.record(CallOutcome::from_decision(decision));
        }
        // Invariant: `admit` made the call before the first attempt could end.
        let Some(call) = &mut self.call else {
            return Flow::stop(Some(ended), StopReason::StateLost, 0);
        };
        let attempts = call.attempts();
        let can_start = self.operation.can_start(crate::operation::Token);
        // The clock is read only if a retry needs the time.
        let (clock, started) = (&self.clock, *call);
        let (delay, cause, elapsed) = match call.after(
            &mut self.policy,
            self.idempotency,
            ending,
            can_start,
            || started.elapsed(clock),
        ) {
            Next::Finish => {
                return Flow::Done(Stop {
                    last: Some(ended),
                    reason: (decision != Decision::Success).then_some(StopReason::Permanent),
                    attempts,
                });
            }
            Next::Stop(reason) => return Flow::stop(Some(ended), reason, attempts),
            Next::Retry {
                delay,
                cause,
                elapsed,
            } => (delay, cause, elapsed),
        };
        if let Some(budget) = &self.budget {
            if !budget.try_withdraw(cause) {
                return Flow::stop(Some(ended), StopReason::BudgetExhausted, attempts);
            }
        }
        if !delay.is_zero() {
            call.start_clock(&self.clock);
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.retry(cause);
        }
        tracing::debug!(
            attempt = attempts,
            delay_ms = delay.as_millis() as u64,
            decision = ?decision,
            failure = %Described(&self.classifier, &ended),
            "retrying"
        );
        self.hook.on_retry(&RetryEvent {
            attempt: attempts,
            delay,
            elapsed,
            failure: match &ended {
                Ended::Finished(Ok(value)) => Failure::Rejected(value),
                Ended::Finished(Err(error)) => Failure::Error(error),
                Ended::TimedOut(limit) => Failure::TimedOut(limit.after()),
            },
            decision,
        });
        Flow::Retry(delay, ended)
    }
}

impl<T, E> Stop<T, E> {
    /// The call's final answer. A value the classifier rejected is still the caller's
    /// to inspect, so it comes back as `Ok`.
    #[inline]
    fn into_result(self) -> Result<T, RetryError<E>> {
        let reason = self.reason.unwrap_or(StopReason::Permanent);
        let failure = match self.last {
            Some(Ended::Finished(Ok(value))) => return Ok(value),
            Some(Ended::Finished(Err(error))) => Some(AttemptError::Operation(error)),
            Some(Ended::TimedOut(limit)) => Some(AttemptError::TimedOut(limit.after())),
            None => None,
        };
        Err(RetryError::new(reason, self.attempts, failure))
    }

    /// The final answer with the value's story: why retrying stopped on it, if it did.
    #[inline]
    fn into_report(self) -> Result<Finished<T>, RetryError<E>> {
        let (attempts, stopped) = (self.attempts, self.reason);
        self.into_result().map(|value| Finished {
            value,
            attempts,
            stopped,
        })
    }
}

impl<Op, P, C, H, S, K> Parts<'_, Op, P, C, H, S, K>
where
    Op: Operation<Err: fmt::Display>,
    C: Classify<Op::Ok, Op::Err>,
{
    /// The call's last log line. Giving up on a failure that retrying might have fixed
    /// is a `warn`: the dependency stayed down longer than the policy could absorb. A
    /// permanent failure is the caller's to report, and a success after retrying is the
    /// crate doing its job, so both are `debug`.
    #[cold]
    #[inline(never)]
    fn log_stop(&self, stop: &Stop<Op::Ok, Op::Err>) {
        let attempts = stop.attempts;
        match (stop.reason, &stop.last) {
            (None, _) if attempts > 1 => tracing::debug!(attempts, "succeeded after retrying"),
            (None, _) => {}
            (Some(StopReason::Permanent), Some(last)) => tracing::debug!(
                attempts,
                failure = %Described(&self.classifier, last),
                "failed permanently"
            ),
            (Some(reason), Some(last)) => tracing::warn!(
                attempts,
                reason = %reason,
                failure = %Described(&self.classifier, last),
                "gave up retrying"
            ),
            (Some(reason), None) => tracing::warn!(attempts, reason = %reason, "gave up retrying"),
        }
    }
}

/// An attempt's outcome, for a log line: your error's `Display`, what the classifier
/// says of a value it rejected (the status of an HTTP response), or the timeout.
struct Described<'a, C, T, E>(&'a C, &'a Ended<T, E>);

impl<C: Classify<T, E>, T, E: fmt::Display> fmt::Display for Described<'_, C, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Ended::Finished(Ok(value)) => self.0.describe_rejected(value, f),
            Ended::Finished(Err(error)) => error.fmt(f),
            Ended::TimedOut(limit) => write!(f, "attempt timed out after {:?}", limit.after()),
        }
    }
}

impl<Op, P, C, H, S, K> fmt::Debug for Retry<'_, Op, P, C, H, S, K>
where
    Op: Operation,
    S: Sleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::Running { .. } => "running",
            State::Sleeping { .. } => "sleeping",
            State::Yielded { .. } => "yielded",
            State::Done => "done",
        };
        f.debug_struct("Retry")
            .field("state", &state)
            .field(
                "attempts",
                &self.parts.call.as_ref().map_or(0, Call::attempts),
            )
            .field("idempotency", &self.parts.idempotency)
            .field("budget", &self.parts.budget.is_some())
            .field("breaker", &self.parts.breaker.is_some())
            .finish_non_exhaustive()
    }
}
