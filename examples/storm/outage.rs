//! Part 2: a retry storm. A service with room for 300 requests a second serves, in
//! order from its queue, clients offering 280 a second, each attempt with a one-second
//! timeout. At 10 s the service stalls for 10 s. It cannot tell that a caller has given
//! up, so it works through requests nobody waits for: the classic setting of a
//! metastable failure, where retries keep the load above capacity after the trigger is
//! gone. The same clients are run
//! five ways: retrying at once, with capped exponential backoff and jitter, plus a
//! retry budget, plus a circuit breaker, and with backoff and jitter under an adaptive
//! throttle (no budget, no breaker); all with the crate's own retry future, budget,
//! breaker and throttle, in paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::{
    AdaptiveThrottle, CircuitBreaker, Constant, Exponential, Jitter, JitterRng, Policy,
    RetryBudget, retry,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::sample::{exponential, paused_runtime};

pub const SECONDS: usize = 60;
pub const OUTAGE: (u64, u64) = (10, 20);
const CAPACITY: f64 = 300.0;
const OFFERED: f64 = 280.0;
const TIMEOUT: Duration = Duration::from_secs(1);
const HOP: Duration = Duration::from_millis(1);
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    Immediate,
    Backoff,
    Budget,
    Breaker,
    Throttle,
}

impl Clients {
    pub const ALL: [Self; 5] = [
        Self::Immediate,
        Self::Backoff,
        Self::Budget,
        Self::Breaker,
        Self::Throttle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Immediate => "immediate retries",
            Self::Backoff => "backoff + jitter",
            Self::Budget => "+ retry budget",
            Self::Breaker => "+ circuit breaker",
            Self::Throttle => "backoff + throttling",
        }
    }
}

/// What happened in each second of the run.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    /// New calls (first attempts).
    pub calls: Vec<u64>,
    /// Attempts that reached the service.
    pub offered: Vec<u64>,
    /// Calls that succeeded.
    pub goodput: Vec<u64>,
    /// Requests the service worked on after their caller had given up.
    pub wasted: Vec<u64>,
    /// Attempts a breaker or budget stopped before they left the client.
    pub held_back: Vec<u64>,
}

impl Timeline {
    fn new() -> Self {
        let zeros = vec![0; SECONDS];
        Self {
            calls: zeros.clone(),
            offered: zeros.clone(),
            goodput: zeros.clone(),
            wasted: zeros.clone(),
            held_back: zeros,
        }
    }

    /// Seconds after the outage until goodput stays at 95% of the calls (over a
    /// three-second average) to the end of the run.
    pub fn recovery(&self) -> Option<u64> {
        let average = |series: &[u64], s: usize| series[s - 2..=s].iter().sum::<u64>() as f64 / 3.0;
        let healthy = |s: usize| average(&self.goodput, s) >= 0.95 * average(&self.calls, s);
        let end = OUTAGE.1 as usize;
        (end..SECONDS)
            .find(|&s| (s..SECONDS).all(healthy))
            .map(|s| (s - end) as u64)
    }

    pub fn amplification(&self) -> f64 {
        self.offered.iter().sum::<u64>() as f64 / self.calls.iter().sum::<u64>().max(1) as f64
    }
}

struct Job {
    reply: oneshot::Sender<()>,
}

fn in_outage(at: Duration) -> bool {
    at >= Duration::from_secs(OUTAGE.0) && at < Duration::from_secs(OUTAGE.1)
}

fn second(start: Instant) -> Option<usize> {
    let s = start.elapsed().as_secs() as usize;
    (s < SECONDS).then_some(s)
}

fn count(timeline: &Mutex<Timeline>, pick: fn(&mut Timeline) -> &mut Vec<u64>, start: Instant) {
    if let Some(s) = second(start) {
        pick(&mut timeline.lock().expect("timeline"))[s] += 1;
    }
}

/// The service: one worker taking jobs in order, stalled during the outage. Jobs whose
/// callers gave up are still worked on: the service cannot know.
async fn service(
    mut queue: mpsc::UnboundedReceiver<Job>,
    start: Instant,
    timeline: Arc<Mutex<Timeline>>,
) {
    let per_request = Duration::from_secs_f64(1.0 / CAPACITY);
    let outage_end = Duration::from_secs(OUTAGE.1);
    // When the worker is next free, kept exactly: tokio's timers fire on whole
    // milliseconds, and rounding each 3.3 ms job up would cut the capacity to 250/s.
    let mut free_at = Duration::ZERO;
    while let Some(job) = queue.recv().await {
        // A job found waiting starts when the last one ended; only a gap longer than
        // the timer's rounding means the worker sat idle.
        let now = start.elapsed();
        if now > free_at + Duration::from_millis(1) {
            free_at = now;
        }
        if in_outage(free_at) {
            free_at = outage_end;
        }
        free_at += per_request;
        tokio::time::sleep_until(start + free_at).await;
        if job.reply.send(()).is_err() {
            count(&timeline, |t| &mut t.wasted, start);
        }
    }
}

#[derive(Debug)]
enum Failed {
    Closed,
    Dropped,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Closed => "service closed",
            Self::Dropped => "request dropped",
        })
    }
}

