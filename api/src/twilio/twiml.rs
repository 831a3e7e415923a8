//! TwiML for an engine [`Decision`].
//!
//! Every URL in the TwiML is absolute, built on the public base URL that
//! Twilio signs, so the callbacks verify behind a proxy too. The `<Dial
//! action>` and the status callback carry the attempt index, so a late or
//! repeated callback of an earlier attempt is recognized as such.

use std::fmt::Write as _;

use switchboard_engine::Decision;
use switchboard_model::RejectReason;

const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// What is said when the dialed number belongs to no campaign.
pub const NOT_IN_SERVICE: &str = "The number you have dialed is not in service.";

/// The `Content-Type` of TwiML responses.
pub const CONTENT_TYPE: &str = "text/xml";

/// The sentence said to a caller refused for `reason`.
pub fn reject_sentence(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::CampaignInactive => {
            "We are sorry, this line is not taking calls at the moment. Please try again later."
        }
        RejectReason::NoBuyerAvailable => {
            "We are sorry, all of our agents are busy right now. Please try again later."
        }
        RejectReason::DuplicateCaller => {
            "We are sorry, we are unable to take your call at this time. Thank you for calling."
        }
        RejectReason::Overloaded => {
            "We are sorry, we are experiencing a high volume of calls. Please try again in a few minutes."
        }
        RejectReason::PublisherCap | RejectReason::PublisherPaused => {
            "We are sorry, this line is taking no more calls right now. Please try again later."
        }
    }
}

