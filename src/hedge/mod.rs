//! Hedged calls: [`hedge`] starts an operation, and if it has not answered after a
//! delay, starts another copy; the first acceptable answer wins and the other copies
//! are dropped.
//!
//! A hedge cuts the tail of latency, not the failure rate: when one request in a
//! hundred is slow for reasons of its own (a pause, a cold cache, a busy replica), a
//! second copy sent after the 95th percentile answers long before the first would,
//! for about 5 % more requests. The rules follow gRPC's hedging policy (gRFC A6):
//! copies start on a timer, up to a limit; a permanent failure of any copy ends the
//! call; a transient failure of one starts the next copy at once. A hedged call never
//! adds more load than its budget allows (every copy after the first withdraws from
//! it), its breaker admits and hears about every copy, and every copy carries the
//! call's idempotency key, so the server can apply it once.

mod latencies;

pub use latencies::{Latencies, LatenciesBuilder};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::attempt::Attempt;
use crate::breaker::{BreakerState, CallOutcome, CircuitBreaker, Permit};
use crate::budget::{RetryBudget, RetryCause};
use crate::call_id::CallId;
use crate::classify::{Classify, Decision, RetryAnyError};
use crate::error::{AttemptError, RetryError, StopReason};
use crate::idempotency::Idempotency;
use crate::operation::{Operation, Stateless};
use crate::policy::DEFAULT_MAX_RETRY_AFTER;
use crate::sleep::{DefaultSleeper, Sleeper};

/// The most copies of one call in flight at once: they live inside the call, so a
/// hedged call allocates nothing.
pub const MAX_IN_FLIGHT: usize = 3;

/// Runs `operation` with hedging: another copy starts if no copy has answered after
/// the delay (default 50 ms), up to 2 copies in all by default; the first acceptable
/// answer wins and the others are dropped.
///
/// `operation` is called once per copy with an [`Attempt`] whose number is the copy's
/// (1 for the first) and whose idempotency key is the call's, the same for every copy.
/// A hedged call reads no clock for its copies, so their
/// [`elapsed`](Attempt::elapsed) is zero. Nothing runs until the returned call is
/// awaited.
///
/// ```
/// use std::time::Duration;
/// use steadfast::hedge;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // The first copy is stuck behind a slow disk; the second answers in 5 ms.
/// let started = tokio::time::Instant::now();
/// let answer = hedge(|attempt| async move {
///     let took = if attempt.number() == 1 { 500 } else { 5 };
///     tokio::time::sleep(Duration::from_millis(took)).await;
///     Ok::<_, std::io::Error>(attempt.number())
/// })
/// .after(Duration::from_millis(20))
/// .await;
/// assert_eq!(answer.unwrap(), 2);
/// assert_eq!(started.elapsed(), Duration::from_millis(25));
/// # }
/// ```
#[inline]
pub fn hedge<F, Fut, T, E>(operation: F) -> Hedge<'static, Stateless<F>>
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Hedge::from_parts(Parts {
        operation: Stateless(operation),
        classifier: RetryAnyError,
        sleeper: DefaultSleeper::default(),
        delay: Delay::Fixed(DEFAULT_DELAY),
        max_copies: 2,
        max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        budget: None,
        breaker: None,
        idempotency: Idempotency::Idempotent,
        progress: None,
    })
}

/// The default fixed delay before a second copy.
const DEFAULT_DELAY: Duration = Duration::from_millis(50);

