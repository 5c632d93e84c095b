//! The atomics behind the shared breaker, budgets and throttle, imported in one place
//! so that loom's model-checked atomics replace them everywhere at once: built with
//! `RUSTFLAGS="--cfg loom"`, every state machine runs on loom's atomics (see
//! `loom/`, the models, and TESTING.md).

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