/// Renders `decision` as a TwiML document; `public_url` is the base URL
/// (no trailing slash) that our callback URLs are built on.
pub fn render(decision: &Decision, public_url: &str) -> String {
    let mut x = String::with_capacity(768);
    x.push_str(PROLOG);
    x.push_str("<Response>");
    match decision {
        Decision::Dial {
            call_id,
            attempt,
            number,
            caller_id,
            timeout_seconds,
            time_limit_seconds,
            record,
        } => {
            let base = escape(public_url);
            let caller_id = escape(caller_id);
            let number = escape(number.as_str());
            // `write!` to a String cannot fail.
            let _ = write!(
                x,
                r#"<Dial timeout="{timeout_seconds}" timeLimit="{time_limit_seconds}" callerId="{caller_id}" record="{}""#,
                if *record {
                    "record-from-answer-dual"
                } else {
                    "do-not-record"
                }
            );
            if *record {
                let _ = write!(
                    x,
                    r#" recordingStatusCallback="{base}/api/webhooks/recording/{call_id}""#
                );
            }
            let _ = write!(
                x,
                r#" action="{base}/api/webhooks/dial-status/{call_id}?attempt={attempt}" method="POST"><Number statusCallback="{base}/api/webhooks/status?callId={call_id}&amp;attempt={attempt}" statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="POST">{number}</Number></Dial>"#
            );
        }
        Decision::Reject { reason } => {
            let _ = write!(
                x,
                "<Say>{}</Say><Hangup/>",
                escape(reject_sentence(*reason))
            );
        }
        // Refused unanswered (Twilio plays its not-in-service tone), so
        // the blocked caller is never connected nor billed for a call.
        Decision::Block => x.push_str(r#"<Reject reason="rejected"/>"#),
        Decision::NotInService => {
            let _ = write!(x, "<Say>{}</Say><Hangup/>", escape(NOT_IN_SERVICE));
        }
        Decision::Hangup => x.push_str("<Hangup/>"),
    }
    x.push_str("</Response>");
    x
}

/// Escapes text for an XML attribute value or element content. Characters
/// XML 1.0 cannot carry (control characters other than tab, newline and
/// carriage return; U+FFFE, U+FFFF) are dropped: one of them in a caller id
/// would make the whole document unreadable to Twilio, and the call lost.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || !is_xml_char(c))
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if !is_xml_char(c) => {}
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// XML 1.0's `Char` production (surrogates cannot occur in a `str`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use switchboard_model::PhoneNumber;

    use super::*;

    fn dial(record: bool) -> (Decision, uuid::Uuid) {
        let id = switchboard_model::new_id();
        let d = Decision::Dial {
            call_id: id,
            attempt: 1,
            number: PhoneNumber::parse("+15550002001").unwrap(),
            caller_id: "+15551230000".into(),
            timeout_seconds: 30,
            time_limit_seconds: 14400,
            record,
        };
        (d, id)
    }

    #[test]
    fn dial_without_recording() {
        let (d, id) = dial(false);
        let expected = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="30" timeLimit="14400" callerId="+15551230000" record="do-not-record" action="https://sb.example.com/api/webhooks/dial-status/{id}?attempt=1" method="POST"><Number statusCallback="https://sb.example.com/api/webhooks/status?callId={id}&amp;attempt=1" statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="POST">+15550002001</Number></Dial></Response>"#
        );
        assert_eq!(render(&d, "https://sb.example.com"), expected);
    }

    #[test]
    fn dial_with_recording() {
        let (d, id) = dial(true);
        let x = render(&d, "https://sb.example.com");
        assert!(x.contains(r#" record="record-from-answer-dual" "#), "{x}");
        assert!(x.contains(&format!(
            r#"recordingStatusCallback="https://sb.example.com/api/webhooks/recording/{id}""#
        )));
    }

    #[test]
    fn attributes_are_escaped() {
        let (mut d, _) = dial(false);
        if let Decision::Dial { caller_id, .. } = &mut d {
            *caller_id = r#"a"b<c>&'d"#.into();
        }
        let x = render(&d, "https://h/x?a=1&b=2");
        assert!(
            x.contains(r#"callerId="a&quot;b&lt;c&gt;&amp;&apos;d""#),
            "{x}"
        );
        assert!(
            x.contains(r#"action="https://h/x?a=1&amp;b=2/api/webhooks"#),
            "{x}"
        );
        assert!(!x.contains("&b"));
    }

    #[test]
    fn characters_xml_cannot_carry_are_dropped() {
        // A `From` the voice webhook's parser accepts (no control characters),
        // yet U+FFFE and U+FFFF are not XML characters (caught by fuzz/twiml).
        let pairs = crate::twilio::form::parse_pairs(
            b"CallSid=CA1&AccountSid=AC1&From=%2B1555%EF%BF%BE0%EF%BF%BF&To=%2B15550001000",
        );
        let from = crate::twilio::form::VoiceParams::parse(&pairs)
            .unwrap()
            .from;
        let (mut d, _) = dial(false);
        if let Decision::Dial { caller_id, .. } = &mut d {
            *caller_id = from;
        }
        let x = render(&d, "https://h");
        assert!(x.contains(r#"callerId="+15550""#), "{x}");
        assert_eq!(escape("a\u{1}b\u{1f}\tc\u{fffe}"), "ab\tc");
        assert_eq!(escape("plain"), std::borrow::Cow::Borrowed("plain"));
    }

    #[test]
    fn rejections_say_something_and_hang_up() {
        for reason in [
            RejectReason::CampaignInactive,
            RejectReason::NoBuyerAvailable,
            RejectReason::DuplicateCaller,
            RejectReason::Overloaded,
            RejectReason::PublisherCap,
            RejectReason::PublisherPaused,
        ] {
            let x = render(&Decision::Reject { reason }, "https://h");
            assert!(x.starts_with(PROLOG));
            assert!(x.ends_with("</Say><Hangup/></Response>"), "{x}");
            assert!(!x.contains("<Dial"));
        }
        assert_eq!(
            render(&Decision::NotInService, "https://h"),
            format!(
                "{PROLOG}<Response><Say>The number you have dialed is not in service.</Say><Hangup/></Response>"
            )
        );
        assert_eq!(
            render(&Decision::Block, "https://h"),
            format!(r#"{PROLOG}<Response><Reject reason="rejected"/></Response>"#)
        );
        assert_eq!(
            render(&Decision::Hangup, "https://h"),
            format!("{PROLOG}<Response><Hangup/></Response>")
        );
    }
}
