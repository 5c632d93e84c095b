//! Adaptive client-side throttling: a client that sheds its own requests while the
//! service it calls is rejecting them.
//!
//! A retry budget bounds retries, but every first attempt still goes out: during an
//! overload, a fleet of clients keeps offering the full load to a service that can
//! serve only part of it, and the service spends its capacity refusing work. The
//! client-side throttling of Google's SRE book ("Handling Overload") closes that gap.
//! Each client keeps, over a rolling window, the requests it made and those the
//! service accepted, and rejects a new request locally, before it is sent, with
//! probability
//!
//! ```text
//! max(0, (requests - K × accepts) / (requests + padding))
//! ```
//!
//! While the service accepts more than one request in `K`, nothing is rejected. When
//! it accepts fewer, the client sends about `K` requests per accepted one, so the load
//! it offers follows what the service can take; as accepts return, the probability
//! falls back to zero. Local rejections count as requests. The probability is capped
//! (at 0.9 by default), so a client always sends some requests and finds out within a
//! few windows that the service is back.
//!
//! Counting: a request counts when its outcome is known (answered, failed, or rejected
//! here), not when it is sent, so a burst of requests in flight at start-up is never
//! mistaken for failures. An accepted request only adds to the calling thread's own
//! counter (no clock, no shared write); the window is read and its probability
//! computed only while it holds a failure, so a healthy dependency costs one atomic
//! load per admission.

use std::fmt;
use std::time::{Duration, Instant};

use chacha20::rand_core::Rng as _;

use crate::breaker::CallOutcome;
use crate::clock::{Clock, DefaultClock};
use crate::error::ConfigError;
use crate::rng::JitterRng;
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::window::{Ledger, TimeSlots, Undated};

/// Adaptive client-side throttling, shared by every call to one dependency.
///
/// Ask [`try_admit`](Self::try_admit) before each request and tell
/// [`record`](Self::record) how it went; or give the throttle to a call with
/// [`Retry::throttle`](crate::Retry::throttle), which does both for every attempt.
/// Unlike a [`RetryBudget`](crate::RetryBudget), it gates first attempts too, so it can
/// bring the load a fleet offers under a struggling service's capacity. A local
/// rejection is not a failure of the dependency: no breaker hears of it.
///
/// Cloning it is cheap and every clone shares one window.
///
/// # Default
///
/// `K` = 2 (the SRE book's choice: up to twice as many requests as the service
/// accepts), padding 1 (the book's), a maximum rejection probability of 0.9, a window
/// of 2 s, the default clock, and a random seed for the rejection draws.
///
/// The window is much shorter than the book's two minutes, on the evidence of the
/// storm example: the throttle starts rejecting only once the window's failures
/// outnumber its accepts, so a long window full of healthy history lets an outage
/// build a backlog at the service first (with a 10 s window, the storm's service never
/// recovered in the run; with 2 s, it recovered 10 s after the outage). A client with
/// little traffic may want a longer window, or more padding, for steadier estimates.
///
/// The cap on the probability is this crate's addition to the formula: a client that
/// rejects everything learns that the dependency is back only from the trickle the
/// padding lets through, so it would take many windows to recover; with a tenth of the
/// requests always sent, it takes a few.
///
/// ```
/// use steadfast::{AdaptiveThrottle, CallOutcome};
///
/// let throttle = AdaptiveThrottle::builder().seed(7).build()?;
/// // A healthy dependency: nothing is ever rejected.
/// for _ in 0..100 {
///     assert!(throttle.try_admit().is_ok());
///     throttle.record(CallOutcome::Success);
/// }
/// // It starts failing: after enough failures, the client sheds load itself.
/// let mut rejected = 0;
/// for _ in 0..1_000 {
///     match throttle.try_admit() {
///         Ok(()) => throttle.record(CallOutcome::Failure),
///         Err(_) => rejected += 1,
///     }
/// }
/// assert!(rejected > 500, "{rejected}");
/// assert!(throttle.snapshot().rejection_probability > 0.8);
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct AdaptiveThrottle {
    inner: Arc<Inner>,
}

struct Inner {
    accept_ratio: f64,
    padding: f64,
    max_probability: f64,
    clock: Box<dyn Clock + Send + Sync>,
    origin: Instant,
    slots: TimeSlots,
    /// Requests the dependency accepted, dated from `undated` when read.
    accepts: Ledger,
    /// Requests that did not succeed: failures of the dependency and local rejections.
    refusals: Ledger,
    undated: Undated,
    /// The state of the rejection draws: one step per draw, shared, so a seeded
    /// throttle used from one thread draws the same sequence every run.
    draws: AtomicU64,
    rejected: AtomicU64,
}

