//! Which call an attempt belongs to, from which its idempotency key and jitter seed are
//! derived only when something reads them.
//!
//! A call that succeeds on its first try and never reads its key should not pay for a
//! draw from a secure generator (a ChaCha block and a thread-local lookup, about a
//! quarter of such a call's instructions). So a call takes only a name when it starts:
//! this thread's number and the next value of a thread-local counter, which costs a
//! thread-local increment and touches no memory that another thread writes. The key is
//! the ChaCha12 keystream at that position, under a process-wide secret drawn once from
//! the operating system's generator: as unpredictable as a key drawn directly, the same
//! for every attempt of the call on whichever thread reads it, and never the same for
//! two calls.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chacha20::ChaCha12Rng;

use crate::rng::JitterRng;
use chacha20::rand_core::{Rng, SeedableRng};

/// The name of one call: unique in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallId {
    thread: u64,
    sequence: u64,
}

/// Numbers threads in the order they start their first call.
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's number (`u64::MAX` until its first call) and its next sequence.
    static THIS_THREAD: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

/// The process's secret: one 256-bit draw from the operating system, on first use.
fn secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut seed = [0_u8; 32];
        rand::rng().fill_bytes(&mut seed);
        seed
    })
}

impl CallId {
    /// A fresh name, for a call that is starting.
    #[inline]
    pub(crate) fn next() -> Self {
        THIS_THREAD
            .try_with(|cell| {
                let (mut thread, sequence) = cell.get();
                if thread == u64::MAX {
                    thread = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
                }
                cell.set((thread, sequence.wrapping_add(1)));
                Self { thread, sequence }
            })
            // A call started while this thread's locals are being torn down: take a
            // stream of its own, from the shared counter (rare, and still unique).
            .unwrap_or_else(|_| Self {
                thread: NEXT_THREAD.fetch_add(1, Ordering::Relaxed),
                sequence: 0,
            })
    }

    /// 64 bits to seed the call's jitter: different for every call and every process,
    /// and cheap (a few multiplications), since a failed attempt of a call with a
    /// zero delay must cost next to nothing. Jitter needs spread, not secrecy.
    #[inline]
    pub(crate) fn jitter_seed(self) -> u64 {
        let mut process = [0_u8; 8];
        process.copy_from_slice(&secret()[24..]);
        let mut rng = JitterRng::seeded(
            u64::from_le_bytes(process) ^ self.thread.rotate_left(32) ^ self.sequence,
        );
        rng.next_u64()
    }

    /// The call's 16 secret random bytes: the keystream under the process secret at the
    /// position this call names (stream = thread, four words per call).
    pub(crate) fn random_bytes(self) -> [u8; 16] {
        let mut rng = ChaCha12Rng::from_seed(*secret());
        rng.set_stream(self.thread);
        rng.set_word_pos(u128::from(self.sequence).saturating_mul(4));
        let mut bytes = [0_u8; 16];
        rng.fill_bytes(&mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_has_its_own_bytes_and_keeps_them() {
        let first = CallId::next();
        let second = CallId::next();
        assert_ne!(first, second);
        assert_eq!(first.random_bytes(), first.random_bytes());
        assert_ne!(first.random_bytes(), second.random_bytes());
        assert_eq!(first.jitter_seed(), first.jitter_seed());
        assert_ne!(first.jitter_seed(), second.jitter_seed());
    }

    #[test]
    fn threads_take_different_streams() {
        let here = CallId::next();
        let there = std::thread::spawn(CallId::next).join().unwrap();
        assert_ne!(here.thread, there.thread);
        assert_ne!(here.random_bytes(), there.random_bytes());
    }
}
