//! Adaptive client-side throttling: against the SRE book's formula, over time, and
//! inside `retry`.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use steadfast::{AdaptiveThrottle, CallOutcome, CircuitBreaker, Decision, StopReason, retry};
use support::{ManualClock, constant};

fn throttle(k: f64, padding: f64, clock: &ManualClock) -> AdaptiveThrottle {
    AdaptiveThrottle::builder()
        .accept_ratio(k)
        .padding(padding)
        .window(Duration::from_secs(10))
        .max_rejection_probability(1.0)
        .clock(clock.clone())
        .seed(2026)
        .build()
        .unwrap()
}

/// The reference model: the SRE book's formula over plain counts.
fn model(requests: u64, accepts: u64, k: f64, padding: f64) -> f64 {
    let requests = requests as f64;
    ((requests - k * accepts as f64) / (requests + padding)).clamp(0.0, 1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: support::cases(64), ..ProptestConfig::default() })]

    /// For any mix of accepts and failures, the probability is the model's, and the
    /// share of requests rejected over many admissions is within a few standard
    /// deviations of it.
    #[test]
    fn rejections_follow_the_reference_model(
        accepts in 0_u64..4_000,
        failures in 0_u64..4_000,
        k in 1.0_f64..4.0,
        padding in 0.0_f64..16.0,
    ) {
        let clock = ManualClock::new();
        let throttle = throttle(k, padding, &clock);
        for _ in 0..accepts {
            throttle.record(CallOutcome::Success);
        }
        for _ in 0..failures {
            throttle.record(CallOutcome::Failure);
        }
        let snapshot = throttle.snapshot();
        prop_assert_eq!((snapshot.requests, snapshot.accepts), (accepts + failures, accepts));
        let expected = model(accepts + failures, accepts, k, padding);
        prop_assert!((snapshot.rejection_probability - expected).abs() < 1e-12);

        // Each local rejection adds a request, so the model walks along with it.
        let (mut requests, mut rejected, mut expected_sum, mut variance) = (accepts + failures, 0_u64, 0.0, 0.0);
        const ADMISSIONS: u64 = 400;
        for _ in 0..ADMISSIONS {
            let p = model(requests, accepts, k, padding);
            expected_sum += p;
            variance += p * (1.0 - p);
            if let Err(rejection) = throttle.try_admit() {
                prop_assert!((rejection.probability() - p).abs() < 1e-12);
                rejected += 1;
                requests += 1;
            }
        }
        prop_assert_eq!(throttle.snapshot().rejected, rejected);
        let tolerance = 5.0 * variance.sqrt() + 1.0;
        prop_assert!(
            (rejected as f64 - expected_sum).abs() <= tolerance,
            "rejected {} of {}, expected {:.1} ± {:.1}", rejected, ADMISSIONS, expected_sum, tolerance
        );
    }

    /// With no failure, nothing is ever rejected, whatever the settings and traffic.
    #[test]
    fn never_rejects_without_failures(
        accepts in 0_u64..2_000,
        k in 1.0_f64..1e6,
        padding in 0.0_f64..1e9,
        steps in proptest::collection::vec(0_u64..20_000_000_000, 0..20),
    ) {
        let clock = ManualClock::new();
        let throttle = throttle(k, padding, &clock);
        for step in steps {
            for _ in 0..accepts / 20 {
                prop_assert!(throttle.try_admit().is_ok());
                throttle.record(CallOutcome::Success);
            }
            clock.advance(Duration::from_nanos(step));
        }
        prop_assert_eq!(throttle.snapshot().rejected, 0);
        prop_assert_eq!(throttle.snapshot().rejection_probability, 0.0);
    }
}

#[test]
fn below_one_failure_in_k_nothing_is_rejected() {
    let clock = ManualClock::new();
    let throttle = throttle(2.0, 1.0, &clock);
    // 100 requests, 50 accepted: exactly at 1 in K, the probability is still zero.
    for _ in 0..50 {
        throttle.record(CallOutcome::Success);
        throttle.record(CallOutcome::Failure);
    }
    assert_eq!(throttle.snapshot().rejection_probability, 0.0);
    throttle.record(CallOutcome::Failure);
    // 101 requests, 50 accepts: (101 - 100) / 102.
    let p = throttle.snapshot().rejection_probability;
    assert!((p - 1.0 / 102.0).abs() < 1e-12, "{p}");
}

