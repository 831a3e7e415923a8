//! Money: decimal text to minor units and back, and the JSON amount codec.
//!
//! Properties: nothing panics; parse → format → parse is the identity; a
//! formatted amount parses back to the same minor units; a JSON amount read
//! is written back as a JSON number that reads back to the same minor units.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use switchboard_model::money::{self, MAX_WHOLE_UNITS, format_decimal, parse_decimal};

#[derive(Debug, Serialize, Deserialize)]
struct Amount {
    #[serde(with = "money::decimal")]
    amount: i64,
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Text → minor units → text → minor units.
    if let Ok(minor) = parse_decimal(&text, 2) {
        assert!(
            minor.unsigned_abs() <= (MAX_WHOLE_UNITS as u64) * 100 + 99,
            "{text:?} → {minor}"
        );
        let formatted = format_decimal(minor, 2);
        assert_eq!(
            parse_decimal(&formatted, 2),
            Ok(minor),
            "{text:?} → {formatted:?}"
        );
    }
    // Any minor units in range: format → parse is the identity.
    if data.len() >= 8 {
        let raw = i64::from_le_bytes(data[..8].try_into().unwrap());
        let bound = MAX_WHOLE_UNITS * 100;
        let minor = raw % (bound + 1);
        assert_eq!(parse_decimal(&format_decimal(minor, 2), 2), Ok(minor));
    }
    // JSON: `{"amount": <text>}` as a body would carry it.
    let json = format!(r#"{{"amount": {text}}}"#);
    for doc in [json.as_str(), &*text] {
        if let Ok(a) = serde_json::from_str::<Amount>(doc) {
            let written = serde_json::to_string(&a).expect("an amount read is written");
            let back: Amount = serde_json::from_str(&written)
                .unwrap_or_else(|e| panic!("{written} does not read back: {e}"));
            assert_eq!(back.amount, a.amount, "{doc} → {written}");
            let v: serde_json::Value = serde_json::from_str(&written).unwrap();
            assert!(
                v["amount"].is_number(),
                "written as a JSON number: {written}"
            );
        }
    }
});
