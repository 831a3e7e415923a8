//! Reading bid responses: bare key, dotted and JSONPath response paths,
//! compiled from fuzzed text and applied to fuzzed bodies.
//!
//! Input: `AMOUNT_PATH\nACCEPTED_PATH\nREASON_PATH\nBODY`. Properties: nothing
//! panics; an amount read is never negative and formats back to the same
//! minor units; a reason is at most 200 characters; a currency is upper case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_model::money::{format_decimal, parse_decimal};
use switchboard_rtb::extract::MAX_REASON_CHARS;
use switchboard_rtb::{Parsed, PathConfig, ResponsePath, ResponsePaths, extract};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let mut field = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (amount, accepted, reason) = (field(), field(), field());
    let body = parts.next().unwrap_or_default();

    for p in [&amount, &accepted, &reason] {
        if let Ok(path) = ResponsePath::parse(p) {
            assert_eq!(path.as_str(), p.as_str());
        }
    }
    let config = PathConfig {
        bid_amount: Some(&amount),
        accepted: Some(&accepted),
        reject_reason: Some(&reason),
        ..PathConfig::default()
    };
    let Ok(paths) = ResponsePaths::compile(&config) else {
        return;
    };
    for paths in [paths, ResponsePaths::default()] {
        match extract(body, &paths, 2) {
            Parsed::Bid(b) => {
                if let Some(minor) = b.amount {
                    assert!(minor >= 0, "negative amount {minor}");
                    assert_eq!(parse_decimal(&format_decimal(minor, 2), 2), Ok(minor));
                }
                if let Some(r) = &b.reject_reason {
                    assert!(r.chars().count() <= MAX_REASON_CHARS);
                }
                if let Some(c) = &b.currency {
                    assert_eq!(c, &c.to_ascii_uppercase());
                }
            }
            Parsed::Invalid(reason) => assert!(!reason.is_empty()),
            Parsed::NoBid => {}
        }
    }
});
