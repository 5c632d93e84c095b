//! steadfast against its peers, measured in the same run on the same machine.
//!
//! Retry paths (first try succeeds; three failures then success with zero delay):
//! backon, tokio-retry2 and tower's `Retry`. Breakers (a closed-state call on one and
//! two threads; a rejection while open): failsafe and recloser. Budgets (a withdrawal
//! on one and two threads): tower's `TpsBudget`. Hedged calls (an answer before the
//! hedge delay): tower's `Hedge`; adaptive throttling has no peer in Rust. Each retry future is driven inside a
//! current-thread tokio runtime, which the peers' default sleepers need. The sizes of
//! the retry futures are printed before the measurements.

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

mod common;

use backon::{BlockingRetryable, ConstantBuilder, Retryable};
use common::{FixedClock, two_threads};
use criterion::{Criterion, criterion_group};
use failsafe::CircuitBreaker as _;
use steadfast::Clock as _;
use steadfast::{
    AdaptiveThrottle, CallOutcome, CircuitBreaker, Constant, IoErrors, Jitter, Latencies, Policy,
    RetryBudget, RetryCause, StdClock, hedge, retry, retry_blocking,
};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::{Service, ServiceExt};

type Failure = std::io::Error;

/// Fails until attempt `failures + 1`.
async fn operation(attempt: u32, failures: u32) -> Result<u32, Failure> {
    if black_box(attempt) <= failures {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(attempt)
    }
}

fn immediate() -> Policy<Constant> {
    match Policy::builder(Constant::new(Duration::ZERO))
        .jitter(Jitter::none())
        .max_attempts(5)
        .build()
    {
        Ok(policy) => policy,
        Err(error) => panic!("benchmark policy: {error}"),
    }
}

fn backon_immediate() -> ConstantBuilder {
    ConstantBuilder::default()
        .with_delay(Duration::ZERO)
        .with_max_times(4)
}

/// A backon sleeper that never waits, to compare the engines alone.
struct NoSleep;

impl backon::Sleeper for NoSleep {
    type Sleep = std::future::Ready<()>;
    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::ready(())
    }
}

fn steadfast_call(
    failures: u32,
) -> impl Future<Output = Result<u32, steadfast::RetryError<Failure>>> {
    retry(move |a| operation(a.number(), failures)).with(immediate())
}

fn steadfast_call_no_sleep(
    failures: u32,
) -> impl Future<Output = Result<u32, steadfast::RetryError<Failure>>> {
    retry(move |a| operation(a.number(), failures))
        .with(immediate())
        .sleeper(Immediate)
}

/// A steadfast sleeper that never waits, to compare the engines alone.
#[derive(Clone, Copy)]
struct Immediate;

impl steadfast::Sleeper for Immediate {
    type Sleep = std::future::Ready<()>;
    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::ready(())
    }
}

fn backon_call(failures: u32) -> impl Future<Output = Result<u32, Failure>> {
    let attempt = AtomicU32::new(0);
    (move || operation(attempt.fetch_add(1, Ordering::Relaxed) + 1, failures))
        .retry(backon_immediate())
}

fn backon_call_no_sleep(failures: u32) -> impl Future<Output = Result<u32, Failure>> {
    let attempt = AtomicU32::new(0);
    (move || operation(attempt.fetch_add(1, Ordering::Relaxed) + 1, failures))
        .retry(backon_immediate())
        .sleep(NoSleep)
}

fn tokio_retry2_call(failures: u32) -> impl Future<Output = Result<u32, Failure>> {
    let mut attempt = 0;
    tokio_retry2::Retry::spawn(std::iter::repeat_n(Duration::ZERO, 4), move || {
        attempt += 1;
        let n = attempt;
        async move {
            operation(n, failures)
                .await
                .map_err(tokio_retry2::RetryError::transient)
        }
    })
}

