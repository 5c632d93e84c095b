//! Circuit breakers: stop calling a dependency that is down, and find out cheaply when
//! it is back.
//!
//! Retries absorb brief failures; a breaker handles long ones. While a dependency keeps
//! failing, every call to it costs a timeout and adds load to something already
//! struggling. A breaker watches the outcomes of all calls to one dependency and,
//! once they cross a threshold, **opens**: calls are rejected at once, without touching
//! the dependency, for a while. Then it turns **half-open** and lets a few probe calls
//! through: if they succeed it **closes** and traffic flows again; if one fails it
//! opens again, for longer if so configured.
//!
//! - **Closed**: calls flow; outcomes are counted. Admission is two atomic loads.
//! - **Open**: calls are rejected, each rejection saying when the next probe will be
//!   admitted.
//! - **Half-open**: at most N probes at a time; enough successes close the breaker, a
//!   failure reopens it. A probe that is dropped or cancelled gives its slot back.
//!
//! Only failures count: a call the classifier judged a permanent failure (a 404, a
//! validation error) shows that the dependency answered, so it counts as a success for
//! the breaker's purposes and never trips it.

mod config;
mod count_window;
mod state;
mod time_window;

pub use config::BreakerBuilder;

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::backoff::Backoff;
use crate::sync::{Arc, AtomicU64, Ordering};
use crate::{Classify, Clock, Decision, DefaultClock, Exponential, JitterRng};
use config::Settings;
use count_window::CountWindow;
use state::{Phase, Word};
use time_window::TimeWindow;

const NORMAL: u64 = 0;
const FORCED_OPEN: u64 = 1;
const DISABLED: u64 = 2;

/// A circuit breaker for one dependency, shared by every task that calls it.
///
/// Cloning it is cheap, and every clone is the same breaker. Use it alone with
/// [`call`](Self::call), or for every attempt of a retried call with
/// [`Retry::breaker`](crate::Retry::breaker).
///
/// ```
/// use std::time::Duration;
/// use steadfast::{BreakerState, CircuitBreaker};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), steadfast::ConfigError> {
/// let breaker = CircuitBreaker::builder().consecutive_failures(2).open_for(Duration::from_secs(10)).build()?;
///
/// for _ in 0..2 {
///     let _ = breaker.call(|| async { Err::<(), _>("connection refused") }).await;
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
///
/// // Rejected at once, without calling the dependency.
/// let rejected = breaker.call(|| async { Ok::<_, &str>(()) }).await.unwrap_err();
/// assert_eq!(rejected.rejection().unwrap().retry_in(), Some(Duration::from_secs(10)));
///
/// tokio::time::advance(Duration::from_secs(10)).await;
/// breaker.call(|| async { Ok::<_, &str>(()) }).await.unwrap(); // the probe succeeds
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    state: AtomicU64,
    /// When the current open state ends (nanoseconds on the breaker's clock), valid for
    /// the epoch in `open_epoch`: written just after the transition by its winner.
    open_until: AtomicU64,
    open_epoch: AtomicU64,
    mode: AtomicU64,
    consecutive_failures: AtomicU64,
    count_window: Option<CountWindow>,
    time_window: Option<TimeWindow>,
    /// Trips since the breaker last closed, which sets how long it stays open.
    trips: AtomicU64,
    rejections: AtomicU64,
    transitions: AtomicU64,
    clock: Box<dyn Clock + Send + Sync>,
    origin: Instant,
    hook: Option<StateHook>,
}

/// The hook told of every change of state.
type StateHook = Box<dyn Fn(&StateChange) + Send + Sync>;

/// The state of a breaker.
///
/// ```
/// use steadfast::{BreakerState, CircuitBreaker};
/// let breaker = CircuitBreaker::default();
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls flow and their outcomes are counted.
    Closed,
    /// Calls are rejected until the open duration ends.
    Open,
    /// A few probe calls are let through to test the dependency.
    HalfOpen,
    /// Opened by hand ([`CircuitBreaker::force_open`]): every call is rejected until
    /// [`reset`](CircuitBreaker::reset).
    ForcedOpen,
    /// Switched off by hand ([`CircuitBreaker::disable`]): every call is admitted and
    /// nothing is counted until [`reset`](CircuitBreaker::reset).
    Disabled,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
            Self::ForcedOpen => "forced open",
            Self::Disabled => "disabled",
        })
    }
}

