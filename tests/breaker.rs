//! The circuit breaker: against a reference model, under threads, in paused time, and
//! inside `retry`.

mod support;

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use steadfast::{
    BreakerState, CallOutcome, CircuitBreaker, Decision, Exponential, Jitter, Permit, Policy,
    StopReason, retry,
};
use support::{ManualClock, constant};

const MS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Config {
    consecutive: Option<u32>,
    count: Option<(u32, f64, u32)>,
    time: Option<(u64, f64, u32)>, // window in ms
    slow_ms: Option<u64>,
    open_ms: u64,
    growth: bool,
    max_open_ms: u64,
    probes: u32,
    close_after: u32,
}

fn any_config() -> impl Strategy<Value = Config> {
    (
        proptest::option::of(1_u32..6),
        proptest::option::of((
            1_u32..12,
            prop_oneof![Just(0.5), Just(0.25), 0.0_f64..=1.0],
            1_u32..12,
        )),
        proptest::option::of((
            100_u64..5_000,
            prop_oneof![Just(0.5), 0.0_f64..=1.0],
            1_u32..10,
        )),
        proptest::option::of(1_u64..500),
        1_u64..3_000,
        any::<bool>(),
        1_u64..20_000,
        1_u32..4,
        1_u32..4,
    )
        .prop_map(
            |(
                consecutive,
                count,
                time,
                slow_ms,
                open_ms,
                growth,
                max_open_ms,
                probes,
                close_after,
            )| Config {
                consecutive,
                count: count.map(|(size, rate, min)| (size, rate, min.min(size))),
                time,
                slow_ms,
                open_ms,
                growth,
                max_open_ms,
                probes,
                close_after,
            },
        )
}

fn build(config: Config, clock: &ManualClock) -> CircuitBreaker {
    let mut builder = CircuitBreaker::builder()
        .without_consecutive_failures()
        .without_failure_rate()
        .open_for(Duration::from_millis(config.open_ms))
        .half_open_probes(config.probes, config.close_after)
        .clock(clock.clone());
    if let Some(n) = config.consecutive {
        builder = builder.consecutive_failures(n);
    }
    if let Some((size, rate, min)) = config.count {
        builder = builder.failure_rate(rate, size, min);
    }
    if let Some((window, rate, min)) = config.time {
        builder = builder.time_window(Duration::from_millis(window), rate, min);
    }
    if let Some(slow) = config.slow_ms {
        builder = builder.slow_call(Duration::from_millis(slow));
    }
    if config.growth {
        builder = builder.open_growth(2.0, Duration::from_millis(config.max_open_ms));
    }
    builder.build().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open,
    HalfOpen,
}

/// The documented behaviour, written plainly.
struct Model {
    config: Config,
    now: u64,
    phase: Phase,
    epoch: u64,
    open_until: u64,
    trips: u64,
    consecutive: u64,
    window: VecDeque<bool>,
    timed: Vec<(u64, bool)>,
    /// Closed-state successes not yet dated into `timed`, and when the time window was
    /// last read: successes are dated lazily, at the next failure or snapshot.
    undated: u64,
    read_at: u64,
    in_flight: u32,
    successes: u32,
    rejections: u64,
    transitions: u64,
}

impl Model {
    fn new(config: Config) -> Self {
        Self {
            config,
            now: 0,
            phase: Phase::Closed,
            epoch: 0,
            open_until: 0,
            trips: 0,
            consecutive: 0,
            window: VecDeque::new(),
            timed: Vec::new(),
            undated: 0,
            read_at: 0,
            in_flight: 0,
            successes: 0,
            rejections: 0,
            transitions: 0,
        }
    }

    /// Reads the time window: dates the waiting successes at the present slot, all of
    /// them if the last reading is at most a window old, else the share of a window
    /// (rounded) as if they were spread evenly since.
    fn read(&mut self) {
        let Some((window_ms, ..)) = self.config.time else {
            return;
        };
        let window = window_ms * MS;
        let since = self.now.saturating_sub(self.read_at);
        self.read_at = self.read_at.max(self.now);
        if self.undated == 0 {
            return;
        }
        let kept = if since > window {
            ((u128::from(self.undated) * u128::from(window) + u128::from(since / 2))
                / u128::from(since)) as u64
        } else {
            self.undated
        };
        self.undated = 0;
        let generation = self.now / (window / 10).max(1);
        for _ in 0..kept {
            self.timed.push((generation, false));
        }
    }

