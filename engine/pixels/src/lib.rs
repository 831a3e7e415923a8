//! Pure pixel decisions, with no HTTP, no store and no clock (time is
//! passed in):
//!
//! - [`Token`]: the names a pixel's URL, headers and body may use, parsed by
//!   the bid templates' grammar (`switchboard_rtb::Template`), and
//!   [`render`]: one pixel's request for one call event, each value escaped
//!   for where it lands.
//! - [`check`]: what saving a pixel checks (unknown tokens, a body that is
//!   not JSON, a private literal host), every problem named by field.
//! - [`fires`]: whether a call event fires a pixel (its events, campaigns,
//!   buyers and filters).
//! - [`verdict`] and [`backoff`]: what an answer means (delivered, retry,
//!   final) and when the next attempt goes.
//! - [`signature`]: the `Switchboard-Signature` header.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use switchboard_model::event::EventKind;
use switchboard_model::money::format_decimal;
use switchboard_model::pixel::{MAX_ATTEMPTS, PixelMethod, PixelRequest, SigningSecrets};
use switchboard_model::{CallRecord, FieldError, Pixel, TagFilter};
use switchboard_rtb::{Escape, Template, Vocabulary, forbidden_literal_host};

/// A pixel template token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// One of the built-in names of [`TOKENS`].
    Builtin(&'static str),
    /// `{tag:NAME}`: one of the call's tags.
    Tag(String),
}

/// The built-in tokens, as documented in docs/pixels.md. Those shared with
/// bid request templates mean the same there.
pub const TOKENS: [&str; 30] = [
    "event",
    "callId",
    "callSid",
    "callerId",
    "callerIdNoPlus",
    "calledNumber",
    "campaignId",
    "campaignName",
    "buyerId",
    "buyerName",
    "publisherId",
    "publisherSubId",
    "callerState",
    "callerZip",
    "status",
    "durationSeconds",
    "revenue",
    "payout",
    "currency",
    "utmSource",
    "utmMedium",
    "utmCampaign",
    "gclid",
    "fbclid",
    "landingPage",
    "recordingUrl",
    "callStartTime",
    "timestamp",
    "isoTimestamp",
    "converted",
];

impl Vocabulary for Token {
    fn lookup(name: &str) -> Option<Self> {
        switchboard_rtb::tag_or_builtin(name, Token::Tag, |name| {
            TOKENS
                .iter()
                .find(|t| **t == name)
                .map(|t| Token::Builtin(t))
        })
    }

    fn is_number(&self) -> bool {
        matches!(
            self,
            Token::Builtin("durationSeconds" | "revenue" | "payout" | "timestamp")
        )
    }
}

/// What a pixel's request is rendered from: the call as recorded when its
/// event was handled, and the names of what it refers to.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The event.
    pub event: EventKind,
    /// The call.
    pub call: &'a CallRecord,
    /// Its campaign's name.
    pub campaign_name: &'a str,
    /// The buyer's name, if a buyer took it.
    pub buyer_name: &'a str,
    /// Its publisher's sub id, if any.
    pub publisher_sub_id: &'a str,
    /// When the request is made.
    pub now: DateTime<Utc>,
}

impl Facts<'_> {
    /// The raw text of `token`.
    fn write(&self, token: &Token, out: &mut String) {
        let c = self.call;
        let digits = c.currency.minor_digits();
        let id = |v: Option<switchboard_model::Id>| v.map(|i| i.to_string()).unwrap_or_default();
        let tag = |name: &str| c.tags.get(name).cloned().unwrap_or_default();
        let text = match token {
            Token::Tag(name) => tag(name),
            Token::Builtin(name) => match *name {
                "event" => self.event.as_str().to_owned(),
                "callId" => c.id.to_string(),
                "callSid" => c.call_sid.clone(),
                "callerId" => c.from.clone(),
                "callerIdNoPlus" => c.from.trim_start_matches('+').to_owned(),
                "calledNumber" => c.to.to_string(),
                "campaignId" => c.campaign_id.to_string(),
                "campaignName" => self.campaign_name.to_owned(),
                "buyerId" => id(c.buyer_id),
                "buyerName" => self.buyer_name.to_owned(),
                "publisherId" => id(c.publisher_id),
                "publisherSubId" => self.publisher_sub_id.to_owned(),
                "callerState" => c.caller_state.clone().unwrap_or_default(),
                "callerZip" => c.caller_zip.clone().unwrap_or_default(),
                "status" => c.status.as_str().to_owned(),
                "durationSeconds" => c.duration_seconds.to_string(),
                "revenue" => format_decimal(c.revenue_minor, digits),
                "payout" => format_decimal(c.payout_minor, digits),
                "currency" => c.currency.code().to_owned(),
                "recordingUrl" => c.recording_url.clone().unwrap_or_default(),
                "callStartTime" => c.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "timestamp" => self.now.timestamp_millis().to_string(),
                "isoTimestamp" => self.now.to_rfc3339_opts(SecondsFormat::Millis, true),
                "converted" => c.converted.to_string(),
                traffic => tag(traffic),
            },
        };
        out.push_str(&text);
    }
}

