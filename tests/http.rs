//! HTTP through a real client, the tower layer and a real server on 127.0.0.1.
#![cfg(all(feature = "http", feature = "tower"))]

#[path = "support/server.rs"]
mod server;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, Error as ClientError, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use server::{DateForm, Reply, Server};
use steadfast::{
    AttemptError, Constant, Decision, HttpClassifier, Jitter, Policy, RetryError, RetryLayer,
    Sleeper, StopReason,
};
use tokio::sync::{Notify, mpsc, oneshot};
use tower_layer::Layer;
use tower_service::Service;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Connection errors happened before the request was sent.
fn classifier() -> HttpClassifier<fn(&ClientError) -> Decision> {
    HttpClassifier::new().errors(|error: &ClientError| {
        if error.is_connect() {
            Decision::RetryUnsent
        } else {
            Decision::Retry
        }
    })
}

fn policy(attempts: u32) -> Policy<Constant> {
    Policy::builder(Constant::new(Duration::from_millis(100)))
        .jitter(Jitter::none())
        .max_attempts(attempts)
        .build()
        .unwrap()
}

/// The layer under test, over a real client, with a sleeper that records each delay
/// and returns at once.
fn layered(
    sleeper: support::Recorder,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Incoming>,
    Error = RetryError<ClientError>,
    Future: Send,
> + Clone {
    RetryLayer::new()
        .with(policy(4))
        .classify(classifier())
        .sleeper(sleeper)
        .layer(client())
}

async fn send<S>(
    service: &mut S,
    method: Method,
    url: &str,
) -> Result<Response<Incoming>, RetryError<ClientError>>
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<Incoming>,
            Error = RetryError<ClientError>,
        >,
{
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    service.call(request).await
}

const MS: Duration = Duration::from_millis(1);

#[tokio::test]
async fn retry_after_in_seconds_is_honoured() {
    let server = Server::start(vec![Reply::Status(503, vec![("retry-after", "2".into())])]).await;
    let recorder = support::Recorder::default();
    let response = send(
        &mut layered(recorder.clone()),
        Method::GET,
        &server.url("/"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.seen().len(), 2);
    assert_eq!(recorder.delays(), [Duration::from_secs(2)]);
}

#[tokio::test]
async fn retry_after_dates_are_honoured_in_every_form() {
    for form in [DateForm::ImfFixdate, DateForm::Rfc850, DateForm::Asctime] {
        let server = Server::start(vec![Reply::RetryAfterDate(Duration::from_secs(3), form)]).await;
        let recorder = support::Recorder::default();
        let response = send(
            &mut layered(recorder.clone()),
            Method::GET,
            &server.url("/"),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{form:?}");
        let delays = recorder.delays();
        assert_eq!(delays.len(), 1, "{form:?}");
        // The date has whole seconds: three seconds ahead, less the fraction already past.
        assert!(
            delays[0] > Duration::from_millis(1500) && delays[0] <= Duration::from_secs(3),
            "{form:?}: {delays:?}"
        );
    }
}

#[tokio::test]
async fn throttling_is_retried_with_or_without_a_hint() {
    let server = Server::start(vec![
        Reply::Status(429, vec![("retry-after", "1".into())]),
        Reply::Status(429, vec![]),
        Reply::Status(429, vec![("retry-after", "not a number".into())]),
    ])
    .await;
    let recorder = support::Recorder::default();
    let response = send(
        &mut layered(recorder.clone()),
        Method::GET,
        &server.url("/"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        recorder.delays(),
        [Duration::from_secs(1), 100 * MS, 100 * MS]
    );
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = Server::start(vec![Reply::Status(500, vec![]), Reply::Status(502, vec![])]).await;
    let recorder = support::Recorder::default();
    let response = send(
        &mut layered(recorder.clone()),
        Method::GET,
        &server.url("/"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.seen().len(), 3);
    assert_eq!(recorder.delays(), [100 * MS, 100 * MS]);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 422] {
        let server = Server::start(vec![Reply::Status(status, vec![])]).await;
        let recorder = support::Recorder::default();
        let response = send(
            &mut layered(recorder.clone()),
            Method::GET,
            &server.url("/"),
        )
        .await
        .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(
            (server.seen().len(), recorder.delays().len()),
            (1, 0),
            "{status}"
        );
    }
}

#[tokio::test]
async fn a_hostile_retry_after_never_parks_the_client() {
    let server = Server::start(vec![Reply::Status(
        503,
        vec![("retry-after", "999999999".into())],
    )])
    .await;
    let recorder = support::Recorder::default();
    let response = send(
        &mut layered(recorder.clone()),
        Method::GET,
        &server.url("/"),
    )
    .await
    .unwrap();
    // The server's own answer comes back at once, for the caller to reschedule.
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "999999999");
    assert_eq!((server.seen().len(), recorder.delays().len()), (1, 0));
}

#[tokio::test]
async fn refused_connections_are_retried_even_for_post() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    for method in [Method::GET, Method::POST] {
        let recorder = support::Recorder::default();
        let err = send(&mut layered(recorder.clone()), method.clone(), &url)
            .await
            .unwrap_err();
        assert_eq!(
            (err.reason(), err.attempts()),
            (StopReason::AttemptsExhausted, 4),
            "{method}"
        );
        assert!(matches!(err.last_failure(), Some(AttemptError::Operation(e)) if e.is_connect()));
        assert_eq!(recorder.delays().len(), 3);
    }
}

#[tokio::test]
async fn a_post_without_a_key_is_not_repeated_once_sent() {
    let server = Server::start(vec![Reply::Status(500, vec![]), Reply::Status(409, vec![])]).await;
    let recorder = support::Recorder::default();
    let mut service = layered(recorder.clone());
    let response = send(&mut service, Method::POST, &server.url("/orders"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = send(&mut service, Method::POST, &server.url("/orders"))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "a conflict without a key is final"
    );
    assert_eq!(server.seen().len(), 2);
    assert!(
        server
            .seen()
            .iter()
            .all(|seen| seen.idempotency_key.is_none())
    );
}

#[tokio::test]
async fn keyed_posts_are_retried_with_the_same_key_and_no_key_is_reused() {
    let server = Server::start(vec![
        Reply::Status(500, vec![]),
        Reply::Status(409, vec![]),
        Reply::Status(200, vec![]),
        // The second call:
        Reply::Status(503, vec![]),
    ])
    .await;
    let recorder = support::Recorder::default();
    let mut service = RetryLayer::new()
        .with(policy(4))
        .classify(classifier())
        .sleeper(recorder.clone())
        .with_idempotency_keys()
        .layer(client());
    for _ in 0..2 {
        let response = send(&mut service, Method::POST, &server.url("/orders"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|s| s.method == "POST"));
    let keys: Vec<String> = seen
        .iter()
        .map(|s| s.idempotency_key.clone().unwrap())
        .collect();
    assert!(
        keys[0].starts_with('"') && keys[0].ends_with('"') && keys[0].len() == 38,
        "{}",
        keys[0]
    );
    assert_eq!(&keys[0][15..16], "4", "a version 4 UUID: {}", keys[0]);
    assert!(keys[..3].iter().all(|k| *k == keys[0]), "{keys:?}");
    assert!(keys[3..].iter().all(|k| *k == keys[3]), "{keys:?}");
    assert_ne!(keys[0], keys[3]);

    // Idempotent methods need no key.
    send(&mut service, Method::PUT, &server.url("/orders/1"))
        .await
        .unwrap();
    assert_eq!(server.seen().last().unwrap().idempotency_key, None);
}

#[tokio::test]
async fn keyed_requests_are_not_retried_on_validation_errors() {
    for status in [400, 422] {
        let server = Server::start(vec![Reply::Status(status, vec![])]).await;
        let mut service = RetryLayer::new()
            .with(policy(4))
            .classify(classifier())
            .sleeper(support::Recorder::default())
            .with_idempotency_keys()
            .layer(client());
        let response = send(&mut service, Method::POST, &server.url("/orders"))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(server.seen().len(), 1);
    }
}

#[tokio::test]
async fn a_key_set_by_the_caller_makes_a_post_retryable() {
    let server = Server::start(vec![Reply::Status(409, vec![]), Reply::Status(500, vec![])]).await;
    let mut service = layered(support::Recorder::default());
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let key = steadfast::IdempotencyKey::generate().header_value();
    let request = Request::post(server.url("/orders"))
        .header(steadfast::IDEMPOTENCY_KEY, key.clone())
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        service.call(request).await.unwrap().status(),
        StatusCode::OK
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|s| s.idempotency_key.as_deref() == Some(key.to_str().unwrap()))
    );
}

/// A sleeper whose timers fire only when the test says so, reporting each one.
#[derive(Clone)]
struct ManualSleeper(mpsc::UnboundedSender<(Duration, oneshot::Sender<()>)>);

struct ManualSleep(oneshot::Receiver<()>);

impl Future for ManualSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Sleeper for ManualSleeper {
    type Sleep = ManualSleep;
    fn sleep(&self, delay: Duration) -> ManualSleep {
        let (fire, fired) = oneshot::channel();
        let _ = self.0.send((delay, fire));
        ManualSleep(fired)
    }
}

#[tokio::test]
async fn a_slow_response_hits_the_attempt_timeout_and_is_retried() {
    let release = Arc::new(Notify::new());
    let server = Server::start(vec![Reply::Hold(release.clone())]).await;
    let (timers, mut requested) = mpsc::unbounded_channel();
    let policy = Policy::builder(Constant::new(Duration::from_millis(250)))
        .jitter(Jitter::none())
        .attempt_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut service = RetryLayer::new()
        .with(policy)
        .classify(classifier())
        .sleeper(ManualSleeper(timers))
        .layer(client());
    let url = server.url("/slow");
    let call = tokio::spawn(async move {
        send(&mut service, Method::GET, &url)
            .await
            .map(|r| r.status())
    });

    // Attempt 1 is armed with its timeout; once the server holds the request, fire it.
    let (timeout, fire) = requested.recv().await.unwrap();
    assert_eq!(timeout, Duration::from_secs(2));
    while server.seen().is_empty() {
        tokio::task::yield_now().await;
    }
    fire.send(()).unwrap();
    // Then the backoff, then attempt 2 with its own timeout, which the answer beats.
    let (backoff, fire) = requested.recv().await.unwrap();
    assert_eq!(backoff, Duration::from_millis(250));
    fire.send(()).unwrap();
    let (timeout, _never_fired) = requested.recv().await.unwrap();
    assert_eq!(timeout, Duration::from_secs(2));

    assert_eq!(call.await.unwrap().unwrap(), StatusCode::OK);
    assert_eq!(server.seen().len(), 2);
    release.notify_one();
}

#[tokio::test]
async fn the_layer_shares_its_breaker_and_budget_across_clones() {
    let server = Server::start(vec![Reply::Status(503, vec![]); 10]).await;
    let breaker = steadfast::CircuitBreaker::builder()
        .consecutive_failures(3)
        .build()
        .unwrap();
    let budget = steadfast::RetryBudget::token_bucket(0.001, 1.0)
        .build()
        .unwrap();
    let layer = RetryLayer::new()
        .with(policy(4))
        .classify(classifier())
        .sleeper(support::Recorder::default())
        .breaker(&breaker)
        .budget(&budget);
    let mut first = layer.layer(client());
    let mut second = first.clone();

    // One retry is in the budget: the first call stops after two attempts.
    let response = send(&mut first, Method::GET, &server.url("/"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!((server.seen().len(), budget.snapshot().denied), (2, 1));

    // The clone shares the budget (empty) and the breaker, which its failure trips.
    send(&mut second, Method::GET, &server.url("/"))
        .await
        .unwrap();
    assert_eq!(breaker.state(), steadfast::BreakerState::Open);
    let err = send(&mut second, Method::GET, &server.url("/"))
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), StopReason::BreakerOpen { .. }));
    assert_eq!(
        (err.attempts(), server.seen().len()),
        (0, 3),
        "rejected without touching the server"
    );
}

#[tokio::test]
async fn the_layer_keeps_a_breaker_per_host() {
    let down = Server::start(vec![Reply::Status(500, Vec::new()); 64]).await;
    let up = Server::start(Vec::new()).await;
    let breakers = steadfast::Keyed::new(16, Duration::from_secs(600), |_: &str| {
        steadfast::CircuitBreaker::builder()
            .consecutive_failures(3)
            .without_failure_rate()
            .build()
            .unwrap()
    });
    let mut service = RetryLayer::new()
        .with(policy(4))
        .classify(classifier())
        .sleeper(support::Recorder::default())
        .breakers(breakers.clone())
        .layer(client());
    for _ in 0..5 {
        let _ = send(&mut service, Method::GET, &down.url("/")).await;
        let response = send(&mut service, Method::GET, &up.url("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        up.seen().len(),
        5,
        "the healthy host answered every call at once"
    );
    assert_eq!(
        down.seen().len(),
        3,
        "the failing host's breaker opened after 3 failures"
    );
    let key = |server: &Server| format!("127.0.0.1:{}", server.addr.port());
    assert_eq!(
        breakers.get(&key(&down)).state(),
        steadfast::BreakerState::Open
    );
    assert_eq!(
        breakers.get(&key(&up)).state(),
        steadfast::BreakerState::Closed
    );
}

#[tokio::test]
async fn the_layer_throttles_a_refusing_service_before_sending() {
    let server = Server::start(vec![Reply::Status(503, vec![]); 100]).await;
    let throttle = steadfast::AdaptiveThrottle::builder()
        .window(Duration::from_secs(60))
        .max_rejection_probability(1.0)
        .seed(5)
        .build()
        .unwrap();
    let mut service = RetryLayer::new()
        .with(policy(1))
        .classify(classifier())
        .sleeper(support::Recorder::default())
        .without_budget()
        .throttle(&throttle)
        .layer(client());
    let mut shed = 0;
    for _ in 0..50 {
        match send(&mut service, Method::GET, &server.url("/")).await {
            Ok(response) => assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE),
            Err(err) => {
                assert_eq!(err.reason(), StopReason::ThrottledLocally);
                assert_eq!(err.attempts(), 0);
                shed += 1;
            }
        }
    }
    assert_eq!(server.seen().len() + shed, 50);
    assert!(shed > 35, "{shed} of 50 shed");
    let snapshot = throttle.snapshot();
    assert_eq!((snapshot.requests, snapshot.accepts), (50, 0));
}
