//! Policies, breakers and budgets read from configuration (feature `serde`).
//!
//! [`Policy<AnyBackoff>`](crate::Policy), [`CircuitBreaker`], [`RetryBudget`],
//! [`AnyBackoff`] and [`Jitter`] implement `Deserialize`, so they can sit in your own
//! configuration struct and be read from TOML, JSON, YAML or any other serde format.
//! Durations are written for people: `"250ms"`, `"2s"`, `"1m 30s"`. A missing setting
//! keeps the builder's default, an unknown one is an error, and every value is checked
//! by the same builder a program would call, so a setting that cannot work is refused
//! with the builder's message (which names it, the value, and what is allowed).
//!
//! ```
//! use serde::Deserialize;
//! use steadfast::{AnyBackoff, CircuitBreaker, Policy, RetryBudget};
//!
//! #[derive(Deserialize)]
//! struct Inventory {
//!     policy: Policy<AnyBackoff>,
//!     breaker: CircuitBreaker,
//!     budget: RetryBudget,
//! }
//!
//! let inventory: Inventory = toml::from_str(r#"
//!     [policy]
//!     backoff = { kind = "exponential", base = "100ms", factor = 2.0 }
//!     jitter = "full"                # "none", "full", "equal" or { proportional = 0.2 }
//!     max_attempts = 4
//!     max_delay = "5s"
//!     max_elapsed = "10s"            # optional: the call's deadline
//!     attempt_timeout = "2s"         # optional
//!     max_retry_after = "30s"
//!
//!     [breaker]
//!     consecutive_failures = 5
//!     time_window = { window = "10s", rate = 0.5, min_calls = 20 }
//!     slow_call = "1s"
//!     open_for = "5s"
//!     open_growth = { factor = 2.0, max = "1m" }
//!     open_jitter = "equal"
//!     half_open = { probes = 2, successes = 2 }
//!
//!     [budget]
//!     kind = "ratio"                 # or "token_bucket" with per_second and burst
//!     ratio = 0.2
//!     min_per_second = 10.0
//!     window = "10s"
//!     costs = { throttled = 0.5 }    # transient, throttled, timed_out, hedge: 1 token each
//! "#)?;
//! assert_eq!(inventory.policy.max_attempts(), 4);
//! # Ok::<(), toml::de::Error>(())
//! ```
//!
//! A breaker can also count failures over its last N calls
//! (`failure_rate = { rate = 0.5, window = 100, min_calls = 20 }`) and drop a default
//! rule (`without_consecutive_failures = true`, `without_failure_rate = true`).
//!
//! The backoff `kind` is one of `constant` (`delay`), `linear` (`base`, optional
//! `step`), `exponential` (`base`, optional `factor`), `fibonacci` (`base`) and
//! `decorrelated` (`base`).

use std::time::Duration;

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, de::DeserializeOwned};

use crate::backoff::{AnyBackoff, Constant, Decorrelated, Exponential, Fibonacci, Linear};
use crate::breaker::CircuitBreaker;
use crate::budget::{RetryBudget, RetryCause};
use crate::error::ConfigError;
use crate::jitter::Jitter;
use crate::policy::Policy;

/// A duration written for people: `"250ms"`, `"2s"`, `"1m 30s"`.
#[derive(Debug, Clone, Copy)]
struct Human(Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map(Human).map_err(|error| {
            D::Error::custom(format!(
                "invalid duration {text:?}: {error} (write it like \"250ms\", \"2s\" or \"1m 30s\")"
            ))
        })
    }
}

