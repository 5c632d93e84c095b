//! reqwest, first class: real reqwest clients, through the classifier and the
//! middleware, against real hyper servers on 127.0.0.1. Delays are read from a
//! recording sleeper, never waited for.
#![cfg(feature = "reqwest-middleware")]

#[path = "support/server.rs"]
mod server;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use server::{DateForm, Reply, Server};
use steadfast::{
    CircuitBreaker, Constant, HttpClassifier, Jitter, Keyed, Policy, RetryBudget, RetryError,
    RetryMiddleware, StopReason, retry,
};

fn policy(attempts: u32) -> Policy<Constant> {
    Policy::builder(Constant::new(Duration::from_millis(100)))
        .jitter(Jitter::none())
        .max_attempts(attempts)
        .build()
        .unwrap()
}

/// A client whose middleware records each delay and returns at once.
fn client(
    middleware: RetryMiddleware<Policy<Constant>, support::Recorder>,
) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

fn middleware(sleeper: &support::Recorder) -> RetryMiddleware<Policy<Constant>, support::Recorder> {
    RetryMiddleware::new()
        .with(policy(4))
        .sleeper(sleeper.clone())
        .without_budget()
}

fn status(code: u16) -> Reply {
    Reply::Status(code, Vec::new())
}

#[tokio::test]
async fn the_status_table_through_the_middleware() {
    for (code, requests) in [
        (408, 2),
        (429, 2),
        (500, 2),
        (502, 2),
        (503, 2),
        (504, 2),
        (400, 1),
        (401, 1),
        (403, 1),
        (404, 1),
        (422, 1),
        (501, 1),
        (505, 1),
        (507, 2),
    ] {
        let server = Server::start(vec![status(code)]).await;
        let sleeper = support::Recorder::default();
        let response = client(middleware(&sleeper))
            .get(server.url("/"))
            .send()
            .await
            .unwrap();
        let expected = if requests == 2 { 200 } else { code };
        assert_eq!(response.status().as_u16(), expected, "status {code}");
        assert_eq!(server.seen().len(), requests, "status {code}");
    }
}