/// tower's `Retry`: the request carries its attempt number, the policy retries errors.
#[derive(Clone)]
struct Attempts(u32);

impl tower::retry::Policy<u32, u32, Failure> for Attempts {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        request: &mut u32,
        result: &mut Result<u32, Failure>,
    ) -> Option<Self::Future> {
        if result.is_err() && self.0 > 0 {
            self.0 -= 1;
            *request += 1;
            Some(std::future::ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &u32) -> Option<u32> {
        Some(*request)
    }
}

/// A service that fails until attempt `.0 + 1`, with a response future that does not
/// allocate, so only tower's own costs are measured.
#[derive(Clone, Copy)]
struct FlakyReady(u32);

impl Service<u32> for FlakyReady {
    type Response = u32;
    type Error = Failure;
    type Future = std::future::Ready<Result<u32, Failure>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, attempt: u32) -> Self::Future {
        std::future::ready(if attempt <= self.0 {
            Err(std::io::ErrorKind::ConnectionReset.into())
        } else {
            Ok(attempt)
        })
    }
}

fn tower_call(failures: u32) -> impl Future<Output = Result<u32, Failure>> {
    tower::retry::Retry::new(Attempts(4), FlakyReady(failures)).oneshot(1)
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("benchmark runtime: {error}"),
    }
}

/// Times `iterations` awaits of `call()` inside one `block_on`, so that the runtime's
/// own cost of entering and leaving (hundreds of nanoseconds) stays out of the figure.
fn awaited<F, Fut>(rt: &tokio::runtime::Runtime, iterations: u64, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(call().await);
        }
        start.elapsed()
    })
}

async fn direct(failures: u32) -> Result<u32, Failure> {
    let mut attempt = 1;
    loop {
        match operation(attempt, failures).await {
            Err(_) if attempt < 5 => attempt += 1,
            outcome => break outcome,
        }
    }
}

fn retry_paths(c: &mut Criterion) {
    let rt = runtime();
    for (group, failures) in [
        ("retry_first_try_succeeds", 0),
        ("retry_three_failures_zero_delay", 3),
    ] {
        let mut group = c.benchmark_group(group);
        if failures > 0 {
            // The peers' zero-delay sleeps cost a timer tick each: keep the run short.
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(3));
        }
        group.bench_function("direct", |b| {
            b.iter_custom(|n| awaited(&rt, n, || direct(failures)))
        });
        group.bench_function("steadfast", |b| {
            b.iter_custom(|n| awaited(&rt, n, || steadfast_call(failures)))
        });
        group.bench_function("steadfast_no_sleep", |b| {
            b.iter_custom(|n| awaited(&rt, n, || steadfast_call_no_sleep(failures)))
        });
        group.bench_function("backon", |b| {
            b.iter_custom(|n| awaited(&rt, n, || backon_call(failures)))
        });
        group.bench_function("backon_no_sleep", |b| {
            b.iter_custom(|n| awaited(&rt, n, || backon_call_no_sleep(failures)))
        });
        group.bench_function("tokio_retry2", |b| {
            b.iter_custom(|n| awaited(&rt, n, || tokio_retry2_call(failures)))
        });
        group.bench_function("tower_retry", |b| {
            b.iter_custom(|n| awaited(&rt, n, || tower_call(failures)))
        });
        group.finish();
    }

    // Everything on: the default policy, a classifier, a breaker and a budget.
    let breaker = steadfast_breaker();
    let budget = match RetryBudget::ratio(0.2).clock(FixedClock::new()).build() {
        Ok(budget) => budget,
        Err(error) => panic!("benchmark budget: {error}"),
    };
    let mut group = c.benchmark_group("retry_full_pipeline_first_try");
    group.bench_function("direct", |b| {
        b.iter_custom(|n| awaited(&rt, n, || direct(0)))
    });
    group.bench_function("steadfast", |b| {
        b.iter_custom(|n| {
            awaited(&rt, n, || {
                retry(|a| operation(a.number(), 0))
                    .with(Policy::default())
                    .classify(IoErrors)
                    .breaker(&breaker)
                    .budget(&budget)
            })
        })
    });
    group.finish();
}