/// A change of state, passed to the hook set with
/// [`BreakerBuilder::on_state_change`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use steadfast::{BreakerState, CircuitBreaker};
///
/// let changes = Arc::new(Mutex::new(Vec::new()));
/// let log = changes.clone();
/// let breaker = CircuitBreaker::builder()
///     .on_state_change(move |change| log.lock().unwrap().push((change.from, change.to)))
///     .build()?;
/// breaker.force_open();
/// assert_eq!(*changes.lock().unwrap(), [(BreakerState::Closed, BreakerState::ForcedOpen)]);
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
    /// For a change to [`BreakerState::Open`], how long it stays open.
    pub open_for: Option<Duration>,
}

/// Why a breaker refused a call, and when to come back.
///
/// ```
/// use steadfast::{BreakerState, CircuitBreaker};
/// let breaker = CircuitBreaker::default();
/// breaker.force_open();
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.state(), BreakerState::ForcedOpen);
/// assert_eq!(rejected.retry_in(), None);
/// assert_eq!(rejected.to_string(), "circuit breaker forced open: call rejected");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker {state}: call rejected")]
pub struct Rejected {
    state: BreakerState,
    retry_in: Option<Duration>,
}

impl Rejected {
    pub(crate) const fn new(state: BreakerState, retry_in: Option<Duration>) -> Self {
        Self { state, retry_in }
    }

    /// The breaker's state when it refused.
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::default();
    /// breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().state(), steadfast::BreakerState::ForcedOpen);
    /// ```
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// How long until the breaker admits its next probe, when that is known: the rest
    /// of the open duration. `None` when it depends on probes in flight (half-open) or
    /// on a person (forced open).
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::default();
    /// breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_in(), None);
    /// ```
    #[must_use]
    pub fn retry_in(&self) -> Option<Duration> {
        self.retry_in
    }
}

/// How a call went, as far as a breaker cares.
///
/// ```
/// use steadfast::{CallOutcome, CircuitBreaker};
/// let breaker = CircuitBreaker::default();
/// let permit = breaker.try_acquire()?;
/// breaker.record(permit, CallOutcome::Failure);
/// assert_eq!(breaker.snapshot().consecutive_failures, 1);
/// # Ok::<(), steadfast::Rejected>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The dependency answered: a success, or a failure that is not its fault.
    Success,
    /// The dependency failed: a transient error or a timeout.
    Failure,
}

impl CallOutcome {
    /// The outcome a [`Decision`] stands for: retryable decisions are failures.
    ///
    /// ```
    /// use steadfast::{CallOutcome, Decision};
    /// assert_eq!(CallOutcome::from_decision(Decision::Retry), CallOutcome::Failure);
    /// assert_eq!(CallOutcome::from_decision(Decision::Fail), CallOutcome::Success);
    /// ```
    #[must_use]
    pub fn from_decision(decision: Decision) -> Self {
        match decision {
            Decision::Retry | Decision::RetryUnsent | Decision::RetryAfter(_) => Self::Failure,
            Decision::Success | Decision::Fail | Decision::RetryIfKeyed => Self::Success,
        }
    }
}

/// Admission to call the dependency once. Hand it back with
/// [`CircuitBreaker::record`].
///
/// # Cancellation
///
/// Dropping a permit without recording gives back what it holds: a half-open probe
/// slot is freed, so a cancelled call can never leave the breaker stuck half-open.
///
/// ```
/// let breaker = steadfast::CircuitBreaker::default();
/// let permit = breaker.try_acquire()?;
/// assert!(!permit.is_probe());
/// drop(permit); // nothing is recorded
/// # Ok::<(), steadfast::Rejected>(())
/// ```
#[must_use = "a permit should be recorded with `CircuitBreaker::record`"]
pub struct Permit {
    kind: PermitKind,
    started: Option<u64>,
}

