//! Pixels: the outbox's two loops, thin around `switchboard-pixels`' pure
//! decisions.
//!
//! - **Dispatch** follows the call-event log from its cursor ([`CURSOR`]).
//!   Each event of a real (not demo) call fires the tenant's active pixels
//!   that were made before it, are attached to the call and pass their
//!   filters, until a pixel's `maxFires` for the call is spent. Each fire is
//!   a delivery, rendered now, whose id is derived from the pixel and the
//!   event's position. The deliveries and the cursor's move are one durable
//!   commit ([`Store::add_deliveries`]), so a committed event becomes its
//!   deliveries exactly once, even across a crash.
//! - **Send** takes the due deliveries, signs each one and sends it with its
//!   delivery id, and writes the outcome: delivered; retrying with backoff
//!   (5xx, 408, 429, timeouts, connection errors); failed (any other 4xx);
//!   or dead once every attempt is used. Each destination host has a few
//!   slots and a circuit breaker, so one slow or dead receiver holds up only
//!   its own deliveries. An outcome lost in a crash means one more attempt,
//!   with the same delivery id: at least once.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use dashmap::{DashMap, DashSet};
use switchboard_model::event::StoredEvent;
use switchboard_model::pixel::{
    DeliveryState, PixelMethod, PixelRequest, RESPONSE_BODY_KEPT, SigningSecrets,
};
use switchboard_model::{CallRecord, Delivery, Id, Pixel};
use switchboard_pixels::{Facts, Verdict};
use switchboard_rtb::{BreakerConfig, CircuitBreaker};
use switchboard_store::{ConfigKind, Doc, DocKind, DueRoom, Store};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::bidding::{Answer, BidClient};
use crate::metrics;
use crate::{Engine, EngineError, Inner, Result};

/// The dispatcher's cursor in the call-event log.
pub(crate) const CURSOR: &str = "pixels";
/// Events one dispatch pass turns into deliveries.
const EVENTS_PER_PASS: usize = 512;
/// Due deliveries one send pass starts, at most.
const DUE_PER_PASS: usize = 512;
/// How often the send loop looks for due deliveries without being woken.
const SEND_TICK: Duration = Duration::from_millis(200);
/// The document id of a tenant's signing secrets (kind `Secret`).
const SIGNING_SECRETS_DOC: Id = Id::from_u128(0x5b_5161_6e69_6e67);
/// How long a replaced secret keeps signing.
const PREVIOUS_SECRET_SIGNS: chrono::Duration = chrono::Duration::hours(24);
/// How long a tenant's secrets are read from memory before the store again.
const SECRETS_TTL: Duration = Duration::from_secs(5);

/// The pixel threads' nice value above the process's: when deliveries and
/// webhooks both want the CPU, Linux's scheduler gives these threads about a
/// ninth of the others' share (weights 110 against 1,024), so a burst of calls
/// is answered first and its pixels follow; an idle core is theirs in full.
const NICE: i32 = 10;

/// The runtime the outbox's loops and attempts run on: worker and blocking
/// threads of their own, each at a lower priority ([`NICE`]) than the call
/// path's.
pub(crate) struct PixelRuntime(Mutex<Option<tokio::runtime::Runtime>>);

impl PixelRuntime {
    /// The runtime, or none where the store keeps no event log (so no outbox).
    pub(crate) fn new(needed: bool) -> std::io::Result<Self> {
        if !needed {
            return Ok(Self(Mutex::new(None)));
        }
        // Relative to the thread starting the engine: a thread the runtime
        // starts from one of its own would otherwise inherit its nice value
        // and add to it.
        let nice = (rustix::process::getpriority_process(None).unwrap_or(0) + NICE).min(19);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("pixels")
            .on_thread_start(move || lower_priority(nice))
            .enable_all()
            .build()?;
        Ok(Self(Mutex::new(Some(runtime))))
    }

    fn handle(&self) -> Option<tokio::runtime::Handle> {
        let runtime = self.0.lock().unwrap_or_else(|p| p.into_inner());
        runtime.as_ref().map(|r| r.handle().clone())
    }

    fn take(&self) -> Option<tokio::runtime::Runtime> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stops it and waits (up to 5 s) until its tasks are dropped and its
    /// blocking work has ended, so that they hold the store no longer.
    pub(crate) async fn stop(&self) {
        if let Some(r) = self.take() {
            let _ = tokio::task::spawn_blocking(move || r.shutdown_timeout(Duration::from_secs(5)))
                .await;
        }
    }
}

