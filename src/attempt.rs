//! What an operation knows about the attempt it is running.

use std::time::Duration;

use crate::call_id::CallId;
use crate::idempotency::IdempotencyKey;

/// The context of one attempt, passed to the operation.
///
/// ```
/// use steadfast::retry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut keys = Vec::new();
/// let result = retry(|attempt| {
///     keys.push(attempt.idempotency_key());
///     async move {
///         if attempt.number() < 3 { Err("not yet") } else { Ok(attempt.number()) }
///     }
/// })
/// .sleeper(steadfast::TokioSleeper)
/// .await;
/// assert_eq!(result.unwrap(), 3);
/// assert!(keys.iter().all(|key| *key == keys[0]), "one key for every attempt");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
    elapsed: Duration,
    call: CallId,
}

impl Attempt {
    pub(crate) const fn new(number: u32, elapsed: Duration, call: CallId) -> Self {
        Self {
            number,
            elapsed,
            call,
        }
    }

    /// Which attempt this is: 1 for the first.
    ///
    /// ```
    /// # use steadfast::retry;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let n = retry(|attempt| async move { Ok::<_, std::io::Error>(attempt.number()) }).await.unwrap();
    /// assert_eq!(n, 1);
    /// # }
    /// ```
    #[must_use]
    pub const fn number(&self) -> u32 {
        self.number
    }

    /// Whether this attempt is a retry (not the first).
    ///
    /// ```
    /// # use steadfast::retry;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let retried = retry(|attempt| async move { Ok::<_, std::io::Error>(attempt.is_retry()) }).await.unwrap();
    /// assert!(!retried);
    /// # }
    /// ```
    #[must_use]
    pub const fn is_retry(&self) -> bool {
        self.number > 1
    }

    /// Time since the call started, read from the call's clock.
    ///
    /// A call reads its clock only when something needs it: a call with a deadline or
    /// an attempt timeout starts its clock at its first poll; any other call starts it
    /// just before it first sleeps (a backoff delay, or a wait for a breaker), so for
    /// such a call this is the time since then, and zero until the call has slept.
    ///
    /// ```
    /// # use steadfast::retry;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let elapsed = retry(|attempt| async move { Ok::<_, std::io::Error>(attempt.elapsed()) }).await.unwrap();
    /// assert_eq!(elapsed, std::time::Duration::ZERO);
    /// # }
    /// ```
    #[must_use]
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The call's idempotency key: the same for every attempt of this call, different
    /// for every call, and as unpredictable as a draw from a secure generator.
    ///
    /// The key is derived when it is first read (a ChaCha12 block), so a call that
    /// never reads it never pays for it.
    ///
    /// ```
    /// # use steadfast::retry;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let key = retry(|attempt| async move { Ok::<_, std::io::Error>(attempt.idempotency_key()) }).await.unwrap();
    /// println!("Idempotency-Key: \"{key}\"");
    /// # }
    /// ```
    #[must_use]
    pub fn idempotency_key(&self) -> IdempotencyKey {
        IdempotencyKey::of_call(self.call)
    }
}
