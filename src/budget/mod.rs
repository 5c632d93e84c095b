//! Retry budgets: a bound on the retries of many calls together.
//!
//! An attempt limit bounds one call, but not a fleet: with 3 attempts per call, every
//! client of a failing service sends three times its normal load, just when the
//! service can least take it, and the outage feeds itself. A budget is shared by every
//! call to one dependency and caps their retries together, so retries can add at most a
//! fixed fraction (or a fixed rate) to the load, whatever happens.
//!
//! Two kinds:
//! - a **token bucket**: at most `burst` retries at once, refilled at a fixed rate;
//! - a **ratio budget**: each first attempt deposits a fraction of a token and each
//!   retry spends one, so retries stay under that fraction of recent traffic, plus a
//!   small reserve per second so quiet clients can still retry. Deposits expire after
//!   a window, so a burst of traffic long ago does not fund a retry storm today.
//!
//! Both are lock-free: every operation is a handful of atomic operations, with one
//! compare-and-swap deciding, however long the budget sat idle.

mod ratio;
mod token_bucket;

use std::fmt;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::clock::DefaultClock;
use crate::error::ConfigError;
use crate::stripe::Striped;
use crate::sync::Arc;
use ratio::{MILLI, Ratio};
use token_bucket::TokenBucket;

/// Why a retry is wanted, which can set its price.
///
/// ```
/// use steadfast::{RetryBudget, RetryCause};
///
/// // Throttled retries wait for the server's hint anyway, so they cost half.
/// let budget = RetryBudget::token_bucket(10.0, 20.0).cost(RetryCause::Throttled, 0.5).build()?;
/// assert!(budget.try_withdraw(RetryCause::Throttled));
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryCause {
    /// The attempt failed transiently.
    Transient,
    /// The server asked to wait (a `Retry-After` hint).
    Throttled,
    /// The attempt timed out.
    TimedOut,
    /// A hedged call starts another copy of its operation while earlier ones are
    /// still in flight (see [`Hedge`](crate::Hedge)).
    Hedge,
}

/// What retries cost, in tokens, per [`RetryCause`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Costs {
    transient: f64,
    throttled: f64,
    timed_out: f64,
    hedge: f64,
}

/// What both builders share: the price of each retry and the clock.
struct Shared {
    costs: Costs,
    clock: Option<Box<dyn Clock + Send + Sync>>,
    #[cfg(feature = "metrics")]
    meter: Option<String>,
}

impl Shared {
    const fn new() -> Self {
        Self {
            costs: Costs::ONE_EACH,
            clock: None,
            #[cfg(feature = "metrics")]
            meter: None,
        }
    }

    fn build(self, kind: Kind) -> Result<RetryBudget, ConfigError> {
        self.costs.validate()?;
        let clock = self
            .clock
            .unwrap_or_else(|| Box::new(DefaultClock::default()));
        let budget = RetryBudget::from_parts(kind, self.costs, clock);
        #[cfg(feature = "metrics")]
        let budget = budget.with_meter(self.meter.as_deref());
        Ok(budget)
    }
}

impl Costs {
    const ONE_EACH: Self = Self {
        transient: 1.0,
        throttled: 1.0,
        timed_out: 1.0,
        hedge: 1.0,
    };

    fn set(&mut self, cause: RetryCause, tokens: f64) {
        match cause {
            RetryCause::Transient => self.transient = tokens,
            RetryCause::Throttled => self.throttled = tokens,
            RetryCause::TimedOut => self.timed_out = tokens,
            RetryCause::Hedge => self.hedge = tokens,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for cost in [self.transient, self.throttled, self.timed_out, self.hedge] {
            ConfigError::check_range("retry cost", cost, (0.0, MAX_COST), COST_ALLOWED)?;
        }
        Ok(())
    }
}

/// The most a single retry may cost, in tokens.
const MAX_COST: f64 = 1_000_000.0;
const COST_ALLOWED: &str = "between 0 and 1e6";

/// A budget shared by many calls and threads, bounding their retries together.
///
/// Cloning it is cheap and every clone shares one budget. Give one budget to every
/// call of one dependency, with [`Retry::budget`](crate::Retry::budget).
///
/// # Default
///
/// A ratio budget with Finagle's defaults: retries up to 20% of first attempts, plus
/// 10 retries per second, deposits expiring after 10 s, every retry costing one
/// token. They are proven across a large fleet: enough to ride out scattered failures,
/// while an outage adds at most a fifth to the load.
///
/// ```
/// use steadfast::{RetryBudget, RetryCause};
///
/// let budget = RetryBudget::ratio(0.1).min_per_second(0.0).build()?;
/// for _ in 0..20 {
///     budget.deposit(); // twenty first attempts...
/// }
/// assert!(budget.try_withdraw(RetryCause::Transient)); // ...fund two retries
/// assert!(budget.try_withdraw(RetryCause::Transient));
/// assert!(!budget.try_withdraw(RetryCause::Transient));
/// assert_eq!(budget.snapshot().denied, 1);
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    costs: Costs,
    clock: Box<dyn Clock + Send + Sync>,
    origin: Instant,
    // Striped: every retry of every thread counts itself here.
    granted: Striped,
    denied: Striped,
    #[cfg(feature = "metrics")]
    meter: Option<crate::meter::BudgetMeter>,
}

