//! A small lock-free sketch of recent latencies, from which a hedge takes its delay.
//!
//! Latencies are counted in log-linear buckets of microseconds: 16 per power of two,
//! so a bucket's width is at most a sixteenth of its value (a percentile read from it
//! is within about 6 % of the true one), from 1 µs to about 12 days in 592 counters.
//! Two sets of buckets take turns: one is filled while the percentile of the other,
//! read when it was last full, is the delay every call reads with a single load. Once a
//! period, the first recording after it ends computes the percentile of the set just
//! filled (if it holds enough samples), clears the other, and switches.

use std::fmt;
use std::time::{Duration, Instant};

use crate::clock::{Clock, DefaultClock, nanos, nanos_since};
use crate::error::ConfigError;
use crate::sync::{Arc, AtomicU64, Ordering};

/// Exact buckets below this many microseconds; 16 per power of two above.
const LINEAR: u64 = 16;
/// The largest power of two kept apart: longer latencies share the last bucket.
const MAX_EXPONENT: u32 = 39;
const BUCKETS: usize = (LINEAR + (MAX_EXPONENT as u64 - 3) * LINEAR) as usize;

/// Recent latencies of one dependency, shared by every call to it, and the percentile
/// that [`Hedge::after_percentile`](crate::Hedge::after_percentile) waits for before
/// it starts another copy.
///
/// A hedged call records the latency of its winning copy and of every copy that lost
/// the race, at the moment it lost (a lower bound of what it would have taken): a
/// sketch of winners alone would read low, since the slow copies are exactly the ones
/// cut short. Record other latencies of the dependency yourself with
/// [`record`](Self::record).
///
/// Cloning it is cheap and every clone shares one sketch.
///
/// # Default
///
/// The 95th percentile, refreshed every 10 s from the latencies of the last period
/// once it holds at least 50, and 100 ms until then.
///
/// ```
/// use std::time::Duration;
/// use steadfast::Latencies;
///
/// let latencies = Latencies::builder()
///     .percentile(0.95)
///     .initial(Duration::from_millis(30))
///     .period(Duration::from_secs(5))
///     .clock(steadfast::StdClock)
///     .build()?;
/// assert_eq!(latencies.delay(), Duration::from_millis(30));
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Latencies {
    inner: Arc<Inner>,
}

struct Inner {
    quantile: f64,
    min_samples: u64,
    period_nanos: u64,
    clock: Box<dyn Clock + Send + Sync>,
    origin: Instant,
    /// The delay calls read: the percentile of the last full period, in nanoseconds.
    delay_nanos: AtomicU64,
    /// When the set being filled is next read, on the clock of `origin`.
    rotate_at: AtomicU64,
    /// Which set is being filled (0 or 1).
    filling: AtomicU64,
    sets: [Box<[AtomicU64]>; 2],
}

impl Latencies {
    /// Settings for a sketch, starting from the defaults.
    ///
    /// ```
    /// let latencies = steadfast::Latencies::builder().percentile(0.99).build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn builder() -> LatenciesBuilder {
        LatenciesBuilder {
            quantile: 0.95,
            initial: Duration::from_millis(100),
            period: Duration::from_secs(10),
            min_samples: 50,
            clock: None,
        }
    }

    /// The delay a hedge waits now: the percentile of the last full period, or the
    /// initial delay until one has enough samples.
    ///
    /// ```
    /// let latencies = steadfast::Latencies::default();
    /// assert_eq!(latencies.delay(), std::time::Duration::from_millis(100));
    /// ```
    #[inline]
    #[must_use]
    pub fn delay(&self) -> Duration {
        Duration::from_nanos(self.inner.delay_nanos.load(Ordering::Relaxed))
    }

    /// Records one latency of the dependency.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::Latencies;
    ///
    /// let latencies = Latencies::builder().min_samples(1).period(Duration::ZERO).build()?;
    /// latencies.record(Duration::from_millis(12));
    /// latencies.record(Duration::from_millis(12)); // the period is over: the percentile is read
    /// let delay = latencies.delay();
    /// assert!(delay >= Duration::from_millis(12) && delay < Duration::from_millis(13), "{delay:?}");
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn record(&self, latency: Duration) {
        let inner = &*self.inner;
        let now = inner.now();
        inner.record_at(latency, now);
    }

    /// The sketch's clock, for the hedge that measures its copies with it.
    pub(crate) fn now(&self) -> u64 {
        self.inner.now()
    }

    /// Records a latency measured on the sketch's clock, ending at `now`.
    pub(crate) fn record_between(&self, started: u64, now: u64) {
        self.inner
            .record_at(Duration::from_nanos(now.saturating_sub(started)), now);
    }
}

