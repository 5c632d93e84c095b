//! Calls a flaky in-process service through `steadfast` and prints every attempt.
//!
//! Run with `cargo run --example flaky_service`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use steadfast::{Classify, Decision, Exponential, Failure, Policy, RetryEvent, retry};

/// What the service can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceError {
    /// Overloaded: try again.
    Unavailable,
    /// Throttled: the service says when to come back.
    Throttled { retry_after: Duration },
    /// The request itself is wrong: retrying cannot help.
    Rejected,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable => f.write_str("503 unavailable"),
            Self::Throttled { retry_after } => {
                write!(f, "429 throttled, retry after {retry_after:?}")
            }
            Self::Rejected => f.write_str("400 rejected"),
        }
    }
}

/// A service that answers each request from a script, then succeeds.
struct FlakyService {
    script: Vec<ServiceError>,
    requests: AtomicU32,
}

impl FlakyService {
    fn new(script: Vec<ServiceError>) -> Self {
        Self {
            script,
            requests: AtomicU32::new(0),
        }
    }

    async fn get(&self, key: &str) -> Result<String, ServiceError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let n = self.requests.fetch_add(1, Ordering::Relaxed) as usize;
        match self.script.get(n) {
            Some(error) => Err(*error),
            None => Ok(format!("value of {key}")),
        }
    }
}

/// The service's errors, classified once for every call site.
struct ServiceErrors;

impl<T> Classify<T, ServiceError> for ServiceErrors {
    fn classify(&self, outcome: &Result<T, ServiceError>) -> Decision {
        match outcome {
            Ok(_) => Decision::Success,
            Err(ServiceError::Unavailable) => Decision::Retry,
            Err(ServiceError::Throttled { retry_after }) => Decision::RetryAfter(*retry_after),
            Err(ServiceError::Rejected) => Decision::Fail,
        }
    }
}

fn print_retry(event: &RetryEvent<'_, String, ServiceError>) {
    let why = match event.failure {
        Failure::Error(error) => error.to_string(),
        Failure::TimedOut(after) => format!("timed out after {after:?}"),
        _ => String::from("rejected"),
    };
    println!(
        "  attempt {} failed ({why}); retrying in {:?}",
        event.attempt, event.delay
    );
}

async fn call(title: &str, service: FlakyService) {
    println!("{title}");
    let policy = Policy::builder(Exponential::new(Duration::from_millis(20)))
        .max_attempts(5)
        .max_retry_after(Duration::from_secs(1))
        .build()
        .expect("a valid policy");
    let result = retry(|attempt| {
        println!(
            "  attempt {} (key {})",
            attempt.number(),
            attempt.idempotency_key()
        );
        service.get("user:42")
    })
    .with(policy)
    .classify(ServiceErrors)
    .on_retry(print_retry)
    .await;
    match result {
        Ok(value) => println!("  => ok: {value}\n"),
        Err(error) => println!("  => gave up: {error} (last error: {:?})\n", error.error()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    use ServiceError::*;
    call(
        "A brief outage is absorbed:",
        FlakyService::new(vec![Unavailable, Unavailable]),
    )
    .await;
    call(
        "A throttled call waits as long as the server asks:",
        FlakyService::new(vec![Throttled {
            retry_after: Duration::from_millis(300),
        }]),
    )
    .await;
    call(
        "A bad request is not retried:",
        FlakyService::new(vec![Rejected]),
    )
    .await;
    call(
        "A server asking for an hour is not obeyed; the call stops at once:",
        FlakyService::new(vec![Throttled {
            retry_after: Duration::from_secs(3600),
        }]),
    )
    .await;
    call(
        "A long outage ends after the attempt limit:",
        FlakyService::new(vec![Unavailable; 10]),
    )
    .await;
}
