//! A real HTTP client and a real server on 127.0.0.1, with `steadfast`'s tower layer in
//! between: Retry-After honoured, server errors retried, a POST retried only because
//! it carries an idempotency key, and every retry visible in the tracing output.
//!
//! Run with `cargo run --example http_client --features http,tower`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::{Decision, Exponential, HttpClassifier, Policy, RetryLayer};
use tokio::net::TcpListener;
use tower_layer::Layer;
use tower_service::Service;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// A server that fails the first requests to each path, then recovers.
async fn serve(listener: TcpListener) {
    let hits = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let hits = hits.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let hits = hits.clone();
                async move { Ok::<_, Infallible>(answer(&request, &hits)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(request: &Request<Incoming>, hits: &[AtomicU32; 2]) -> Response<Full<Bytes>> {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let (status, retry_after) = if request.uri().path() == "/report" {
        match hits[0].fetch_add(1, Ordering::Relaxed) {
            0 => (StatusCode::SERVICE_UNAVAILABLE, Some("1")),
            1 => (StatusCode::BAD_GATEWAY, None),
            _ => (StatusCode::OK, None),
        }
    } else {
        match hits[1].fetch_add(1, Ordering::Relaxed) {
            0 => (StatusCode::INTERNAL_SERVER_ERROR, None),
            _ => (StatusCode::CREATED, None),
        }
    };
    println!(
        "    server: {} {} (Idempotency-Key: {key}) -> {}",
        request.method(),
        request.uri().path(),
        status.as_u16()
    );
    let mut response = Response::builder().status(status);
    if let Some(seconds) = retry_after {
        response = response.header("retry-after", seconds);
    }
    response
        .body(Full::new(Bytes::from_static(b"ok")))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // steadfast's own events only: one line per retry, with its attempt, delay and decision.
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().without_time())
        .with(Targets::new().with_target("steadfast", tracing::Level::DEBUG))
        .init();

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(serve(listener));

    let policy = Policy::builder(Exponential::new(Duration::from_millis(100)))
        .max_attempts(4)
        .max_elapsed(Duration::from_secs(10))
        .build()?;
    let classifier = HttpClassifier::new().errors(|error: &ClientError| {
        if error.is_connect() {
            Decision::RetryUnsent
        } else {
            Decision::Retry
        }
    });
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut client = RetryLayer::new()
        .with(policy)
        .classify(classifier)
        .with_idempotency_keys()
        .layer(client);

    for (method, path) in [("GET", "/report"), ("POST", "/orders")] {
        println!("{method} {path}");
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{address}{path}"))
            .body(Full::new(Bytes::from_static(b"{\"item\": 7}")))?;
        std::future::poll_fn(|cx| client.poll_ready(cx)).await?;
        let response = client.call(request).await?;
        println!("  => {}\n", response.status());
    }
    Ok(())
}
