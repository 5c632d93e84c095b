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
//! - **Closed**: calls flow; outcomes are counted. Admission is two atomic loads, and
//!   with the default rules a success writes only to the calling thread's own counter
//!   cell.
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
mod machine;
mod permit;
mod report;
mod time_window;

pub use config::BreakerBuilder;
pub use permit::{CallOutcome, Permit};
pub use report::{BreakerError, BreakerSnapshot, BreakerState, Rejected, StateChange};

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::backoff::{Backoff, Exponential};
use crate::classify::{Classify, RetryAnyError};
use crate::clock::{Clock, DefaultClock, nanos, nanos_since};
use crate::jitter::Jitter;
use crate::rng::JitterRng;
use crate::stripe::Striped;
use crate::sync::{Arc, AtomicU64, Ordering};
use config::Settings;
use count_window::CountWindow;
use machine::{Machine, Phase, Word};
use permit::{NOT_TIMED, PermitKind, ProbeSlot};
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
    machine: Machine,
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
    // Striped: rejections come from every caller while the breaker is open.
    rejections: Striped,
    transitions: AtomicU64,
    clock: Box<dyn Clock + Send + Sync>,
    origin: Instant,
    hook: Option<StateHook>,
    #[cfg(feature = "metrics")]
    meter: Option<crate::meter::BreakerMeter>,
}

