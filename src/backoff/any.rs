//! A backoff strategy chosen at run time, from configuration.

use std::time::Duration;

use super::{Backoff, Constant, Decorrelated, Exponential, Fibonacci, Linear};
use crate::error::ConfigError;
use crate::rng::JitterRng;

/// Any of the built-in strategies, chosen at run time: what a policy read from a
/// configuration file holds (see `Policy<AnyBackoff>`'s `Deserialize`, feature `serde`).
///
/// A policy whose strategy is known when the program is written keeps its own type and
/// pays nothing for this one.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{AnyBackoff, Fibonacci, Policy};
///
/// let chosen = AnyBackoff::from(Fibonacci::new(Duration::from_millis(10)));
/// let policy = Policy::builder(chosen).build()?;
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AnyBackoff {
    /// [`Constant`].
    Constant(Constant),
    /// [`Linear`].
    Linear(Linear),
    /// [`Exponential`].
    Exponential(Exponential),
    /// [`Fibonacci`].
    Fibonacci(Fibonacci),
    /// [`Decorrelated`].
    Decorrelated(Decorrelated),
}

impl Default for AnyBackoff {
    /// [`Exponential::default`], the default of a [`Policy`](crate::Policy).
    fn default() -> Self {
        Self::Exponential(Exponential::default())
    }
}

macro_rules! each {
    ($self:expr, $strategy:ident => $body:expr) => {
        match $self {
            AnyBackoff::Constant($strategy) => $body,
            AnyBackoff::Linear($strategy) => $body,
            AnyBackoff::Exponential($strategy) => $body,
            AnyBackoff::Fibonacci($strategy) => $body,
            AnyBackoff::Decorrelated($strategy) => $body,
        }
    };
}

impl Backoff for AnyBackoff {
    fn delay(&mut self, retry: u32, cap: Duration, rng: &mut JitterRng) -> Duration {
        each!(self, strategy => strategy.delay(retry, cap, rng))
    }

    fn reset(&mut self) {
        each!(self, strategy => strategy.reset());
    }

    fn validate(&self) -> Result<(), ConfigError> {
        each!(self, strategy => strategy.validate())
    }
}

macro_rules! from {
    ($($strategy:ident),*) => {$(
        impl From<$strategy> for AnyBackoff {
            fn from(strategy: $strategy) -> Self {
                Self::$strategy(strategy)
            }
        }
    )*};
}

from!(Constant, Linear, Exponential, Fibonacci, Decorrelated);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_strategy_gives_its_own_delays() {
        let ms = Duration::from_millis;
        let cap = Duration::from_secs(60);
        let mut rng = JitterRng::seeded(1);
        let mut delays = |mut backoff: AnyBackoff| -> Vec<Duration> {
            (1..=3)
                .map(|retry| backoff.delay(retry, cap, &mut rng))
                .collect()
        };
        assert_eq!(delays(Constant::new(ms(5)).into()), [5, 5, 5].map(ms));
        assert_eq!(delays(Linear::new(ms(5)).into()), [5, 10, 15].map(ms));
        assert_eq!(delays(Exponential::new(ms(5)).into()), [5, 10, 20].map(ms));
        assert_eq!(delays(Fibonacci::new(ms(5)).into()), [5, 5, 10].map(ms));
        let decorrelated = delays(Decorrelated::new(ms(5)).into());
        assert!(decorrelated.iter().all(|d| *d >= ms(5)), "{decorrelated:?}");
    }

    #[test]
    fn validation_and_reset_reach_the_strategy() {
        let invalid = AnyBackoff::from(Exponential::new(Duration::from_millis(1)).factor(-1.0));
        assert!(invalid.validate().is_err());
        let mut decorrelated = AnyBackoff::from(Decorrelated::new(Duration::from_millis(1)));
        let mut rng = JitterRng::seeded(3);
        decorrelated.delay(1, Duration::from_secs(60), &mut rng);
        decorrelated.reset();
        assert_eq!(
            decorrelated,
            AnyBackoff::from(Decorrelated::new(Duration::from_millis(1)))
        );
    }
}