/// A pixel's parsed templates.
struct Templates {
    url: Template<Token>,
    headers: Vec<(String, Template<Token>)>,
    body: Option<Template<Token>>,
}

fn parse(field: &str, source: &str, errors: &mut Vec<FieldError>) -> Option<Template<Token>> {
    match Template::<Token>::parse_in(source) {
        Ok(t) => Some(t),
        Err(switchboard_rtb::RtbError::UnknownVariables(names)) => {
            errors.push(FieldError::new(
                field,
                format!(
                    "unknown token {}: the tokens are {} and {{tag:NAME}}",
                    names
                        .iter()
                        .map(|n| format!("{{{n}}}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    TOKENS.map(|t| format!("{{{t}}}")).join(" ")
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(FieldError::new(field, e.to_string()));
            None
        }
    }
}

fn templates(pixel: &Pixel, errors: &mut Vec<FieldError>) -> Option<Templates> {
    let url = parse("url", &pixel.url, errors);
    let headers: Vec<_> = pixel
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), parse(&format!("headers.{k}"), v, errors)?)))
        .collect();
    let body = match &pixel.body {
        Some(b) => Some(parse("body", b, errors)?),
        None => None,
    };
    (errors.is_empty()).then_some(Templates {
        url: url?,
        headers,
        body,
    })
}

/// What saving `pixel` checks beyond [`Pixel::validate`]: every template's
/// tokens, a JSON body's shape, and (unless `allow_private`) a literal
/// private, loopback, link-local or metadata host.
pub fn check(pixel: &Pixel, allow_private: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(t) = templates(pixel, &mut errors) else {
        return errors;
    };
    if let Some(body) = &t.body
        && pixel.content_type.format() == Ok(switchboard_model::BodyFormat::Json)
        && let Err(e) =
            body.renders_json(|tok, out| out.push_str(if tok.is_number() { "1" } else { "x" }))
    {
        errors.push(FieldError::new("body", e));
    }
    let sample = t.url.render_with(Escape::Url, |_, out| out.push('x'));
    match url::Url::parse(&sample) {
        Err(e) => errors.push(FieldError::new("url", format!("is not a URL: {e}"))),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            errors.push(FieldError::new("url", "has no host"))
        }
        Ok(_) => {}
    }
    if !allow_private && let Some(ip) = forbidden_literal_host(&sample) {
        errors.push(private(ip));
    }
    errors
}

fn private(ip: IpAddr) -> FieldError {
    FieldError::new(
        "url",
        format!("address {ip} is not allowed (loopback, private, link-local or metadata)"),
    )
}

/// The request `pixel` makes for `facts`; `None` if its templates no longer
/// parse (a pixel is checked when saved, so only a corrupt one).
pub fn render(pixel: &Pixel, facts: &Facts<'_>) -> Option<PixelRequest> {
    let t = templates(pixel, &mut Vec::new())?;
    let write = |tok: &Token, out: &mut String| facts.write(tok, out);
    let url = t.url.render_with(Escape::Url, write);
    let mut headers: Vec<(String, String)> = t
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.render_with(Escape::Raw, write)))
        .collect();
    let body = match (pixel.method, &t.body) {
        (PixelMethod::Get, _) => String::new(),
        (_, Some(b)) => {
            let escape = pixel
                .content_type
                .format()
                .map_or(Escape::Json, Escape::from);
            headers.push(("Content-Type".into(), pixel.content_type.mime().to_owned()));
            b.render_with(escape, write)
        }
        (_, None) => {
            headers.push(("Content-Type".into(), "application/json".into()));
            call_json(facts.call, facts.event)
        }
    };
    Some(PixelRequest {
        method: pixel.method,
        url,
        headers,
        body,
    })
}