fn steadfast_breaker() -> CircuitBreaker {
    match CircuitBreaker::builder().clock(FixedClock::new()).build() {
        Ok(breaker) => breaker,
        Err(error) => panic!("benchmark breaker: {error}"),
    }
}

fn clock_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock_read");
    group.bench_function("std_instant", |b| b.iter(|| black_box(StdClock.now())));
    let rt = runtime();
    let _guard = rt.enter();
    group.bench_function("tokio_instant", |b| {
        b.iter(|| black_box(steadfast::TokioClock.now()))
    });
    group.finish();
}

fn breakers(c: &mut Criterion) {
    let steadfast = steadfast_breaker();
    let failsafe = failsafe::Config::new().build();
    let recloser = recloser::Recloser::default();
    let steadfast_call = || {
        if let Ok(permit) = steadfast.try_acquire() {
            steadfast.record(permit, CallOutcome::Success);
        }
    };
    let failsafe_call = || {
        let _ = black_box(failsafe.call(|| Ok::<_, ()>(())));
    };
    let recloser_call = || {
        let _ = black_box(recloser.call(|| Ok::<_, ()>(())));
    };
    let calls: [(&str, &(dyn Fn() + Sync)); 3] = [
        ("steadfast", &steadfast_call),
        ("failsafe", &failsafe_call),
        ("recloser", &recloser_call),
    ];

    let mut group = c.benchmark_group("breaker_closed_call_one_thread");
    for (name, call) in calls {
        group.bench_function(name, |b| b.iter(call));
    }
    group.finish();
    let mut group = c.benchmark_group("breaker_closed_call_two_threads");
    for (name, call) in calls {
        group.bench_function(name, |b| b.iter_custom(|n| two_threads(n, call)));
    }
    group.finish();

    // Open breakers: tripped by failures, with a long wait before the next probe.
    let steadfast = match CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(3600))
        .clock(FixedClock::new())
        .build()
    {
        Ok(breaker) => breaker,
        Err(error) => panic!("benchmark breaker: {error}"),
    };
    if let Ok(permit) = steadfast.try_acquire() {
        steadfast.record(permit, CallOutcome::Failure);
    }
    let backoff = failsafe::backoff::constant(Duration::from_secs(3600));
    let failsafe = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(1, backoff))
        .build();
    let _ = failsafe.call(|| Err::<(), _>(()));
    let recloser = recloser::Recloser::custom()
        .closed_len(1)
        .error_rate(0.5)
        .open_wait(Duration::from_secs(3600))
        .build();
    for _ in 0..4 {
        let _ = recloser.call(|| Err::<(), _>(()));
    }
    assert!(steadfast.try_acquire().is_err());
    assert!(failsafe.call(|| Ok::<_, ()>(())).is_err());
    assert!(recloser.call(|| Ok::<_, ()>(())).is_err());
    let mut group = c.benchmark_group("breaker_rejection_when_open_two_threads");
    let reject = || {
        black_box(steadfast.try_acquire().is_err());
    };
    group.bench_function("steadfast", |b| b.iter_custom(|n| two_threads(n, &reject)));
    group.finish();
    let mut group = c.benchmark_group("breaker_rejection_when_open");
    group.bench_function("steadfast", |b| {
        b.iter(|| black_box(steadfast.try_acquire().is_err()))
    });
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(failsafe.call(|| Ok::<_, ()>(())).is_err()))
    });
    group.bench_function("recloser", |b| {
        b.iter(|| black_box(recloser.call(|| Ok::<_, ()>(())).is_err()))
    });
    group.finish();
}