impl Drop for PixelRuntime {
    fn drop(&mut self) {
        // Dropped without `Engine::shutdown`: stop without waiting (a wait is
        // not allowed where this may run, inside a runtime).
        if let Some(r) = self.take() {
            r.shutdown_background();
        }
    }
}

/// Gives the calling thread the nice value `nice` (Linux keeps one per
/// thread; elsewhere the pixel threads keep the process's priority).
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::debug!(error = %e, "could not lower a pixel thread's priority");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// How pixels are sent.
#[derive(Debug, Clone)]
pub struct PixelSettings {
    /// Let pixels reach loopback, private, link-local and metadata addresses
    /// (`--pixels-allow-private-targets`; tests and demos).
    pub allow_private_targets: bool,
    /// Each attempt's limit, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Most attempts in flight to one host.
    pub per_host: usize,
    /// When a host's breaker opens (timeouts, connection errors and 5xx
    /// count) and for how long its deliveries wait.
    pub breaker: BreakerConfig,
}

impl Default for PixelSettings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            timeout: Duration::from_secs(5),
            per_host: 32,
            breaker: BreakerConfig::default(),
        }
    }
}

/// The send side's shared state.
pub(crate) struct Outbox {
    client: BidClient,
    settings: PixelSettings,
    hosts: DashMap<String, Arc<Host>>,
    /// Being attempted, or its outcome not yet written: not due again.
    in_flight: DashSet<Id>,
    wake: Notify,
    secrets: DashMap<Id, (Instant, Option<Arc<SigningSecrets>>)>,
    /// Attempts' outcomes, written in batches by one task (`write_outcomes`).
    outcomes: mpsc::UnboundedSender<Delivery>,
    written: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
}

struct Host {
    slots: Arc<Semaphore>,
    breaker: Mutex<CircuitBreaker>,
}

impl Outbox {
    pub(crate) fn new(settings: PixelSettings) -> Self {
        let (outcomes, written) = mpsc::unbounded_channel();
        Self {
            client: BidClient::new(settings.allow_private_targets),
            settings,
            hosts: DashMap::new(),
            in_flight: DashSet::new(),
            wake: Notify::new(),
            secrets: DashMap::new(),
            outcomes,
            written: Mutex::new(Some(written)),
        }
    }

    fn host(&self, name: &str) -> Arc<Host> {
        self.hosts
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(Host {
                    slots: Arc::new(Semaphore::new(self.settings.per_host.max(1))),
                    breaker: Mutex::new(CircuitBreaker::new(self.settings.breaker)),
                })
            })
            .clone()
    }
}

/// Starts both loops and the outcome writer on the pixel runtime; they end
/// when the engine does. A store without an event log (ScyllaDB) has no
/// outbox, so no pixel runtime: nothing starts.
pub(crate) fn start(engine: &Engine) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(runtime) = engine.inner.pixel_runtime.handle() else {
        return Vec::new();
    };
    let weak = Arc::downgrade(&engine.inner);
    let outbox = Arc::clone(&engine.inner.outbox);
    let written = outbox.written.lock().ok().and_then(|mut w| w.take());
    let mut tasks = vec![
        runtime.spawn(dispatch_loop(weak.clone())),
        runtime.spawn(send_loop(weak)),
    ];
    if let Some(written) = written {
        let store = Arc::clone(&engine.inner.store);
        tasks.push(runtime.spawn(write_outcomes(outbox, store, written)));
    }
    tasks
}

/// Writes attempts' outcomes as they come, all those waiting in one
/// transaction, then lets the sender take their deliveries' hosts again.
async fn write_outcomes(
    outbox: Arc<Outbox>,
    store: Arc<dyn Store>,
    mut written: mpsc::UnboundedReceiver<Delivery>,
) {
    let mut batch = Vec::new();
    while written.recv_many(&mut batch, 1024).await > 0 {
        if let Err(e) = store.update_deliveries(&batch, false).await {
            // They stay due as they were: attempted again, with the same ids.
            tracing::warn!(error = %e, "writing pixel delivery outcomes failed");
        }
        for d in batch.drain(..) {
            outbox.in_flight.remove(&d.id);
        }
        outbox.wake.notify_one();
    }
}

