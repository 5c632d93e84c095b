//! A breaker's settings, checked when it is built.

use std::fmt;
use std::time::Duration;

use super::machine::MAX_PROBES;

/// `MAX_PROBES` in words, for messages.
const PROBES_ALLOWED: &str = "between 1 and 10000";
use super::{CircuitBreaker, StateChange, StateHook};
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::jitter::Jitter;

/// A failure-rate rule: trip when at least `rate` of the calls in a window failed, once
/// the window holds at least `min_calls` calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateRule {
    pub(crate) rate: f64,
    pub(crate) min_calls: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Settings {
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) count_window: Option<(u32, RateRule)>,
    pub(crate) time_window: Option<(Duration, RateRule)>,
    pub(crate) slow_call: Option<Duration>,
    pub(crate) open_for: Duration,
    pub(crate) open_growth: f64,
    pub(crate) max_open_for: Duration,
    pub(crate) open_jitter: Jitter,
    pub(crate) probes: u32,
    pub(crate) close_after: u32,
}

/// Settings for a [`CircuitBreaker`], checked by [`build`](Self::build).
///
/// # Default
///
/// | setting | default | why |
/// |---|---|---|
/// | consecutive failures | 5 | trips within a few calls of a hard outage |
/// | failure rate | 50% of the calls of the last 10 s, once 20 have run ([`time_window`](Self::time_window)) | catches partial outages that never fail five in a row, as resilience4j's and Polly's rate rules do; a time window counts a success in the calling thread's own memory, so a healthy breaker shared by many threads costs each call two loads and no shared write |
/// | count window | none | an exact window of the last N calls ([`failure_rate`](Self::failure_rate)) writes one shared word per call; opt in where traffic is low and exactness matters more |
/// | slow calls | not counted | a latency threshold is the caller's to choose |
/// | open for | 5 s | long enough for a restart or failover to begin |
/// | growth on repeated trips | none | opt in with [`open_growth`](Self::open_growth) |
/// | probes in half-open | 1 at a time, 1 success to close | one trial call, as Polly and most breakers do |
/// | clock | [`DefaultClock`](crate::DefaultClock) | tokio's, so paused-time tests drive the breaker |
///
/// ```
/// use std::time::Duration;
/// use steadfast::{CircuitBreaker, Jitter};
///
/// let breaker = CircuitBreaker::builder()
///     .consecutive_failures(3)
///     .failure_rate(0.25, 50, 10)
///     .time_window(Duration::from_secs(30), 0.5, 20)
///     .slow_call(Duration::from_secs(2))
///     .open_for(Duration::from_secs(1))
///     .open_growth(2.0, Duration::from_secs(60))
///     .open_jitter(Jitter::proportional(0.2)?)
///     .half_open_probes(2, 3)
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct BreakerBuilder {
    pub(crate) settings: Settings,
    pub(crate) clock: Option<Box<dyn Clock + Send + Sync>>,
    pub(crate) hook: Option<StateHook>,
    #[cfg(feature = "metrics")]
    pub(crate) meter: Option<String>,
}

impl Default for BreakerBuilder {
    fn default() -> Self {
        Self {
            settings: Settings {
                consecutive_failures: Some(5),
                count_window: None,
                time_window: Some((
                    Duration::from_secs(10),
                    RateRule {
                        rate: 0.5,
                        min_calls: 20,
                    },
                )),
                slow_call: None,
                open_for: Duration::from_secs(5),
                open_growth: 1.0,
                max_open_for: Duration::from_secs(5),
                open_jitter: Jitter::none(),
                probes: 1,
                close_after: 1,
            },
            clock: None,
            hook: None,
            #[cfg(feature = "metrics")]
            meter: None,
        }
    }
}

