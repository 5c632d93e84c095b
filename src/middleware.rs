//! A reqwest-middleware `Middleware` that retries through the crate's engine (feature
//! `reqwest-middleware`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use ::http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Error, Middleware, Next, Result};

use crate::attempt::Attempt;
use crate::breaker::CircuitBreaker;
use crate::budget::RetryBudget;
use crate::classify::HttpClassifier;
use crate::classify::ReqwestErrors;
use crate::classify::{Classify, Decision};
use crate::idempotency::{IDEMPOTENCY_KEY, Idempotency, is_idempotent_method};
use crate::operation::{Operation, Token};
use crate::policy::{Policy, RetryPolicy};
use crate::registry::{Keyed, OneOrKeyed};
use crate::retry::Retry;
use crate::sleep::{DefaultSleeper, Sleeper};
use crate::throttle::AdaptiveThrottle;

/// Retries the requests of a [`reqwest_middleware::ClientWithMiddleware`] with a policy,
/// the HTTP classifier (status codes, `Retry-After` honoured up to the policy's limit,
/// connection failures known to be unsent), and optionally a breaker and a budget, for
/// every host or one per host.
///
/// - Requests whose method is not idempotent (POST, PATCH) are repeated only when the
///   failed attempt was never sent, unless [`send_keys`](Self::send_keys) gives every
///   attempt the call's `Idempotency-Key` header.
/// - A request whose body is a stream cannot be cloned: it is sent once, without
///   retrying, and an `info` event says so.
/// - The request's extensions go down the chain with each attempt, so an attempt cut
///   short by the policy's attempt timeout takes them along and ends the call
///   ([`StopReason::StateLost`](crate::StopReason::StateLost)); set reqwest's own
///   timeout for attempts instead.
/// - When retrying stops, a response comes back as it is (the last 503, say); an error
///   comes back as `reqwest_middleware::Error::Middleware` holding the crate's
///   [`RetryError`](crate::RetryError), whose source is the last error.
///
/// # Default
///
/// [`Policy::default()`], [`HttpClassifier::reqwest()`], no breaker, a ratio budget
/// ([`RetryBudget::default()`]) per host (by the URL's authority, `host:port` when the
/// port is written; at most 1 024 hosts, idle ones evicted after 10 minutes), no keys.
///
/// ```
/// use steadfast::RetryMiddleware;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(RetryMiddleware::new())
///     .build();
/// ```
pub struct RetryMiddleware<P = Policy, S = DefaultSleeper> {
    policy: P,
    sleeper: S,
    classifier: HttpClassifier<ReqwestErrors>,
    breakers: Option<OneOrKeyed<CircuitBreaker>>,
    budgets: Option<OneOrKeyed<RetryBudget>>,
    throttles: Option<OneOrKeyed<AdaptiveThrottle>>,
    /// The key of per-key breakers, budgets and throttles; `None` for the URL's authority.
    key: Option<KeyFn>,
    send_keys: bool,
}

type KeyFn = Arc<dyn Fn(&Request) -> String + Send + Sync>;

impl RetryMiddleware {
    /// A middleware with the defaults listed above.
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new();
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            policy: Policy::default(),
            sleeper: DefaultSleeper::default(),
            classifier: HttpClassifier::reqwest(),
            breakers: None,
            budgets: Some(OneOrKeyed::PerKey(Keyed::new(
                1_024,
                std::time::Duration::from_secs(600),
                |_: &str| RetryBudget::default(),
            ))),
            throttles: None,
            key: None,
            send_keys: false,
        }
    }
}

impl Default for RetryMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

impl<P, S> RetryMiddleware<P, S> {
    /// Uses `policy` (cloned for each request).
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new().with(steadfast::Policy::default());
    /// ```
    #[must_use]
    pub fn with<P2: RetryPolicy + Clone>(self, policy: P2) -> RetryMiddleware<P2, S> {
        RetryMiddleware {
            policy,
            sleeper: self.sleeper,
            classifier: self.classifier,
            breakers: self.breakers,
            budgets: self.budgets,
            throttles: self.throttles,
            key: self.key,
            send_keys: self.send_keys,
        }
    }

    /// Waits between attempts with `sleeper` (cloned for each request). Default: tokio's.
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new().sleeper(steadfast::TokioSleeper);
    /// ```
    #[must_use]
    pub fn sleeper<S2: Sleeper + Clone>(self, sleeper: S2) -> RetryMiddleware<P, S2> {
        RetryMiddleware {
            policy: self.policy,
            sleeper,
            classifier: self.classifier,
            breakers: self.breakers,
            budgets: self.budgets,
            throttles: self.throttles,
            key: self.key,
            send_keys: self.send_keys,
        }
    }

