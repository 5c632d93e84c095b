//! Properties over every configuration: bounds, limits and no panics.

mod support;

use std::future::IntoFuture;
use std::sync::Mutex;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use steadfast::{
    Backoff, Constant, Decision, Decorrelated, Exponential, Fibonacci, Jitter, JitterRng, Linear,
    Policy, RetryPolicy, StopReason, retry,
};
use support::{Instant0, block_on};

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0_u64..10_000_000_000).prop_map(Duration::from_nanos),
        (any::<u64>(), 0_u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn any_jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::none()),
        Just(Jitter::full()),
        Just(Jitter::equal()),
        (0.0_f64..=1.0).prop_map(|f| Jitter::proportional(f).unwrap()),
    ]
}

#[derive(Debug, Clone)]
enum AnyBackoff {
    Constant(Constant),
    Linear(Linear),
    Exponential(Exponential),
    Fibonacci(Fibonacci),
    Decorrelated(Decorrelated),
}

impl Backoff for AnyBackoff {
    fn delay(&mut self, retry: u32, cap: Duration, rng: &mut JitterRng) -> Duration {
        match self {
            Self::Constant(b) => b.delay(retry, cap, rng),
            Self::Linear(b) => b.delay(retry, cap, rng),
            Self::Exponential(b) => b.delay(retry, cap, rng),
            Self::Fibonacci(b) => b.delay(retry, cap, rng),
            Self::Decorrelated(b) => b.delay(retry, cap, rng),
        }
    }
    fn reset(&mut self) {
        if let Self::Decorrelated(b) = self {
            b.reset();
        }
    }
}

fn any_backoff() -> impl Strategy<Value = AnyBackoff> {
    prop_oneof![
        any_duration().prop_map(|d| AnyBackoff::Constant(Constant::new(d))),
        (any_duration(), any_duration())
            .prop_map(|(b, s)| AnyBackoff::Linear(Linear::new(b).step(s))),
        (
            any_duration(),
            prop_oneof![0.0_f64..10.0, Just(0.0), Just(1.0), Just(f64::MAX)]
        )
            .prop_map(|(b, f)| AnyBackoff::Exponential(Exponential::new(b).factor(f))),
        any_duration().prop_map(|d| AnyBackoff::Fibonacci(Fibonacci::new(d))),
        any_duration().prop_map(|d| AnyBackoff::Decorrelated(Decorrelated::new(d))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: support::cases(512),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_delay_lies_within_the_cap(
        backoff in any_backoff(),
        jitter in any_jitter(),
        cap in any_duration(),
        seed in any::<u64>(),
        retries in proptest::collection::vec(any::<u32>(), 1..20),
    ) {
        let mut policy = Policy::builder(backoff)
            .jitter(jitter)
            .max_delay(cap)
            .max_attempts(u32::MAX)
            .seed(seed)
            .build()
            .unwrap();
        policy.start(0);
        for retry in retries {
            if let Some(delay) = policy.next_delay(retry) {
                prop_assert!(delay <= cap, "{delay:?} > {cap:?}");
            } else {
                prop_assert_eq!(retry, u32::MAX);
            }
        }
    }

    #[test]
    fn decorrelated_never_waits_less_than_its_base(base in any_duration(), cap in any_duration(), seed in any::<u64>()) {
        let mut backoff = Decorrelated::new(base);
        let mut rng = JitterRng::seeded(seed);
        for retry in 1..50 {
            let delay = backoff.delay(retry, cap, &mut rng);
            prop_assert!(delay >= base.min(cap) && delay <= cap);
        }
    }

    #[test]
    fn impossible_factors_are_rejected_and_possible_ones_accepted(factor in any::<f64>()) {
        let built = Policy::builder(Exponential::default().factor(factor)).build();
        prop_assert_eq!(built.is_ok(), factor.is_finite() && factor >= 0.0);
    }

    #[test]
    fn proportional_jitter_accepts_exactly_the_unit_interval(fraction in any::<f64>()) {
        prop_assert_eq!(Jitter::proportional(fraction).is_ok(), (0.0..=1.0).contains(&fraction));
    }

    #[test]
    fn attempts_never_exceed_the_limit(
        max_attempts in 1_u32..40,
        verdicts in proptest::collection::vec(0_u8..4, 1..60),
    ) {
        let policy = Policy::builder(Exponential::new(Duration::from_millis(1))).max_attempts(max_attempts).build().unwrap();
        let calls = Mutex::new(0_u32);
        let result = block_on(
            retry(|attempt| {
                *calls.lock().unwrap() += 1;
                let verdict = verdicts.get(attempt.number() as usize - 1).copied().unwrap_or(1);
                async move { if verdict == 0 { Ok(attempt.number()) } else { Err(verdict) } }
            })
            .with(policy)
            .classify(|v: &u8| if *v == 3 { Decision::Fail } else { Decision::Retry })
            .sleeper(Instant0)
            .clock(steadfast::StdClock)
            .into_future(),
        );
        let calls = *calls.lock().unwrap();
        prop_assert!(calls <= max_attempts);
        match result {
            Ok(n) => prop_assert_eq!(n, calls),
            Err(e) => {
                prop_assert_eq!(e.attempts(), calls);
                if e.reason() == StopReason::AttemptsExhausted {
                    prop_assert_eq!(calls, max_attempts);
                }
            }
        }
    }

    #[test]
    fn the_deadline_is_respected(
        deadline_ms in 1_u64..5_000,
        timeout_ms in proptest::option::of(1_u64..2_000),
        base_ms in 0_u64..1_000,
        work_ms in proptest::collection::vec(0_u64..3_000, 1..30),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let mut builder = Policy::builder(Exponential::new(Duration::from_millis(base_ms)))
                .max_attempts(u32::MAX)
                .max_elapsed(Duration::from_millis(deadline_ms))
                .seed(seed);
            if let Some(timeout) = timeout_ms {
                builder = builder.attempt_timeout(Duration::from_millis(timeout));
            }
            let deadline = Duration::from_millis(deadline_ms);
            let start = tokio::time::Instant::now();
            let starts = Mutex::new(Vec::new());
            let _ = retry(|attempt| {
                starts.lock().unwrap().push(attempt.elapsed());
                let work = Duration::from_millis(work_ms[(attempt.number() as usize - 1) % work_ms.len()]);
                async move {
                    tokio::time::sleep(work).await;
                    Err::<(), _>("still down")
                }
            })
            .with(builder.build().unwrap())
            .await;
            let elapsed = tokio::time::Instant::now() - start;
            // tokio fires timers on whole milliseconds; the deadline is in whole ms.
            prop_assert!(elapsed <= deadline, "{elapsed:?} > {deadline:?}");
            for started in starts.into_inner().unwrap() {
                prop_assert!(started < deadline);
            }
            Ok(())
        })?;
    }
}
