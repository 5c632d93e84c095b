//! The retry engine end to end, under tokio's paused time.

mod support;

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use steadfast::{
    AttemptError, Decision, Exponential, Failure, Fibonacci, Jitter, Linear, Policy, RetryEvent,
    RetryPolicy, StopReason, retry, retry_with,
};
use support::{RecordingSleeper, constant, since};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// Runs an operation that fails `failures` times, recording when each attempt starts.
async fn attempt_times<P: RetryPolicy>(policy: P, failures: u32) -> (Vec<Duration>, u32) {
    attempt_times_with(policy, failures, RecordingSleeper::default()).await
}

async fn attempt_times_with<P: RetryPolicy>(
    policy: P,
    failures: u32,
    sleeper: RecordingSleeper,
) -> (Vec<Duration>, u32) {
    let start = Instant::now();
    let times = Mutex::new(Vec::new());
    let result = retry(|attempt| {
        times.lock().unwrap().push(since(start));
        async move {
            if attempt.number() <= failures {
                Err("down")
            } else {
                Ok(attempt.number())
            }
        }
    })
    .with(policy)
    .sleeper(sleeper)
    .await;
    let attempts = match result {
        Ok(n) => n,
        Err(e) => e.attempts(),
    };
    (times.into_inner().unwrap(), attempts)
}

#[tokio::test(start_paused = true)]
async fn exponential_without_jitter_follows_the_exact_schedule() {
    let policy = Policy::builder(Exponential::new(100 * MS))
        .jitter(Jitter::none())
        .max_attempts(6)
        .max_delay(500 * MS)
        .build()
        .unwrap();
    let (times, attempts) = attempt_times(policy, 10).await;
    assert_eq!(attempts, 6);
    // Sleeps of 100, 200, 400, 500 (capped), 500 ms.
    assert_eq!(times, [0, 100, 300, 700, 1200, 1700].map(|ms| ms * MS));
}

#[tokio::test(start_paused = true)]
async fn linear_and_fibonacci_schedules() {
    let linear = Policy::builder(Linear::new(10 * MS))
        .jitter(Jitter::none())
        .max_attempts(4)
        .build()
        .unwrap();
    assert_eq!(
        attempt_times(linear, 10).await.0,
        [0, 10, 30, 60].map(|ms| ms * MS)
    );

    let fibonacci = Policy::builder(Fibonacci::new(10 * MS))
        .jitter(Jitter::none())
        .max_attempts(6)
        .build()
        .unwrap();
    assert_eq!(
        attempt_times(fibonacci, 10).await.0,
        [0, 10, 20, 40, 70, 120].map(|ms| ms * MS)
    );
}

#[tokio::test(start_paused = true)]
async fn a_seeded_jittered_policy_repeats_its_schedule_exactly() {
    let seeded = || {
        Policy::builder(Exponential::new(100 * MS))
            .max_attempts(8)
            .seed(42)
            .build()
            .unwrap()
    };

    // The delays the policy itself would choose for this seed.
    let mut reference = seeded();
    reference.start(0);
    let expected_delays: Vec<Duration> = (1..8).map(|n| reference.next_delay(n).unwrap()).collect();
    let mut expected_times = vec![Duration::ZERO];
    for delay in &expected_delays {
        expected_times.push(*expected_times.last().unwrap() + *delay);
    }

    let sleeper = RecordingSleeper::default();
    let (times, attempts) = attempt_times_with(seeded(), 100, sleeper.clone()).await;
    assert_eq!(attempts, 8);
    assert_eq!(
        sleeper.delays(),
        expected_delays,
        "exactly the seeded delays"
    );
    // tokio's timer fires on whole milliseconds, rounding each sleep up.
    for (time, expected) in times.iter().zip(&expected_times) {
        assert!(
            *time >= *expected && *time - *expected < 8 * MS,
            "{time:?} vs {expected:?}"
        );
    }
    // Full jitter: each delay at most the un-jittered exponential value.
    for (n, delay) in expected_delays.iter().enumerate() {
        assert!(*delay <= 100 * MS * 2_u32.pow(u32::try_from(n).unwrap()));
    }
    // And a second call with the same seed gets the same schedule.
    let again = RecordingSleeper::default();
    attempt_times_with(seeded(), 100, again.clone()).await;
    assert_eq!(again.delays(), expected_delays);
}

