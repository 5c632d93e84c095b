//! Metrics through the [`metrics`] facade (feature `metrics`): counters and a histogram
//! for calls, attempts, retries, give-ups, breaker transitions and budget denials.

use std::sync::Arc;

use metrics::{Counter, Histogram, counter, histogram};

use crate::breaker::BreakerState;
use crate::budget::RetryCause;
use crate::error::StopReason;

/// The metrics of retried calls to one dependency, registered once and shared.
///
/// Clone it freely (an `Arc` inside) and hand it to every call to that dependency with
/// [`Retry::metrics`](crate::Retry::metrics).
///
/// The names follow resilience4j's, under a `resilience.` prefix as Polly's do, with
/// the dependency's name as the `name` label:
///
/// | metric | kind | labels | counts |
/// |---|---|---|---|
/// | `resilience.retry.calls` | counter | `name`, `kind` | finished calls: `kind` is `successful_without_retry`, `successful_with_retry`, `failed_without_retry` or `failed_with_retry` |
/// | `resilience.retry.attempts` | counter | `name` | attempts started |
/// | `resilience.retry.retries` | counter | `name`, `cause` | retries scheduled: `cause` is `transient`, `throttled` or `timed_out` |
/// | `resilience.retry.give_ups` | counter | `name`, `reason` | calls that stopped without a value the classifier accepted, by [`StopReason`] in snake case (`attempts_exhausted`, `budget_exhausted`, `breaker_open`, `permanent`, ...) |
/// | `resilience.retry.attempts_per_call` | histogram | `name` | attempts each finished call made |
/// | `resilience.circuit_breaker.transitions` | counter | `name`, `from`, `to` | changes of state (`closed`, `open`, `half_open`, `forced_open`, `disabled`) |
/// | `resilience.retry_budget.denied` | counter | `name` | retries the budget refused |
///
/// A call records through a [`RetryMetrics`] set with [`Retry::metrics`](crate::Retry::metrics)
/// (or [`RetryLayer::metrics`](crate::RetryLayer::metrics)); a breaker and a budget
/// record when built with a name (`metrics(name)` on their builders). Calls without
/// them record nothing and pay nothing. Handles are registered when these are built,
/// so install the recorder first.
///
/// ```
/// use steadfast::{retry, RetryMetrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = RetryMetrics::new("inventory");
/// let value = retry(|_| async { Ok::<_, std::io::Error>(1) }).metrics(&metrics).await;
/// # }
/// ```
#[derive(Clone)]
pub struct RetryMetrics {
    handles: Arc<Handles>,
}

struct Handles {
    attempts: Counter,
    /// By outcome (success, failure), then by whether the call retried: [`KINDS`].
    calls: [[Counter; 2]; 2],
    /// By [`cause_index`].
    retries: [Counter; CAUSES.len()],
    /// By [`reason_index`].
    give_ups: [Counter; REASONS.len()],
    attempts_per_call: Histogram,
}

const KINDS: [[&str; 2]; 2] = [
    ["successful_without_retry", "successful_with_retry"],
    ["failed_without_retry", "failed_with_retry"],
];

const CAUSES: [&str; 4] = ["transient", "throttled", "timed_out", "hedge"];

const REASONS: [&str; 10] = [
    "permanent",
    "attempts_exhausted",
    "deadline_exceeded",
    "retry_after_too_long",
    "not_idempotent",
    "breaker_open",
    "breaker_half_open",
    "budget_exhausted",
    "state_lost",
    "throttled_locally",
];

impl RetryMetrics {
    /// Registers the metrics of calls to the dependency `name` with the installed
    /// recorder.
    ///
    /// ```
    /// let metrics = steadfast::RetryMetrics::new("payments");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        let name: String = name.into();
        let labelled = |metric: &'static str, label: &'static str, value: &'static str| counter!(metric, "name" => name.clone(), label => value);
        Self {
            handles: Arc::new(Handles {
                attempts: counter!("resilience.retry.attempts", "name" => name.clone()),
                calls: KINDS.map(|kinds| {
                    kinds.map(|kind| labelled("resilience.retry.calls", "kind", kind))
                }),
                retries: CAUSES.map(|cause| labelled("resilience.retry.retries", "cause", cause)),
                give_ups: REASONS
                    .map(|reason| labelled("resilience.retry.give_ups", "reason", reason)),
                attempts_per_call: histogram!(
                    "resilience.retry.attempts_per_call",
                    "name" => name.clone()
                ),
            }),
        }
    }

    #[inline]
    pub(crate) fn attempt(&self) {
        self.handles.attempts.increment(1);
    }

    #[inline]
    pub(crate) fn retry(&self, cause: RetryCause) {
        self.handles.retries[cause_index(cause)].increment(1);
    }

    /// A finished call: `accepted` when the classifier accepted its last outcome, else
    /// why it stopped.
    #[inline]
    pub(crate) fn finished(&self, stopped: Option<StopReason>, attempts: u32) {
        let handles = &*self.handles;
        let retried = usize::from(attempts > 1);
        match stopped {
            None => handles.calls[0][retried].increment(1),
            Some(reason) => {
                handles.calls[1][retried].increment(1);
                handles.give_ups[reason_index(reason)].increment(1);
            }
        }
        handles.attempts_per_call.record(f64::from(attempts));
    }
}

impl std::fmt::Debug for RetryMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryMetrics").finish_non_exhaustive()
    }
}

fn cause_index(cause: RetryCause) -> usize {
    match cause {
        RetryCause::Transient => 0,
        RetryCause::Throttled => 1,
        RetryCause::TimedOut => 2,
        RetryCause::Hedge => 3,
    }
}

fn reason_index(reason: StopReason) -> usize {
    match reason {
        StopReason::Permanent => 0,
        StopReason::AttemptsExhausted => 1,
        StopReason::DeadlineExceeded => 2,
        StopReason::RetryAfterTooLong { .. } => 3,
        StopReason::NotIdempotent => 4,
        StopReason::BreakerOpen { .. } => 5,
        StopReason::BreakerHalfOpen => 6,
        StopReason::BudgetExhausted => 7,
        StopReason::StateLost => 8,
        StopReason::ThrottledLocally => 9,
    }
}

/// A breaker's transition counter, by `from` and `to`.
pub(crate) struct BreakerMeter {
    transitions: [[Counter; STATES.len()]; STATES.len()],
}

const STATES: [&str; 5] = ["closed", "open", "half_open", "forced_open", "disabled"];

impl BreakerMeter {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            transitions: STATES.map(|from| {
                STATES.map(|to| {
                    counter!(
                        "resilience.circuit_breaker.transitions",
                        "name" => name.to_owned(),
                        "from" => from,
                        "to" => to
                    )
                })
            }),
        }
    }

    pub(crate) fn transition(&self, from: BreakerState, to: BreakerState) {
        self.transitions[state_index(from)][state_index(to)].increment(1);
    }
}

fn state_index(state: BreakerState) -> usize {
    match state {
        BreakerState::Closed => 0,
        BreakerState::Open => 1,
        BreakerState::HalfOpen => 2,
        BreakerState::ForcedOpen => 3,
        BreakerState::Disabled => 4,
    }
}

/// A budget's denial counter.
pub(crate) struct BudgetMeter {
    denied: Counter,
}

impl BudgetMeter {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            denied: counter!("resilience.retry_budget.denied", "name" => name.to_owned()),
        }
    }

    pub(crate) fn denied(&self) {
        self.denied.increment(1);
    }
}
