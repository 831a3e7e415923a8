//! `POST /api/dni/track`: the public endpoint the DNI script calls from a
//! customer's web page. It resolves the tracking tag, leases a number of the
//! tag's pool to the visitor's session (through the pool's actor), stores
//! the visit and answers the number to show:
//! `{success, phoneNumber, formattedNumber, sessionId, leaseExpiresAt}`.
//!
//! It is called cross-origin from any site, so every answer (errors too)
//! carries `Access-Control-Allow-Origin: *` and preflights are answered. It
//! takes no credentials; requests are rate-limited per client address and
//! per tag (429 with `Retry-After`).
//!
//! Session ids are minted here, never taken from the page ([`SessionIds`]):
//! an id this server did not sign gets a new session, so two clients cannot
//! share a lease by sending the same made-up id.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::options;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use switchboard_engine::LeaseOptions;
use switchboard_engine::metrics::DNI_TRACK;
use switchboard_model::call::{Traffic, VisitorSession};
use switchboard_model::{FieldError, Id, PhoneNumber, ResourceStatus, TrackingTag};
use switchboard_store::{Doc, DocKind, Store, StoreError};

use crate::admin::auth::ClientIp;
use crate::admin::extract::Json;
use crate::admin::resources::docs;
use crate::error::ApiError;
use crate::limit::Rate;
use crate::server::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest text field kept from a track request; longer ones are cut.
const MAX_FIELD: usize = 2048;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(track))
        .route("/api/dni/track", options(preflight))
        .layer(middleware::from_fn(cors))
}

/// How many track requests are allowed per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DniLimits {
    /// From one client address (a visitor's page asks once, then about once
    /// a minute while open; offices share an address).
    pub per_ip_per_minute: u32,
    /// For one tracking tag (all of a site's visitors).
    pub per_tag_per_minute: u32,
}

impl Default for DniLimits {
    fn default() -> Self {
        Self {
            per_ip_per_minute: 120,
            per_tag_per_minute: 30_000,
        }
    }
}

/// Track requests per client address and per tag, each per minute.
pub(crate) struct Limiter<C: Clock = DefaultClock> {
    by_ip: Rate<IpAddr, C>,
    by_tag: Rate<String, C>,
}

impl Limiter {
    pub(crate) fn new(limits: DniLimits) -> Self {
        Self::with_clock(limits, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limiter<C> {
    fn with_clock(limits: DniLimits, clock: C) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            by_ip: Rate::with_clock(limits.per_ip_per_minute, minute, clock.clone()),
            by_tag: Rate::with_clock(limits.per_tag_per_minute, minute, clock),
        }
    }

    /// Counts a request; `Err(seconds to wait)` when either key is over its
    /// limit. The address first: a flood from one address does not use up
    /// its tag's budget.
    fn admit(&self, ip: Option<IpAddr>, tag: &str) -> Result<(), u64> {
        if let Some(ip) = ip {
            self.by_ip.check(&ip)?;
        }
        self.by_tag.check(&tag.to_ascii_lowercase())
    }
}

/// Every answer of the DNI endpoint may be read by any page.
async fn cors(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// The CORS preflight: any origin may POST JSON.
async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

/// A track request, as the script sends it. Unknown fields are ignored, so
/// an older or newer script keeps working.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrackRequest {
    tag_code: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    landing_page: Option<String>,
    #[serde(default)]
    utm_source: Option<String>,
    #[serde(default)]
    utm_medium: Option<String>,
    #[serde(default)]
    utm_campaign: Option<String>,
    #[serde(default)]
    utm_term: Option<String>,
    #[serde(default)]
    utm_content: Option<String>,
    #[serde(default)]
    gclid: Option<String>,
    #[serde(default)]
    fbclid: Option<String>,
    #[serde(default)]
    msclkid: Option<String>,
}

/// The number to show.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrackResponse {
    /// Whether the page should show `phoneNumber` (false: keep its own).
    success: bool,
    /// E.164.
    phone_number: Option<String>,
    /// As the tag's number format writes it.
    formatted_number: Option<String>,
    /// The visitor's session: the one sent if this server minted it, else a new one to keep.
    session_id: String,
    /// When the lease ends unless the page asks again.
    lease_expires_at: Option<DateTime<Utc>>,
}

