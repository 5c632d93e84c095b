//! Idempotency keys: one per logical call, the same for all its attempts.
//!
//! A server that sees the same key twice can answer the second request from the result
//! of the first instead of applying it again, which is what makes retrying a payment or
//! an insert safe.

use std::fmt;

use rand::Rng;

use crate::call_id::CallId;

/// Whether an operation is safe to repeat, which decides what may be retried.
///
/// # Default
///
/// [`Idempotency::Idempotent`]: most operations worth retrying (reads, puts, deletes)
/// are. Declare the others, so that a failure that may have been applied is not
/// applied twice.
///
/// | | transient failure, timeout | [`Decision::RetryUnsent`](crate::Decision::RetryUnsent) | [`Decision::RetryIfKeyed`](crate::Decision::RetryIfKeyed) |
/// |---|---|---|---|
/// | `Idempotent` | retried | retried | not retried |
/// | `Keyed` | retried | retried | retried |
/// | `NotIdempotent` | stops: [`StopReason::NotIdempotent`](crate::StopReason::NotIdempotent) | retried | not retried |
///
/// ```
/// use steadfast::{retry, Decision, Idempotency, StopReason};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // A payment without an idempotency key: a reset connection may have charged the card.
/// let err = retry(|_| async { Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) })
///     .classify(steadfast::IoErrors)
///     .idempotency(Idempotency::NotIdempotent)
///     .await
///     .unwrap_err();
/// assert_eq!(err.reason(), StopReason::NotIdempotent);
/// assert_eq!(err.attempts(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Idempotency {
    /// Repeating the operation has the same effect as doing it once.
    #[default]
    Idempotent,
    /// Not idempotent by nature, but every attempt carries the call's idempotency key,
    /// which the other side uses to apply it at most once.
    Keyed,
    /// Not safe to repeat: retried only after failures that happened before anything
    /// was sent.
    NotIdempotent,
}

/// A random 128-bit key in UUID version 4 form, from a cryptographically secure
/// source.
///
/// Every attempt of a call sees the same key through
/// [`Attempt::idempotency_key`](crate::Attempt::idempotency_key); no two calls share one.
///
/// ```
/// use steadfast::IdempotencyKey;
///
/// let key = IdempotencyKey::generate();
/// let text = key.encode();
/// assert_eq!(text.as_str().len(), 36);
/// assert_eq!(&text.as_str()[14..15], "4"); // version 4
/// assert_eq!(text.as_str(), key.to_string());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey([u8; 16]);

impl IdempotencyKey {
    /// A fresh random key.
    ///
    /// ```
    /// use steadfast::IdempotencyKey;
    /// assert_ne!(IdempotencyKey::generate(), IdempotencyKey::generate());
    /// ```
    #[must_use]
    pub fn generate() -> Self {
        Self::from_rng(&mut rand::rng())
    }

    /// The key of one call, derived from its name.
    pub(crate) fn of_call(call: CallId) -> Self {
        Self::from_random_bytes(call.random_bytes())
    }

    pub(crate) fn from_rng(rng: &mut impl Rng) -> Self {
        let mut bytes = [0_u8; 16];
        rng.fill_bytes(&mut bytes);
        Self::from_random_bytes(bytes)
    }

    /// A key from 16 random bytes of your own, with the UUID version (4) and variant
    /// bits set.
    ///
    /// ```
    /// use steadfast::IdempotencyKey;
    /// let key = IdempotencyKey::from_random_bytes([0xff; 16]);
    /// assert_eq!(key.to_string(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    /// ```
    #[must_use]
    pub const fn from_random_bytes(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(bytes)
    }

    /// The key's 16 bytes.
    ///
    /// ```
    /// let key = steadfast::IdempotencyKey::generate();
    /// assert_eq!(key.as_bytes().len(), 16);
    /// ```
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The key as hyphenated lowercase hex, on the stack: usable as a header value
    /// without allocating.
    ///
    /// ```
    /// let key = steadfast::IdempotencyKey::from_random_bytes([0; 16]);
    /// assert_eq!(key.encode().as_str(), "00000000-0000-4000-8000-000000000000");
    /// ```
    #[must_use]
    pub fn encode(&self) -> EncodedKey {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut at = 0_usize;
        for (index, byte) in self.0.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                at = at.saturating_add(1);
            }
            if let Some(pair) = text.get_mut(at..at.saturating_add(2)) {
                pair[0] = HEX[usize::from(byte >> 4)];
                pair[1] = HEX[usize::from(byte & 0x0f)];
            }
            at = at.saturating_add(2);
        }
        EncodedKey(text)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode().as_str())
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({self})")
    }
}

