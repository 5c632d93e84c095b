//! How a call waits between attempts.

use std::time::Duration;

/// Creates the timers a call waits on: between attempts, and for attempt timeouts.
///
/// A zero delay never reaches the sleeper: the retry starts at once, without a timer.
///
/// ```
/// use std::future::{ready, Ready};
/// use std::time::Duration;
/// use steadfast::{retry, Sleeper};
///
/// /// Never waits: for tests that only count attempts.
/// struct NoWait;
///
/// impl Sleeper for NoWait {
///     type Sleep = Ready<()>;
///     fn sleep(&self, _: Duration) -> Self::Sleep {
///         ready(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = retry(|_| async { Err::<(), _>("down") }).sleeper(NoWait).await.unwrap_err();
/// assert_eq!(err.attempts(), 3);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a sleeper: a call needs one to wait between attempts",
    note = "with the `tokio` feature the default is `TokioSleeper`; otherwise choose one with `.sleeper(...)`"
)]
pub trait Sleeper {
    /// The timer future. (The bound `Future<Output = ()>` is checked where a call is
    /// polled, so that [`NoSleeper`] can stand in until a sleeper is chosen.)
    type Sleep;

    /// A future that completes after `delay`.
    fn sleep(&self, delay: Duration) -> Self::Sleep;
}

/// tokio's timer, [`tokio::time::sleep`].
///
/// ```
/// use std::time::Duration;
/// use steadfast::{Sleeper, TokioSleeper};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// TokioSleeper.sleep(Duration::from_millis(10)).await;
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
impl Sleeper for TokioSleeper {
    type Sleep = tokio::time::Sleep;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        tokio::time::sleep(delay)
    }
}

/// Stands in for a sleeper when the `tokio` feature is off. Its timers are
/// [`NoSleeperChosen`], which is not a future, so a call cannot be awaited or polled
/// until a sleeper is chosen with [`Retry::sleeper`](crate::Retry::sleeper): the
/// mistake is a compile error, never a failure in the middle of an outage.
///
/// ```
/// let placeholder = steadfast::NoSleeper;
/// ```
///
/// ```compile_fail
/// # async fn run() {
/// // error: `NoSleeperChosen` is not a future
/// let _ = steadfast::retry(|_| async { Ok::<_, ()>(()) }).sleeper(steadfast::NoSleeper).await;
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoSleeper;

/// The timer of [`NoSleeper`]: not a future, so that a call without a sleeper does not
/// compile ("`NoSleeperChosen` is not a future": choose one with `.sleeper(...)`).
///
/// ```
/// use steadfast::Sleeper;
/// let _unusable: steadfast::NoSleeperChosen = steadfast::NoSleeper.sleep(std::time::Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSleeperChosen(());

impl Sleeper for NoSleeper {
    type Sleep = NoSleeperChosen;

    fn sleep(&self, _: Duration) -> Self::Sleep {
        NoSleeperChosen(())
    }
}

/// The sleeper a call uses unless told otherwise: [`TokioSleeper`] with the `tokio`
/// feature, else [`NoSleeper`] (which must be replaced).
///
/// ```
/// let sleeper = steadfast::DefaultSleeper::default();
/// ```
#[cfg(feature = "tokio")]
pub type DefaultSleeper = TokioSleeper;

/// The sleeper a call uses unless told otherwise: [`TokioSleeper`] with the `tokio`
/// feature, else [`NoSleeper`] (which must be replaced).
///
/// ```
/// let sleeper = steadfast::DefaultSleeper::default();
/// ```
#[cfg(not(feature = "tokio"))]
pub type DefaultSleeper = NoSleeper;