/// Mints and checks DNI session ids: `NONCE.TAG`, 22 base64url characters
/// each — 16 random bytes, and the first 16 bytes of their HMAC-SHA256 under
/// the server's session key. The key is made once and kept in the store (a
/// [`DocKind::Secret`] document), so ids survive a restart and every node
/// sharing the store accepts them.
#[derive(Debug, Default)]
pub(crate) struct SessionIds {
    key: tokio::sync::OnceCell<[u8; 32]>,
}

/// The store document holding the session key (under the nil tenant).
const SESSION_KEY_DOC: Id = Id::from_u128(0x736f_7373_696f_6e2d_6b65_792d_646e_6901);
/// What the MAC covers besides the nonce, so the key signs nothing else by accident.
const SESSION_CONTEXT: &[u8] = b"switchboard dni session v1\0";

impl SessionIds {
    /// The key, read from (or made in) the store on first use.
    async fn key(&self, store: &dyn Store) -> Result<&[u8; 32], ApiError> {
        self.key.get_or_try_init(|| load_or_make_key(store)).await
    }

    /// The session `given` names if this server minted it, else a new one.
    async fn session(&self, store: &dyn Store, given: Option<&str>) -> Result<String, ApiError> {
        let key = self.key(store).await?;
        Ok(match given {
            Some(id) if verify_session(key, id) => id.to_owned(),
            _ => mint_session(key, rand::random()),
        })
    }
}

async fn load_or_make_key(store: &dyn Store) -> Result<[u8; 32], ApiError> {
    if let Some(doc) = store
        .get_doc(DocKind::Secret, Id::nil(), SESSION_KEY_DOC)
        .await?
    {
        return decode_key(&doc);
    }
    let key: [u8; 32] = rand::random();
    let body = serde_json::json!({"purpose": "dni session ids", "key": B64.encode(key)});
    match store
        .put_doc(
            Doc {
                kind: DocKind::Secret,
                tenant: Id::nil(),
                id: SESSION_KEY_DOC,
                version: 0,
                body,
            },
            None,
        )
        .await
    {
        Ok(_) => Ok(key),
        // Another node made it first: use that one.
        Err(StoreError::Conflict { .. }) => match store
            .get_doc(DocKind::Secret, Id::nil(), SESSION_KEY_DOC)
            .await?
        {
            Some(doc) => decode_key(&doc),
            None => Err(
                StoreError::Backend("the dni session key was written and is gone".into()).into(),
            ),
        },
        Err(e) => Err(e.into()),
    }
}

fn decode_key(doc: &Doc) -> Result<[u8; 32], ApiError> {
    doc.body["key"]
        .as_str()
        .and_then(|k| B64.decode(k).ok())
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| {
            StoreError::Corrupt("the dni session key is not 32 bytes of base64url".into()).into()
        })
}

/// Unpadded URL-safe base64: ids travel in JSON, cookies and localStorage as they are.
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn session_tag(key: &[u8; 32], nonce: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("hmac takes any key length");
    m.update(SESSION_CONTEXT);
    m.update(nonce);
    m
}

/// A new session id from 16 random bytes.
fn mint_session(key: &[u8; 32], nonce: [u8; 16]) -> String {
    let tag = session_tag(key, &nonce).finalize().into_bytes();
    format!("{}.{}", B64.encode(nonce), B64.encode(&tag[..16]))
}

/// Whether `id` is one [`mint_session`] made with `key` (constant-time compare).
fn verify_session(key: &[u8; 32], id: &str) -> bool {
    let Some((nonce, tag)) = id.split_once('.') else {
        return false;
    };
    let (Ok(nonce), Ok(tag)) = (B64.decode(nonce), B64.decode(tag)) else {
        return false;
    };
    nonce.len() == 16
        && tag.len() == 16
        && session_tag(key, &nonce).verify_truncated_left(&tag).is_ok()
}

