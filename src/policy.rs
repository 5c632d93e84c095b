//! Retry policies: whether to try again after a failure, and after how long.

use std::time::Duration;

use crate::backoff::{Backoff, Exponential};
use crate::clock::nanos;
use crate::error::ConfigError;
use crate::jitter::Jitter;
use crate::rng::JitterRng;

/// A duration setting that may be absent, in nanoseconds: `NONE` stands for "no limit"
/// (584 years, which no call reaches), so the setting takes 8 bytes in every call's
/// future rather than an `Option<Duration>`'s 16.
const NONE: u64 = u64::MAX;

#[inline]
fn optional(nanos: u64) -> Option<Duration> {
    (nanos != NONE).then(|| Duration::from_nanos(nanos))
}

/// The longest server-given delay (`Retry-After`) honoured unless a policy says
/// otherwise: one minute.
///
/// ```
/// use steadfast::{Policy, RetryPolicy, DEFAULT_MAX_RETRY_AFTER};
/// assert_eq!(Policy::default().max_retry_after(), DEFAULT_MAX_RETRY_AFTER);
/// ```
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Decides, after each failed attempt, whether to try again and after how long.
///
/// The retry engine does the rest: it raises the delay to a server's hint (up to
/// [`max_retry_after`](Self::max_retry_after)), never starts a sleep that would end
/// past [`max_elapsed`](Self::max_elapsed), and bounds each attempt by
/// [`attempt_timeout`](Self::attempt_timeout). [`Policy`] is the ready-made
/// implementation; implement the trait for rules of your own.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{retry, RetryPolicy};
///
/// /// Retries twice, quickly, then once more after a long pause.
/// struct TwoQuickOneSlow;
///
/// impl RetryPolicy for TwoQuickOneSlow {
///     fn next_delay(&mut self, failed_attempt: u32) -> Option<Duration> {
///         match failed_attempt {
///             1 | 2 => Some(Duration::ZERO),
///             3 => Some(Duration::from_secs(5)),
///             _ => None,
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let err = retry(|_| async { Err::<(), _>("no") }).with(TwoQuickOneSlow).await.unwrap_err();
/// assert_eq!(err.attempts(), 4);
/// # }
/// ```
///
/// A builder is not a policy until it is built; the compiler says so:
///
/// ```compile_fail
/// use steadfast::{retry, Exponential, Policy};
/// // error: `PolicyBuilder<Exponential>` is not a retry policy
/// //  note: a `PolicyBuilder` becomes a `Policy` with `.build()?`
/// let call = retry(|_| async { Ok::<_, ()>(()) }).with(Policy::builder(Exponential::default()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a retry policy",
    label = "expected a policy here",
    note = "a `PolicyBuilder` becomes a `Policy` with `.build()?`; a backoff such as `Exponential` needs `Policy::builder(backoff).build()?`"
)]
pub trait RetryPolicy {
    /// Called once per call, before its first delay is asked for (that is, after its
    /// first failure, or a wait for a breaker; a call that succeeds at once never calls
    /// it), with 64 bits unique to the call and the process: reseed jitter and forget
    /// any earlier call here.
    fn start(&mut self, entropy: u64) {
        let _ = entropy;
    }

    /// The delay before the next attempt, after attempt number `failed_attempt` (1 for
    /// the first attempt) failed transiently; `None` stops retrying.
    fn next_delay(&mut self, failed_attempt: u32) -> Option<Duration>;

    /// The longest a call may take, counted from its first poll. `None`: no limit.
    fn max_elapsed(&self) -> Option<Duration> {
        None
    }

    /// The longest one attempt may run before it is dropped and counted as a transient
    /// failure. `None`: no limit.
    fn attempt_timeout(&self) -> Option<Duration> {
        None
    }

    /// The longest server-given delay that is honoured. A longer one stops the call with
    /// [`StopReason::RetryAfterTooLong`](crate::StopReason::RetryAfterTooLong).
    fn max_retry_after(&self) -> Duration {
        DEFAULT_MAX_RETRY_AFTER
    }
}

