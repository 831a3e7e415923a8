//! E.164 parsing.
//!
//! Properties: nothing panics; a parsed number is `+` and 8 to 15 digits,
//! the first not 0; parsing is idempotent; the display form parses back to
//! the same number; the JSON form reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_model::PhoneNumber;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(n) = PhoneNumber::parse(text) else {
        return;
    };
    let s = n.as_str();
    let digits = &s[1..];
    assert!(
        s.starts_with('+') && (8..=15).contains(&digits.len()),
        "{s}"
    );
    assert!(
        digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'),
        "{s}"
    );
    assert_eq!(PhoneNumber::parse(s).as_ref(), Ok(&n), "idempotent");
    assert_eq!(
        PhoneNumber::parse(&n.formatted()).as_ref(),
        Ok(&n),
        "display form {:?} parses back",
        n.formatted()
    );
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(
        serde_json::from_str::<PhoneNumber>(&json).ok().as_ref(),
        Some(&n)
    );
    assert_eq!(n.to_string(), s);
});
