//! The rules of one call, as a plain value: when it reads its clock, whether an attempt
//! may start, how long to wait for a breaker, what follows each attempt.
//!
//! The future in `retry.rs` only polls the operation and the timers and moves between
//! states; every decision is made here, by functions of plain values that the unit
//! tests below drive without a runtime.

use std::time::{Duration, Instant};

use crate::attempt::Attempt;
use crate::breaker::{BreakerState, Rejected};
use crate::budget::RetryCause;
use crate::call_id::CallId;
use crate::classify::Decision;
use crate::clock::{Clock, nanos};
use crate::error::StopReason;
use crate::idempotency::Idempotency;
use crate::policy::RetryPolicy;
use crate::rng::JitterRng;
use crate::schedule::{self, Verdict};

/// How many zero-delay retries one `poll` may run before it yields to the scheduler,
/// so that a surrounding timeout or `select!` can still cancel a call whose attempts
/// all fail at once. 32 keeps a handful of immediate retries inside one poll (the
/// common case costs nothing) and bounds the time a worker is held.
pub(crate) const IMMEDIATE_RETRIES_PER_POLL: u32 = 32;

/// The state of one call that the rules need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    id: CallId,
    attempts: u32,
    /// When the clock started, once something needed it (see [`Call::begin`]).
    started: Option<Instant>,
    /// Whether the policy has been seeded for this call.
    seeded: bool,
    /// Refusals by the breaker so far, to vary the jitter of successive waits.
    waits: u32,
}

/// How long an attempt may run, and whether that limit is the call's deadline (which
/// ends the call) rather than the attempt timeout (which allows a retry).
///
/// One word (nanoseconds, with the top bit for "deadline"; all ones for "no limit"):
/// it is written into every attempt's state, and a wider value built in one place and
/// copied in another stalls the store buffer on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit(u64);

impl Limit {
    /// No limit: the attempt runs as long as it takes.
    pub(crate) const NONE: Self = Self(u64::MAX);
    const DEADLINE: u64 = 1 << 63;

    /// A limit of `after` (saturating at 292 years), the deadline's or not.
    pub(crate) fn new(after: Duration, deadline: bool) -> Self {
        // Below 2^63 - 1, so that no limit, with the deadline bit set, reads as NONE.
        let after = nanos(after).min(Self::DEADLINE - 2);
        Self(if deadline {
            after | Self::DEADLINE
        } else {
            after
        })
    }

    pub(crate) const fn is_some(self) -> bool {
        self.0 != Self::NONE.0
    }

    pub(crate) const fn after(self) -> Duration {
        Duration::from_nanos(self.0 & !Self::DEADLINE)
    }

    pub(crate) const fn is_deadline(self) -> bool {
        self.is_some() && self.0 & Self::DEADLINE != 0
    }
}

/// How an attempt ended, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It finished, and the classifier judged it.
    Finished(Decision),
    /// Its time ran out; `limit` says which limit.
    TimedOut(Limit),
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Return the outcome as it is (a success, or a failure judged permanent).
    Finish,
    /// Stop retrying, for this reason.
    Stop(StopReason),
    /// Try again after `delay`, paying the budget for a retry of this cause;
    /// `elapsed` into the call.
    Retry {
        delay: Duration,
        cause: RetryCause,
        elapsed: Duration,
    },
}

impl Call {
    /// A call starting now. The clock is read only if a deadline or an attempt
    /// timeout needs a starting point; otherwise it starts before the first sleep.
    #[inline]
    pub(crate) fn begin<P: RetryPolicy + ?Sized, K: Clock + ?Sized>(policy: &P, clock: &K) -> Self {
        let timed = policy.max_elapsed().is_some() || policy.attempt_timeout().is_some();
        Self {
            id: CallId::next(),
            attempts: 0,
            started: timed.then(|| clock.now()),
            seeded: false,
            waits: 0,
        }
    }

    pub(crate) const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time since the clock started (zero before it has).
    #[inline]
    pub(crate) fn elapsed<K: Clock + ?Sized>(&self, clock: &K) -> Duration {
        self.started.map_or(Duration::ZERO, |started| {
            clock.now().saturating_duration_since(started)
        })
    }

