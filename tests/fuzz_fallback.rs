//! The fuzz targets' checks (`fuzz/checks.rs`) on random inputs, on stable: the seed
//! corpus first, then mutations of it and random bytes. By default a fixed number of
//! inputs per target, so the suite stays fast; `FUZZ_SECONDS=60` runs each target for
//! that long instead (what `.ci/run` does where no nightly toolchain is found for
//! `cargo fuzz`), and `FUZZ_SEED` picks another sequence.
#![cfg(all(feature = "http", feature = "serde"))]

#[path = "../fuzz/checks.rs"]
mod checks;

use std::time::{Duration, Instant};

use steadfast::JitterRng;

const INPUTS_BY_DEFAULT: u64 = 3_000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read(entry.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    seeds.push(Vec::new());
    seeds
}

/// An input: a seed with a few bytes changed, inserted or removed, or random bytes.
fn input(rng: &mut JitterRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let pick = rng.between(0, seeds.len() as u64 - 1) as usize;
    let mut data = if rng.next_u64() % 4 == 0 {
        (0..rng.between(0, 64))
            .map(|_| rng.next_u64() as u8)
            .collect()
    } else {
        seeds[pick].clone()
    };
    for _ in 0..rng.between(0, 4) {
        let at = rng.between(0, data.len() as u64) as usize;
        match rng.next_u64() % 3 {
            0 if at < data.len() => data[at] = rng.next_u64() as u8,
            1 => data.insert(at, rng.next_u64() as u8),
            _ if at < data.len() => {
                data.remove(at);
            }
            _ => {}
        }
    }
    data
}

#[test]
fn every_fuzz_target_holds_on_random_inputs() {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2026);
    for (name, check) in checks::TARGETS {
        let seeds = corpus(name);
        for data in &seeds {
            check(data);
        }
        let mut rng = JitterRng::seeded(seed);
        let started = Instant::now();
        let mut runs = 0_u64;
        loop {
            let done = match seconds {
                Some(limit) => started.elapsed() >= Duration::from_secs(limit),
                None => runs >= INPUTS_BY_DEFAULT,
            };
            if done {
                break;
            }
            let data = input(&mut rng, &seeds);
            check(&data);
            runs += 1;
        }
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        println!(
            "{name}: {runs} inputs in {elapsed:.1} s ({:.0}/s)",
            runs as f64 / elapsed
        );
    }
}