#[derive(Debug)]
// One per budget, inside its `Arc`: a box for the larger variant would only add a
// pointer to follow on every deposit.
#[allow(clippy::large_enum_variant)]
enum Kind {
    TokenBucket(TokenBucket),
    Ratio(Ratio),
}

impl RetryBudget {
    /// A token bucket holding up to `burst` tokens, refilled at `per_second` tokens a
    /// second, and full to begin with.
    ///
    /// ```
    /// use steadfast::{RetryBudget, RetryCause};
    ///
    /// let budget = RetryBudget::token_bucket(1.0, 2.0).build()?;
    /// assert!(budget.try_withdraw(RetryCause::Transient));
    /// assert!(budget.try_withdraw(RetryCause::Transient));
    /// assert!(!budget.try_withdraw(RetryCause::Transient));
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn token_bucket(per_second: f64, burst: f64) -> TokenBucketBuilder {
        TokenBucketBuilder {
            per_second,
            burst,
            shared: Shared::new(),
        }
    }

    /// A ratio budget: each first attempt deposits `ratio` tokens (0.2 lets retries add
    /// a fifth to the load).
    ///
    /// ```
    /// let budget = steadfast::RetryBudget::ratio(0.25).build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn ratio(ratio: f64) -> RatioBuilder {
        RatioBuilder {
            ratio,
            min_per_second: 10.0,
            window: Duration::from_secs(10),
            shared: Shared::new(),
        }
    }

    fn now(&self) -> u64 {
        crate::clock::nanos_since(&*self.inner.clock, self.inner.origin)
    }

    /// Records a first attempt. Ratio budgets grow by their ratio; token buckets ignore
    /// it. [`retry`](crate::retry) calls this for you.
    ///
    /// Every call deposits, so a deposit reads no clock and writes only to the calling
    /// thread's own counter cell: threads sharing a budget never contend on it. The
    /// deposits are dated when the budget next needs them (a withdrawal that the
    /// deposits dated so far cannot pay for, or a snapshot): all at that moment if the
    /// last dating was at most a window ago, otherwise the share of a window that
    /// falls inside it, as if spread evenly since. So a deposit may outlive its window
    /// by as long as it waited to be dated.
    ///
    /// ```
    /// let budget = steadfast::RetryBudget::ratio(0.5).min_per_second(0.0).build()?;
    /// budget.deposit();
    /// budget.deposit();
    /// assert_eq!(budget.snapshot().balance, 1.0);
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    #[inline]
    pub fn deposit(&self) {
        if let Kind::Ratio(ratio) = &self.inner.kind {
            ratio.deposit();
        }
    }

    /// Spends the price of one retry for `cause`, if the budget has it; `false` means
    /// the retry must not happen. [`retry`](crate::retry) calls this before each retry.
    ///
    /// ```
    /// use steadfast::{RetryBudget, RetryCause};
    /// let budget = RetryBudget::token_bucket(5.0, 1.0).build()?;
    /// assert!(budget.try_withdraw(RetryCause::TimedOut));
    /// assert!(!budget.try_withdraw(RetryCause::TimedOut));
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    pub fn try_withdraw(&self, cause: RetryCause) -> bool {
        let inner = &*self.inner;
        let cost = match cause {
            RetryCause::Transient => inner.costs.transient,
            RetryCause::Throttled => inner.costs.throttled,
            RetryCause::TimedOut => inner.costs.timed_out,
            RetryCause::Hedge => inner.costs.hedge,
        };
        let now = self.now();
        let granted = match &inner.kind {
            Kind::TokenBucket(bucket) => bucket.try_take(bucket.cost_nanos(cost), now),
            // Costs are at most a million tokens, so a thousandth-token count fits.
            Kind::Ratio(ratio) => ratio.try_withdraw((cost * MILLI).round() as u32, now),
        };
        let counter = if granted {
            &inner.granted
        } else {
            &inner.denied
        };
        counter.add(1);
        if !granted {
            tracing::debug!(cause = ?cause, "retry budget exhausted");
            #[cfg(feature = "metrics")]
            if let Some(meter) = &inner.meter {
                meter.denied();
            }
        }
        granted
    }

    /// The budget's state now: tokens available, and retries granted and denied so far.
    ///
    /// ```
    /// use steadfast::{RetryBudget, RetryCause};
    /// let budget = RetryBudget::token_bucket(1.0, 3.0).build()?;
    /// budget.try_withdraw(RetryCause::Transient);
    /// let snapshot = budget.snapshot();
    /// assert_eq!((snapshot.granted, snapshot.denied), (1, 0));
    /// assert!((snapshot.balance - 2.0).abs() < 0.01, "two tokens left, plus any refill since");
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> BudgetSnapshot {
        let now = self.now();
        let balance = match &self.inner.kind {
            Kind::TokenBucket(bucket) => bucket.balance(now),
            Kind::Ratio(ratio) => ratio.balance(now),
        };
        BudgetSnapshot {
            balance,
            granted: self.inner.granted.sum(),
            denied: self.inner.denied.sum(),
        }
    }
}