async fn dispatch_loop(weak: Weak<Inner>) {
    let Some(mut positions) = weak.upgrade().and_then(|i| i.store.event_positions()) else {
        return;
    };
    let mut cursor = None;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let engine = Engine { inner };
        let passed = match cursor {
            Some(c) => dispatch(&engine, c).await,
            None => engine
                .inner
                .store
                .event_cursor(CURSOR)
                .await
                .map_err(Into::into),
        };
        let moved = match passed {
            Ok(c) if cursor != Some(c) => {
                cursor = Some(c);
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "pixel dispatch failed; retrying");
                drop(engine);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        drop(engine);
        if !moved {
            // Caught up: wait for the next event (or look again in a second).
            let _ = tokio::time::timeout(Duration::from_secs(1), positions.changed()).await;
        }
    }
}

/// Turns the events after `cursor` into deliveries; returns the new cursor.
async fn dispatch(engine: &Engine, cursor: u64) -> Result<u64> {
    let store = &engine.inner.store;
    let events = store.events_after(None, cursor, EVENTS_PER_PASS).await?;
    let Some(last) = events.last().map(|e| e.position) else {
        return Ok(cursor);
    };
    let now = Utc::now();
    let mut pixels: HashMap<Id, Vec<Pixel>> = HashMap::new();
    let mut calls: HashMap<Id, Option<CallRecord>> = HashMap::new();
    let mut fired: HashMap<(Id, Id), u32> = HashMap::new();
    let mut deliveries = Vec::new();
    for e in events.iter().filter(|e| !e.demo) {
        if let Entry::Vacant(slot) = pixels.entry(e.tenant) {
            let docs = store.list_docs(DocKind::Pixel, Some(e.tenant)).await?;
            slot.insert(
                docs.iter()
                    .filter_map(|d| Pixel::decode(d).ok())
                    .filter(|p| p.status == switchboard_model::PixelStatus::Active)
                    .collect(),
            );
        }
        let candidates: Vec<&Pixel> = pixels[&e.tenant]
            .iter()
            .filter(|p| p.events.contains(&e.kind) && p.created_at <= e.at)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        if let Entry::Vacant(slot) = calls.entry(e.call_id) {
            slot.insert(store.get_call(e.call_id).await?);
        }
        let Some(call) = calls[&e.call_id].as_ref() else {
            continue;
        };
        for p in candidates {
            if !switchboard_pixels::fires(p, e.kind, call) {
                continue;
            }
            let count = match fired.get(&(p.id, call.id)) {
                Some(n) => *n,
                None => store.pixel_fires(p.id, call.id).await?,
            };
            if count >= p.max_fires {
                continue;
            }
            fired.insert((p.id, call.id), count + 1);
            match delivery(engine, p, e, call, now) {
                Some(d) => deliveries.push(d),
                None => tracing::error!(pixel = %p.id, "a stored pixel's templates do not parse"),
            }
        }
    }
    store.add_deliveries(CURSOR, last, &deliveries).await?;
    if !deliveries.is_empty() {
        engine.inner.outbox.wake.notify_one();
    }
    Ok(last)
}

/// The delivery `pixel` makes for event `e` of `call`, rendered at `now`.
fn delivery(
    engine: &Engine,
    pixel: &Pixel,
    e: &StoredEvent,
    call: &CallRecord,
    now: DateTime<Utc>,
) -> Option<Delivery> {
    let campaign = engine.campaign(call.campaign_id);
    let buyer = call.buyer_id.and_then(|b| {
        engine.buyer(b).map(|b| b.name.clone()).or_else(|| {
            engine
                .inner
                .registry
                .bidders
                .get(&b)
                .map(|t| t.target.name.clone())
        })
    });
    let facts = Facts {
        event: e.kind,
        call,
        campaign_name: campaign.as_ref().map_or("", |c| c.name.as_str()),
        buyer_name: buyer.as_deref().unwrap_or_default(),
        publisher_sub_id: call.tags.get("publisherSubId").map_or("", String::as_str),
        now,
    };
    let mut request = switchboard_pixels::render(pixel, &facts)?;
    if let Some(a) = &pixel.basic_auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", a.username, a.password));
        request
            .headers
            .push(("Authorization".into(), format!("Basic {token}")));
    }
    Some(Delivery {
        id: delivery_id(pixel.id, e.position),
        tenant_id: call.tenant_id,
        pixel_id: pixel.id,
        call_id: call.id,
        event: e.kind,
        position: e.position,
        state: DeliveryState::Pending,
        attempt: 0,
        request,
        response_status: None,
        response_body: None,
        error: None,
        duration_ms: None,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
    })
}

