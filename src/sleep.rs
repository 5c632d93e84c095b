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
/// runtime is running, its timer belongs to a small fallback runtime with a thread of
/// its own, so a call under another executor works rather than panicking on its first
/// retry.
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

/// tokio's timer, [`tokio::time::sleep`].
///
/// A sleep that starts where no tokio runtime is running (under
/// `futures::executor::block_on`, smol or async-std) is a timer of a small fallback
/// runtime, started on first use with one thread of its own: a call works under any
/// executor rather than panicking on its first retry. The check costs nothing on a
/// first try, which never sleeps. Inside a runtime built without `enable_time`, tokio's
/// own timer panics, as for any tokio sleep.
///
/// # Panics
///
/// Only if the operating system refuses the fallback runtime its thread, on the first
/// sleep outside a runtime.
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

    // Out of line: making a timer costs far more than a call, and inlined, the search
    // for a runtime would crowd the call's `poll`, which runs on every first try.
    #[inline(never)]
    fn sleep(&self, delay: Duration) -> Self::Sleep {
        if tokio::runtime::Handle::try_current().is_ok() {
            return tokio::time::sleep(delay);
        }
        // No runtime here: the timer belongs to the fallback runtime, whose thread
        // fires it. A tokio timer can be polled from any thread and any executor.
        let _entered = fallback::runtime().enter();
        tokio::time::sleep(delay)
    }
}

/// The timer of [`TokioSleeper`] outside any tokio runtime: a current-thread runtime
/// with only its timer enabled, started on first use and run by a thread of its own.
#[cfg(feature = "tokio")]
mod fallback {
    use std::sync::OnceLock;

    use tokio::runtime::{Builder, Handle};

    pub(super) fn runtime() -> &'static Handle {
        static RUNTIME: OnceLock<Handle> = OnceLock::new();
        RUNTIME.get_or_init(start)
    }

    // An operating system that refuses one thread or one timer leaves no way to wait:
    // say so plainly rather than let the call hang. It can happen only on the first
    // sleep outside a runtime, never on a first try.
    #[allow(clippy::panic)]
    fn start() -> Handle {
        let started = Builder::new_current_thread()
            .enable_time()
            .build()
            .and_then(|runtime| {
                let handle = runtime.handle().clone();
                std::thread::Builder::new()
                    .name("steadfast-timer".into())
                    .spawn(move || runtime.block_on(std::future::pending::<()>()))
                    .map(|_| handle)
            });
        match started {
            Ok(handle) => handle,
            Err(error) => panic!(
                "steadfast: could not start the timer thread for sleeps outside a tokio runtime: {error}"
            ),
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