/// A request the throttle rejected before it was sent.
///
/// ```
/// use steadfast::{AdaptiveThrottle, CallOutcome};
///
/// let throttle = AdaptiveThrottle::builder().seed(1).build()?;
/// for _ in 0..100 {
///     if let Ok(()) = throttle.try_admit() {
///         throttle.record(CallOutcome::Failure);
///     }
/// }
/// let rejection = (0..100).find_map(|_| throttle.try_admit().err()).expect("some rejected");
/// assert!(rejection.probability() > 0.5);
/// assert!(rejection.to_string().starts_with("rejected locally by the adaptive throttle"));
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalRejection {
    probability: f64,
}

impl LocalRejection {
    /// The probability of rejection at the moment this request was rejected.
    ///
    /// ```
    /// # use steadfast::{AdaptiveThrottle, CallOutcome};
    /// # let throttle = AdaptiveThrottle::builder().seed(1).build()?;
    /// # for _ in 0..100 { if throttle.try_admit().is_ok() { throttle.record(CallOutcome::Failure); } }
    /// if let Some(rejection) = (0..100).find_map(|_| throttle.try_admit().err()) {
    ///     assert!((0.0..=1.0).contains(&rejection.probability()));
    /// }
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn probability(&self) -> f64 {
        self.probability
    }
}

impl fmt::Display for LocalRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rejected locally by the adaptive throttle (rejecting {:.0}% of requests)",
            self.probability * 100.0
        )
    }
}

impl std::error::Error for LocalRejection {}

/// The state of an [`AdaptiveThrottle`]'s window at one moment.
///
/// ```
/// let snapshot = steadfast::AdaptiveThrottle::default().snapshot();
/// assert_eq!((snapshot.requests, snapshot.accepts, snapshot.rejected), (0, 0, 0));
/// assert_eq!(snapshot.rejection_probability, 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ThrottleSnapshot {
    /// Requests in the window: accepted, failed, or rejected locally.
    pub requests: u64,
    /// Requests in the window that the dependency accepted.
    pub accepts: u64,
    /// The probability that the next request is rejected locally.
    pub rejection_probability: f64,
    /// Requests rejected locally since the throttle was built.
    pub rejected: u64,
}