/// The default body: the call record's fields plus `event`.
pub fn call_json(call: &CallRecord, event: EventKind) -> String {
    let mut v = serde_json::to_value(call).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("event".into(), event.as_str().into());
    }
    v.to_string()
}

/// Whether `event` of `call` fires `pixel`: active, on that event, attached
/// to the call's campaign and buyer, and every filter passing over the
/// call's tags plus `campaignId`, `buyerId` and `publisherId`.
pub fn fires(pixel: &Pixel, event: EventKind, call: &CallRecord) -> bool {
    pixel.attached(event, call.campaign_id, call.buyer_id) && filters_pass(&pixel.filters, call)
}

fn filters_pass(filters: &[TagFilter], call: &CallRecord) -> bool {
    if filters.is_empty() {
        return true;
    }
    let mut tags = call.tags.clone();
    tags.insert("campaignId".into(), call.campaign_id.to_string());
    for (name, id) in [
        ("buyerId", call.buyer_id),
        ("publisherId", call.publisher_id),
    ] {
        if let Some(id) = id {
            tags.insert(name.into(), id.to_string());
        }
    }
    switchboard_model::tags::first_failing(filters, &tags).is_none()
}

/// What one attempt's outcome means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done.
    Delivered,
    /// Worth another attempt; at least after the receiver's `Retry-After`.
    Retry(Option<Duration>),
    /// A 4xx other than 408 and 429: the receiver refuses it for good.
    Final,
}

/// The verdict of an answer `status` (`None`: a timeout or connection
/// error), with the seconds of its `Retry-After`.
pub fn verdict(status: Option<u16>, retry_after: Option<u64>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(408) | None => Verdict::Retry(None),
        Some(429) | Some(503) => Verdict::Retry(retry_after.map(Duration::from_secs)),
        Some(400..=499) => Verdict::Final,
        Some(_) => Verdict::Retry(None),
    }
}

/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The wait after failed attempt number `attempt` (1-based), or `None`
/// when it was the last one: exponential with full jitter (`unit` is a
/// uniform draw from [0, 1)), the ceiling 1 s, 2 s, 4 s, … up to an hour,
/// and never less than the receiver's `Retry-After`.
pub fn backoff(attempt: u32, unit: f64, retry_after: Option<Duration>) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let ceiling = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(20)).min(MAX_BACKOFF);
    // Full jitter, but at least a tenth of the ceiling so a burst of
    // failures never retries in a tight loop.
    let wait = ceiling.mul_f64(unit.clamp(0.0, 1.0).max(0.1));
    Some(wait.max(retry_after.unwrap_or_default()).min(MAX_BACKOFF))
}

/// The `Switchboard-Signature` value for a delivery sent at `now`:
/// `t=UNIX,v1=HEX[,v1=HEX]`, HEX being HMAC-SHA256 over `UNIX.PAYLOAD` (the
/// body, or a GET's full URL) with the current secret, then with the
/// previous one while it still signs.
pub fn signature(secrets: &SigningSecrets, now: DateTime<Utc>, payload: &str) -> String {
    let t = now.timestamp();
    let mut out = format!("t={t}");
    let keys = std::iter::once(secrets.current.as_str()).chain(
        secrets
            .previous
            .iter()
            .filter(|(_, until)| *until > now)
            .map(|(k, _)| k.as_str()),
    );
    for key in keys {
        // HMAC takes a key of any length, so this cannot fail.
        let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes())
            .expect("hmac takes any key length");
        m.update(format!("{t}.").as_bytes());
        m.update(payload.as_bytes());
        out.push_str(",v1=");
        for b in m.finalize().into_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