/// The id of `pixel`'s delivery for the event at `position`: the same
/// every time the event is dispatched, so a replay stores nothing twice.
pub(crate) fn delivery_id(pixel: Id, position: u64) -> Id {
    Id::new_v5(&pixel, &position.to_be_bytes())
}

async fn send_loop(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let outbox = Arc::clone(&inner.outbox);
        let store = Arc::clone(&inner.store);
        drop(inner);
        if let Err(e) = send_due(&outbox, &store).await {
            tracing::warn!(error = %e, "reading due pixel deliveries failed");
        }
        let _ = tokio::time::timeout(SEND_TICK, outbox.wake.notified()).await;
    }
}

/// Starts an attempt of every due delivery whose host has a free slot;
/// postpones those of hosts whose breaker is open.
async fn send_due(outbox: &Arc<Outbox>, store: &Arc<dyn Store>) -> Result<()> {
    let room = DueRoom {
        in_flight: outbox.in_flight.iter().map(|id| *id).collect(),
        free: outbox
            .hosts
            .iter()
            .map(|h| (h.key().clone(), h.slots.available_permits()))
            .collect(),
        free_elsewhere: outbox.settings.per_host.max(1),
    };
    let now = Utc::now();
    let due = store.due_deliveries(now, DUE_PER_PASS, &room).await?;
    let mut postponed = Vec::new();
    for mut d in due {
        let host_name = d.request.host().to_owned();
        let host = outbox.host(&host_name);
        let open = {
            let mut b = host.breaker.lock().unwrap_or_else(|p| p.into_inner());
            !b.try_acquire(Instant::now())
        };
        if open {
            // Not an attempt: the host failed others just now.
            d.next_attempt_at = Some(now + outbox.settings.breaker.cool_down);
            d.error = Some(format!(
                "{host_name} is failing: waiting for its circuit breaker"
            ));
            d.updated_at = now;
            postponed.push(d);
            continue;
        }
        let Ok(slot) = Arc::clone(&host.slots).try_acquire_owned() else {
            continue;
        };
        outbox.in_flight.insert(d.id);
        let (outbox, store) = (Arc::clone(outbox), Arc::clone(store));
        tokio::spawn(async move {
            attempt(&outbox, &store, d, &host, slot).await;
        });
    }
    store.update_deliveries(&postponed, false).await?;
    Ok(())
}

/// One attempt of `d`; its outcome goes to the writer (`write_outcomes`).
async fn attempt(
    outbox: &Outbox,
    store: &Arc<dyn Store>,
    mut d: Delivery,
    host: &Host,
    slot: OwnedSemaphorePermit,
) {
    let (status, retry_after) = send_once(outbox, store, &mut d).await;
    drop(slot);
    d.attempt += 1;
    let failure = status.is_none_or(|s| s >= 500);
    if let Ok(mut b) = host.breaker.lock() {
        b.record(failure, Instant::now());
    }
    let now = Utc::now();
    settle(
        &mut d,
        switchboard_pixels::verdict(status, retry_after),
        now,
    );
    metrics::PIXEL_DELIVERIES
        .inc_with(&[("event", d.event.as_str()), ("result", d.state.as_str())]);
    match d.state {
        DeliveryState::Retrying => metrics::PIXEL_RETRIES.inc(),
        DeliveryState::Dead => metrics::PIXEL_DEAD.inc(),
        _ => {}
    }
    // The writer forgets it as in flight once the outcome is written.
    if let Err(e) = outbox.outcomes.send(d) {
        outbox.in_flight.remove(&e.0.id);
    }
}

