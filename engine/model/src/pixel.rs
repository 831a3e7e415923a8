//! Pixels: postbacks and webhooks that tell an ad network, a tracker or a
//! CRM what happened to a call. A [`Pixel`] is a tenant's configuration
//! document; a [`Delivery`] is one request made for one call event, kept
//! in the delivery log with every attempt's outcome.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::event::EventKind;
use crate::resources::ContentType;
use crate::tags::{TagFilter, validate_filters};
use crate::{FieldError, Id, ModelError};

/// Most pixels a tenant may have.
pub const MAX_PIXELS_PER_TENANT: usize = 50;
/// Largest body template, in bytes.
pub const MAX_BODY_TEMPLATE: usize = 64 * 1024;
/// Most headers a pixel sends.
pub const MAX_HEADERS: usize = 20;
/// Most attempts of one delivery before it is dead.
pub const MAX_ATTEMPTS: u32 = 12;
/// How much of a response body the log keeps.
pub const RESPONSE_BODY_KEPT: usize = 1024;

/// Whether a pixel fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PixelStatus {
    /// Fires on its events.
    #[default]
    Active,
    /// Fires nothing; deliveries already made still retry.
    Paused,
}

/// The HTTP method of a pixel's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PixelMethod {
    /// GET: the URL carries everything; no body.
    #[default]
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
}

impl PixelMethod {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PixelMethod::Get => "GET",
            PixelMethod::Post => "POST",
            PixelMethod::Put => "PUT",
            PixelMethod::Patch => "PATCH",
        }
    }
}

/// HTTP basic authentication of a pixel's requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password (write-only: reads never show it).
    #[serde(default)]
    pub password: String,
}

/// A postback or webhook fired on call events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pixel {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// Display name.
    pub name: String,
    /// The call events it fires on: one for a Ringba-style pixel, several
    /// for a CRM webhook.
    pub events: Vec<EventKind>,
    /// The URL template: `{token}` names from the documented list
    /// (docs/pixels.md), each value URL-encoded.
    pub url: String,
    /// GET, POST, PUT or PATCH.
    #[serde(default)]
    pub method: PixelMethod,
    /// The body's MIME type (`application/json`, a form or XML), which says
    /// how token values are escaped in it.
    #[serde(default = "json_content_type")]
    #[schema(value_type = String, example = "application/json")]
    pub content_type: ContentType,
    /// The body template; without one a POST, PUT or PATCH sends the call as
    /// JSON (its fields plus `event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Headers sent with each request; values may hold tokens.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Basic authentication (its password is write-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Only calls whose tags (and `campaignId`, `buyerId`, `publisherId`)
    /// match every filter fire it, in the grammar of buyers' filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<TagFilter>,
    /// Most deliveries per call (every event counts).
    #[serde(default = "one")]
    pub max_fires: u32,
    /// Campaigns it is attached to; empty: every campaign.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub campaign_ids: Vec<Id>,
    /// Buyers it is attached to (the buyer that took the call); empty:
    /// any. With both set, a call must match both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub buyer_ids: Vec<Id>,
    /// Active or paused.
    #[serde(default)]
    pub status: PixelStatus,
    /// Optimistic-concurrency version (as on every resource).
    #[serde(default)]
    pub version: u64,
    /// When it was created (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

fn json_content_type() -> ContentType {
    ContentType::new("application/json")
}

fn one() -> u32 {
    1
}

impl Pixel {
    /// Checks what the pixel can tell about itself (its templates' tokens
    /// are checked by `switchboard-pixels`, which knows them).
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() || self.name.len() > 200 {
            errors.push(FieldError::new("name", "must be 1 to 200 characters"));
        }
        if self.events.is_empty() {
            errors.push(FieldError::new("events", "must name at least one event"));
        }
        if !(self.url.starts_with("https://") || self.url.starts_with("http://"))
            || self.url.len() > 4096
        {
            errors.push(FieldError::new(
                "url",
                "must be an http(s) URL of at most 4096 characters",
            ));
        }
        if let Err(e) = self.content_type.format() {
            errors.push(FieldError::new("contentType", e));
        }
        match &self.body {
            Some(b) if b.len() > MAX_BODY_TEMPLATE => errors.push(FieldError::new(
                "body",
                format!("must be at most {MAX_BODY_TEMPLATE} bytes"),
            )),
            Some(_) if self.method == PixelMethod::Get => {
                errors.push(FieldError::new("body", "a GET sends no body"))
            }
            _ => {}
        }
        if self.headers.len() > MAX_HEADERS {
            errors.push(FieldError::new(
                "headers",
                format!("must have at most {MAX_HEADERS} headers"),
            ));
        }
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                errors.push(FieldError::new(
                    format!("headers.{name}"),
                    "a header name is letters, digits, - and _",
                ));
            } else if lower.starts_with("switchboard-")
                || ["host", "content-length", "content-type", "authorization"]
                    .contains(&lower.as_str())
            {
                errors.push(FieldError::new(
                    format!("headers.{name}"),
                    "is set by Switchboard (contentType and basicAuth set the others)",
                ));
            }
            if value.len() > 4096 || value.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    format!("headers.{name}"),
                    "must be at most 4096 characters, without control characters",
                ));
            }
        }
        if let Some(a) = &self.basic_auth
            && (a.username.is_empty() || a.username.contains(':'))
        {
            errors.push(FieldError::new(
                "basicAuth.username",
                "must be non-empty, without ':'",
            ));
        }
        validate_filters("filters", &self.filters, &mut errors);
        if self.max_fires == 0 || self.max_fires > 100 {
            errors.push(FieldError::new("maxFires", "must be 1 to 100"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Invalid(errors))
        }
    }

    /// Whether it fires on `kind` for a call of `campaign` taken by `buyer`.
    pub fn attached(&self, kind: EventKind, campaign: Id, buyer: Option<Id>) -> bool {
        self.status == PixelStatus::Active
            && self.events.contains(&kind)
            && (self.campaign_ids.is_empty() || self.campaign_ids.contains(&campaign))
            && (self.buyer_ids.is_empty() || buyer.is_some_and(|b| self.buyer_ids.contains(&b)))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not sent yet.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// The receiver answered a final 4xx.
    Failed,
    /// Every attempt failed.
    Dead,
}