impl AdaptiveThrottle {
    /// Settings for a throttle, starting from the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// let throttle = steadfast::AdaptiveThrottle::builder()
    ///     .accept_ratio(1.5)
    ///     .window(Duration::from_secs(60))
    ///     .build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn builder() -> ThrottleBuilder {
        ThrottleBuilder {
            accept_ratio: 2.0,
            padding: 1.0,
            max_probability: DEFAULT_MAX_PROBABILITY,
            window: DEFAULT_WINDOW,
            clock: None,
            seed: None,
        }
    }

    /// Admits a request, or rejects it locally with the window's probability of
    /// rejection. A rejection is counted as a request at once; an admitted request
    /// counts when its outcome is given to [`record`](Self::record).
    ///
    /// With no failure in the window this is one atomic load: requests then equal
    /// accepts, and the probability is zero.
    ///
    /// # Errors
    ///
    /// [`LocalRejection`] when the request must not be sent.
    ///
    /// ```
    /// let throttle = steadfast::AdaptiveThrottle::default();
    /// assert!(throttle.try_admit().is_ok());
    /// ```
    #[inline]
    pub fn try_admit(&self) -> Result<(), LocalRejection> {
        // Requests equal accepts until something fails, so nothing is rejected.
        if self.inner.refusals.total() == 0 {
            return Ok(());
        }
        self.admit_with_failures()
    }

    #[cold]
    #[inline(never)]
    fn admit_with_failures(&self) -> Result<(), LocalRejection> {
        let inner = &*self.inner;
        let generation = inner.generation(inner.now());
        let probability = inner.probability();
        if probability <= 0.0 || inner.draw() >= probability {
            return Ok(());
        }
        inner.refuse(generation);
        inner.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            probability,
            "request rejected locally by the adaptive throttle"
        );
        Err(LocalRejection { probability })
    }

    /// Records the outcome of an admitted request: [`CallOutcome::Success`] if the
    /// dependency accepted it (an answer, even a permanent error such as a 404, is an
    /// accept), [`CallOutcome::Failure`] if it failed or timed out.
    ///
    /// ```
    /// use steadfast::{AdaptiveThrottle, CallOutcome};
    /// let throttle = AdaptiveThrottle::default();
    /// throttle.record(CallOutcome::Success);
    /// throttle.record(CallOutcome::Failure);
    /// let snapshot = throttle.snapshot();
    /// assert_eq!((snapshot.requests, snapshot.accepts), (2, 1));
    /// ```
    #[inline]
    pub fn record(&self, outcome: CallOutcome) {
        match outcome {
            CallOutcome::Success => self.inner.undated.add(),
            CallOutcome::Failure => {
                let inner = &*self.inner;
                let generation = inner
                    .slots
                    .advance(inner.now(), [&inner.accepts, &inner.refusals]);
                inner.refuse(generation);
            }
        }
    }

    /// The window's counts and the probability of rejection now.
    ///
    /// ```
    /// let throttle = steadfast::AdaptiveThrottle::default();
    /// assert_eq!(throttle.snapshot().rejection_probability, 0.0);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> ThrottleSnapshot {
        let inner = &*self.inner;
        let _ = inner.generation(inner.now());
        let (requests, accepts) = inner.counts();
        ThrottleSnapshot {
            requests,
            accepts,
            rejection_probability: inner.probability(),
            rejected: inner.rejected.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn now(&self) -> u64 {
        crate::clock::nanos_since(&*self.clock, self.origin)
    }

    /// The generation of `now`, with expired counts swept out and the accepts counted
    /// since the last reading dated.
    fn generation(&self, now: u64) -> u64 {
        self.undated
            .advance_and_date(now, &self.slots, [&self.accepts, &self.refusals])
    }

    /// Counts one request that did not succeed, in the slot of `generation`.
    fn refuse(&self, generation: u64) {
        self.refusals.add_to_total(1);
        // A slot that cannot hold one more (after 4 billion) keeps it in the total for
        // good: that errs towards rejecting more, never towards sending more.
        let _ = self.refusals.record(generation, 1);
    }

    /// Requests and accepts in the window (as last dated).
    fn counts(&self) -> (u64, u64) {
        let accepts = self.accepts.total();
        (accepts.saturating_add(self.refusals.total()), accepts)
    }

    /// The SRE book's probability of rejection for the window's counts.
    fn probability(&self) -> f64 {
        let (requests, accepts) = self.counts();
        rejection_probability(requests, accepts, self.accept_ratio, self.padding)
            .min(self.max_probability)
    }

    /// A uniform draw in `[0, 1)`.
    fn draw(&self) -> f64 {
        let state = self.draws.fetch_add(1, Ordering::Relaxed);
        let bits = JitterRng::seeded(state).next_u64() >> 11;
        bits as f64 / (1_u64 << 53) as f64
    }
}

/// `max(0, (requests - K × accepts) / (requests + padding))`, at most 1.
pub(crate) fn rejection_probability(requests: u64, accepts: u64, k: f64, padding: f64) -> f64 {
    let requests = requests as f64;
    let excess = requests - k * accepts as f64;
    if excess <= 0.0 {
        return 0.0;
    }
    (excess / (requests + padding)).min(1.0)
}

/// The default [`ThrottleBuilder::max_rejection_probability`].
const DEFAULT_MAX_PROBABILITY: f64 = 0.9;
/// The default [`ThrottleBuilder::window`].
const DEFAULT_WINDOW: Duration = Duration::from_secs(2);

impl Default for AdaptiveThrottle {
    /// The defaults listed under [`AdaptiveThrottle`].
    fn default() -> Self {
        let clock: Box<dyn Clock + Send + Sync> = Box::new(DefaultClock::default());
        Self::from_parts(
            (2.0, 1.0, DEFAULT_MAX_PROBABILITY),
            DEFAULT_WINDOW,
            clock,
            random_seed(),
        )
    }
}

fn random_seed() -> u64 {
    rand::rng().next_u64()
}

impl AdaptiveThrottle {
    fn from_parts(
        (accept_ratio, padding, max_probability): (f64, f64, f64),
        window: Duration,
        clock: Box<dyn Clock + Send + Sync>,
        seed: u64,
    ) -> Self {
        let origin = clock.now();
        Self {
            inner: Arc::new(Inner {
                accept_ratio,
                padding,
                max_probability,
                clock,
                origin,
                slots: TimeSlots::new(crate::clock::nanos(window)),
                accepts: Ledger::new(),
                refusals: Ledger::new(),
                undated: Undated::default(),
                draws: AtomicU64::new(seed),
                rejected: AtomicU64::new(0),
            }),
        }
    }
}

impl fmt::Debug for AdaptiveThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveThrottle")
            .field("accept_ratio", &self.inner.accept_ratio)
            .field("padding", &self.inner.padding)
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}

