//! Every interleaving loom explores of the breaker's transitions and probe permits,
//! the budgets' withdrawals and deposits (striped counters included), and the
//! throttle's counts: no lost update, no probe over the limit, no token spent twice,
//! permits always returned.
#![cfg(loom)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loom::thread;
use steadfast::{
    AdaptiveThrottle, BreakerState, CallOutcome, CircuitBreaker, Clock, RetryBudget, RetryCause,
};

/// A clock that moves only when told to. Its offset is a plain std atomic: time is
/// the test's input, not part of the state under test.
#[derive(Clone)]
struct Manual(Instant, std::sync::Arc<AtomicU64>);

impl Manual {
    fn new() -> Self {
        Self(Instant::now(), std::sync::Arc::default())
    }
    fn advance(&self, by: Duration) {
        self.1.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for Manual {
    fn now(&self) -> Instant {
        self.0 + Duration::from_nanos(self.1.load(Ordering::SeqCst))
    }
}

/// A ratio budget with no reserve, on a clock that stays put.
fn ratio_budget(ratio: f64) -> RetryBudget {
    RetryBudget::ratio(ratio)
        .min_per_second(0.0)
        .clock(Manual::new())
        .build()
        .unwrap()
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn a_token_bucket_never_spends_its_last_token_twice() {
    model(|| {
        let budget = RetryBudget::token_bucket(1e-6, 1.0)
            .clock(Manual::new())
            .build()
            .unwrap();
        let other = budget.clone();
        let racer = thread::spawn(move || other.try_withdraw(RetryCause::Transient));
        let here = budget.try_withdraw(RetryCause::Transient);
        let there = racer.join().unwrap();
        assert!(here ^ there, "exactly one withdrawal of the one token");
        let snapshot = budget.snapshot();
        assert_eq!((snapshot.granted, snapshot.denied), (1, 1));
    });
}

#[test]
fn a_ratio_budget_never_spends_a_token_twice() {
    model(|| {
        let budget = ratio_budget(0.5);
        budget.deposit();
        budget.deposit();
        let other = budget.clone();
        let racer = thread::spawn(move || other.try_withdraw(RetryCause::Transient));
        let here = budget.try_withdraw(RetryCause::Transient);
        let there = racer.join().unwrap();
        assert!(here ^ there, "two deposits at 0.5 fund one retry");
    });
}

#[test]
fn deposits_from_two_threads_are_all_counted() {
    model(|| {
        let budget = ratio_budget(1.0);
        let other = budget.clone();
        let depositor = thread::spawn(move || {
            other.deposit();
            other.deposit();
        });
        budget.deposit();
        depositor.join().unwrap();
        assert_eq!(budget.snapshot().balance, 3.0, "no deposit lost");
    });
}

#[test]
fn a_deposit_racing_a_withdrawal_is_never_lost() {
    model(|| {
        let budget = ratio_budget(1.0);
        budget.deposit();
        let other = budget.clone();
        let depositor = thread::spawn(move || other.deposit());
        let granted = budget.try_withdraw(RetryCause::Transient);
        depositor.join().unwrap();
        assert!(granted, "one deposit was there before the withdrawal");
        assert_eq!(budget.snapshot().balance, 1.0);
    });
}

/// A breaker opened by one failure, its open spell over: the next admission makes it
/// half-open, with one probe slot.
fn half_open_breaker() -> CircuitBreaker {
    let clock = Manual::new();
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .without_failure_rate()
        .open_for(Duration::from_secs(1))
        .half_open_probes(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    clock.advance(Duration::from_secs(2));
    breaker
}

#[test]
fn no_more_probes_than_the_half_open_limit() {
    model(|| {
        let breaker = half_open_breaker();
        let other = breaker.clone();
        // Each side holds what it got until both have asked.
        let racer = thread::spawn(move || other.try_acquire().ok());
        let here = breaker.try_acquire().ok();
        let there = racer.join().unwrap();
        assert!(
            here.is_none() || there.is_none(),
            "two probes admitted with one slot"
        );
        assert!(here.is_some() || there.is_some(), "the one slot was free");
    });
}

#[test]
fn a_dropped_probe_is_always_given_back() {
    model(|| {
        let breaker = half_open_breaker();
        let probe = breaker.try_acquire().unwrap();
        let other = breaker.clone();
        let racer = thread::spawn(move || other.try_acquire().is_ok());
        drop(probe);
        let _ = racer.join().unwrap();
        // The racer's probe, if it got one, was dropped too: the slot is free.
        assert!(
            breaker.try_acquire().is_ok(),
            "a dropped probe's slot was lost"
        );
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
    });
}

#[test]
fn a_caller_that_finds_the_breaker_closing_under_it_is_admitted() {
    model(|| {
        let breaker = half_open_breaker();
        let probe = breaker.try_acquire().unwrap();
        let other = breaker.clone();
        // The racer may look while the probe is out (refused: half-open, slots full)
        // or after it closed the breaker (admitted); never refused as if open.
        let racer = thread::spawn(move || other.try_acquire().map_err(|r| r.state()));
        breaker.record(probe, CallOutcome::Success);
        match racer.join().unwrap() {
            Ok(permit) => breaker.record(permit, CallOutcome::Success),
            Err(state) => assert_eq!(state, BreakerState::HalfOpen),
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    });
}

#[test]
fn failures_on_two_threads_trip_the_breaker_once_and_for_all() {
    model(|| {
        let breaker = CircuitBreaker::builder()
            .consecutive_failures(2)
            .without_failure_rate()
            .clock(Manual::new())
            .build()
            .unwrap();
        let other = breaker.clone();
        let racer = thread::spawn(move || {
            if let Ok(permit) = other.try_acquire() {
                other.record(permit, CallOutcome::Failure);
            }
        });
        if let Ok(permit) = breaker.try_acquire() {
            breaker.record(permit, CallOutcome::Failure);
        }
        racer.join().unwrap();
        // Both were admitted while closed (a breaker opens only on a recorded
        // failure), so both failures count: no update is lost.
        assert_eq!(breaker.state(), BreakerState::Open);
    });
}

#[test]
fn a_throttle_counts_every_outcome_from_two_threads() {
    model(|| {
        let throttle = AdaptiveThrottle::builder()
            .clock(Manual::new())
            .seed(1)
            .build()
            .unwrap();
        let other = throttle.clone();
        let racer = thread::spawn(move || {
            other.record(CallOutcome::Failure);
            other.record(CallOutcome::Success);
        });
        throttle.record(CallOutcome::Failure);
        racer.join().unwrap();
        let snapshot = throttle.snapshot();
        assert_eq!((snapshot.requests, snapshot.accepts), (3, 1));
    });
}
