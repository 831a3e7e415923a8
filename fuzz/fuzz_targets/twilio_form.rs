//! Twilio's webhook bodies: the form parser, every typed parser on top of it,
//! and the signature check over the parsed pairs.
//!
//! Input: `URL\nTOKEN\nHEADER\nBODY`. Properties: nothing panics; the pairs
//! re-encode and parse back unchanged; what a typed parser accepts keeps the
//! bounds it promises; `sign` then `verify` holds for any non-empty token,
//! with the default port added or removed, and fails for any other body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::twilio::form::{
    self, DialParams, RecordingParams, StatusParams, StatusQuery, VoiceParams,
};
use switchboard::twilio::signature;
use switchboard_model::PhoneNumber;

fn identifier_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let url = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let token = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();

    let pairs = form::parse_pairs(body);
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    assert_eq!(
        form::parse_pairs(encoded.as_bytes()),
        pairs,
        "pairs re-encode losslessly"
    );

    if let Ok(v) = VoiceParams::parse(&pairs) {
        assert!(identifier_ok(&v.call_sid) && identifier_ok(&v.account_sid));
        assert!(
            !v.from.is_empty() && v.from.len() <= 2048 && !v.from.chars().any(char::is_control)
        );
        assert_eq!(
            PhoneNumber::parse(v.to.as_str()).as_ref(),
            Ok(&v.to),
            "To is normalized"
        );
        for s in [&v.from_state, &v.from_zip].into_iter().flatten() {
            assert!(identifier_ok(s));
        }
        let _ = v.into_inbound();
    }
    if let Ok(d) = DialParams::parse(&pairs) {
        assert!(d.dial_call_sid.as_deref().is_none_or(identifier_ok));
        let _ = d.into_result(Some(1));
    }
    if let Ok(s) = StatusParams::parse(&pairs) {
        assert!(identifier_ok(&s.call_sid));
        let _ = s.into_event(None, None);
    }
    if let Ok(r) = RecordingParams::parse(&pairs)
        && let Some(u) = r.completed_url()
    {
        assert!(u.starts_with("http://") || u.starts_with("https://"));
    }
    // A refusal names the field at fault.
    if let Err(e) = VoiceParams::parse(&pairs) {
        assert!(e.to_string().contains(e.field()), "{e}");
    }
    let _ = StatusQuery::parse(&String::from_utf8_lossy(body));

    // The signature: what we sign verifies, any other header or body does not.
    let _ = signature::verify(&token, &url, &pairs, &header);
    let sig = signature::sign(&token, &url, &pairs);
    assert_eq!(
        signature::verify(&token, &url, &pairs, &sig),
        !token.is_empty()
    );
    if !token.is_empty() {
        // A parameter of a new name (a repeated one may be signed once).
        let name = (0..)
            .map(|i| format!("X{i}"))
            .find(|n| pairs.iter().all(|(k, _)| k != n))
            .unwrap();
        let mut other = pairs.clone();
        other.push((name, String::new()));
        assert!(
            !signature::verify(&token, &url, &other, &sig),
            "an added parameter breaks the signature"
        );
        // Twilio signs either form of a default port; both verify.
        for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
            if let Some(rest) = url.strip_prefix(scheme) {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let authority = &rest[..end];
                if !authority.is_empty() && !authority.contains([':', '@', '[', ']']) {
                    let with_port = format!("{scheme}{authority}{port}{}", &rest[end..]);
                    assert!(signature::verify(
                        &token,
                        &url,
                        &pairs,
                        &signature::sign(&token, &with_port, &pairs)
                    ));
                    assert!(signature::verify(&token, &with_port, &pairs, &sig));
                }
            }
        }
    }
});
