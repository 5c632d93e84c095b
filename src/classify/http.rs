//! HTTP: which responses are worth retrying, and what a `Retry-After` header asks for.

use std::time::{Duration, SystemTime};

use ::http::header::RETRY_AFTER;
use ::http::{HeaderMap, Response, StatusCode};

use super::{Classify, Decision, IoErrors};

/// Judges a transport error: a failure with no response at all.
///
/// Closures `Fn(&E) -> Decision` implement it, as do [`RetryAllTransportErrors`] (every error
/// transient) and [`IoErrors`] (by kind, with refused connections as
/// [`Decision::RetryUnsent`]).
///
/// ```
/// use steadfast::{Decision, HttpClassifier};
///
/// #[derive(Debug)]
/// struct ClientError { connect: bool }
///
/// // Errors connecting happened before the request was sent: safe to retry even for POST.
/// let classifier = HttpClassifier::new()
///     .errors(|e: &ClientError| if e.connect { Decision::RetryUnsent } else { Decision::Retry });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot judge transport errors of type `{E}`",
    note = "a closure `|error: &{E}| Decision::Retry` works, as do `RetryAllTransportErrors` and, for `std::io::Error`, `IoErrors`"
)]
pub trait ClassifyError<E> {
    /// The decision for one transport error.
    fn classify_error(&self, error: &E) -> Decision;
}

impl<E, F> ClassifyError<E> for F
where
    F: Fn(&E) -> Decision,
{
    fn classify_error(&self, error: &E) -> Decision {
        self(error)
    }
}

/// Every transport error is transient (but, not knowing whether the request was sent,
/// not [`Decision::RetryUnsent`]).
///
/// ```
/// use steadfast::{Decision, ClassifyError, RetryAllTransportErrors};
/// assert_eq!(RetryAllTransportErrors.classify_error(&"connection reset"), Decision::Retry);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryAllTransportErrors;

impl<E> ClassifyError<E> for RetryAllTransportErrors {
    fn classify_error(&self, _: &E) -> Decision {
        Decision::Retry
    }
}

impl ClassifyError<std::io::Error> for IoErrors {
    fn classify_error(&self, error: &std::io::Error) -> Decision {
        IoErrors::decision_for(error)
    }
}

/// A set of status codes, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatusSet([u64; 16]);

impl StatusSet {
    const fn of(codes: &[u16]) -> Self {
        let mut set = Self([0; 16]);
        let mut rest = codes;
        while let [code, tail @ ..] = rest {
            set = set.with(*code);
            rest = tail;
        }
        set
    }

    const fn with(mut self, code: u16) -> Self {
        let code = code as usize & 0x3ff;
        self.0[code / 64] |= 1 << (code % 64);
        self
    }

    const fn without(mut self, code: u16) -> Self {
        let code = code as usize & 0x3ff;
        self.0[code / 64] &= !(1 << (code % 64));
        self
    }

    const fn contains(&self, code: u16) -> bool {
        let code = code as usize & 0x3ff;
        self.0[code / 64] & (1 << (code % 64)) != 0
    }
}

/// Classifies HTTP responses by status code, honouring `Retry-After`, and transport
/// errors with a [`ClassifyError`].
///
/// # Default
///
/// | status | decision |
/// |---|---|
/// | 1xx, 2xx, 3xx | success |
/// | 408, 429, 500, 502, 503, 504 | retry, after the `Retry-After` delay if given |
/// | 409 | [`Decision::RetryIfKeyed`]: retried with the same idempotency key, else final |
/// | 400, 401, 403, 404, 422 and every other 4xx | fail |
/// | 501, 505 | fail: the server does not implement the method or the HTTP version, and a retry will not change that |
/// | other 5xx | retry: the server failed, and may not next time |
/// | 600 to 999 | fail: no class of HTTP's, so nothing a client can interpret |
///
/// Transport errors: [`RetryAllTransportErrors`] (all transient). Every setting can be changed.
///
/// ```
/// use http::{Response, StatusCode};
/// use steadfast::{Classify, Decision, HttpClassifier};
///
/// let classifier = HttpClassifier::new().never_retry(StatusCode::INSUFFICIENT_STORAGE);
/// let throttled: Result<_, std::io::Error> =
///     Ok(Response::builder().status(429).header("retry-after", "3").body(()).unwrap());
/// assert_eq!(classifier.classify(&throttled), Decision::RetryAfter(std::time::Duration::from_secs(3)));
///
/// let not_found: Result<_, std::io::Error> = Ok(Response::builder().status(404).body(()).unwrap());
/// assert_eq!(classifier.classify(&not_found), Decision::Fail);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClassifier<J = RetryAllTransportErrors> {
    retry: StatusSet,
    never: StatusSet,
    other_server_errors: Decision,
    errors: J,
}

