//! How a call waits between attempts.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Creates the timers a call waits on: between attempts, and for attempt timeouts.
///
/// A zero delay never reaches the sleeper: the retry starts at once, without a timer.
///
/// # Runtimes
///
/// | runtime | sleeper | feature |
/// |---|---|---|
/// | tokio | [`TokioSleeper`] (the default) | `tokio` (default) |
/// | smol, or anything on the async-io reactor | [`AsyncIoSleeper`] | `async-io` |
/// | any executor (`futures::executor`, embedded ones) | [`FuturesTimerSleeper`] | `futures-timer` |
/// | no runtime: synchronous code | [`ThreadSleeper`], through [`retry_blocking`](crate::retry_blocking) | none |
///
/// [`TokioSleeper`] also works outside a tokio runtime: when a sleep starts where no
/// runtime is running, it waits on `futures-timer`'s timer thread instead, so a call
/// under another executor works rather than panicking on its first retry.
///
/// # Choosing a sleeper once
///
/// The default sleeper follows the features: tokio's when `tokio` is on, else
/// async-io's, else futures-timer's (see [`DefaultSleeper`]). A program on smol builds
/// with `default-features = false, features = ["async-io"]` and never names a sleeper.
/// To set one in code, once for a whole program, wrap the entry point in a function of
/// your own and call that everywhere:
///
/// ```
/// use std::future::Future;
/// use steadfast::{Attempt, FuturesTimerSleeper, Retry, StdClock, Stateless};
///
/// /// This program's `retry`: futures-timer's sleeper and the system clock.
/// fn retry<F, Fut, T, E>(op: F) -> Retry<'static, Stateless<F>, steadfast::Policy,
///     steadfast::RetryAnyError, (), FuturesTimerSleeper, StdClock>
/// where
///     F: FnMut(Attempt) -> Fut,
///     Fut: Future<Output = Result<T, E>>,
/// {
///     steadfast::retry(op).sleeper(FuturesTimerSleeper).clock(StdClock)
/// }
///
/// # futures_executor::block_on(async {
/// let value = retry(|_| async { Ok::<_, std::io::Error>(7) }).await.unwrap();
/// assert_eq!(value, 7);
/// # });
/// ```
///
/// # A sleeper of your own
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

/// tokio's timer, [`tokio::time::sleep`], where a tokio runtime is running.
///
/// A sleep that starts where no tokio runtime is running (under
/// `futures::executor::block_on`, smol or async-std) waits on `futures-timer`'s timer
/// thread instead: a call works under any executor rather than panicking on its first
/// retry. The check costs nothing on a first try, which never sleeps. Inside a runtime
/// built without `enable_time`, tokio's own timer panics, as for any tokio sleep.
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
    type Sleep = TokioSleep;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        // Inside a tokio task is a thread-local read; elsewhere (a `block_on`, or no
        // runtime at all) ask for the runtime's handle, which costs a shared count.
        let in_runtime =
            tokio::task::try_id().is_some() || tokio::runtime::Handle::try_current().is_ok();
        let timer = if in_runtime {
            TokioTimer::Tokio {
                sleep: tokio::time::sleep(delay),
            }
        } else {
            TokioTimer::Elsewhere {
                delay: futures_timer::Delay::new(delay),
            }
        };
        TokioSleep { timer }
    }
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    /// The timer of [`TokioSleeper`]: tokio's, or futures-timer's outside a tokio
    /// runtime.
    ///
    /// ```
    /// use steadfast::{Sleeper, TokioSleeper};
    ///
    /// // No runtime here: the sleep still completes.
    /// futures_executor::block_on(TokioSleeper.sleep(std::time::Duration::from_micros(1)));
    /// ```
    #[derive(Debug)]
    pub struct TokioSleep {
        #[pin]
        timer: TokioTimer,
    }
}

#[cfg(feature = "tokio")]
pin_project_lite::pin_project! {
    #[project = TokioTimerProj]
    #[derive(Debug)]
    enum TokioTimer {
        Tokio {
            #[pin]
            sleep: tokio::time::Sleep,
        },
        Elsewhere {
            delay: futures_timer::Delay,
        },
    }
}

#[cfg(feature = "tokio")]
impl Future for TokioSleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().timer.project() {
            TokioTimerProj::Tokio { sleep } => sleep.poll(cx),
            TokioTimerProj::Elsewhere { delay } => Pin::new(delay).poll(cx),
        }
    }
}

/// futures-timer's timer: works under any executor, with one helper thread for the
/// whole program.
///
/// ```
/// use steadfast::{retry, FuturesTimerSleeper};
///
/// futures_executor::block_on(async {
///     let value = retry(|_| async { Ok::<_, std::io::Error>(1) })
///         .sleeper(FuturesTimerSleeper)
///         .await;
///     assert_eq!(value.unwrap(), 1);
/// });
/// ```
#[cfg(feature = "futures-timer")]
#[cfg_attr(docsrs, doc(cfg(feature = "futures-timer")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FuturesTimerSleeper;