impl Inner {
    fn now(&self) -> u64 {
        nanos_since(&*self.clock, self.origin)
    }

    fn record_at(&self, latency: Duration, now: u64) {
        let filling = self.filling.load(Ordering::Acquire);
        let set = &self.sets[usize::from(filling == 1)];
        if let Some(bucket) = set.get(bucket_of(latency)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let rotate_at = self.rotate_at.load(Ordering::Relaxed);
        if now >= rotate_at
            && self
                .rotate_at
                .compare_exchange(
                    rotate_at,
                    now.saturating_add(self.period_nanos),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            // This thread alone reads the set and switches.
            self.rotate(filling, set);
        }
    }

    /// Reads the percentile of the set just filled, if it holds enough samples, and
    /// starts filling the other, cleared; otherwise keeps filling the same set.
    fn rotate(&self, filling: u64, set: &[AtomicU64]) {
        let counts = set.iter().map(|bucket| bucket.load(Ordering::Relaxed));
        let Some(value) = quantile(counts, self.quantile, self.min_samples) else {
            return;
        };
        self.delay_nanos.store(nanos(value), Ordering::Relaxed);
        let other = &self.sets[usize::from(filling != 1)];
        for bucket in other.iter() {
            bucket.store(0, Ordering::Relaxed);
        }
        self.filling
            .store(u64::from(filling == 0), Ordering::Release);
        // Recordings that still land in the old set are cleared with it next time.
    }
}

/// The bucket of a latency.
fn bucket_of(latency: Duration) -> usize {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    if micros < LINEAR {
        return micros as usize;
    }
    // At least 4, since `micros` is at least 16.
    let exponent = micros.ilog2();
    if exponent > MAX_EXPONENT {
        return BUCKETS.saturating_sub(1);
    }
    // The 4 bits below the leading one choose among the 16 buckets of this power of two.
    let sub = (micros >> exponent.saturating_sub(4)) & (LINEAR - 1);
    let octave = u64::from(exponent.saturating_sub(4));
    LINEAR
        .saturating_add(octave.saturating_mul(LINEAR))
        .saturating_add(sub) as usize
}

/// The middle of a bucket's range, in microseconds.
fn bucket_value(bucket: usize) -> Duration {
    let bucket = bucket as u64;
    if bucket < LINEAR {
        return Duration::from_micros(bucket);
    }
    let above = bucket.saturating_sub(LINEAR);
    let octave = above / LINEAR;
    let exponent = octave.saturating_add(4);
    let sub = above % LINEAR;
    let width = 1_u64.checked_shl(octave as u32).unwrap_or(u64::MAX);
    let low = 1_u64
        .checked_shl(exponent as u32)
        .unwrap_or(u64::MAX)
        .saturating_add(sub.saturating_mul(width));
    Duration::from_micros(low.saturating_add(width / 2))
}

/// The `quantile` of the latencies counted in `counts`, if there are at least `min`.
fn quantile(
    counts: impl Iterator<Item = u64> + Clone,
    quantile: f64,
    min: u64,
) -> Option<Duration> {
    let total = counts.clone().fold(0_u64, u64::saturating_add);
    if total < min.max(1) {
        return None;
    }
    // The smallest latency with at least this many at or below it.
    let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0_u64;
    for (bucket, count) in counts.enumerate() {
        seen = seen.saturating_add(count);
        if seen >= rank {
            return Some(bucket_value(bucket));
        }
    }
    None
}

impl Default for Latencies {
    /// The defaults listed under [`Latencies`].
    fn default() -> Self {
        Self::from_parts(
            0.95,
            Duration::from_millis(100),
            Duration::from_secs(10),
            50,
            Box::new(DefaultClock::default()),
        )
    }
}

impl Latencies {
    fn from_parts(
        quantile: f64,
        initial: Duration,
        period: Duration,
        min_samples: u64,
        clock: Box<dyn Clock + Send + Sync>,
    ) -> Self {
        let origin = clock.now();
        let period_nanos = nanos(period);
        let set = || (0..BUCKETS).map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(Inner {
                quantile,
                min_samples,
                period_nanos,
                clock,
                origin,
                delay_nanos: AtomicU64::new(nanos(initial)),
                rotate_at: AtomicU64::new(period_nanos),
                filling: AtomicU64::new(0),
                sets: [set(), set()],
            }),
        }
    }
}

