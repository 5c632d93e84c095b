//! A call allocates nothing: counted by a global allocator, on the first-try path and on
//! a path with retries and sleeps.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::IntoFuture;
use std::time::Duration;

use steadfast::{Decision, Exponential, Jitter, Policy, StdClock, retry, retry_with};
use support::{Instant0, block_on, constant};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the counter is a const-initialised
// thread-local `Cell`, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (result, ALLOCATIONS.with(Cell::get) - before)
}

async fn flaky(attempt: u32, failures: u32) -> Result<u32, std::io::Error> {
    if attempt <= failures {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(attempt)
    }
}

#[test]
fn a_call_allocates_nothing() {
    // The thread's secure generator is set up on first use, once per thread.
    let _ = steadfast::IdempotencyKey::generate();

    let (result, count) = allocations_during(|| {
        block_on(
            retry(|a| flaky(a.number(), 0))
                .sleeper(Instant0)
                .clock(StdClock)
                .into_future(),
        )
    });
    assert_eq!(result.unwrap(), 1);
    assert_eq!(count, 0, "first try succeeds");

    let (result, count) = allocations_during(|| {
        block_on(
            retry(|a| flaky(a.number(), 3))
                .with(constant(Duration::ZERO, 5))
                .sleeper(Instant0)
                .clock(StdClock)
                .into_future(),
        )
    });
    assert_eq!(result.unwrap(), 4);
    assert_eq!(count, 0, "three failures, zero delay, then success");

    let policy = Policy::builder(Exponential::new(Duration::from_millis(10)))
        .jitter(Jitter::full())
        .max_attempts(5)
        .attempt_timeout(Duration::from_secs(1))
        .max_elapsed(Duration::from_secs(30))
        .build()
        .unwrap();
    let (result, count) = allocations_during(|| {
        block_on(
            retry(|a| flaky(a.number(), 3))
                .with(policy)
                .classify(|_: &std::io::Error| Decision::Retry)
                .on_retry(|event| assert!(event.attempt <= 3))
                .sleeper(Instant0)
                .clock(StdClock)
                .into_future(),
        )
    });
    assert_eq!(result.unwrap(), 4);
    assert_eq!(
        count, 0,
        "sleeps, timeouts, a deadline, jitter, a hook and a classifier"
    );

    let (result, count) = allocations_during(|| {
        block_on(
            retry(|a| flaky(a.number(), 9))
                .with(constant(Duration::ZERO, 3))
                .sleeper(Instant0)
                .clock(StdClock)
                .into_future(),
        )
    });
    assert_eq!(result.unwrap_err().attempts(), 3);
    assert_eq!(
        count, 0,
        "failing for good builds the error without allocating"
    );

    let budget = steadfast::RetryBudget::ratio(0.5)
        .clock(StdClock)
        .build()
        .unwrap();
    let breaker = steadfast::CircuitBreaker::builder()
        .time_window(Duration::from_secs(10), 0.5, 10)
        .clock(StdClock)
        .build()
        .unwrap();
    let (result, count) = allocations_during(|| {
        block_on(
            retry(|a| flaky(a.number(), 3))
                .with(constant(Duration::from_millis(1), 5))
                .budget(&budget)
                .breaker(&breaker)
                .sleeper(Instant0)
                .clock(StdClock)
                .into_future(),
        )
    });
    assert_eq!(result.unwrap(), 4);
    assert_eq!(count, 0, "a shared budget and breaker");
    assert_eq!(budget.snapshot().granted, 3);
    assert_eq!(breaker.snapshot().recent_calls, 4);

    let mut state = 0_u32;
    let (result, count) = allocations_during(|| {
        block_on(
            retry_with(&mut state, |s, a| {
                *s += 1;
                async move { (s, flaky(a.number(), 2).await) }
            })
            .with(constant(Duration::from_millis(1), 5))
            .sleeper(Instant0)
            .clock(StdClock)
            .into_future(),
        )
    });
    assert_eq!(result.unwrap(), 3);
    assert_eq!(count, 0, "threaded state");
    assert_eq!(state, 3);
}

/// Answers `value` at its second poll: pending once, so a hedge can start meanwhile.
struct AfterOnePoll(Option<u32>, bool);

impl std::future::Future for AfterOnePoll {
    type Output = Result<u32, std::io::Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if !self.1 {
            self.1 = true;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(Ok(self.0.take().unwrap_or_default()))
    }
}

#[test]
fn a_hedged_call_allocates_nothing() {
    let _ = steadfast::IdempotencyKey::generate();
    let budget = steadfast::RetryBudget::ratio(0.5)
        .min_per_second(100.0)
        .clock(StdClock)
        .build()
        .unwrap();
    let breaker = steadfast::CircuitBreaker::builder()
        .clock(StdClock)
        .build()
        .unwrap();
    let latencies = steadfast::Latencies::builder()
        .clock(StdClock)
        .build()
        .unwrap();
    let (result, count) = allocations_during(|| {
        block_on(
            steadfast::hedge(|a| AfterOnePoll(Some(a.number()), false))
                .max_copies(3)
                .budget(&budget)
                .breaker(&breaker)
                .after_percentile(&latencies)
                .sleeper(Instant0),
        )
    });
    // The timer fires at once, so a second copy starts while the first is pending;
    // the first answers at its second poll and wins, and the second is dropped.
    assert_eq!(result.unwrap(), 1);
    assert_eq!(
        count, 0,
        "two copies, a budget, a breaker and a latency sketch"
    );
    assert_eq!(budget.snapshot().granted, 1);
}

#[tokio::test(start_paused = true)]
async fn counting_works() {
    let (v, count) = allocations_during(|| vec![1_u8; 16]);
    assert_eq!(v.len(), 16);
    assert_eq!(count, 1, "the allocator sees allocations on this thread");
}

#[cfg(feature = "tower")]
#[test]
fn a_call_through_the_tower_layer_allocates_nothing() {
    use std::task::{Context, Poll};
    use tower_layer::Layer;
    use tower_service::Service;

    /// Fails the first two requests of every three.
    #[derive(Clone)]
    struct Flaky(std::rc::Rc<std::cell::Cell<u32>>);

    #[derive(Clone)]
    struct Get(u32);

    impl steadfast::RetryRequest for Get {}

    impl Service<Get> for Flaky {
        type Response = u32;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<u32, std::io::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, Get(request): Get) -> Self::Future {
            let n = self.0.get() + 1;
            self.0.set(n);
            std::future::ready(if n % 3 == 0 {
                Ok(request)
            } else {
                Err(std::io::ErrorKind::ConnectionReset.into())
            })
        }
    }

    let _ = steadfast::IdempotencyKey::generate();
    let budget = steadfast::RetryBudget::ratio(0.5)
        .clock(StdClock)
        .build()
        .unwrap();
    let mut service = steadfast::RetryLayer::new()
        .with(constant(Duration::from_millis(1), 5))
        .budget(&budget)
        .sleeper(Instant0)
        .clock(StdClock)
        .layer(Flaky(std::rc::Rc::default()));
    let (result, count) = allocations_during(|| block_on(service.call(Get(7))));
    assert_eq!(result.unwrap(), 7);
    assert_eq!(count, 0);
}