enum PermitKind {
    Closed { epoch: u32 },
    Probe { breaker: CircuitBreaker, epoch: u32 },
    Disabled,
    Spent,
}

impl Permit {
    /// Whether this call is a half-open probe.
    ///
    /// ```
    /// let permit = steadfast::CircuitBreaker::default().try_acquire()?;
    /// assert!(!permit.is_probe());
    /// # Ok::<(), steadfast::Rejected>(())
    /// ```
    #[must_use]
    pub fn is_probe(&self) -> bool {
        matches!(self.kind, PermitKind::Probe { .. })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let PermitKind::Probe { breaker, epoch } =
            std::mem::replace(&mut self.kind, PermitKind::Spent)
        {
            breaker.release_probe(epoch);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("probe", &self.is_probe())
            .finish_non_exhaustive()
    }
}

/// A breaker's counts at one moment.
///
/// ```
/// let snapshot = steadfast::CircuitBreaker::default().snapshot();
/// assert_eq!(snapshot.state, steadfast::BreakerState::Closed);
/// assert_eq!((snapshot.window_calls, snapshot.rejections), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The state.
    pub state: BreakerState,
    /// Failures in a row, while closed.
    pub consecutive_failures: u64,
    /// Calls in the failure-rate window (the last N calls).
    pub window_calls: u64,
    /// Failures among them.
    pub window_failures: u64,
    /// Calls in the time window.
    pub recent_calls: u64,
    /// Failures among them.
    pub recent_failures: u64,
    /// Probes in flight, while half-open.
    pub probes_in_flight: u32,
    /// Calls rejected since the breaker was built.
    pub rejections: u64,
    /// Changes of state since the breaker was built.
    pub transitions: u64,
    /// Trips since the breaker last closed.
    pub trips: u64,
}

/// The error of [`CircuitBreaker::call`]: the breaker refused, or the operation failed.
///
/// ```
/// use steadfast::{BreakerError, CircuitBreaker};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breaker = CircuitBreaker::default();
/// let err = breaker.call(|| async { Err::<(), _>(std::io::Error::other("boom")) }).await.unwrap_err();
/// assert!(matches!(err, BreakerError::Operation(_)));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker refused the call; the operation did not run.
    #[error(transparent)]
    Rejected(Rejected),
    /// The operation ran and returned this error.
    #[error(transparent)]
    Operation(E),
}

impl<E> BreakerError<E> {
    /// The rejection, if the breaker refused.
    ///
    /// ```
    /// let err: steadfast::BreakerError<()> = steadfast::BreakerError::Operation(());
    /// assert!(err.rejection().is_none());
    /// ```
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(rejected) => Some(rejected),
            Self::Operation(_) => None,
        }
    }
}

impl Default for CircuitBreaker {
    /// A breaker with the defaults listed under [`BreakerBuilder`].
    fn default() -> Self {
        Self::new(BreakerBuilder::default())
    }
}

impl CircuitBreaker {
    /// Starts a breaker with every setting at its default.
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::builder().consecutive_failures(3).build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn builder() -> BreakerBuilder {
        BreakerBuilder::default()
    }