#[cfg(feature = "futures-timer")]
impl Sleeper for FuturesTimerSleeper {
    type Sleep = futures_timer::Delay;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        futures_timer::Delay::new(delay)
    }
}

/// The timer of smol and the async-io reactor, [`async_io::Timer`].
///
/// ```
/// use steadfast::{retry, AsyncIoSleeper};
///
/// async_io::block_on(async {
///     let value = retry(|_| async { Ok::<_, std::io::Error>(1) })
///         .sleeper(AsyncIoSleeper)
///         .await;
///     assert_eq!(value.unwrap(), 1);
/// });
/// ```
#[cfg(feature = "async-io")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-io")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsyncIoSleeper;

#[cfg(feature = "async-io")]
impl Sleeper for AsyncIoSleeper {
    type Sleep = AsyncIoSleep;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        AsyncIoSleep(async_io::Timer::after(delay))
    }
}

/// The timer of [`AsyncIoSleeper`].
///
/// ```
/// use steadfast::{AsyncIoSleeper, Sleeper};
///
/// async_io::block_on(AsyncIoSleeper.sleep(std::time::Duration::from_micros(1)));
/// ```
#[cfg(feature = "async-io")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-io")))]
#[derive(Debug)]
pub struct AsyncIoSleep(async_io::Timer);

#[cfg(feature = "async-io")]
impl Future for AsyncIoSleep {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// Blocks the thread: the sleeper of [`retry_blocking`](crate::retry_blocking), for
/// synchronous code with no runtime. The thread sleeps when the timer is first polled,
/// not when it is made, so an attempt timeout (which cannot interrupt synchronous code)
/// never sleeps at all.
///
/// ```
/// use steadfast::{retry_blocking, ThreadSleeper};
///
/// let value = retry_blocking(|_| Ok::<_, std::io::Error>(1)).sleeper(ThreadSleeper).call();
/// assert_eq!(value.unwrap(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    type Sleep = ThreadSleep;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        ThreadSleep(delay)
    }
}

/// The timer of [`ThreadSleeper`]: [`std::thread::sleep`] on its first poll.
///
/// ```
/// use steadfast::{Sleeper, ThreadSleeper};
///
/// futures_executor::block_on(ThreadSleeper.sleep(std::time::Duration::from_micros(1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadSleep(Duration);

impl Future for ThreadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        std::thread::sleep(self.0);
        Poll::Ready(())
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
/// let _ = steadfast::retry(|_| async { Ok::<_, std::io::Error>(()) }).sleeper(steadfast::NoSleeper).await;
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

/// The sleeper a call uses unless told otherwise, chosen by the features:
/// [`TokioSleeper`] with `tokio`, else [`AsyncIoSleeper`] with `async-io`, else
/// [`FuturesTimerSleeper`] with `futures-timer`, else [`NoSleeper`] (which must be
/// replaced).
///
/// ```
/// let sleeper = steadfast::DefaultSleeper::default();
/// ```
#[cfg(feature = "tokio")]
pub type DefaultSleeper = TokioSleeper;

/// The sleeper a call uses unless told otherwise, chosen by the features:
/// [`TokioSleeper`] with `tokio`, else [`AsyncIoSleeper`] with `async-io`, else
/// [`FuturesTimerSleeper`] with `futures-timer`, else [`NoSleeper`] (which must be
/// replaced).
///
/// ```
/// let sleeper = steadfast::DefaultSleeper::default();
/// ```
#[cfg(all(not(feature = "tokio"), feature = "async-io"))]
pub type DefaultSleeper = AsyncIoSleeper;

/// The sleeper a call uses unless told otherwise, chosen by the features:
/// [`TokioSleeper`] with `tokio`, else [`AsyncIoSleeper`] with `async-io`, else
/// [`FuturesTimerSleeper`] with `futures-timer`, else [`NoSleeper`] (which must be
/// replaced).
///
/// ```
/// let sleeper = steadfast::DefaultSleeper::default();
/// ```
#[cfg(all(
    not(feature = "tokio"),
    not(feature = "async-io"),
    feature = "futures-timer"
))]
pub type DefaultSleeper = FuturesTimerSleeper;

/// The sleeper a call uses unless told otherwise, chosen by the features:
/// [`TokioSleeper`] with `tokio`, else `AsyncIoSleeper` with `async-io`, else
/// `FuturesTimerSleeper` with `futures-timer`, else [`NoSleeper`] (which must be
/// replaced).
///
/// ```
/// let sleeper = steadfast::DefaultSleeper::default();
/// ```
#[cfg(not(any(feature = "tokio", feature = "async-io", feature = "futures-timer")))]
pub type DefaultSleeper = NoSleeper;