/// The standard policy: a [`Backoff`] strategy, [`Jitter`], a cap on each delay, an
/// attempt limit, an optional deadline and an optional per-attempt timeout.
///
/// A policy holds the state of one call (the jitter generator, the previous delay of
/// decorrelated backoff), so give each call its own: clone a configured policy, which is
/// cheap (a copy of 88 bytes, no reference count) and reseeds when the call first needs a
/// delay.
///
/// # Default
///
/// | setting | default | why |
/// |---|---|---|
/// | backoff | [`Exponential`], 100 ms doubling | the usual first wait of in-datacentre clients; doubling is the common ground of AWS, gRPC and the SRE book |
/// | jitter | [`Jitter::full`] | spreads retries best (AWS's study of backoff and jitter) |
/// | max attempts | 3 (the first try and two retries) | the AWS SDKs' standard mode; more retries multiply load during an outage |
/// | max delay (cap) | 20 s | the AWS SDKs' cap; a longer sleep rarely beats giving up |
/// | max elapsed | none | a deadline is the caller's to choose |
/// | attempt timeout | none | likewise; the operation may have its own |
/// | max `Retry-After` | 60 s ([`DEFAULT_MAX_RETRY_AFTER`]) | long enough for throttling, short enough that a hostile header cannot park a client |
/// | seed | fresh per call | clients sharing a policy must not share a schedule |
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Decorrelated, Jitter, Policy};
///
/// let policy = Policy::builder(Decorrelated::new(Duration::from_millis(50)))
///     .jitter(Jitter::none())
///     .max_attempts(6)
///     .max_delay(Duration::from_secs(2))
///     .max_elapsed(Duration::from_secs(10))
///     .attempt_timeout(Duration::from_secs(1))
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Policy<B = Exponential> {
    config: PolicyBuilder<B>,
    rng: JitterRng,
}

impl Policy {
    /// Starts a policy with the given backoff strategy and every other setting at its
    /// default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{Constant, Policy};
    ///
    /// let policy = Policy::builder(Constant::new(Duration::from_millis(10))).build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub const fn builder<B: Backoff>(backoff: B) -> PolicyBuilder<B> {
        PolicyBuilder {
            backoff,
            jitter: Jitter::full(),
            max_delay: 20_000_000_000,
            max_attempts: 3,
            seeded: false,
            max_elapsed: NONE,
            attempt_timeout: NONE,
            max_retry_after: 60_000_000_000,
            seed: 0,
        }
    }
}

impl Default for Policy {
    /// The defaults listed under [`Policy`].
    fn default() -> Self {
        let config = Policy::builder(Exponential::default());
        let rng = JitterRng::seeded(0);
        Self { config, rng }
    }
}

impl<B: Backoff> Policy<B> {
    /// The attempt limit, counting the first attempt.
    ///
    /// ```
    /// assert_eq!(steadfast::Policy::default().max_attempts(), 3);
    /// ```
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.config.max_attempts
    }

    /// The cap on each delay: no delay the policy gives is longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(steadfast::Policy::default().max_delay(), Duration::from_secs(20));
    /// ```
    #[must_use]
    pub fn max_delay(&self) -> Duration {
        Duration::from_nanos(self.config.max_delay)
    }
}

impl<B: Backoff> RetryPolicy for Policy<B> {
    #[inline]
    fn start(&mut self, entropy: u64) {
        let seed = if self.config.seeded {
            self.config.seed
        } else {
            entropy
        };
        self.rng = JitterRng::seeded(seed);
        self.config.backoff.reset();
    }

    #[inline]
    fn next_delay(&mut self, failed_attempt: u32) -> Option<Duration> {
        if failed_attempt >= self.config.max_attempts {
            return None;
        }
        let cap = Duration::from_nanos(self.config.max_delay);
        let delay = self
            .config
            .backoff
            .delay(failed_attempt, cap, &mut self.rng);
        Some(self.config.jitter.apply(delay, cap, &mut self.rng))
    }

    #[inline]
    fn max_elapsed(&self) -> Option<Duration> {
        optional(self.config.max_elapsed)
    }

    #[inline]
    fn attempt_timeout(&self) -> Option<Duration> {
        optional(self.config.attempt_timeout)
    }

    #[inline]
    fn max_retry_after(&self) -> Duration {
        Duration::from_nanos(self.config.max_retry_after)
    }
}

/// Settings for a [`Policy`], checked by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Linear, Policy};
///
/// let policy = Policy::builder(Linear::new(Duration::from_millis(20)))
///     .max_attempts(4)
///     .seed(42)
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PolicyBuilder<B> {
    backoff: B,
    jitter: Jitter,
    // Durations in nanoseconds (saturating at 584 years), `NONE` for "no limit": a
    // call's future carries its policy, so every byte here is a byte in every call.
    max_delay: u64,
    max_attempts: u32,
    seeded: bool,
    max_elapsed: u64,
    attempt_timeout: u64,
    max_retry_after: u64,
    seed: u64,
}

impl<B: Backoff> PolicyBuilder<B> {
    /// How delays are randomised. Default: [`Jitter::full`].
    ///
    /// ```
    /// let builder = steadfast::Policy::builder(steadfast::Exponential::default())
    ///     .jitter(steadfast::Jitter::equal());
    /// ```
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The longest delay between two attempts, jitter included (a server's
    /// `Retry-After` may exceed it, up to [`max_retry_after`](Self::max_retry_after)).
    /// Default: 20 s.
    ///
    /// ```
    /// let builder = steadfast::Policy::builder(steadfast::Exponential::default())
    ///     .max_delay(std::time::Duration::from_secs(5));
    /// ```
    pub const fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = nanos(cap);
        self
    }