    fn slot(&self) -> Option<u64> {
        self.config.time.map(|(window, ..)| window * MS / 10)
    }

    fn live_timed(&self) -> (u64, u64) {
        let Some(slot) = self.slot() else {
            return (0, 0);
        };
        let generation = self.now / slot;
        let live: Vec<bool> = self
            .timed
            .iter()
            .filter(|(g, _)| g + 10 > generation)
            .map(|(_, f)| *f)
            .collect();
        (
            live.len() as u64,
            live.iter().filter(|f| **f).count() as u64,
        )
    }

    fn move_to(&mut self, phase: Phase) {
        self.phase = phase;
        self.epoch += 1;
        self.in_flight = 0;
        self.successes = 0;
        self.transitions += 1;
    }

    /// Admission: `Some((epoch, probe))`, or `None` with the rejection counted.
    fn acquire(&mut self) -> Result<(u64, bool), Option<Duration>> {
        match self.phase {
            Phase::Closed => Ok((self.epoch, false)),
            Phase::Open if self.now >= self.open_until => {
                self.move_to(Phase::HalfOpen);
                self.in_flight = 1;
                Ok((self.epoch, true))
            }
            Phase::Open => {
                self.rejections += 1;
                Err(Some(Duration::from_nanos(self.open_until - self.now)))
            }
            Phase::HalfOpen if self.in_flight < self.config.probes => {
                self.in_flight += 1;
                Ok((self.epoch, true))
            }
            Phase::HalfOpen => {
                self.rejections += 1;
                Err(None)
            }
        }
    }

    fn open(&mut self) {
        self.move_to(Phase::Open);
        self.trips += 1;
        let mut open_ms = self.config.open_ms;
        if self.config.growth {
            let cap = self.config.max_open_ms.max(self.config.open_ms);
            let factor = 2_u64.saturating_pow(u32::try_from(self.trips - 1).unwrap_or(u32::MAX));
            open_ms = open_ms.saturating_mul(factor).min(cap);
        }
        self.open_until = self.now + open_ms * MS;
    }

    fn record(&mut self, (epoch, probe): (u64, bool), failed: bool) {
        if epoch != self.epoch {
            return;
        }
        match (self.phase, probe) {
            (Phase::Closed, false) => {
                self.consecutive = if failed { self.consecutive + 1 } else { 0 };
                if let Some((size, ..)) = self.config.count {
                    self.window.push_back(failed);
                    if self.window.len() > size as usize {
                        self.window.pop_front();
                    }
                }
                if let Some(slot) = self.slot() {
                    if failed {
                        self.read();
                        self.timed.push((self.now / slot, failed));
                    } else {
                        self.undated += 1;
                    }
                }
                if failed && self.should_trip() {
                    self.open();
                }
            }
            (Phase::HalfOpen, true) if failed => self.open(),
            (Phase::HalfOpen, true) => {
                self.successes += 1;
                self.in_flight -= 1;
                if self.successes >= self.config.close_after {
                    self.move_to(Phase::Closed);
                    self.trips = 0;
                    self.consecutive = 0;
                    self.window.clear();
                    self.timed.clear();
                    self.undated = 0;
                    self.read_at = self.read_at.max(self.now);
                }
            }
            _ => {}
        }
    }

    fn should_trip(&self) -> bool {
        let reached = |calls: u64, failures: u64, rate: f64, min: u32| {
            calls >= u64::from(min) && failures as f64 >= rate * calls as f64
        };
        let window_failures = self.window.iter().filter(|f| **f).count() as u64;
        let (recent, recent_failures) = self.live_timed();
        self.config
            .consecutive
            .is_some_and(|n| self.consecutive >= u64::from(n))
            || self.config.count.is_some_and(|(_, rate, min)| {
                reached(self.window.len() as u64, window_failures, rate, min)
            })
            || self
                .config
                .time
                .is_some_and(|(_, rate, min)| reached(recent, recent_failures, rate, min))
    }

