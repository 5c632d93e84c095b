//! Tracing events: structured fields, inside the caller's span.

mod support;

use std::future::IntoFuture;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::{Decision, retry};
use tracing::Instrument;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `call` under a subscriber at `DEBUG` and returns the lines it logged.
async fn logged<F: std::future::Future>(call: F) -> Vec<String> {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    call.instrument(tracing::info_span!("checkout", order = 7))
        .await;
    let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    output.lines().map(str::to_owned).collect()
}

#[tokio::test(start_paused = true)]
async fn retries_carry_the_failure_and_giving_up_is_a_warning() {
    let lines = logged(
        retry(|_| async { Err::<(), _>("connection reset") })
            .with(support::constant(Duration::from_millis(250), 2))
            .classify(|_: &&str| Decision::Retry)
            .into_future(),
    )
    .await;
    assert_eq!(
        lines,
        [
            "DEBUG checkout{order=7}: retrying attempt=1 delay_ms=250 decision=Retry failure=connection reset",
            " WARN checkout{order=7}: gave up retrying attempts=2 reason=attempts exhausted failure=connection reset",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_after_retrying_and_a_permanent_failure_are_debug() {
    let lines = logged(
        retry(|attempt| async move {
            match attempt.number() {
                1 => Err("busy"),
                _ => Ok(()),
            }
        })
        .with(support::constant(Duration::from_millis(10), 3))
        .into_future(),
    )
    .await;
    assert_eq!(
        lines,
        [
            "DEBUG checkout{order=7}: retrying attempt=1 delay_ms=10 decision=Retry failure=busy",
            "DEBUG checkout{order=7}: succeeded after retrying attempts=2",
        ]
    );

    let lines = logged(
        retry(|_| async { Err::<(), _>("bad request") })
            .when(|_| Decision::Fail)
            .into_future(),
    )
    .await;
    assert_eq!(
        lines,
        ["DEBUG checkout{order=7}: failed permanently attempts=1 failure=bad request"]
    );
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn a_rejected_response_is_logged_by_its_status() {
    let lines = logged(
        retry(|_| async {
            Ok::<_, std::io::Error>(http::Response::builder().status(503).body(()).unwrap())
        })
        .with(support::constant(Duration::ZERO, 2))
        .classify(steadfast::HttpClassifier::default())
        .into_future(),
    )
    .await;
    assert_eq!(
        lines,
        [
            "DEBUG checkout{order=7}: retrying attempt=1 delay_ms=0 decision=Retry failure=status 503 Service Unavailable",
            " WARN checkout{order=7}: gave up retrying attempts=2 reason=attempts exhausted failure=status 503 Service Unavailable",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_value_rejected_by_a_classifier_of_its_own_is_logged_as_such() {
    let lines = logged(
        retry(|_| async { Ok::<u16, std::io::Error>(503) })
            .with(support::constant(Duration::ZERO, 2))
            .classify_outcome(|outcome: &Result<u16, std::io::Error>| match outcome {
                Ok(503) | Err(_) => Decision::Retry,
                Ok(_) => Decision::Success,
            })
            .into_future(),
    )
    .await;
    assert_eq!(
        lines,
        [
            "DEBUG checkout{order=7}: retrying attempt=1 delay_ms=0 decision=Retry failure=value rejected by the classifier",
            " WARN checkout{order=7}: gave up retrying attempts=2 reason=attempts exhausted failure=value rejected by the classifier",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_says_so_once_and_a_granted_retry_says_nothing() {
    // One token: the first retry is granted, the second denied.
    let budget = steadfast::RetryBudget::token_bucket(0.001, 1.0)
        .build()
        .unwrap();
    let lines = logged(
        retry(|_| async { Err::<(), _>("connection reset") })
            .with(support::constant(Duration::ZERO, 5))
            .classify(|_: &&str| Decision::Retry)
            .budget(&budget)
            .into_future(),
    )
    .await;
    assert_eq!(
        lines,
        [
            "DEBUG checkout{order=7}: retrying attempt=1 delay_ms=0 decision=Retry failure=connection reset",
            "DEBUG checkout{order=7}: retry budget exhausted cause=Transient",
            " WARN checkout{order=7}: gave up retrying attempts=2 reason=retry budget exhausted failure=connection reset",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn each_breaker_transition_is_logged_with_where_it_came_from() {
    let breaker = steadfast::CircuitBreaker::builder()
        .consecutive_failures(1)
        .without_failure_rate()
        .open_for(Duration::from_secs(1))
        .build()
        .unwrap();
    let fail = || async { Err::<(), _>("down") };
    let once = || support::constant(Duration::ZERO, 1);
    let lines = logged(async {
        // Closed to open; after a second, open to half-open for a probe that fails and
        // opens it again; five seconds later, a probe that succeeds closes it.
        let _ = retry(|_| fail()).with(once()).breaker(&breaker).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let _ = retry(|_| fail()).with(once()).breaker(&breaker).await;
        tokio::time::advance(Duration::from_secs(5)).await;
        let _ = retry(|_| async { Ok::<_, &str>(()) })
            .with(once())
            .breaker(&breaker)
            .await;
    })
    .await;
    let transitions: Vec<&str> = lines
        .iter()
        .filter(|line| line.contains("circuit breaker"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        transitions,
        [
            " WARN checkout{order=7}: circuit breaker opened from=closed state=open open_ms=1000",
            " INFO checkout{order=7}: circuit breaker changed state from=open state=half-open",
            " WARN checkout{order=7}: circuit breaker opened from=half-open state=open open_ms=1000",
            " INFO checkout{order=7}: circuit breaker changed state from=open state=half-open",
            " INFO checkout{order=7}: circuit breaker changed state from=half-open state=closed",
        ]
    );
}
