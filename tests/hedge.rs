//! Hedged calls, in paused time: when copies start, which answer wins, that losers are
//! dropped, and what the budget, the breaker and the latency sketch see.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use steadfast::{
    BreakerState, CircuitBreaker, Decision, Idempotency, IdempotencyKey, Latencies, RetryBudget,
    StopReason, hedge,
};
use tokio::time::{Instant, sleep};

/// Counts the copies alive (created and not yet dropped) and the most at once.
#[derive(Clone, Default)]
struct Live(Rc<(Cell<usize>, Cell<usize>)>);

struct Alive(Live);

impl Live {
    fn enter(&self) -> Alive {
        let now = self.0.0.get() + 1;
        self.0.0.set(now);
        self.0.1.set(self.0.1.get().max(now));
        Alive(self.clone())
    }
    fn now(&self) -> usize {
        self.0.0.get()
    }
    fn most(&self) -> usize {
        self.0.1.get()
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.0.0.set(self.0.0.0.get() - 1);
    }
}

/// What the copies of a test's calls share: their live count, a log of when each
/// started (with its number and key), and the test's start.
struct Harness {
    live: Live,
    log: Log,
    start: Instant,
}

impl Harness {
    fn new() -> Self {
        Self {
            live: Live::default(),
            log: Log::default(),
            start: Instant::now(),
        }
    }

    /// When each copy started, by number.
    fn starts(&self) -> Vec<(u32, Duration)> {
        self.log
            .borrow()
            .iter()
            .map(|(n, at, _)| (*n, *at))
            .collect()
    }

    /// A copy that answers `result` after `took`, counted while it lives and logged
    /// when it starts.
    fn copy<T>(
        &self,
        attempt: steadfast::Attempt,
        took: Duration,
        result: Result<T, &'static str>,
    ) -> impl std::future::Future<Output = Result<T, &'static str>> + use<T> {
        let alive = self.live.enter();
        self.log.borrow_mut().push((
            attempt.number(),
            self.start.elapsed(),
            attempt.idempotency_key(),
        ));
        async move {
            let _alive = alive;
            sleep(took).await;
            result
        }
    }
}