    fn release(&mut self, (epoch, probe): (u64, bool)) {
        if probe && epoch == self.epoch && self.phase == Phase::HalfOpen && self.in_flight > 0 {
            self.in_flight -= 1;
        }
    }

    fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open => BreakerState::Open,
            Phase::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

#[derive(Debug, Clone)]
enum Event {
    /// A call that takes `ms` and ends as given.
    Call { failed: bool, ms: u64 },
    /// Time passes with no call.
    Advance(u64),
    /// A call starts and stays in flight.
    Hold,
    /// A held call ends.
    Finish { index: usize, failed: bool },
    /// A held call is cancelled: its permit is dropped unrecorded.
    Cancel(usize),
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (any::<bool>(), prop_oneof![Just(0_u64), 0_u64..600]).prop_map(|(failed, ms)| Event::Call { failed, ms }),
        2 => (0_u64..4_000).prop_map(Event::Advance),
        1 => Just(Event::Hold),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(index, failed)| Event::Finish { index, failed }),
        1 => any::<usize>().prop_map(Event::Cancel),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: support::cases(512),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_breaker_agrees_with_its_model_at_every_step(
        config in any_config(),
        events in proptest::collection::vec(any_event(), 1..120),
    ) {
        let clock = ManualClock::new();
        let breaker = build(config, &clock);
        let mut model = Model::new(config);
        let mut held: Vec<(Permit, (u64, bool), u64)> = Vec::new();

        for event in events {
            match event {
                Event::Advance(ms) => {
                    clock.advance(Duration::from_millis(ms));
                    model.now += ms * MS;
                }
                Event::Call { failed, ms } => {
                    let admitted = breaker.try_acquire();
                    let expected = model.acquire();
                    match (admitted, expected) {
                        (Ok(permit), Ok(ticket)) => {
                            prop_assert_eq!(permit.is_probe(), ticket.1);
                            clock.advance(Duration::from_millis(ms));
                            model.now += ms * MS;
                            let slow = config.slow_ms.is_some_and(|slow| ms >= slow);
                            let outcome = if failed { CallOutcome::Failure } else { CallOutcome::Success };
                            breaker.record(permit, outcome);
                            model.record(ticket, failed || slow);
                        }
                        (Err(rejected), Err(retry_in)) => prop_assert_eq!(rejected.retry_in(), retry_in),
                        (admitted, expected) => prop_assert!(false, "breaker {admitted:?}, model {expected:?}"),
                    }
                }
                Event::Hold => match (breaker.try_acquire(), model.acquire()) {
                    (Ok(permit), Ok(ticket)) => held.push((permit, ticket, model.now)),
                    (Err(_), Err(_)) => {}
                    (admitted, expected) => prop_assert!(false, "breaker {admitted:?}, model {expected:?}"),
                },
                Event::Finish { index, failed } if !held.is_empty() => {
                    let (permit, ticket, started) = held.remove(index % held.len());
                    let slow = config.slow_ms.is_some_and(|slow| model.now - started >= slow * MS);
                    breaker.record(permit, if failed { CallOutcome::Failure } else { CallOutcome::Success });
                    model.record(ticket, failed || slow);
                }
                Event::Cancel(index) if !held.is_empty() => {
                    let (permit, ticket, _) = held.remove(index % held.len());
                    drop(permit);
                    model.release(ticket);
                }
                Event::Finish { .. } | Event::Cancel(_) => {}
            }

            let snapshot = breaker.snapshot();
            model.read();
            prop_assert_eq!(snapshot.state, model.state());
            prop_assert_eq!(snapshot.consecutive_failures, model.consecutive);
            prop_assert_eq!(snapshot.window_calls, model.window.len() as u64);
            prop_assert_eq!(snapshot.window_failures, model.window.iter().filter(|f| **f).count() as u64);
            prop_assert_eq!((snapshot.recent_calls, snapshot.recent_failures), model.live_timed());
            let in_flight = if model.phase == Phase::HalfOpen { model.in_flight } else { 0 };
            prop_assert_eq!(snapshot.probes_in_flight, in_flight);
            prop_assert!(snapshot.probes_in_flight <= config.probes);
            prop_assert_eq!(snapshot.trips, model.trips);
            prop_assert_eq!(snapshot.transitions, model.transitions);
            prop_assert_eq!(snapshot.rejections, model.rejections);
        }
    }
}