    /// Starts the clock of a call that has not needed it yet: called before a sleep,
    /// which is when the time since the call started begins to mean something.
    pub(crate) fn start_clock<K: Clock + ?Sized>(&mut self, clock: &K) {
        if self.started.is_none() {
            self.started = Some(clock.now());
        }
    }

    /// Whether the next attempt may start `elapsed` into the call: never with no time
    /// left before the deadline (a timer may fire late; the attempt would have none).
    /// This is the one place the deadline is checked before an attempt.
    #[inline]
    pub(crate) fn may_start<P: RetryPolicy + ?Sized>(
        policy: &P,
        elapsed: Duration,
    ) -> Result<(), StopReason> {
        match policy.max_elapsed() {
            Some(deadline) if elapsed >= deadline => Err(StopReason::DeadlineExceeded),
            _ => Ok(()),
        }
    }

    /// The context of the attempt that starts now, counted as started.
    #[inline]
    pub(crate) fn next_attempt(&mut self, elapsed: Duration) -> Attempt {
        self.attempts = self.attempts.saturating_add(1);
        Attempt::new(self.attempts, elapsed, self.id)
    }

    /// How long the attempt starting `elapsed` into the call may run.
    #[inline]
    pub(crate) fn limit<P: RetryPolicy + ?Sized>(policy: &P, elapsed: Duration) -> Limit {
        schedule::attempt_limit(policy, elapsed)
            .map_or(Limit::NONE, |(after, deadline)| Limit::new(after, deadline))
    }

    /// How long to wait after the breaker refused the next attempt, or why to stop.
    ///
    /// A call waits only within a deadline: one without a deadline stops at once, as
    /// does one whose wait would end at or past it. An open breaker says when it will
    /// admit a probe; the call waits that long plus up to a quarter more, so that the
    /// waiters of a whole fleet do not all ask in the same instant. A half-open breaker
    /// whose probe slots are all taken cannot say when they will be done; the call
    /// then waits as long as its backoff would after a failure, and asks again (when
    /// the probes succeed, the breaker has closed by then). Every wait is at least a
    /// millisecond, so a breaker that has just turned is never asked in a busy loop.
    pub(crate) fn refused<P: RetryPolicy + ?Sized>(
        &mut self,
        policy: &mut P,
        elapsed: Duration,
        rejected: Rejected,
    ) -> Result<Duration, StopReason> {
        let reason = match rejected.state() {
            BreakerState::HalfOpen => StopReason::BreakerHalfOpen,
            _ => StopReason::BreakerOpen {
                retry_in: rejected.retry_in(),
            },
        };
        let Some(deadline) = policy.max_elapsed() else {
            return Err(reason);
        };
        self.seed(policy);
        self.waits = self.waits.saturating_add(1);
        let wait =
            match (rejected.state(), rejected.retry_in()) {
                (BreakerState::Open, Some(retry_in)) => {
                    let mut rng = JitterRng::seeded(self.id.jitter_seed() ^ u64::from(self.waits));
                    retry_in.saturating_add(rng.duration_between(
                        Duration::ZERO,
                        retry_in.checked_div(4).unwrap_or_default(),
                    ))
                }
                // Half-open with its probes out, or just opened (its reopening time not yet
                // published): no time to wait for is known, so wait as a backoff would.
                (BreakerState::HalfOpen | BreakerState::Open, _) => {
                    policy.next_delay(self.attempts.max(1)).ok_or(reason)?
                }
                // Forced open: nothing to wait for.
                _ => return Err(reason),
            };
        let wait = wait.max(Duration::from_millis(1));
        if elapsed.saturating_add(wait) >= deadline {
            return Err(reason);
        }
        Ok(wait)
    }

