//! What the layer needs to know about a request.

use crate::idempotency::Idempotency;
use crate::idempotency::IdempotencyKey;

/// A request the [`RetryLayer`](super::RetryLayer) can send more than once.
///
/// It must be cloneable (each attempt sends a clone). The layer asks it how safe it
/// is to repeat, and, when told to send idempotency keys, lets it carry the call's key.
/// `http::Request<B>` with a cloneable body implements it (feature `http`); for other
/// request types an empty `impl` declares them idempotent.
///
/// ```
/// use steadfast::{Idempotency, RetryRequest};
///
/// #[derive(Clone)]
/// enum Command { Get(String), Append(String, Vec<u8>) }
///
/// impl RetryRequest for Command {
///     fn idempotency(&self) -> Idempotency {
///         match self {
///             Command::Get(_) => Idempotency::Idempotent,
///             Command::Append(..) => Idempotency::NotIdempotent,
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request the retry layer can repeat",
    note = "the layer sends a clone of the request for each attempt: `RetryRequest` is implemented for `http::Request<B>` with a cloneable body; implement it for your own request type"
)]
pub trait RetryRequest: Clone {
    /// How safe this request is to repeat. Default: idempotent.
    fn idempotency(&self) -> Idempotency {
        Idempotency::Idempotent
    }

    /// The key of the breaker and budget this request goes through when the layer
    /// holds them per key ([`RetryLayer::breakers`](super::RetryLayer::breakers)):
    /// for HTTP, the host and port. Default: none (every request shares one key).
    fn key(&self) -> Option<&str> {
        None
    }

    /// Attaches the call's idempotency key, if this request is one that needs it.
    /// Called on each attempt's clone when the layer sends keys. Default: nothing.
    fn attach_key(&mut self, key: IdempotencyKey) {
        let _ = key;
    }
}

#[cfg(feature = "http")]
impl<B: Clone> RetryRequest for ::http::Request<B> {
    fn idempotency(&self) -> Idempotency {
        crate::request_idempotency(self)
    }

    /// The host and port of the request's URI.
    fn key(&self) -> Option<&str> {
        self.uri().authority().map(::http::uri::Authority::as_str)
    }

    /// Adds an `Idempotency-Key` header to requests whose method is not idempotent and
    /// that do not carry one already.
    fn attach_key(&mut self, key: IdempotencyKey) {
        if !crate::is_idempotent_method(self.method())
            && !self.headers().contains_key(crate::IDEMPOTENCY_KEY)
        {
            self.headers_mut()
                .insert(crate::IDEMPOTENCY_KEY, key.header_value());
        }
    }
}
