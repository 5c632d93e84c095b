//! Safe retries for async Rust: a brief outage absorbed invisibly, a long one never
//! turned into a retry storm.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::{retry, Exponential, IoErrors, Policy};
//!
//! # async fn connect(_: &str) -> std::io::Result<()> { Ok(()) }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::builder(Exponential::new(Duration::from_millis(100)))
//!     .max_attempts(4)
//!     .max_elapsed(Duration::from_secs(5))
//!     .build()?;
//!
//! retry(|_attempt| connect("db.internal:5432"))
//!     .with(policy)
//!     .classify(IoErrors)
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Concepts
//!
//! **The call.** [`retry`] wraps an operation (a closure returning a future, called
//! once per attempt with an [`Attempt`] context) in a [`Retry`]: a builder to
//! configure the call, and the future that runs it, a hand-written state machine that
//! allocates nothing. Await it, spawn it, or select on it as it is. A call pays only
//! for what it uses: without a deadline it reads no clock until it first sleeps, it
//! draws no random number before a failure (its idempotency key is derived when
//! read), and without a budget or breaker it touches no shared memory.
//! [`retry_with`] threads `&mut` state through the attempts.
//!
//! **The policy.** A [`RetryPolicy`] decides whether to try again and after how long.
//! [`Policy`] combines a [`Backoff`] strategy ([`Constant`], [`Linear`],
//! [`Exponential`], [`Fibonacci`], [`Decorrelated`]) with [`Jitter`], a cap, an attempt
//! limit, a deadline that no sleep may cross, and a per-attempt timeout. Nothing
//! overflows or panics, whatever the settings; impossible settings are rejected by
//! [`PolicyBuilder::build`].
//!
//! **Classification.** A [`Classify`] judges each outcome, `Ok` or `Err`, as a
//! [`Decision`]: success, retry, retry after a server-given delay, or fail. A server's
//! delay raises the next wait but never beyond the policy's limit: a hint past it stops
//! the call at once, with [`StopReason::RetryAfterTooLong`] (or, when the rejected
//! outcome was an `Ok` value such as a 503 response, with that value), so the caller
//! can reschedule.
//!
//! **Budgets.** A [`RetryBudget`] is shared by every call to one dependency and bounds
//! their retries together, so that retries can never multiply the load on a failing
//! service: a lock-free token bucket, or a ratio of recent first attempts (as Finagle
//! and gRPC do it). [`Retry::budget`] puts a call under one, borrowing it: a first
//! attempt's deposit writes only its own thread's counter.
//!
//! **Breakers.** A [`CircuitBreaker`] is shared by every task that calls one
//! dependency: after enough failures it opens and rejects calls at once, then lets a
//! few probes through to find out whether the dependency is back. Closed-state
//! admission is two atomic loads and, with the default rules, a success writes only
//! the calling thread's own counter, so threads sharing a healthy breaker never
//! contend; probe permits are
//! guards that a cancelled call gives back. Use it alone ([`CircuitBreaker::call`]) or for every attempt of a call
//! ([`Retry::breaker`]).
//!
//! **Adaptive throttling.** An [`AdaptiveThrottle`] is the client-side throttling of
//! Google's SRE book: while a dependency refuses most requests, the client rejects
//! some of its own before they are sent, first attempts included, with a probability
//! that follows the dependency's accept rate over a rolling window. A healthy
//! dependency costs one atomic load per admission. Give it to a call with
//! [`Retry::throttle`]; a local rejection stops the call with
//! [`StopReason::ThrottledLocally`].
//!
//! **Hedging.** [`hedge`] starts another copy of an operation that has not answered
//! after a delay, fixed or read from recent [`Latencies`], and keeps the first
//! acceptable answer, dropping the others: it cuts tail latency for a few percent more
//! requests. Copies share the call's idempotency key, spend from its budget and pass
//! its breaker; up to [`MAX_IN_FLIGHT`] run inside the call, which allocates nothing.
//!
//! **Per key.** A [`Keyed`] registry holds a breaker or a budget per host (or region, or
//! tenant), made on first use and found without a lock; the tower layer and the
//! reqwest middleware use one per host on request.
//!
//! **Idempotency.** Each call has one [`IdempotencyKey`], the same for all its attempts.
//! Declare an operation that is not safe to repeat with [`Retry::idempotency`]: it is
//! then retried only after failures that happened before anything was sent, unless it
//! carries its key.
//!
//! **Errors.** A failed call returns [`RetryError`]: your own last error, unchanged,
//! with why retrying stopped and how many attempts ran. It is a `std::error::Error`
//! for any error that can be printed, so it goes through `?` into `anyhow`, `eyre` or a
//! boxed error. [`Retry::report`] also says why a call stopped on a value the
//! classifier rejected.
//!
//! **Time and runtimes.** Timers come from a [`Sleeper`] and the time from a [`Clock`];
//! by default tokio's, so tests under tokio's paused time are exact and instant.
//! Outside a tokio runtime the default sleeper's timers run on a thread of their own; smol
//! and other executors have sleepers of their own (see [`DefaultSleeper`]), and
//! synchronous code retries with [`retry_blocking`].
//!
//! **Observability.** Each retry emits a `tracing` event at debug level (fields
//! `attempt`, `delay_ms`, `decision`, `failure`) in the caller's span, and calls the
//! [`on_retry`](Retry::on_retry) hook; giving up is a `warn` event. With the `metrics`
//! feature, `RetryMetrics` counts calls, attempts, retries and give-ups.
//!
//! **Configuration.** With the `serde` feature, policies (with a backoff chosen at run
//! time, [`AnyBackoff`]), breakers and budgets are read from configuration files: see
//! the `config` module.
//!
//! # Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `tokio` | yes | [`TokioSleeper`] and [`TokioClock`], the default timer and clock |
//! | `async-io` | no | `AsyncIoSleeper`, the timer of smol; the default sleeper without `tokio` |
//! | `futures-timer` | no | `FuturesTimerSleeper`, a timer for any executor |
//! | `http` | no | `HttpClassifier` (status codes, `Retry-After`), `parse_retry_after`, idempotent methods and the `Idempotency-Key` header |
//! | `tower` | no | `RetryLayer`: the same retries, breaker and budget for any tower `Service` with cloneable requests |
//! | `reqwest` | no | `HttpClassifier::reqwest()`: reqwest's responses and errors judged directly |
//! | `reqwest-middleware` | no | `RetryMiddleware` for reqwest-middleware clients, with a budget per host |
//! | `metrics` | no | `RetryMetrics`, and breakers and budgets that count transitions and denials, through the `metrics` facade |
//! | `serde` | no | `Deserialize` for policies, breakers and budgets (module `config`) |
//! | `anyhow`, `eyre` | no | a failed call's error chain continues through an `anyhow::Error` or `eyre::Report` |
//!
//! # Supported Rust versions
//!
//! Rust 1.85 and later (edition 2024).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::arithmetic_side_effects,
        clippy::panic
    )
)]

