//! The future that runs a call: a small state machine over attempts and sleeps.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;
use rand::Rng;

use crate::retry::{Operation, Retry};
use crate::schedule::{self, Next};
use crate::{
    Attempt, AttemptError, Classify, Clock, Decision, Failure, IdempotencyKey, OnRetry, RetryError,
    RetryEvent, RetryPolicy, Sleeper, StopReason,
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
        started: Option<Instant>,
        attempts: u32,
        key: IdempotencyKey,
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
            started: None,
            attempts: 0,
            key: IdempotencyKey::from_random_bytes([0; 16]),
            state: State::Idle,
        }
    }
}

/// What woke the call.
enum Step<T, E> {
    /// The call started, or a sleep ended: start the next attempt.
    Begin,
    /// An attempt ended.
    Ended(Ended<T, E>),
}

/// How an attempt ended.
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

/// The call's final answer, from the last attempt's outcome and the reason it stopped.
/// A value the classifier rejected is still the caller's to inspect, so it comes back
/// as `Ok`.
fn conclude<T, E>(last: Ended<T, E>, reason: StopReason, attempts: u32) -> Result<T, RetryError<E>> {
    let failure = match last {
        Ended::Finished(Ok(value)) => return Ok(value),
        Ended::Finished(Err(error)) => AttemptError::Operation(error),
        Ended::TimedOut { after, .. } => AttemptError::TimedOut(after),
    };
    tracing::debug!(attempts, reason = %reason, "retry stopped");
    Err(RetryError::new(reason, attempts, Some(failure)))
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
        loop {
            let step = match this.state.as_mut().project() {
                StateProj::Idle => {
                    // The call begins at its first poll: its clock, its key, its seed.
                    let mut rng = rand::rng();
                    *this.key = IdempotencyKey::from_rng(&mut rng);
                    this.policy.start(rng.next_u64());
                    *this.started = Some(this.clock.now());
                    Step::Begin
                }
                StateProj::Running { attempt, timer, limit, limit_is_deadline } => match attempt.poll(cx) {
                    Poll::Ready(output) => Step::Ended(Ended::Finished(this.operation.finish(output))),
                    Poll::Pending => {
                        let Some(timer) = timer.as_pin_mut() else { return Poll::Pending };
                        ready!(timer.poll(cx));
                        Step::Ended(Ended::TimedOut { after: *limit, deadline: *limit_is_deadline })
                    }
                },
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    Step::Begin
                }
                // Misuse by the caller, not a configuration: the contract of `Future`.
                #[allow(clippy::panic)]
                StateProj::Done => panic!("`RetryFuture` polled after completion"),
            };

            let elapsed = this.started.map_or(Duration::ZERO, |started| {
                this.clock.now().saturating_duration_since(started)
            });
            let attempts = *this.attempts;
            let context = (elapsed, *this.key);

            let ended = match step {
                Step::Begin => {
                    if !begin(this.operation, this.policy, this.sleeper, this.attempts, context, this.state.as_mut()) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(RetryError::new(StopReason::StateLost, attempts, None)));
                    }
                    continue;
                }
                Step::Ended(ended) => ended,
            };

            // Judge the attempt that just ended.
            let (last, decision) = match ended {
                Ended::Finished(outcome) => {
                    let decision = this.classifier.classify(&outcome);
                    (Ended::Finished(outcome), decision)
                }
                Ended::TimedOut { after, deadline } => {
                    tracing::debug!(attempt = attempts, timeout_ms = after.as_millis() as u64, "attempt timed out");
                    let last = Ended::TimedOut { after, deadline };
                    if deadline {
                        this.state.set(State::Done);
                        return Poll::Ready(conclude(last, StopReason::DeadlineExceeded, attempts));
                    }
                    if !this.operation.can_start() {
                        this.state.set(State::Done);
                        return Poll::Ready(conclude(last, StopReason::StateLost, attempts));
                    }
                    (last, Decision::Retry)
                }
            };

            let hint = match decision {
                Decision::Success | Decision::Fail => {
                    this.state.set(State::Done);
                    if attempts > 1 && decision == Decision::Success {
                        tracing::debug!(attempts, "succeeded after retrying");
                    }
                    return Poll::Ready(conclude(last, StopReason::Permanent, attempts));
                }
                Decision::Retry => None,
                Decision::RetryAfter(retry_after) => Some(retry_after),
            };

            let delay = match schedule::after_failure(this.policy, attempts, elapsed, hint) {
                Next::Retry(delay) => delay,
                Next::Stop(reason) => {
                    this.state.set(State::Done);
                    return Poll::Ready(conclude(last, reason, attempts));
                }
            };

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
            this.hook.on_retry(&RetryEvent { attempt: attempts, delay, elapsed, failure, decision });
            drop(last);

            if delay.is_zero() {
                // A zero delay retries at once: arming a timer would cost a whole timer
                // tick (a millisecond in tokio) for nothing.
                if !begin(this.operation, this.policy, this.sleeper, this.attempts, context, this.state.as_mut()) {
                    this.state.set(State::Done);
                    return Poll::Ready(Err(RetryError::new(StopReason::StateLost, attempts, None)));
                }
                continue;
            }
            this.state.set(State::Sleeping { sleep: this.sleeper.sleep(delay) });
        }
    }
}
