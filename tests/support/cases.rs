//! How many cases a property test runs: its own default, or `PROPTEST_CASES` when set,
//! so that any property can be run for as long as wanted (`PROPTEST_CASES=10000`).
#![allow(dead_code)]

pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}
