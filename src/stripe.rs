//! A counter that many threads add to without contending: one cache line per thread.
//!
//! Every call deposits into its budget and counts itself in its breaker, so a single
//! shared counter would be written by every thread on every call, and its cache line
//! would bounce between cores (a write to one word that two cores share costs tens of
//! nanoseconds each time). Instead each thread that uses striped counters is given a
//! number of its own, `0..OWNED`, for as long as it lives; in every counter, the cell
//! with that number is written by that thread alone, with a plain load and store (no
//! read-modify-write, no lock prefix). Threads beyond `OWNED` at once share a few
//! cells through `fetch_add`, which is still exact, only slower. Reading the total
//! sums the cells: the rare path (a retry, a failure, a snapshot) pays, not the call.
//!
//! A thread's number returns to a free list when the thread exits, and the next owner
//! takes it under the same lock, so the last store of one owner happens before the
//! first load of the next: no count is ever lost.

// Under loom the thread numbers are not used (see `Striped::add`).
#![cfg_attr(loom, allow(dead_code))]

use std::cell::Cell;
use std::sync::Mutex;

use crate::sync::{AtomicU64, Ordering};

/// Cells written by one thread each.
const OWNED: usize = 16;
/// Cells shared, through `fetch_add`, by threads beyond the first `OWNED` at once.
const SHARED: usize = 2;

/// One counter cell on a cache line of its own, so that two threads' cells never
/// share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Cell64(AtomicU64);

/// A sum that any thread adds to cheaply and that is read rarely.
#[derive(Debug, Default)]
pub(crate) struct Striped {
    cells: [Cell64; OWNED + SHARED],
}

/// Thread numbers not held by a live thread, and the next never-used one.
static FREE: Mutex<(Vec<usize>, usize)> = Mutex::new((Vec::new(), 0));

/// Holds this thread's number while it lives; gives it back when the thread exits.
struct Owner(usize);

impl Owner {
    fn take() -> Self {
        let mut free = match FREE.lock() {
            Ok(free) => free,
            Err(poisoned) => poisoned.into_inner(),
        };
        let number = match free.0.pop() {
            Some(number) => number,
            None => {
                let next = free.1;
                free.1 = next.saturating_add(1);
                next
            }
        };
        Self(number)
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Whatever this thread still counts while it winds down goes to the shared
        // cells: its number may belong to another thread a moment from now.
        let _ = NUMBER.try_with(|cached| cached.set(OWNED));
        if self.0 < OWNED {
            let mut free = match FREE.lock() {
                Ok(free) => free,
                Err(poisoned) => poisoned.into_inner(),
            };
            free.0.push(self.0);
        }
    }
}

thread_local! {
    static NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
    static OWNER: Owner = Owner::take();
}

/// This thread's number: below `OWNED` if it owns cells, else some larger number.
#[inline]
fn number() -> usize {
    NUMBER
        .try_with(|cached| {
            let number = cached.get();
            if number != usize::MAX {
                return number;
            }
            // First use on this thread: take a number, held until the thread exits.
            let number = OWNER.try_with(|owner| owner.0).unwrap_or(OWNED);
            cached.set(number);
            number
        })
        // A thread tearing down its locals counts through the shared cells.
        .unwrap_or(OWNED)
}

impl Striped {
    /// Adds `amount` (wrapping, which 2^64 additions would take).
    #[inline]
    pub(crate) fn add(&self, amount: u64) {
        // Under loom, model threads share one OS thread and so one thread number: they
        // count through the shared cells, whose `fetch_add` the model checks.
        #[cfg(loom)]
        let number = OWNED;
        #[cfg(not(loom))]
        let number = number();
        match self.cells.get(number) {
            Some(cell) if number < OWNED => {
                // Only this thread writes this cell: a load and a store suffice.
                let value = cell.0.load(Ordering::Relaxed);
                cell.0.store(value.wrapping_add(amount), Ordering::Relaxed);
            }
            _ => {
                let shared = OWNED.saturating_add(number % SHARED);
                if let Some(cell) = self.cells.get(shared) {
                    cell.0.fetch_add(amount, Ordering::Relaxed);
                }
            }
        }
    }

    /// Everything added so far, wrapping.
    pub(crate) fn sum(&self) -> u64 {
        self.cells.iter().fold(0_u64, |sum, cell| {
            sum.wrapping_add(cell.0.load(Ordering::Relaxed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thread numbers are global: tests that hold many at once run one at a time, so
    /// that the reuse test is not starved of numbers by the others.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[test]
    fn sums_what_every_thread_added() {
        let _serial = serial();
        let counter = Striped::default();
        std::thread::scope(|scope| {
            for _ in 0..(OWNED + 8) {
                scope.spawn(|| {
                    for _ in 0..1_000 {
                        counter.add(1);
                    }
                });
            }
        });
        counter.add(5);
        assert_eq!(counter.sum(), (OWNED as u64 + 8) * 1_000 + 5);
    }

    #[test]
    fn no_count_is_lost_while_threads_come_and_go() {
        // Waves of short-lived threads, more at once than there are owned cells, so
        // numbers are handed back and taken again while others count.
        let _serial = serial();
        let counter = Striped::default();
        for _ in 0..8 {
            std::thread::scope(|scope| {
                for _ in 0..(OWNED + 4) {
                    scope.spawn(|| {
                        for _ in 0..500 {
                            counter.add(2);
                        }
                    });
                }
            });
        }
        assert_eq!(counter.sum(), 8 * (OWNED as u64 + 4) * 500 * 2);
    }

    #[test]
    fn numbers_are_reused_after_a_thread_exits() {
        let _serial = serial();
        // Three times as many threads, one after another, as there are owned cells:
        // without reuse, the later ones would get no owned cell.
        for _ in 0..3 * OWNED {
            let first = std::thread::spawn(number).join().unwrap();
            let second = std::thread::spawn(number).join().unwrap();
            assert!(first < OWNED && second < OWNED);
        }
    }
}
