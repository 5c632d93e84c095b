//! reqwest: the middleware's added cost per request against reqwest-retry's, on the same
//! loopback server with the first try succeeding, and the keyed registry's lookup.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

mod common;

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use steadfast::{CircuitBreaker, Keyed, RetryMiddleware};
use tokio::net::TcpListener;

/// A server on 127.0.0.1 that answers every request with 200.
async fn server() -> String {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(error) => panic!("loopback listener: {error}"),
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(error) => panic!("loopback address: {error}"),
    };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|_| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}/")
}

/// Times `iterations` requests, one after another, inside one `block_on`.
fn requests(
    runtime: &tokio::runtime::Runtime,
    client: &ClientWithMiddleware,
    url: &str,
    iterations: u64,
) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            match client.get(url).send().await {
                Ok(response) => {
                    black_box(response.status());
                }
                Err(error) => panic!("request: {error}"),
            }
        }
        start.elapsed()
    })
}

fn middleware(c: &mut Criterion) {
    // One thread for client and server: the request's path is the same every time, so
    // the difference between the clients is their own work, not scheduling.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("runtime: {error}"),
    };
    let url = runtime.block_on(server());
    let plain = ClientBuilder::new(reqwest::Client::new()).build();
    let steadfast = ClientBuilder::new(reqwest::Client::new())
        .with(RetryMiddleware::new())
        .build();
    let reqwest_retry = ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(
            ExponentialBackoff::builder().build_with_max_retries(2),
        ))
        .build();
    let mut group = c.benchmark_group("reqwest_request_first_try_succeeds");
    group.bench_function("no_middleware", |b| {
        b.iter_custom(|n| requests(&runtime, &plain, &url, n))
    });
    group.bench_function("steadfast", |b| {
        b.iter_custom(|n| requests(&runtime, &steadfast, &url, n))
    });
    group.bench_function("reqwest_retry", |b| {
        b.iter_custom(|n| requests(&runtime, &reqwest_retry, &url, n))
    });
    group.finish();
}

fn registry(c: &mut Criterion) {
    let breakers = Keyed::new(1_024, Duration::from_secs(600), |_: &str| {
        CircuitBreaker::default()
    });
    for n in 0..100 {
        breakers.get(&format!("10.0.0.{n}:443"));
    }
    let lookup = || {
        black_box(breakers.get(black_box("10.0.0.42:443")));
    };
    let mut group = c.benchmark_group("registry_lookup_existing_key");
    group.bench_function("one_thread", |b| b.iter(lookup));
    group.bench_function("two_threads", |b| {
        b.iter_custom(|n| common::two_threads(n, &lookup))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = middleware, registry
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
