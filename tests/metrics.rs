//! Metrics through a real `metrics` recorder: exact counts for calls, attempts,
//! retries, give-ups, breaker transitions and budget denials.
#![cfg(feature = "metrics")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use steadfast::{CircuitBreaker, Decision, RetryBudget, RetryMetrics, retry};

/// Every metric as `name{label=value,...}`, sorted, with its counter total or its
/// histogram's samples; metrics at zero are left out.
fn readings(recorder: &DebuggingRecorder) -> BTreeMap<String, String> {
    let mut readings = BTreeMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        let value = match value {
            DebugValue::Counter(0) => continue,
            DebugValue::Counter(count) => count.to_string(),
            DebugValue::Histogram(samples) if samples.is_empty() => continue,
            DebugValue::Histogram(samples) => format!("{samples:?}"),
            DebugValue::Gauge(level) => level.to_string(),
        };
        readings.insert(format!("{}{{{}}}", key.name(), labels.join(",")), value);
    }
    readings
}

/// Runs `scenario` on a paused current-thread runtime with `recorder` installed for
/// this thread.
fn with_recorder<F: std::future::Future>(
    recorder: &DebuggingRecorder,
    scenario: impl FnOnce() -> F,
) {
    metrics::with_local_recorder(recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(scenario());
    });
}

#[test]
fn calls_attempts_retries_and_give_ups_are_counted_exactly() {
    let recorder = DebuggingRecorder::new();
    with_recorder(&recorder, || async {
        let metrics = RetryMetrics::new("inventory");
        let policy = || support::constant(Duration::from_millis(10), 3);

        // A first-try success, and a success on the third attempt.
        retry(|_| async { Ok::<_, std::io::Error>(()) })
            .with(policy())
            .metrics(&metrics)
            .await
            .unwrap();
        retry(|attempt| async move {
            match attempt.number() {
                1 | 2 => Err("reset"),
                _ => Ok(()),
            }
        })
        .with(policy())
        .metrics(&metrics)
        .await
        .unwrap();
        // A permanent failure, and a call that runs out of attempts.
        let _ = retry(|_| async { Err::<(), _>("bad request") })
            .with(policy())
            .when(|_| Decision::Fail)
            .metrics(&metrics)
            .await;
        let _ = retry(|_| async { Err::<(), _>("throttled") })
            .with(policy())
            .when(|_| Decision::RetryAfter(Duration::from_millis(20)))
            .metrics(&metrics)
            .await;
        // A call without metrics records nothing.
        let _ = retry(|_| async { Err::<(), _>("down") })
            .with(policy())
            .await;
    });
    let expected: BTreeMap<String, String> = [
        ("resilience.retry.attempts{name=inventory}", "8"),
        (
            "resilience.retry.attempts_per_call{name=inventory}",
            "[1.0, 3.0, 1.0, 3.0]",
        ),
        (
            "resilience.retry.calls{name=inventory,kind=failed_with_retry}",
            "1",
        ),
        (
            "resilience.retry.calls{name=inventory,kind=failed_without_retry}",
            "1",
        ),
        (
            "resilience.retry.calls{name=inventory,kind=successful_with_retry}",
            "1",
        ),
        (
            "resilience.retry.calls{name=inventory,kind=successful_without_retry}",
            "1",
        ),
        (
            "resilience.retry.give_ups{name=inventory,reason=attempts_exhausted}",
            "1",
        ),
        (
            "resilience.retry.give_ups{name=inventory,reason=permanent}",
            "1",
        ),
        (
            "resilience.retry.retries{name=inventory,cause=throttled}",
            "2",
        ),
        (
            "resilience.retry.retries{name=inventory,cause=transient}",
            "2",
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    assert_eq!(readings(&recorder), expected);
}

#[test]
fn breaker_transitions_and_budget_denials_are_counted_exactly() {
    let recorder = DebuggingRecorder::new();
    with_recorder(&recorder, || async {
        let metrics = RetryMetrics::new("payments");
        let breaker = CircuitBreaker::builder()
            .consecutive_failures(2)
            .without_failure_rate()
            .open_for(Duration::from_secs(1))
            .metrics("payments")
            .build()
            .unwrap();
        // One retry in the bucket: the second retry of the first call is denied.
        let budget = RetryBudget::token_bucket(0.001, 1.0)
            .metrics("payments")
            .build()
            .unwrap();
        let err = retry(|_| async { Err::<(), _>("down") })
            .with(support::constant(Duration::from_millis(10), 5))
            .budget(&budget)
            .breaker(&breaker)
            .metrics(&metrics)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), steadfast::StopReason::BudgetExhausted);
        // The breaker opened after two failures; after its open time a probe succeeds
        // and closes it.
        tokio::time::advance(Duration::from_secs(2)).await;
        retry(|_| async { Ok::<_, &str>(()) })
            .breaker(&breaker)
            .await
            .unwrap();
        breaker.force_open();
    });
    let readings = readings(&recorder);
    let get = |key: &str| readings.get(key).map(String::as_str);
    assert_eq!(
        get("resilience.retry_budget.denied{name=payments}"),
        Some("1")
    );
    assert_eq!(
        get("resilience.retry.give_ups{name=payments,reason=budget_exhausted}"),
        Some("1")
    );
    assert_eq!(
        get("resilience.circuit_breaker.transitions{name=payments,from=closed,to=open}"),
        Some("1")
    );
    assert_eq!(
        get("resilience.circuit_breaker.transitions{name=payments,from=open,to=half_open}"),
        Some("1")
    );
    assert_eq!(
        get("resilience.circuit_breaker.transitions{name=payments,from=half_open,to=closed}"),
        Some("1")
    );
    assert_eq!(
        get("resilience.circuit_breaker.transitions{name=payments,from=closed,to=forced_open}"),
        Some("1")
    );
    let transitions = readings
        .keys()
        .filter(|key| key.starts_with("resilience.circuit_breaker"))
        .count();
    assert_eq!(transitions, 4, "{readings:#?}");
}

#[test]
fn a_ratio_budget_counts_its_denials_and_not_its_grants() {
    let recorder = DebuggingRecorder::new();
    with_recorder(&recorder, || async {
        // No floor and no deposits: the first withdrawal is denied. After ten deposits,
        // two retries are granted.
        let budget = RetryBudget::ratio(0.2)
            .min_per_second(0.0)
            .metrics("search")
            .build()
            .unwrap();
        assert!(!budget.try_withdraw(steadfast::RetryCause::Transient));
        for _ in 0..10 {
            budget.deposit();
        }
        assert!(budget.try_withdraw(steadfast::RetryCause::Transient));
        assert!(budget.try_withdraw(steadfast::RetryCause::Transient));
    });
    let readings = readings(&recorder);
    assert_eq!(
        readings
            .get("resilience.retry_budget.denied{name=search}")
            .map(String::as_str),
        Some("1"),
        "{readings:#?}"
    );
}
