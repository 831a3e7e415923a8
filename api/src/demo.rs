//! `serve --demo`: a tenant, three buyers and two campaigns, seeded once
//! through the engine, and an introduction printed on every start — what is
//! seeded, where to point Twilio, and a curl line per campaign with a valid
//! signature, so a newcomer routes a call in the first minute.
//!
//! It also makes the console user `demo` / `demo` (owner of the demo
//! tenant) — the one account with a short password — and says loudly that
//! this is for a local trial only.
//!
//! And a DNI setup: pool "Demo Pool" of [`POOL_NUMBERS`] (fallback
//! +15550001000), a campaign routing its calls (routing type `pool`) and the
//! tracking tag [`TAG_CODE`], so `<script src=".../dni.js" data-tag="demo">`
//! works on any local page. Added to an older demo data directory too.
//!
//! And two pixels aimed at [`PIXEL_RECEIVER`], which this process serves
//! with `--demo` only: a conversion postback and a CRM webhook on the
//! call's main events, so the first call shows deliveries in the log.

mod history;

use std::fmt::Write as _;

use chrono::Utc;
use chrono_tz::Tz;
use switchboard_engine::Engine;
use switchboard_model::{
    Buyer, BuyerAssignment, BuyerStatus, Campaign, Caps, Currency, GeoFilter, Id, Number,
    NumberFormat, PhoneNumber, Pixel, Pool, ResourceStatus, RoutingPolicy, RoutingType, Tenant,
    TrackingTag, new_id,
};
use switchboard_store::DocKind;

use crate::admin::resources::docs::{self, Key, Owner};
use crate::server::AppState;
use crate::twilio::signature;

/// The demo tenant's name.
pub const TENANT: &str = "demo";
/// The demo tenant's Twilio auth token (what signs its webhooks).
pub const AUTH_TOKEN: &str = "demo-token";
/// The demo tenant's Twilio account SID.
pub const ACCOUNT_SID: &str = "ACdemo00000000000000000000000000";
/// The demo console user's name, and its password.
pub const USER: &str = "demo";
/// The caller in the printed curl lines.
pub const CALLER: &str = "+15551230000";
/// The demo pool's tracking numbers, leased to web visitors.
pub const POOL_NUMBERS: [&str; 3] = ["+15550001100", "+15550001101", "+15550001102"];
/// Shown when every pool number is leased.
pub const POOL_FALLBACK: &str = "+15550001000";
/// The demo tracking tag's code: `<script src="…/dni.js" data-tag="demo">`.
pub const TAG_CODE: &str = "demo";

/// What the demo seeded (or found seeded).
#[derive(Debug, Clone)]
pub struct Demo {
    /// The tenant.
    pub tenant: Tenant,
    /// Its buyers.
    pub buyers: Vec<Buyer>,
    /// Its campaigns.
    pub campaigns: Vec<Campaign>,
    /// Whether the `demo` / `demo` login belongs to this tenant (a user
    /// named `demo` made elsewhere is left alone).
    pub login: bool,
    /// Whether the tag [`TAG_CODE`] is the demo tenant's (a tag with that
    /// code made elsewhere is left alone).
    pub dni: bool,
}

fn number(s: &str) -> anyhow::Result<PhoneNumber> {
    Ok(PhoneNumber::parse(s)?)
}

fn buyer(
    tenant: Id,
    name: &str,
    phone: &str,
    concurrency: u32,
    tz: Tz,
    revenue_minor: i64,
) -> anyhow::Result<Buyer> {
    Ok(Buyer {
        id: new_id(),
        tenant_id: tenant,
        name: name.to_owned(),
        company: name.to_owned(),
        contact: String::new(),
        phone_number: number(phone)?,
        status: BuyerStatus::Active,
        timezone: tz,
        caps: Caps {
            concurrency_limit: Some(concurrency),
            daily_cap: Some(100),
            ..Caps::default()
        },
        // No schedule: always open, so the demo works at any hour.
        schedule: None,
        geo: GeoFilter::default(),
        filters: Vec::new(),
        conversion_seconds: 60,
        revenue: revenue_minor,
        currency: Currency::USD,
        version: 0,
    })
}

fn campaign(
    tenant: Id,
    name: &str,
    phone: &str,
    policy: RoutingPolicy,
    buyers: Vec<BuyerAssignment>,
) -> anyhow::Result<Campaign> {
    let mut c = Campaign::direct(tenant, name, number(phone)?, policy, buyers);
    c.description = "seeded by switchboard serve --demo".to_owned();
    Ok(c)
}

