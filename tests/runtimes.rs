//! The same call under every supported runtime, and with none: a call that fails twice
//! and then succeeds makes exactly three attempts and waits exactly twice.
//!
//! These tests run real timers (each runtime's own), so their delays are a few
//! microseconds: what they prove is that the timer of each runtime fires, not how long
//! it takes. Exact schedules are pinned under tokio's paused time elsewhere.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use steadfast::{
    CircuitBreaker, Constant, Decision, Policy, RetryBudget, RetryEvent, StopReason, retry,
    retry_blocking,
};

const TICK: Duration = Duration::from_micros(20);

fn policy() -> Policy<Constant> {
    support::constant(TICK, 5)
}

/// Fails on the first two attempts.
fn flaky(attempt: steadfast::Attempt) -> Result<u32, std::io::Error> {
    match attempt.number() {
        1 | 2 => Err(std::io::ErrorKind::ConnectionReset.into()),
        n => Ok(n),
    }
}

/// The retries a call announced, as (attempt, delay).
#[derive(Default)]
struct Retries(Mutex<Vec<(u32, Duration)>>);

impl Retries {
    fn record<T, E>(&self) -> impl FnMut(&RetryEvent<'_, T, E>) + '_ {
        |event| self.0.lock().unwrap().push((event.attempt, event.delay))
    }

    fn seen(&self) -> Vec<(u32, Duration)> {
        self.0.lock().unwrap().clone()
    }
}

fn expected() -> Vec<(u32, Duration)> {
    vec![(1, TICK), (2, TICK)]
}

#[test]
fn the_default_sleeper_works_outside_a_tokio_runtime() {
    let retries = Retries::default();
    let value = futures_executor::block_on(
        retry(|attempt| async move { flaky(attempt) })
            .with(policy())
            .on_retry(retries.record()),
    );
    assert_eq!(value.unwrap(), 3);
    assert_eq!(retries.seen(), expected());
}

#[test]
fn the_default_sleeper_works_outside_a_runtime_with_an_attempt_timeout() {
    let policy = Policy::builder(Constant::new(TICK))
        .max_attempts(5)
        .attempt_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let retries = Retries::default();
    let value = futures_executor::block_on(
        retry(|attempt| async move { flaky(attempt) })
            .with(policy)
            .on_retry(retries.record()),
    );
    assert_eq!(value.unwrap(), 3);
    assert_eq!(retries.seen().len(), 2);
}

#[cfg(feature = "futures-timer")]
#[test]
fn futures_timer_under_the_futures_executor() {
    let retries = Retries::default();
    let value = futures_executor::block_on(
        retry(|attempt| async move { flaky(attempt) })
            .with(policy())
            .sleeper(steadfast::FuturesTimerSleeper)
            .on_retry(retries.record()),
    );
    assert_eq!(value.unwrap(), 3);
    assert_eq!(retries.seen(), expected());
}

#[cfg(feature = "async-io")]
#[test]
fn async_io_under_its_own_executor() {
    let retries = Retries::default();
    let value = async_io::block_on(
        retry(|attempt| async move { flaky(attempt) })
            .with(policy())
            .sleeper(steadfast::AsyncIoSleeper)
            .on_retry(retries.record()),
    );
    assert_eq!(value.unwrap(), 3);
    assert_eq!(retries.seen(), expected());
}

#[test]
fn tokio_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let value = runtime.block_on(async {
        tokio::spawn(retry(|attempt| async move { flaky(attempt) }).with(policy()))
            .await
            .unwrap()
    });
    assert_eq!(value.unwrap(), 3);
}

#[test]
fn blocking_retries_on_this_thread() {
    let retries = Retries::default();
    let value = retry_blocking(flaky)
        .with(policy())
        .on_retry(retries.record())
        .call();
    assert_eq!(value.unwrap(), 3);
    assert_eq!(retries.seen(), expected());
}

#[test]
fn blocking_shares_the_schedule_classifier_breaker_and_budget() {
    // A recording sleeper: the exact delays, and no time spent.
    let sleeper = support::Recorder::default();
    let policy = Policy::builder(steadfast::Exponential::new(Duration::from_millis(100)))
        .jitter(steadfast::Jitter::none())
        .max_attempts(4)
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(10)
        .build()
        .unwrap();
    let budget = RetryBudget::token_bucket(1.0, 10.0).build().unwrap();
    let calls = AtomicU32::new(0);
    let err = retry_blocking(|_| {
        calls.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>("busy")
    })
    .with(policy)
    .when(|_| Decision::Retry)
    .breaker(&breaker)
    .budget(&budget)
    .sleeper(sleeper.clone())
    .call()
    .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts(), calls.load(Ordering::Relaxed)),
        (StopReason::AttemptsExhausted, 4, 4)
    );
    assert_eq!(
        sleeper.delays(),
        [100, 200, 400].map(Duration::from_millis),
        "the async call's schedule"
    );
    assert_eq!(breaker.snapshot().consecutive_failures, 4);
    assert_eq!(budget.snapshot().granted, 3);

    // A permanent failure stops at once, as in the async call.
    let err = retry_blocking(|_| Err::<(), _>("bad request"))
        .when(|_| Decision::Fail)
        .sleeper(sleeper.clone())
        .call()
        .unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Permanent, 1));
}

#[cfg(feature = "futures-timer")]
#[test]
fn blocking_waits_on_an_async_timer_by_parking_the_thread() {
    let value = retry_blocking(flaky)
        .with(policy())
        .sleeper(steadfast::FuturesTimerSleeper)
        .call();
    assert_eq!(value.unwrap(), 3);
}