    /// What follows an attempt: finish, stop, or retry after a delay. `can_start` says
    /// whether the operation can run another attempt at all (a stateful one cannot
    /// after its state was dropped). `elapsed` reads the time into the call, and is
    /// called only when a retry needs it: a call that finishes reads no clock here.
    #[inline]
    pub(crate) fn after<P: RetryPolicy + ?Sized>(
        &mut self,
        policy: &mut P,
        idempotency: Idempotency,
        ending: Ending,
        can_start: bool,
        elapsed: impl FnOnce() -> Duration,
    ) -> Next {
        let decision = match ending {
            Ending::TimedOut(limit) if limit.is_deadline() => {
                return Next::Stop(StopReason::DeadlineExceeded);
            }
            Ending::TimedOut(_) if !can_start => return Next::Stop(StopReason::StateLost),
            // A timeout is a transient failure.
            Ending::TimedOut(_) => Decision::Retry,
            Ending::Finished(decision) => decision,
        };
        let hint = match schedule::judge(decision, idempotency) {
            Verdict::Finish => return Next::Finish,
            Verdict::Stop(reason) => return Next::Stop(reason),
            Verdict::Retry(hint) => hint,
        };
        self.seed(policy);
        let elapsed = elapsed();
        match schedule::after_failure(policy, self.attempts, elapsed, hint) {
            schedule::Next::Stop(reason) => Next::Stop(reason),
            schedule::Next::Retry(delay) => Next::Retry {
                delay,
                elapsed,
                cause: match (ending, hint) {
                    (Ending::TimedOut(_), _) => RetryCause::TimedOut,
                    (_, Some(_)) => RetryCause::Throttled,
                    _ => RetryCause::Transient,
                },
            },
        }
    }