impl Default for RetryBudget {
    /// The defaults listed under [`RetryBudget`].
    fn default() -> Self {
        Self::from_parts(
            Kind::Ratio(Ratio::new(0.2, 10.0, 10_000_000_000)),
            Costs::ONE_EACH,
            Box::new(DefaultClock::default()),
        )
    }
}

impl RetryBudget {
    /// Counts denials under `name`, on a budget just built (its `Arc` not yet shared).
    #[cfg(feature = "metrics")]
    fn with_meter(mut self, name: Option<&str>) -> Self {
        if let (Some(name), Some(inner)) = (name, Arc::get_mut(&mut self.inner)) {
            inner.meter = Some(crate::meter::BudgetMeter::new(name));
        }
        self
    }

    fn from_parts(kind: Kind, costs: Costs, clock: Box<dyn Clock + Send + Sync>) -> Self {
        let origin = clock.now();
        let inner = Inner {
            kind,
            costs,
            clock,
            origin,
            granted: Striped::default(),
            denied: Striped::default(),
            #[cfg(feature = "metrics")]
            meter: None,
        };
        Self {
            inner: Arc::new(inner),
        }
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("kind", &self.inner.kind)
            .field("costs", &self.inner.costs)
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}

/// A budget's state at one moment.
///
/// ```
/// let snapshot = steadfast::RetryBudget::default().snapshot();
/// assert_eq!(snapshot.balance, 100.0); // the reserve: 10 per second over 10 s
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BudgetSnapshot {
    /// Tokens available now.
    pub balance: f64,
    /// Retries granted since the budget was built.
    pub granted: u64,
    /// Retries denied since the budget was built.
    pub denied: u64,
}

/// Settings for a token-bucket [`RetryBudget`], checked by [`build`](Self::build).
///
/// ```
/// use steadfast::{RetryBudget, RetryCause};
///
/// let budget = RetryBudget::token_bucket(50.0, 100.0)
///     .cost(RetryCause::TimedOut, 2.0)
///     .clock(steadfast::StdClock)
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct TokenBucketBuilder {
    per_second: f64,
    burst: f64,
    shared: Shared,
}

impl TokenBucketBuilder {
    /// What a retry for `cause` costs, in tokens. Default: 1 for every cause.
    ///
    /// ```
    /// use steadfast::{RetryBudget, RetryCause};
    /// let builder = RetryBudget::token_bucket(10.0, 10.0).cost(RetryCause::Throttled, 0.5);
    /// ```
    pub fn cost(mut self, cause: RetryCause, tokens: f64) -> Self {
        self.shared.costs.set(cause, tokens);
        self
    }

    /// Reads the time from `clock`. Default: [`DefaultClock`].
    ///
    /// ```
    /// let builder = steadfast::RetryBudget::token_bucket(10.0, 10.0).clock(steadfast::StdClock);
    /// ```
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.shared.clock = Some(Box::new(clock));
        self
    }

    /// Counts the retries this budget refuses as `resilience.retry_budget.denied`,
    /// labelled with `name` (see [`RetryMetrics`](crate::RetryMetrics) for all the
    /// names). The counter is registered when the budget is built.
    ///
    /// ```
    /// let budget = steadfast::RetryBudget::token_bucket(10.0, 10.0).metrics("inventory").build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(mut self, name: impl Into<String>) -> Self {
        self.shared.meter = Some(name.into());
        self
    }

    /// Checks the settings and builds the budget.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] unless the rate is positive and at most 10^9 per
    /// second, the burst is between 0 and 10^12 tokens, and every cost is between 0 and
    /// 10^6 tokens (NaN is never in range).
    ///
    /// ```
    /// use steadfast::RetryBudget;
    /// assert!(RetryBudget::token_bucket(f64::NAN, 1.0).build().is_err());
    /// assert!(RetryBudget::token_bucket(0.0, 1.0).build().is_err());
    /// assert!(RetryBudget::token_bucket(1.0, -1.0).build().is_err());
    /// ```
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        ConfigError::check_range(
            "refill rate per second",
            self.per_second,
            (f64::MIN_POSITIVE, 1e9),
            "greater than 0 and at most 1e9",
        )?;
        ConfigError::check_range("burst", self.burst, (0.0, 1e12), "between 0 and 1e12")?;
        self.shared.build(Kind::TokenBucket(TokenBucket::new(
            self.per_second,
            self.burst,
        )))
    }
}