pin_project! {
    /// A hedged call: configure it with the methods below, then await it, spawn it, or
    /// use it anywhere a future is expected. Made by [`hedge`].
    ///
    /// It answers like a [`Retry`](crate::Retry): the winning copy's value, or a
    /// [`RetryError`] with the last failure, why no further copy started, and how many
    /// copies ran.
    ///
    /// # Default
    ///
    /// A fixed delay of 50 ms, 2 copies in all, every error retryable
    /// ([`RetryAnyError`]), tokio's timer, server hints (`Retry-After`) honoured up to
    /// 60 s, no budget, no breaker, an idempotent operation.
    ///
    /// # Cancellation
    ///
    /// Dropping the call drops every copy in flight, with the breaker permits they
    /// hold. When a copy wins, the others are dropped the same way, at once.
    ///
    /// # Panics
    ///
    /// Polling it again after it completed panics, like most futures.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{hedge, RetryBudget};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), steadfast::ConfigError> {
    /// let budget = RetryBudget::ratio(0.05).build()?;
    /// let value = hedge(|_| async { Ok::<_, std::io::Error>("fast") })
    ///     .after(Duration::from_millis(30))
    ///     .max_copies(3)
    ///     .budget(&budget)
    ///     .await;
    /// assert_eq!(value.unwrap(), "fast");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use = "a hedged call does nothing until it is awaited or polled"]
    pub struct Hedge<'a, Op, C = RetryAnyError, S = DefaultSleeper>
    where
        Op: Operation,
        S: Sleeper,
    {
        parts: Parts<'a, Op, C, S>,
        // The timer of the next copy: the hedge delay, or a server's hint.
        #[pin]
        timer: Option<S::Sleep>,
        #[pin]
        first: Slot<Op::Future>,
        #[pin]
        second: Slot<Op::Future>,
        #[pin]
        third: Slot<Op::Future>,
    }
}

pin_project! {
    /// Room for one copy in flight.
    struct Slot<F> {
        #[pin]
        copy: Option<F>,
        // The breaker's admission for this copy: dropped with it.
        permit: Option<Permit>,
        // When it started, on the latency sketch's clock (0 without one).
        started: u64,
    }
}

impl<F> Slot<F> {
    const EMPTY: Self = Self {
        copy: None,
        permit: None,
        started: 0,
    };
}

/// The configuration of a hedged call, and its progress once it runs.
struct Parts<'a, Op: Operation, C, S> {
    operation: Op,
    classifier: C,
    sleeper: S,
    delay: Delay<'a>,
    max_copies: u32,
    max_retry_after: Duration,
    budget: Option<&'a RetryBudget>,
    breaker: Option<&'a CircuitBreaker>,
    idempotency: Idempotency,
    progress: Option<Progress<Op::Ok, Op::Err>>,
}

/// How long a call waits before its next copy.
#[derive(Clone, Copy)]
enum Delay<'a> {
    Fixed(Duration),
    Adaptive(&'a Latencies),
}

/// A running call's progress.
struct Progress<T, E> {
    call: CallId,
    /// Copies started so far.
    started: u32,
    /// The last retryable outcome, answered if no copy succeeds.
    last: Option<Result<T, E>>,
    /// Why no further copy may start, once that is so.
    closed: Option<StopReason>,
    /// A copy that may start at once, and what it costs the budget: after a failure,
    /// or after a zero hedge delay.
    now: Option<RetryCause>,
    /// The timer holds a server's hint, not the hedge delay.
    hinted: bool,
    /// The hedge delay of the copy just started is still to be armed: it is armed only
    /// once the copy has been polled and did not answer at once.
    arm: bool,
    /// The call is over.
    done: bool,
}

/// What a finished copy means for the call.
enum Judged<T, E> {
    /// The call's answer.
    Answer(Result<T, RetryError<E>>),
    /// Go on; a server asked the next copy to wait this long.
    Continue(Option<Duration>),
}

impl<'a, Op: Operation, C, S> Parts<'a, Op, C, S> {
    /// The same settings with the classifier and sleeper replaced, before any copy ran.
    fn swap<C2, S2>(self, pick: impl FnOnce(C, S) -> (C2, S2)) -> Parts<'a, Op, C2, S2> {
        let (classifier, sleeper) = pick(self.classifier, self.sleeper);
        Parts {
            operation: self.operation,
            classifier,
            sleeper,
            delay: self.delay,
            max_copies: self.max_copies,
            max_retry_after: self.max_retry_after,
            budget: self.budget,
            breaker: self.breaker,
            idempotency: self.idempotency,
            progress: None,
        }
    }
}

impl<'a, Op: Operation, C, S: Sleeper> Hedge<'a, Op, C, S> {
    fn from_parts(parts: Parts<'a, Op, C, S>) -> Self {
        Self {
            parts,
            timer: None,
            first: Slot::EMPTY,
            second: Slot::EMPTY,
            third: Slot::EMPTY,
        }
    }

    /// Starts another copy after a fixed `delay` without an answer. Default: 50 ms.
    /// A zero delay starts every copy at once.
    ///
    /// ```
    /// let call = steadfast::hedge(|_| async { Ok::<_, ()>(()) }).after(std::time::Duration::from_millis(10));
    /// ```
    pub fn after(mut self, delay: Duration) -> Self {
        self.parts.delay = Delay::Fixed(delay);
        self
    }

