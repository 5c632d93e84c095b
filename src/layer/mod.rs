//! A tower [`Layer`]: the same retries, breaker and budget for any [`Service`] whose
//! requests can be cloned.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::{Exponential, Policy, RetryLayer};
//! use tower_layer::Layer;
//!
//! # fn wrap<S: Clone>(client: S) -> Result<(), steadfast::ConfigError> {
//! let layer = RetryLayer::new()
//!     .with(Policy::builder(Exponential::new(Duration::from_millis(50))).max_attempts(4).build()?);
//! let client = layer.layer(client);
//! # Ok(())
//! # }
//! ```

mod operation;
mod request;

use operation::ServiceOperation;
pub use request::RetryRequest;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use tower_layer::Layer;
use tower_service::Service;

use crate::breaker::CircuitBreaker;
use crate::budget::RetryBudget;
use crate::classify::Classify;
use crate::classify::RetryAnyError;
use crate::clock::Clock;
use crate::clock::DefaultClock;
use crate::error::AttemptError;
use crate::error::RetryError;
use crate::error::StopReason;
use crate::idempotency::Idempotency;
use crate::policy::Policy;
use crate::policy::RetryPolicy;
use crate::registry::{Keyed, OneOrKeyed};
use crate::retry::Retry;
use crate::sleep::DefaultSleeper;
use crate::sleep::Sleeper;
use crate::throttle::AdaptiveThrottle;

pin_project! {
    /// The future of one call through a [`RetryService`]: a [`Retry`] over the service,
    /// inline, with no allocation of its own.
    ///
    /// ```
    /// use steadfast::{Policy, RetryAnyError, RetryServiceFuture, TokioClock, TokioSleeper};
    ///
    /// /// The future of a retried call to `S` with `Req` requests and the default settings.
    /// type Call<S, Req> = RetryServiceFuture<S, Req, Policy, RetryAnyError, TokioSleeper, TokioClock>;
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RetryServiceFuture<Svc, Req, P, C, S, K>
    where
        Svc: Service<Req>,
        Svc: Clone,
        Req: RetryRequest,
        S: Sleeper,
    {
        #[pin]
        call: Retry<'static, ServiceOperation<Svc, Req>, P, C, (), S, K>,
    }
}

impl<Svc, Req, P, C, S, K> Future for RetryServiceFuture<Svc, Req, P, C, S, K>
where
    Svc: Service<Req, Error: fmt::Display> + Clone,
    Req: RetryRequest,
    P: RetryPolicy,
    C: Classify<Svc::Response, Svc::Error>,
    S: Sleeper<Sleep: Future<Output = ()>>,
    K: Clock,
{
    type Output = Result<Svc::Response, RetryError<Svc::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().call.poll(cx)
    }
}

impl<Svc, Req, P, C, S, K> fmt::Debug for RetryServiceFuture<Svc, Req, P, C, S, K>
where
    Svc: Service<Req> + Clone,
    Req: RetryRequest,
    S: Sleeper,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.call, f)
    }
}

/// Retries calls to the service it wraps.
///
/// Each call gets its own copy of the policy (so its own jitter and schedule); every
/// call through one layer, and through every clone of the services it made, shares one
/// [`RetryBudget`] and, if given, one [`CircuitBreaker`].
///
/// # Default
///
/// [`Policy::default`], every error retried ([`RetryAnyError`]; use
/// [`HttpClassifier`](crate::HttpClassifier) for HTTP), a [`RetryBudget::default`] of
/// the layer's own (a layer is the natural owner of one, so it is on by default), no
/// breaker, and no idempotency keys sent: requests that are not idempotent are retried
/// only after failures that happened before they were sent.
///
/// ```
/// use steadfast::{HttpClassifier, RetryBudget, RetryLayer};
///
/// let layer = RetryLayer::new()
///     .classify(HttpClassifier::new())
///     .budget(&RetryBudget::ratio(0.1).build()?)
///     .with_idempotency_keys();
/// # Ok::<(), steadfast::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct RetryLayer<P = Policy, C = RetryAnyError, S = DefaultSleeper, K = DefaultClock> {
    policy: P,
    classifier: C,
    sleeper: S,
    clock: K,
    budget: Option<OneOrKeyed<RetryBudget>>,
    breaker: Option<OneOrKeyed<CircuitBreaker>>,
    throttle: Option<OneOrKeyed<AdaptiveThrottle>>,
    send_keys: bool,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::meter::RetryMetrics>,
}