fn budgets(c: &mut Criterion) {
    // Budgets that always grant, so every withdrawal takes the granting path.
    let bucket = match RetryBudget::token_bucket(1e9, 1e12)
        .clock(FixedClock::new())
        .build()
    {
        Ok(budget) => budget,
        Err(error) => panic!("benchmark budget: {error}"),
    };
    let ratio = match RetryBudget::ratio(1.0)
        .min_per_second(1e9)
        .clock(FixedClock::new())
        .build()
    {
        Ok(budget) => budget,
        Err(error) => panic!("benchmark budget: {error}"),
    };
    let tps = TpsBudget::new(Duration::from_secs(10), 1 << 30, 1.0);
    // Each operation is a first attempt's deposit and a retry's withdrawal.
    let bucket_withdraw = || {
        bucket.deposit();
        black_box(bucket.try_withdraw(RetryCause::Transient));
    };
    let ratio_withdraw = || {
        ratio.deposit();
        black_box(ratio.try_withdraw(RetryCause::Transient));
    };
    let tps_withdraw = || {
        tps.deposit();
        black_box(tps.withdraw());
    };
    let withdrawals: [(&str, &(dyn Fn() + Sync)); 3] = [
        ("steadfast_token_bucket", &bucket_withdraw),
        ("steadfast_ratio", &ratio_withdraw),
        ("tower_tps_budget", &tps_withdraw),
    ];
    let mut group = c.benchmark_group("budget_deposit_withdraw_one_thread");
    for (name, withdraw) in withdrawals {
        group.bench_function(name, |b| b.iter(withdraw));
    }
    group.finish();
    // Deposits alone: every call makes one, so they must not contend.
    let deposit = || ratio.deposit();
    let mut group = c.benchmark_group("budget_deposit_only");
    group.bench_function("steadfast_ratio_one_thread", |b| b.iter(deposit));
    group.bench_function("steadfast_ratio_two_threads", |b| {
        b.iter_custom(|n| two_threads(n, &deposit))
    });
    group.finish();
    let mut group = c.benchmark_group("budget_deposit_withdraw_two_threads");
    for (name, withdraw) in withdrawals {
        group.bench_function(name, |b| b.iter_custom(|n| two_threads(n, withdraw)));
    }
    group.finish();
}

/// Fails until attempt `failures + 1`, synchronously.
fn blocking_operation(attempt: u32, failures: u32) -> Result<u32, Failure> {
    if black_box(attempt) <= failures {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(attempt)
    }
}

/// Synchronous code: `retry_blocking(op).call()` against backon's blocking retry.
fn blocking_paths(c: &mut Criterion) {
    for (group, failures) in [
        ("retry_blocking_first_try_succeeds", 0),
        ("retry_blocking_three_failures_zero_delay", 3),
    ] {
        let mut group = c.benchmark_group(group);
        group.bench_function("direct", |b| {
            b.iter(|| {
                let mut attempt = 1;
                loop {
                    match blocking_operation(attempt, failures) {
                        Err(_) if attempt < 5 => attempt += 1,
                        outcome => break black_box(outcome),
                    }
                }
            })
        });
        group.bench_function("steadfast", |b| {
            b.iter(|| {
                black_box(
                    retry_blocking(|a| blocking_operation(a.number(), failures))
                        .with(immediate())
                        .call(),
                )
            })
        });
        group.bench_function("backon", |b| {
            b.iter(|| {
                let mut attempt = 0;
                black_box(
                    (|| {
                        attempt += 1;
                        blocking_operation(attempt, failures)
                    })
                    .retry(backon_immediate())
                    .sleep(std::thread::sleep)
                    .call(),
                )
            })
        });
        group.finish();
    }
}

/// tower's hedge policy: every request may be hedged.
#[derive(Clone)]
struct HedgeAll;

impl tower::hedge::Policy<u32> for HedgeAll {
    fn clone_request(&self, request: &u32) -> Option<u32> {
        Some(*request)
    }

