//! The future that runs a call: a small state machine over attempts and sleeps.
//!
//! ```
//! use std::future::IntoFuture;
//! use steadfast::future::RetryFuture;
//!
//! // The future of a call can be named, stored and spawned.
//! let future = steadfast::retry(|_| async { Ok::<_, ()>(()) }).into_future();
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::retry::{Operation, Retry};
use crate::schedule::{self, Next, Verdict};
use crate::{
    Attempt, AttemptError, CallOutcome, CircuitBreaker, Classify, Clock, Decision, Failure,
    Idempotency, IdempotencyKey, OnRetry, Permit, RetryBudget, RetryCause, RetryError, RetryEvent,
    RetryPolicy, Sleeper, StopReason,
};

pin_project! {
    /// A call in progress: the future of an awaited [`Retry`].
    ///
    /// It holds the operation, the policy and at most one attempt or one timer, inline:
    /// running it allocates nothing.
    ///
    /// # Cancellation
    ///
    /// Dropping it drops the attempt or timer in flight; no further attempt starts.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics, like most futures.
    ///
    /// ```
    /// use std::future::IntoFuture;
    /// use steadfast::{retry, RetryFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let future = retry(|_| async { Ok::<_, ()>(5) }).into_future();
    /// let handle = tokio::spawn(future);
    /// assert_eq!(handle.await.unwrap().unwrap(), 5);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RetryFuture<Op, P, C, H, S, K>
    where
        Op: Operation,
        S: Sleeper,
    {
        operation: Op,
        policy: P,
        classifier: C,
        hook: H,
        sleeper: S,
        clock: K,
        budget: Option<RetryBudget>,
        breaker: Option<CircuitBreaker>,
        idempotency: Idempotency,
        // Admission for the attempt in flight; dropping the call gives it back.
        permit: Option<Permit>,
        started: Option<Instant>,
        attempts: u32,
        key: IdempotencyKey,
        // The outcome of the last attempt, kept through the sleep that follows it in
        // case the call ends before the next attempt starts.
        last: Option<Ended<Op::Ok, Op::Err>>,
        #[pin]
        state: State<Op::Future, S::Sleep>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, T> {
        Idle,
        Running {
            #[pin]
            attempt: F,
            #[pin]
            timer: Option<T>,
            limit: Duration,
            limit_is_deadline: bool,
        },
        Sleeping {
            #[pin]
            sleep: T,
        },
        Done,
    }
}

impl<Op, P, C, H, S, K> RetryFuture<Op, P, C, H, S, K>
where
    Op: Operation,
    S: Sleeper,
{
    pub(crate) fn new(call: Retry<Op, P, C, H, S, K>) -> Self {
        Self {
            operation: call.operation,
            policy: call.policy,
            classifier: call.classifier,
            hook: call.hook,
            sleeper: call.sleeper,
            clock: call.clock,
            budget: call.budget,
            breaker: call.breaker,
            idempotency: call.idempotency,
            permit: None,
            started: None,
            attempts: 0,
            key: IdempotencyKey::from_random_bytes([0; 16]),
            last: None,
            state: State::Idle,
        }
    }
}

/// What woke the call.
enum Step<T, E> {
    /// The call started, or a sleep ended: start the next attempt, this far into the
    /// call.
    Begin(Duration),
    /// An attempt ended.
    Ended(Ended<T, E>),
}

/// How an attempt ended.
#[derive(Debug)]
enum Ended<T, E> {
    Finished(Result<T, E>),
    TimedOut { after: Duration, deadline: bool },
}

/// Starts attempt number `attempts + 1`, with its timer if it has a time limit.
/// Returns `false` if the operation can start no attempt.
fn begin<Op: Operation, S: Sleeper>(
    operation: &mut Op,
    policy: &dyn RetryPolicy,
    sleeper: &S,
    attempts: &mut u32,
    context: (Duration, IdempotencyKey),
    mut state: Pin<&mut State<Op::Future, S::Sleep>>,
) -> bool {
    let (elapsed, key) = context;
    let number = attempts.saturating_add(1);
    let Some(attempt) = operation.start(Attempt::new(number, elapsed, key)) else {
        return false;
    };
    *attempts = number;
    let limit = schedule::attempt_limit(policy, elapsed);
    state.set(State::Running {
        attempt,
        timer: limit.map(|(limit, _)| sleeper.sleep(limit)),
        limit: limit.map_or(Duration::MAX, |(limit, _)| limit),
        limit_is_deadline: limit.is_some_and(|(_, deadline)| deadline),
    });
    true
}

/// Time since the call started, on its clock.
fn elapsed_since(clock: &impl Clock, started: Option<Instant>) -> Duration {
    started.map_or(Duration::ZERO, |started| {
        clock.now().saturating_duration_since(started)
    })
}

/// The call's final answer, from the last attempt's outcome and the reason it stopped.
/// A value the classifier rejected is still the caller's to inspect, so it comes back
/// as `Ok`.
fn conclude<T, E>(
    last: Option<Ended<T, E>>,
    reason: StopReason,
    attempts: u32,
) -> Result<T, RetryError<E>> {
    let failure = match last {
        Some(Ended::Finished(Ok(value))) => {
            // A rejected value ends the call unless it was judged final: say why.
            if reason != StopReason::Permanent {
                tracing::debug!(attempts, reason = %reason, "retry stopped");
            }
            return Ok(value);
        }
        Some(Ended::Finished(Err(error))) => Some(AttemptError::Operation(error)),
        Some(Ended::TimedOut { after, .. }) => Some(AttemptError::TimedOut(after)),
        None => None,
    };
    tracing::debug!(attempts, reason = %reason, "retry stopped");
    Err(RetryError::new(reason, attempts, failure))
}

/// Ends the call: drops whatever attempt or timer is in flight and returns its answer.
macro_rules! finish {
    ($this:ident, $last:expr, $reason:expr, $attempts:expr) => {{
        $this.state.set(State::Done);
        return Poll::Ready(conclude($last, $reason, $attempts));
    }};
}

impl<Op, P, C, H, S, K> Future for RetryFuture<Op, P, C, H, S, K>
where
    Op: Operation,
    P: RetryPolicy,
    C: Classify<Op::Ok, Op::Err>,
    H: OnRetry<Op::Ok, Op::Err>,
    S: Sleeper,
    K: Clock,
{
    type Output = Result<Op::Ok, RetryError<Op::Err>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Set when the next attempt should begin without waiting (after a zero delay).
        let mut begin_now = None;
        loop {
            let step = if let Some(elapsed) = begin_now.take() {
                Step::Begin(elapsed)
            } else {
                match this.state.as_mut().project() {
                    StateProj::Idle => {
                        // The call begins at its first poll: its clock, its key, its seed.
                        *this.key = IdempotencyKey::generate();
                        this.policy.start(this.key.seed());
                        *this.started = Some(this.clock.now());
                        if let Some(budget) = this.budget {
                            budget.deposit();
                        }
                        Step::Begin(Duration::ZERO)
                    }
                    StateProj::Running {
                        attempt,
                        timer,
                        limit,
                        limit_is_deadline,
                    } => match attempt.poll(cx) {
                        Poll::Ready(output) => {
                            Step::Ended(Ended::Finished(this.operation.finish(output)))
                        }
                        Poll::Pending => {
                            let Some(timer) = timer.as_pin_mut() else {
                                return Poll::Pending;
                            };
                            ready!(timer.poll(cx));
                            Step::Ended(Ended::TimedOut {
                                after: *limit,
                                deadline: *limit_is_deadline,
                            })
                        }
                    },
                    StateProj::Sleeping { sleep } => {
                        ready!(sleep.poll(cx));
                        Step::Begin(elapsed_since(this.clock, *this.started))
                    }
                    // Misuse by the caller, not a configuration: the contract of `Future`.
                    #[allow(clippy::panic)]
                    StateProj::Done => panic!("`RetryFuture` polled after completion"),
                }
            };

            let attempts = *this.attempts;

            let ended = match step {
                Step::Begin(elapsed) => {
                    let context = (elapsed, *this.key);
                    // A timer may fire a little late (tokio's fire on whole
                    // milliseconds): an attempt must not start with no time left.
                    let past_deadline = this
                        .policy
                        .max_elapsed()
                        .is_some_and(|deadline| elapsed >= deadline);
                    if past_deadline {
                        finish!(
                            this,
                            this.last.take(),
                            StopReason::DeadlineExceeded,
                            attempts
                        );
                    }
                    if let Some(breaker) = this.breaker {
                        match breaker.try_acquire() {
                            Ok(permit) => *this.permit = Some(permit),
                            Err(rejected) => {
                                let retry_in = rejected.retry_in();
                                // Wait for the next probe only if the deadline leaves
                                // time for it; without a deadline, never.
                                let wait = retry_in.filter(|wait| {
                                    this.policy.max_elapsed().is_some_and(|deadline| {
                                        elapsed.saturating_add(*wait) < deadline
                                    })
                                });
                                let Some(wait) = wait else {
                                    let reason = StopReason::BreakerOpen { retry_in };
                                    finish!(this, this.last.take(), reason, attempts);
                                };
                                tracing::debug!(
                                    wait_ms = wait.as_millis() as u64,
                                    "circuit breaker open; waiting for its next probe"
                                );
                                // At least a millisecond: a breaker whose open spell
                                // just ended answers the next ask, never a busy loop.
                                let sleep = this.sleeper.sleep(wait.max(Duration::from_millis(1)));
                                this.state.set(State::Sleeping { sleep });
                                continue;
                            }
                        }
                    }
                    let started = begin(
                        this.operation,
                        this.policy,
                        this.sleeper,
                        this.attempts,
                        context,
                        this.state.as_mut(),
                    );
                    if !started {
                        finish!(this, this.last.take(), StopReason::StateLost, attempts);
                    }
                    *this.last = None;
                    continue;
                }
                Step::Ended(ended) => ended,
            };

            // Judge the attempt that just ended; a timeout is a transient failure.
            let (last, decision, stop) = match ended {
                Ended::Finished(outcome) => {
                    let decision = this.classifier.classify(&outcome);
                    (Ended::Finished(outcome), decision, None)
                }
                Ended::TimedOut { after, deadline } => {
                    tracing::debug!(
                        attempt = attempts,
                        timeout_ms = after.as_millis() as u64,
                        "attempt timed out"
                    );
                    let stop = if deadline {
                        Some(StopReason::DeadlineExceeded)
                    } else if !this.operation.can_start() {
                        Some(StopReason::StateLost)
                    } else {
                        None
                    };
                    (Ended::TimedOut { after, deadline }, Decision::Retry, stop)
                }
            };
            if let (Some(breaker), Some(permit)) = (this.breaker.as_ref(), this.permit.take()) {
                breaker.record(permit, CallOutcome::from_decision(decision));
            }
            if let Some(reason) = stop {
                finish!(this, Some(last), reason, attempts);
            }

            let hint = match schedule::judge(decision, *this.idempotency) {
                Verdict::Finish => {
                    if attempts > 1 && decision == Decision::Success {
                        tracing::debug!(attempts, "succeeded after retrying");
                    }
                    finish!(this, Some(last), StopReason::Permanent, attempts);
                }
                Verdict::Stop(reason) => finish!(this, Some(last), reason, attempts),
                Verdict::Retry(hint) => hint,
            };

            // Read the clock only now: a call that ends on its first attempt needs it
            // once, at its start.
            let elapsed = elapsed_since(this.clock, *this.started);
            let delay = match schedule::after_failure(this.policy, attempts, elapsed, hint) {
                Next::Retry(delay) => delay,
                Next::Stop(reason) => finish!(this, Some(last), reason, attempts),
            };

            if let Some(budget) = this.budget {
                let cause = match (&last, hint) {
                    (Ended::TimedOut { .. }, _) => RetryCause::TimedOut,
                    (_, Some(_)) => RetryCause::Throttled,
                    _ => RetryCause::Transient,
                };
                if !budget.try_withdraw(cause) {
                    finish!(this, Some(last), StopReason::BudgetExhausted, attempts);
                }
            }

            let failure = match &last {
                Ended::Finished(Ok(value)) => Failure::Rejected(value),
                Ended::Finished(Err(error)) => Failure::Error(error),
                Ended::TimedOut { after, .. } => Failure::TimedOut(*after),
            };
            tracing::debug!(
                attempt = attempts,
                delay_ms = delay.as_millis() as u64,
                decision = ?decision,
                "retrying"
            );
            this.hook.on_retry(&RetryEvent {
                attempt: attempts,
                delay,
                elapsed,
                failure,
                decision,
            });

            if delay.is_zero() {
                // A zero delay retries at once: arming a timer would cost a whole timer
                // tick (a millisecond in tokio) for nothing.
                *this.last = Some(last);
                begin_now = Some(elapsed);
                continue;
            }
            *this.last = Some(last);
            this.state.set(State::Sleeping {
                sleep: this.sleeper.sleep(delay),
            });
        }
    }
}
