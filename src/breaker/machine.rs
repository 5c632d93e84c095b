//! The breaker's state machine: one atomic word, and one compare-and-swap helper,
//! [`Machine::update`], through which every transition goes.
//!
//! A transition is a function from the word it read to the word it wants. If another
//! thread changed the word in between, the function runs again on the new word and
//! decides afresh: a transition is never dropped because it lost a race (a probe's
//! failure lost that way would leave the breaker half-open with a slot held by no
//! one), and never applied to a state it was not meant for.
//!
//! Layout, from the low bits: the state (2 bits), probes in flight (16 bits), probe
//! successes (16 bits), and an epoch (30 bits) that every transition advances. A
//! call's permit remembers the epoch it was admitted in, so the outcome of a call that
//! outlived its state (admitted while closed, finished after the breaker opened) is
//! ignored instead of being counted against the wrong state.

/// The most probes a half-open breaker may admit at once, and the most successes it may
/// require: both must fit their 16-bit fields.
use crate::sync::{AtomicU64, Ordering};

pub(crate) const MAX_PROBES: u32 = 10_000;

/// The word, shared by every clone of a breaker.
#[derive(Debug)]
pub(crate) struct Machine {
    word: AtomicU64,
}

impl Machine {
    pub(crate) fn new() -> Self {
        Self {
            word: AtomicU64::new(Word::INITIAL.encode()),
        }
    }

    /// The current word: one load, the whole cost of a closed-state admission.
    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word::decode(self.word.load(Ordering::Acquire))
    }

    /// Applies `transition` to the current word until the swap succeeds, re-reading
    /// the word after every lost race. `transition` returns `None` to leave the word
    /// as it is. Returns the words before and after the swap, or the word that
    /// `transition` declined.
    pub(crate) fn update(
        &self,
        mut transition: impl FnMut(Word) -> Option<Word>,
    ) -> Result<(Word, Word), Word> {
        let mut bits = self.word.load(Ordering::Acquire);
        loop {
            let word = Word::decode(bits);
            let Some(next) = transition(word) else {
                return Err(word);
            };
            match self.word.compare_exchange_weak(
                bits,
                next.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok((word, next)),
                Err(actual) => bits = actual,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) phase: Phase,
    pub(crate) in_flight: u32,
    pub(crate) successes: u32,
    pub(crate) epoch: u32,
}

const FIELD: u64 = 0xffff;
const EPOCH_MASK: u32 = (1 << 30) - 1;

impl Word {
    pub(crate) const INITIAL: Self = Self {
        phase: Phase::Closed,
        in_flight: 0,
        successes: 0,
        epoch: 0,
    };

    pub(crate) fn decode(bits: u64) -> Self {
        let phase = match bits & 0b11 {
            0 => Phase::Closed,
            1 => Phase::Open,
            _ => Phase::HalfOpen,
        };
        Self {
            phase,
            in_flight: ((bits >> 2) & FIELD) as u32,
            successes: ((bits >> 18) & FIELD) as u32,
            epoch: (bits >> 34) as u32,
        }
    }

    pub(crate) fn encode(self) -> u64 {
        let phase = match self.phase {
            Phase::Closed => 0,
            Phase::Open => 1,
            Phase::HalfOpen => 2,
        };
        phase
            | ((u64::from(self.in_flight) & FIELD) << 2)
            | ((u64::from(self.successes) & FIELD) << 18)
            | (u64::from(self.epoch & EPOCH_MASK) << 34)
    }

    /// The first word of the next state: a new epoch, no probes.
    pub(crate) fn next(self, phase: Phase) -> Self {
        Self {
            phase,
            in_flight: 0,
            successes: 0,
            epoch: self.epoch.wrapping_add(1) & EPOCH_MASK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for phase in [Phase::Closed, Phase::Open, Phase::HalfOpen] {
            let word = Word {
                phase,
                in_flight: MAX_PROBES,
                successes: 7,
                epoch: EPOCH_MASK,
            };
            assert_eq!(Word::decode(word.encode()), word);
        }
        let wrapped = Word {
            epoch: EPOCH_MASK,
            ..Word::INITIAL
        }
        .next(Phase::Open);
        assert_eq!((wrapped.epoch, wrapped.phase), (0, Phase::Open));
    }
}
