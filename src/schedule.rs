//! The decisions of a call, as plain functions of plain values: testable without a
//! runtime, and compiled once rather than for every operation type.

use std::time::Duration;

use crate::classify::Decision;
use crate::error::StopReason;
use crate::idempotency::Idempotency;
use crate::policy::RetryPolicy;

/// What a decision means for a call of the given idempotency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Return the outcome as it is.
    Finish,
    /// Retry, honouring the server's hint if there is one.
    Retry(Option<Duration>),
    /// Stop, for this reason.
    Stop(StopReason),
}

#[inline]
pub(crate) fn judge(decision: Decision, idempotency: Idempotency) -> Verdict {
    let repeatable = idempotency != Idempotency::NotIdempotent;
    match decision {
        Decision::Success | Decision::Fail => Verdict::Finish,
        Decision::RetryUnsent => Verdict::Retry(None),
        Decision::RetryIfKeyed if idempotency == Idempotency::Keyed => Verdict::Retry(None),
        Decision::RetryIfKeyed => Verdict::Finish,
        Decision::Retry if repeatable => Verdict::Retry(None),
        Decision::RetryAfter(hint) if repeatable => Verdict::Retry(Some(hint)),
        Decision::Retry | Decision::RetryAfter(_) => Verdict::Stop(StopReason::NotIdempotent),
    }
}

/// What follows a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Retry(Duration),
    Stop(StopReason),
}

/// Chooses the delay after transient failure number `failed_attempt`, `elapsed` into the
/// call, given the server's hint if it sent one.
#[inline]
pub(crate) fn after_failure<P: RetryPolicy + ?Sized>(
    policy: &mut P,
    failed_attempt: u32,
    elapsed: Duration,
    hint: Option<Duration>,
) -> Next {
    let Some(backoff) = policy.next_delay(failed_attempt) else {
        return Next::Stop(StopReason::AttemptsExhausted);
    };
    let delay = match hint {
        Some(retry_after) if retry_after > policy.max_retry_after() => {
            return Next::Stop(StopReason::RetryAfterTooLong { retry_after });
        }
        Some(retry_after) => backoff.max(retry_after),
        None => backoff,
    };
    if let Some(deadline) = policy.max_elapsed() {
        // The next attempt must start before the deadline, or it would have no time.
        if elapsed.saturating_add(delay) >= deadline {
            return Next::Stop(match hint {
                Some(retry_after) if elapsed.saturating_add(retry_after) >= deadline => {
                    StopReason::RetryAfterTooLong { retry_after }
                }
                _ => StopReason::DeadlineExceeded,
            });
        }
    }
    Next::Retry(delay)
}

