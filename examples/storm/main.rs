//! The storm: why each part of `steadfast` exists, shown by simulation.
//!
//! Part 1 runs many clients contending for one record with each backoff strategy.
//! Part 2 runs a service through an outage with clients that retry at once, with
//! backoff and jitter, plus a retry budget, plus a circuit breaker, and with backoff
//! and adaptive client-side throttling. Part 3 calls a service with a heavy latency
//! tail with no hedging, a fixed hedge delay and an adaptive one. Everything runs in
//! tokio's paused time with the crate's own retry and hedge futures, backoffs,
//! budget, breaker and throttle, so minutes of simulated time take seconds.
//!
//! ```text
//! cargo run --release --example storm                 # quick: 10 runs per point
//! cargo run --release --example storm -- --full       # 100 runs per point
//! cargo run --release --example storm -- --svg storm.svg
//! ```

mod chart;
mod contention;
mod outage;
mod sample;
mod tail;

use std::time::Instant;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = if args.iter().any(|a| a == "--full") {
        100
    } else {
        10
    };
    let svg_path = args
        .iter()
        .position(|a| a == "--svg")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "target/storm.svg".to_owned());

    let started = Instant::now();
    let contention = contention::simulate(runs);
    contention::print(&contention, runs);

    let storm: Vec<_> = outage::Clients::ALL
        .iter()
        .map(|&clients| (clients, outage::simulate(clients)))
        .collect();
    outage::print(&storm);

    let tails: Vec<_> = tail::Hedging::ALL
        .iter()
        .map(|&hedging| (hedging, tail::simulate(hedging)))
        .collect();
    tail::print(&tails);

    if let Some(dir) = std::path::Path::new(&svg_path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&svg_path, chart::svg(&storm, &tails))?;
    println!(
        "chart written to {svg_path}; simulated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