impl RetryLayer {
    /// A layer with the defaults listed above.
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new();
    /// ```
    pub fn new() -> Self {
        Self {
            policy: Policy::default(),
            classifier: RetryAnyError,
            sleeper: DefaultSleeper::default(),
            clock: DefaultClock::default(),
            budget: Some(OneOrKeyed::One(RetryBudget::default())),
            breaker: None,
            throttle: None,
            send_keys: false,
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<P, C, S, K> RetryLayer<P, C, S, K> {
    /// Uses `policy` (cloned for each call).
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().with(steadfast::Policy::default());
    /// ```
    pub fn with<P2: RetryPolicy + Clone>(self, policy: P2) -> RetryLayer<P2, C, S, K> {
        RetryLayer {
            policy,
            classifier: self.classifier,
            sleeper: self.sleeper,
            clock: self.clock,
            budget: self.budget,
            breaker: self.breaker,
            throttle: self.throttle,
            send_keys: self.send_keys,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
        }
    }

    /// Judges each attempt with `classifier` (cloned for each call).
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().classify(steadfast::HttpClassifier::new());
    /// ```
    pub fn classify<C2: Clone>(self, classifier: C2) -> RetryLayer<P, C2, S, K> {
        RetryLayer {
            policy: self.policy,
            classifier,
            sleeper: self.sleeper,
            clock: self.clock,
            budget: self.budget,
            breaker: self.breaker,
            throttle: self.throttle,
            send_keys: self.send_keys,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
        }
    }

    /// Waits on `sleeper`'s timers.
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().sleeper(steadfast::TokioSleeper);
    /// ```
    pub fn sleeper<S2: Sleeper + Clone>(self, sleeper: S2) -> RetryLayer<P, C, S2, K> {
        RetryLayer {
            policy: self.policy,
            classifier: self.classifier,
            sleeper,
            clock: self.clock,
            budget: self.budget,
            breaker: self.breaker,
            throttle: self.throttle,
            send_keys: self.send_keys,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
        }
    }

    /// Reads the time from `clock`.
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().clock(steadfast::StdClock);
    /// ```
    pub fn clock<K2: Clock + Clone>(self, clock: K2) -> RetryLayer<P, C, S, K2> {
        RetryLayer {
            policy: self.policy,
            classifier: self.classifier,
            sleeper: self.sleeper,
            clock,
            budget: self.budget,
            breaker: self.breaker,
            throttle: self.throttle,
            send_keys: self.send_keys,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
        }
    }

    /// Shares `budget` instead of the layer's own.
    ///
    /// ```
    /// let shared = steadfast::RetryBudget::default();
    /// let layer = steadfast::RetryLayer::new().budget(&shared);
    /// ```
    pub fn budget(mut self, budget: &RetryBudget) -> Self {
        self.budget = Some(OneOrKeyed::One(budget.clone()));
        self
    }

    /// Bounds the retries of each request's key ([`RetryRequest::key`]: for HTTP, the
    /// host and port) with a budget of its own, made on first use.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{Keyed, RetryBudget, RetryLayer};
    ///
    /// let layer = RetryLayer::new().budgets(Keyed::new(256, Duration::from_secs(600), |_: &str| {
    ///     RetryBudget::default()
    /// }));
    /// ```
    pub fn budgets(mut self, budgets: Keyed<RetryBudget>) -> Self {
        self.budget = Some(OneOrKeyed::PerKey(budgets));
        self
    }

    /// Retries without a budget: only the policy limits them.
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().without_budget();
    /// ```
    pub fn without_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// Puts every attempt through `breaker`.
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().breaker(&steadfast::CircuitBreaker::default());
    /// ```
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.breaker = Some(OneOrKeyed::One(breaker.clone()));
        self
    }

    /// Puts each request through the breaker of its key ([`RetryRequest::key`]: for
    /// HTTP, the host and port), made on first use: one host's outage never opens
    /// another's breaker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{CircuitBreaker, Keyed, RetryLayer};
    ///
    /// let layer = RetryLayer::new().breakers(Keyed::new(256, Duration::from_secs(600), |_: &str| {
    ///     CircuitBreaker::default()
    /// }));
    /// ```
    pub fn breakers(mut self, breakers: Keyed<CircuitBreaker>) -> Self {
        self.breaker = Some(OneOrKeyed::PerKey(breakers));
        self
    }

    /// Puts every attempt through `throttle`, adaptive client-side throttling (see
    /// [`Retry::throttle`](crate::Retry::throttle)): while the service refuses most
    /// requests, the layer rejects some before they are sent.
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().throttle(&steadfast::AdaptiveThrottle::default());
    /// ```
    pub fn throttle(mut self, throttle: &AdaptiveThrottle) -> Self {
        self.throttle = Some(OneOrKeyed::One(throttle.clone()));
        self
    }

    /// Puts each request through the throttle of its key ([`RetryRequest::key`]), so
    /// one host's refusals never throttle requests to another.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{AdaptiveThrottle, Keyed, RetryLayer};
    ///
    /// let layer = RetryLayer::new().throttles(Keyed::new(256, Duration::from_secs(600), |_: &str| {
    ///     AdaptiveThrottle::default()
    /// }));
    /// ```
    pub fn throttles(mut self, throttles: Keyed<AdaptiveThrottle>) -> Self {
        self.throttle = Some(OneOrKeyed::PerKey(throttles));
        self
    }

    /// Records every call in `metrics` (see [`RetryMetrics`](crate::RetryMetrics)).
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().metrics(&steadfast::RetryMetrics::new("inventory"));
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(mut self, metrics: &crate::meter::RetryMetrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Gives every request that is not idempotent the call's idempotency key
    /// ([`RetryRequest::attach_key`]: for HTTP, an `Idempotency-Key` header, the same
    /// on every attempt), and then retries it like an idempotent one. Only for servers
    /// that honour the key.
    ///
    /// ```
    /// let layer = steadfast::RetryLayer::new().with_idempotency_keys();
    /// ```
    pub fn with_idempotency_keys(mut self) -> Self {
        self.send_keys = true;
        self
    }
}

impl<Svc, P: Clone, C: Clone, S: Clone, K: Clone> Layer<Svc> for RetryLayer<P, C, S, K> {
    type Service = RetryService<Svc, P, C, S, K>;

    fn layer(&self, inner: Svc) -> Self::Service {
        RetryService {
            inner,
            config: self.clone(),
        }
    }
}

/// A service that retries the calls it forwards; made by [`RetryLayer`].
///
/// ```
/// use steadfast::{RetryLayer, RetryService};
/// use tower_layer::Layer;
///
/// fn wrap<S: Clone>(inner: S) -> RetryService<S> {
///     RetryLayer::new().layer(inner)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RetryService<Svc, P = Policy, C = RetryAnyError, S = DefaultSleeper, K = DefaultClock> {
    inner: Svc,
    config: RetryLayer<P, C, S, K>,
}

impl<Svc, Req, P, C, S, K> Service<Req> for RetryService<Svc, P, C, S, K>
where
    Svc: Service<Req, Error: fmt::Display> + Clone,
    Req: RetryRequest,
    P: RetryPolicy + Clone,
    C: Classify<Svc::Response, Svc::Error> + Clone,
    S: Sleeper<Sleep: Future<Output = ()>> + Clone,
    K: Clock + Clone,
{
    type Response = Svc::Response;
    type Error = RetryError<Svc::Error>;
    type Future = RetryServiceFuture<Svc, Req, P, C, S, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|error| {
            RetryError::new(
                StopReason::Permanent,
                0,
                Some(AttemptError::Operation(error)),
            )
        })
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The readied service goes with this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let config = &self.config;
        let idempotency = match request.idempotency() {
            Idempotency::NotIdempotent if config.send_keys => Idempotency::Keyed,
            declared => declared,
        };
        let shared = {
            let key = request.key().unwrap_or("");
            (
                config.budget.as_ref().map(|budget| budget.for_key(key)),
                config.breaker.as_ref().map(|breaker| breaker.for_key(key)),
                config
                    .throttle
                    .as_ref()
                    .map(|throttle| throttle.for_key(key)),
            )
        };
        let call = Retry::configured(
            ServiceOperation::new(service, request, config.send_keys),
            config.policy.clone(),
            config.classifier.clone(),
            (),
            config.sleeper.clone(),
            config.clock.clone(),
            shared,
            idempotency,
        );
        #[cfg(feature = "metrics")]
        let call = call.owned_metrics(config.metrics.clone());
        RetryServiceFuture { call }
    }
}
