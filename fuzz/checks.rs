//! What each fuzz target checks, on arbitrary bytes: no panic, no overflow, no delay
//! over its cap. Shared by the `cargo fuzz` targets (`fuzz/fuzz_targets/`) and by the
//! bounded random-input test that runs the same checks on stable
//! (`tests/fuzz_fallback.rs`).
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use steadfast::{
    AnyBackoff, Backoff, Classify, Constant, Decision, Decorrelated, Exponential, Fibonacci,
    HttpClassifier, Jitter, Linear, Policy, RetryPolicy, parse_retry_after,
};

/// A check of one input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name, for the fallback runner.
pub const TARGETS: [(&str, Check); 4] = [
    ("retry_after", retry_after),
    ("http_status", http_status),
    ("policy", policy),
    ("config", config),
];

/// A fixed "now", so that a date's delay does not depend on when the input runs.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// `Retry-After` parsing: never panics; delta-seconds saturate; whitespace around a
/// value changes nothing.
pub fn retry_after(data: &[u8]) {
    let parsed = parse_retry_after(data, now());
    let mut padded = b" \t".to_vec();
    padded.extend_from_slice(data);
    padded.extend_from_slice(b"\t ");
    assert_eq!(
        parse_retry_after(&padded, now()),
        parsed,
        "padding changed {data:?}"
    );
    if !data.is_empty() && data.iter().all(u8::is_ascii_digit) {
        let expected = std::str::from_utf8(data)
            .ok()
            .and_then(|digits| digits.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        assert_eq!(parsed, Some(Duration::from_secs(expected)));
    }
}

/// The HTTP classifier over any status and any `Retry-After` value: never panics, and
/// a hint it honours is the parser's.
pub fn http_status(data: &[u8]) {
    let Some((&[high, low], header)) = data.split_first_chunk::<2>() else {
        return;
    };
    let code = 100 + u16::from_be_bytes([high, low]) % 900;
    let Ok(status) = http::StatusCode::from_u16(code) else {
        return;
    };
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_bytes(header) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    let outcome: Result<_, std::io::Error> = Ok(response);
    let decision = HttpClassifier::new().classify(&outcome);
    match decision {
        Decision::Success => assert!(code < 400, "{code} judged a success"),
        Decision::RetryAfter(hint) => {
            // The classifier reads the clock itself: the hint of a date moves with it.
            let parsed = parse_retry_after(header, SystemTime::now());
            assert!(parsed.is_some(), "a hint from an unparsable header");
            if header
                .iter()
                .all(|b| b.is_ascii_digit() || *b == b' ' || *b == b'\t')
            {
                assert_eq!(Some(hint), parsed);
            }
        }
        _ => {}
    }
}

/// A little reader of settings from fuzz bytes.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u64(&mut self) -> u64 {
        let mut word = [0_u8; 8];
        let n = self.0.len().min(8);
        word[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(word)
    }

    fn duration(&mut self) -> Duration {
        let raw = self.u64();
        // Half the time a small duration, half the time anything up to the maximum.
        if raw & 1 == 0 {
            Duration::from_nanos(raw >> 24)
        } else {
            Duration::new(raw >> 1, (raw % 1_000_000_000) as u32)
        }
    }
}

/// Arbitrary policy settings through the public builder: building never panics, and
/// every delay, for any attempt number, is within the cap.
pub fn policy(data: &[u8]) {
    let mut bytes = Bytes(data);
    let kind = bytes.u64();
    let base = bytes.duration();
    let factor = f64::from_bits(bytes.u64());
    let backoff = match kind % 5 {
        0 => AnyBackoff::from(Constant::new(base)),
        1 => AnyBackoff::from(Linear::new(base).step(bytes.duration())),
        2 => AnyBackoff::from(Exponential::new(base).factor(factor)),
        3 => AnyBackoff::from(Fibonacci::new(base)),
        _ => AnyBackoff::from(Decorrelated::new(base)),
    };
    let jitter = match (kind >> 8) % 4 {
        0 => Jitter::none(),
        1 => Jitter::full(),
        2 => Jitter::equal(),
        _ => match Jitter::proportional(f64::from_bits(bytes.u64())) {
            Ok(jitter) => jitter,
            Err(_) => return,
        },
    };
    let cap = bytes.duration();
    let attempts = (bytes.u64() as u32).max(1);
    let Ok(policy) = Policy::builder(backoff)
        .jitter(jitter)
        .max_delay(cap)
        .max_attempts(attempts)
        .seed(bytes.u64())
        .build()
    else {
        return;
    };
    check_delays(policy, bytes.u64());
}

/// Every delay of `policy` is within its cap, for the first attempts and for attempt
/// numbers up to `u32::MAX`.
fn check_delays<B: Backoff>(mut policy: Policy<B>, entropy: u64) {
    let cap = policy.max_delay();
    policy.start(entropy);
    let numbers = (1..=40).chain([1_000, 65_536, u32::MAX / 2, u32::MAX - 1, u32::MAX]);
    for failed in numbers {
        if let Some(delay) = policy.next_delay(failed) {
            assert!(
                delay <= cap,
                "attempt {failed}: {delay:?} over the cap {cap:?}"
            );
            assert!(
                failed < policy.max_attempts(),
                "a delay past the attempt limit"
            );
        }
    }
}

/// Configuration text (JSON, or TOML): parsing never panics, and a policy it gives
/// keeps every delay within its cap.
pub fn config(data: &[u8]) {
    if let Ok(policy) = serde_json::from_slice::<Policy<AnyBackoff>>(data) {
        check_delays(policy, 7);
    }
    let _ = serde_json::from_slice::<steadfast::CircuitBreaker>(data);
    let _ = serde_json::from_slice::<steadfast::RetryBudget>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(policy) = toml::from_str::<Policy<AnyBackoff>>(text) {
            check_delays(policy, 7);
        }
        let _ = toml::from_str::<steadfast::CircuitBreaker>(text);
        let _ = toml::from_str::<steadfast::RetryBudget>(text);
    }
}
