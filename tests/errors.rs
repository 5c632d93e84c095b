//! A failed call as an error: through `?` into the error types services return, with
//! a message that names the last error and a source chain that reaches it; readable
//! configuration errors; and why a call stopped on a value the classifier rejected.

mod support;

use std::error::Error;
use std::time::Duration;

use steadfast::{
    CircuitBreaker, Decision, Jitter, Policy, RetryBudget, RetryError, StopReason, retry,
};

fn twice() -> Policy<steadfast::Constant> {
    support::constant(Duration::ZERO, 2)
}

/// The messages of an error and its sources, outermost first.
fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut next = error.source();
    while let Some(source) = next {
        messages.push(source.to_string());
        next = source.source();
    }
    messages
}

/// An error with a source of its own, so that a chain has somewhere to go.
#[derive(Debug)]
struct Unreachable(std::io::Error);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("host unreachable")
    }
}

impl Error for Unreachable {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

/// An io error (which shows its inner error's message) whose chain goes on to the
/// refused connection: a chain must reach it.
fn refused() -> std::io::Error {
    std::io::Error::other(Unreachable(std::io::ErrorKind::ConnectionRefused.into()))
}

async fn std_error_into_anyhow() -> anyhow::Result<()> {
    retry(|_| async { Err::<(), _>(refused()) })
        .with(twice())
        .await?;
    Ok(())
}

async fn std_error_into_eyre() -> eyre::Result<()> {
    retry(|_| async { Err::<(), _>(refused()) })
        .with(twice())
        .await?;
    Ok(())
}

async fn std_error_into_box() -> Result<(), Box<dyn Error + Send + Sync>> {
    retry(|_| async { Err::<(), _>(refused()) })
        .with(twice())
        .await?;
    Ok(())
}

#[cfg(feature = "anyhow")]
fn failing_anyhow() -> anyhow::Result<()> {
    Err(anyhow::Error::new(refused()).context("loading the cart"))
}

#[cfg(feature = "anyhow")]
async fn anyhow_error_into_anyhow() -> anyhow::Result<()> {
    retry(|_| async { failing_anyhow() }).with(twice()).await?;
    Ok(())
}

#[cfg(feature = "anyhow")]
async fn anyhow_error_into_eyre() -> eyre::Result<()> {
    retry(|_| async { failing_anyhow() }).with(twice()).await?;
    Ok(())
}

#[cfg(feature = "anyhow")]
async fn anyhow_error_into_box() -> Result<(), Box<dyn Error + Send + Sync>> {
    retry(|_| async { failing_anyhow() }).with(twice()).await?;
    Ok(())
}

#[cfg(feature = "eyre")]
async fn eyre_error_into_anyhow() -> anyhow::Result<()> {
    retry(|_| async { Err::<(), _>(eyre::Report::new(refused()).wrap_err("loading the cart")) })
        .with(twice())
        .await?;
    Ok(())
}

const GAVE_UP: &str = "gave up after 2 attempts (attempts exhausted)";

#[tokio::test]
async fn a_std_error_goes_through_question_mark_with_its_whole_chain() {
    let expected = [
        format!("{GAVE_UP}: host unreachable"),
        "host unreachable".to_owned(),
        "connection refused".to_owned(),
    ];
    let anyhow = std_error_into_anyhow().await.unwrap_err();
    assert_eq!(chain(anyhow.as_ref()), expected);
    let eyre = std_error_into_eyre().await.unwrap_err();
    assert_eq!(chain(eyre.as_ref()), expected);
    let boxed = std_error_into_box().await.unwrap_err();
    assert_eq!(chain(boxed.as_ref()), expected);
    // The typed error is still there to match on.
    let typed = boxed.downcast::<RetryError<std::io::Error>>().unwrap();
    assert_eq!(typed.reason(), StopReason::AttemptsExhausted);
    assert_eq!(typed.attempts(), 2);
}

/// The chain continues through an `anyhow::Error` with the `anyhow` feature (and an
/// `eyre::Report` with `eyre`); without them it ends at the error itself.
#[cfg(feature = "anyhow")]
#[tokio::test]
async fn an_anyhow_error_goes_through_question_mark_with_its_whole_chain() {
    let expected = [
        format!("{GAVE_UP}: loading the cart"),
        "loading the cart".to_owned(),
        "host unreachable".to_owned(),
        "connection refused".to_owned(),
    ];
    let anyhow = anyhow_error_into_anyhow().await.unwrap_err();
    assert_eq!(chain(anyhow.as_ref()), expected);
    assert_eq!(
        format!("{anyhow:#}"),
        format!(
            "{GAVE_UP}: loading the cart: loading the cart: host unreachable: connection refused"
        )
    );
    let eyre = anyhow_error_into_eyre().await.unwrap_err();
    assert_eq!(chain(eyre.as_ref()), expected);
    let boxed = anyhow_error_into_box().await.unwrap_err();
    assert_eq!(chain(boxed.as_ref()), expected);
    #[cfg(feature = "eyre")]
    {
        let eyre_inside = eyre_error_into_anyhow().await.unwrap_err();
        assert_eq!(chain(eyre_inside.as_ref()), expected);
    }
}

#[tokio::test]
async fn a_boxed_error_keeps_its_chain_and_a_plain_one_ends_at_itself() {
    let boxed: RetryError<Box<dyn Error + Send + Sync>> =
        retry(|_| async { Err::<(), Box<dyn Error + Send + Sync>>(Box::new(refused())) })
            .with(twice())
            .await
            .unwrap_err();
    assert_eq!(
        chain(&boxed),
        [
            format!("{GAVE_UP}: host unreachable"),
            "host unreachable".to_owned(),
            "connection refused".to_owned(),
        ]
    );

    // A type that is not known to be an error: its message is there, its chain ends.
    let plain = retry(|_| async { Err::<(), _>("out of stock") })
        .with(twice())
        .await
        .unwrap_err();
    assert_eq!(
        chain(&plain),
        [
            format!("{GAVE_UP}: out of stock"),
            "out of stock".to_owned()
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_message_names_a_timeout_or_says_no_attempt_ran() {
    let policy = Policy::builder(steadfast::Constant::new(Duration::ZERO))
        .max_attempts(1)
        .attempt_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let timed_out = retry(|_| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<(), std::io::Error>(())
    })
    .with(policy)
    .await
    .unwrap_err();
    assert_eq!(
        chain(&timed_out),
        [
            "gave up after 1 attempt (attempts exhausted): attempt timed out after 2s",
            "attempt timed out after 2s"
        ]
    );

    let breaker = CircuitBreaker::default();
    breaker.force_open();
    let refused = retry(|_| async { Ok::<(), std::io::Error>(()) })
        .breaker(&breaker)
        .await
        .unwrap_err();
    assert_eq!(
        chain(&refused),
        ["gave up after 0 attempts (circuit breaker open)"]
    );
}

#[test]
fn configuration_errors_name_the_setting_the_value_and_the_range_in_words() {
    let message = |error: steadfast::ConfigError| error.to_string();
    assert_eq!(
        message(RetryBudget::token_bucket(0.0, 1.0).build().unwrap_err()),
        "refill rate per second must be greater than 0 and at most 1e9, got 0"
    );
    assert_eq!(
        message(
            CircuitBreaker::builder()
                .open_growth(0.5, Duration::from_secs(60))
                .build()
                .unwrap_err()
        ),
        "open growth factor must be a finite number, at least 1, got 0.5"
    );
    assert_eq!(
        message(Jitter::proportional(1.5).unwrap_err()),
        "proportional jitter fraction must be between 0 and 1, got 1.5"
    );
    assert_eq!(
        message(
            RetryBudget::ratio(0.2)
                .window(Duration::from_millis(10))
                .build()
                .unwrap_err()
        ),
        "window in seconds must be between 1 and 86400 (a day), got 0.01"
    );
    assert_eq!(
        message(
            Policy::builder(steadfast::Exponential::default().factor(f64::NAN))
                .build()
                .unwrap_err()
        ),
        "exponential factor must be a finite number, 0 or more, got NaN"
    );
    assert_eq!(
        message(RetryBudget::token_bucket(1e300, 1.0).build().unwrap_err()),
        "refill rate per second must be greater than 0 and at most 1e9, got 1e300"
    );
    assert_eq!(
        message(
            CircuitBreaker::builder()
                .half_open_probes(0, 1)
                .build()
                .unwrap_err()
        ),
        "half-open probes must be between 1 and 10000, got 0"
    );
    assert_eq!(
        message(
            CircuitBreaker::builder()
                .half_open_probes(10_001, 1)
                .build()
                .unwrap_err()
        ),
        "half-open probes must be between 1 and 10000, got 10001"
    );
}

#[tokio::test]
async fn a_call_that_stops_on_a_rejected_value_says_why() {
    let finished = retry(|_| async { Ok::<u16, std::io::Error>(503) })
        .with(support::constant(Duration::ZERO, 3))
        .classify_outcome(|outcome: &Result<u16, std::io::Error>| match outcome {
            Ok(503) | Err(_) => Decision::Retry,
            Ok(_) => Decision::Success,
        })
        .report()
        .await
        .unwrap();
    assert_eq!(
        (*finished.value(), finished.attempts(), finished.stopped()),
        (503, 3, Some(StopReason::AttemptsExhausted))
    );

    let budget = RetryBudget::token_bucket(1.0, 1.0).build().unwrap();
    let finished = retry(|_| async { Ok::<u16, std::io::Error>(503) })
        .with(support::constant(Duration::ZERO, 5))
        .classify_outcome(|outcome: &Result<u16, _>| match outcome {
            Ok(503) => Decision::Retry,
            _ => Decision::Success,
        })
        .budget(&budget)
        .report()
        .await
        .unwrap();
    assert_eq!(
        (finished.attempts(), finished.stopped()),
        (2, Some(StopReason::BudgetExhausted))
    );

    let finished = retry(|_| async { Ok::<u16, std::io::Error>(404) })
        .classify_outcome(|outcome: &Result<u16, _>| match outcome {
            Ok(404) => Decision::Fail,
            _ => Decision::Success,
        })
        .report()
        .await
        .unwrap();
    assert_eq!(
        (finished.into_value(), StopReason::Permanent),
        (404, StopReason::Permanent)
    );

    let err = retry(|_| async { Err::<u16, _>(refused()) })
        .with(twice())
        .report()
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::AttemptsExhausted);
}