/// Sends `d`'s request once, signed, within the timeout, and keeps the
/// answer (or why there was none) on `d`; with the status and `Retry-After`.
async fn send_once(
    outbox: &Outbox,
    store: &Arc<dyn Store>,
    d: &mut Delivery,
) -> (Option<u16>, Option<u64>) {
    let secrets = signing_secrets(outbox, store, d.tenant_id).await;
    let started = Instant::now();
    let headers = signed_headers(d, secrets.as_deref(), Utc::now());
    let request = &d.request;
    let build = |client: &reqwest::Client, url: reqwest::Url| {
        let method = match request.method {
            PixelMethod::Get => reqwest::Method::GET,
            PixelMethod::Post => reqwest::Method::POST,
            PixelMethod::Put => reqwest::Method::PUT,
            PixelMethod::Patch => reqwest::Method::PATCH,
        };
        let mut req = client.request(method, url);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if request.method != PixelMethod::Get {
            req = req.body(request.body.clone());
        }
        req
    };
    let sent = tokio::time::timeout(
        outbox.settings.timeout,
        outbox.client.fetch(&request.url, build, RESPONSE_BODY_KEPT),
    )
    .await;
    let (status, retry_after) = match sent {
        Ok((Answer::Http { status, body }, retry_after)) => {
            let kept = &body[..body.len().min(RESPONSE_BODY_KEPT)];
            d.response_body = Some(String::from_utf8_lossy(kept).into_owned());
            d.error = None;
            (Some(status), retry_after)
        }
        Ok((Answer::Failed(why), _)) => {
            (d.response_body, d.error) = (None, Some(why));
            (None, None)
        }
        Err(_) => {
            let why = format!(
                "no answer within {} ms",
                outbox.settings.timeout.as_millis()
            );
            (d.response_body, d.error) = (None, Some(why));
            (None, None)
        }
    };
    d.response_status = status;
    d.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    (status, retry_after)
}

/// The call previews and tests render: a converted call of 90 s that paid
/// 25.00 USD, from a Google click.
fn sample_call(tenant: Id, campaign: Id, now: DateTime<Utc>) -> Result<CallRecord> {
    let json = serde_json::json!({
        "id": Id::from_u128(0x5a_3b1e), "callSid": "CA00000000000000000000000000sample",
        "tenantId": tenant, "campaignId": campaign,
        "from": "+15551230000", "to": "+15550001000", "callerState": "CA", "callerZip": "94105",
        "status": "completed", "startedAt": now - chrono::Duration::seconds(95),
        "answeredAt": now - chrono::Duration::seconds(90), "endedAt": now,
        "durationSeconds": 90, "converted": true, "currency": "USD",
        "revenueMinor": 2500, "payoutMinor": 1000, "profitMinor": 1500,
        "tags": {"utmSource": "google", "utmMedium": "cpc", "utmCampaign": "sample", "gclid": "sample-gclid"},
    });
    serde_json::from_value(json)
        .map_err(|e| switchboard_store::StoreError::Backend(format!("the sample call: {e}")).into())
}

/// The sample delivery `pixel` would make (its first event, the sample call).
fn sample_delivery(engine: &Engine, pixel: &Pixel) -> Result<Option<Delivery>> {
    let now = Utc::now();
    let campaign = pixel.campaign_ids.first().copied().unwrap_or_default();
    let call = sample_call(pixel.tenant_id, campaign, now)?;
    let event = StoredEvent {
        position: 0,
        tenant: pixel.tenant_id,
        call_id: call.id,
        kind: pixel
            .events
            .first()
            .copied()
            .unwrap_or(switchboard_model::event::EventKind::Converted),
        at: now,
        demo: false,
    };
    Ok(delivery(engine, pixel, &event, &call, now))
}

/// Sets `d`'s state after an attempt judged `verdict`.
fn settle(d: &mut Delivery, verdict: Verdict, now: DateTime<Utc>) {
    (d.state, d.next_attempt_at) = match verdict {
        Verdict::Delivered => (DeliveryState::Delivered, None),
        Verdict::Final => (DeliveryState::Failed, None),
        Verdict::Retry(after) => {
            match switchboard_pixels::backoff(d.attempt, rand::random::<f64>(), after) {
                Some(wait) => (
                    DeliveryState::Retrying,
                    Some(now + chrono::Duration::from_std(wait).unwrap_or_default()),
                ),
                None => (DeliveryState::Dead, None),
            }
        }
    };
    d.updated_at = now;
}

/// The headers `d` is sent with: its own, its id and event, and the
/// signature when the tenant has a secret.
fn signed_headers(
    d: &Delivery,
    secrets: Option<&SigningSecrets>,
    now: DateTime<Utc>,
) -> Vec<(String, String)> {
    let mut headers = d.request.headers.clone();
    headers.push(("Switchboard-Delivery-Id".into(), d.id.to_string()));
    headers.push(("Switchboard-Event".into(), d.event.as_str().into()));
    if let Some(s) = secrets {
        let payload = match d.request.method {
            PixelMethod::Get => &d.request.url,
            _ => &d.request.body,
        };
        headers.push((
            "Switchboard-Signature".into(),
            switchboard_pixels::signature(s, now, payload),
        ));
    }
    headers
}

