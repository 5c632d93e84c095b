//! Random numbers for the simulations, from the crate's own seedable generator.

use std::time::Duration;

use steadfast::JitterRng;

/// A uniform draw in (0, 1].
pub fn unit(rng: &mut JitterRng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 1.0) / (1_u64 << 53) as f64
}

/// |Normal(mean, sd)| milliseconds, by the Box-Muller transform.
pub fn normal_ms(rng: &mut JitterRng, mean: f64, sd: f64) -> Duration {
    let (u1, u2) = (unit(rng), unit(rng));
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    Duration::from_secs_f64((mean + sd * z).abs() / 1000.0)
}

/// An exponential inter-arrival time for a Poisson process of `rate` per second.
pub fn exponential(rng: &mut JitterRng, rate: f64) -> Duration {
    Duration::from_secs_f64(-unit(rng).ln() / rate)
}

/// A current-thread runtime whose clock is paused: simulated time costs no real time.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime")
}