/// Reads `Settings` and builds the value from them, refusing with the builder's error.
fn built<'de, D, Settings, T>(
    deserializer: D,
    what: &str,
    build: impl FnOnce(Settings) -> Result<T, ConfigError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    Settings: DeserializeOwned,
{
    let settings = Settings::deserialize(deserializer)?;
    build(settings).map_err(|error| D::Error::custom(format!("invalid {what}: {error}")))
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum BackoffSettings {
    Constant { delay: Human },
    Linear { base: Human, step: Option<Human> },
    Exponential { base: Human, factor: Option<f64> },
    Fibonacci { base: Human },
    Decorrelated { base: Human },
}

impl BackoffSettings {
    fn build(self) -> AnyBackoff {
        match self {
            Self::Constant { delay } => Constant::new(delay.0).into(),
            Self::Linear { base, step } => {
                let linear = Linear::new(base.0);
                step.map_or(linear, |step| linear.step(step.0)).into()
            }
            Self::Exponential { base, factor } => {
                let exponential = Exponential::new(base.0);
                factor
                    .map_or(exponential, |factor| exponential.factor(factor))
                    .into()
            }
            Self::Fibonacci { base } => Fibonacci::new(base.0).into(),
            Self::Decorrelated { base } => Decorrelated::new(base.0).into(),
        }
    }
}

/// `{ kind = "exponential", base = "100ms", factor = 2.0 }`: see the [module docs](self).
impl<'de> Deserialize<'de> for AnyBackoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let backoff = BackoffSettings::deserialize(deserializer)?.build();
        crate::backoff::Backoff::validate(&backoff)
            .map_err(|error| D::Error::custom(format!("invalid backoff: {error}")))?;
        Ok(backoff)
    }
}

/// A name, or a map for the one kind with a setting: the same shape in every format
/// (YAML writes enums as tags, which no other format shares).
#[derive(Deserialize)]
#[serde(untagged)]
enum JitterSettings {
    Named(String),
    Proportional { proportional: f64 },
}

