//! Helpers shared by the benchmarks.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Runs `work` `iterations` times, half on each of two threads, and returns the wall
/// time: per iteration, the inverse of their aggregate throughput.
pub fn two_threads(iterations: u64, work: &(dyn Fn() + Sync)) -> Duration {
    let per_thread = iterations.div_ceil(2);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    work();
                }
            });
        }
    });
    start.elapsed()
}

/// Polls a future that never waits on anything external to completion.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// A clock that always reads the same instant: the shared breaker's and budget's own
/// costs, without the platform's clock read (which `clock_read` measures apart).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(Instant);

impl FixedClock {
    pub fn new() -> Self {
        Self(Instant::now())
    }
}

impl steadfast::Clock for FixedClock {
    fn now(&self) -> Instant {
        self.0
    }
}