/// How long the next attempt may run, and whether that limit is the call's deadline
/// (which ends the call) rather than the per-attempt timeout (which allows a retry).
#[inline]
pub(crate) fn attempt_limit<P: RetryPolicy + ?Sized>(
    policy: &P,
    elapsed: Duration,
) -> Option<(Duration, bool)> {
    let remaining = policy
        .max_elapsed()
        .map(|deadline| deadline.saturating_sub(elapsed));
    match (policy.attempt_timeout(), remaining) {
        (Some(timeout), Some(remaining)) if remaining <= timeout => Some((remaining, true)),
        (Some(timeout), _) => Some((timeout, false)),
        (None, Some(remaining)) => Some((remaining, true)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Constant, Jitter, Policy};

    fn policy(attempts: u32) -> Policy<Constant> {
        Policy::builder(Constant::new(Duration::from_secs(1)))
            .jitter(Jitter::none())
            .max_attempts(attempts)
            .max_elapsed(Duration::from_secs(10))
            .max_retry_after(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    #[test]
    fn idempotency_decides_what_is_repeated() {
        use Idempotency::*;
        let hint = Duration::from_secs(1);
        let cases = [
            (
                Decision::Retry,
                [
                    Verdict::Retry(None),
                    Verdict::Retry(None),
                    Verdict::Stop(StopReason::NotIdempotent),
                ],
            ),
            (
                Decision::RetryAfter(hint),
                [
                    Verdict::Retry(Some(hint)),
                    Verdict::Retry(Some(hint)),
                    Verdict::Stop(StopReason::NotIdempotent),
                ],
            ),
            (Decision::RetryUnsent, [Verdict::Retry(None); 3]),
            (
                Decision::RetryIfKeyed,
                [Verdict::Finish, Verdict::Retry(None), Verdict::Finish],
            ),
            (Decision::Fail, [Verdict::Finish; 3]),
            (Decision::Success, [Verdict::Finish; 3]),
        ];
        for (decision, expected) in cases {
            for (idempotency, verdict) in
                [Idempotent, Keyed, NotIdempotent].into_iter().zip(expected)
            {
                assert_eq!(
                    judge(decision, idempotency),
                    verdict,
                    "{decision:?} {idempotency:?}"
                );
            }
        }
    }

    #[test]
    fn a_hint_raises_the_delay() {
        let next = after_failure(
            &mut policy(3),
            1,
            Duration::ZERO,
            Some(Duration::from_secs(4)),
        );
        assert_eq!(next, Next::Retry(Duration::from_secs(4)));
        let next = after_failure(
            &mut policy(3),
            1,
            Duration::ZERO,
            Some(Duration::from_millis(1)),
        );
        assert_eq!(next, Next::Retry(Duration::from_secs(1)));
    }

    #[test]
    fn a_hint_beyond_the_limit_or_the_deadline_stops() {
        let hint = Duration::from_secs(999_999_999);
        let next = after_failure(&mut policy(3), 1, Duration::ZERO, Some(hint));
        assert_eq!(
            next,
            Next::Stop(StopReason::RetryAfterTooLong { retry_after: hint })
        );
        let hint = Duration::from_secs(3);
        let next = after_failure(&mut policy(3), 1, Duration::from_secs(8), Some(hint));
        assert_eq!(
            next,
            Next::Stop(StopReason::RetryAfterTooLong { retry_after: hint })
        );
    }

    #[test]
    fn a_hint_of_exactly_the_limit_is_honoured() {
        let limit = Duration::from_secs(5);
        let next = after_failure(&mut policy(3), 1, Duration::ZERO, Some(limit));
        assert_eq!(next, Next::Retry(limit));
        let over = limit + Duration::from_nanos(1);
        let next = after_failure(&mut policy(3), 1, Duration::ZERO, Some(over));
        assert_eq!(
            next,
            Next::Stop(StopReason::RetryAfterTooLong { retry_after: over })
        );
    }

    #[test]
    fn a_short_hint_does_not_take_the_blame_for_the_backoff_passing_the_deadline() {
        // 9.5 s in, the backoff's 1 s passes the 10 s deadline; a 100 ms hint alone
        // would not: the deadline stopped the call, not the server.
        let hint = Duration::from_millis(100);
        let next = after_failure(&mut policy(3), 1, Duration::from_millis(9_500), Some(hint));
        assert_eq!(next, Next::Stop(StopReason::DeadlineExceeded));
    }

    #[test]
    fn never_sleeps_past_the_deadline() {
        let next = after_failure(&mut policy(30), 5, Duration::from_millis(8_999), None);
        assert_eq!(next, Next::Retry(Duration::from_secs(1)));
        let next = after_failure(&mut policy(30), 5, Duration::from_secs(9), None);
        assert_eq!(next, Next::Stop(StopReason::DeadlineExceeded));
        let next = after_failure(&mut policy(30), 5, Duration::MAX, None);
        assert_eq!(next, Next::Stop(StopReason::DeadlineExceeded));
    }

    #[test]
    fn attempts_run_out_before_anything_else() {
        let next = after_failure(&mut policy(2), 2, Duration::ZERO, Some(Duration::MAX));
        assert_eq!(next, Next::Stop(StopReason::AttemptsExhausted));
    }

    #[test]
    fn the_attempt_limit_is_the_nearer_of_timeout_and_deadline() {
        let with_timeout = Policy::builder(Constant::new(Duration::ZERO))
            .attempt_timeout(Duration::from_secs(2))
            .max_elapsed(Duration::from_secs(5))
            .build()
            .unwrap();
        assert_eq!(
            attempt_limit(&with_timeout, Duration::ZERO),
            Some((Duration::from_secs(2), false))
        );
        assert_eq!(
            attempt_limit(&with_timeout, Duration::from_secs(4)),
            Some((Duration::from_secs(1), true))
        );
        assert_eq!(attempt_limit(&Policy::default(), Duration::ZERO), None);
    }
}
