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
