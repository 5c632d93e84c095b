//! The atomics behind the shared breaker and budget, imported in one place so that a
//! model checker's atomics can be swapped in for every state machine at once.

pub(crate) use std::sync::Arc;
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