async fn signing_secrets(
    outbox: &Outbox,
    store: &Arc<dyn Store>,
    tenant: Id,
) -> Option<Arc<SigningSecrets>> {
    if let Some(hit) = outbox.secrets.get(&tenant)
        && hit.0.elapsed() < SECRETS_TTL
    {
        return hit.1.clone();
    }
    match load_secrets(store.as_ref(), tenant).await {
        Ok(found) => {
            let found = found.map(|(s, _)| Arc::new(s));
            outbox
                .secrets
                .insert(tenant, (Instant::now(), found.clone()));
            found
        }
        Err(e) => {
            // Unsigned would be refused by a receiver that checks: wait.
            tracing::warn!(error = %e, "reading the signing secret failed");
            outbox.secrets.get(&tenant).and_then(|hit| hit.1.clone())
        }
    }
}

async fn load_secrets(store: &dyn Store, tenant: Id) -> Result<Option<(SigningSecrets, u64)>> {
    let Some(doc) = store
        .get_doc(DocKind::Secret, tenant, SIGNING_SECRETS_DOC)
        .await?
    else {
        return Ok(None);
    };
    let secrets = serde_json::from_value(doc.body).map_err(|e| {
        switchboard_store::StoreError::Corrupt(format!("signing secrets of {tenant}: {e}"))
    })?;
    Ok(Some((secrets, doc.version)))
}

/// What a request shows in the delivery log: credentials masked.
pub fn masked(request: &PixelRequest) -> PixelRequest {
    let mut r = request.clone();
    for (name, value) in &mut r.headers {
        if name.eq_ignore_ascii_case("authorization") {
            *value = "Basic ********".into();
        }
    }
    r
}

impl Engine {
    /// Whether pixels may reach private addresses (`--pixels-allow-private-targets`).
    pub fn pixels_allow_private_targets(&self) -> bool {
        self.inner.outbox.settings.allow_private_targets
    }

