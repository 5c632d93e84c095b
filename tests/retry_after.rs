//! The `Retry-After` parser, over arbitrary input and every date form.
#![cfg(feature = "http")]

#[path = "support/cases.rs"]
mod cases;
#[path = "support/server.rs"]
mod server;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use server::{DateForm, http_date};
use steadfast::parse_retry_after;

/// The last second of 9999, the latest HTTP date.
const LATEST: u64 = 253_402_300_799;
/// The first second of 2070: two-digit RFC 850 years stand for 1970 to 2069.
const RFC850_END: u64 = 3_155_760_000;

fn date_like() -> impl Strategy<Value = Vec<u8>> {
    // Real dates with a byte changed, dropped or case-flipped: the parser's edges.
    (0..LATEST, 0_usize..40, any::<u8>(), 0_u8..3).prop_map(|(seconds, at, byte, edit)| {
        let mut text = http_date(
            UNIX_EPOCH + Duration::from_secs(seconds),
            DateForm::ImfFixdate,
        )
        .into_bytes();
        let at = at % text.len();
        match edit {
            0 => text[at] = byte,
            1 => {
                text.remove(at);
            }
            _ => text[at] = text[at].to_ascii_lowercase(),
        }
        text
    })
}

/// `cases` cases (or `PROPTEST_CASES`), regressions kept beside this file.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases::cases(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn never_panics_on_any_bytes(
        value in prop_oneof![proptest::collection::vec(any::<u8>(), 0..64), date_like()],
        now in 0_u64..u64::from(u32::MAX) * 100,
    ) {
        let _ = parse_retry_after(&value, UNIX_EPOCH + Duration::from_secs(now));
    }

    #[test]
    fn every_date_form_round_trips(
        date in 0..LATEST,
        now in 0..LATEST,
        form in prop_oneof![Just(DateForm::ImfFixdate), Just(DateForm::Rfc850), Just(DateForm::Asctime)],
    ) {
        let date = if matches!(form, DateForm::Rfc850) { date % RFC850_END } else { date };
        let (date, now) = (UNIX_EPOCH + Duration::from_secs(date), UNIX_EPOCH + Duration::from_secs(now));
        let text = http_date(date, form);
        let expected = date.duration_since(now).unwrap_or(Duration::ZERO);
        prop_assert_eq!(parse_retry_after(text.as_bytes(), now), Some(expected), "{}", text);
    }

    #[test]
    fn delta_seconds_saturate(digits in "[0-9]{1,40}") {
        let parsed = parse_retry_after(digits.as_bytes(), SystemTime::now()).unwrap();
        match digits.parse::<u64>() {
            Ok(seconds) => prop_assert_eq!(parsed, Duration::from_secs(seconds)),
            Err(_) => prop_assert_eq!(parsed, Duration::from_secs(u64::MAX)),
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Whitespace around a value follows one rule for every form: it is ignored.
    #[test]
    fn surrounding_whitespace_is_ignored_in_every_form(
        date in 0..RFC850_END,
        seconds in 0_u64..1_000_000,
        form in 0_u8..4,
        before in "[ \t]{0,4}",
        after in "[ \t]{0,4}",
    ) {
        let now = UNIX_EPOCH;
        let bare = match form {
            0 => seconds.to_string(),
            1 => http_date(UNIX_EPOCH + Duration::from_secs(date), DateForm::ImfFixdate),
            2 => http_date(UNIX_EPOCH + Duration::from_secs(date), DateForm::Rfc850),
            _ => http_date(UNIX_EPOCH + Duration::from_secs(date), DateForm::Asctime),
        };
        let padded = format!("{before}{bare}{after}");
        let expected = parse_retry_after(bare.as_bytes(), now);
        prop_assert!(expected.is_some(), "{}", bare);
        prop_assert_eq!(parse_retry_after(padded.as_bytes(), now), expected, "{:?}", padded);
    }
}

#[test]
fn whitespace_inside_a_value_or_alone_is_still_malformed() {
    let now = UNIX_EPOCH;
    assert_eq!(
        parse_retry_after(b"  120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after(b"120 \t", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after(b"  Sun, 06 Nov 1994 08:49:37 GMT", now),
        Some(Duration::from_secs(784_111_777))
    );
    assert_eq!(parse_retry_after(b"1 20", now), None);
    assert_eq!(parse_retry_after(b"   ", now), None);
    assert_eq!(parse_retry_after(b"", now), None);
    assert_eq!(parse_retry_after(b"\xff120", now), None);
}