    fn new(builder: BreakerBuilder) -> Self {
        let settings = builder.settings;
        let clock = builder
            .clock
            .unwrap_or_else(|| Box::new(DefaultClock::default()));
        let inner = Inner {
            settings,
            state: AtomicU64::new(Word::INITIAL.encode()),
            open_until: AtomicU64::new(0),
            open_epoch: AtomicU64::new(u64::MAX),
            mode: AtomicU64::new(NORMAL),
            consecutive_failures: AtomicU64::new(0),
            count_window: settings
                .count_window
                .map(|(size, _)| CountWindow::new(size)),
            time_window: settings
                .time_window
                .map(|(window, _)| TimeWindow::new(crate::clock::nanos(window))),
            trips: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            origin: clock.now(),
            clock,
            hook: builder.hook,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Nanoseconds since the breaker was built, on its clock.
    fn now(&self) -> u64 {
        crate::clock::nanos_since(&*self.inner.clock, self.inner.origin)
    }

    /// Asks to make one call. In the closed state this is two atomic loads (and a clock
    /// read if slow calls are counted).
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the breaker is open (or forced open), or half-open with all
    /// its probe slots taken.
    ///
    /// ```
    /// use steadfast::{CallOutcome, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::default();
    /// match breaker.try_acquire() {
    ///     Ok(permit) => breaker.record(permit, CallOutcome::Success),
    ///     Err(rejected) => eprintln!("not now: {rejected}"),
    /// }
    /// ```
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let inner = &*self.inner;
        match inner.mode.load(Ordering::Acquire) {
            NORMAL => {}
            DISABLED => {
                return Ok(Permit {
                    kind: PermitKind::Disabled,
                    started: None,
                });
            }
            _ => return Err(self.reject(BreakerState::ForcedOpen, None)),
        }
        let mut bits = inner.state.load(Ordering::Acquire);
        loop {
            let word = Word::decode(bits);
            let (next, probe) = match word.phase {
                Phase::Closed => {
                    return Ok(Permit {
                        kind: PermitKind::Closed { epoch: word.epoch },
                        started: self.started(),
                    });
                }
                Phase::Open => {
                    let now = self.now();
                    match self.open_until(word.epoch) {
                        Some(until) if now >= until => (
                            Word {
                                in_flight: 1,
                                ..word.next(Phase::HalfOpen)
                            },
                            true,
                        ),
                        until => {
                            let retry_in =
                                until.map(|until| Duration::from_nanos(until.saturating_sub(now)));
                            return Err(self.reject(BreakerState::Open, retry_in));
                        }
                    }
                }
                Phase::HalfOpen if word.in_flight < inner.settings.probes => (
                    Word {
                        in_flight: word.in_flight.saturating_add(1),
                        ..word
                    },
                    false,
                ),
                Phase::HalfOpen => return Err(self.reject(BreakerState::HalfOpen, None)),
            };
            match inner.state.compare_exchange_weak(
                bits,
                next.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if probe {
                        self.transitioned(BreakerState::Open, BreakerState::HalfOpen, None);
                    }
                    let breaker = self.clone();
                    return Ok(Permit {
                        kind: PermitKind::Probe {
                            breaker,
                            epoch: next.epoch,
                        },
                        started: self.started(),
                    });
                }
                Err(actual) => bits = actual,
            }
        }
    }

    fn started(&self) -> Option<u64> {
        self.inner.settings.slow_call.map(|_| self.now())
    }

    fn open_until(&self, epoch: u32) -> Option<u64> {
        let published = self.inner.open_epoch.load(Ordering::Acquire) == u64::from(epoch);
        published.then(|| self.inner.open_until.load(Ordering::Acquire))
    }

    fn reject(&self, state: BreakerState, retry_in: Option<Duration>) -> Rejected {
        self.inner.rejections.fetch_add(1, Ordering::Relaxed);
        Rejected::new(state, retry_in)
    }

    /// Records how the call admitted by `permit` went. Outcomes of calls admitted in an
    /// earlier state (closed, before the breaker opened) are ignored.
    ///
    /// ```
    /// use steadfast::{BreakerState, CallOutcome, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::builder().consecutive_failures(1).build()?;
    /// let permit = breaker.try_acquire().unwrap();
    /// breaker.record(permit, CallOutcome::Failure);
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn record(&self, mut permit: Permit, outcome: CallOutcome) {
        let kind = std::mem::replace(&mut permit.kind, PermitKind::Spent);
        let slow = match (permit.started, self.inner.settings.slow_call) {
            (Some(started), Some(threshold)) => {
                Duration::from_nanos(self.now().saturating_sub(started)) >= threshold
            }
            _ => false,
        };
        let failed = outcome == CallOutcome::Failure || slow;
        match kind {
            PermitKind::Closed { epoch } => self.record_closed(epoch, failed),
            PermitKind::Probe { epoch, .. } => self.record_probe(epoch, failed),
            PermitKind::Disabled | PermitKind::Spent => {}
        }
    }