type Log = Rc<RefCell<Vec<(u32, Duration, IdempotencyKey)>>>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn an_answer_before_the_delay_starts_no_copy() {
    let h = Harness::new();
    let budget = RetryBudget::token_bucket(1.0, 5.0).build().unwrap();
    let answer = hedge(|a| h.copy(a, ms(10), Ok(1)))
        .after(ms(20))
        .budget(&budget)
        .await;
    assert_eq!(answer.unwrap(), 1);
    assert_eq!(h.start.elapsed(), ms(10));
    assert_eq!(h.log.borrow().len(), 1);
    assert_eq!(budget.snapshot().granted, 0, "no copy, nothing withdrawn");
    assert_eq!(h.live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_copy_is_hedged_at_the_delay_and_the_loser_dropped() {
    let h = Harness::new();
    let answer = hedge(|a| {
        let took = if a.number() == 1 { ms(500) } else { ms(5) };
        h.copy(a, took, Ok(a.number()))
    })
    .after(ms(20))
    .await;
    assert_eq!(answer.unwrap(), 2);
    assert_eq!(h.start.elapsed(), ms(25));
    assert_eq!(h.starts(), [(1, ms(0)), (2, ms(20))]);
    let log = h.log.borrow();
    assert_eq!(log[0].2, log[1].2, "every copy carries the call's key");
    assert_eq!(
        h.live.now(),
        0,
        "the slow copy was dropped when the other won"
    );
    assert_eq!(h.live.most(), 2);
}

#[tokio::test(start_paused = true)]
async fn copies_start_one_delay_apart_up_to_the_limit_and_never_more_than_three_at_once() {
    let h = Harness::new();
    let err = hedge(|a| h.copy(a, ms(1_000), Err::<(), _>("slow, then failed")))
        .after(ms(10))
        .max_copies(5)
        .await
        .unwrap_err();
    let starts = h.starts();
    // Three copies fill the slots; each failure (at 1 s, 1.01 s) makes room for the next,
    // which starts at once.
    assert_eq!(
        starts,
        [
            (1, ms(0)),
            (2, ms(10)),
            (3, ms(20)),
            (4, ms(1_000)),
            (5, ms(1_010))
        ]
    );
    assert_eq!(h.live.most(), 3);
    assert_eq!(h.live.now(), 0);
    assert_eq!(err.reason(), StopReason::AttemptsExhausted);
    assert_eq!(err.attempts(), 5);
    assert_eq!(err.error(), Some(&"slow, then failed"));
    // The last copy, started at 1.01 s, failed at 2.01 s.
    assert_eq!(h.start.elapsed(), ms(2_010));
}

#[tokio::test(start_paused = true)]
async fn a_retryable_failure_starts_the_next_copy_at_once() {
    let h = Harness::new();
    let answer = hedge(|a| {
        let (took, result) = if a.number() == 1 {
            (ms(3), Err("reset"))
        } else {
            (ms(4), Ok(a.number()))
        };
        h.copy(a, took, result)
    })
    .after(ms(50))
    .await;
    assert_eq!(answer.unwrap(), 2);
    let starts = h.starts();
    assert_eq!(starts, [(1, ms(0)), (2, ms(3))]);
    assert_eq!(h.start.elapsed(), ms(7));
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_ends_the_call_and_drops_the_other_copies() {
    let h = Harness::new();
    let err = hedge(|a| {
        let (took, result) = if a.number() == 1 {
            (ms(100), Err::<u32, _>("slow"))
        } else {
            (ms(5), Err("invalid"))
        };
        h.copy(a, took, result)
    })
    .after(ms(10))
    .max_copies(3)
    .when(|error: &&str| {
        if *error == "invalid" {
            Decision::Fail
        } else {
            Decision::Retry
        }
    })
    .await
    .unwrap_err();
    assert_eq!(err.reason(), StopReason::Permanent);
    assert_eq!(err.error(), Some(&"invalid"));
    assert_eq!(err.attempts(), 2);
    assert_eq!(h.start.elapsed(), ms(15));
    assert_eq!(h.live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn every_extra_copy_spends_from_the_budget() {
    let h = Harness::new();
    let budget = RetryBudget::token_bucket(0.001, 1.0).build().unwrap();
    let slow = |a: steadfast::Attempt| h.copy(a, ms(100), Ok(a.number()));
    // One token: the first call hedges once, the second cannot hedge at all.
    assert_eq!(
        hedge(slow)
            .after(ms(10))
            .max_copies(3)
            .budget(&budget)
            .await
            .unwrap(),
        1
    );
    assert_eq!(h.log.borrow().len(), 2);
    let snapshot = budget.snapshot();
    assert_eq!((snapshot.granted, snapshot.denied), (1, 1));
    h.log.borrow_mut().clear();
    assert_eq!(hedge(slow).after(ms(10)).budget(&budget).await.unwrap(), 1);
    assert_eq!(h.log.borrow().len(), 1);
    assert_eq!(budget.snapshot().denied, 2);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_sees_every_copy_and_gets_back_the_losers_permits() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(2)
        .open_for(ms(100))
        .half_open_probes(2, 1)
        .build()
        .unwrap();
    // Two failures open the breaker: both copies of one call count.
    let err = hedge(|_| async {
        sleep(ms(30)).await;
        Err::<(), _>("down")
    })
    .after(ms(10))
    .breaker(&breaker)
    .await
    .unwrap_err();
    assert_eq!(err.attempts(), 2);
    assert_eq!(breaker.state(), BreakerState::Open);
    // Half-open: the two probes go to the two copies. The first wins; the second is
    // dropped and its probe slot given back, so the breaker can close.
    sleep(ms(100)).await;
    let answer = hedge(|a| async move {
        sleep(if a.number() == 1 { ms(15) } else { ms(1_000) }).await;
        Ok::<_, &str>(a.number())
    })
    .after(ms(10))
    .breaker(&breaker)
    .await;
    assert_eq!(answer.unwrap(), 1);
    assert_ne!(breaker.state(), BreakerState::Open);
    let answer = hedge(|_| async { Ok::<_, &str>(7) })
        .breaker(&breaker)
        .await;
    assert_eq!(answer.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stops_the_call_before_any_copy() {
    let breaker = CircuitBreaker::default();
    breaker.force_open();
    let mut started = 0;
    let err = hedge(|_| {
        started += 1;
        async { Ok::<_, &str>(()) }
    })
    .breaker(&breaker)
    .await
    .unwrap_err();
    assert!(matches!(err.reason(), StopReason::BreakerOpen { .. }));
    assert_eq!((err.attempts(), started), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn an_operation_not_safe_to_repeat_is_never_hedged_unless_keyed() {
    for (idempotency, copies) in [
        (Idempotency::NotIdempotent, 1),
        (Idempotency::Keyed, 2),
        (Idempotency::Idempotent, 2),
    ] {
        let h = Harness::new();
        let answer = hedge(|a| h.copy(a, ms(100), Ok(a.number())))
            .after(ms(10))
            .idempotency(idempotency)
            .await;
        assert_eq!(answer.unwrap(), 1);
        assert_eq!(h.log.borrow().len(), copies, "{idempotency:?}");
    }
}

/// The first copy's answer is "busy"; every later copy answers with its number.
fn busy_first(attempt: &steadfast::Attempt) -> Result<u32, &'static str> {
    if attempt.number() == 1 {
        Err("busy")
    } else {
        Ok(attempt.number())
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_hint_delays_the_next_copy_and_a_hostile_one_ends_the_call() {
    let h = Harness::new();
    let answer = hedge(|a| h.copy(a, ms(5), busy_first(&a)))
        .after(ms(1_000))
        .when(|_| Decision::RetryAfter(ms(200)))
        .await;
    assert_eq!(answer.unwrap(), 2);
    let starts = h.starts();
    assert_eq!(starts, [(1, ms(0)), (2, ms(205))]);

    let start = Instant::now();
    let err = hedge(|_| async { Err::<(), _>("go away") })
        .when(|_| Decision::RetryAfter(Duration::from_secs(1_000_000)))
        .await
        .unwrap_err();
    assert_eq!(
        err.reason(),
        StopReason::RetryAfterTooLong {
            retry_after: Duration::from_secs(1_000_000)
        }
    );
    assert_eq!(err.attempts(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO, "no sleep");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_drops_every_copy() {
    let h = Harness::new();
    let call = hedge(|a| h.copy(a, ms(1_000), Ok(())))
        .after(ms(10))
        .max_copies(3);
    let timed_out = tokio::time::timeout(ms(25), call).await;
    assert!(timed_out.is_err());
    assert_eq!(h.live.most(), 3);
    assert_eq!(h.live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_delay_follows_the_recorded_latencies_losers_included() {
    let latencies = Latencies::builder()
        .percentile(0.95)
        .initial(ms(40))
        .period(ms(1))
        .min_samples(11)
        .build()
        .unwrap();
    let h = Harness::new();
    // Nine fast calls, one that hedges after the initial 40 ms (its first copy is
    // recorded at 40 + 2 ms, when it lost), and one more fast call, whose latency
    // completes the period: the percentile is read then.
    for n in 0..11_u64 {
        let took = if n == 9 { ms(1_000) } else { ms(2) };
        let answer = hedge(|a| {
            let took = if a.number() == 1 { took } else { ms(2) };
            h.copy(a, took, Ok(()))
        })
        .after_percentile(&latencies)
        .await;
        assert!(answer.is_ok());
    }
    assert_eq!(h.log.borrow().len(), 12);
    // Twelve latencies: ten of 2 ms, the winner's 2 ms and the loser's 42 ms. The
    // 95th percentile is the largest: the loser's, which a sketch of winners alone
    // would not hold (it would read 2 ms). Buckets are within a sixteenth.
    let delay = latencies.delay().as_secs_f64() * 1e3;
    assert!((delay - 42.0).abs() <= 42.0 / 16.0, "{delay} ms");
    assert_ne!(
        latencies.delay(),
        ms(40),
        "read from the latencies, not the initial delay"
    );
    assert_eq!(h.live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hedged_call_can_be_spawned() {
    let latencies = Latencies::default();
    let task = tokio::spawn(async move {
        hedge(|a| async move { Ok::<_, std::io::Error>(a.number()) })
            .after_percentile(&latencies)
            .await
    });
    assert_eq!(task.await.unwrap().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_gives_back_every_copys_breaker_permit() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(ms(100))
        .half_open_probes(3, 3)
        .build()
        .unwrap();
    breaker.record(
        breaker.try_acquire().unwrap(),
        steadfast::CallOutcome::Failure,
    );
    sleep(ms(100)).await;
    // Half-open with three probe slots: the call's three copies take them all.
    let call = hedge(|_| async {
        sleep(ms(1_000)).await;
        Ok::<_, &str>(())
    })
    .after(ms(10))
    .max_copies(3)
    .breaker(&breaker);
    assert!(tokio::time::timeout(ms(25), call).await.is_err());
    // Dropped mid-flight: the three probes are free again.
    let probes: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    assert!(breaker.try_acquire().is_err(), "three slots, no more");
    assert_eq!(probes.len(), 3);
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "`Hedge` polled after completion")]
async fn polling_a_finished_call_again_panics() {
    let mut call = Box::pin(hedge(|_| async { Ok::<_, &str>(1) }));
    let first = support::poll_once(&mut call).await;
    assert!(first.is_ready());
    let _ = support::poll_once(&mut call).await;
}

#[tokio::test(start_paused = true)]
async fn a_call_says_how_far_it_got() {
    let h = Harness::new();
    let mut call = Box::pin(
        hedge(|a| h.copy(a, ms(100), Ok(())))
            .after(ms(10))
            .max_copies(3),
    );
    assert_eq!(
        format!("{call:?}"),
        "Hedge { copies: 0, in_flight: 0, max_copies: 3, idempotency: Idempotent, .. }"
    );
    let polled = support::poll_once(&mut call).await;
    assert!(polled.is_pending());
    assert_eq!(
        format!("{call:?}"),
        "Hedge { copies: 1, in_flight: 1, max_copies: 3, idempotency: Idempotent, .. }"
    );
}

#[tokio::test(start_paused = true)]
async fn a_half_open_breaker_with_its_probe_out_stops_the_call_as_half_open() {
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(ms(100))
        .build()
        .unwrap();
    breaker.record(
        breaker.try_acquire().unwrap(),
        steadfast::CallOutcome::Failure,
    );
    sleep(ms(100)).await;
    let _probe = breaker.try_acquire().unwrap();
    let err = hedge(|_| async { Ok::<_, &str>(()) })
        .breaker(&breaker)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::BreakerHalfOpen);
    assert_eq!(err.attempts(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_last_copy_failing_ends_the_call_without_waiting_for_a_timer() {
    let h = Harness::new();
    let err = hedge(|a| h.copy(a, ms(5), Err::<(), _>("reset")))
        .after(ms(100))
        .max_copies(2)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::AttemptsExhausted);
    assert_eq!(err.attempts(), 2);
    // The first failed at 5 ms and the second started at once; it failed at 10 ms.
    assert_eq!(h.start.elapsed(), ms(10));
}

/// Copies that fail with `decision` under `idempotency`: how many started, and why the
/// call stopped.
async fn copies_after_failures(
    decision: Decision,
    idempotency: Idempotency,
) -> (usize, StopReason) {
    let h = Harness::new();
    let err = hedge(|a| h.copy(a, ms(5), Err::<(), _>("refused")))
        .after(ms(100))
        .when(move |_| decision)
        .idempotency(idempotency)
        .await
        .unwrap_err();
    let copies = h.log.borrow().len();
    (copies, err.reason())
}

#[tokio::test(start_paused = true)]
async fn a_conflict_is_repeated_only_with_the_key() {
    for (idempotency, expected) in [
        (Idempotency::Keyed, (2, StopReason::AttemptsExhausted)),
        (Idempotency::Idempotent, (1, StopReason::Permanent)),
    ] {
        let seen = copies_after_failures(Decision::RetryIfKeyed, idempotency).await;
        assert_eq!(seen, expected, "{idempotency:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_operation_not_safe_to_repeat_gets_another_copy_only_after_an_unsent_failure() {
    for (decision, expected) in [
        (Decision::Retry, (1, StopReason::NotIdempotent)),
        (Decision::RetryUnsent, (2, StopReason::AttemptsExhausted)),
    ] {
        let seen = copies_after_failures(decision, Idempotency::NotIdempotent).await;
        assert_eq!(seen, expected, "{decision:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_hint_of_exactly_the_limit_is_honoured() {
    let h = Harness::new();
    let answer = hedge(|a| h.copy(a, ms(5), busy_first(&a)))
        .after(ms(1_000))
        .max_retry_after(ms(200))
        .when(|_| Decision::RetryAfter(ms(200)))
        .await;
    assert_eq!(answer.unwrap(), 2);
    let starts = h.starts();
    assert_eq!(starts, [(1, ms(0)), (2, ms(205))]);
}