#[tokio::test]
async fn a_501_is_retried_only_when_the_classifier_says_so() {
    let server = Server::start(vec![status(501)]).await;
    let sleeper = support::Recorder::default();
    let retrying = HttpClassifier::reqwest().retry(reqwest::StatusCode::NOT_IMPLEMENTED);
    let response = client(middleware(&sleeper).classifier(retrying))
        .get(server.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_plain_call_classifies_reqwest_responses() {
    let server = Server::start(vec![status(503), status(503)]).await;
    let client = reqwest::Client::new();
    let sleeper = support::Recorder::default();
    let response = retry(|_| client.get(server.url("/")).send())
        .with(policy(3))
        .classify(HttpClassifier::reqwest())
        .sleeper(sleeper.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.seen().len(), 3);
    assert_eq!(sleeper.delays(), [Duration::from_millis(100); 2]);
}

#[tokio::test]
async fn retry_after_in_every_form_is_honoured() {
    let header = |value: &str| Reply::Status(503, vec![("retry-after", value.to_owned())]);
    let server = Server::start(vec![header("2")]).await;
    let sleeper = support::Recorder::default();
    client(middleware(&sleeper))
        .get(server.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(sleeper.delays(), [Duration::from_secs(2)]);

    for form in [DateForm::ImfFixdate, DateForm::Rfc850, DateForm::Asctime] {
        let server =
            Server::start(vec![Reply::RetryAfterDate(Duration::from_secs(30), form)]).await;
        let sleeper = support::Recorder::default();
        let response = client(middleware(&sleeper))
            .get(server.url("/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let delays = sleeper.delays();
        assert_eq!(delays.len(), 1, "{form:?}");
        // A date has whole seconds, and a moment passes between the answer and the
        // reading of it.
        assert!(
            (Duration::from_secs(28)..=Duration::from_secs(30)).contains(&delays[0]),
            "{form:?}: {delays:?}"
        );
    }
}

#[tokio::test]
async fn a_hostile_retry_after_stops_at_once_without_sleeping() {
    let server = Server::start(vec![Reply::Status(
        503,
        vec![("retry-after", "999999999".to_owned())],
    )])
    .await;
    let sleeper = support::Recorder::default();
    let response = client(middleware(&sleeper))
        .get(server.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        503,
        "the server's own answer, to reschedule by"
    );
    assert_eq!(server.seen().len(), 1);
    assert!(sleeper.delays().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_post() {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let sleeper = support::Recorder::default();
    let error = client(middleware(&sleeper))
        .post(format!("http://{address}/orders"))
        .body("order")
        .send()
        .await
        .unwrap_err();
    let stopped = retry_error(&error);
    assert_eq!(
        (stopped.reason(), stopped.attempts()),
        (StopReason::AttemptsExhausted, 4),
        "never sent, so safe to repeat"
    );
    assert!(stopped.error().is_some_and(|e| e.is_connect()));
}

/// The crate's error inside the middleware's.
fn retry_error(error: &reqwest_middleware::Error) -> &RetryError<reqwest_middleware::Error> {
    match error {
        reqwest_middleware::Error::Middleware(inner) => inner.downcast_ref().unwrap(),
        other => panic!("not the retry error: {other}"),
    }
}

#[tokio::test]
async fn a_post_is_repeated_only_with_its_key() {
    let server = Server::start(vec![status(503), status(503)]).await;
    let sleeper = support::Recorder::default();
    let response = client(middleware(&sleeper))
        .post(server.url("/orders"))
        .body("order")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "maybe applied: not repeated");
    assert_eq!(server.seen().len(), 1);
    assert_eq!(server.seen()[0].idempotency_key, None);

    let server = Server::start(vec![status(503), status(503)]).await;
    let response = client(middleware(&sleeper).send_keys())
        .post(server.url("/orders"))
        .body("order")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let keys: Vec<_> = server
        .seen()
        .into_iter()
        .map(|s| s.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[0].is_some());
    assert!(
        keys.iter().all(|key| *key == keys[0]),
        "one key for every attempt: {keys:?}"
    );
}

#[tokio::test]
async fn a_streaming_body_is_sent_once() {
    let server = Server::start(vec![status(503)]).await;
    let sleeper = support::Recorder::default();
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>("order")]);
    let response = client(middleware(&sleeper))
        .put(server.url("/orders/7"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.seen().len(), 1);
    assert!(sleeper.delays().is_empty());
}

#[tokio::test]
async fn one_hosts_outage_never_opens_anothers_breaker() {
    let down = Server::start(vec![status(500); 64]).await;
    let up = Server::start(Vec::new()).await;
    let breakers = Keyed::new(16, Duration::from_secs(600), |_: &str| {
        CircuitBreaker::builder()
            .consecutive_failures(3)
            .without_failure_rate()
            .build()
            .unwrap()
    });
    let sleeper = support::Recorder::default();
    let client = client(middleware(&sleeper).breakers(breakers.clone()));
    for _ in 0..5 {
        let _ = client.get(down.url("/")).send().await;
        let response = client.get(up.url("/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        up.seen().len(),
        5,
        "every call to the healthy host succeeded at once"
    );
    assert_eq!(
        down.seen().len(),
        3,
        "the failing host's breaker opened after 3 failures"
    );
    let host = |server: &Server| format!("127.0.0.1:{}", server.addr.port());
    assert_eq!(
        breakers.get(&host(&down)).state(),
        steadfast::BreakerState::Open
    );
    assert_eq!(
        breakers.get(&host(&up)).state(),
        steadfast::BreakerState::Closed
    );
    assert_eq!(breakers.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_failing_calls_never_retry_past_the_budget() {
    // Every request fails; the budget allows retries of 20% of first attempts and no
    // floor. A retry is charged when it is decided, before its sleep, so calls
    // backing off together cannot all wake and retry.
    let server = Server::start(vec![status(503); 10_000]).await;
    let budget = RetryBudget::ratio(0.2).min_per_second(0.0).build().unwrap();
    let sleeper = support::Recorder::default();
    let client = client(
        RetryMiddleware::new()
            .with(policy(5))
            .sleeper(sleeper.clone())
            .budget(&budget),
    );
    let url = server.url("/");
    let calls: Vec<_> = (0..1_000)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 503);
    }
    let snapshot = budget.snapshot();
    assert!(snapshot.granted <= 200, "{snapshot:?}");
    assert_eq!(server.seen().len() as u64, 1_000 + snapshot.granted);
    assert_eq!(sleeper.delays().len() as u64, snapshot.granted);
    assert!(snapshot.denied > 0);
}

#[tokio::test]
async fn one_hosts_failures_never_spend_anothers_budget() {
    let down = Server::start(vec![status(503); 1_000]).await;
    let other = Server::start(vec![status(503); 1_000]).await;
    let sleeper = support::Recorder::default();
    let counted = Arc::new(AtomicU32::new(0));
    let made = counted.clone();
    let budgets = Keyed::new(8, Duration::from_secs(600), move |_: &str| {
        made.fetch_add(1, Ordering::Relaxed);
        RetryBudget::token_bucket(0.001, 2.0).build().unwrap()
    });
    let client = client(middleware(&sleeper).budgets(budgets));
    for _ in 0..3 {
        let _ = client.get(down.url("/")).send().await;
    }
    // Two retries in the bucket for this host, then none.
    assert_eq!(down.seen().len(), 5);
    // The other host still has its own two.
    let _ = client.get(other.url("/")).send().await;
    assert_eq!(other.seen().len(), 3);
    assert_eq!(counted.load(Ordering::Relaxed), 2, "one budget per host");
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_ends_a_call_through_the_middleware() {
    // The extensions go down the chain with the attempt, and a timed-out attempt is
    // dropped with them: the call cannot start another.
    let server = Server::start(vec![Reply::Hold(Arc::new(tokio::sync::Notify::new()))]).await;
    let policy = Policy::builder(Constant::new(Duration::from_millis(100)))
        .max_attempts(3)
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryMiddleware::new().with(policy).without_budget())
        .build();
    let error = client.get(server.url("/")).send().await.unwrap_err();
    let stopped = retry_error(&error);
    assert_eq!(
        (stopped.reason(), stopped.attempts()),
        (StopReason::StateLost, 1)
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_throttle_per_host_sheds_requests_to_a_refusing_host_only() {
    let down = Server::start(vec![status(503); 200]).await;
    let up = Server::start(Vec::new()).await;
    let throttles = Keyed::new(16, Duration::from_secs(600), |_: &str| {
        steadfast::AdaptiveThrottle::builder()
            .window(Duration::from_secs(60))
            .max_rejection_probability(1.0)
            .seed(11)
            .build()
            .unwrap()
    });
    let sleeper = support::Recorder::default();
    let client = client(
        RetryMiddleware::new()
            .with(policy(1))
            .sleeper(sleeper.clone())
            .without_budget()
            .throttles(throttles.clone()),
    );
    let mut shed = 0;
    for _ in 0..100 {
        match client.get(down.url("/")).send().await {
            Ok(response) => assert_eq!(response.status(), 503),
            Err(error) => {
                assert_eq!(retry_error(&error).reason(), StopReason::ThrottledLocally);
                shed += 1;
            }
        }
        let response = client.get(up.url("/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Every request reached the server or was shed, never both.
    assert_eq!(down.seen().len() + shed, 100);
    assert!(shed > 80, "{shed} of 100 shed");
    assert_eq!(up.seen().len(), 100, "the healthy host was never throttled");
    let host = |server: &Server| format!("127.0.0.1:{}", server.addr.port());
    assert_eq!(throttles.get(&host(&up)).snapshot().rejected, 0);
    assert_eq!(throttles.get(&host(&down)).snapshot().rejected, shed as u64);
}