#[test]
fn half_open_never_admits_more_probes_than_allowed_under_threads() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_millis(1))
        .half_open_probes(3, 10_000)
        .clock(clock.clone())
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    clock.advance(Duration::from_millis(1));

    let live = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    let probes = AtomicU32::new(0);
    std::thread::scope(|scope| {
        for thread in 0..8_u32 {
            let (breaker, live, most, probes) = (&breaker, &live, &most, &probes);
            scope.spawn(move || {
                for i in 0..20_000_u32 {
                    let Ok(permit) = breaker.try_acquire() else {
                        continue;
                    };
                    assert!(permit.is_probe());
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    probes.fetch_add(1, Ordering::Relaxed);
                    std::hint::spin_loop();
                    live.fetch_sub(1, Ordering::SeqCst);
                    if (i + thread) % 2 == 0 {
                        drop(permit); // cancelled: the slot comes back
                    } else if probes.load(Ordering::Relaxed) < 9_000 {
                        breaker.record(permit, CallOutcome::Success);
                    }
                }
            });
        }
    });
    assert!(
        most.load(Ordering::SeqCst) <= 3,
        "{} probes at once",
        most.load(Ordering::SeqCst)
    );
    assert!(
        probes.load(Ordering::Relaxed) > 100,
        "the test exercised the race"
    );
    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::HalfOpen);
    assert_eq!(snapshot.probes_in_flight, 0, "every slot came back");
}

#[tokio::test(start_paused = true)]
async fn open_durations_grow_on_repeated_trips_and_reset_on_close() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(1))
        .open_growth(2.0, Duration::from_secs(8))
        .build()
        .unwrap();
    let fail = |breaker: &CircuitBreaker| {
        breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure)
    };

    fail(&breaker);
    for expected in [1, 2, 4, 8, 8] {
        let wait = breaker.try_acquire().unwrap_err().retry_in().unwrap();
        assert_eq!(wait, Duration::from_secs(expected));
        tokio::time::advance(wait - Duration::from_millis(1)).await;
        assert_eq!(
            breaker.try_acquire().unwrap_err().retry_in(),
            Some(Duration::from_millis(1))
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        fail(&breaker); // the probe fails
    }
    tokio::time::advance(Duration::from_secs(8)).await;
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Success);
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail(&breaker);
    assert_eq!(
        breaker.try_acquire().unwrap_err().retry_in(),
        Some(Duration::from_secs(1)),
        "growth reset"
    );
}

#[tokio::test(start_paused = true)]
async fn jittered_open_durations_stay_random_within_the_cap() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(1))
        .open_growth(2.0, Duration::from_secs(4))
        .open_jitter(Jitter::full())
        .build()
        .unwrap();
    let mut waits = Vec::new();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    for _ in 0..20 {
        let wait = breaker.try_acquire().unwrap_err().retry_in().unwrap();
        assert!(wait <= Duration::from_secs(4));
        waits.push(wait);
        tokio::time::advance(wait).await;
        breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    }
    waits.sort();
    waits.dedup();
    assert!(waits.len() > 15, "random, not pinned to the cap: {waits:?}");
}