/// An [`IdempotencyKey`] as text (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`), held inline.
///
/// ```
/// let encoded = steadfast::IdempotencyKey::generate().encode();
/// assert!(encoded.as_str().chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodedKey([u8; 36]);

impl EncodedKey {
    /// The text.
    ///
    /// ```
    /// let key = steadfast::IdempotencyKey::from_random_bytes([0x11; 16]);
    /// assert_eq!(key.encode().as_str(), "11111111-1111-4111-9111-111111111111");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and hyphens are ever written, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for EncodedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl AsRef<str> for EncodedKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// HTTP helpers: idempotent methods, and the `Idempotency-Key` header.
#[cfg(feature = "http")]
mod http_helpers {
    use ::http::{HeaderName, HeaderValue, Method, Request};

    use super::{Idempotency, IdempotencyKey};

    /// The `Idempotency-Key` request header (IETF draft
    /// `draft-ietf-httpapi-idempotency-key-header`).
    ///
    /// ```
    /// assert_eq!(steadfast::IDEMPOTENCY_KEY.as_str(), "idempotency-key");
    /// ```
    pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

    /// Whether RFC 9110 defines `method` as idempotent: GET, HEAD, OPTIONS, TRACE, PUT
    /// and DELETE.
    ///
    /// ```
    /// use http::Method;
    /// use steadfast::is_idempotent_method;
    /// assert!(is_idempotent_method(&Method::PUT));
    /// assert!(!is_idempotent_method(&Method::POST));
    /// assert!(!is_idempotent_method(&Method::PATCH));
    /// ```
    #[must_use]
    pub fn is_idempotent_method(method: &Method) -> bool {
        matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        )
    }

    /// How safe `request` is to repeat: idempotent by method, keyed if it carries an
    /// `Idempotency-Key` header, and otherwise not idempotent.
    ///
    /// ```
    /// use steadfast::{request_idempotency, Idempotency, IdempotencyKey, IDEMPOTENCY_KEY};
    ///
    /// let post = http::Request::post("/orders").body(()).unwrap();
    /// assert_eq!(request_idempotency(&post), Idempotency::NotIdempotent);
    ///
    /// let keyed = http::Request::post("/orders")
    ///     .header(IDEMPOTENCY_KEY, IdempotencyKey::generate().header_value())
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(request_idempotency(&keyed), Idempotency::Keyed);
    /// ```
    #[must_use]
    pub fn request_idempotency<B>(request: &Request<B>) -> Idempotency {
        if is_idempotent_method(request.method()) {
            Idempotency::Idempotent
        } else if request.headers().contains_key(IDEMPOTENCY_KEY) {
            Idempotency::Keyed
        } else {
            Idempotency::NotIdempotent
        }
    }

    impl IdempotencyKey {
        /// The key as an `Idempotency-Key` header value: a structured-field string, the
        /// key in double quotes.
        ///
        /// ```
        /// let key = steadfast::IdempotencyKey::from_random_bytes([0; 16]);
        /// assert_eq!(key.header_value(), "\"00000000-0000-4000-8000-000000000000\"");
        /// ```
        #[must_use]
        pub fn header_value(&self) -> HeaderValue {
            let encoded = self.encode();
            let mut quoted = [b'"'; 38];
            if let Some(inner) = quoted.get_mut(1..37) {
                inner.copy_from_slice(encoded.as_str().as_bytes());
            }
            // Quotes, hex digits and hyphens are all valid header bytes.
            HeaderValue::from_bytes(&quoted).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
        }
    }
}

#[cfg(feature = "http")]
pub use http_helpers::{IDEMPOTENCY_KEY, is_idempotent_method, request_idempotency};
