//! Part 1: contention. The experiment of the AWS Architecture Blog post "Exponential
//! Backoff And Jitter" (2015), run with the crate's own retry future and backoffs.
//!
//! N clients start at once. Each needs one successful compare-and-set write to one
//! shared record: read the version, then write with it; the write fails if another
//! write landed in between. Every network hop takes |Normal(10, 2)| ms; a call (a read
//! or a write) is a hop there and a hop back. Backoff base 5 ms, cap 2000 ms, the
//! attempt count starting at 1 on the first failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use steadfast::{Backoff, Constant, Decorrelated, Exponential, Jitter, JitterRng, Policy, retry};

use crate::sample::{normal_ms, paused_runtime};

const BASE: Duration = Duration::from_millis(5);
const CAP: Duration = Duration::from_millis(2000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    NoBackoff,
    Exponential,
    FullJitter,
    EqualJitter,
    Decorrelated,
}

impl Strategy {
    pub const ALL: [Self; 5] = [
        Self::NoBackoff,
        Self::Exponential,
        Self::FullJitter,
        Self::EqualJitter,
        Self::Decorrelated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::NoBackoff => "no backoff",
            Self::Exponential => "exponential",
            Self::FullJitter => "full jitter",
            Self::EqualJitter => "equal jitter",
            Self::Decorrelated => "decorrelated",
        }
    }
}

/// Runs `policy` for one client; every strategy is a `steadfast` policy.
async fn client<B: Backoff>(
    policy: Policy<B>,
    record: Arc<AtomicU64>,
    calls: Arc<AtomicU64>,
    seed: u64,
) {
    let mut hops = JitterRng::seeded(seed);
    let outcome = retry(|_| {
        let latency: [Duration; 4] = std::array::from_fn(|_| normal_ms(&mut hops, 10.0, 2.0));
        let (record, calls) = (record.clone(), calls.clone());
        async move {
            // Read the version.
            tokio::time::sleep(latency[0]).await;
            calls.fetch_add(1, Ordering::Relaxed);
            let version = record.load(Ordering::Relaxed);
            tokio::time::sleep(latency[1]).await;
            // Write with it; the write fails if another landed in between.
            tokio::time::sleep(latency[2]).await;
            calls.fetch_add(1, Ordering::Relaxed);
            let written =
                record.compare_exchange(version, version + 1, Ordering::Relaxed, Ordering::Relaxed);
            tokio::time::sleep(latency[3]).await;
            written.map(drop)
        }
    })
    .with(policy)
    .await;
    assert!(outcome.is_ok(), "unlimited attempts end in success");
}

fn policy<B: Backoff>(backoff: B, jitter: Jitter, seed: u64) -> Policy<B> {
    Policy::builder(backoff)
        .jitter(jitter)
        .max_delay(CAP)
        .max_attempts(u32::MAX)
        .seed(seed)
        .build()
        .expect("a valid policy")
}

/// One run: total calls, and the time until the last client is done.
fn run(strategy: Strategy, clients: u64, seed: u64) -> (u64, Duration) {
    paused_runtime().block_on(async {
        let record = Arc::new(AtomicU64::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for id in 0..clients {
            let seed = seed.wrapping_mul(1_000_003).wrapping_add(id);
            let (record, calls) = (record.clone(), calls.clone());
            // "The attempt count starting at 1 on the first failure": the first wait is
            // base * 2^1, which is `Exponential` from 2 * base.
            let exponential = Exponential::new(BASE * 2);
            tasks.push(match strategy {
                Strategy::NoBackoff => tokio::spawn(client(
                    policy(Constant::new(Duration::ZERO), Jitter::none(), seed),
                    record,
                    calls,
                    seed,
                )),
                Strategy::Exponential => tokio::spawn(client(
                    policy(exponential, Jitter::none(), seed),
                    record,
                    calls,
                    seed,
                )),
                Strategy::FullJitter => tokio::spawn(client(
                    policy(exponential, Jitter::full(), seed),
                    record,
                    calls,
                    seed,
                )),
                Strategy::EqualJitter => tokio::spawn(client(
                    policy(exponential, Jitter::equal(), seed),
                    record,
                    calls,
                    seed,
                )),
                Strategy::Decorrelated => tokio::spawn(client(
                    policy(Decorrelated::new(BASE), Jitter::none(), seed),
                    record,
                    calls,
                    seed,
                )),
            });
        }
        for task in tasks {
            task.await.expect("a client task");
        }
        (calls.load(Ordering::Relaxed), start.elapsed())
    })
}

/// Average calls and completion time for each strategy and client count.
pub struct Results {
    pub clients: Vec<u64>,
    /// [strategy][clients] -> (mean calls, mean completion)
    pub means: Vec<Vec<(f64, Duration)>>,
}

pub fn simulate(runs: u32) -> Results {
    let mut clients: Vec<u64> = (10..=190).step_by(20).collect();
    clients.push(100);
    clients.sort_unstable();
    let means = Strategy::ALL
        .iter()
        .map(|strategy| {
            clients
                .iter()
                .map(|&n| {
                    let (mut calls, mut time) = (0_u64, Duration::ZERO);
                    for seed in 0..u64::from(runs) {
                        let (c, t) = run(*strategy, n, seed);
                        calls += c;
                        time += t;
                    }
                    (calls as f64 / f64::from(runs), time / runs)
                })
                .collect()
        })
        .collect();
    Results { clients, means }
}

pub fn print(results: &Results, runs: u32) {
    println!("Part 1: contention ({runs} runs per point)\n");
    for (title, pick) in [("total calls", 0), ("completion time, ms", 1)] {
        print!("{:>8}", "clients");
        for strategy in Strategy::ALL {
            print!("{:>14}", strategy.name());
        }
        println!("   <- {title}");
        for (i, n) in results.clients.iter().enumerate() {
            print!("{n:>8}");
            for row in &results.means {
                let (calls, time) = row[i];
                if pick == 0 {
                    print!("{calls:>14.0}");
                } else {
                    print!("{:>14.0}", time.as_secs_f64() * 1000.0);
                }
            }
            println!();
        }
        println!();
    }
}
