//! Helpers shared by the integration tests.
#![allow(dead_code)]

mod cases;
#[allow(unused_imports)]
pub use cases::cases;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use steadfast::{Constant, Jitter, Policy, Sleeper, TokioSleeper};

/// A policy with a fixed delay, no jitter, and `attempts` attempts.
pub fn constant(delay: Duration, attempts: u32) -> Policy<Constant> {
    Policy::builder(Constant::new(delay))
        .jitter(Jitter::none())
        .max_attempts(attempts)
        .build()
        .unwrap()
}

/// tokio's timer, recording every delay it is asked for.
#[derive(Clone, Default)]
pub struct RecordingSleeper {
    pub delays: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    pub fn delays(&self) -> Vec<Duration> {
        self.delays.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    type Sleep = tokio::time::Sleep;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        self.delays.lock().unwrap().push(delay);
        TokioSleeper.sleep(delay)
    }
}

/// A sleeper whose timers are ready at once, for tests without a runtime.
#[derive(Clone, Copy, Default)]
pub struct Instant0;

impl Sleeper for Instant0 {
    type Sleep = std::future::Ready<()>;

    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::ready(())
    }
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

/// The time since `start` under tokio's clock.
pub fn since(start: tokio::time::Instant) -> Duration {
    tokio::time::Instant::now() - start
}

/// A clock that moves only when told to, shareable across threads.
#[derive(Clone)]
pub struct ManualClock {
    base: std::time::Instant,
    offset_nanos: Arc<std::sync::atomic::AtomicU64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            base: std::time::Instant::now(),
            offset_nanos: Arc::default(),
        }
    }

    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap();
        self.offset_nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn nanos(&self) -> u64 {
        self.offset_nanos.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl steadfast::Clock for ManualClock {
    fn now(&self) -> std::time::Instant {
        self.base + Duration::from_nanos(self.nanos())
    }
}

/// A sleeper that records each delay and returns at once, cloneable.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Duration>>>);

impl Recorder {
    pub fn delays(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

impl Sleeper for Recorder {
    type Sleep = std::future::Ready<()>;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        self.0.lock().unwrap().push(delay);
        std::future::ready(())
    }
}

/// Polls `future` once, in the caller's task, and says whether it finished.
pub async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx))).await
}

/// Asserts that `value`'s `Debug` output holds every one of `parts`.
pub fn assert_debug_shows(value: &impl std::fmt::Debug, parts: &[&str]) {
    let shown = format!("{value:?}");
    for part in parts {
        assert!(shown.contains(part), "{part} missing from {shown}");
    }
}
