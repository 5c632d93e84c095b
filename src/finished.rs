//! What [`Retry::report`](crate::Retry::report) adds to a call's value: how many
//! attempts it took, and whether retrying stopped on a value the classifier rejected.

use crate::error::StopReason;

/// The value of a call that returned `Ok`, with its story.
///
/// A call returns `Ok` in two cases: the classifier accepted the value, or retrying
/// stopped on a value it rejected (an HTTP 503 after the last attempt, say), which is
/// still yours to inspect. [`stopped`](Self::stopped) tells them apart.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{retry, Constant, Decision, Policy, StopReason};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let policy = Policy::builder(Constant::new(Duration::ZERO)).max_attempts(2).build().unwrap();
/// let finished = retry(|_| async { Ok::<u16, std::io::Error>(503) })
///     .classify_outcome(|outcome: &Result<u16, _>| match outcome {
///         Ok(503) => Decision::Retry,
///         _ => Decision::Success,
///     })
///     .with(policy)
///     .report()
///     .await
///     .unwrap();
///
/// assert_eq!(*finished.value(), 503);
/// assert_eq!(finished.attempts(), 2);
/// assert_eq!(finished.stopped(), Some(StopReason::AttemptsExhausted));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished<T> {
    pub(crate) value: T,
    pub(crate) attempts: u32,
    pub(crate) stopped: Option<StopReason>,
}

impl<T> Finished<T> {
    /// The value the last attempt returned.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let finished = steadfast::retry(|_| async { Ok::<_, std::io::Error>(7) }).report().await.unwrap();
    /// assert_eq!(*finished.value(), 7);
    /// # }
    /// ```
    #[must_use]
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Takes the value out.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let finished = steadfast::retry(|_| async { Ok::<_, std::io::Error>(7) }).report().await.unwrap();
    /// assert_eq!(finished.into_value(), 7);
    /// # }
    /// ```
    #[must_use]
    pub fn into_value(self) -> T {
        self.value
    }

    /// How many attempts ran.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let finished = steadfast::retry(|_| async { Ok::<_, std::io::Error>(7) }).report().await.unwrap();
    /// assert_eq!(finished.attempts(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why retrying stopped on a value the classifier rejected, or `None` when it
    /// accepted the value. A rejected value judged permanent
    /// ([`Decision::Fail`](crate::Decision::Fail)) gives
    /// [`StopReason::Permanent`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let finished = steadfast::retry(|_| async { Ok::<_, std::io::Error>(7) }).report().await.unwrap();
    /// assert_eq!(finished.stopped(), None);
    /// # }
    /// ```
    #[must_use]
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }
}
