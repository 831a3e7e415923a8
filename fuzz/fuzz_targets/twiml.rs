//! TwiML rendering, fed by the voice webhook's own parser.
//!
//! Input: `PUBLIC_URL\nFLAGS\nVOICE_BODY`. The caller id is the webhook's
//! `From` and the dialed number its `To`, as the engine passes them on.
//! Properties: every rendered document is well-formed XML 1.0 (a strict
//! parser reads it), and the caller id, number and callback URLs read back
//! exactly as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::twilio::form::{self, VoiceParams};
use switchboard::twilio::twiml;
use switchboard_engine::Decision;
use switchboard_model::PhoneNumber;

fn parse(x: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(x).unwrap_or_else(|e| panic!("rendered TwiML is not XML ({e}): {x}"))
}

/// What an XML reader recovers of `s`: the characters XML 1.0 can carry.
fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    // The operator's configured URL: printable text, as from the command line.
    let public_url: String = String::from_utf8_lossy(parts.next().unwrap_or_default())
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let flags = parts.next().unwrap_or_default();
    let pairs = form::parse_pairs(parts.next().unwrap_or_default());
    let record = flags.first().is_some_and(|b| b & 1 == 1);
    let attempt = flags.get(1).map_or(0, |&b| u16::from(b));

    let (caller_id, number) = match VoiceParams::parse(&pairs) {
        Ok(v) => (v.from, v.to),
        Err(_) => (
            "anonymous".to_owned(),
            PhoneNumber::parse("+15550002001").unwrap(),
        ),
    };
    let call_id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let decision = Decision::Dial {
        call_id,
        attempt,
        number: number.clone(),
        caller_id: caller_id.clone(),
        timeout_seconds: 30,
        time_limit_seconds: 14_400,
        record,
    };
    let x = twiml::render(&decision, &public_url);
    let doc = parse(&x);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    let dial = root
        .children()
        .find(|n| n.has_tag_name("Dial"))
        .expect("a Dial");
    assert_eq!(
        dial.attribute("callerId"),
        Some(xml_text(&caller_id).as_str()),
        "callerId reads back"
    );
    let base = xml_text(&public_url);
    assert_eq!(
        dial.attribute("action"),
        Some(format!("{base}/api/webhooks/dial-status/{call_id}?attempt={attempt}").as_str())
    );
    assert_eq!(dial.attribute("recordingStatusCallback").is_some(), record);
    let num = dial
        .children()
        .find(|n| n.has_tag_name("Number"))
        .expect("a Number");
    assert_eq!(num.text(), Some(number.as_str()));
    assert_eq!(
        num.attribute("statusCallback"),
        Some(format!("{base}/api/webhooks/status?callId={call_id}&attempt={attempt}").as_str())
    );

    // The escaper alone: any text reads back as element content.
    let text = String::from_utf8_lossy(data);
    let x = format!("<a>{}</a>", twiml::escape(&text));
    // Line ends compared as any XML reader should normalize them.
    let lines = |s: &str| s.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(
        lines(parse(&x).root_element().text().unwrap_or("")),
        lines(&xml_text(&text))
    );
});