    /// The most attempts a call makes, the first included. Default: 3. Zero is rejected
    /// by [`build`](Self::build); `u32::MAX` means "until something else stops it".
    ///
    /// ```
    /// let builder = steadfast::Policy::builder(steadfast::Exponential::default()).max_attempts(5);
    /// ```
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The longest a call may take, from its first poll. No sleep is started that would
    /// end past it, and an attempt still running at the deadline is dropped. Default:
    /// none.
    ///
    /// ```
    /// let builder = steadfast::Policy::builder(steadfast::Exponential::default())
    ///     .max_elapsed(std::time::Duration::from_secs(30));
    /// ```
    pub const fn max_elapsed(mut self, deadline: Duration) -> Self {
        self.max_elapsed = nanos(deadline);
        self
    }

    /// The longest one attempt may run; an attempt that takes longer is dropped and
    /// counts as a transient failure. Default: none.
    ///
    /// ```
    /// let builder = steadfast::Policy::builder(steadfast::Exponential::default())
    ///     .attempt_timeout(std::time::Duration::from_secs(2));
    /// ```
    pub const fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = nanos(timeout);
        self
    }

    /// The longest server-given delay honoured. Default: 60 s.
    ///
    /// ```
    /// let builder = steadfast::Policy::builder(steadfast::Exponential::default())
    ///     .max_retry_after(std::time::Duration::from_secs(10));
    /// ```
    pub const fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = nanos(limit);
        self
    }

    /// Fixes the jitter sequence, for reproducible schedules in tests. Default: a fresh
    /// seed per call, unique to the call and the process.
    ///
    /// ```
    /// let builder = steadfast::Policy::builder(steadfast::Exponential::default()).seed(7);
    /// ```
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.seeded = true;
        self
    }

    /// Checks the settings and returns the policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the attempt limit is zero, the deadline or attempt timeout is
    /// zero, or the backoff strategy rejects its settings (a NaN, infinite or negative
    /// factor).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::Policy;
    ///
    /// let err = Policy::builder(steadfast::Exponential::default())
    ///     .attempt_timeout(Duration::ZERO)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "attempt timeout must be longer than zero, got 0s");
    /// ```
    pub fn build(self) -> Result<Policy<B>, crate::ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        if let Some(deadline) = optional(self.max_elapsed) {
            ConfigError::check_positive("max elapsed", deadline)?;
        }
        if let Some(timeout) = optional(self.attempt_timeout) {
            ConfigError::check_positive("attempt timeout", timeout)?;
        }
        self.backoff.validate()?;
        Ok(Policy {
            config: self,
            rng: JitterRng::seeded(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Constant;

    #[test]
    fn stops_at_the_attempt_limit() {
        let mut policy = Policy::builder(Constant::new(Duration::from_millis(5)))
            .jitter(Jitter::none())
            .max_attempts(3)
            .build()
            .unwrap();
        policy.start(0);
        assert_eq!(policy.next_delay(1), Some(Duration::from_millis(5)));
        assert_eq!(policy.next_delay(2), Some(Duration::from_millis(5)));
        assert_eq!(policy.next_delay(3), None);
        assert_eq!(policy.next_delay(u32::MAX), None);
    }

    #[test]
    fn a_fixed_seed_repeats_the_schedule_across_calls() {
        let mut policy = Policy::builder(Exponential::default())
            .seed(3)
            .max_attempts(10)
            .build()
            .unwrap();
        policy.start(1);
        let first: Vec<_> = (1..10).map(|n| policy.next_delay(n)).collect();
        policy.start(2);
        let second: Vec<_> = (1..10).map(|n| policy.next_delay(n)).collect();
        assert_eq!(first, second);
    }

    #[test]
    fn fresh_entropy_gives_a_fresh_schedule() {
        let mut policy = Policy::builder(Exponential::default())
            .max_attempts(10)
            .build()
            .unwrap();
        policy.start(1);
        let first: Vec<_> = (1..10).map(|n| policy.next_delay(n)).collect();
        policy.start(2);
        let second: Vec<_> = (1..10).map(|n| policy.next_delay(n)).collect();
        assert_ne!(first, second);
    }

    #[test]
    fn reports_the_settings_it_was_built_with() {
        let policy = Policy::builder(Constant::new(Duration::from_millis(5)))
            .max_delay(Duration::from_secs(3))
            .max_attempts(7)
            .build()
            .unwrap();
        assert_eq!(policy.max_delay(), Duration::from_secs(3));
        assert_eq!(policy.max_attempts(), 7);
    }

    #[test]
    fn rejects_zero_durations() {
        let zero_deadline = Policy::builder(Exponential::default())
            .max_elapsed(Duration::ZERO)
            .build();
        assert_eq!(
            zero_deadline.unwrap_err(),
            ConfigError::ZeroDuration {
                setting: "max elapsed"
            }
        );
    }
}