impl HttpClassifier {
    /// The classifier with the defaults listed above.
    ///
    /// ```
    /// let classifier = steadfast::HttpClassifier::new();
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            retry: StatusSet::of(&[408, 429, 500, 502, 503, 504]),
            never: StatusSet::of(&[400, 401, 403, 404, 422, 501, 505]),
            other_server_errors: Decision::Retry,
            errors: RetryAllTransportErrors,
        }
    }
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl<J> HttpClassifier<J> {
    /// Retries responses with `status` (honouring `Retry-After`).
    ///
    /// ```
    /// let classifier = steadfast::HttpClassifier::new().retry(http::StatusCode::CONFLICT);
    /// ```
    #[must_use]
    pub const fn retry(mut self, status: StatusCode) -> Self {
        self.retry = self.retry.with(status.as_u16());
        self.never = self.never.without(status.as_u16());
        self
    }

    /// Never retries responses with `status`.
    ///
    /// ```
    /// let classifier = steadfast::HttpClassifier::new().never_retry(http::StatusCode::BAD_GATEWAY);
    /// ```
    #[must_use]
    pub const fn never_retry(mut self, status: StatusCode) -> Self {
        self.never = self.never.with(status.as_u16());
        self.retry = self.retry.without(status.as_u16());
        self
    }

    /// The decision for 5xx statuses in neither set. Default: [`Decision::Retry`].
    ///
    /// ```
    /// let cautious = steadfast::HttpClassifier::new().other_server_errors(steadfast::Decision::Fail);
    /// ```
    #[must_use]
    pub const fn other_server_errors(mut self, decision: Decision) -> Self {
        self.other_server_errors = decision;
        self
    }

    /// Judges transport errors with `judge` instead.
    ///
    /// ```
    /// use steadfast::{HttpClassifier, IoErrors};
    /// let classifier = HttpClassifier::new().errors(IoErrors);
    /// ```
    pub fn errors<J2>(self, judge: J2) -> HttpClassifier<J2> {
        HttpClassifier {
            retry: self.retry,
            never: self.never,
            other_server_errors: self.other_server_errors,
            errors: judge,
        }
    }

    /// The decision for a transport error, by this classifier's judge.
    pub(crate) fn judge_error<E>(&self, error: &E) -> Decision
    where
        J: ClassifyError<E>,
    {
        self.errors.classify_error(error)
    }

    /// The decision for a response with `status` and `headers`.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use steadfast::{Decision, HttpClassifier};
    ///
    /// let classifier = HttpClassifier::new();
    /// let decision = classifier.classify_response(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new());
    /// assert_eq!(decision, Decision::Retry);
    /// ```
    pub fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Decision {
        let code = status.as_u16();
        let retry = if self.never.contains(code) {
            return Decision::Fail;
        } else if self.retry.contains(code) {
            Decision::Retry
        } else if status == StatusCode::CONFLICT {
            return Decision::RetryIfKeyed;
        } else if status.is_server_error() {
            self.other_server_errors
        } else if status.is_client_error() || code >= 600 {
            // 600 to 999 parse as statuses but belong to no class HTTP defines: a
            // response nobody can interpret is not a success.
            return Decision::Fail;
        } else {
            return Decision::Success;
        };
        if retry != Decision::Retry {
            return retry;
        }
        let hint = headers
            .get(RETRY_AFTER)
            .and_then(|value| parse_retry_after(value.as_bytes(), SystemTime::now()));
        hint.map_or(Decision::Retry, Decision::RetryAfter)
    }
}

