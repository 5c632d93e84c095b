//! The cost of the retry engine over a direct await of the same operation.
//!
//! Futures here never wait on anything external, so they are polled to completion with
//! a no-op waker: what is measured is the engine, not a runtime's scheduler.

use std::future::IntoFuture;
use std::hint::black_box;
use std::time::Duration;

mod common;

use common::block_on;
use criterion::{Criterion, criterion_group, criterion_main};
use steadfast::{Constant, Jitter, Policy, retry};

/// Fails `failures` times, then succeeds.
async fn operation(attempt: u32, failures: u32) -> Result<u32, std::io::Error> {
    if black_box(attempt) <= failures {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(attempt)
    }
}

fn immediate() -> Policy<Constant> {
    Policy::builder(Constant::new(Duration::ZERO))
        .jitter(Jitter::none())
        .max_attempts(5)
        .build()
        .unwrap_or_default_policy()
}

trait OrDefault {
    fn unwrap_or_default_policy(self) -> Policy<Constant>;
}

impl OrDefault for Result<Policy<Constant>, steadfast::ConfigError> {
    fn unwrap_or_default_policy(self) -> Policy<Constant> {
        match self {
            Ok(policy) => policy,
            Err(error) => panic!("benchmark policy: {error}"),
        }
    }
}

fn first_try(c: &mut Criterion) {
    let mut group = c.benchmark_group("first_try_succeeds");
    group.bench_function("direct", |b| b.iter(|| block_on(operation(1, 0))));
    group.bench_function("steadfast", |b| {
        b.iter(|| block_on(retry(|a| operation(a.number(), 0)).into_future()))
    });
    group.finish();
}

fn three_failures(c: &mut Criterion) {
    let mut group = c.benchmark_group("three_failures_then_success_zero_delay");
    group.bench_function("direct", |b| {
        b.iter(|| {
            block_on(async {
                let mut attempt = 1;
                loop {
                    match operation(attempt, 3).await {
                        Ok(value) => break Ok::<_, std::io::Error>(value),
                        Err(_) if attempt < 5 => attempt += 1,
                        Err(error) => break Err(error),
                    }
                }
            })
        })
    });
    group.bench_function("steadfast", |b| {
        b.iter(|| {
            block_on(
                retry(|a| operation(a.number(), 3))
                    .with(immediate())
                    .into_future(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, first_try, three_failures);
criterion_main!(benches);