fn assign(buyer: &Buyer, priority: u32, weight: u32) -> BuyerAssignment {
    BuyerAssignment {
        buyer_id: buyer.id,
        priority,
        weight,
    }
}

/// Seeds the demo unless a tenant named `demo` exists (and its DNI setup
/// unless the tag `demo` exists); either way returns what the demo tenant has now.
pub async fn seed(state: &AppState) -> anyhow::Result<Demo> {
    let engine = &state.engine;
    let mut demo = seed_config(engine).await?;
    demo.dni = seed_dni(state, &mut demo).await?;
    seed_history(engine, &demo).await?;
    seed_pixels(state, &demo).await?;
    crate::users::ensure_demo_user(engine, demo.tenant.id).await?;
    let user = crate::admin::accounts::user_by_name(engine.store().as_ref(), USER).await?;
    demo.login = user.is_some_and(|u| u.tenant_id == demo.tenant.id);
    if demo.login {
        tracing::warn!("demo login demo/demo is enabled: for a local trial only");
    }
    Ok(demo)
}

async fn seed_config(engine: &Engine) -> anyhow::Result<Demo> {
    if let Some(tenant) = engine.tenants().into_iter().find(|t| t.name == TENANT) {
        return load(engine, (*tenant).clone()).await;
    }
    let tenant = Tenant {
        id: new_id(),
        name: TENANT.to_owned(),
        twilio_account_sid: Some(ACCOUNT_SID.to_owned()),
        twilio_auth_token: AUTH_TOKEN.to_owned(),
        timezone: chrono_tz::Tz::UTC,
        publisher_sees_caller_numbers: false,
        version: 0,
        created_at: Utc::now(),
    };
    let tenant = engine.put_tenant(tenant, None).await?;
    let t = tenant.id;
    let acme = buyer(
        t,
        "Acme Insurance",
        "+15550002001",
        2,
        chrono_tz::America::New_York,
        2500,
    )?;
    let beta = buyer(
        t,
        "Beta Health",
        "+15550002002",
        5,
        chrono_tz::America::Chicago,
        2000,
    )?;
    let gamma = buyer(
        t,
        "Gamma Legal",
        "+15550002003",
        5,
        chrono_tz::America::Los_Angeles,
        1500,
    )?;
    let mut buyers = Vec::new();
    for b in [acme, beta, gamma] {
        buyers.push(engine.put_buyer(b, None).await?);
    }
    let [acme, beta, gamma] = [&buyers[0], &buyers[1], &buyers[2]];
    let priority = campaign(
        t,
        "Demo Priority",
        "+15550001000",
        RoutingPolicy::Priority,
        vec![assign(acme, 1, 1), assign(beta, 2, 2), assign(gamma, 2, 1)],
    )?;
    let round_robin = campaign(
        t,
        "Demo Round Robin",
        "+15550001001",
        RoutingPolicy::RoundRobin,
        vec![assign(acme, 1, 1), assign(beta, 1, 1), assign(gamma, 1, 1)],
    )?;
    let mut campaigns = Vec::new();
    for c in [priority, round_robin] {
        campaigns.push(engine.put_campaign(c, None).await?);
    }
    tracing::info!(tenant = %tenant.id, "demo seeded");
    Ok(Demo {
        tenant,
        buyers,
        campaigns,
        login: false,
        dni: false,
    })
}

/// Seeds [`history::DAYS`] days of past calls when the demo tenant has no
/// calls yet (its first start), through the store's one write path.
async fn seed_history(engine: &Engine, demo: &Demo) -> anyhow::Result<()> {
    let store = engine.store();
    if !store
        .calls_by_tenant(demo.tenant.id, None, 1)
        .await?
        .calls
        .is_empty()
    {
        return Ok(());
    }
    let zones = demo.buyers.iter().map(|b| b.timezone);
    let end = history::end(Utc::now(), zones.chain([demo.tenant.timezone]));
    let calls = history::calls(&demo.campaigns, &demo.buyers, end);
    for batch in calls.chunks(500) {
        store.put_calls(batch).await?;
    }
    // A read of the call tables applies the log first: the history is
    // projected before the server listens, so the first calls' cap counts
    // do not wait behind it (up to a second, measured in the k6 smoke).
    store.calls_by_tenant(demo.tenant.id, None, 1).await?;
    tracing::info!(
        calls = calls.len(),
        days = history::DAYS,
        "demo history seeded (marked demo: reported, never postbacked)"
    );
    Ok(())
}

