//! A real reqwest client against a real server on 127.0.0.1 that answers
//! `503 Service Unavailable` with `Retry-After: 1` twice, then `200 OK`: once as a plain
//! call with the HTTP classifier, printing each attempt, and once through the
//! reqwest-middleware `RetryMiddleware`.
//!
//! Run with `cargo run --example reqwest_client --features reqwest-middleware`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use steadfast::{HttpClassifier, RetryMiddleware, retry};
use tokio::net::TcpListener;

/// Answers 503 with `Retry-After: 1` to the first two requests to each path, then 200.
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
                async move {
                    let path = usize::from(request.uri().path() == "/middleware");
                    let response = if hits[path].fetch_add(1, Ordering::Relaxed) < 2 {
                        Response::builder()
                            .status(StatusCode::SERVICE_UNAVAILABLE)
                            .header("retry-after", "1")
                            .body(Full::new(Bytes::from_static(b"busy")))
                    } else {
                        Response::builder().body(Full::new(Bytes::from_static(b"in stock: 7")))
                    };
                    Ok::<_, Infallible>(response.unwrap_or_default())
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(serve(listener));

    println!("a plain call, classified by status and Retry-After:");
    let client = reqwest::Client::new();
    let url = format!("http://{address}/stock");
    let start = Instant::now();
    let response = retry(|attempt| {
        println!(
            "  attempt {} at {:.1} s",
            attempt.number(),
            start.elapsed().as_secs_f64()
        );
        client.get(&url).send()
    })
    .classify(HttpClassifier::reqwest())
    .on_retry(|event| println!("    {:?} -> retry in {:?}", event.decision, event.delay))
    .await?;
    println!(
        "  {} after {:.1} s: {}",
        response.status(),
        start.elapsed().as_secs_f64(),
        response.text().await?
    );

    println!("through reqwest-middleware:");
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryMiddleware::new())
        .build();
    let start = Instant::now();
    let response = client
        .get(format!("http://{address}/middleware"))
        .send()
        .await?;
    println!(
        "  {} after {:.1} s: {}",
        response.status(),
        start.elapsed().as_secs_f64(),
        response.text().await?
    );
    Ok(())
}
