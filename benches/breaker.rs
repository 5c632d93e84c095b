//! The cost of a circuit breaker: a closed-state call (admission and recording) on one
//! thread and on two threads sharing one breaker, and a rejection while open.

use std::hint::black_box;
use std::time::Duration;

mod common;

use common::two_threads;
use criterion::{Criterion, criterion_group, criterion_main};
use steadfast::{CallOutcome, CircuitBreaker, StdClock};

fn built(builder: steadfast::BreakerBuilder) -> CircuitBreaker {
    match builder.build() {
        Ok(breaker) => breaker,
        Err(error) => panic!("benchmark breaker: {error}"),
    }
}

/// The default rules (five failures in a row, or half of the last 100 calls), and the
/// leanest (failures in a row only).
fn breakers() -> [(&'static str, CircuitBreaker); 2] {
    [
        (
            "default_rules",
            built(CircuitBreaker::builder().clock(StdClock)),
        ),
        (
            "consecutive_only",
            built(
                CircuitBreaker::builder()
                    .without_failure_rate()
                    .clock(StdClock),
            ),
        ),
    ]
}

fn closed_call(breaker: &CircuitBreaker) {
    if let Ok(permit) = breaker.try_acquire() {
        breaker.record(permit, CallOutcome::Success);
    }
}

fn closed_one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_call_one_thread");
    for (name, breaker) in breakers() {
        group.bench_function(name, |b| b.iter(|| closed_call(black_box(&breaker))));
    }
    group.finish();
}

/// Two threads share one breaker, each making half of the calls: the time per
/// iteration is the inverse of their aggregate throughput.
fn closed_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("closed_call_two_threads");
    for (name, breaker) in breakers() {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                two_threads(iterations, &|| closed_call(black_box(&breaker)))
            })
        });
    }
    group.finish();
}

fn rejection(c: &mut Criterion) {
    let mut group = c.benchmark_group("rejection_when_open");
    let tripped = built(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .open_for(Duration::from_secs(3600))
            .clock(StdClock),
    );
    if let Ok(permit) = tripped.try_acquire() {
        tripped.record(permit, CallOutcome::Failure);
    }
    group.bench_function("open", |b| {
        b.iter(|| black_box(tripped.try_acquire().is_err()))
    });
    let forced = built(CircuitBreaker::builder().clock(StdClock));
    forced.force_open();
    group.bench_function("forced_open", |b| {
        b.iter(|| black_box(forced.try_acquire().is_err()))
    });
    group.finish();
}

criterion_group!(benches, closed_one_thread, closed_two_threads, rejection);
criterion_main!(benches);