/// The path of the demo's own pixel receiver (served with `--demo` only).
pub const PIXEL_RECEIVER: &str = "/demo/pixel-receiver";

/// Adds the demo pixels unless the demo tenant has pixels.
async fn seed_pixels(state: &AppState, demo: &Demo) -> anyhow::Result<()> {
    let t = demo.tenant.id;
    if !docs::list::<Pixel>(state, t).await?.is_empty() {
        return Ok(());
    }
    let receiver = format!("{}{PIXEL_RECEIVER}", state.public_url);
    let pixels = [
        serde_json::json!({
            "name": "Demo conversion postback",
            "events": ["converted"],
            "url": format!("{receiver}?event={{event}}&call={{callId}}&revenue={{revenue}}&caller={{callerIdNoPlus}}"),
        }),
        serde_json::json!({
            "name": "Demo CRM webhook",
            "events": ["incoming", "connected", "completed", "converted", "noConnect", "rejected"],
            "url": receiver,
            "method": "POST",
            "maxFires": 10,
        }),
    ];
    let w = state.engine.config_write().await;
    for body in pixels {
        let mut p: Pixel = serde_json::from_value(body)?;
        (p.id, p.tenant_id, p.created_at) = (new_id(), t, Utc::now());
        docs::put(&w, &mut p, None)
            .await
            .map_err(|e| anyhow::anyhow!("seed pixel {:?}: {e:?}", p.name))?;
    }
    Ok(())
}

/// `/demo/pixel-receiver`: takes any delivery and answers 200, so the demo's
/// pixels show as delivered.
pub async fn pixel_receiver() -> &'static str {
    "received"
}

/// Adds the DNI setup (pool numbers in the inventory, the pool, a pool
/// campaign, the tag) unless the tag code is taken; true when the tag is the
/// demo tenant's. Written through the same helpers as the admin API, so the
/// system-wide number and tag-code keys are claimed too.
async fn seed_dni(state: &AppState, demo: &mut Demo) -> anyhow::Result<bool> {
    let t = demo.tenant.id;
    if let Some(owner) = docs::owner_of_tag(state, TAG_CODE).await? {
        return Ok(owner.tenant == t);
    }
    let w = state.engine.config_write().await;
    let mut numbers = Vec::new();
    for n in POOL_NUMBERS {
        let phone = number(n)?;
        let mut entry = Number {
            id: new_id(),
            tenant_id: t,
            phone_number: phone.clone(),
            friendly_name: Some("demo pool".to_owned()),
            pool_id: None,
            campaign_id: None,
            status: ResourceStatus::Active,
            publisher_id: None,
            version: 0,
            created_at: Utc::now(),
        };
        anyhow::ensure!(
            docs::claim_number(
                &w,
                &phone,
                Owner {
                    tenant: t,
                    resource: entry.id
                }
            )
            .await?,
            "the demo pool number {phone} belongs to another tenant"
        );
        docs::put(&w, &mut entry, None).await?;
        numbers.push(phone);
    }
    let mut pool = Pool {
        id: new_id(),
        tenant_id: t,
        name: "Demo Pool".to_owned(),
        numbers,
        fallback_number: Some(number(POOL_FALLBACK)?),
        session_timeout_seconds: 1800,
        closed_browser_delay_seconds: 30,
        status: ResourceStatus::Active,
        publisher_id: None,
        version: 0,
        created_at: Utc::now(),
    };
    docs::put(&w, &mut pool, None).await?;
    let buyers: Vec<BuyerAssignment> = demo.buyers.iter().map(|b| assign(b, 1, 1)).collect();
    let mut web = campaign(
        t,
        "Demo Web Visitors",
        POOL_FALLBACK,
        RoutingPolicy::RoundRobin,
        buyers,
    )?;
    (web.routing_type, web.phone_number, web.pool_id) = (RoutingType::Pool, None, Some(pool.id));
    let web = w.put_campaign(web, None).await?;
    let mut tag = TrackingTag {
        id: new_id(),
        tenant_id: t,
        tag_code: TAG_CODE.to_owned(),
        name: "Demo landing page".to_owned(),
        campaign_id: Some(web.id),
        pool_id: Some(pool.id),
        selector: ".phone-number".to_owned(),
        number_format: NumberFormat::National,
        session_timeout_seconds: None,
        sticky_days: None,
        only_sources: Vec::new(),
        paid_only: false,
        status: ResourceStatus::Active,
        publisher_id: None,
        version: 0,
        created_at: Utc::now(),
    };
    anyhow::ensure!(
        docs::claim(
            &w,
            Key::TagCode(TAG_CODE),
            Owner {
                tenant: t,
                resource: tag.id
            }
        )
        .await?,
        "the tag code {TAG_CODE} is taken"
    );
    docs::put(&w, &mut tag, None).await?;
    demo.campaigns.push(web);
    tracing::info!(pool = %pool.id, tag = TAG_CODE, "demo DNI seeded");
    Ok(true)
}