#[test]
fn recovers_when_accepts_return_and_when_failures_expire() {
    let clock = ManualClock::new();
    let throttle = throttle(2.0, 1.0, &clock);
    for _ in 0..1_000 {
        throttle.record(CallOutcome::Failure);
    }
    assert!(throttle.snapshot().rejection_probability > 0.99);
    // The dependency is back: accepts bring the probability down, to zero once they
    // are half the requests (1 000 failures, 1 000 accepts).
    for _ in 0..400 {
        throttle.record(CallOutcome::Success);
    }
    let p = throttle.snapshot().rejection_probability;
    assert!((p - model(1_400, 400, 2.0, 1.0)).abs() < 1e-12, "{p}");
    for _ in 0..599 {
        throttle.record(CallOutcome::Success);
    }
    assert!(throttle.snapshot().rejection_probability > 0.0);
    throttle.record(CallOutcome::Success);
    assert_eq!(throttle.snapshot().rejection_probability, 0.0);
    assert!(throttle.try_admit().is_ok());

    // Failures alone also expire with the window.
    for _ in 0..10_000 {
        throttle.record(CallOutcome::Failure);
    }
    let p = throttle.snapshot().rejection_probability;
    assert!((p - model(12_000, 1_000, 2.0, 1.0)).abs() < 1e-12, "{p}");
    clock.advance(Duration::from_secs(11));
    let snapshot = throttle.snapshot();
    assert_eq!(
        (snapshot.requests, snapshot.rejection_probability),
        (0, 0.0)
    );
    for _ in 0..1_000 {
        assert!(throttle.try_admit().is_ok());
    }
}

#[test]
fn the_probability_never_exceeds_its_cap() {
    let clock = ManualClock::new();
    let throttle = AdaptiveThrottle::builder()
        .max_rejection_probability(0.75)
        .clock(clock.clone())
        .seed(9)
        .build()
        .unwrap();
    for _ in 0..10_000 {
        throttle.record(CallOutcome::Failure);
    }
    assert_eq!(throttle.snapshot().rejection_probability, 0.75);
    let admitted = (0..10_000).filter(|_| throttle.try_admit().is_ok()).count();
    // A quarter is still sent: 2 500 ± 5 standard deviations (216).
    assert!((2_284..=2_716).contains(&admitted), "{admitted}");
}

#[test]
fn impossible_settings_are_rejected() {
    for builder in [
        AdaptiveThrottle::builder().accept_ratio(0.99),
        AdaptiveThrottle::builder().accept_ratio(f64::INFINITY),
        AdaptiveThrottle::builder().padding(-1.0),
        AdaptiveThrottle::builder().max_rejection_probability(1.5),
        AdaptiveThrottle::builder().window(Duration::ZERO),
        AdaptiveThrottle::builder().window(Duration::MAX),
    ] {
        assert!(builder.build().is_err());
    }
    let err = AdaptiveThrottle::builder()
        .accept_ratio(0.5)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "accept ratio must be between 1 and 1e6, got 0.5"
    );
}

