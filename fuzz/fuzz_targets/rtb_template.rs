//! RTB request templates: parsing, and rendering as JSON, form and XML.
//!
//! Input: `CALLER_ID\nCALLER_STATE\nTAG_VALUE\nNUMBERS\nTEMPLATE`. Properties:
//! nothing panics; a template whose sample rendering is JSON (the check made
//! when a target is saved) renders to JSON for every call, whatever the
//! caller id, state, tag or amounts; text values read back intact from JSON,
//! form and XML bodies, and can never add a field, a pair or an element.
#![no_main]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard_model::Currency;
use switchboard_model::money::MAX_WHOLE_UNITS;
use switchboard_rtb::{CallContext, ContentType, PriceTerms, Template};

/// What an XML reader recovers of `s`: the characters XML 1.0 can carry,
/// with line ends normalized.
fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect::<String>()
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

fn u64_at(bytes: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (j, x) in bytes.iter().skip(i * 8).take(8).enumerate() {
        b[j] = *x;
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(5, |&b| b == b'\n');
    let mut field = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (caller_id, caller_state, tag_value) = (field(), field(), field());
    let numbers = parts.next().unwrap_or_default().to_vec();
    let source = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();

    // Amounts as a target's validation allows them: 0 <= min <= max.
    let max_minor = (MAX_WHOLE_UNITS * 100) as u64;
    let (a, b) = (
        (u64_at(&numbers, 0) % (max_minor + 1)) as i64,
        (u64_at(&numbers, 1) % (max_minor + 1)) as i64,
    );
    let terms = PriceTerms {
        min_bid: a.min(b),
        max_bid: a.max(b),
        currency: Currency::USD,
    };
    // Any time from 1970 to 9999.
    let at =
        |n: u64| DateTime::<Utc>::from_timestamp_millis((n % 253_402_300_799_000) as i64).unwrap();
    let call = CallContext {
        request_id: uuid::Uuid::from_u128(u128::from(u64_at(&numbers, 2))).to_string(),
        campaign_id: uuid::Uuid::from_u128(7).to_string(),
        caller_id: caller_id.clone(),
        call_start: at(u64_at(&numbers, 3)),
        caller_state: caller_state.clone(),
        caller_zip: tag_value.chars().rev().collect(),
        now: at(u64_at(&numbers, 4)),
        tags: BTreeMap::from([
            ("source".to_owned(), tag_value.clone()),
            ("a".to_owned(), caller_state.clone()),
        ]),
    };

    // The fuzzed template.
    if let Ok(t) = Template::parse(&source) {
        for v in t.variables() {
            let _ = v.name();
        }
        let json = t.render(ContentType::Json, &call, &terms);
        if t.check_json().is_ok() {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
                panic!("accepted template {source:?} renders to broken JSON ({e}): {json}");
            }
        }
        let _ = t.render(ContentType::Form, &call, &terms);
        let _ = t.render(ContentType::Xml, &call, &terms);
    }

    // Fixed templates with fuzzed values: the values read back intact.
    let t = Template::parse(r#"{"c": "{callerId}", "s": "pre {callerState} post", "t": {tag:source}, "min": {minBid}, "ts": {timestamp}}"#).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&t.render(ContentType::Json, &call, &terms)).expect("JSON");
    assert_eq!(body.as_object().unwrap().len(), 5);
    assert_eq!(body["c"].as_str(), Some(caller_id.as_str()));
    assert_eq!(
        body["s"].as_str(),
        Some(format!("pre {caller_state} post").as_str())
    );
    assert_eq!(body["t"].as_str(), Some(tag_value.as_str()));
    assert_eq!(body["ts"].as_i64(), Some(call.now.timestamp_millis()));
    // An amount reads back to the cent: its JSON text is the decimal.
    let min = switchboard_model::money::parse_decimal(&body["min"].to_string(), 2);
    assert_eq!(min, Ok(terms.min_bid), "{}", body["min"]);

    let t = Template::parse("c={callerId}&s={callerState}&t={tag:source}&max={maxBid}").unwrap();
    let form = t.render(ContentType::Form, &call, &terms);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    let max = switchboard_model::money::format_decimal(terms.max_bid, 2);
    let expected = [
        ("c", caller_id.as_str()),
        ("s", caller_state.as_str()),
        ("t", tag_value.as_str()),
        ("max", max.as_str()),
    ];
    assert_eq!(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        expected
    );

    let t = Template::parse(
        r#"<bid caller="{callerId}"><state>{callerState}</state><t>{tag:source}</t></bid>"#,
    )
    .unwrap();
    let xml = t.render(ContentType::Xml, &call, &terms);
    let doc = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("XML body is not XML ({e}): {xml}"));
    let root = doc.root_element();
    assert_eq!(root.children().filter(|n| n.is_element()).count(), 2);
    // Attribute values are whitespace-normalized by any XML reader.
    let attr: String = xml_text(&caller_id)
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    assert_eq!(root.attribute("caller"), Some(attr.as_str()));
    let text = |name: &str| {
        xml_text(
            root.children()
                .find(|n| n.has_tag_name(name))
                .and_then(|n| n.text())
                .unwrap_or(""),
        )
    };
    assert_eq!(text("state"), xml_text(&caller_state));
    assert_eq!(text("t"), xml_text(&tag_value));
});