impl fmt::Debug for TokenBucketBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBucketBuilder")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("costs", &self.shared.costs)
            .finish_non_exhaustive()
    }
}

/// Settings for a ratio [`RetryBudget`], checked by [`build`](Self::build).
///
/// # Default
///
/// A reserve of 10 retries per second and a window of 10 s (Finagle's defaults), and a
/// cost of 1 token for every cause.
///
/// ```
/// use std::time::Duration;
/// use steadfast::RetryBudget;
///
/// let budget = RetryBudget::ratio(0.1)
///     .min_per_second(1.0)
///     .window(Duration::from_secs(30))
///     .build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct RatioBuilder {
    ratio: f64,
    min_per_second: f64,
    window: Duration,
    shared: Shared,
}

impl RatioBuilder {
    /// Retries allowed per second whatever the traffic, so quiet clients can still
    /// retry. Default: 10.
    ///
    /// ```
    /// let builder = steadfast::RetryBudget::ratio(0.2).min_per_second(0.5);
    /// ```
    pub fn min_per_second(mut self, retries: f64) -> Self {
        self.min_per_second = retries;
        self
    }

    /// How long a deposit funds retries before it expires. Default: 10 s.
    ///
    /// ```
    /// let builder = steadfast::RetryBudget::ratio(0.2).window(std::time::Duration::from_secs(60));
    /// ```
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// What a retry for `cause` costs, in tokens. Default: 1 for every cause.
    ///
    /// ```
    /// use steadfast::{RetryBudget, RetryCause};
    /// let builder = RetryBudget::ratio(0.2).cost(RetryCause::Throttled, 0.5);
    /// ```
    pub fn cost(mut self, cause: RetryCause, tokens: f64) -> Self {
        self.shared.costs.set(cause, tokens);
        self
    }

    /// Reads the time from `clock`. Default: [`DefaultClock`].
    ///
    /// ```
    /// let builder = steadfast::RetryBudget::ratio(0.2).clock(steadfast::StdClock);
    /// ```
    pub fn clock(mut self, clock: impl Clock + Send + Sync + 'static) -> Self {
        self.shared.clock = Some(Box::new(clock));
        self
    }

    /// Counts the retries this budget refuses as `resilience.retry_budget.denied`,
    /// labelled with `name` (see [`RetryMetrics`](crate::RetryMetrics) for all the
    /// names). The counter is registered when the budget is built.
    ///
    /// ```
    /// let budget = steadfast::RetryBudget::ratio(0.2).metrics("inventory").build()?;
    /// # Ok::<(), steadfast::ConfigError>(())
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(mut self, name: impl Into<String>) -> Self {
        self.shared.meter = Some(name.into());
        self
    }

    /// Checks the settings and builds the budget.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] unless the ratio is between 0 and 1000, the reserve
    /// between 0 and 10^9 per second, the window between 1 s and one day, and every
    /// cost between 0 and 10^6 tokens (NaN is never in range).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::RetryBudget;
    /// assert!(RetryBudget::ratio(-0.1).build().is_err());
    /// assert!(RetryBudget::ratio(0.2).window(Duration::from_millis(10)).build().is_err());
    /// ```
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        ConfigError::check_range("ratio", self.ratio, (0.0, 1000.0), "between 0 and 1000")?;
        ConfigError::check_range(
            "minimum retries per second",
            self.min_per_second,
            (0.0, 1e9),
            "between 0 and 1e9",
        )?;
        ConfigError::check_range(
            "window in seconds",
            self.window.as_secs_f64(),
            (1.0, 86_400.0),
            "between 1 and 86400 (a day)",
        )?;
        let window_nanos = crate::clock::nanos(self.window);
        self.shared.build(Kind::Ratio(Ratio::new(
            self.ratio,
            self.min_per_second,
            window_nanos,
        )))
    }
}

impl fmt::Debug for RatioBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatioBuilder")
            .field("ratio", &self.ratio)
            .field("min_per_second", &self.min_per_second)
            .field("window", &self.window)
            .field("costs", &self.shared.costs)
            .finish_non_exhaustive()
    }
}