mod attempt;
mod backoff;
mod blocking;
mod breaker;
mod budget;
mod call;
mod call_id;
mod classify;
mod clock;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod config;
mod error;
mod finished;
mod hedge;
mod hook;
mod idempotency;
mod jitter;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
mod layer;
#[cfg(feature = "metrics")]
mod meter;
#[cfg(feature = "reqwest-middleware")]
mod middleware;
mod operation;
mod policy;
mod registry;
mod retry;
mod rng;
mod schedule;
mod sleep;
mod stripe;
mod sync;
mod throttle;
mod window;

pub use attempt::Attempt;
pub use backoff::{AnyBackoff, Backoff, Constant, Decorrelated, Exponential, Fibonacci, Linear};
pub use blocking::{Blocking, retry_blocking};
pub use breaker::{
    BreakerBuilder, BreakerError, BreakerSnapshot, BreakerState, CallOutcome, CircuitBreaker,
    Permit, Rejected, StateChange,
};
pub use budget::{BudgetSnapshot, RatioBuilder, RetryBudget, RetryCause, TokenBucketBuilder};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use classify::ReqwestErrors;
pub use classify::{Classify, Decision, IoErrors, RetryAnyError};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use classify::{ClassifyError, HttpClassifier, RetryAllTransportErrors, parse_retry_after};
#[cfg(feature = "tokio")]
pub use clock::TokioClock;
pub use clock::{Clock, DefaultClock, StdClock};
pub use error::{AttemptError, ConfigError, RetryError, StopReason};
pub use finished::Finished;
pub use hedge::{Hedge, Latencies, LatenciesBuilder, MAX_IN_FLIGHT, hedge};
pub use hook::{Failure, OnRetry, RetryEvent};
pub use idempotency::{EncodedKey, Idempotency, IdempotencyKey};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use idempotency::{IDEMPOTENCY_KEY, is_idempotent_method, request_idempotency};
pub use jitter::Jitter;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{RetryLayer, RetryRequest, RetryService, RetryServiceFuture};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use meter::RetryMetrics;
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub use middleware::RetryMiddleware;
pub use operation::{Operation, Stateful, Stateless};
pub use policy::{DEFAULT_MAX_RETRY_AFTER, Policy, PolicyBuilder, RetryPolicy};
pub use registry::Keyed;
pub use retry::{Report, Retry, retry, retry_with};
pub use rng::JitterRng;
#[cfg(feature = "futures-timer")]
pub use sleep::FuturesTimerSleeper;
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
#[cfg(feature = "async-io")]
pub use sleep::{AsyncIoSleep, AsyncIoSleeper};
pub use sleep::{DefaultSleeper, NoSleeper, NoSleeperChosen, Sleeper, ThreadSleep, ThreadSleeper};
pub use throttle::{AdaptiveThrottle, LocalRejection, ThrottleBuilder, ThrottleSnapshot};

// The README's code is compiled and run with the doc tests, so it never rots.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