/// What the clients share: one budget, one breaker, one throttle.
#[derive(Clone)]
struct Shared {
    budget: RetryBudget,
    breaker: CircuitBreaker,
    throttle: AdaptiveThrottle,
}

/// One call: first attempt and retries, through `steadfast`.
async fn call(
    clients: Clients,
    id: u64,
    queue: mpsc::UnboundedSender<Job>,
    shared: Shared,
    start: Instant,
    timeline: Arc<Mutex<Timeline>>,
) {
    count(&timeline, |t| &mut t.calls, start);
    let Shared {
        budget,
        breaker,
        throttle,
    } = shared;
    let attempt = |_| {
        let (queue, timeline) = (queue.clone(), timeline.clone());
        async move {
            tokio::time::sleep(HOP).await;
            count(&timeline, |t| &mut t.offered, start);
            let (reply, answer) = oneshot::channel();
            if queue.send(Job { reply }).is_err() {
                return Err(Failed::Closed);
            }
            answer.await.map_err(|_| Failed::Dropped)?;
            tokio::time::sleep(HOP).await;
            Ok(())
        }
    };
    let immediate = Policy::builder(Constant::new(Duration::ZERO))
        .jitter(Jitter::none())
        .max_attempts(ATTEMPTS)
        .attempt_timeout(TIMEOUT)
        .seed(id)
        .build()
        .expect("a valid policy");
    let backoff = Policy::builder(Exponential::new(Duration::from_millis(100)))
        .jitter(Jitter::full())
        .max_delay(Duration::from_secs(5))
        .max_attempts(ATTEMPTS)
        .attempt_timeout(TIMEOUT)
        .seed(id)
        .build()
        .expect("a valid policy");
    let outcome = match clients {
        Clients::Immediate => retry(attempt).with(immediate).await,
        Clients::Backoff => retry(attempt).with(backoff).await,
        Clients::Budget => retry(attempt).with(backoff).budget(&budget).await,
        Clients::Breaker => {
            retry(attempt)
                .with(backoff)
                .budget(&budget)
                .breaker(&breaker)
                .await
        }
        Clients::Throttle => retry(attempt).with(backoff).throttle(&throttle).await,
    };
    match outcome {
        Ok(()) => count(&timeline, |t| &mut t.goodput, start),
        Err(error)
            if matches!(
                error.reason(),
                steadfast::StopReason::BreakerOpen { .. }
                    | steadfast::StopReason::BudgetExhausted
                    | steadfast::StopReason::ThrottledLocally
            ) =>
        {
            count(&timeline, |t| &mut t.held_back, start);
        }
        Err(_) => {}
    }
}

pub fn simulate(clients: Clients) -> Timeline {
    paused_runtime().block_on(async {
        let start = Instant::now();
        let timeline = Arc::new(Mutex::new(Timeline::new()));
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(service(jobs, start, timeline.clone()));
        let shared = Shared {
            budget: RetryBudget::default(),
            breaker: CircuitBreaker::default(),
            // The default settings, with a fixed seed so that every run draws alike.
            throttle: AdaptiveThrottle::builder()
                .seed(2015)
                .build()
                .expect("a valid throttle"),
        };
        let mut arrivals = JitterRng::seeded(2015);
        let mut id = 0;
        // Arrival times kept exactly, as for the worker: rounding is not accumulated.
        let mut next = Duration::ZERO;
        loop {
            next += exponential(&mut arrivals, OFFERED);
            if next >= Duration::from_secs(SECONDS as u64) {
                break;
            }
            tokio::time::sleep_until(start + next).await;
            id += 1;
            let call = call(
                clients,
                id,
                queue.clone(),
                shared.clone(),
                start,
                timeline.clone(),
            );
            tokio::spawn(call);
        }
        timeline
            .lock()
            .map(|timeline| timeline.clone())
            .expect("timeline")
    })
}

pub fn print(results: &[(Clients, Timeline)]) {
    println!(
        "Part 2: a retry storm (capacity {CAPACITY}/s, offered {OFFERED}/s, 1 s timeout, \
         outage {}-{} s)\n",
        OUTAGE.0, OUTAGE.1
    );
    println!(
        "{:<20}{:>16}{:>16}{:>16}{:>12}",
        "clients", "amplification", "peak load/s", "wasted work", "recovery"
    );
    for (clients, timeline) in results {
        let recovery = timeline
            .recovery()
            .map_or("never".to_owned(), |s| format!("{s} s"));
        println!(
            "{:<20}{:>15.2}x{:>16}{:>16}{:>12}",
            clients.name(),
            timeline.amplification(),
            timeline.offered.iter().max().copied().unwrap_or(0),
            timeline.wasted.iter().sum::<u64>(),
            recovery
        );
    }
    println!("\ngoodput / offered load per second, every 5 s:");
    print!("{:>6}", "t");
    for (clients, _) in results {
        print!("{:>22}", clients.name());
    }
    println!();
    for s in (0..SECONDS).step_by(5) {
        print!("{s:>5}s");
        for (_, timeline) in results {
            print!(
                "{:>22}",
                format!("{} / {}", timeline.goodput[s], timeline.offered[s])
            );
        }
        println!();
    }
    println!();
}