    fn record_closed(&self, epoch: u32, failed: bool) {
        let inner = &*self.inner;
        let word = Word::decode(inner.state.load(Ordering::Acquire));
        if word.phase != Phase::Closed || word.epoch != epoch {
            return;
        }
        let consecutive = if failed {
            inner
                .consecutive_failures
                .fetch_add(1, Ordering::AcqRel)
                .saturating_add(1)
        } else {
            // A load before the store keeps a healthy breaker's cache line shared.
            if inner.consecutive_failures.load(Ordering::Acquire) != 0 {
                inner.consecutive_failures.store(0, Ordering::Release);
            }
            0
        };
        if let Some(window) = &inner.count_window {
            window.record(failed);
        }
        let now = inner.time_window.as_ref().map(|window| {
            let now = self.now();
            window.record(failed, now);
            now
        });
        if failed && self.should_trip(consecutive, now) {
            self.open(word, BreakerState::Closed);
        }
    }

    fn should_trip(&self, consecutive: u64, now: Option<u64>) -> bool {
        let settings = &self.inner.settings;
        let reached = |(calls, failures): (u64, u64), rate: f64, min_calls: u32| {
            calls >= u64::from(min_calls) && failures as f64 >= rate * calls as f64
        };
        settings
            .consecutive_failures
            .is_some_and(|limit| consecutive >= u64::from(limit))
            || settings
                .count_window
                .zip(self.inner.count_window.as_ref())
                .is_some_and(|((_, rule), window)| {
                    reached(
                        (window.calls(), window.failures()),
                        rule.rate,
                        rule.min_calls,
                    )
                })
            || settings
                .time_window
                .zip(self.inner.time_window.as_ref())
                .zip(now)
                .is_some_and(|(((_, rule), window), now)| {
                    reached(window.counts(now), rule.rate, rule.min_calls)
                })
    }

    /// Moves from `word` to open, if no one else has moved it first.
    fn open(&self, word: Word, from: BreakerState) {
        let inner = &*self.inner;
        let next = word.next(Phase::Open);
        if inner
            .state
            .compare_exchange(
                word.encode(),
                next.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return;
        }
        let trips = inner.trips.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        let open_for = self.open_duration(trips);
        let until = self.now().saturating_add(crate::clock::nanos(open_for));
        inner.open_until.store(until, Ordering::Release);
        inner
            .open_epoch
            .store(u64::from(next.epoch), Ordering::Release);
        self.transitioned(from, BreakerState::Open, Some(open_for));
    }

    /// How long the `trips`th trip since the breaker last closed keeps it open.
    fn open_duration(&self, trips: u64) -> Duration {
        let settings = &self.inner.settings;
        let cap = settings.max_open_for.max(settings.open_for);
        let retry = u32::try_from(trips).unwrap_or(u32::MAX);
        let mut growth = Exponential::new(settings.open_for).factor(settings.open_growth);
        let mut rng = JitterRng::seeded(0);
        let grown = growth.delay(retry, cap, &mut rng);
        if settings.open_jitter == crate::Jitter::none() {
            return grown;
        }
        // Fresh randomness per trip, so breakers in many processes do not reopen in step.
        let mut rng = JitterRng::seeded(rand::rng().next_u64());
        settings.open_jitter.apply(grown, cap, &mut rng)
    }