/// Settings for an [`AdaptiveThrottle`], checked by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// let throttle = steadfast::AdaptiveThrottle::builder()
///     .accept_ratio(2.0)
///     .padding(8.0)
///     .window(Duration::from_secs(30))
///     .clock(steadfast::StdClock)
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThrottleBuilder {
    accept_ratio: f64,
    padding: f64,
    max_probability: f64,
    window: Duration,
    clock: Option<Box<dyn Clock + Send + Sync>>,
    seed: Option<u64>,
}

impl ThrottleBuilder {
    /// `K`: how many requests a client may send per request the dependency accepts
    /// before it starts rejecting locally. Lower is more aggressive (1.1 rejects as
    /// soon as one request in eleven fails); higher lets more doomed requests through
    /// but adapts faster when the dependency recovers. Default: 2.
    ///
    /// ```
    /// let builder = steadfast::AdaptiveThrottle::builder().accept_ratio(1.5);
    /// ```
    pub fn accept_ratio(mut self, k: f64) -> Self {
        self.accept_ratio = k;
        self
    }

    /// Added to the request count below the fraction, so a client that has made only
    /// a few requests rejects few of them. Default: 1, as in the SRE book.
    ///
    /// ```
    /// let builder = steadfast::AdaptiveThrottle::builder().padding(8.0);
    /// ```
    pub fn padding(mut self, padding: f64) -> Self {
        self.padding = padding;
        self
    }

    /// The highest probability of rejection: however badly the dependency fails, this
    /// share of requests is still sent, so the client learns within seconds that it
    /// is back. Default: 0.9.
    ///
    /// ```
    /// let builder = steadfast::AdaptiveThrottle::builder().max_rejection_probability(0.8);
    /// ```
    pub fn max_rejection_probability(mut self, probability: f64) -> Self {
        self.max_probability = probability;
        self
    }

    /// How long requests and accepts are remembered (expiry is exact to a tenth of
    /// it). Default: 2 s (see [`AdaptiveThrottle`] for why).
    ///
    /// ```
    /// let builder = steadfast::AdaptiveThrottle::builder().window(std::time::Duration::from_secs(120));
    /// ```
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Reads the time from `clock`. Default: [`DefaultClock`].
    ///
    /// ```
    /// let builder = steadfast::AdaptiveThrottle::builder().clock(steadfast::StdClock);
    /// ```
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Fixes the sequence of rejection draws, for tests. Default: a random seed.
    ///
    /// ```
    /// let builder = steadfast::AdaptiveThrottle::builder().seed(42);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the settings and builds the throttle.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] unless `K` is between 1 and 10^6 (below 1 it would
    /// reject requests that all succeed), the padding between 0 and 10^9, and the
    /// window between 10 ms and one day (NaN is never in range).
    ///
    /// ```
    /// use steadfast::AdaptiveThrottle;
    /// assert!(AdaptiveThrottle::builder().accept_ratio(0.5).build().is_err());
    /// assert!(AdaptiveThrottle::builder().padding(f64::NAN).build().is_err());
    /// ```
    pub fn build(self) -> Result<AdaptiveThrottle, ConfigError> {
        ConfigError::check_range(
            "accept ratio",
            self.accept_ratio,
            (1.0, 1e6),
            "between 1 and 1e6",
        )?;
        ConfigError::check_range("padding", self.padding, (0.0, 1e9), "between 0 and 1e9")?;
        ConfigError::check_range(
            "maximum rejection probability",
            self.max_probability,
            (0.0, 1.0),
            "between 0 and 1",
        )?;
        ConfigError::check_range(
            "window in seconds",
            self.window.as_secs_f64(),
            (0.01, 86_400.0),
            "between 0.01 and 86400 (a day)",
        )?;
        let clock = self
            .clock
            .unwrap_or_else(|| Box::new(DefaultClock::default()));
        let seed = self.seed.unwrap_or_else(random_seed);
        Ok(AdaptiveThrottle::from_parts(
            (self.accept_ratio, self.padding, self.max_probability),
            self.window,
            clock,
            seed,
        ))
    }
}

impl fmt::Debug for ThrottleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleBuilder")
            .field("accept_ratio", &self.accept_ratio)
            .field("padding", &self.padding)
            .field("window", &self.window)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probability_is_the_sre_books() {
        assert_eq!(rejection_probability(0, 0, 2.0, 1.0), 0.0);
        assert_eq!(rejection_probability(100, 50, 2.0, 1.0), 0.0);
        assert_eq!(rejection_probability(100, 100, 1.0, 1.0), 0.0);
        assert_eq!(rejection_probability(99, 0, 2.0, 1.0), 0.99);
        assert_eq!(rejection_probability(100, 25, 2.0, 0.0), 0.5);
        assert_eq!(rejection_probability(u64::MAX, 0, 2.0, 1.0), 1.0);
    }
}