#[tokio::test(start_paused = true)]
async fn a_local_rejection_ends_a_call_without_counting_against_the_breaker() {
    let clock = ManualClock::new();
    let throttle = throttle(2.0, 0.0, &clock);
    for _ in 0..1_000 {
        throttle.record(CallOutcome::Failure);
    }
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut sent = 0;
    let mut throttled = 0;
    for _ in 0..100 {
        let result = retry(|_| {
            sent += 1;
            async { Ok::<_, &str>(()) }
        })
        .with(constant(Duration::from_millis(10), 3))
        .breaker(&breaker)
        .throttle(&throttle)
        .await;
        match result {
            Ok(()) => {}
            Err(err) => {
                assert_eq!(err.reason(), StopReason::ThrottledLocally);
                assert_eq!(err.attempts(), 0);
                assert!(err.error().is_none());
                assert_eq!(
                    err.to_string(),
                    "gave up after 0 attempts (rejected locally by the adaptive throttle)"
                );
                throttled += 1;
            }
        }
    }
    assert_eq!(sent + throttled, 100);
    assert!(throttled > 90, "{throttled}");
    // Rejections never reached the breaker, and the successes it saw keep it closed.
    assert_eq!(breaker.state(), steadfast::BreakerState::Closed);
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.consecutive_failures, snapshot.window_failures),
        (0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_retry_returns_the_last_error() {
    let clock = ManualClock::new();
    let throttle = throttle(2.0, 0.0, &clock);
    // Every attempt fails; the first is admitted (no failure yet), and the retries
    // meet a probability of 1 (requests with no accepts, no padding).
    let err = retry(|_| async { Err::<(), _>("overloaded") })
        .with(constant(Duration::from_millis(10), 5))
        .when(|_| Decision::Retry)
        .throttle(&throttle)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::ThrottledLocally);
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.error(), Some(&"overloaded"));
    let snapshot = throttle.snapshot();
    assert_eq!(
        (snapshot.requests, snapshot.accepts, snapshot.rejected),
        (2, 0, 1)
    );
}

#[test]
fn admission_on_many_threads_counts_every_outcome() {
    let clock = ManualClock::new();
    let throttle = throttle(2.0, 1.0, &clock);
    // A healthy history first, so that no thread's early failure, before the others'
    // accepts are in, can tip the window past one failure in K.
    for _ in 0..1_000 {
        throttle.record(CallOutcome::Success);
    }
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let throttle = &throttle;
            scope.spawn(move || {
                for i in 0..1_000 {
                    if throttle.try_admit().is_ok() {
                        let outcome = if (i + thread) % 4 == 0 {
                            CallOutcome::Failure
                        } else {
                            CallOutcome::Success
                        };
                        throttle.record(outcome);
                    }
                }
            });
        }
    });
    let snapshot = throttle.snapshot();
    // One failure in four is well under one in K: nothing was rejected.
    assert_eq!(snapshot.rejected, 0);
    assert_eq!((snapshot.requests, snapshot.accepts), (9_000, 7_000));
}

#[test]
fn throttles_without_a_seed_draw_differently() {
    // Two clients of one failing dependency must not reject in lockstep.
    let clock = ManualClock::new();
    let rejections = |throttle: &AdaptiveThrottle| -> Vec<bool> {
        for _ in 0..1_000 {
            throttle.record(CallOutcome::Failure);
        }
        (0..128).map(|_| throttle.try_admit().is_err()).collect()
    };
    let built = || {
        AdaptiveThrottle::builder()
            .max_rejection_probability(0.5)
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    assert_ne!(rejections(&built()), rejections(&built()));
    assert_ne!(
        rejections(&AdaptiveThrottle::default()),
        rejections(&AdaptiveThrottle::default())
    );
}

#[test]
fn a_rejection_and_a_throttle_say_what_they_are() {
    let clock = ManualClock::new();
    let throttle = throttle(2.0, 1.0, &clock);
    for _ in 0..99 {
        throttle.record(CallOutcome::Failure);
    }
    let rejection = (0..100)
        .find_map(|_| throttle.try_admit().err())
        .expect("a rejection at 99%");
    assert_eq!(
        rejection.to_string(),
        format!(
            "rejected locally by the adaptive throttle (rejecting {:.0}% of requests)",
            rejection.probability() * 100.0
        )
    );
    assert!(
        rejection
            .to_string()
            .contains("(rejecting 99% of requests)")
    );
    let debug = format!("{throttle:?}");
    assert!(debug.starts_with("AdaptiveThrottle {"), "{debug}");
    assert!(
        debug.contains("accept_ratio: 2.0") && debug.contains("padding: 1.0"),
        "{debug}"
    );
    let builder = format!("{:?}", AdaptiveThrottle::builder().seed(4));
    assert!(builder.starts_with("ThrottleBuilder {"), "{builder}");
    assert!(
        builder.contains("seed: Some(4)") && builder.contains("window: 2s"),
        "{builder}"
    );
}