#[tokio::test(start_paused = true)]
async fn manual_control_and_the_state_hook() {
    let changes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = changes.clone();
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .on_state_change(move |change| {
            log.lock()
                .unwrap()
                .push((change.from, change.to, change.open_for))
        })
        .build()
        .unwrap();
    breaker.force_open();
    assert_eq!(
        breaker.try_acquire().unwrap_err().state(),
        BreakerState::ForcedOpen
    );
    breaker.disable();
    let permit = breaker.try_acquire().unwrap();
    breaker.record(permit, CallOutcome::Failure);
    assert_eq!(
        breaker.state(),
        BreakerState::Disabled,
        "nothing is counted while disabled"
    );
    breaker.reset();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    assert_eq!(
        *changes.lock().unwrap(),
        [
            (BreakerState::Closed, BreakerState::ForcedOpen, None),
            (BreakerState::ForcedOpen, BreakerState::Disabled, None),
            (BreakerState::Disabled, BreakerState::Closed, None),
            (
                BreakerState::Closed,
                BreakerState::Open,
                Some(Duration::from_secs(5))
            ),
        ]
    );
    assert_eq!(breaker.snapshot().transitions, 4);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_standalone_call_gives_its_probe_back() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(1))
        .build()
        .unwrap();
    let _ = breaker.call(|| async { Err::<(), _>("down") }).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let slow_probe = breaker.call(|| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, &str>(())
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(10), slow_probe)
            .await
            .is_err()
    );
    assert_eq!(breaker.snapshot().probes_in_flight, 0);
    assert!(
        breaker.try_acquire().unwrap().is_probe(),
        "the next call probes at once"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stops_a_retry_before_its_first_attempt() {
    let breaker = CircuitBreaker::builder()
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    breaker.force_open();
    let calls = AtomicU32::new(0);
    let err = retry(|_| {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Ok::<_, &str>(()) }
    })
    .breaker(&breaker)
    .await
    .unwrap_err();
    assert_eq!(err.reason(), StopReason::BreakerOpen { retry_in: None });
    assert_eq!((err.attempts(), calls.load(Ordering::Relaxed)), (0, 0));
    assert!(err.last_failure().is_none());
}

#[tokio::test(start_paused = true)]
async fn retries_trip_the_breaker_and_stop_with_the_last_error() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(3)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let err = retry(|attempt| async move { Err::<(), _>(attempt.number()) })
        .with(constant(Duration::from_millis(10), 10))
        .breaker(&breaker)
        .await
        .unwrap_err();
    assert_eq!(
        err.reason(),
        StopReason::BreakerOpen {
            retry_in: Some(Duration::from_millis(29_990))
        }
    );
    assert_eq!((err.attempts(), err.error()), (3, Some(&3)));
    assert_eq!(
        err.to_string(),
        "gave up after 3 attempts (circuit breaker open, next probe in 29.99s): 3"
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_never_trip_the_breaker() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(2)
        .failure_rate(0.1, 10, 1)
        .build()
        .unwrap();
    for _ in 0..50 {
        let _ = retry(|_| async { Err::<(), _>(404) })
            .classify(|_: &i32| Decision::Fail)
            .breaker(&breaker)
            .await;
    }
    let snapshot = breaker.snapshot();
    assert_eq!(snapshot.state, BreakerState::Closed);
    assert_eq!((snapshot.window_calls, snapshot.window_failures), (10, 0));
}

/// A breaker just opened for 2 s, and a policy whose deadline outlasts that.
fn open_for_two_seconds_and_a_five_second_deadline() -> (CircuitBreaker, Policy<Exponential>) {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(2))
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    let policy = Policy::builder(Exponential::new(Duration::from_millis(100)))
        .max_elapsed(Duration::from_secs(5))
        .build()
        .unwrap();
    (breaker, policy)
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_for_the_probe_when_its_deadline_allows() {
    let (breaker, policy) = open_for_two_seconds_and_a_five_second_deadline();
    let start = tokio::time::Instant::now();
    let value = retry(|attempt| async move { Ok::<_, &str>(attempt.number()) })
        .with(policy)
        .breaker(&breaker)
        .await;
    assert_eq!(value, Ok(1), "the wait is not an attempt");
    // Until the probe, plus up to a quarter more so that waiters do not stampede.
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited <= Duration::from_millis(2_500),
        "{waited:?}"
    );
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "the call was the successful probe"
    );

    // With less time left than the open duration, it stops at once instead.
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    let short = Policy::builder(Exponential::new(Duration::from_millis(100)))
        .max_elapsed(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let err = retry(|_| async { Ok::<_, &str>(()) })
        .with(short)
        .breaker(&breaker)
        .await
        .unwrap_err();
    assert!(matches!(
        err.reason(),
        StopReason::BreakerOpen { retry_in: Some(_) }
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn timeouts_count_as_breaker_failures() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(2)
        .build()
        .unwrap();
    let policy = Policy::builder(Exponential::new(Duration::from_millis(10)))
        .attempt_timeout(Duration::from_secs(1))
        .max_attempts(2)
        .build()
        .unwrap();
    let _ = retry(|_| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, &str>(())
    })
    .with(policy)
    .breaker(&breaker)
    .await;
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_retry_gives_its_probe_back() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(1))
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    tokio::time::advance(Duration::from_secs(1)).await;
    let hanging = retry(|_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, &str>(())
    })
    .breaker(&breaker)
    .into_future();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), hanging)
            .await
            .is_err()
    );
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.state, snapshot.probes_in_flight),
        (BreakerState::HalfOpen, 0)
    );
    assert!(breaker.try_acquire().unwrap().is_probe());
}