/// Reads the demo tenant's buyers and campaigns back, as they are now.
async fn load(engine: &Engine, tenant: Tenant) -> anyhow::Result<Demo> {
    let store = engine.store();
    let mut buyers: Vec<Buyer> = store
        .list_docs(DocKind::Buyer, Some(tenant.id))
        .await?
        .into_iter()
        .filter_map(|d| serde_json::from_value(d.body).ok())
        .collect();
    let mut campaigns: Vec<Campaign> = store
        .list_docs(DocKind::Campaign, Some(tenant.id))
        .await?
        .into_iter()
        .filter_map(|d| serde_json::from_value(d.body).ok())
        .collect();
    buyers.sort_by(|a, b| a.phone_number.cmp(&b.phone_number));
    // As seeded: direct campaigns by number, then the pool campaign.
    campaigns.sort_by(|a, b| {
        (a.phone_number.is_none(), &a.phone_number)
            .cmp(&(b.phone_number.is_none(), &b.phone_number))
    });
    Ok(Demo {
        tenant,
        buyers,
        campaigns,
        login: false,
        dni: false,
    })
}

/// Quotes a word for a POSIX shell.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The form parameters of a demo call to `to`.
pub fn call_params(call_sid: &str, to: &PhoneNumber) -> Vec<(String, String)> {
    [
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", CALLER),
        ("To", to.as_str()),
        ("FromState", "CA"),
        ("FromZip", "94105"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A ready-to-paste curl line posting a signed voice webhook for a call to `to`.
pub fn curl_line(public_url: &str, auth_token: &str, call_sid: &str, to: &PhoneNumber) -> String {
    let url = format!("{public_url}/api/webhooks/voice");
    let params = call_params(call_sid, to);
    let sig = signature::sign(auth_token, &url, &params);
    let mut line = format!(
        "curl -sS -X POST {} -H {}",
        sh(&url),
        sh(&format!("{}: {sig}", signature::HEADER))
    );
    for (k, v) in &params {
        let _ = write!(line, " --data-urlencode {}", sh(&format!("{k}={v}")));
    }
    line
}

/// A fresh demo `CallSid` (`CA` + 32 characters, like Twilio's), unique per start.
fn demo_call_sid(n: usize) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("CAdemo{:026x}{n:02}", nanos.unsigned_abs())
}

fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The introduction printed on every `--demo` start.
pub fn intro(demo: &Demo, public_url: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n== Switchboard demo =========================================================="
    );
    let _ = writeln!(
        s,
        "tenant {:?}  auth token {:?}  account SID {}",
        demo.tenant.name,
        demo.tenant.twilio_auth_token,
        demo.tenant.twilio_account_sid.as_deref().unwrap_or("-")
    );
    let _ = writeln!(s, "\nbuyers");
    let _ = writeln!(
        s,
        "  {:<16} {:<13} {:>11} {:>9} {:<20} {:>7} {:>10}",
        "name", "number", "concurrency", "daily cap", "time zone", "revenue", "converts"
    );
    for b in &demo.buyers {
        let _ = writeln!(
            s,
            "  {:<16} {:<13} {:>11} {:>9} {:<20} {:>7} {:>9}s",
            b.name,
            b.phone_number.as_str(),
            opt(b.caps.concurrency_limit),
            opt(b.caps.daily_cap),
            b.timezone.name(),
            switchboard_model::money::format_decimal(b.revenue, b.currency.minor_digits()),
            b.conversion_seconds
        );
    }
    let name_of = |id: Id| {
        demo.buyers
            .iter()
            .find(|b| b.id == id)
            .map_or_else(|| id.to_string(), |b| b.name.clone())
    };
    let _ = writeln!(s, "\ncampaigns");
    for c in &demo.campaigns {
        let policy = match c.routing_policy {
            RoutingPolicy::Priority => "priority",
            RoutingPolicy::RoundRobin => "round-robin",
        };
        let number = c.phone_number.as_ref().map_or("-", PhoneNumber::as_str);
        let _ = writeln!(
            s,
            "  {:<18} {:<13} {:<12} {:?}",
            c.name, number, policy, c.status
        );
        for a in &c.buyers {
            let _ = writeln!(
                s,
                "      {:<16} priority {}  weight {}",
                name_of(a.buyer_id),
                a.priority,
                a.weight
            );
        }
    }
    let _ = writeln!(
        s,
        "\nPoint your Twilio number's \"A call comes in\" webhook (HTTP POST) at:"
    );
    let _ = writeln!(s, "  {public_url}/api/webhooks/voice");
    let _ = writeln!(
        s,
        "Dial results, status and recording callbacks are set by the TwiML itself:"
    );
    let _ = writeln!(s, "  {public_url}/api/webhooks/dial-status/{{callId}}");
    let _ = writeln!(
        s,
        "  {public_url}/api/webhooks/status?callId={{callId}}&attempt={{n}}"
    );
    let _ = writeln!(s, "  {public_url}/api/webhooks/recording/{{callId}}");
    let _ = writeln!(
        s,
        "Signatures are checked against {public_url} (set --public-url to what Twilio calls)."
    );
    let _ = writeln!(
        s,
        "\nTry it: each line posts a signed call as Twilio would; the answer is TwiML."
    );
    for (i, c) in demo.campaigns.iter().enumerate() {
        if let Some(to) = &c.phone_number {
            let _ = writeln!(s, "\n# {} ({})", c.name, to.as_str());
            let _ = writeln!(
                s,
                "{}",
                curl_line(
                    public_url,
                    &demo.tenant.twilio_auth_token,
                    &demo_call_sid(i),
                    to
                )
            );
        }
    }
    if demo.dni {
        let _ = writeln!(
            s,
            "\nDNI: pool \"Demo Pool\" ({}; fallback {POOL_FALLBACK}), tag {TAG_CODE:?}. On any page:",
            POOL_NUMBERS.join(", ")
        );
        let _ = writeln!(s, "  <span class=\"phone-number\">{POOL_FALLBACK}</span>");
        let _ = writeln!(
            s,
            "  <script src=\"{public_url}/dni.js\" data-tag=\"{TAG_CODE}\" async></script>"
        );
    }
    if demo.login {
        let _ = writeln!(s, "\n!! LOCAL TRIAL ONLY !!");
        let _ = writeln!(
            s,
            "!! Console at {public_url}/ : user {USER:?}, password {USER:?} (owner of tenant {:?}).",
            demo.tenant.name
        );
        let _ = writeln!(
            s,
            "!! Anyone who can reach this server can sign in with it and change everything."
        );
        let _ = writeln!(s, "!! Never run --demo on a server others can reach.");
        let _ = writeln!(
            s,
            "!!   curl -c jar -H 'Content-Type: application/json' -d '{{\"username\":\"demo\",\"password\":\"demo\"}}' {public_url}/api/auth/login"
        );
    }
    let _ = writeln!(
        s,
        "==============================================================================\n"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_line_carries_a_valid_signature() {
        let to = PhoneNumber::parse("+15550001000").unwrap();
        let line = curl_line("http://127.0.0.1:8080", AUTH_TOKEN, "CAdemo1", &to);
        let params = call_params("CAdemo1", &to);
        let sig = signature::sign(
            AUTH_TOKEN,
            "http://127.0.0.1:8080/api/webhooks/voice",
            &params,
        );
        assert!(
            line.contains(&format!("'X-Twilio-Signature: {sig}'")),
            "{line}"
        );
        assert!(
            line.contains("--data-urlencode 'From=+15551230000'"),
            "{line}"
        );
        assert!(line.starts_with("curl -sS -X POST 'http://127.0.0.1:8080/api/webhooks/voice'"));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }

    #[test]
    fn demo_call_sids_look_like_twilio_ones() {
        let sid = demo_call_sid(1);
        assert_eq!(sid.len(), 34, "{sid}");
        assert!(sid.starts_with("CAdemo"));
    }
}