    /// Starts another copy after the delay that `latencies` reads from recent calls
    /// (by default their 95th percentile), and records in it the latency of every
    /// copy: the winner's, and each loser's up to the moment it lost.
    ///
    /// ```
    /// use steadfast::{hedge, Latencies};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let latencies = Latencies::default();
    /// for _ in 0..10 {
    ///     let value = hedge(|_| async { Ok::<_, std::io::Error>(1) })
    ///         .after_percentile(&latencies)
    ///         .await;
    ///     assert_eq!(value.unwrap(), 1);
    /// }
    /// # }
    /// ```
    pub fn after_percentile<'b>(self, latencies: &'b Latencies) -> Hedge<'b, Op, C, S>
    where
        'a: 'b,
    {
        let mut call: Hedge<'b, Op, C, S> = self;
        call.parts.delay = Delay::Adaptive(latencies);
        call
    }

    /// The most copies in all, the first included, clamped to at least 1 (a plain
    /// call). At most [`MAX_IN_FLIGHT`] run at once; a copy that failed makes room for
    /// the next. Default: 2.
    ///
    /// ```
    /// let call = steadfast::hedge(|_| async { Ok::<_, ()>(()) }).max_copies(3);
    /// ```
    pub fn max_copies(mut self, copies: u32) -> Self {
        self.parts.max_copies = copies.max(1);
        self
    }

    /// The longest server hint (`Retry-After`) a copy's failure may impose before the
    /// next copy; a longer one starts no further copy. Default: 60 s.
    ///
    /// ```
    /// let call = steadfast::hedge(|_| async { Ok::<_, ()>(()) })
    ///     .max_retry_after(std::time::Duration::from_secs(5));
    /// ```
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.parts.max_retry_after = limit;
        self
    }

    /// Judges each copy's outcome with `classifier`. Default: every error retryable.
    ///
    /// ```
    /// let call = steadfast::hedge(|_| async { Ok::<_, std::io::Error>(()) }).classify(steadfast::IoErrors);
    /// ```
    pub fn classify<C2: Classify<Op::Ok, Op::Err>>(self, classifier: C2) -> Hedge<'a, Op, C2, S> {
        Hedge::from_parts(self.parts.swap(|_, sleeper| (classifier, sleeper)))
    }

    /// Judges each copy that failed with a closure over its error; an `Ok` value is a
    /// success.
    ///
    /// ```
    /// use steadfast::{hedge, Decision};
    ///
    /// let call = hedge(|_| async { Err::<(), _>(404_u16) })
    ///     .when(|status| if *status >= 500 { Decision::Retry } else { Decision::Fail });
    /// ```
    pub fn when<F>(self, judge: F) -> Hedge<'a, Op, F, S>
    where
        F: Fn(&Op::Err) -> Decision,
    {
        self.classify(judge)
    }

    /// Waits on `sleeper`'s timers instead of the default.
    ///
    /// ```
    /// let call = steadfast::hedge(|_| async { Ok::<_, ()>(()) }).sleeper(steadfast::TokioSleeper);
    /// ```
    pub fn sleeper<S2: Sleeper>(self, sleeper: S2) -> Hedge<'a, Op, C, S2> {
        Hedge::from_parts(self.parts.swap(|classifier, _| (classifier, sleeper)))
    }

    /// Bounds the extra copies with `budget`: the first copy deposits like a first
    /// attempt, and every further copy withdraws ([`RetryCause::Hedge`] for a copy
    /// started by the timer, the failure's cause for one started after a failure).
    /// When the budget refuses, no further copy starts; those in flight go on.
    ///
    /// ```
    /// use steadfast::{hedge, RetryBudget};
    /// let budget = RetryBudget::default();
    /// let call = hedge(|_| async { Ok::<_, ()>(()) }).budget(&budget);
    /// ```
    pub fn budget<'b>(self, budget: &'b RetryBudget) -> Hedge<'b, Op, C, S>
    where
        'a: 'b,
    {
        let mut call: Hedge<'b, Op, C, S> = self;
        call.parts.budget = Some(budget);
        call
    }

    /// Puts every copy through `breaker`: each asks for admission, and each that
    /// finishes is recorded; a copy dropped because another won gives its permit back
    /// unrecorded. When the breaker refuses the first copy, the call stops with
    /// [`StopReason::BreakerOpen`] (or `BreakerHalfOpen`); when it refuses a later one,
    /// no further copy starts.
    ///
    /// ```
    /// use steadfast::{hedge, CircuitBreaker};
    /// let breaker = CircuitBreaker::default();
    /// let call = hedge(|_| async { Ok::<_, ()>(()) }).breaker(&breaker);
    /// ```
    pub fn breaker<'b>(self, breaker: &'b CircuitBreaker) -> Hedge<'b, Op, C, S>
    where
        'a: 'b,
    {
        let mut call: Hedge<'b, Op, C, S> = self;
        call.parts.breaker = Some(breaker);
        call
    }

    /// Declares whether the operation is safe to repeat. Default:
    /// [`Idempotency::Idempotent`]. An operation declared
    /// [`NotIdempotent`](Idempotency::NotIdempotent) is never hedged: only a failure
    /// that happened before anything was sent starts another copy. Declare it
    /// [`Keyed`](Idempotency::Keyed), and send the key, to hedge it.
    ///
    /// ```
    /// use steadfast::{hedge, Idempotency};
    /// let call = hedge(|attempt| async move {
    ///     Ok::<_, ()>(format!("POST /orders, Idempotency-Key: {}", attempt.idempotency_key()))
    /// })
    /// .idempotency(Idempotency::Keyed);
    /// ```
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.parts.idempotency = idempotency;
        self
    }
}