    /// Judges responses and errors with `classifier` (a status table of your own).
    ///
    /// ```
    /// use http::StatusCode;
    /// use steadfast::{HttpClassifier, RetryMiddleware};
    ///
    /// let middleware = RetryMiddleware::new()
    ///     .classifier(HttpClassifier::reqwest().never_retry(StatusCode::BAD_GATEWAY));
    /// ```
    #[must_use]
    pub fn classifier(mut self, classifier: HttpClassifier<ReqwestErrors>) -> Self {
        self.classifier = classifier;
        self
    }

    /// Puts every request, whatever its host, through `breaker`.
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new().breaker(&steadfast::CircuitBreaker::default());
    /// ```
    #[must_use]
    pub fn breaker(mut self, breaker: &CircuitBreaker) -> Self {
        self.breakers = Some(OneOrKeyed::One(breaker.clone()));
        self
    }

    /// Puts each request through the breaker of its key (its URL's authority, unless
    /// [`key_by`](Self::key_by) says otherwise), made on first use: one host's outage
    /// never opens another's breaker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{CircuitBreaker, Keyed, RetryMiddleware};
    ///
    /// let middleware = RetryMiddleware::new().breakers(Keyed::new(
    ///     256,
    ///     Duration::from_secs(600),
    ///     |_host: &str| CircuitBreaker::default(),
    /// ));
    /// ```
    #[must_use]
    pub fn breakers(mut self, breakers: Keyed<CircuitBreaker>) -> Self {
        self.breakers = Some(OneOrKeyed::PerKey(breakers));
        self
    }

    /// Bounds the retries of every request, whatever its host, with `budget`.
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new().budget(&steadfast::RetryBudget::default());
    /// ```
    #[must_use]
    pub fn budget(mut self, budget: &RetryBudget) -> Self {
        self.budgets = Some(OneOrKeyed::One(budget.clone()));
        self
    }

    /// Bounds the retries of each key (its URL's authority, unless
    /// [`key_by`](Self::key_by) says otherwise) with a budget of its own, made on first
    /// use: one host's failures never spend another's budget. This is the default,
    /// with a [`RetryBudget::default()`] per host.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{Keyed, RetryBudget, RetryMiddleware};
    ///
    /// let middleware = RetryMiddleware::new().budgets(Keyed::new(
    ///     256,
    ///     Duration::from_secs(600),
    ///     |_host: &str| RetryBudget::ratio(0.1).build().unwrap_or_default(),
    /// ));
    /// ```
    #[must_use]
    pub fn budgets(mut self, budgets: Keyed<RetryBudget>) -> Self {
        self.budgets = Some(OneOrKeyed::PerKey(budgets));
        self
    }

    /// Puts every request, whatever its host, through `throttle`: adaptive
    /// client-side throttling (see [`Retry::throttle`](crate::Retry::throttle)).
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new().throttle(&steadfast::AdaptiveThrottle::default());
    /// ```
    #[must_use]
    pub fn throttle(mut self, throttle: &AdaptiveThrottle) -> Self {
        self.throttles = Some(OneOrKeyed::One(throttle.clone()));
        self
    }

    /// Puts each request through the throttle of its key (its URL's authority, unless
    /// [`key_by`](Self::key_by) says otherwise), made on first use: a host that
    /// refuses requests never throttles requests to another.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::{AdaptiveThrottle, Keyed, RetryMiddleware};
    ///
    /// let middleware = RetryMiddleware::new().throttles(Keyed::new(
    ///     256,
    ///     Duration::from_secs(600),
    ///     |_: &str| AdaptiveThrottle::default(),
    /// ));
    /// ```
    #[must_use]
    pub fn throttles(mut self, throttles: Keyed<AdaptiveThrottle>) -> Self {
        self.throttles = Some(OneOrKeyed::PerKey(throttles));
        self
    }

    /// Retries without a budget.
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new().without_budget();
    /// ```
    #[must_use]
    pub fn without_budget(mut self) -> Self {
        self.budgets = None;
        self
    }