#[tokio::test(start_paused = true)]
async fn unseeded_calls_sharing_a_policy_do_not_share_a_schedule() {
    let policy = Policy::builder(Exponential::new(100 * MS))
        .max_attempts(6)
        .build()
        .unwrap();
    let (first, _) = attempt_times(policy.clone(), 100).await;
    let (second, _) = attempt_times(policy, 100).await;
    assert_ne!(first, second);
}

#[tokio::test(start_paused = true)]
async fn zero_delays_retry_at_once_without_a_timer() {
    let sleeper = RecordingSleeper::default();
    let start = Instant::now();
    let calls = AtomicU32::new(0);
    let result = retry(|_| async {
        let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
        if n < 4 { Err(n) } else { Ok(n) }
    })
    .with(constant(Duration::ZERO, 10))
    .sleeper(sleeper.clone())
    .await;
    assert_eq!(result.unwrap(), 4);
    assert_eq!(sleeper.delays(), [], "no timer was armed");
    assert_eq!(since(start), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn nothing_runs_before_the_first_poll_and_each_retry_waits_for_its_sleep() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let future = retry(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    })
    .with(constant(100 * MS, 3))
    .into_future();
    let handle = tokio::spawn(future);
    assert_eq!(calls.load(Ordering::Relaxed), 0, "not polled yet");

    tokio::task::yield_now().await;
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    tokio::time::advance(99 * MS).await;
    assert_eq!(calls.load(Ordering::Relaxed), 1, "the sleep has not ended");
    tokio::time::advance(MS).await;
    tokio::task::yield_now().await;
    assert_eq!(calls.load(Ordering::Relaxed), 2);

    let err = handle.await.unwrap().unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_stops_at_once_with_the_callers_error() {
    #[derive(Debug, PartialEq)]
    enum MyError {
        Invalid(&'static str),
    }
    impl std::fmt::Display for MyError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let Self::Invalid(field) = self;
            write!(f, "invalid {field}")
        }
    }
    let err = retry(|_| async { Err::<(), _>(MyError::Invalid("name")) })
        .classify(|_: &MyError| Decision::Fail)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::Permanent);
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.into_error(), Some(MyError::Invalid("name")));
}

#[tokio::test(start_paused = true)]
async fn an_err_judged_a_success_is_returned_as_it_is() {
    let err = retry(|_| async { Err::<(), _>(404) })
        .classify(|_: &i32| Decision::Success)
        .await
        .unwrap_err();
    assert_eq!((err.attempts(), err.error()), (1, Some(&404)));
}

