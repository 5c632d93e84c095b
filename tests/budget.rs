//! Retry budgets: against reference models, under many threads, in paused time, and
//! inside `retry`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use steadfast::{Decision, RetryBudget, RetryCause, StopReason, retry};
use support::{ManualClock, constant};

#[derive(Debug, Clone)]
enum Op {
    Deposit,
    Withdraw(RetryCause),
    Advance(Duration),
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Deposit),
        3 => prop_oneof![Just(RetryCause::Transient), Just(RetryCause::Throttled), Just(RetryCause::TimedOut)]
            .prop_map(Op::Withdraw),
        2 => (0_u64..3_000_000_000).prop_map(|n| Op::Advance(Duration::from_nanos(n))),
    ]
}

fn cost_of(cause: RetryCause, costs: [f64; 3]) -> f64 {
    match cause {
        RetryCause::Transient => costs[0],
        RetryCause::Throttled => costs[1],
        _ => costs[2],
    }
}

const COSTS: [RetryCause; 3] = [
    RetryCause::Transient,
    RetryCause::Throttled,
    RetryCause::TimedOut,
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: support::cases(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// A continuous token bucket is the reference: the budget grants when it has the
    /// tokens (beyond rounding), denies when it has not, and over every interval grants
    /// no more than the burst plus the refill.
    #[test]
    fn token_bucket_matches_its_model_and_never_overspends(
        per_second in 0.1_f64..1000.0,
        burst in 0.0_f64..50.0,
        costs in [0.0_f64..3.0, 0.0_f64..3.0, 0.0_f64..3.0],
        ops in proptest::collection::vec(any_op(), 1..200),
    ) {
        let clock = ManualClock::new();
        let mut builder = RetryBudget::token_bucket(per_second, burst).clock(clock.clone());
        for (cause, cost) in COSTS.iter().zip(costs) {
            builder = builder.cost(*cause, cost);
        }
        let budget = builder.build().unwrap();

        let mut tokens = burst;
        let mut grants: Vec<(f64, f64)> = Vec::new(); // (seconds, cost)
        for op in ops {
            match op {
                Op::Deposit => budget.deposit(),
                Op::Advance(by) => {
                    clock.advance(by);
                    tokens = (tokens + per_second * by.as_secs_f64()).min(burst);
                }
                Op::Withdraw(cause) => {
                    let cost = cost_of(cause, costs);
                    let granted = budget.try_withdraw(cause);
                    let slack = 1e-6 * (1.0 + cost);
                    if tokens >= cost + slack {
                        prop_assert!(granted, "denied with {tokens} tokens for a cost of {cost}");
                    }
                    if tokens < cost - slack {
                        prop_assert!(!granted, "granted with {tokens} tokens for a cost of {cost}");
                    }
                    if granted {
                        tokens -= cost;
                        grants.push((clock.nanos() as f64 / 1e9, cost));
                    }
                }
            }
        }
        for (i, (start, _)) in grants.iter().enumerate() {
            let mut spent = 0.0;
            for (end, cost) in &grants[i..] {
                spent += cost;
                let allowed = burst + per_second * (end - start);
                prop_assert!(spent <= allowed + 1e-6 * (1.0 + allowed), "{spent} > {allowed}");
            }
        }
    }

    /// A ratio budget, modelled as a plain log of events: in the window of ten slots
    /// ending now, retries spent never pass the reserve plus `ratio` per first attempt
    /// (first attempts dated when a withdrawal needs them), and the budget grants
    /// exactly when the log says it may.
    #[test]
    fn ratio_budget_matches_its_model_and_never_overspends(
        ratio in prop_oneof![Just(0.1), Just(0.25), Just(0.6), 0.0_f64..2.0],
        min_per_second in prop_oneof![Just(0.0), 0.0_f64..5.0],
        window_ms in 1_000_u64..20_000,
        costs in (prop_oneof![Just(1.0), Just(0.5)], prop_oneof![Just(1.0), Just(0.25)], 0.0_f64..3.0)
            .prop_map(|(a, b, c)| [a, b, c]),
        ops in proptest::collection::vec(any_op(), 1..300),
    ) {
        let clock = ManualClock::new();
        let window = Duration::from_millis(window_ms);
        let mut builder = RetryBudget::ratio(ratio).min_per_second(min_per_second).window(window).clock(clock.clone());
        for (cause, cost) in COSTS.iter().zip(costs) {
            builder = builder.cost(*cause, cost);
        }
        let budget = builder.build().unwrap();

        let slot = u64::try_from(window.as_nanos()).unwrap() / 10;
        let reserve = min_per_second * window.as_secs_f64() * 1000.0;
        let window_nanos = u64::try_from(window.as_nanos()).unwrap();
        let mut deposits: Vec<(u64, u64)> = Vec::new(); // (generation, count), once dated
        let mut undated = 0_u64; // deposits not yet dated
        let mut read_at = 0_u64;
        let mut spent: Vec<(u64, u64)> = Vec::new(); // (generation, thousandths)
        for op in ops {
            let now = clock.nanos();
            let generation = now / slot;
            let live = |g: u64| g + 10 > generation;
            match op {
                Op::Advance(by) => clock.advance(by),
                Op::Deposit => {
                    budget.deposit();
                    undated += 1;
                }
                Op::Withdraw(cause) => {
                    let cost = (cost_of(cause, costs) * 1000.0).round() as u64;
                    let live_spent: u64 = spent.iter().filter(|(g, _)| live(*g)).map(|(_, c)| c).sum();
                    let allows = |deposits: &Vec<(u64, u64)>| {
                        let live_deposits: u64 = deposits.iter().filter(|(g, _)| live(*g)).map(|(_, n)| n).sum();
                        let allowance = reserve + ratio * 1000.0 * live_deposits as f64;
                        (live_spent + cost) as f64 <= allowance
                    };
                    // Deposits are dated only when those dated so far cannot pay:
                    // all now if the last dating was at most a window ago, else a
                    // window's share.
                    let mut expected = allows(&deposits);
                    if !expected {
                        let since = now - read_at;
                        read_at = read_at.max(now);
                        if undated > 0 {
                            let kept = if since > window_nanos {
                                ((u128::from(undated) * u128::from(window_nanos) + u128::from(since / 2))
                                    / u128::from(since)) as u64
                            } else {
                                undated
                            };
                            deposits.push((generation, kept));
                            undated = 0;
                        }
                        expected = allows(&deposits);
                    }
                    prop_assert_eq!(budget.try_withdraw(cause), expected);
                    if expected {
                        spent.push((generation, cost));
                    }
                }
            }
        }
    }
}

#[test]
fn many_threads_never_overspend_a_token_bucket() {
    let clock = ManualClock::new();
    let budget = RetryBudget::token_bucket(0.001, 1000.0)
        .clock(clock)
        .build()
        .unwrap();
    let granted = AtomicU32::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..5_000 {
                    if budget.try_withdraw(RetryCause::Transient) {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 1000, "exactly the burst, never more");
    let snapshot = budget.snapshot();
    assert_eq!((snapshot.granted, snapshot.denied), (1000, 39_000));
}

#[test]
fn many_threads_never_overspend_a_ratio_budget() {
    let clock = ManualClock::new();
    let budget = RetryBudget::ratio(0.25)
        .min_per_second(0.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let granted = AtomicU32::new(0);
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (budget, granted, clock) = (&budget, &granted, &clock);
            scope.spawn(move || {
                for i in 0..4_000 {
                    budget.deposit();
                    if budget.try_withdraw(RetryCause::Transient) {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                    if thread == 0 && i % 1000 == 0 {
                        clock.advance(Duration::from_millis(300)); // stays in one window
                    }
                }
            });
        }
    });
    // 32 000 first attempts fund at most 8 000 retries.
    let granted = granted.into_inner();
    assert!(granted <= 8_000, "{granted}");
    assert!(
        granted >= 7_990,
        "the budget is spent, not left idle: {granted}"
    );
    // Everything left is spent: draining it grants exactly what remains.
    let mut more = 0;
    while budget.try_withdraw(RetryCause::Transient) {
        more += 1;
    }
    assert_eq!(granted + more, 8_000);
}

#[tokio::test(start_paused = true)]
async fn a_token_bucket_refills_in_paused_time() {
    let budget = RetryBudget::token_bucket(2.0, 2.0).build().unwrap();
    assert!(budget.try_withdraw(RetryCause::Transient));
    assert!(budget.try_withdraw(RetryCause::Transient));
    assert!(!budget.try_withdraw(RetryCause::Transient));
    tokio::time::advance(Duration::from_millis(499)).await;
    assert!(!budget.try_withdraw(RetryCause::Transient));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(budget.try_withdraw(RetryCause::Transient));
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(
        budget.snapshot().balance,
        2.0,
        "refilled to the burst, no further"
    );
}

#[tokio::test(start_paused = true)]
async fn ratio_deposits_expire_in_paused_time() {
    let budget = RetryBudget::ratio(0.5)
        .min_per_second(0.0)
        .window(Duration::from_secs(10))
        .build()
        .unwrap();
    for _ in 0..4 {
        budget.deposit();
    }
    assert_eq!(budget.snapshot().balance, 2.0);
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(budget.snapshot().balance, 2.0);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(budget.snapshot().balance, 0.0, "expired after the window");
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_stops_the_call_with_its_last_error() {
    let budget = RetryBudget::token_bucket(1.0, 2.0).build().unwrap();
    let err = retry(|attempt| async move { Err::<(), _>(attempt.number()) })
        .with(constant(Duration::from_millis(10), 10))
        .budget(&budget)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::BudgetExhausted);
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.error(), Some(&3));
    assert_eq!(
        err.to_string(),
        "gave up after 3 attempts (retry budget exhausted): 3"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_retries_pay_their_own_price() {
    let budget = RetryBudget::token_bucket(0.001, 1.0)
        .cost(RetryCause::Throttled, 0.25)
        .build()
        .unwrap();
    let attempts = retry(|_| async { Err::<(), _>("429") })
        .with(constant(Duration::from_millis(1), 100))
        .classify(|_: &&str| Decision::RetryAfter(Duration::from_millis(5)))
        .budget(&budget)
        .await
        .unwrap_err()
        .attempts();
    assert_eq!(attempts, 5, "four quarter-token retries");
}

/// A hundred calls to a dead service, sharing one budget that lets retries add 20% to
/// the load: exactly twenty retries happen in all, not two hundred.
#[tokio::test(start_paused = true)]
async fn a_shared_budget_caps_the_retries_of_many_calls() {
    let budget = RetryBudget::ratio(0.2).min_per_second(0.0).build().unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let mut calls = Vec::new();
    for _ in 0..100 {
        let (budget, attempts) = (budget.clone(), attempts.clone());
        calls.push(tokio::spawn(async move {
            retry(move |_| {
                attempts.fetch_add(1, Ordering::Relaxed);
                async {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Err::<(), _>("dead")
                }
            })
            .with(constant(Duration::from_millis(10), 3))
            .budget(&budget)
            .await
        }));
    }
    let mut exhausted = 0;
    for call in calls {
        if call.await.unwrap().unwrap_err().reason() == StopReason::BudgetExhausted {
            exhausted += 1;
        }
    }
    assert_eq!(attempts.load(Ordering::Relaxed), 120);
    assert_eq!(budget.snapshot().granted, 20);
    assert!(exhausted >= 80, "{exhausted}");
}

#[test]
fn a_cost_outside_zero_to_a_million_is_refused_for_every_cause_and_kind() {
    use steadfast::ConfigError;
    let causes = [
        RetryCause::Transient,
        RetryCause::Throttled,
        RetryCause::TimedOut,
        RetryCause::Hedge,
    ];
    let refused = |result: Result<RetryBudget, ConfigError>| match result {
        Err(ConfigError::OutOfRange { setting, .. }) => setting == "retry cost",
        _ => false,
    };
    for cause in causes {
        for bad in [-0.5, f64::NAN, 1_000_000.5, f64::INFINITY] {
            let bucket = RetryBudget::token_bucket(10.0, 10.0)
                .cost(cause, bad)
                .build();
            let ratio = RetryBudget::ratio(0.2).cost(cause, bad).build();
            assert!(refused(bucket), "{cause:?} at {bad} in a token bucket");
            assert!(refused(ratio), "{cause:?} at {bad} in a ratio budget");
        }
        for good in [0.0, 1_000_000.0] {
            assert!(
                RetryBudget::token_bucket(10.0, 10.0)
                    .cost(cause, good)
                    .build()
                    .is_ok()
            );
            assert!(RetryBudget::ratio(0.2).cost(cause, good).build().is_ok());
        }
    }
}

#[test]
fn debug_output_names_the_kind_the_settings_and_the_state() {
    let bucket = RetryBudget::token_bucket(10.0, 4.0).cost(RetryCause::Throttled, 0.5);
    support::assert_debug_shows(
        &bucket,
        &[
            "TokenBucketBuilder",
            "per_second: 10.0",
            "burst: 4.0",
            "throttled: 0.5",
        ],
    );
    let ratio = RetryBudget::ratio(0.25).min_per_second(3.0);
    support::assert_debug_shows(
        &ratio,
        &[
            "RatioBuilder",
            "ratio: 0.25",
            "min_per_second: 3.0",
            "window: 10s",
        ],
    );
    let budget = RetryBudget::token_bucket(10.0, 4.0).build().unwrap();
    assert!(budget.try_withdraw(RetryCause::Transient));
    support::assert_debug_shows(&budget, &["RetryBudget", "granted: 1", "denied: 0"]);
}