    fn record_probe(&self, epoch: u32, failed: bool) {
        let inner = &*self.inner;
        let mut bits = inner.state.load(Ordering::Acquire);
        loop {
            let word = Word::decode(bits);
            if word.phase != Phase::HalfOpen || word.epoch != epoch {
                return;
            }
            if failed {
                return self.open(word, BreakerState::HalfOpen);
            }
            let successes = word.successes.saturating_add(1);
            if successes >= inner.settings.close_after {
                let next = word.next(Phase::Closed);
                if inner
                    .state
                    .compare_exchange(bits, next.encode(), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.clear_counts();
                    inner.trips.store(0, Ordering::Release);
                    self.transitioned(BreakerState::HalfOpen, BreakerState::Closed, None);
                    return;
                }
            } else {
                let next = Word {
                    in_flight: word.in_flight.saturating_sub(1),
                    successes,
                    ..word
                };
                if inner
                    .state
                    .compare_exchange(bits, next.encode(), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return;
                }
            }
            bits = inner.state.load(Ordering::Acquire);
        }
    }

    fn release_probe(&self, epoch: u32) {
        let state = &self.inner.state;
        let mut bits = state.load(Ordering::Acquire);
        loop {
            let word = Word::decode(bits);
            if word.phase != Phase::HalfOpen || word.epoch != epoch || word.in_flight == 0 {
                return;
            }
            let next = Word {
                in_flight: word.in_flight.saturating_sub(1),
                ..word
            };
            match state.compare_exchange_weak(
                bits,
                next.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => bits = actual,
            }
        }
    }

    fn clear_counts(&self) {
        let inner = &*self.inner;
        inner.consecutive_failures.store(0, Ordering::Release);
        if let Some(window) = &inner.count_window {
            window.clear();
        }
        if let Some(window) = &inner.time_window {
            window.clear();
        }
    }

    fn transitioned(&self, from: BreakerState, to: BreakerState, open_for: Option<Duration>) {
        self.inner.transitions.fetch_add(1, Ordering::Relaxed);
        match to {
            BreakerState::Open => tracing::warn!(
                from = %from,
                state = %to,
                open_ms = open_for.map_or(0, |d| d.as_millis() as u64),
                "circuit breaker opened"
            ),
            _ => tracing::info!(from = %from, state = %to, "circuit breaker changed state"),
        }
        if let Some(hook) = &self.inner.hook {
            hook(&StateChange { from, to, open_for });
        }
    }

    /// The current state. An open breaker reports [`BreakerState::Open`] until a call
    /// asks for admission after its open duration, which moves it to half-open.
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::default();
    /// assert_eq!(breaker.state(), steadfast::BreakerState::Closed);
    /// ```
    #[must_use]
    pub fn state(&self) -> BreakerState {
        match self.inner.mode.load(Ordering::Acquire) {
            NORMAL => match Word::decode(self.inner.state.load(Ordering::Acquire)).phase {
                Phase::Closed => BreakerState::Closed,
                Phase::Open => BreakerState::Open,
                Phase::HalfOpen => BreakerState::HalfOpen,
            },
            DISABLED => BreakerState::Disabled,
            _ => BreakerState::ForcedOpen,
        }
    }

    /// Rejects every call until [`reset`](Self::reset), for maintenance or a known
    /// outage.
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::default();
    /// breaker.force_open();
    /// assert!(breaker.try_acquire().is_err());
    /// ```
    pub fn force_open(&self) {
        self.set_mode(FORCED_OPEN, BreakerState::ForcedOpen);
    }

    /// Admits every call and counts nothing until [`reset`](Self::reset).
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::default();
    /// breaker.force_open();
    /// breaker.disable();
    /// assert!(breaker.try_acquire().is_ok());
    /// ```
    pub fn disable(&self) {
        self.set_mode(DISABLED, BreakerState::Disabled);
    }

    fn set_mode(&self, mode: u64, to: BreakerState) {
        let from = self.state();
        if self.inner.mode.swap(mode, Ordering::AcqRel) != mode {
            self.transitioned(from, to, None);
        }
    }