#[tokio::test(start_paused = true)]
async fn a_rejected_ok_is_retried_then_returned() {
    let start = Instant::now();
    let statuses = Mutex::new(vec![200, 503, 503]);
    let status = retry(|_| {
        let status = statuses.lock().unwrap().pop().unwrap();
        async move { Ok::<u16, &str>(status) }
    })
    .with(constant(10 * MS, 5))
    .classify_outcome(|outcome| match outcome {
        Ok(503) => Decision::Retry,
        _ => Decision::Success,
    })
    .await;
    assert_eq!(status, Ok(200));
    assert_eq!(since(start), 20 * MS);

    let always_503 = retry(|_| async { Ok::<u16, &str>(503) })
        .with(constant(10 * MS, 3))
        .classify_outcome(|outcome| {
            if outcome == &Ok(503) {
                Decision::Retry
            } else {
                Decision::Success
            }
        })
        .await;
    assert_eq!(
        always_503,
        Ok(503),
        "the last response is the caller's to inspect"
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_hint_raises_the_delay() {
    let start = Instant::now();
    let times = Mutex::new(Vec::new());
    let result = retry(|attempt| {
        times.lock().unwrap().push(since(start));
        async move {
            if attempt.number() == 1 {
                Err("slow down")
            } else {
                Ok(())
            }
        }
    })
    .with(constant(100 * MS, 3))
    .classify(|_: &&str| Decision::RetryAfter(Duration::from_secs(2)))
    .await;
    assert!(result.is_ok());
    assert_eq!(
        *times.lock().unwrap(),
        [Duration::ZERO, Duration::from_secs(2)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_hostile_retry_after_stops_the_call_at_once() {
    let start = Instant::now();
    let hint = Duration::from_secs(999_999_999);
    let err = retry(|_| async { Err::<(), _>("429") })
        .classify(move |_: &&str| Decision::RetryAfter(hint))
        .await
        .unwrap_err();
    assert_eq!(
        err.reason(),
        StopReason::RetryAfterTooLong { retry_after: hint }
    );
    assert_eq!(err.attempts(), 1);
    assert_eq!(since(start), Duration::ZERO, "no time was spent waiting");
}

#[tokio::test(start_paused = true)]
async fn a_hint_past_the_deadline_stops_the_call_at_once() {
    let policy = Policy::builder(Exponential::new(10 * MS))
        .max_elapsed(Duration::from_secs(5))
        .build()
        .unwrap();
    let hint = Duration::from_secs(10);
    let err = retry(|_| async { Err::<(), _>("503") })
        .with(policy)
        .classify(move |_: &&str| Decision::RetryAfter(hint))
        .await
        .unwrap_err();
    assert_eq!(
        err.reason(),
        StopReason::RetryAfterTooLong { retry_after: hint }
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_never_crossed() {
    let policy = Policy::builder(Exponential::new(Duration::from_secs(1)))
        .jitter(Jitter::none())
        .max_attempts(u32::MAX)
        .max_elapsed(Duration::from_secs(10))
        .build()
        .unwrap();
    let start = Instant::now();
    let (times, attempts) = attempt_times(policy, u32::MAX).await;
    // Sleeps of 1, 2, 4 s; the next (8 s) would end at 15 s, past the deadline.
    assert_eq!(times, [0, 1, 3, 7].map(Duration::from_secs));
    assert_eq!(attempts, 4);
    assert_eq!(
        since(start),
        Duration::from_secs(7),
        "stopped at once, without sleeping"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_running_into_the_deadline_is_cut_short() {
    let policy = Policy::builder(Exponential::new(MS))
        .max_elapsed(Duration::from_secs(3))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = retry(|_| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<(), &str>(())
    })
    .with(policy)
    .await
    .unwrap_err();
    assert_eq!(err.reason(), StopReason::DeadlineExceeded);
    assert!(
        matches!(err.last_failure(), Some(AttemptError::TimedOut(d)) if *d == Duration::from_secs(3))
    );
    assert_eq!(since(start), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_times_out_and_counts_as_transient() {
    let policy = Policy::builder(Exponential::new(100 * MS))
        .jitter(Jitter::none())
        .attempt_timeout(Duration::from_secs(1))
        .max_attempts(3)
        .build()
        .unwrap();
    let start = Instant::now();
    let times = Mutex::new(Vec::new());
    let events = Mutex::new(Vec::new());
    let value = retry(|attempt| {
        times.lock().unwrap().push(since(start));
        async move {
            if attempt.number() < 3 {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok::<_, &str>(attempt.number())
        }
    })
    .with(policy)
    .classify(|_: &&str| Decision::Fail)
    .on_retry(|event| {
        events
            .lock()
            .unwrap()
            .push((event.attempt, matches!(event.failure, Failure::TimedOut(_))))
    })
    .await;
    assert_eq!(value, Ok(3));
    // 1 s timeout, 100 ms sleep, 1 s timeout, 200 ms sleep.
    assert_eq!(*times.lock().unwrap(), [0, 1100, 2300].map(|ms| ms * MS));
    assert_eq!(*events.lock().unwrap(), [(1, true), (2, true)]);
}

#[tokio::test(start_paused = true)]
async fn the_hook_sees_attempt_delay_and_error() {
    let events = Mutex::new(Vec::new());
    let _ = retry(|attempt| async move { Err::<(), _>(attempt.number() * 10) })
        .with(constant(50 * MS, 3))
        .on_retry(|event: &RetryEvent<'_, (), u32>| {
            let Failure::Error(error) = event.failure else {
                panic!("not an error")
            };
            events
                .lock()
                .unwrap()
                .push((event.attempt, event.delay, *error, event.elapsed));
        })
        .await;
    assert_eq!(
        *events.lock().unwrap(),
        [(1, 50 * MS, 10, Duration::ZERO), (2, 50 * MS, 20, 50 * MS)]
    );
}

#[tokio::test(start_paused = true)]
async fn every_attempt_of_a_call_shares_one_key_and_calls_do_not() {
    let keys = Mutex::new(Vec::new());
    for _ in 0..2 {
        let _ = retry(|attempt| {
            keys.lock().unwrap().push(attempt.idempotency_key());
            async { Err::<(), _>("down") }
        })
        .with(constant(MS, 3))
        .await;
    }
    let keys = keys.into_inner().unwrap();
    assert_eq!(keys.len(), 6);
    assert!(keys[..3].iter().all(|k| *k == keys[0]));
    assert!(keys[3..].iter().all(|k| *k == keys[3]));
    assert_ne!(keys[0], keys[3]);
}

/// The pain point of closure-based retry crates: an attempt that needs `&mut` access to
/// caller state across an await.
#[tokio::test(start_paused = true)]
async fn operations_can_borrow_caller_state_mutably() {
    struct Session {
        log: Vec<u32>,
    }
    impl Session {
        async fn send(&mut self, attempt: u32) -> Result<u32, &'static str> {
            tokio::time::sleep(MS).await;
            self.log.push(attempt);
            if attempt < 3 {
                Err("busy")
            } else {
                Ok(attempt * 2)
            }
        }
    }

    let mut session = Session { log: Vec::new() };
    let result = retry_with(&mut session, |session, attempt| async move {
        let result = session.send(attempt.number()).await;
        (session, result)
    })
    .with(constant(10 * MS, 5))
    .await;
    assert_eq!(result, Ok(6));
    assert_eq!(session.log, [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn threaded_state_lost_to_a_timeout_stops_the_call() {
    let policy = Policy::builder(Exponential::new(MS))
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut count = 0_u32;
    let err = retry_with(&mut count, |count, _| async move {
        *count += 1;
        tokio::time::sleep(Duration::from_secs(5)).await;
        (count, Ok::<(), &str>(()))
    })
    .with(policy)
    .await
    .unwrap_err();
    assert_eq!(err.reason(), StopReason::StateLost);
    assert_eq!(err.attempts(), 1);
    assert_eq!(count, 1);
}

#[test]
fn futures_are_send_when_their_parts_are() {
    fn assert_send<T: Send>(_: &T) {}
    let future = retry(|_| async { Ok::<_, std::io::Error>(()) }).into_future();
    assert_send(&future);
    let mut state = 0_u8;
    let stateful =
        retry_with(&mut state, |s, _| async move { (s, Ok::<_, &str>(())) }).into_future();
    assert_send(&stateful);
    // A call that borrows a breaker and a budget is still `Send` (and can be spawned
    // from a task that owns them).
    let breaker = steadfast::CircuitBreaker::default();
    let budget = steadfast::RetryBudget::default();
    let shared = retry(|_| async { Ok::<_, std::io::Error>(()) })
        .breaker(&breaker)
        .budget(&budget);
    assert_send(&shared);
    fn assert_sync<T: Sync>(_: &T) {}
    assert_sync(&breaker);
    assert_sync(&budget);
}

#[test]
#[should_panic(expected = "polled after completion")]
fn polling_after_completion_panics_clearly() {
    let mut future = Box::pin(
        retry(|_| async { Ok::<_, &str>(()) })
            .sleeper(support::Instant0)
            .clock(steadfast::StdClock)
            .into_future(),
    );
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
    let _ = future.as_mut().poll(&mut cx);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_sleep_stops_it() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let call = retry(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>("down") }
    })
    .with(constant(Duration::from_secs(1), 5));
    let outcome = tokio::time::timeout(Duration::from_millis(1500), call).await;
    assert!(outcome.is_err(), "cancelled mid-sleep");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn an_operation_that_is_not_idempotent_is_retried_only_when_nothing_was_sent() {
    use std::io::{Error, ErrorKind};
    use steadfast::{Idempotency, IoErrors};

    let errors = Mutex::new(vec![
        ErrorKind::ConnectionReset,
        ErrorKind::ConnectionRefused,
        ErrorKind::ConnectionRefused,
    ]);
    let err = retry(|_| {
        let kind = errors.lock().unwrap().pop().unwrap();
        async move { Err::<(), _>(Error::from(kind)) }
    })
    .with(constant(MS, 5))
    .classify(IoErrors)
    .idempotency(Idempotency::NotIdempotent)
    .await
    .unwrap_err();
    // Two refused connections are retried; the reset one may have been applied.
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::NotIdempotent, 3)
    );

    let policy = Policy::builder(Exponential::new(MS))
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let err = retry(|_| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, &str>(())
    })
    .with(policy)
    .idempotency(Idempotency::NotIdempotent)
    .await
    .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::NotIdempotent, 1),
        "a timed-out attempt may have been applied"
    );
}

#[tokio::test(start_paused = true)]
async fn a_conflict_is_retried_only_with_a_key() {
    use steadfast::Idempotency;
    for (idempotency, attempts) in [
        (Idempotency::Keyed, 3),
        (Idempotency::Idempotent, 1),
        (Idempotency::NotIdempotent, 1),
    ] {
        let err = retry(|_| async { Err::<(), _>(409) })
            .with(constant(MS, 3))
            .classify(|_: &i32| Decision::RetryIfKeyed)
            .idempotency(idempotency)
            .await
            .unwrap_err();
        assert_eq!(err.attempts(), attempts, "{idempotency:?}");
    }
}

/// Issue: zero-delay retries ran inside one `poll`, so a call with many attempts held
/// its worker and could not be cancelled by a timeout or `select!` around it.
#[test]
fn immediate_retries_yield_to_the_scheduler() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::task::{Context, Wake, Waker};

    struct Count(AtomicU32);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let wakes = Arc::new(Count(AtomicU32::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut attempts = 0_u32;
    let attempts_seen = std::cell::Cell::new(0_u32);
    let mut call = Box::pin(
        retry(|_| {
            attempts += 1;
            attempts_seen.set(attempts);
            async { Err::<(), _>("busy") }
        })
        .with(support::constant(Duration::ZERO, 10_000))
        .sleeper(support::Instant0),
    );
    assert!(call.as_mut().poll(&mut cx).is_pending());
    // 32 attempts in one poll, then a yield with a wake-up.
    assert_eq!(attempts_seen.get(), 32);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(attempts_seen.get(), 64);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_around_immediate_retries_cancels_them() {
    let mut attempts = 0_u32;
    let call = retry(|_| {
        attempts += 1;
        async { Err::<(), _>("busy") }
    })
    .with(support::constant(Duration::ZERO, u32::MAX));
    let outcome = tokio::select! {
        result = call => Some(result),
        () = tokio::task::yield_now() => None,
    };
    assert!(
        outcome.is_none(),
        "the other branch ran while the call retried"
    );
    assert!((32..1_000).contains(&attempts), "{attempts}");
}

#[tokio::test]
async fn a_call_is_a_future_as_it_is() {
    use tracing::Instrument;
    let call = retry(|attempt| async move { Ok::<_, &str>(attempt.number()) });
    let spawned = tokio::spawn(call.instrument(tracing::info_span!("call")));
    assert_eq!(spawned.await.unwrap(), Ok(1));
    let (a, b) = tokio::join!(
        retry(|_| async { Ok::<_, &str>(1) }),
        retry(|_| async { Ok::<_, &str>(2) })
    );
    assert_eq!((a, b), (Ok(1), Ok(2)));
}

/// A clock that counts its readings.
#[derive(Clone, Default)]
struct CountingClock(Arc<AtomicU32>);

impl steadfast::Clock for CountingClock {
    fn now(&self) -> std::time::Instant {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::time::Instant::now()
    }
}

#[test]
fn a_call_reads_its_clock_only_when_something_needs_it() {
    let reads = |policy: Policy<steadfast::Constant>, failures: u32| {
        let clock = CountingClock::default();
        let result = support::block_on(
            retry(|attempt| async move {
                if attempt.number() <= failures {
                    Err("busy")
                } else {
                    Ok(())
                }
            })
            .with(policy)
            .sleeper(support::Instant0)
            .clock(clock.clone()),
        );
        assert!(result.is_ok());
        clock.0.load(Ordering::SeqCst)
    };
    let plain = constant(Duration::ZERO, 5);
    assert_eq!(reads(plain.clone(), 0), 0, "no deadline, first try");
    assert_eq!(reads(plain, 3), 0, "no deadline, zero-delay retries");
    let deadline = Policy::builder(steadfast::Constant::new(Duration::ZERO))
        .max_elapsed(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(
        reads(deadline, 0),
        1,
        "a deadline: one reading at the start"
    );
    let sleeping = constant(Duration::from_millis(1), 5);
    // The clock starts before the first sleep; the next attempt reads it again.
    assert_eq!(reads(sleeping, 1), 2, "a sleep starts the clock");
}

/// A policy that gives delays and nothing else: every other setting is the trait's.
struct OnlyDelays;

impl RetryPolicy for OnlyDelays {
    fn next_delay(&mut self, failed_attempt: u32) -> Option<Duration> {
        (failed_attempt < 5).then_some(10 * MS)
    }
}

#[tokio::test(start_paused = true)]
async fn a_policy_of_delays_alone_has_no_deadline_no_attempt_timeout_and_honours_a_minute() {
    assert_eq!(OnlyDelays.max_elapsed(), None);
    assert_eq!(OnlyDelays.attempt_timeout(), None);
    assert_eq!(
        OnlyDelays.max_retry_after(),
        steadfast::DEFAULT_MAX_RETRY_AFTER
    );
    // Each attempt takes a second, and the server asks for the longest wait honoured by
    // default: no attempt is cut short, the hint replaces the policy's 10 ms, and no
    // deadline ends the call.
    let start = Instant::now();
    let times = Mutex::new(Vec::new());
    let result = retry(|attempt| {
        times.lock().unwrap().push(since(start));
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if attempt.number() < 3 {
                Err("busy")
            } else {
                Ok(attempt.number())
            }
        }
    })
    .with(OnlyDelays)
    .classify(|_: &&str| Decision::RetryAfter(steadfast::DEFAULT_MAX_RETRY_AFTER))
    .await;
    assert_eq!(result.unwrap(), 3);
    let secs = Duration::from_secs;
    assert_eq!(*times.lock().unwrap(), [secs(0), secs(61), secs(122)]);
}