    fn can_retry(&self, _: &u32) -> bool {
        true
    }
}

/// Answers at its second poll, waking itself: a copy in flight long enough for a
/// zero-delay hedge to start another.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = Result<u32, Failure>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0 {
            return Poll::Ready(Ok(1));
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn hedges(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("hedge_answer_before_delay");
    group.bench_function("direct", |b| {
        b.iter_custom(|n| awaited(&rt, n, || operation(1, 0)))
    });
    group.bench_function("steadfast", |b| {
        b.iter_custom(|n| {
            awaited(&rt, n, || {
                hedge(|a| operation(a.number(), 0)).after(Duration::from_millis(10))
            })
        })
    });
    let latencies = Latencies::default();
    group.bench_function("steadfast_adaptive", |b| {
        b.iter_custom(|n| {
            awaited(&rt, n, || {
                hedge(|a| operation(a.number(), 0)).after_percentile(&latencies)
            })
        })
    });
    group.bench_function("tower_hedge", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                // A 10 ms hedge delay read from a histogram given one latency.
                let mut service = tower::hedge::Hedge::new_with_mock_latencies(
                    tower::service_fn(|request: u32| operation(request, 0)),
                    HedgeAll,
                    1,
                    0.95,
                    Duration::from_secs(10),
                    &[10],
                );
                let start = Instant::now();
                for _ in 0..n {
                    if let Ok(ready) = service.ready().await {
                        black_box(ready.call(1).await.ok());
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("hedge_one_copy_started");
    group.bench_function("direct", |b| {
        b.iter_custom(|n| awaited(&rt, n, || PendingOnce(false)))
    });
    group.bench_function("steadfast", |b| {
        b.iter_custom(|n| {
            awaited(&rt, n, || {
                hedge(|_| PendingOnce(false)).after(Duration::ZERO)
            })
        })
    });
    group.finish();
}

fn throttles(c: &mut Criterion) {
    let healthy = AdaptiveThrottle::builder()
        .clock(FixedClock::new())
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let admit = || {
        if healthy.try_admit().is_ok() {
            healthy.record(CallOutcome::Success);
        }
    };
    let mut group = c.benchmark_group("throttle_admit_and_record");
    group.bench_function("one_thread", |b| b.iter(admit));
    group.bench_function("two_threads", |b| b.iter_custom(|n| two_threads(n, &admit)));
    group.finish();

    // A dependency refusing everything: the window holds failures, so each admission
    // reads it and draws.
    let refusing = AdaptiveThrottle::builder()
        .clock(FixedClock::new())
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    for _ in 0..1_000 {
        refusing.record(CallOutcome::Failure);
    }
    let mut group = c.benchmark_group("throttle_admission_while_rejecting");
    group.bench_function("one_thread", |b| {
        b.iter(|| black_box(refusing.try_admit().is_ok()))
    });
    group.finish();
}

fn print_future_sizes() {
    let sizes = [
        ("steadfast", std::mem::size_of_val(&steadfast_call(0))),
        (
            "steadfast, default policy, ready op",
            std::mem::size_of_val(
                &retry(|_| std::future::ready(Ok::<u32, Failure>(1))).with(Policy::default()),
            ),
        ),
        ("backon", std::mem::size_of_val(&backon_call(0))),
        ("tokio_retry2", std::mem::size_of_val(&tokio_retry2_call(0))),
        ("tower_retry", std::mem::size_of_val(&tower_call(0))),
        (
            "steadfast hedge",
            std::mem::size_of_val(&hedge(|a| operation(a.number(), 0))),
        ),
    ];
    println!("retry future sizes (bytes, the same operation and a zero-delay policy):");
    for (name, size) in sizes {
        println!("  {name:<40}{size:>6}");
    }
    println!();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = retry_paths, blocking_paths, clock_reads, breakers, budgets, hedges, throttles
}

fn main() {
    print_future_sizes();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
