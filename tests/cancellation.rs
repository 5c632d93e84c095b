//! A call dropped at each of its await points leaves its breaker, budget and throttle
//! right: every probe permit given back, every token accounted for, no copy left
//! running. Paused time places each drop exactly.

mod support;

use std::time::Duration;

use steadfast::{
    AdaptiveThrottle, BreakerState, CallOutcome, CircuitBreaker, Constant, Jitter, Policy,
    RetryBudget, hedge, retry,
};
use tokio::time::{sleep, timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A breaker half-open with one probe slot: whether that slot is free shows whether a
/// dropped call gave its permit back.
async fn half_open() -> CircuitBreaker {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .without_failure_rate()
        .open_for(ms(100))
        .half_open_probes(1, 1)
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    sleep(ms(100)).await;
    breaker
}

fn budget() -> RetryBudget {
    RetryBudget::token_bucket(1e-6, 5.0).build().unwrap()
}

fn policy(delay: Duration, deadline: Option<Duration>) -> Policy<Constant> {
    let builder = Policy::builder(Constant::new(delay))
        .jitter(Jitter::none())
        .max_attempts(5);
    match deadline {
        Some(deadline) => builder.max_elapsed(deadline).build().unwrap(),
        None => builder.build().unwrap(),
    }
}

/// The one probe slot is free: a new call can take it.
fn probe_is_free(breaker: &CircuitBreaker) -> bool {
    breaker.try_acquire().is_ok()
}

#[tokio::test(start_paused = true)]
async fn dropped_before_its_first_poll() {
    let (breaker, budget) = (half_open().await, budget());
    let call = retry(|_| async { Ok::<_, &str>(()) })
        .breaker(&breaker)
        .budget(&budget);
    drop(call);
    assert!(probe_is_free(&breaker));
    assert_eq!(budget.snapshot().granted, 0);
}

#[tokio::test(start_paused = true)]
async fn dropped_while_an_attempt_runs() {
    let (breaker, budget) = (half_open().await, budget());
    let call = retry(|_| async {
        sleep(ms(1_000)).await;
        Ok::<_, &str>(())
    })
    .with(policy(ms(10), None))
    .breaker(&breaker)
    .budget(&budget);
    assert!(timeout(ms(50), call).await.is_err());
    assert!(
        probe_is_free(&breaker),
        "the attempt's probe was given back"
    );
    assert_eq!(breaker.state(), BreakerState::HalfOpen, "and not recorded");
    assert_eq!(budget.snapshot().granted, 0);
}

#[tokio::test(start_paused = true)]
async fn dropped_while_an_attempt_runs_under_its_timeout() {
    let (breaker, budget) = (half_open().await, budget());
    let policy = Policy::builder(Constant::new(ms(10)))
        .attempt_timeout(ms(500))
        .build()
        .unwrap();
    let call = retry(|_| async {
        sleep(ms(1_000)).await;
        Ok::<_, &str>(())
    })
    .with(policy)
    .breaker(&breaker)
    .budget(&budget);
    assert!(timeout(ms(50), call).await.is_err());
    assert!(probe_is_free(&breaker));
    assert_eq!(budget.snapshot().granted, 0);
}

#[tokio::test(start_paused = true)]
async fn dropped_while_sleeping_before_a_retry() {
    let budget = budget();
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(3)
        .without_failure_rate()
        .build()
        .unwrap();
    let mut attempts = 0;
    let call = retry(|_| {
        attempts += 1;
        async { Err::<(), _>("down") }
    })
    .with(policy(ms(1_000), None))
    .breaker(&breaker)
    .budget(&budget);
    assert!(timeout(ms(500), call).await.is_err());
    // One attempt failed and was recorded; its retry was paid for and never ran.
    assert_eq!(attempts, 1);
    assert_eq!(breaker.snapshot().consecutive_failures, 1);
    assert_eq!(budget.snapshot().granted, 1);
    // The breaker holds no permit: three more failures from elsewhere trip it at the
    // third, as they would have without the dropped call's retry.
    for _ in 0..2 {
        breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn dropped_while_waiting_for_an_open_breaker() {
    let budget = budget();
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .without_failure_rate()
        .open_for(ms(1_000))
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    let mut attempts = 0;
    let call = retry(|_| {
        attempts += 1;
        async { Ok::<_, &str>(()) }
    })
    .with(policy(ms(10), Some(ms(10_000))))
    .breaker(&breaker)
    .budget(&budget);
    // The deadline leaves time to wait for the probe at 1 s: drop it while it waits.
    assert!(timeout(ms(500), call).await.is_err());
    assert_eq!(attempts, 0);
    assert_eq!(budget.snapshot().granted, 0);
    sleep(ms(1_500)).await;
    assert!(breaker.try_acquire().is_ok(), "the probe slot is free");
}

#[tokio::test(start_paused = true)]
async fn dropped_after_yielding_between_immediate_retries() {
    let budget = RetryBudget::token_bucket(1e-6, 1_000.0).build().unwrap();
    // A throttle that only counts: it never rejects.
    let throttle = AdaptiveThrottle::builder()
        .max_rejection_probability(0.0)
        .build()
        .unwrap();
    // Zero-delay retries yield to the scheduler after a run of 32; the call is dropped
    // at that yield, never polled again.
    let mut attempts = 0_u64;
    let call = retry(|_| {
        attempts += 1;
        async { Err::<(), _>("busy") }
    })
    .with(
        Policy::builder(Constant::new(Duration::ZERO))
            .jitter(Jitter::none())
            .max_attempts(1_000)
            .build()
            .unwrap(),
    )
    .budget(&budget)
    .throttle(&throttle);
    let mut call = Box::pin(call);
    let polled = support::poll_once(&mut call).await;
    assert!(polled.is_pending());
    drop(call);
    assert_eq!(attempts, 32);
    // Every attempt's outcome reached the throttle, and each failure paid for the
    // retry after it: the last one was paid and never ran.
    assert_eq!(throttle.snapshot().requests, attempts);
    assert_eq!(budget.snapshot().granted, attempts);
}

#[tokio::test(start_paused = true)]
async fn a_hedged_call_dropped_with_copies_in_flight() {
    let (breaker, budget) = (half_open().await, budget());
    let call = hedge(|_| async {
        sleep(ms(1_000)).await;
        Ok::<_, &str>(())
    })
    .after(ms(10))
    .breaker(&breaker)
    .budget(&budget);
    // The first copy holds the one probe; the second is refused by the breaker.
    assert!(timeout(ms(50), call).await.is_err());
    assert!(probe_is_free(&breaker));
    // The second copy was paid for before the breaker refused it.
    assert_eq!(budget.snapshot().granted, 1);
}