/// The hook told of every change of state.
type StateHook = Box<dyn Fn(&StateChange) + Send + Sync>;

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
            machine: Machine::new(),
            open_until: AtomicU64::new(0),
            open_epoch: AtomicU64::new(u64::MAX),
            mode: AtomicU64::new(NORMAL),
            consecutive_failures: AtomicU64::new(0),
            count_window: settings
                .count_window
                .map(|(size, _)| CountWindow::new(size)),
            time_window: settings
                .time_window
                .map(|(window, _)| TimeWindow::new(nanos(window))),
            trips: AtomicU64::new(0),
            rejections: Striped::default(),
            transitions: AtomicU64::new(0),
            origin: clock.now(),
            clock,
            hook: builder.hook,
            #[cfg(feature = "metrics")]
            meter: builder
                .meter
                .as_deref()
                .map(crate::meter::BreakerMeter::new),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Nanoseconds since the breaker was built, on its clock.
    fn now(&self) -> u64 {
        nanos_since(&*self.inner.clock, self.inner.origin)
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
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let inner = &*self.inner;
        if inner.mode.load(Ordering::Acquire) == NORMAL {
            let word = inner.machine.load();
            if word.phase == Phase::Closed {
                // The hot path, inlined into the caller: two loads, no write.
                return Ok(Permit {
                    kind: PermitKind::Closed { epoch: word.epoch },
                    started: self.started(),
                });
            }
        }
        self.try_acquire_slow()
    }

    /// Admission in every other case: disabled, forced open, open or half-open.
    #[inline(never)]
    fn try_acquire_slow(&self) -> Result<Permit, Rejected> {
        let inner = &*self.inner;
        match inner.mode.load(Ordering::Acquire) {
            NORMAL => {}
            DISABLED => {
                return Ok(Permit {
                    kind: PermitKind::Disabled,
                    started: NOT_TIMED,
                });
            }
            _ => return Err(self.reject(BreakerState::ForcedOpen, None)),
        }
        // Open or half-open (or closed since the first look): decide on the word,
        // again after every lost race.
        let mut now = None;
        let mut refusal = None;
        let admitted = inner.machine.update(|word| match word.phase {
            // Closed since the first look: admitted without a write.
            Phase::Closed => None,
            Phase::Open => {
                let now = *now.get_or_insert_with(|| self.now());
                match self.open_until(word.epoch) {
                    Some(until) if now >= until => Some(Word {
                        in_flight: 1,
                        ..word.next(Phase::HalfOpen)
                    }),
                    until => {
                        refusal = Some((
                            BreakerState::Open,
                            until.map(|until| Duration::from_nanos(until.saturating_sub(now))),
                        ));
                        None
                    }
                }
            }
            Phase::HalfOpen if word.in_flight < inner.settings.probes => Some(Word {
                in_flight: word.in_flight.saturating_add(1),
                ..word
            }),
            Phase::HalfOpen => {
                refusal = Some((BreakerState::HalfOpen, None));
                None
            }
        });
        match admitted {
            Err(word) if word.phase == Phase::Closed => Ok(Permit {
                kind: PermitKind::Closed { epoch: word.epoch },
                started: self.started(),
            }),
            Ok((before, after)) => {
                if before.phase == Phase::Open {
                    self.transitioned(BreakerState::Open, BreakerState::HalfOpen, None);
                }
                Ok(Permit {
                    kind: PermitKind::Probe(ProbeSlot {
                        breaker: self.clone(),
                        epoch: after.epoch,
                        held: true,
                    }),
                    started: self.started(),
                })
            }
            Err(_) => {
                let (state, retry_in) = refusal.unwrap_or((BreakerState::Open, None));
                Err(self.reject(state, retry_in))
            }
        }
    }

    #[inline]
    fn started(&self) -> u64 {
        match self.inner.settings.slow_call {
            Some(_) => self.now(),
            None => NOT_TIMED,
        }
    }

    fn open_until(&self, epoch: u32) -> Option<u64> {
        let published = self.inner.open_epoch.load(Ordering::Acquire) == u64::from(epoch);
        published.then(|| self.inner.open_until.load(Ordering::Acquire))
    }

    fn reject(&self, state: BreakerState, retry_in: Option<Duration>) -> Rejected {
        self.inner.rejections.add(1);
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
    #[inline]
    pub fn record(&self, permit: Permit, outcome: CallOutcome) {
        let Permit { kind, started } = permit;
        let slow = match (started, self.inner.settings.slow_call) {
            (NOT_TIMED, _) => false,
            (started, Some(threshold)) => {
                Duration::from_nanos(self.now().saturating_sub(started)) >= threshold
            }
            _ => false,
        };
        let failed = outcome == CallOutcome::Failure || slow;
        match kind {
            PermitKind::Closed { epoch } => self.record_closed(epoch, failed),
            PermitKind::Probe(mut slot) => {
                // The outcome settles the slot: it is not given back as well.
                slot.held = false;
                self.record_probe(slot.epoch, failed);
            }
            PermitKind::Disabled => {}
        }
    }

    #[inline]
    fn record_closed(&self, epoch: u32, failed: bool) {
        let inner = &*self.inner;
        let word = inner.machine.load();
        if word.phase != Phase::Closed || word.epoch != epoch {
            return;
        }
        if let Some(window) = &inner.count_window {
            window.record(failed);
        }
        if !failed {
            // A healthy breaker's success writes nothing that other threads write: a
            // load finds the failure streak already at zero, and the time window
            // counts it in this thread's own cell.
            if inner.consecutive_failures.load(Ordering::Acquire) != 0 {
                inner.consecutive_failures.store(0, Ordering::Release);
            }
            if let Some(window) = &inner.time_window {
                window.record_success();
            }
            return;
        }
        let consecutive = inner
            .consecutive_failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let now = inner.time_window.as_ref().map(|window| {
            let now = self.now();
            window.record_failure(now);
            now
        });
        if self.should_trip(consecutive, now) {
            self.open(epoch, Phase::Closed);
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

    /// Opens the breaker from `from` in `epoch`, unless another transition has moved
    /// it on first.
    fn open(&self, epoch: u32, from: Phase) {
        let inner = &*self.inner;
        // Re-decided after every lost race: the outcome that trips the breaker is
        // never dropped while the breaker is still in the state it was recorded in.
        let opened = inner.machine.update(|word| {
            (word.phase == from && word.epoch == epoch).then(|| word.next(Phase::Open))
        });
        let Ok((_, next)) = opened else {
            return;
        };
        let trips = inner.trips.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        let open_for = self.open_duration(trips);
        let until = self.now().saturating_add(nanos(open_for));
        inner.open_until.store(until, Ordering::Release);
        inner
            .open_epoch
            .store(u64::from(next.epoch), Ordering::Release);
        let from = match from {
            Phase::HalfOpen => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        };
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
        if settings.open_jitter == Jitter::none() {
            return grown;
        }
        // Fresh randomness per trip, so breakers in many processes do not reopen in step.
        let mut rng = JitterRng::seeded(rand::rng().next_u64());
        settings.open_jitter.apply(grown, cap, &mut rng)
    }

    fn record_probe(&self, epoch: u32, failed: bool) {
        if failed {
            return self.open(epoch, Phase::HalfOpen);
        }
        let close_after = self.inner.settings.close_after;
        let recorded = self.inner.machine.update(|word| {
            if word.phase != Phase::HalfOpen || word.epoch != epoch {
                return None;
            }
            let successes = word.successes.saturating_add(1);
            Some(if successes >= close_after {
                word.next(Phase::Closed)
            } else {
                Word {
                    in_flight: word.in_flight.saturating_sub(1),
                    successes,
                    ..word
                }
            })
        });
        if let Ok((_, next)) = recorded {
            if next.phase == Phase::Closed {
                self.clear_counts();
                self.inner.trips.store(0, Ordering::Release);
                self.transitioned(BreakerState::HalfOpen, BreakerState::Closed, None);
            }
        }
    }

    pub(crate) fn release_probe(&self, epoch: u32) {
        let _ = self.inner.machine.update(|word| {
            (word.phase == Phase::HalfOpen && word.epoch == epoch && word.in_flight > 0).then(
                || Word {
                    in_flight: word.in_flight.saturating_sub(1),
                    ..word
                },
            )
        });
    }

    fn clear_counts(&self) {
        let inner = &*self.inner;
        inner.consecutive_failures.store(0, Ordering::Release);
        if let Some(window) = &inner.count_window {
            window.clear();
        }
        if let Some(window) = &inner.time_window {
            window.clear(self.now());
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
        #[cfg(feature = "metrics")]
        if let Some(meter) = &self.inner.meter {
            meter.transition(from, to);
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
            NORMAL => match self.inner.machine.load().phase {
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
        let _ = inner.machine.update(|word| Some(word.next(Phase::Closed)));
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
    /// assert_eq!((snapshot.recent_calls, snapshot.recent_failures), (1, 1));
    /// # Ok::<(), steadfast::Rejected>(())
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> BreakerSnapshot {
        let inner = &*self.inner;
        let word = inner.machine.load();
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
            rejections: inner.rejections.sum(),
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
        self.call_classified(&RetryAnyError, operation).await
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