    /// Seeds the policy's jitter the first time a delay is needed: a call that
    /// succeeds at once never draws a random number.
    fn seed<P: RetryPolicy + ?Sized>(&mut self, policy: &mut P) {
        if !self.seeded {
            self.seeded = true;
            policy.start(self.id.jitter_seed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Constant, Jitter, Policy, StdClock};

    fn policy(attempts: u32, deadline: Option<u64>) -> Policy<Constant> {
        let builder = Policy::builder(Constant::new(Duration::from_millis(100)))
            .jitter(Jitter::none())
            .max_attempts(attempts);
        match deadline {
            Some(ms) => builder.max_elapsed(Duration::from_millis(ms)).build(),
            None => builder.build(),
        }
        .unwrap()
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn the_clock_starts_only_when_something_needs_it() {
        let untimed = Call::begin(&policy(3, None), &StdClock);
        assert_eq!(untimed.started, None);
        assert_eq!(untimed.elapsed(&StdClock), Duration::ZERO);
        let timed = Call::begin(&policy(3, Some(1_000)), &StdClock);
        assert!(timed.started.is_some());
        let mut late = untimed;
        late.start_clock(&StdClock);
        assert!(late.started.is_some());
    }

    #[test]
    fn attempts_are_numbered_and_share_one_key() {
        let mut call = Call::begin(&policy(3, None), &StdClock);
        let first = call.next_attempt(Duration::ZERO);
        let second = call.next_attempt(ms(5));
        assert_eq!((first.number(), second.number()), (1, 2));
        assert_eq!(first.idempotency_key(), second.idempotency_key());
        assert_eq!(call.attempts(), 2);
    }

    #[test]
    fn a_limit_is_one_word_that_keeps_both_facts() {
        let timeout = Limit::new(ms(250), false);
        assert_eq!((timeout.after(), timeout.is_deadline()), (ms(250), false));
        let deadline = Limit::new(ms(250), true);
        assert_eq!((deadline.after(), deadline.is_deadline()), (ms(250), true));
        assert!(!Limit::NONE.is_some() && !Limit::NONE.is_deadline());
        assert!(Limit::new(Duration::MAX, true).is_deadline());
        assert_eq!(
            Call::limit(&policy(3, Some(1_000)), ms(400)),
            Limit::new(ms(600), true)
        );
        assert_eq!(Call::limit(&policy(3, None), ms(400)), Limit::NONE);
    }

    #[test]
    fn no_attempt_starts_at_or_past_the_deadline() {
        let deadline = policy(3, Some(1_000));
        assert_eq!(Call::may_start(&deadline, ms(999)), Ok(()));
        assert_eq!(
            Call::may_start(&deadline, ms(1_000)),
            Err(StopReason::DeadlineExceeded)
        );
        assert_eq!(Call::may_start(&policy(3, None), Duration::MAX), Ok(()));
    }

    #[test]
    fn a_retry_follows_a_transient_failure_until_attempts_run_out() {
        let mut policy = policy(2, None);
        let mut call = Call::begin(&policy, &StdClock);
        call.next_attempt(Duration::ZERO);
        let retry = Ending::Finished(Decision::Retry);
        assert_eq!(
            call.after(&mut policy, Idempotency::Idempotent, retry, true, || {
                Duration::ZERO
            }),
            Next::Retry {
                delay: ms(100),
                cause: RetryCause::Transient,
                elapsed: Duration::ZERO,
            }
        );
        call.next_attempt(ms(100));
        assert_eq!(
            call.after(&mut policy, Idempotency::Idempotent, retry, true, || ms(
                100
            )),
            Next::Stop(StopReason::AttemptsExhausted)
        );
    }

    #[test]
    fn successes_and_permanent_failures_finish() {
        let mut policy = policy(3, None);
        let mut call = Call::begin(&policy, &StdClock);
        call.next_attempt(Duration::ZERO);
        for decision in [Decision::Success, Decision::Fail] {
            let next = call.after(
                &mut policy,
                Idempotency::Idempotent,
                Ending::Finished(decision),
                true,
                || Duration::ZERO,
            );
            assert_eq!(next, Next::Finish);
        }
        assert!(!call.seeded, "no delay was needed, so no seed was drawn");
    }

    #[test]
    fn timeouts_retry_stop_at_the_deadline_and_when_state_is_lost() {
        let mut policy = policy(3, Some(10_000));
        let mut call = Call::begin(&policy, &StdClock);
        call.next_attempt(Duration::ZERO);
        let timeout = Ending::TimedOut(Limit::new(ms(50), false));
        assert_eq!(
            call.after(&mut policy, Idempotency::Idempotent, timeout, true, || ms(
                50
            )),
            Next::Retry {
                delay: ms(100),
                cause: RetryCause::TimedOut,
                elapsed: ms(50),
            }
        );
        assert_eq!(
            call.after(&mut policy, Idempotency::Idempotent, timeout, false, || ms(
                50
            )),
            Next::Stop(StopReason::StateLost)
        );
        let deadline = Ending::TimedOut(Limit::new(ms(50), true));
        assert_eq!(
            call.after(&mut policy, Idempotency::Idempotent, deadline, true, || ms(
                50
            )),
            Next::Stop(StopReason::DeadlineExceeded)
        );
    }

    #[test]
    fn hints_make_throttled_retries_and_unsafe_repeats_stop() {
        let mut policy = policy(3, None);
        let mut call = Call::begin(&policy, &StdClock);
        call.next_attempt(Duration::ZERO);
        let throttled = Ending::Finished(Decision::RetryAfter(ms(700)));
        assert_eq!(
            call.after(
                &mut policy,
                Idempotency::Idempotent,
                throttled,
                true,
                || Duration::ZERO
            ),
            Next::Retry {
                delay: ms(700),
                cause: RetryCause::Throttled,
                elapsed: Duration::ZERO,
            }
        );
        assert_eq!(
            call.after(
                &mut policy,
                Idempotency::NotIdempotent,
                throttled,
                true,
                || Duration::ZERO
            ),
            Next::Stop(StopReason::NotIdempotent)
        );
    }

    fn open(retry_in: Option<Duration>) -> Rejected {
        Rejected::new(BreakerState::Open, retry_in)
    }

    #[test]
    fn without_a_deadline_a_refused_call_stops_at_once() {
        let mut policy = policy(3, None);
        let mut call = Call::begin(&policy, &StdClock);
        assert_eq!(
            call.refused(&mut policy, Duration::ZERO, open(Some(ms(10)))),
            Err(StopReason::BreakerOpen {
                retry_in: Some(ms(10))
            })
        );
        assert_eq!(
            call.refused(
                &mut policy,
                Duration::ZERO,
                Rejected::new(BreakerState::HalfOpen, None)
            ),
            Err(StopReason::BreakerHalfOpen)
        );
    }

    #[test]
    fn an_open_breaker_is_waited_for_with_jitter_within_the_deadline() {
        let mut policy = policy(3, Some(5_000));
        let mut call = Call::begin(&policy, &StdClock);
        let mut waits = Vec::new();
        for _ in 0..50 {
            let wait = call
                .refused(&mut policy, ms(100), open(Some(ms(400))))
                .unwrap();
            assert!(wait >= ms(400) && wait <= ms(500), "{wait:?}");
            waits.push(wait);
        }
        waits.dedup();
        assert!(waits.len() > 1, "successive waits are jittered");
        // A wait that would end at or past the deadline stops the call instead.
        assert_eq!(
            call.refused(&mut policy, ms(4_700), open(Some(ms(400)))),
            Err(StopReason::BreakerOpen {
                retry_in: Some(ms(400))
            })
        );
        // Forced open: nothing to wait for.
        assert!(
            call.refused(
                &mut policy,
                ms(100),
                Rejected::new(BreakerState::ForcedOpen, None)
            )
            .is_err()
        );
    }

    #[test]
    fn a_busy_half_open_breaker_is_waited_for_as_long_as_the_backoff() {
        let mut policy = policy(3, Some(5_000));
        let mut call = Call::begin(&policy, &StdClock);
        let busy = Rejected::new(BreakerState::HalfOpen, None);
        assert_eq!(call.refused(&mut policy, ms(100), busy), Ok(ms(100)));
        assert_eq!(
            call.refused(&mut policy, ms(4_900), busy),
            Err(StopReason::BreakerHalfOpen)
        );
    }

    #[test]
    fn no_wait_ends_past_the_deadline_whatever_the_floor() {
        // 700 µs left and a breaker that is about to admit: the 1 ms floor would
        // overshoot, so the call stops.
        let mut policy = Policy::builder(Constant::new(Duration::ZERO))
            .max_elapsed(Duration::from_micros(700))
            .build()
            .unwrap();
        let mut call = Call::begin(&policy, &StdClock);
        assert!(
            call.refused(
                &mut policy,
                Duration::ZERO,
                open(Some(Duration::from_micros(10)))
            )
            .is_err()
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn any_state() -> impl Strategy<Value = BreakerState> {
            prop_oneof![
                Just(BreakerState::Open),
                Just(BreakerState::HalfOpen),
                Just(BreakerState::ForcedOpen),
            ]
        }

        proptest! {
            /// Whatever the breaker says and however little time is left, a wait for
            /// it never ends at or past the deadline.
            #[test]
            fn no_breaker_wait_ends_past_the_deadline(
                deadline_us in 1_u64..10_000_000,
                elapsed_us in 0_u64..10_000_000,
                retry_in_us in proptest::option::of(0_u64..20_000_000),
                backoff_us in 0_u64..5_000_000,
                state in any_state(),
                refusals in 1_usize..4,
            ) {
                let mut policy = Policy::builder(Constant::new(Duration::from_micros(backoff_us)))
                    .max_elapsed(Duration::from_micros(deadline_us))
                    .build()
                    .unwrap();
                let mut call = Call::begin(&policy, &StdClock);
                call.next_attempt(Duration::ZERO);
                let elapsed = Duration::from_micros(elapsed_us);
                let rejected = Rejected::new(state, retry_in_us.map(Duration::from_micros));
                for _ in 0..refusals {
                    if let Ok(wait) = call.refused(&mut policy, elapsed, rejected) {
                        prop_assert!(elapsed + wait < Duration::from_micros(deadline_us));
                        prop_assert!(wait >= Duration::from_millis(1));
                    }
                }
            }

            /// No retry is scheduled to start at or past the deadline, whatever the
            /// backoff and the server's hint.
            #[test]
            fn no_retry_starts_past_the_deadline(
                deadline_us in 1_u64..10_000_000,
                elapsed_us in 0_u64..10_000_000,
                backoff_us in 0_u64..5_000_000,
                hint_us in proptest::option::of(0_u64..120_000_000),
            ) {
                let mut policy = Policy::builder(Constant::new(Duration::from_micros(backoff_us)))
                    .max_attempts(u32::MAX)
                    .max_elapsed(Duration::from_micros(deadline_us))
                    .build()
                    .unwrap();
                let mut call = Call::begin(&policy, &StdClock);
                call.next_attempt(Duration::ZERO);
                let decision = hint_us.map_or(Decision::Retry, |us| {
                    Decision::RetryAfter(Duration::from_micros(us))
                });
                let elapsed = Duration::from_micros(elapsed_us);
                let next = call.after(
                    &mut policy,
                    Idempotency::Idempotent,
                    Ending::Finished(decision),
                    true,
                    || elapsed,
                );
                if let Next::Retry { delay, .. } = next {
                    prop_assert!(elapsed + delay < Duration::from_micros(deadline_us));
                }
            }
        }
    }
}