/// Trims, drops empty values and cuts long ones.
fn clean(v: Option<String>) -> Option<String> {
    let v = v?;
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some(match v.char_indices().nth(MAX_FIELD) {
        Some((cut, _)) => v[..cut].to_owned(),
        None => v.to_owned(),
    })
}

/// The host of a URL, lowercase, without `www.`.
fn host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest
        .split(['/', '?', '#'])
        .next()?
        .rsplit('@')
        .next()?
        .split(':')
        .next()?
        .to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    (!host.is_empty()).then_some(host)
}

/// The query parameters of a URL (first value of each name wins).
fn query(url: &str) -> HashMap<String, String> {
    let Some((_, q)) = url.split_once('?') else {
        return HashMap::new();
    };
    let q = q.split('#').next().unwrap_or("");
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// Where a visit came from. Explicit request fields win over the landing
/// page's query; without `utm_source` the source is inferred: a click id
/// names its ad network (medium `cpc`), else the referrer's search engine or
/// social network (medium `organic` / `social`) or host (`referral`), else
/// `direct`. A referrer on the landing page's own site counts as direct.
pub(crate) fn traffic(req: &TrackRequest) -> Traffic {
    let landing = clean(req.landing_page.clone());
    let referrer = clean(req.referrer.clone());
    let q = landing.as_deref().map(query).unwrap_or_default();
    let pick = |explicit: &Option<String>, name: &str| {
        clean(explicit.clone()).or_else(|| clean(q.get(name).cloned()))
    };
    let mut t = Traffic {
        source: pick(&req.utm_source, "utm_source"),
        medium: pick(&req.utm_medium, "utm_medium"),
        campaign: pick(&req.utm_campaign, "utm_campaign"),
        term: pick(&req.utm_term, "utm_term"),
        content: pick(&req.utm_content, "utm_content"),
        gclid: pick(&req.gclid, "gclid"),
        fbclid: pick(&req.fbclid, "fbclid"),
        msclkid: pick(&req.msclkid, "msclkid"),
        referrer,
        landing_page: landing,
    };
    if t.source.is_none() {
        let (source, medium) = infer(&t);
        t.source = Some(source);
        if t.medium.is_none() {
            t.medium = medium.map(str::to_owned);
        }
    }
    t
}

fn infer(t: &Traffic) -> (String, Option<&'static str>) {
    if t.gclid.is_some() {
        return ("google".into(), Some("cpc"));
    }
    if t.msclkid.is_some() {
        return ("bing".into(), Some("cpc"));
    }
    if t.fbclid.is_some() {
        return ("facebook".into(), Some("social"));
    }
    let Some(from) = t.referrer.as_deref().and_then(host) else {
        return ("direct".into(), None);
    };
    if t.landing_page.as_deref().and_then(host).as_deref() == Some(from.as_str()) {
        return ("direct".into(), None);
    }
    let labels: Vec<&str> = from.split('.').collect();
    let has = |name: &str| labels.contains(&name);
    if has("google") {
        ("google".into(), Some("organic"))
    } else if has("bing") {
        ("bing".into(), Some("organic"))
    } else if has("facebook") || from == "fb.com" || from == "m.facebook.com" {
        ("facebook".into(), Some("social"))
    } else {
        (from, Some("referral"))
    }
}

/// Whether a visit is paid traffic: a click id, or a paid `utm_medium`.
fn is_paid(t: &Traffic) -> bool {
    t.gclid.is_some()
        || t.msclkid.is_some()
        || t.medium.as_deref().is_some_and(|m| {
            matches!(
                m.to_ascii_lowercase().as_str(),
                "cpc"
                    | "ppc"
                    | "paid"
                    | "paidsearch"
                    | "paid_search"
                    | "paid-social"
                    | "paid_social"
                    | "display"
                    | "cpm"
            )
        })
}

/// Whether the tag swaps numbers for this visit (its source filters).
fn wanted(tag: &TrackingTag, t: &Traffic) -> bool {
    if tag.paid_only && !is_paid(t) {
        return false;
    }
    tag.only_sources.is_empty()
        || t.source.as_deref().is_some_and(|s| {
            tag.only_sources
                .iter()
                .any(|o| o.trim().eq_ignore_ascii_case(s))
        })
}

/// Leases a tracking number of the tag's pool to the visitor's session
/// (public, CORS; rate-limited per address and per tag).
#[utoipa::path(post, path = "/api/dni/track", tag = "dni", request_body = TrackRequest,
    responses((status = 200, body = TrackResponse), (status = 404, description = "unknown tag"),
              (status = 422), (status = 429, description = "too many requests")))]
