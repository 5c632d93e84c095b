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

#[tokio::test(start_paused = true)]
async fn retries_and_the_stop_are_traced_in_the_callers_span() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let _ = retry(|_| async { Err::<(), _>("down") })
        .with(support::constant(Duration::from_millis(250), 2))
        .classify(|_: &&str| Decision::Retry)
        .into_future()
        .instrument(tracing::info_span!("checkout", order = 7))
        .await;

    let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 2, "{output}");
    assert!(lines[0].contains("checkout{order=7}"), "{output}");
    assert!(
        lines[0].contains("retrying attempt=1 delay_ms=250 decision=Retry"),
        "{output}"
    );
    assert!(lines[1].contains("checkout{order=7}"), "{output}");
    assert!(
        lines[1].contains("retry stopped attempts=2 reason=attempts exhausted"),
        "{output}"
    );
}