    /// Chooses the key of per-key breakers and budgets (a region, a tenant) from the
    /// request. Default: its URL's authority (`host:port` when the port is written).
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new()
    ///     .key_by(|request| request.headers().get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned());
    /// ```
    #[must_use]
    pub fn key_by(mut self, key: impl Fn(&Request) -> String + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// Sends the call's idempotency key, the same on every attempt, as an
    /// `Idempotency-Key` header on requests whose method is not idempotent (unless they
    /// carry one), and retries them like idempotent ones. Only for servers that honour
    /// the key.
    ///
    /// ```
    /// let middleware = steadfast::RetryMiddleware::new().send_keys();
    /// ```
    #[must_use]
    pub fn send_keys(mut self) -> Self {
        self.send_keys = true;
        self
    }
}

/// One attempt: a clone of the request sent down the rest of the chain, with the
/// extensions threaded from attempt to attempt. (A named operation, not a closure: the
/// middleware's future must be `Send`, which rustc cannot yet prove for a closure whose
/// argument is a borrow threaded through its own future.)
struct Chain<'r, 'n> {
    template: &'r Request,
    next: Next<'n>,
    extensions: Option<&'n mut Extensions>,
    keyed: bool,
}

type AttemptFuture<'n> =
    std::pin::Pin<Box<dyn Future<Output = (&'n mut Extensions, Result<Response>)> + Send + 'n>>;

impl<'n> Operation for Chain<'_, 'n> {
    type Ok = Response;
    type Err = Error;
    type Future = AttemptFuture<'n>;

    fn start(&mut self, attempt: Attempt) -> Option<Self::Future> {
        let extensions = self.extensions.take()?;
        let next = self.next.clone();
        // Cloned once in `handle` already: a body that could be cloned still can.
        let copy = self.template.try_clone();
        let keyed = self.keyed;
        Some(Box::pin(async move {
            let Some(mut copy) = copy else {
                let lost = anyhow::anyhow!("the request could no longer be cloned");
                return (extensions, Err(Error::Middleware(lost)));
            };
            if keyed && !copy.headers().contains_key(IDEMPOTENCY_KEY) {
                copy.headers_mut()
                    .insert(IDEMPOTENCY_KEY, attempt.idempotency_key().header_value());
            }
            let outcome = next.run(copy, &mut *extensions).await;
            (extensions, outcome)
        }))
    }

    fn finish(
        &mut self,
        (extensions, outcome): (&'n mut Extensions, Result<Response>),
    ) -> Result<Response> {
        self.extensions = Some(extensions);
        outcome
    }

    fn can_start(&self, _: Token) -> bool {
        self.extensions.is_some()
    }
}

/// The HTTP classifier over what the rest of the middleware chain returns: reqwest's
/// errors as [`ReqwestErrors`] judges them, and another middleware's failure as final.
struct ChainClassifier<'c>(&'c HttpClassifier<ReqwestErrors>);

impl Classify<Response, Error> for ChainClassifier<'_> {
    fn classify(&self, outcome: &std::result::Result<Response, Error>) -> Decision {
        match outcome {
            Ok(response) => self
                .0
                .classify_response(response.status(), response.headers()),
            Err(Error::Reqwest(error)) => self.0.judge_error(error),
            Err(Error::Middleware(_)) => Decision::Fail,
        }
    }

    fn describe_rejected(&self, response: &Response, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {}", response.status())
    }
}

#[async_trait::async_trait]
impl<P, S> Middleware for RetryMiddleware<P, S>
where
    P: RetryPolicy + Clone + Send + Sync + 'static,
    S: Sleeper<Sleep: Future<Output = ()> + Send> + Clone + Send + Sync + 'static,
{
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        // A body held in memory can be sent again; a stream cannot.
        if request.body().is_some_and(|body| body.as_bytes().is_none()) {
            tracing::info!(
                method = %request.method(),
                url = %request.url(),
                "request body is a stream: sent once, without retrying"
            );
            return next.run(request, extensions).await;
        }
        let keyed = self.send_keys && !is_idempotent_method(request.method());
        let idempotency = if is_idempotent_method(request.method()) {
            Idempotency::Idempotent
        } else if keyed {
            Idempotency::Keyed
        } else {
            Idempotency::NotIdempotent
        };
        let custom;
        let key = match &self.key {
            Some(key_of) => {
                custom = key_of(&request);
                custom.as_str()
            }
            None => request.url().authority(),
        };
        let breaker = self.breakers.as_ref().map(|shared| shared.for_key(key));
        let budget = self.budgets.as_ref().map(|shared| shared.for_key(key));
        let throttle = self.throttles.as_ref().map(|shared| shared.for_key(key));
        let chain = Chain {
            template: &request,
            next,
            extensions: Some(extensions),
            keyed,
        };
        let call = Retry::new(chain)
            .with(self.policy.clone())
            .sleeper(self.sleeper.clone())
            .classify(ChainClassifier(&self.classifier))
            .idempotency(idempotency);
        let call = match &breaker {
            Some(breaker) => call.breaker(breaker),
            None => call,
        };
        let call = match &budget {
            Some(budget) => call.budget(budget),
            None => call,
        };
        let call = match &throttle {
            Some(throttle) => call.throttle(throttle),
            None => call,
        };
        call.await
            .map_err(|stopped| Error::Middleware(anyhow::Error::new(stopped)))
    }
}

impl<P: fmt::Debug, S> fmt::Debug for RetryMiddleware<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryMiddleware")
            .field("policy", &self.policy)
            .field("classifier", &self.classifier)
            .field("send_keys", &self.send_keys)
            .finish_non_exhaustive()
    }
}