async fn track(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<TrackRequest>,
) -> Result<Json<TrackResponse>, ApiError> {
    let code = req.tag_code.trim().to_owned();
    if code.is_empty() || code.len() > 100 {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "tagCode",
            "must be a tracking tag code",
        )]));
    }
    state
        .dni_limiter
        .admit(ip, &code)
        .map_err(ApiError::RateLimited)?;
    // Only an id this server minted names a session; any other gets a new one.
    let session_id = state
        .dni_sessions
        .session(
            state.engine.store().as_ref(),
            clean(req.session_id.clone()).as_deref(),
        )
        .await?;

    let owner = docs::owner_of_tag(&state, &code)
        .await?
        .ok_or(ApiError::NotFound("tracking tag"))?;
    let tag = docs::get::<TrackingTag>(&state, owner.tenant, owner.resource)
        .await?
        .filter(|t| t.status == ResourceStatus::Active)
        .ok_or(ApiError::NotFound("tracking tag"))?;
    let now = Utc::now();
    let traffic = traffic(&req);
    let answer =
        |number: Option<&PhoneNumber>, expires: Option<DateTime<Utc>>, outcome: &'static str| {
            DNI_TRACK.inc_with(&[("outcome", outcome)]);
            Json(TrackResponse {
                success: number.is_some(),
                phone_number: number.map(|n| n.as_str().to_owned()),
                formatted_number: number.map(|n| tag.number_format.format(n)),
                session_id: session_id.clone(),
                lease_expires_at: expires,
            })
        };
    if !wanted(&tag, &traffic) {
        return Ok(answer(None, None, "filtered"));
    }
    let Some(pool) = tag.pool_id else {
        // A tag without a pool shows its campaign's own number.
        let number = tag
            .campaign_id
            .and_then(|c| state.engine.campaign(c))
            .and_then(|c| c.phone_number.clone());
        return Ok(answer(number.as_ref(), None, "campaign"));
    };
    let visit = VisitorSession {
        session_id: session_id.clone(),
        tenant_id: tag.tenant_id,
        tag_id: tag.id,
        tag_code: tag.tag_code.clone(),
        pool_id: Some(pool),
        phone_number: None,
        exhausted: false,
        traffic,
        user_agent: clean(req.user_agent.clone()),
        started_at: now,
        last_seen_at: now,
    };
    let options = LeaseOptions {
        session_timeout_seconds: tag.session_timeout_seconds,
        sticky_days: tag.sticky_days,
    };
    let tracked = state.engine.track(pool, visit, options, now).await?;
    if tracked.persist {
        state.engine.record_session(tracked.visit.clone()).await?;
    }
    Ok(match tracked.number {
        Some(n) => answer(Some(&n), tracked.expires_at, "leased"),
        None => answer(tracked.visit.phone_number.as_ref(), None, "fallback"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(landing: &str, referrer: &str) -> TrackRequest {
        serde_json::from_value(
            serde_json::json!({"tagCode": "t", "landingPage": landing, "referrer": referrer}),
        )
        .unwrap()
    }

    #[test]
    fn utm_fields_and_click_ids_come_from_the_landing_page() {
        let t = traffic(&req(
            "https://shop.example/?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=a&utm_content=b&fbclid=F#top",
            "",
        ));
        assert_eq!(
            (
                t.source.as_deref(),
                t.medium.as_deref(),
                t.campaign.as_deref(),
                t.term.as_deref(),
                t.content.as_deref(),
                t.fbclid.as_deref()
            ),
            (
                Some("news"),
                Some("email"),
                Some("spring sale"),
                Some("a"),
                Some("b"),
                Some("F")
            )
        );
    }

    #[test]
    fn the_source_is_inferred_without_utm_source() {
        let source = |landing: &str, referrer: &str| {
            let t = traffic(&req(landing, referrer));
            (t.source.unwrap(), t.medium)
        };
        assert_eq!(
            source("https://a.example/?gclid=X", ""),
            ("google".into(), Some("cpc".into()))
        );
        assert_eq!(
            source("https://a.example/?msclkid=X", ""),
            ("bing".into(), Some("cpc".into()))
        );
        assert_eq!(
            source("https://a.example/", "https://www.google.co.uk/search?q=x"),
            ("google".into(), Some("organic".into()))
        );
        assert_eq!(
            source("https://a.example/", "https://www.bing.com/"),
            ("bing".into(), Some("organic".into()))
        );
        assert_eq!(
            source("https://a.example/", "https://m.facebook.com/"),
            ("facebook".into(), Some("social".into()))
        );
        assert_eq!(
            source("https://a.example/", "https://blog.example.org/post"),
            ("blog.example.org".into(), Some("referral".into()))
        );
        assert_eq!(source("https://a.example/", ""), ("direct".into(), None));
        assert_eq!(
            source("https://a.example/x", "https://a.example/"),
            ("direct".into(), None),
            "own site"
        );
    }

    #[test]
    fn explicit_fields_win_over_the_landing_page() {
        let mut r = req("https://a.example/?utm_source=page", "");
        r.utm_source = Some("script".into());
        assert_eq!(traffic(&r).source.as_deref(), Some("script"));
    }

    #[test]
    fn the_limiter_counts_per_address_and_per_tag() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limits = DniLimits {
            per_ip_per_minute: 2,
            per_tag_per_minute: 3,
        };
        let l = Limiter::with_clock(limits, clock.clone());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(l.admit(Some(a), "t").is_ok());
        assert!(l.admit(Some(a), "t").is_ok());
        assert_eq!(l.admit(Some(a), "u"), Err(30), "address over its limit");
        assert!(l.admit(Some(b), "T").is_ok());
        assert!(
            l.admit(Some(b), "t").is_err(),
            "tag over its limit, case-insensitively"
        );
        clock.advance(Duration::from_secs(60));
        assert!(l.admit(Some(a), "t").is_ok(), "a minute later");
    }

    #[test]
    fn only_minted_session_ids_verify() {
        let key = [7u8; 32];
        let id = mint_session(&key, [1u8; 16]);
        assert_eq!(id.len(), 45);
        assert!(verify_session(&key, &id));
        assert_ne!(
            mint_session(&key, [2u8; 16]),
            id,
            "another nonce, another id"
        );
        assert!(!verify_session(&[8u8; 32], &id), "another server's key");
        // Made up, altered, truncated, or of the old client-chosen kind.
        let (nonce, tag) = id.split_once('.').unwrap();
        let flipped = format!(
            "{nonce}.{}{}",
            if tag.starts_with('A') { 'B' } else { 'A' },
            &tag[1..]
        );
        for forged in [
            flipped.as_str(),
            &id[..44],
            &format!("{}.{tag}", "A".repeat(22)),
            "visitor-b",
            "",
            ".",
            "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
            &format!("{id}0"),
        ] {
            assert!(!verify_session(&key, forged), "{forged:?}");
        }
    }
}
