//! Part 3: tail latency. A service answers most requests in about 10 ms, but one in a
//! hundred takes ten times as long (a pause, a cold cache, a busy replica), whatever the
//! load: the tail is the request's bad luck, not the service's overload. The same calls
//! are made with no hedging, with a fixed hedge delay, and with a delay that follows the
//! 95th percentile of recent latencies; all with the crate's own hedged call, in paused
//! time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::{JitterRng, Latencies, hedge};
use tokio::time::Instant;

use crate::sample::{exponential, normal_ms, paused_runtime, unit};

const CALLS: usize = 20_000;
const RATE: f64 = 1_000.0;
/// One request in this many is slow.
const SLOW_ONE_IN: f64 = 100.0;
const SLOWDOWN: f64 = 10.0;
pub const FIXED_DELAY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hedging {
    None,
    Fixed,
    Adaptive,
}

impl Hedging {
    pub const ALL: [Self; 3] = [Self::None, Self::Fixed, Self::Adaptive];

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "no hedging",
            Self::Fixed => "hedge after 20 ms",
            Self::Adaptive => "hedge after p95",
        }
    }
}

/// Latencies of every call, and the requests they sent.
#[derive(Debug, Clone)]
pub struct Tail {
    /// Each call's latency, sorted.
    pub latencies: Vec<Duration>,
    pub requests: u64,
}

impl Tail {
    pub fn percentile(&self, q: f64) -> Duration {
        let rank =
            ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }

    pub fn extra_load(&self) -> f64 {
        self.requests as f64 / self.latencies.len() as f64 - 1.0
    }
}

/// One request's latency: about 10 ms, ten times that for one in a hundred.
fn service_time(rng: &Mutex<JitterRng>) -> Duration {
    let mut rng = rng.lock().expect("rng");
    let base = normal_ms(&mut rng, 10.0, 2.0);
    if unit(&mut rng) * SLOW_ONE_IN <= 1.0 {
        base.mul_f64(SLOWDOWN)
    } else {
        base
    }
}

pub fn simulate(hedging: Hedging) -> Tail {
    paused_runtime().block_on(async {
        let service = Arc::new(Mutex::new(JitterRng::seeded(2013)));
        let requests = Arc::new(Mutex::new(0_u64));
        let latencies = Latencies::builder()
            .percentile(0.95)
            .period(Duration::from_secs(1))
            .build()
            .expect("valid settings");
        let mut arrivals = JitterRng::seeded(7);
        let mut calls = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            tokio::time::sleep(exponential(&mut arrivals, RATE)).await;
            let (service, requests, latencies) =
                (service.clone(), requests.clone(), latencies.clone());
            calls.push(tokio::spawn(async move {
                let started = Instant::now();
                let request = |_| {
                    *requests.lock().expect("count") += 1;
                    let took = service_time(&service);
                    async move {
                        tokio::time::sleep(took).await;
                        Ok::<_, std::io::Error>(())
                    }
                };
                let answer = match hedging {
                    Hedging::None => hedge(request).max_copies(1).await,
                    Hedging::Fixed => hedge(request).after(FIXED_DELAY).await,
                    Hedging::Adaptive => hedge(request).after_percentile(&latencies).await,
                };
                answer.expect("the service always answers");
                started.elapsed()
            }));
        }
        let mut latencies = Vec::with_capacity(CALLS);
        for call in calls {
            latencies.push(call.await.expect("call"));
        }
        latencies.sort();
        let requests = *requests.lock().expect("count");
        Tail {
            latencies,
            requests,
        }
    })
}

pub fn print(results: &[(Hedging, Tail)]) {
    println!(
        "Part 3: tail latency ({CALLS} calls; 10 ms typical, 1 in {SLOW_ONE_IN} requests {SLOWDOWN}x slower)\n"
    );
    println!(
        "{:<20}{:>10}{:>10}{:>10}{:>14}",
        "calls", "p50", "p99", "p99.9", "extra load"
    );
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    for (hedging, tail) in results {
        println!(
            "{:<20}{:>10}{:>10}{:>10}{:>13.1}%",
            hedging.name(),
            ms(tail.percentile(0.5)),
            ms(tail.percentile(0.99)),
            ms(tail.percentile(0.999)),
            tail.extra_load() * 100.0
        );
    }
    println!();
}