impl DeliveryState {
    /// Whether it waits for an attempt.
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryState::Pending | DeliveryState::Retrying)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Failed => "failed",
            DeliveryState::Dead => "dead",
        }
    }
}

/// A request as rendered (the signature and basic auth are added as it is
/// sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PixelRequest {
    /// GET, POST, PUT or PATCH.
    pub method: PixelMethod,
    /// The URL, tokens filled in.
    pub url: String,
    /// Headers, tokens filled in (`Content-Type` among them with a body).
    pub headers: Vec<(String, String)>,
    /// The body (empty for a GET).
    pub body: String,
}

impl PixelRequest {
    /// The URL's host and port as written (`track.example:8443`): what
    /// concurrency and the circuit breaker are counted per.
    pub fn host(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        authority.rsplit_once('@').map_or(authority, |(_, h)| h)
    }
}

/// One request made for one call event, with the outcome of its last attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its id: the same across retries (`Switchboard-Delivery-Id`).
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// The pixel it was made for.
    #[schema(value_type = String, format = Uuid)]
    pub pixel_id: Id,
    /// The call.
    #[schema(value_type = String, format = Uuid)]
    pub call_id: Id,
    /// The event.
    pub event: EventKind,
    /// The event's position in the event log.
    pub position: u64,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempt: u32,
    /// The request (as the log shows it, secrets masked).
    pub request: PixelRequest,
    /// The last answer's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// The first 1 KiB of the last answer's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// Why the last attempt failed without an answer (timeout, connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the last attempt took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// When the next attempt is due (open deliveries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The tenant's signing secrets: the current one, and the one it replaced
/// while that still signs too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecrets {
    /// Signs every delivery.
    pub current: String,
    /// The replaced secret and until when it signs as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<(String, DateTime<Utc>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel() -> Pixel {
        serde_json::from_value(serde_json::json!({
            "name": "Conversions", "events": ["converted"],
            "url": "https://track.example/pb?click={tag:clickId}"
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_every_bad_field_named() {
        let p = pixel();
        assert_eq!((p.method, p.max_fires), (PixelMethod::Get, 1));
        assert_eq!(p.content_type.as_str(), "application/json");
        assert!(p.validate().is_ok());
        let mut bad = pixel();
        bad.events.clear();
        bad.url = "ftp://x".into();
        bad.body = Some("x".repeat(MAX_BODY_TEMPLATE + 1));
        bad.max_fires = 0;
        bad.headers.insert("Switchboard-Event".into(), "x".into());
        let Err(ModelError::Invalid(errors)) = bad.validate() else {
            panic!("refused")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "events",
                "url",
                "body",
                "headers.Switchboard-Event",
                "maxFires"
            ]
        );
    }

    #[test]
    fn a_request_is_counted_per_host_and_port() {
        let at = |url: &str| {
            PixelRequest {
                method: PixelMethod::Get,
                url: url.into(),
                headers: Vec::new(),
                body: String::new(),
            }
            .host()
            .to_owned()
        };
        assert_eq!(at("https://track.example/pb?x=1"), "track.example");
        assert_eq!(at("http://u:p@127.0.0.1:8080?x=/"), "127.0.0.1:8080");
        assert_eq!(at("https://[::1]:9/"), "[::1]:9");
    }

    #[test]
    fn attached_to_campaigns_and_buyers_both_when_both_are_set() {
        let (c1, c2, b1) = (Id::from_u128(1), Id::from_u128(2), Id::from_u128(3));
        let mut p = pixel();
        assert!(p.attached(EventKind::Converted, c1, None));
        assert!(!p.attached(EventKind::Incoming, c1, None));
        p.campaign_ids = vec![c1];
        p.buyer_ids = vec![b1];
        assert!(p.attached(EventKind::Converted, c1, Some(b1)));
        assert!(!p.attached(EventKind::Converted, c2, Some(b1)));
        assert!(!p.attached(EventKind::Converted, c1, None));
        p.status = PixelStatus::Paused;
        assert!(!p.attached(EventKind::Converted, c1, Some(b1)));
    }
}
