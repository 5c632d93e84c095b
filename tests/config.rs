//! Policies, breakers and budgets read from real configuration files in TOML, JSON and
//! YAML, and settings that cannot work refused with a message that names them.
#![cfg(feature = "serde")]

mod support;

use std::time::Duration;

use serde::Deserialize;
use steadfast::{AnyBackoff, BreakerState, CircuitBreaker, Policy, RetryBudget, RetryCause, retry};

#[derive(Deserialize)]
struct Inventory {
    policy: Policy<AnyBackoff>,
    breaker: CircuitBreaker,
    budget: RetryBudget,
}

fn file(name: &str) -> String {
    let path = format!("{}/tests/config/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The delays a policy sleeps when every attempt fails.
fn schedule(policy: Policy<AnyBackoff>) -> Vec<Duration> {
    let sleeper = support::Recorder::default();
    let err = support::block_on(
        retry(|_| async { Err::<(), _>("down") })
            .with(policy)
            .sleeper(sleeper.clone()),
    )
    .unwrap_err();
    assert_eq!(sleeper.delays().len() + 1, err.attempts() as usize);
    sleeper.delays()
}

/// Fails `n` calls through the breaker.
fn fail(breaker: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        if let Ok(permit) = breaker.try_acquire() {
            breaker.record(permit, steadfast::CallOutcome::Failure);
        }
    }
}

/// How many retries the budget grants before it refuses.
fn grants(budget: &RetryBudget) -> usize {
    (0..100)
        .take_while(|_| budget.try_withdraw(RetryCause::Transient))
        .count()
}

#[tokio::test(start_paused = true)]
async fn toml() {
    let inventory: Inventory = toml::from_str(&file("inventory.toml")).unwrap();
    assert_eq!(inventory.policy.max_attempts(), 4);
    assert_eq!(
        schedule(inventory.policy),
        [100, 300, 500].map(Duration::from_millis),
        "exponential by 3, capped at 500ms"
    );
    fail(&inventory.breaker, 2);
    assert_eq!(inventory.breaker.state(), BreakerState::Open);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(inventory.breaker.try_acquire().is_ok(), "open for 2s");
    assert_eq!(grants(&inventory.budget), 2, "a burst of 2");
}

#[tokio::test(start_paused = true)]
async fn json() {
    let inventory: Inventory = serde_json::from_str(&file("inventory.json")).unwrap();
    assert_eq!(
        schedule(inventory.policy),
        [50, 75, 100].map(Duration::from_millis),
        "linear from 50ms by 25ms"
    );
    fail(&inventory.breaker, 2);
    assert_eq!(inventory.breaker.state(), BreakerState::Open);
    // A ratio of 0.5 with no floor: four first attempts allow two retries; a throttled
    // retry costs half a token.
    for _ in 0..4 {
        inventory.budget.deposit();
    }
    assert!(inventory.budget.try_withdraw(RetryCause::Transient));
    assert!(inventory.budget.try_withdraw(RetryCause::Throttled));
    assert!(inventory.budget.try_withdraw(RetryCause::Throttled));
    assert!(!inventory.budget.try_withdraw(RetryCause::Transient));
}

#[tokio::test(start_paused = true)]
async fn yaml() {
    let inventory: Inventory = serde_yaml_ng::from_str(&file("inventory.yaml")).unwrap();
    assert_eq!(
        schedule(inventory.policy),
        [10, 10, 20, 30].map(Duration::from_millis),
        "Fibonacci from 10ms"
    );
    fail(&inventory.breaker, 2);
    assert_eq!(inventory.breaker.state(), BreakerState::Open);
    assert_eq!(grants(&inventory.budget), 2);
}

#[test]
fn missing_settings_keep_the_builders_defaults() {
    let policy: Policy<AnyBackoff> = toml::from_str("").unwrap();
    assert_eq!(policy.max_attempts(), Policy::default().max_attempts());
    let breaker: CircuitBreaker = serde_json::from_str("{}").unwrap();
    fail(&breaker, 4);
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail(&breaker, 1);
    assert_eq!(breaker.state(), BreakerState::Open, "5 failures in a row");
}

#[test]
fn settings_that_cannot_work_are_refused_by_name() {
    let policy = |text: &str| {
        toml::from_str::<Policy<AnyBackoff>>(text)
            .err()
            .map(|error| error.message().to_owned())
    };
    assert_eq!(
        policy("max_attempts = 0").as_deref(),
        Some("invalid policy: max attempts must be at least 1, got 0")
    );
    assert_eq!(
        policy("attempt_timeout = \"0s\"").as_deref(),
        Some("invalid policy: attempt timeout must be longer than zero, got 0s")
    );
    assert_eq!(
        policy("backoff = { kind = \"exponential\", base = \"1s\", factor = -2.0 }").as_deref(),
        Some("invalid backoff: exponential factor must be a finite number, 0 or more, got -2")
    );
    assert_eq!(
        policy("jitter = { proportional = 2.0 }").as_deref(),
        Some("invalid jitter: proportional jitter fraction must be between 0 and 1, got 2")
    );
    assert_eq!(
        policy("jitter = \"fuzzy\"").as_deref(),
        Some(
            "unknown jitter \"fuzzy\": expected \"none\", \"full\", \"equal\" or { proportional = fraction }"
        )
    );
    let bad_duration = policy("max_delay = \"soon\"").unwrap();
    assert!(
        bad_duration.starts_with("invalid duration \"soon\""),
        "{bad_duration}"
    );
    let unknown = policy("max_attempt = 3").unwrap();
    assert!(unknown.contains("unknown field `max_attempt`"), "{unknown}");

    let breaker =
        serde_json::from_str::<CircuitBreaker>(r#"{"half_open": {"probes": 0, "successes": 1}}"#)
            .err()
            .unwrap()
            .to_string();
    assert!(
        breaker.starts_with("invalid breaker: half-open probes must be between 1 and 10000, got 0"),
        "{breaker}"
    );
    let budget =
        serde_yaml_ng::from_str::<RetryBudget>("kind: token_bucket\nper_second: 0\nburst: 1")
            .err()
            .unwrap()
            .to_string();
    assert!(
        budget.starts_with(
            "invalid budget: refill rate per second must be greater than 0 and at most 1e9, got 0"
        ),
        "{budget}"
    );
}
