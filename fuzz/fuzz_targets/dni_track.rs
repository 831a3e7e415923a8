//! `POST /api/dni/track` bodies, decoded as the handler decodes them, and the
//! visit's traffic source read from them.
//!
//! Properties: nothing panics; every kept field is non-empty, starts trimmed and at
//! most 2048 characters; the source is always named; the traffic (stored
//! with the visit) reads back from its JSON unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_model::call::Traffic;

fuzz_target!(|data: &[u8]| {
    let Some(t) = switchboard::fuzzing::dni_track(data) else {
        return;
    };
    assert!(t.source.is_some(), "a visit always has a source");
    for v in [
        &t.source,
        &t.medium,
        &t.campaign,
        &t.term,
        &t.content,
        &t.gclid,
        &t.fbclid,
        &t.msclkid,
        &t.referrer,
        &t.landing_page,
    ]
    .into_iter()
    .flatten()
    {
        assert!(!v.is_empty() && v.chars().count() <= 2048, "{v:?}");
    }
    for v in [
        &t.campaign,
        &t.term,
        &t.content,
        &t.gclid,
        &t.fbclid,
        &t.msclkid,
        &t.referrer,
        &t.landing_page,
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(v.trim_start(), v, "kept fields are trimmed");
    }
    let json = serde_json::to_string(&t).expect("traffic serializes");
    let back: Traffic = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("traffic JSON does not read back ({e}): {json}"));
    assert_eq!(back, t);
});