#[tokio::test(start_paused = true)]
async fn a_probe_from_an_earlier_half_open_spell_cannot_free_a_later_slot() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_secs(1))
        .half_open_probes(2, 5)
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    tokio::time::advance(Duration::from_secs(1)).await;
    let old_probe = breaker.try_acquire().unwrap();
    let failing_probe = breaker.try_acquire().unwrap();
    breaker.record(failing_probe, CallOutcome::Failure); // reopens
    tokio::time::advance(Duration::from_secs(1)).await;
    let new_probe = breaker.try_acquire().unwrap();
    assert_eq!(breaker.snapshot().probes_in_flight, 1);
    drop(old_probe);
    assert_eq!(
        breaker.snapshot().probes_in_flight,
        1,
        "the stale permit freed nothing"
    );
    breaker.record(new_probe, CallOutcome::Success);
    assert_eq!(breaker.snapshot().probes_in_flight, 0);
}

/// Issue: when a half-open breaker gave its one probe to one waiter, the others were
/// refused with no wait time and stopped at once, their deadline almost untouched.
#[tokio::test(start_paused = true)]
async fn waiters_outlast_a_half_open_breaker_within_their_deadline() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(3)
        .without_failure_rate()
        .open_for(Duration::from_millis(100))
        .build()
        .unwrap();
    let backend_calls = std::sync::Arc::new(AtomicU32::new(0));
    let policy = Policy::builder(steadfast::Constant::new(Duration::from_millis(10)))
        .jitter(steadfast::Jitter::none())
        .max_attempts(u32::MAX)
        .max_elapsed(Duration::from_secs(5))
        .build()
        .unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let backend_calls = backend_calls.clone();
            let (breaker, policy) = (breaker.clone(), policy.clone());
            // A call borrows its breaker: a spawned one moves a clone into its task.
            tokio::spawn(async move {
                retry(move |_| {
                    // The backend takes 5 ms to answer, fails its first 10 calls, then
                    // recovers.
                    let n = backend_calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        if n < 10 { Err("unavailable") } else { Ok(n) }
                    }
                })
                .with(policy)
                .breaker(&breaker)
                .await
            })
        })
        .collect();
    let mut succeeded = 0;
    for call in calls {
        if let Ok(Ok(_)) = call.await {
            succeeded += 1;
        }
    }
    assert_eq!(succeeded, 20, "every call outlasted the outage");
    assert_eq!(
        backend_calls.load(Ordering::SeqCst),
        30,
        "10 failures, then one success per call"
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
}

/// Issue: a failed probe could be lost when its compare-and-swap raced another probe
/// being admitted or released, leaving the breaker half-open with a slot held by no
/// one. Four threads hold the four probe slots; one fails while the others release.
#[test]
fn a_failed_probe_always_reopens_and_no_slot_leaks() {
    for round in 0..2_000 {
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::builder()
            .consecutive_failures(1)
            .without_failure_rate()
            .open_for(Duration::from_millis(1))
            .half_open_probes(4, 4)
            .clock(clock.clone())
            .build()
            .unwrap();
        breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
        clock.advance(Duration::from_millis(2));
        let start = std::sync::Barrier::new(4);
        let end = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let (breaker, start, end) = (&breaker, &start, &end);
                scope.spawn(move || {
                    start.wait();
                    let permit = breaker.try_acquire().expect("four slots for four probes");
                    assert!(permit.is_probe());
                    end.wait();
                    if thread == 0 {
                        breaker.record(permit, CallOutcome::Failure);
                    } else {
                        drop(permit);
                    }
                });
            }
        });
        let snapshot = breaker.snapshot();
        assert_eq!(snapshot.state, BreakerState::Open, "round {round}");
        assert_eq!(snapshot.probes_in_flight, 0, "round {round}");
    }
}