impl BreakerBuilder {
    /// Trips after `failures` failures in a row. Default: 5.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().consecutive_failures(10);
    /// ```
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.settings.consecutive_failures = Some(failures);
        self
    }

    /// Never trips on failures in a row alone.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().without_consecutive_failures();
    /// ```
    pub fn without_consecutive_failures(mut self) -> Self {
        self.settings.consecutive_failures = None;
        self
    }

    /// Trips when at least `rate` (0 to 1) of the last `window` calls failed, once at
    /// least `min_calls` calls are in the window. Default: off (the default rate rule
    /// is [`time_window`](Self::time_window)'s). Exact, but every call writes to the
    /// window's shared words, so threads calling one breaker contend on them.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().failure_rate(0.3, 200, 50);
    /// ```
    pub fn failure_rate(mut self, rate: f64, window: u32, min_calls: u32) -> Self {
        self.settings.count_window = Some((window, RateRule { rate, min_calls }));
        self
    }

    /// Never trips on a failure rate: removes both the count window and the time
    /// window.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().without_failure_rate();
    /// ```
    pub fn without_failure_rate(mut self) -> Self {
        self.settings.count_window = None;
        self.settings.time_window = None;
        self
    }

    /// Trips when at least `rate` (0 to 1) of the calls that ended in the last
    /// `window` of time failed, once at least `min_calls` did. The window slides in
    /// tenths. Default: 0.5 over 10 s, once 20 calls have ended.
    ///
    /// Failures are dated exactly. Successes are counted without reading the clock, in
    /// the calling thread's own memory, and dated when the window is next read (at the
    /// next failure, or a snapshot): all at that moment if the last reading was at most
    /// a window ago, otherwise the share of a window that falls inside it, as if they
    /// were spread evenly since.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder()
    ///     .time_window(std::time::Duration::from_secs(10), 0.5, 20);
    /// ```
    pub fn time_window(mut self, window: Duration, rate: f64, min_calls: u32) -> Self {
        self.settings.time_window = Some((window, RateRule { rate, min_calls }));
        self
    }

    /// Counts calls that take `threshold` or longer as failures, whatever their result.
    /// Default: off.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().slow_call(std::time::Duration::from_secs(1));
    /// ```
    pub fn slow_call(mut self, threshold: Duration) -> Self {
        self.settings.slow_call = Some(threshold);
        self
    }

    /// How long the breaker stays open after it trips. Default: 5 s.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().open_for(std::time::Duration::from_secs(30));
    /// ```
    pub fn open_for(mut self, duration: Duration) -> Self {
        self.settings.open_for = duration;
        self.settings.max_open_for = self.settings.max_open_for.max(duration);
        self
    }

    /// Multiplies the open duration by `factor` on each trip that follows a failed
    /// probe, up to `max`; it returns to [`open_for`](Self::open_for) once the breaker
    /// closes. Default: no growth.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder()
    ///     .open_growth(2.0, std::time::Duration::from_secs(120));
    /// ```
    pub fn open_growth(mut self, factor: f64, max: Duration) -> Self {
        self.settings.open_growth = factor;
        self.settings.max_open_for = max;
        self
    }

    /// Randomises each open duration, so that breakers in many processes that tripped
    /// together do not all probe together. Default: [`Jitter::none`].
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().open_jitter(steadfast::Jitter::equal());
    /// ```
    pub fn open_jitter(mut self, jitter: Jitter) -> Self {
        self.settings.open_jitter = jitter;
        self
    }

    /// In half-open, admits at most `at_once` probe calls at a time and closes after
    /// `successes` of them succeed. Default: 1 and 1.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().half_open_probes(3, 5);
    /// ```
    pub fn half_open_probes(mut self, at_once: u32, successes: u32) -> Self {
        self.settings.probes = at_once;
        self.settings.close_after = successes;
        self
    }

    /// Reads the time from `clock`. Default: [`DefaultClock`](crate::DefaultClock).
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder().clock(steadfast::StdClock);
    /// ```
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Calls `hook` on every change of state, from the thread that made it.
    ///
    /// ```
    /// let builder = steadfast::CircuitBreaker::builder()
    ///     .on_state_change(|change| eprintln!("breaker: {:?} -> {:?}", change.from, change.to));
    /// ```
    pub fn on_state_change(mut self, hook: impl Fn(&StateChange) + Send + Sync + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Counts this breaker's changes of state as
    /// `resilience.circuit_breaker.transitions`, labelled with `name`, `from` and `to`
    /// (see [`RetryMetrics`](crate::RetryMetrics) for all the names). The counters are
    /// registered when the breaker is built.
    ///
    /// ```
    /// let breaker = steadfast::CircuitBreaker::builder().metrics("inventory").build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(mut self, name: impl Into<String>) -> Self {
        self.meter = Some(name.into());
        self
    }

    /// Checks the settings and builds the breaker.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if a threshold or window size is zero, a rate is not in
    /// `0.0..=1.0` (NaN included), a minimum number of calls exceeds its window, the
    /// open duration is zero, the growth factor is below 1 or not finite, or the probe
    /// counts are zero or above 10 000.
    ///
    /// ```
    /// use steadfast::CircuitBreaker;
    ///
    /// assert!(CircuitBreaker::builder().failure_rate(f64::NAN, 100, 10).build().is_err());
    /// assert!(CircuitBreaker::builder().failure_rate(0.5, 10, 20).build().is_err());
    /// assert!(CircuitBreaker::builder().half_open_probes(0, 1).build().is_err());
    /// ```
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        let settings = &self.settings;
        if let Some(failures) = settings.consecutive_failures {
            nonzero("consecutive failures", failures)?;
        }
        if let Some((size, rule)) = settings.count_window {
            nonzero("failure-rate window", size)?;
            check_rule(rule, f64::from(size))?;
        }
        if let Some((window, rule)) = settings.time_window {
            ConfigError::check_range(
                "time window in seconds",
                window.as_secs_f64(),
                (0.1, 86_400.0),
                "between 0.1 and 86400 (a day)",
            )?;
            check_rule(rule, f64::from(u32::MAX))?;
        }
        if let Some(threshold) = settings.slow_call {
            ConfigError::check_positive("slow-call threshold", threshold)?;
        }
        ConfigError::check_positive("open duration", settings.open_for)?;
        ConfigError::check_range(
            "open growth factor",
            settings.open_growth,
            (1.0, f64::MAX),
            "a finite number, at least 1",
        )?;
        ConfigError::check_range(
            "half-open probes",
            f64::from(settings.probes),
            (1.0, f64::from(MAX_PROBES)),
            PROBES_ALLOWED,
        )?;
        ConfigError::check_range(
            "half-open successes to close",
            f64::from(settings.close_after),
            (1.0, f64::from(MAX_PROBES)),
            PROBES_ALLOWED,
        )?;
        Ok(CircuitBreaker::new(self))
    }
}

fn nonzero(setting: &'static str, value: u32) -> Result<(), ConfigError> {
    ConfigError::check_range(
        setting,
        f64::from(value),
        (1.0, f64::from(u32::MAX)),
        "at least 1",
    )
}

fn check_rule(rule: RateRule, max_calls: f64) -> Result<(), ConfigError> {
    ConfigError::check_range("failure rate", rule.rate, (0.0, 1.0), "between 0 and 1")?;
    ConfigError::check_range(
        "minimum calls",
        f64::from(rule.min_calls),
        (1.0, max_calls),
        "at least 1 and at most the window's size",
    )
}

impl fmt::Debug for BreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