impl fmt::Debug for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latencies")
            .field("percentile", &self.inner.quantile)
            .field("delay", &self.delay())
            .finish_non_exhaustive()
    }
}

/// Settings for [`Latencies`], checked by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// let latencies = steadfast::Latencies::builder()
///     .percentile(0.9)
///     .initial(Duration::from_millis(20))
///     .min_samples(100)
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct LatenciesBuilder {
    quantile: f64,
    initial: Duration,
    period: Duration,
    min_samples: u64,
    clock: Option<Box<dyn Clock + Send + Sync>>,
}

impl LatenciesBuilder {
    /// Which percentile to wait for, as a fraction: 0.95 for the 95th. Default: 0.95,
    /// so about one call in twenty starts a second copy.
    ///
    /// ```
    /// let builder = steadfast::Latencies::builder().percentile(0.99);
    /// ```
    pub fn percentile(mut self, quantile: f64) -> Self {
        self.quantile = quantile;
        self
    }

    /// The delay until a period has enough samples. Default: 100 ms.
    ///
    /// ```
    /// let builder = steadfast::Latencies::builder().initial(std::time::Duration::from_millis(50));
    /// ```
    pub fn initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// How often the percentile is read from the latencies recorded since. Default:
    /// 10 s. A period with fewer than [`min_samples`](Self::min_samples) is extended
    /// until it has them.
    ///
    /// ```
    /// let builder = steadfast::Latencies::builder().period(std::time::Duration::from_secs(1));
    /// ```
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// The fewest latencies a period needs before its percentile is used. Default: 50.
    ///
    /// ```
    /// let builder = steadfast::Latencies::builder().min_samples(200);
    /// ```
    pub fn min_samples(mut self, samples: u64) -> Self {
        self.min_samples = samples;
        self
    }

    /// Reads the time from `clock`. Default: [`DefaultClock`].
    ///
    /// ```
    /// let builder = steadfast::Latencies::builder().clock(steadfast::StdClock);
    /// ```
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Checks the settings and builds the sketch.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] unless the percentile is between 0 and 1 (NaN is
    /// never in range).
    ///
    /// ```
    /// assert!(steadfast::Latencies::builder().percentile(95.0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Latencies, ConfigError> {
        ConfigError::check_range("percentile", self.quantile, (0.0, 1.0), "between 0 and 1")?;
        let clock = self
            .clock
            .unwrap_or_else(|| Box::new(DefaultClock::default()));
        Ok(Latencies::from_parts(
            self.quantile,
            self.initial,
            self.period,
            self.min_samples,
            clock,
        ))
    }
}