/// `"none"`, `"full"`, `"equal"` or `{ proportional = 0.2 }`.
impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match JitterSettings::deserialize(deserializer)? {
            JitterSettings::Named(name) => match name.as_str() {
                "none" => Ok(Jitter::none()),
                "full" => Ok(Jitter::full()),
                "equal" => Ok(Jitter::equal()),
                _ => Err(D::Error::custom(format!(
                    "unknown jitter {name:?}: expected \"none\", \"full\", \"equal\" or {{ proportional = fraction }}"
                ))),
            },
            JitterSettings::Proportional { proportional } => Jitter::proportional(proportional)
                .map_err(|error| D::Error::custom(format!("invalid jitter: {error}"))),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySettings {
    #[serde(default)]
    backoff: AnyBackoff,
    jitter: Option<Jitter>,
    max_attempts: Option<u32>,
    max_delay: Option<Human>,
    max_elapsed: Option<Human>,
    attempt_timeout: Option<Human>,
    max_retry_after: Option<Human>,
}

/// The settings of [`PolicyBuilder`](crate::PolicyBuilder), each optional: see the
/// [module docs](self).
impl<'de> Deserialize<'de> for Policy<AnyBackoff> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        built(deserializer, "policy", |settings: PolicySettings| {
            let mut builder = Policy::builder(settings.backoff);
            if let Some(jitter) = settings.jitter {
                builder = builder.jitter(jitter);
            }
            if let Some(attempts) = settings.max_attempts {
                builder = builder.max_attempts(attempts);
            }
            if let Some(cap) = settings.max_delay {
                builder = builder.max_delay(cap.0);
            }
            if let Some(deadline) = settings.max_elapsed {
                builder = builder.max_elapsed(deadline.0);
            }
            if let Some(timeout) = settings.attempt_timeout {
                builder = builder.attempt_timeout(timeout.0);
            }
            if let Some(limit) = settings.max_retry_after {
                builder = builder.max_retry_after(limit.0);
            }
            builder.build()
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountRule {
    rate: f64,
    window: u32,
    min_calls: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeRule {
    window: Human,
    rate: f64,
    min_calls: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Growth {
    factor: f64,
    max: Human,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HalfOpen {
    probes: u32,
    successes: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerSettings {
    consecutive_failures: Option<u32>,
    #[serde(default)]
    without_consecutive_failures: bool,
    failure_rate: Option<CountRule>,
    time_window: Option<TimeRule>,
    #[serde(default)]
    without_failure_rate: bool,
    slow_call: Option<Human>,
    open_for: Option<Human>,
    open_growth: Option<Growth>,
    open_jitter: Option<Jitter>,
    half_open: Option<HalfOpen>,
    #[cfg(feature = "metrics")]
    metrics: Option<String>,
}

/// The settings of [`BreakerBuilder`](crate::BreakerBuilder), each optional: see the
/// [module docs](self).
impl<'de> Deserialize<'de> for CircuitBreaker {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        built(deserializer, "breaker", |settings: BreakerSettings| {
            let mut builder = CircuitBreaker::builder();
            if settings.without_consecutive_failures {
                builder = builder.without_consecutive_failures();
            }
            if let Some(failures) = settings.consecutive_failures {
                builder = builder.consecutive_failures(failures);
            }
            if settings.without_failure_rate {
                builder = builder.without_failure_rate();
            }
            if let Some(rule) = settings.failure_rate {
                builder = builder.failure_rate(rule.rate, rule.window, rule.min_calls);
            }
            if let Some(rule) = settings.time_window {
                builder = builder.time_window(rule.window.0, rule.rate, rule.min_calls);
            }
            if let Some(threshold) = settings.slow_call {
                builder = builder.slow_call(threshold.0);
            }
            if let Some(duration) = settings.open_for {
                builder = builder.open_for(duration.0);
            }
            if let Some(growth) = settings.open_growth {
                builder = builder.open_growth(growth.factor, growth.max.0);
            }
            if let Some(jitter) = settings.open_jitter {
                builder = builder.open_jitter(jitter);
            }
            if let Some(half_open) = settings.half_open {
                builder = builder.half_open_probes(half_open.probes, half_open.successes);
            }
            #[cfg(feature = "metrics")]
            if let Some(name) = settings.metrics {
                builder = builder.metrics(name);
            }
            builder.build()
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Costs {
    transient: Option<f64>,
    throttled: Option<f64>,
    timed_out: Option<f64>,
    hedge: Option<f64>,
}

impl Costs {
    fn each(&self) -> impl Iterator<Item = (RetryCause, f64)> {
        [
            (RetryCause::Transient, self.transient),
            (RetryCause::Throttled, self.throttled),
            (RetryCause::TimedOut, self.timed_out),
            (RetryCause::Hedge, self.hedge),
        ]
        .into_iter()
        .filter_map(|(cause, cost)| Some((cause, cost?)))
    }
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum BudgetSettings {
    Ratio {
        ratio: f64,
        min_per_second: Option<f64>,
        window: Option<Human>,
        #[serde(default)]
        costs: Costs,
        #[cfg(feature = "metrics")]
        metrics: Option<String>,
    },
    TokenBucket {
        per_second: f64,
        burst: f64,
        #[serde(default)]
        costs: Costs,
        #[cfg(feature = "metrics")]
        metrics: Option<String>,
    },
}

/// Applies the settings that both kinds of budget share to either kind's builder.
macro_rules! shared {
    ($builder:ident, $costs:ident, $metrics:ident) => {{
        let mut builder = $builder;
        for (cause, cost) in $costs.each() {
            builder = builder.cost(cause, cost);
        }
        #[cfg(feature = "metrics")]
        if let Some(name) = $metrics {
            builder = builder.metrics(name);
        }
        builder
    }};
}

/// A ratio budget (`kind = "ratio"`) or a token bucket (`kind = "token_bucket"`): see
/// the [module docs](self).
impl<'de> Deserialize<'de> for RetryBudget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        built(
            deserializer,
            "budget",
            |settings: BudgetSettings| match settings {
                BudgetSettings::Ratio {
                    ratio,
                    min_per_second,
                    window,
                    costs,
                    #[cfg(feature = "metrics")]
                    metrics,
                } => {
                    let mut builder = RetryBudget::ratio(ratio);
                    if let Some(floor) = min_per_second {
                        builder = builder.min_per_second(floor);
                    }
                    if let Some(window) = window {
                        builder = builder.window(window.0);
                    }
                    shared!(builder, costs, metrics).build()
                }
                BudgetSettings::TokenBucket {
                    per_second,
                    burst,
                    costs,
                    #[cfg(feature = "metrics")]
                    metrics,
                } => {
                    let builder = RetryBudget::token_bucket(per_second, burst);
                    shared!(builder, costs, metrics).build()
                }
            },
        )
    }
}
