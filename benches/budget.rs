//! The cost of one retry-budget withdrawal, alone and with two threads contending,
//! against a mutex-protected token bucket (refilled from the time of the last refill)
//! as the baseline.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;

mod common;

use common::two_threads;
use criterion::{Criterion, criterion_group, criterion_main};
use steadfast::{RetryBudget, RetryCause, StdClock};

/// The textbook design: a token count and the time it was last refilled, under a lock.
struct MutexBucket {
    state: Mutex<(f64, Instant)>,
    per_second: f64,
    burst: f64,
}

impl MutexBucket {
    fn new(per_second: f64, burst: f64) -> Self {
        Self {
            state: Mutex::new((burst, Instant::now())),
            per_second,
            burst,
        }
    }

    fn try_withdraw(&self) -> bool {
        let mut state = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() * self.per_second;
        state.0 = (state.0 + refill).min(self.burst);
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

fn built(budget: Result<RetryBudget, steadfast::ConfigError>) -> RetryBudget {
    match budget {
        Ok(budget) => budget,
        Err(error) => panic!("benchmark budget: {error}"),
    }
}

/// A named way to withdraw one retry.
type Candidate = (&'static str, Box<dyn Fn() -> bool + Sync>);

/// Budgets that always have tokens, so every withdrawal takes the granting path.
fn candidates() -> Vec<Candidate> {
    let bucket = built(RetryBudget::token_bucket(1e9, 1e12).clock(StdClock).build());
    let ratio = built(
        RetryBudget::ratio(1.0)
            .min_per_second(1e9)
            .clock(StdClock)
            .build(),
    );
    let mutex = MutexBucket::new(1e9, 1e12);
    vec![
        (
            "steadfast_token_bucket",
            Box::new(move || bucket.try_withdraw(RetryCause::Transient)),
        ),
        (
            "steadfast_ratio",
            Box::new(move || ratio.try_withdraw(RetryCause::Transient)),
        ),
        ("mutex_token_bucket", Box::new(move || mutex.try_withdraw())),
    ]
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("withdraw_one_thread");
    for (name, withdraw) in candidates() {
        group.bench_function(name, |b| b.iter(|| black_box(withdraw())));
    }
    group.finish();
}

/// Two threads withdraw from one budget, each half of the iterations: the time per
/// iteration is the inverse of their aggregate throughput.
fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("withdraw_two_threads");
    for (name, withdraw) in candidates() {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                two_threads(iterations, &|| {
                    black_box(withdraw());
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, one_thread, contended);
criterion_main!(benches);