    /// Makes `tenant` a new signing secret and returns it (the one time it
    /// is shown); the one it replaces keeps signing for 24 hours.
    pub async fn rotate_signing_secret(&self, tenant: Id) -> Result<String> {
        let store = self.inner.store.as_ref();
        let secret = format!(
            "whsec_{}",
            rand::random::<[u8; 24]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let old = load_secrets(store, tenant).await?;
        let now = Utc::now();
        let secrets = SigningSecrets {
            current: secret.clone(),
            previous: old
                .as_ref()
                .map(|(s, _)| (s.current.clone(), now + PREVIOUS_SECRET_SIGNS)),
        };
        let doc = Doc {
            kind: DocKind::Secret,
            tenant,
            id: SIGNING_SECRETS_DOC,
            version: 0,
            body: serde_json::to_value(&secrets).map_err(|e| {
                switchboard_store::StoreError::Backend(format!("encode secrets: {e}"))
            })?,
        };
        store.put_doc(doc, old.map(|(_, v)| v)).await?;
        self.inner.outbox.secrets.remove(&tenant);
        Ok(secret)
    }

    /// Whether `tenant` has a signing secret.
    pub async fn has_signing_secret(&self, tenant: Id) -> Result<bool> {
        Ok(load_secrets(self.inner.store.as_ref(), tenant)
            .await?
            .is_some())
    }

    /// Sends delivery `id` of `tenant` again now (a closed one starts a new
    /// round of attempts); `None` if there is no such delivery.
    pub async fn resend_delivery(&self, tenant: Id, id: Id) -> Result<Option<Delivery>> {
        let store = &self.inner.store;
        let Some(mut d) = store.get_delivery(tenant, id).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        if !d.state.is_open() {
            (d.state, d.attempt) = (DeliveryState::Pending, 0);
        }
        (d.next_attempt_at, d.updated_at) = (Some(now), now);
        store
            .update_deliveries(std::slice::from_ref(&d), true)
            .await?;
        self.inner.outbox.wake.notify_one();
        Ok(Some(d))
    }

    /// The request `pixel` (saved or not) makes for a sample call,
    /// credentials masked; `None` if its templates do not parse.
    pub fn preview_pixel(&self, pixel: &Pixel) -> Result<Option<PixelRequest>> {
        Ok(sample_delivery(self, pixel)?.map(|d| masked(&d.request)))
    }

    /// Sends `pixel`'s sample request now (signed, if the tenant has a
    /// secret; kept in no log) and returns it with the answer: the request
    /// masked, and the response's status, body or error and duration.
    pub async fn test_pixel(&self, pixel: &Pixel) -> Result<Option<Delivery>> {
        let Some(mut d) = sample_delivery(self, pixel)? else {
            return Ok(None);
        };
        // Sent from the pixel runtime, like every delivery: a connection it
        // opens is driven there, whoever reuses it.
        let (outbox, store) = (
            Arc::clone(&self.inner.outbox),
            Arc::clone(&self.inner.store),
        );
        let send = async move {
            send_once(&outbox, &store, &mut d).await;
            d
        };
        let mut d = match self.inner.pixel_runtime.handle() {
            Some(runtime) => runtime
                .spawn(send)
                .await
                .map_err(|e| EngineError::Overloaded(format!("pixel test send: {e}")))?,
            None => send.await,
        };
        d.attempt = 1;
        d.request = masked(&d.request);
        Ok(Some(d))
    }

    /// Samples the outbox's depth and age into the metrics.
    pub(crate) async fn sample_outbox(&self) {
        if let Ok(s) = self.inner.store.outbox_stats().await {
            metrics::PIXEL_OUTBOX_DEPTH.set(s.open as f64);
            let age = s.oldest_due.map_or(0.0, |t| {
                ((Utc::now() - t).num_milliseconds() as f64 / 1e3).max(0.0)
            });
            metrics::PIXEL_OUTBOX_AGE_SECONDS.set(age);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_model::event::EventKind;

    fn delivery() -> Delivery {
        let now = Utc::now();
        Delivery {
            id: delivery_id(Id::from_u128(1), 7),
            tenant_id: Id::from_u128(2),
            pixel_id: Id::from_u128(1),
            call_id: Id::from_u128(3),
            event: EventKind::Converted,
            position: 7,
            state: DeliveryState::Pending,
            attempt: 0,
            request: PixelRequest {
                method: PixelMethod::Post,
                url: "https://t.example/pb".into(),
                headers: vec![("Authorization".into(), "Basic dTpw".into())],
                body: "{}".into(),
            },
            response_status: None,
            response_body: None,
            error: None,
            duration_ms: None,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_delivery_keeps_its_id_across_replays_and_differs_per_event_and_pixel() {
        let p = Id::from_u128(1);
        assert_eq!(delivery_id(p, 7), delivery_id(p, 7));
        assert_ne!(delivery_id(p, 7), delivery_id(p, 8));
        assert_ne!(delivery_id(p, 7), delivery_id(Id::from_u128(9), 7));
    }

    #[test]
    fn retries_until_the_last_attempt_then_dead_and_a_4xx_is_final() {
        let now = Utc::now();
        let mut d = delivery();
        d.attempt = 1;
        settle(&mut d, Verdict::Retry(None), now);
        assert_eq!(d.state, DeliveryState::Retrying);
        let wait = d.next_attempt_at.unwrap() - now;
        assert!(
            wait >= chrono::Duration::milliseconds(100) && wait <= chrono::Duration::seconds(1)
        );
        d.attempt = switchboard_model::pixel::MAX_ATTEMPTS;
        settle(&mut d, Verdict::Retry(None), now);
        assert_eq!((d.state, d.next_attempt_at), (DeliveryState::Dead, None));
        settle(&mut d, Verdict::Final, now);
        assert_eq!(d.state, DeliveryState::Failed);
        settle(&mut d, Verdict::Delivered, now);
        assert_eq!(d.state, DeliveryState::Delivered);
    }

    #[test]
    fn the_log_masks_credentials_and_a_post_is_signed_over_its_body() {
        assert_eq!(masked(&delivery().request).headers[0].1, "Basic ********");
        let secrets = SigningSecrets {
            current: "k".into(),
            previous: None,
        };
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let h = signed_headers(&delivery(), Some(&secrets), now);
        let names: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Authorization",
                "Switchboard-Delivery-Id",
                "Switchboard-Event",
                "Switchboard-Signature"
            ]
        );
        assert_eq!(h[3].1, switchboard_pixels::signature(&secrets, now, "{}"));
        assert!(signed_headers(&delivery(), None, now).len() == 3);
    }
}