/// Issue: a wait for the breaker was raised to a 1 ms floor after it was checked
/// against the deadline, so a call with 700 µs left slept past it.
#[tokio::test(start_paused = true)]
async fn no_breaker_wait_ends_past_the_deadline() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(Duration::from_millis(1))
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    tokio::time::advance(Duration::from_micros(990)).await;
    let start = tokio::time::Instant::now();
    let policy = Policy::builder(steadfast::Constant::new(Duration::ZERO))
        .max_elapsed(Duration::from_micros(700))
        .build()
        .unwrap();
    let mut attempts = 0;
    let err = retry(|_| {
        attempts += 1;
        async { Ok::<_, &str>(()) }
    })
    .with(policy)
    .breaker(&breaker)
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), StopReason::BreakerOpen { .. }));
    assert_eq!((err.attempts(), attempts), (0, 0));
    assert_eq!(start.elapsed(), Duration::ZERO, "stopped at once, no sleep");
}

#[tokio::test(start_paused = true)]
async fn calls_waiting_on_an_open_breaker_wake_at_different_times() {
    let (breaker, policy) = open_for_two_seconds_and_a_five_second_deadline();
    let start = tokio::time::Instant::now();
    // Twenty calls wait for the same reopening time; each draws its own share of the
    // extra quarter, so they do not all arrive at the probe together.
    let woke: Vec<Duration> = futures_util::future::join_all((0..20).map(|_| {
        retry(|_| async move { Ok::<_, &str>(start.elapsed()) })
            .with(policy.clone())
            .breaker(&breaker)
            .into_future()
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert!(
        woke.iter()
            .all(|d| (Duration::from_secs(2)..=Duration::from_millis(2_500)).contains(d)),
        "{woke:?}"
    );
    let mut distinct = woke.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 15, "{woke:?}");
}

#[test]
fn debug_output_shows_the_settings_and_the_state() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    support::assert_debug_shows(
        &breaker,
        &[
            "CircuitBreaker",
            "consecutive_failures: Some(1)",
            "state: Open",
        ],
    );
}

#[test]
fn a_reset_forgets_successes_not_yet_dated_into_the_time_window() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .without_consecutive_failures()
        .time_window(Duration::from_secs(10), 0.5, 4)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..10 {
        breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Success);
    }
    breaker.reset();
    // Four failures after the reset are all the window holds: a rate of 1.
    for _ in 0..4 {
        breaker.record(breaker.try_acquire().unwrap(), CallOutcome::Failure);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn impossible_trip_rules_are_refused_by_name() {
    use steadfast::ConfigError;
    let refused = |builder: steadfast::BreakerBuilder| match builder.build() {
        Err(ConfigError::OutOfRange { setting, .. }) => setting,
        other => panic!("built: {other:?}"),
    };
    let builder = CircuitBreaker::builder;
    assert_eq!(
        refused(builder().consecutive_failures(0)),
        "consecutive failures"
    );
    assert_eq!(
        refused(builder().failure_rate(0.5, 0, 1)),
        "failure-rate window"
    );
    assert_eq!(refused(builder().failure_rate(1.5, 10, 5)), "failure rate");
    assert_eq!(refused(builder().failure_rate(0.5, 10, 0)), "minimum calls");
    assert_eq!(
        refused(builder().failure_rate(0.5, 10, 11)),
        "minimum calls"
    );
    let window = Duration::from_secs(10);
    assert_eq!(
        refused(builder().time_window(window, f64::NAN, 5)),
        "failure rate"
    );
    assert_eq!(
        refused(builder().time_window(window, 0.5, 0)),
        "minimum calls"
    );
    // The edges are allowed.
    assert!(builder().consecutive_failures(1).build().is_ok());
    assert!(builder().failure_rate(1.0, 10, 10).build().is_ok());
    assert!(builder().time_window(window, 0.0, 1).build().is_ok());
}

#[test]
fn a_builder_shows_its_settings() {
    support::assert_debug_shows(
        &CircuitBreaker::builder().consecutive_failures(4),
        &["BreakerBuilder", "consecutive_failures: Some(4)"],
    );
}
