//! reqwest's responses and errors, judged by the HTTP classifier (feature `reqwest`).

use ::reqwest::{Error, Response};

use super::http::{ClassifyError, HttpClassifier};
use super::{Classify, Decision};

/// Judges reqwest's errors by what they say about the request: a failure to connect
/// happened before anything was sent ([`Decision::RetryUnsent`], safe to retry even
/// for a POST); a timeout or a broken connection is transient ([`Decision::Retry`]);
/// a request that could not be built, a redirect loop or an undecodable body will not
/// change on retry ([`Decision::Fail`]).
///
/// ```
/// use steadfast::{Decision, HttpClassifier, ReqwestErrors};
///
/// let classifier = HttpClassifier::reqwest(); // the same as:
/// let classifier = HttpClassifier::new().errors(ReqwestErrors);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReqwestErrors;

impl ClassifyError<Error> for ReqwestErrors {
    fn classify_error(&self, error: &Error) -> Decision {
        if error.is_connect() {
            Decision::RetryUnsent
        } else if error.is_builder() || error.is_redirect() || error.is_decode() {
            Decision::Fail
        } else {
            Decision::Retry
        }
    }
}

impl HttpClassifier<ReqwestErrors> {
    /// The HTTP classifier for reqwest: the status table and `Retry-After` of
    /// [`HttpClassifier::new`], with reqwest's errors judged by [`ReqwestErrors`].
    ///
    /// ```
    /// use steadfast::{retry, HttpClassifier};
    ///
    /// # async fn run(client: reqwest::Client) -> anyhow::Result<()> {
    /// let response = retry(|_| client.get("http://127.0.0.1:8080/stock").send())
    ///     .classify(HttpClassifier::reqwest())
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn reqwest() -> Self {
        HttpClassifier::new().errors(ReqwestErrors)
    }
}

/// reqwest's responses by status and `Retry-After`, and its errors by `J`.
impl<J: ClassifyError<Error>> Classify<Response, Error> for HttpClassifier<J> {
    fn classify(&self, outcome: &Result<Response, Error>) -> Decision {
        match outcome {
            Ok(response) => self.classify_response(response.status(), response.headers()),
            Err(error) => self.judge_error(error),
        }
    }

    fn describe_rejected(
        &self,
        response: &Response,
        f: &mut std::fmt::Formatter<'_>,
    ) -> std::fmt::Result {
        write!(f, "status {}", response.status())
    }
}