impl<Op, C, S> Future for Hedge<'_, Op, C, S>
where
    Op: Operation,
    C: Classify<Op::Ok, Op::Err>,
    S: Sleeper<Sleep: Future<Output = ()>>,
{
    type Output = Result<Op::Ok, RetryError<Op::Err>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (parts, mut timer) = (this.parts, this.timer);
        let mut slots = [this.first, this.second, this.third];
        match &parts.progress {
            None => {
                parts.begin();
                parts.start_copy(&mut slots, timer.as_mut(), None);
            }
            // Misuse by the caller, not a configuration: the contract of `Future`.
            #[allow(clippy::panic)]
            Some(progress) if progress.done => panic!("`Hedge` polled after completion"),
            Some(_) => {}
        }
        loop {
            for slot in &mut slots {
                let mut slot = slot.as_mut().project();
                let Some(copy) = slot.copy.as_mut().as_pin_mut() else {
                    continue;
                };
                let Poll::Ready(output) = copy.poll(cx) else {
                    continue;
                };
                slot.copy.set(None);
                let (permit, started) = (slot.permit.take(), *slot.started);
                let outcome = parts.operation.finish(output);
                match parts.judge(outcome, permit, started) {
                    Judged::Answer(answer) => {
                        parts.end(&mut slots);
                        timer.set(None);
                        return Poll::Ready(answer);
                    }
                    Judged::Continue(Some(hint)) => {
                        parts.disarm();
                        timer.set(Some(parts.sleeper.sleep(hint)));
                    }
                    Judged::Continue(None) => {}
                }
            }
            if parts.disarm() {
                timer.set(Some(parts.sleeper.sleep(parts.delay())));
            }
            let next = parts.next_copy(timer.as_mut(), cx);
            if next.is_some() && parts.start_copy(&mut slots, timer.as_mut(), next) {
                // Poll the new copy before waiting.
                continue;
            }
            // With nothing in flight, the call ends unless a timer will start a copy.
            if in_flight(&slots) == 0 && (timer.is_none() || parts.closed()) {
                parts.end(&mut slots);
                return Poll::Ready(parts.give_up());
            }
            return Poll::Pending;
        }
    }
}

impl<Op, C, S> fmt::Debug for Hedge<'_, Op, C, S>
where
    Op: Operation,
    S: Sleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let progress = self.parts.progress.as_ref();
        let in_flight = [&self.first, &self.second, &self.third]
            .iter()
            .filter(|slot| slot.copy.is_some())
            .count();
        f.debug_struct("Hedge")
            .field("copies", &progress.map_or(0, |p| p.started))
            .field("in_flight", &in_flight)
            .field("max_copies", &self.parts.max_copies)
            .field("idempotency", &self.parts.idempotency)
            .finish_non_exhaustive()
    }
}