impl fmt::Debug for LatenciesBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatenciesBuilder")
            .field("percentile", &self.quantile)
            .field("initial", &self.initial)
            .field("period", &self.period)
            .field("min_samples", &self.min_samples)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn buckets_are_ordered_and_within_a_sixteenth() {
        let mut last = 0;
        for micros in (0..100_000_u64).chain([1 << 30, 1 << 39, u64::MAX / 1_000]) {
            let bucket = bucket_of(Duration::from_micros(micros));
            assert!(bucket >= last && bucket < BUCKETS, "{micros} µs: {bucket}");
            last = bucket;
            let value = bucket_value(bucket).as_micros() as f64;
            if micros < 1 << 39 {
                assert!(
                    (value - micros as f64).abs() <= micros as f64 / 16.0 + 0.5,
                    "{micros} µs read as {value}"
                );
            }
        }
        assert_eq!(BUCKETS, 592);
        assert_eq!(bucket_of(Duration::MAX), 591);
        assert_eq!(bucket_of(Duration::from_micros(1 << 39)), 576);
        assert_eq!(bucket_of(Duration::from_micros((1 << 40) - 1)), 591);
        assert_eq!(bucket_of(Duration::from_micros(1 << 40)), 591);
    }

    fn sketch(clock: &ManualClock) -> Latencies {
        Latencies::builder()
            .percentile(0.5)
            .initial(Duration::from_millis(300))
            .period(Duration::from_secs(1))
            .min_samples(10)
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    #[test]
    fn the_percentile_is_read_once_a_period_and_only_from_that_period() {
        let clock = ManualClock::default();
        let latencies = sketch(&clock);
        let ms = |n: u64| Duration::from_millis(n);
        for _ in 0..10 {
            latencies.record(ms(1));
        }
        // Within the first period: still the initial delay.
        assert_eq!(latencies.delay(), ms(300));
        clock.advance(ms(1_500));
        latencies.record(ms(1));
        let first = latencies.delay();
        assert!(
            first >= ms(1) && first < Duration::from_micros(1_040),
            "{first:?}"
        );
        // The next period holds only slow calls: its median is theirs alone.
        for _ in 0..10 {
            latencies.record(ms(50));
        }
        assert_eq!(latencies.delay(), first, "read only when the period ends");
        clock.advance(ms(1_500));
        latencies.record(ms(50));
        let second = latencies.delay().as_secs_f64() * 1e3;
        assert!((second - 50.0).abs() <= 50.0 / 16.0, "{second} ms");
        let debug = format!("{latencies:?}");
        assert!(
            debug.starts_with("Latencies { percentile: 0.5, delay: "),
            "{debug}"
        );
        let builder = format!("{:?}", Latencies::builder().min_samples(3));
        assert!(builder.contains("min_samples: 3"), "{builder}");
        // A period with too few samples is extended, not read.
        clock.advance(ms(1_500));
        latencies.record(ms(7));
        assert_eq!(latencies.delay().as_secs_f64() * 1e3, second);
    }

    #[test]
    fn the_quantile_is_read_from_the_counts() {
        let mut counts = vec![0_u64; BUCKETS];
        // 95 latencies of 10 ms and 5 of 100 ms.
        counts[bucket_of(Duration::from_millis(10))] = 95;
        counts[bucket_of(Duration::from_millis(100))] = 5;
        let at = |q| quantile(counts.iter().copied(), q, 1).unwrap().as_micros() as f64;
        assert!((at(0.95) - 10_000.0).abs() < 10_000.0 / 16.0);
        assert!((at(0.96) - 100_000.0).abs() < 100_000.0 / 16.0);
        assert_eq!(quantile(counts.iter().copied(), 0.95, 101), None);
        assert!(
            quantile(counts.iter().copied(), 0.95, 100).is_some(),
            "exactly enough"
        );
        // A bucket reads as the middle of its range: 1 984 to 2 047 µs reads 2 016.
        assert_eq!(
            bucket_value(bucket_of(Duration::from_micros(2_000))),
            Duration::from_micros(2_016)
        );
        assert_eq!(
            bucket_value(bucket_of(Duration::from_micros(7))),
            Duration::from_micros(7)
        );
    }
}