    /// Closes the breaker and forgets all counts, ending a forced-open or disabled
    /// spell too.
    ///
    /// ```
    /// use steadfast::{BreakerState, CircuitBreaker};
    /// let breaker = CircuitBreaker::default();
    /// breaker.force_open();
    /// breaker.reset();
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// ```
    pub fn reset(&self) {
        let from = self.state();
        let inner = &*self.inner;
        let mut bits = inner.state.load(Ordering::Acquire);
        loop {
            let next = Word::decode(bits).next(Phase::Closed);
            match inner.state.compare_exchange_weak(
                bits,
                next.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => bits = actual,
            }
        }
        self.clear_counts();
        inner.trips.store(0, Ordering::Release);
        inner.mode.store(NORMAL, Ordering::Release);
        if from != BreakerState::Closed {
            self.transitioned(from, BreakerState::Closed, None);
        }
    }

    /// The breaker's counts now.
    ///
    /// ```
    /// use steadfast::{CallOutcome, CircuitBreaker};
    /// let breaker = CircuitBreaker::default();
    /// let permit = breaker.try_acquire()?;
    /// breaker.record(permit, CallOutcome::Failure);
    /// let snapshot = breaker.snapshot();
    /// assert_eq!((snapshot.window_calls, snapshot.window_failures), (1, 1));
    /// # Ok::<(), steadfast::Rejected>(())
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> BreakerSnapshot {
        let inner = &*self.inner;
        let word = Word::decode(inner.state.load(Ordering::Acquire));
        let (window_calls, window_failures) = inner
            .count_window
            .as_ref()
            .map_or((0, 0), |window| (window.calls(), window.failures()));
        let (recent_calls, recent_failures) = inner
            .time_window
            .as_ref()
            .map_or((0, 0), |window| window.counts(self.now()));
        BreakerSnapshot {
            state: self.state(),
            consecutive_failures: inner.consecutive_failures.load(Ordering::Acquire),
            window_calls,
            window_failures,
            recent_calls,
            recent_failures,
            probes_in_flight: if word.phase == Phase::HalfOpen {
                word.in_flight
            } else {
                0
            },
            rejections: inner.rejections.load(Ordering::Relaxed),
            transitions: inner.transitions.load(Ordering::Relaxed),
            trips: inner.trips.load(Ordering::Acquire),
        }
    }

    /// Runs `operation` once if the breaker admits it, counting every `Err` as a
    /// failure. The permit is held across the await, so a cancelled call gives it back.
    ///
    /// # Errors
    ///
    /// [`BreakerError::Rejected`] if the breaker refused, [`BreakerError::Operation`]
    /// with the operation's own error otherwise.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = steadfast::CircuitBreaker::default();
    /// let value = breaker.call(|| async { Ok::<_, std::io::Error>(42) }).await.unwrap();
    /// assert_eq!(value, 42);
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, operation: F) -> Result<T, BreakerError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_classified(&crate::RetryAnyError, operation).await
    }

    /// Runs `operation` once if the breaker admits it, counting as failures only the
    /// outcomes `classifier` judges retryable: a permanent failure (a 404) shows the
    /// dependency is up and never trips the breaker.
    ///
    /// # Errors
    ///
    /// As for [`call`](Self::call).
    ///
    /// ```
    /// use steadfast::{CircuitBreaker, Decision};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), steadfast::ConfigError> {
    /// let breaker = CircuitBreaker::builder().consecutive_failures(1).build()?;
    /// let not_found = |status: &u16| if *status == 404 { Decision::Fail } else { Decision::Retry };
    /// let _ = breaker.call_classified(&not_found, || async { Err::<(), u16>(404) }).await;
    /// assert_eq!(breaker.state(), steadfast::BreakerState::Closed);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_classified<C, F, Fut, T, E>(
        &self,
        classifier: &C,
        operation: F,
    ) -> Result<T, BreakerError<E>>
    where
        C: Classify<T, E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(BreakerError::Rejected)?;
        let outcome = operation().await;
        self.record(
            permit,
            CallOutcome::from_decision(classifier.classify(&outcome)),
        );
        outcome.map_err(BreakerError::Operation)
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("settings", &self.inner.settings)
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}