/// The progress of a call is set at its first poll, before anything reads it.
#[cold]
fn unreachable_state() -> ! {
    #[allow(clippy::panic)]
    {
        panic!("`Hedge` progress read before its first poll")
    }
}

fn in_flight<F>(slots: &[Pin<&mut Slot<F>>; MAX_IN_FLIGHT]) -> usize {
    slots.iter().filter(|slot| slot.copy.is_some()).count()
}

impl<Op, C, S> Parts<'_, Op, C, S>
where
    Op: Operation,
    C: Classify<Op::Ok, Op::Err>,
    S: Sleeper<Sleep: Future<Output = ()>>,
{
    fn begin(&mut self) {
        if let Some(budget) = self.budget {
            budget.deposit();
        }
        self.progress = Some(Progress {
            call: CallId::next(),
            started: 0,
            last: None,
            closed: None,
            now: None,
            hinted: false,
            arm: false,
            done: false,
        });
    }

    /// Takes the request to arm the hedge delay, if any.
    fn disarm(&mut self) -> bool {
        self.progress
            .as_mut()
            .is_some_and(|progress| std::mem::take(&mut progress.arm))
    }

    /// Whether no further copy may start.
    fn closed(&self) -> bool {
        self.progress
            .as_ref()
            .is_none_or(|progress| progress.closed.is_some())
    }

    /// Whether the timer may start copies: the operation must be safe to send twice.
    fn hedges(&self) -> bool {
        self.idempotency != Idempotency::NotIdempotent
    }

    /// The delay before the next copy.
    fn delay(&self) -> Duration {
        match self.delay {
            Delay::Fixed(delay) => delay,
            Delay::Adaptive(latencies) => latencies.delay(),
        }
    }

    /// Starts a copy, the first when `cause` is `None`, if the limits allow it, and
    /// arms the timer for the one after. Returns whether a copy started.
    fn start_copy(
        &mut self,
        slots: &mut [Pin<&mut Slot<Op::Future>>; MAX_IN_FLIGHT],
        mut timer: Pin<&mut Option<S::Sleep>>,
        cause: Option<RetryCause>,
    ) -> bool {
        let Some(progress) = &mut self.progress else {
            return false;
        };
        progress.now = None;
        progress.hinted = false;
        if progress.closed.is_some() {
            return false;
        }
        if progress.started >= self.max_copies {
            progress.closed = Some(StopReason::AttemptsExhausted);
            return false;
        }
        if !self.operation.can_start(crate::operation::Token) {
            progress.closed = Some(StopReason::StateLost);
            return false;
        }
        let Some(slot) = slots.iter_mut().find(|slot| slot.copy.is_none()) else {
            // Every slot is busy: the next copy waits for one to answer or fail.
            return false;
        };
        if let (Some(budget), Some(cause)) = (self.budget, cause) {
            if !budget.try_withdraw(cause) {
                progress.closed = Some(StopReason::BudgetExhausted);
                return false;
            }
        }
        let permit = match self.breaker.map(CircuitBreaker::try_acquire) {
            None => None,
            Some(Ok(permit)) => Some(permit),
            Some(Err(rejected)) => {
                progress.closed = Some(match rejected.state() {
                    BreakerState::HalfOpen => StopReason::BreakerHalfOpen,
                    _ => StopReason::BreakerOpen {
                        retry_in: rejected.retry_in(),
                    },
                });
                return false;
            }
        };
        let started = match self.delay {
            Delay::Adaptive(latencies) => latencies.now(),
            Delay::Fixed(_) => 0,
        };
        progress.started = progress.started.saturating_add(1);
        let attempt = Attempt::new(progress.started, Duration::ZERO, progress.call);
        let more = progress.started < self.max_copies;
        let Some(copy) = self.operation.start(attempt) else {
            progress.closed = Some(StopReason::StateLost);
            return false;
        };
        let mut slot = slot.as_mut().project();
        slot.copy.set(Some(copy));
        *slot.permit = permit;
        *slot.started = started;
        if more && self.hedges() {
            let zero = self.delay().is_zero();
            if let Some(progress) = &mut self.progress {
                if zero {
                    progress.now = Some(RetryCause::Hedge);
                } else {
                    // Armed after the copy's first poll: a copy that answers at once
                    // costs no timer.
                    progress.arm = true;
                }
            }
        }
        // A hedge timer still running belongs to the copy before: the next copy
        // waits for its own delay.
        timer.set(None);
        true
    }

    /// Which copy may start now, if any, and what it costs: one after a failure or a
    /// zero delay, or one whose timer fired.
    fn next_copy(
        &mut self,
        mut timer: Pin<&mut Option<S::Sleep>>,
        cx: &mut Context<'_>,
    ) -> Option<RetryCause> {
        let progress = self.progress.as_mut()?;
        if let Some(cause) = progress.now {
            return Some(cause);
        }
        let sleep = timer.as_mut().as_pin_mut()?;
        if sleep.poll(cx).is_pending() {
            return None;
        }
        timer.set(None);
        Some(if progress.hinted {
            RetryCause::Throttled
        } else {
            RetryCause::Hedge
        })
    }

    /// Judges a copy that finished.
    fn judge(
        &mut self,
        outcome: Result<Op::Ok, Op::Err>,
        permit: Option<Permit>,
        started: u64,
    ) -> Judged<Op::Ok, Op::Err> {
        let decision = self.classifier.classify(&outcome);
        if let (Some(breaker), Some(permit)) = (self.breaker, permit) {
            breaker.record(permit, CallOutcome::from_decision(decision));
        }
        if let Delay::Adaptive(latencies) = self.delay {
            latencies.record_between(started, latencies.now());
        }
        let keyed = self.idempotency == Idempotency::Keyed;
        let unsafe_to_repeat = self.idempotency == Idempotency::NotIdempotent;
        let Some(progress) = &mut self.progress else {
            unreachable_state();
        };
        let ends = match decision {
            Decision::Success | Decision::Fail => true,
            // Worth repeating only with the key: without one, a permanent failure.
            Decision::RetryIfKeyed => !keyed,
            _ => false,
        };
        if ends {
            progress.done = true;
            return Judged::Answer(outcome.map_err(|error| {
                RetryError::new(
                    StopReason::Permanent,
                    progress.started,
                    Some(AttemptError::Operation(error)),
                )
            }));
        }
        let mut hint = None;
        match decision {
            Decision::Success | Decision::Fail => {}
            // Applied or not, nobody knows: another copy could apply it twice.
            Decision::Retry | Decision::RetryAfter(_) if unsafe_to_repeat => {
                progress.closed.get_or_insert(StopReason::NotIdempotent);
            }
            Decision::Retry | Decision::RetryUnsent | Decision::RetryIfKeyed => {
                progress.now = Some(RetryCause::Transient);
            }
            Decision::RetryAfter(wait) if wait > self.max_retry_after => {
                progress
                    .closed
                    .get_or_insert(StopReason::RetryAfterTooLong { retry_after: wait });
            }
            Decision::RetryAfter(wait) => {
                // The server asked for a pause: the next copy waits for it.
                progress.hinted = true;
                hint = Some(wait);
            }
        }
        progress.last = Some(outcome);
        Judged::Continue(hint)
    }

    /// Drops every copy still in flight (giving back its breaker permit) and records
    /// how long each had run when it lost.
    fn end(&mut self, slots: &mut [Pin<&mut Slot<Op::Future>>; MAX_IN_FLIGHT]) {
        // The clock is read only if a copy lost: a lone winner costs no reading.
        let mut now = None;
        for slot in slots.iter_mut() {
            let mut slot = slot.as_mut().project();
            if slot.copy.is_some() {
                if let Delay::Adaptive(latencies) = self.delay {
                    let now = *now.get_or_insert_with(|| latencies.now());
                    latencies.record_between(*slot.started, now);
                }
                slot.copy.set(None);
                *slot.permit = None;
            }
        }
        if let Some(progress) = &mut self.progress {
            progress.done = true;
        }
    }

    /// The answer of a call whose copies all failed: the last value the classifier
    /// rejected (a 503 response, say) is still the caller's to inspect, as with
    /// [`Retry`](crate::Retry); otherwise the last error.
    fn give_up(&mut self) -> Result<Op::Ok, RetryError<Op::Err>> {
        let Some(progress) = &mut self.progress else {
            unreachable_state();
        };
        let reason = progress.closed.unwrap_or(StopReason::AttemptsExhausted);
        let failure = match progress.last.take() {
            Some(Ok(value)) => return Ok(value),
            Some(Err(error)) => Some(AttemptError::Operation(error)),
            None => None,
        };
        Err(RetryError::new(reason, progress.started, failure))
    }
}