impl<B, E, J: ClassifyError<E>> Classify<Response<B>, E> for HttpClassifier<J> {
    fn classify(&self, outcome: &Result<Response<B>, E>) -> Decision {
        match outcome {
            Ok(response) => self.classify_response(response.status(), response.headers()),
            Err(error) => self.judge_error(error),
        }
    }

    fn describe_rejected(
        &self,
        response: &Response<B>,
        f: &mut std::fmt::Formatter<'_>,
    ) -> std::fmt::Result {
        write!(f, "status {}", response.status())
    }
}

/// The delay a `Retry-After` header value asks for, as of `now` (RFC 9110, section
/// 10.2.3).
///
/// Accepts delta-seconds (`120`; absurdly large values saturate, never overflow) and
/// the three HTTP-date forms, matched case-sensitively: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and
/// asctime (`Sun Nov  6 08:49:37 1994`). A date in the past means now. Whitespace
/// around the value is ignored, the same way for every form (RFC 9110 lets a
/// recipient strip it). Anything else, including a value that is not UTF-8, is
/// malformed and gives `None`: a bad header is ignored, never an error.
///
/// The result is the server's wish, not a delay to obey: the retry engine caps it
/// with the policy's [`max_retry_after`](crate::RetryPolicy::max_retry_after).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use steadfast::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_770);
/// assert_eq!(parse_retry_after(b"7", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after(b"Sunday, 06-Nov-94 08:49:37 GMT", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after(b"Sun Nov  6 08:49:37 1994", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after(b"sun, 06 nov 1994 08:49:37 gmt", now), None);
/// assert_eq!(parse_retry_after(b"  7\t", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after(b"-1", now), None);
/// assert_eq!(parse_retry_after(b"99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
/// ```
#[must_use]
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    // Trimmed as the date parser trims, so that every form follows one rule.
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        let seconds = text.bytes().try_fold(0_u64, |seconds, digit| {
            seconds
                .checked_mul(10)?
                .checked_add(u64::from(digit.wrapping_sub(b'0')))
        });
        return Some(Duration::from_secs(seconds.unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_hold_every_code() {
        let set = StatusSet::of(&[100, 599, 999]);
        assert!(set.contains(100) && set.contains(599) && set.contains(999));
        assert!(!set.contains(200));
        assert!(!set.without(599).contains(599));
    }

    #[test]
    fn default_decisions() {
        let classifier = HttpClassifier::new();
        let decide = |code: u16| {
            classifier.classify_response(StatusCode::from_u16(code).unwrap(), &HeaderMap::new())
        };
        for code in [408, 429, 500, 502, 503, 504, 507, 599] {
            assert_eq!(decide(code), Decision::Retry, "{code}");
        }
        for code in [400, 401, 403, 404, 422, 418, 451, 501, 505, 600, 999] {
            assert_eq!(decide(code), Decision::Fail, "{code}");
        }
        for code in [200, 201, 204, 301, 304, 101] {
            assert_eq!(decide(code), Decision::Success, "{code}");
        }
        assert_eq!(decide(409), Decision::RetryIfKeyed);
    }

    #[test]
    fn settings_move_codes_between_sets() {
        let classifier = HttpClassifier::new()
            .never_retry(StatusCode::SERVICE_UNAVAILABLE)
            .retry(StatusCode::NOT_FOUND)
            .other_server_errors(Decision::Fail);
        let decide = |code: u16| {
            classifier.classify_response(StatusCode::from_u16(code).unwrap(), &HeaderMap::new())
        };
        assert_eq!(decide(503), Decision::Fail);
        assert_eq!(decide(404), Decision::Retry);
        assert_eq!(decide(501), Decision::Fail);
    }

    #[test]
    fn malformed_retry_after_is_ignored() {
        let now = SystemTime::now();
        for bad in [
            &b""[..],
            b" ",
            b"5 5",
            b"+5",
            b"1.5",
            b"soon",
            b"\xff\xfe",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, ::http::HeaderValue::from_static("tomorrow"));
        assert_eq!(
            HttpClassifier::new().classify_response(StatusCode::TOO_MANY_REQUESTS, &headers),
            Decision::Retry
        );
    }

    #[test]
    fn a_date_in_the_past_means_now() {
        assert_eq!(
            parse_retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", SystemTime::now()),
            Some(Duration::ZERO)
        );
    }
}
