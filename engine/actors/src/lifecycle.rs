//! A call's life in the engine, from the voice webhook to its last status
//! callback: [`Engine::inbound`] decides the first attempt (through the
//! campaign's actor, or an RTB auction in `rtb`) and records it before
//! answering; [`Engine::dial_result`] falls through to the next buyer;
//! [`Engine::status_event`] settles attempts and releases their
//! reservations. Every change of a call is committed by the recorder before
//! it is acknowledged, then the reservations it ended are given back.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use switchboard_model::call::Attribution;
use switchboard_model::publisher::{self, PublisherSources};
use switchboard_model::{
    Adjustment, AttemptOutcome, Buyer, CallRecord, CallStatus, CallerInfo, Campaign,
    CampaignStatus, Currency, Id, PhoneNumber, Refusal, RejectReason, RoutingType, Skipped, Tenant,
    TrackingTag, call,
};
use switchboard_routing::payout;
use switchboard_rtb::ValidBid;
use switchboard_store::{ConfigKind, DocKind};

use crate::api::{Decision, DialResult, InboundCall, StatusEvent};
use crate::calls::{self, DialSettings, LiveCall, Release};
use crate::campaign::{CampaignMsg, RouteOutcome, RouteRequest};
use crate::error::{EngineError, Result};
use crate::peers::RemoteRoute;
use crate::{Engine, metrics, supervisor};

/// Where an attempt goes: a buyer, or an RTB bid whose target reserved
/// capacity, with the number it bid with.
pub(crate) enum Pick {
    Buyer(Arc<Buyer>),
    Bid(ValidBid, PhoneNumber),
}

/// A call's first routing: where it goes (or why nowhere), and the buyers
/// or RTB targets passed over on the way.
pub(crate) struct Routed {
    pub(crate) pick: std::result::Result<Pick, RejectReason>,
    pub(crate) skipped: Vec<Skipped>,
    /// A repeat caller inside the campaign's duplicate window.
    pub(crate) duplicate: bool,
}

impl From<RouteOutcome> for Routed {
    fn from(r: RouteOutcome) -> Self {
        Self {
            pick: r.buyer.map(Pick::Buyer),
            skipped: r.skipped,
            duplicate: r.duplicate,
        }
    }
}

/// The tags of a call without a campaign.
static NO_TAGS: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();

impl Pick {
    fn id(&self) -> Id {
        match self {
            Pick::Buyer(b) => b.id,
            Pick::Bid(b, _) => b.target_id,
        }
    }

    fn push(&self, record: &mut CallRecord, now: DateTime<Utc>) {
        match self {
            Pick::Buyer(b) => calls::push_attempt(record, b, now),
            Pick::Bid(bid, number) => {
                calls::push_bid_attempt(
                    record,
                    bid.target_id,
                    number.clone(),
                    (bid.amount, bid.currency, bid.duration_secs),
                    now,
                );
            }
        }
    }
}

/// How long a call waits for its publisher's cap decision.
const PUBLISHER_RESERVE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

impl Engine {
    /// The tenant owning a call, by our id or by a `CallSid` (inbound or parent).
    pub async fn tenant_of_call(
        &self,
        call_id: Option<Id>,
        call_sid: Option<&str>,
    ) -> Result<Option<(Id, Arc<Tenant>)>> {
        if let Some(live) = call_id
            .and_then(|id| self.inner.live.by_id(id))
            .or_else(|| call_sid.and_then(|s| self.inner.live.by_sid(s)))
        {
            return Ok(self.tenant(live.tenant_id).map(|t| (live.id, t)));
        }
        let record = match (call_id, call_sid) {
            (Some(id), _) => self.inner.store.get_call(id).await?,
            (None, Some(sid)) => self.inner.store.get_call_by_sid(sid).await?,
            (None, None) => None,
        };
        Ok(record.and_then(|r| self.tenant(r.tenant_id).map(|t| (r.id, t))))
    }

    fn settings(&self) -> DialSettings {
        DialSettings {
            time_limit_seconds: self.inner.config.max_call_seconds,
        }
    }

    /// Routes an inbound call: the decision is durable before it returns.
    /// A retried webhook (same `CallSid`) gets the same decision.
    pub async fn inbound(&self, call: InboundCall) -> Result<Decision> {
        self.inbound_via(None, call).await
    }

    /// Routes an inbound call that arrived on `pool`'s webhook through the
    /// pool's campaign, like [`Engine::inbound`].
    pub async fn inbound_pool(&self, pool: Id, call: InboundCall) -> Result<Decision> {
        self.inbound_via(Some(pool), call).await
    }

    async fn inbound_via(&self, pool: Option<Id>, call: InboundCall) -> Result<Decision> {
        // The number's tenant is the one whose token signed the webhook: a
        // retry is replayed only within it (a CallSid is unique system-wide).
        let Some((tenant_id, campaign_id, pool_id)) = self.route_of(pool, &call.to) else {
            return Ok(Decision::NotInService);
        };
        if let Some(live) = self.inner.live.by_sid(&call.call_sid) {
            return self.replay(tenant_id, &live).await;
        }
        // A retry after a restart (or after eviction) finds the call in the store.
        if let Some(record) = self.inner.store.get_call_by_sid(&call.call_sid).await? {
            if record.tenant_id != tenant_id {
                return Err(EngineError::CallSidTaken);
            }
            let live = self.inner.live.adopt(record);
            return self.replay(tenant_id, &live).await;
        }

        let now = Utc::now();
        let id = self.new_call_id();
        let live = Arc::new(LiveCall::new(id, tenant_id, None));
        let mut slot = live.record.lock().await;
        if let Err(existing) = self.inner.live.claim(&call.call_sid, live.clone()) {
            drop(slot);
            return self.replay(tenant_id, &existing).await;
        }
        let campaign = self.campaign(campaign_id);
        let attribution = match pool_id {
            Some(p) => self.attribute(p, &call.to, now).await,
            None => None,
        };
        let mut sources = match self
            .publisher_sources(tenant_id, pool_id, &call.to, attribution.as_ref())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                self.inner.live.remove(id, &call.call_sid);
                return Err(e);
            }
        };
        let rtb = campaign
            .as_ref()
            .filter(|c| c.routing_type == RoutingType::Rtb && c.status == CampaignStatus::Active);
        // The ping the call will take names its publisher now, and lends the
        // call the values it sent (under what the carrier says of the caller).
        let ping = rtb.and_then(|c| self.open_ping(c, &call.caller.from));
        let mut caller = call.caller;
        if let Some((publisher, sent)) = ping {
            sources.ping = publisher;
            for (name, value) in sent {
                caller.tags.entry(name).or_insert(value);
            }
        }
        let fixed = campaign.as_ref().map_or(&NO_TAGS, |c| &c.tags);
        caller.tags = call::call_tags(&caller, attribution.as_ref().map(|a| &a.traffic), fixed);
        if let Some(p) = publisher::attribute(sources) {
            self.tag_publisher(p, &mut caller.tags, fixed);
        }
        let caller = Arc::new(caller);
        let mut record = CallRecord {
            id,
            call_sid: call.call_sid.clone(),
            tenant_id,
            campaign_id,
            from: caller.from.clone(),
            to: call.to,
            caller_state: caller.state.clone(),
            caller_zip: caller.zip.clone(),
            status: CallStatus::Rejected,
            reject_reason: None,
            buyer_id: None,
            attempts: Vec::new(),
            skipped: Vec::new(),
            tags: caller.tags.clone(),
            started_at: now,
            answered_at: None,
            ended_at: None,
            duration_seconds: 0,
            converted: false,
            revenue_minor: 0,
            payout_minor: 0,
            profit_minor: 0,
            currency: Currency::default(),
            recording_url: None,
            pool_id,
            attribution,
            publisher_id: publisher::attribute(sources),
            duplicate: false,
            adjustments: Vec::new(),
            demo: false,
        };
        if self
            .blocked(tenant_id, Some(campaign_id), &record.from, now)
            .is_some()
        {
            // No buyer reserved, no auction run: recorded as blocked, refused.
            (record.status, record.ended_at) = (CallStatus::Blocked, Some(now));
            if let Err(e) = self.inner.recorder.record(record.clone()).await {
                self.inner.live.remove(id, &call.call_sid);
                return Err(e);
            }
            metrics::CALLS_REJECTED.inc_with(&[("reason", "blocked")]);
            let decision = calls::decision_for(&record, campaign.as_deref(), &self.settings());
            *slot = Some(record);
            return Ok(decision);
        }
        // The publisher's cap is taken before a buyer's: a call over it
        // reaches no buyer.
        let mut held = None;
        let mut over_cap = false;
        let paused = publisher::attribute(sources).is_some_and(|p| self.publisher_paused(p));
        if let Some(p) =
            publisher::attribute(sources).filter(|p| !paused && self.publisher_capped(*p))
        {
            match self.reserve_publisher(p, id, &caller, now).await {
                Ok(()) => held = Some(p),
                // Its counter did not answer in time (still rebuilding after a
                // start, or its node is away): the call is not the one to lose.
                Err(Refusal::Unavailable) => {
                    tracing::warn!(publisher = %p, call = %id, "the publisher's cap could not be checked in time; routing the call");
                }
                Err(_) => over_cap = true,
            }
        }
        let asked = Instant::now();
        let routed = match rtb {
            _ if paused => Ok(Routed {
                pick: Err(RejectReason::PublisherPaused),
                skipped: Vec::new(),
                duplicate: false,
            }),
            _ if over_cap => Ok(Routed {
                pick: Err(RejectReason::PublisherCap),
                skipped: Vec::new(),
                duplicate: false,
            }),
            Some(c) => {
                sources.ping = None;
                self.rtb_route(c, id, caller.clone(), now, &mut sources.ping)
                    .await
            }
            None => self
                .route(campaign_id, id, 0, caller.clone(), Vec::new(), now)
                .await
                .map(Routed::from),
        };
        record.publisher_id = publisher::attribute(sources);
        let routed = self
            .follow_publisher(routed, &mut held, record.publisher_id, id, &caller, now)
            .await;
        let policy = campaign.as_ref().map(|c| c.routing_policy);
        match routed {
            Ok(routed) => {
                record.skipped = routed.skipped;
                record.duplicate = routed.duplicate;
                match routed.pick {
                    Ok(pick) => pick.push(&mut record, now),
                    Err(reason) => {
                        record.reject_reason = Some(reason);
                        record.ended_at = Some(now);
                        // Refused before a dial: the publisher's slot and count come back.
                        self.give_back_publisher(held.take(), id).await;
                    }
                }
            }
            Err(e) => {
                self.give_back_publisher(held, id).await;
                self.inner.live.remove(id, &call.call_sid);
                return Err(e);
            }
        }
        if let Err(e) = self.inner.recorder.record(record.clone()).await {
            // Not durable, so not acknowledged: give the capacity back and let
            // the carrier retry.
            if let Some(a) = record.attempts.first() {
                self.release(Release {
                    buyer_id: a.buyer_id,
                    key: (id, 0),
                    answered: false,
                })
                .await;
            }
            self.give_back_publisher(held, id).await;
            self.inner.live.remove(id, &call.call_sid);
            return Err(e);
        }
        if !record.attempts.is_empty() && self.recorded_late(asked) {
            *slot = Some(record);
            return Ok(self.withdraw(&mut slot, 0, campaign.as_deref()).await);
        }
        match (record.status, record.reject_reason) {
            (CallStatus::Ringing, _) => {
                let policy = match policy {
                    _ if rtb.is_some() => "rtb",
                    Some(switchboard_model::RoutingPolicy::RoundRobin) => "round-robin",
                    _ => "priority",
                };
                metrics::CALLS_ROUTED.inc_with(&[("policy", policy)]);
            }
            (_, Some(reason)) => metrics::CALLS_REJECTED.inc_with(&[("reason", reason.as_str())]),
            _ => {}
        }
        let decision = calls::decision_for(&record, campaign.as_deref(), &self.settings());
        *slot = Some(record);
        Ok(decision)
    }

    /// Reserves a slot of capped `publisher` for `call`, wherever its
    /// counting actor lives (a buyer actor keyed by the publisher), or why not.
    async fn reserve_publisher(
        &self,
        publisher: Id,
        call: Id,
        caller: &Arc<CallerInfo>,
        now: DateTime<Utc>,
    ) -> std::result::Result<(), Refusal> {
        let expires_at = now + self.inner.config.max_hold();
        self.inner
            .capacity
            .reserve(
                publisher,
                (call, 0),
                caller,
                now,
                expires_at,
                PUBLISHER_RESERVE_TIMEOUT,
            )
            .await
    }

    /// Gives `held`'s slot for `call` back, refunding its count.
    async fn give_back_publisher(&self, held: Option<Id>, call: Id) {
        if let Some(p) = held {
            self.release(Release {
                buyer_id: p,
                key: (call, 0),
                answered: false,
            })
            .await;
        }
    }

    /// After routing, the publisher slot follows the publisher the call is
    /// attributed to (a ping was taken, or lapsed, after the first look):
    /// the slot `held` is given back, a capped new publisher's is reserved,
    /// and over its cap the routed attempt is let go and the call refused.
    async fn follow_publisher(
        &self,
        routed: Result<Routed>,
        held: &mut Option<Id>,
        attributed: Option<Id>,
        call: Id,
        caller: &Arc<CallerInfo>,
        now: DateTime<Utc>,
    ) -> Result<Routed> {
        let wanted = attributed.filter(|p| self.publisher_capped(*p));
        if *held == wanted {
            return routed;
        }
        let routed = routed?;
        self.give_back_publisher(held.take(), call).await;
        let Some(p) = wanted else { return Ok(routed) };
        match self.reserve_publisher(p, call, caller, now).await {
            Ok(()) => {
                *held = Some(p);
                return Ok(routed);
            }
            // Not checked in time: as above, the call goes on.
            Err(Refusal::Unavailable) => return Ok(routed),
            Err(_) => {}
        }
        if let Ok(pick) = &routed.pick {
            self.release(Release {
                buyer_id: pick.id(),
                key: (call, 0),
                answered: false,
            })
            .await;
            self.inner.rtb_pending.remove(&call);
        }
        Ok(Routed {
            pick: Err(RejectReason::PublisherCap),
            ..routed
        })
    }

    /// Where a call of `tenant` to `to` may find its publisher: for a pool
    /// number (`pool`), the tracking tag of the `visit` it is attributed to
    /// (read from the store, which alone holds tags) and the pool; the
    /// number in the inventory.
    async fn publisher_sources(
        &self,
        tenant: Id,
        pool: Option<Id>,
        to: &PhoneNumber,
        visit: Option<&Attribution>,
    ) -> Result<PublisherSources> {
        let mut s = PublisherSources {
            number: self.number_publisher(tenant, to),
            ..PublisherSources::default()
        };
        if let Some(pool) = pool {
            if let Some(visit) = visit
                && let Some(doc) = self
                    .inner
                    .store
                    .get_doc(DocKind::TrackingTag, tenant, visit.tag_id)
                    .await?
            {
                s.tag = TrackingTag::decode(&doc)?.publisher_id;
            }
            s.pool = self.pool(pool).and_then(|p| p.publisher_id);
        }
        Ok(s)
    }

    /// The decision already made for a call of `tenant` (a retried webhook);
    /// another tenant's call is refused.
    async fn replay(&self, tenant: Id, live: &LiveCall) -> Result<Decision> {
        if live.tenant_id != tenant {
            return Err(EngineError::CallSidTaken);
        }
        let slot = live.record.lock().await;
        match slot.as_ref() {
            Some(r) => Ok(calls::decision_for(
                r,
                self.campaign(r.campaign_id).as_deref(),
                &self.settings(),
            )),
            None => Err(EngineError::Overloaded(
                "the first delivery of this call failed; retry".into(),
            )),
        }
    }

    /// Asks the campaign's actor for a buyer — on the node that owns the
    /// campaign, in a cluster.
    pub(crate) async fn route(
        &self,
        campaign_id: Id,
        call_id: Id,
        attempt: u16,
        caller: Arc<CallerInfo>,
        exclude: Vec<Id>,
        now: DateTime<Utc>,
    ) -> Result<RouteOutcome> {
        let req = RemoteRoute {
            campaign: campaign_id,
            call_id,
            attempt,
            caller: (*caller).clone(),
            exclude,
            now,
        };
        match self.ask_campaign_owner(&req).await {
            Some(answer) => answer,
            None => {
                self.route_here(campaign_id, call_id, attempt, caller, req.exclude, now)
                    .await
            }
        }
    }

    /// Asks this node's campaign actor for a buyer, timing the decision.
    /// The actor ([`CampaignMsg::Route`]) offers the attempt to its buyers in
    /// turn; each buyer's actor decides alone, in its
    /// [`BuyerMsg::Reserve`](crate::buyer::BuyerMsg::Reserve) handler.
    pub(crate) async fn route_here(
        &self,
        campaign_id: Id,
        call_id: Id,
        attempt: u16,
        caller: Arc<CallerInfo>,
        exclude: Vec<Id>,
        now: DateTime<Utc>,
    ) -> Result<RouteOutcome> {
        let Some(actor) =
            supervisor::get_or_spawn_campaign(&self.inner.capacity, campaign_id).await?
        else {
            return Ok(RouteOutcome::rejected(RejectReason::CampaignInactive));
        };
        let req = RouteRequest {
            call_id,
            attempt,
            caller,
            exclude,
            now,
            expires_at: now + self.inner.config.max_hold(),
        };
        let started = Instant::now();
        let answer = actor
            .call(
                |reply| CampaignMsg::Route(req, reply),
                Some(self.inner.config.route_timeout),
            )
            .await;
        metrics::ROUTING_DECISION_SECONDS.record(started.elapsed().as_secs_f64());
        match answer {
            Ok(ractor::rpc::CallResult::Success(outcome)) => Ok(outcome),
            _ => {
                self.route_timed_out(campaign_id, (call_id, attempt)).await;
                Err(EngineError::Overloaded("routing decision timed out".into()))
            }
        }
    }

    /// Gave up waiting for a campaign's decision: counted as overload.
    pub(crate) async fn route_timed_out(&self, campaign_id: Id, key: (Id, u16)) {
        self.let_attempt_go(campaign_id, key).await;
        metrics::CALLS_REJECTED.inc_with(&[("reason", RejectReason::Overloaded.as_str())]);
    }

    /// The campaign may still reserve a buyer after we gave up on it: tell
    /// every buyer it might have asked to let this attempt go.
    async fn let_attempt_go(&self, campaign_id: Id, key: (Id, u16)) {
        if let Some(c) = self.campaign(campaign_id) {
            for a in &c.buyers {
                self.release(Release {
                    buyer_id: a.buyer_id,
                    key,
                    answered: false,
                })
                .await;
            }
        }
    }

    /// Gives a reservation back, wherever its buyer is decided
    /// ([`CapacityGateway::release`](crate::gateway::CapacityGateway::release)).
    async fn release(&self, r: Release) {
        self.inner
            .capacity
            .release(r.buyer_id, r.key, r.answered)
            .await;
    }

    /// The live call with this id, loading it from the store when it was evicted.
    async fn live_call(&self, id: Id) -> Result<Arc<LiveCall>> {
        if let Some(live) = self.inner.live.by_id(id) {
            return Ok(live);
        }
        match self.inner.store.get_call(id).await? {
            Some(record) => Ok(self.inner.live.adopt(record)),
            None => Err(EngineError::UnknownCall(id.to_string())),
        }
    }

    /// Commits a changed record, then gives back the reservations it
    /// released. The change that ends the call books its payout, by the
    /// campaign's rules ([`payout::settle`]).
    async fn commit(
        &self,
        slot: &mut Option<CallRecord>,
        mut record: CallRecord,
        mut releases: Vec<Release>,
    ) -> Result<()> {
        let was_terminal = slot.as_ref().is_some_and(|r| r.status.is_terminal());
        // The call ended: its publisher's slot is free; it still counts
        // unless it was refused before a dial.
        if !was_terminal
            && record.status.is_terminal()
            && let Some(p) = record.publisher_id.filter(|p| self.publisher_capped(*p))
        {
            releases.push(Release {
                buyer_id: p,
                key: (record.id, 0),
                answered: record.status != CallStatus::Rejected,
            });
        }
        let campaign = self.campaign(record.campaign_id);
        let rules = campaign.as_deref().map_or(&[][..], |c| &c.payout_rules);
        payout::settle(&mut record, was_terminal, rules);
        self.inner.recorder.record(record.clone()).await?;
        if record.status.is_terminal() {
            // An ended call falls through no more.
            self.inner.rtb_pending.remove(&record.id);
        }
        *slot = Some(record);
        for r in releases {
            self.release(r).await;
        }
        Ok(())
    }

    /// Applies a `<Dial action>` result: hang up, or fall through to the next buyer.
    pub async fn dial_result(&self, call_id: Id, result: DialResult) -> Result<Decision> {
        let live = self.live_call(call_id).await?;
        live.heard_now();
        let mut slot = live.record.lock().await;
        let Some(current) = slot.as_ref() else {
            return Err(EngineError::Overloaded("call is not decided yet".into()));
        };
        let campaign = self.campaign(current.campaign_id);
        // A repeated action after the call was settled changes nothing.
        if current.status.is_terminal() || current.attempts.is_empty() {
            return Ok(calls::decision_for(
                current,
                campaign.as_deref(),
                &self.settings(),
            ));
        }
        let last = current.attempts.len() - 1;
        let idx = result
            .attempt
            .map(usize::from)
            .or_else(|| {
                let sid = result.dial_call_sid.as_deref()?;
                current
                    .attempts
                    .iter()
                    .position(|a| a.dial_call_sid.as_deref() == Some(sid))
            })
            .unwrap_or(last);
        if idx != last {
            // The action of an earlier attempt, delivered again: it was applied already.
            metrics::STALE_CALLBACKS.inc();
            return Ok(calls::decision_for(
                current,
                campaign.as_deref(),
                &self.settings(),
            ));
        }
        let mut record = current.clone();
        let now = Utc::now();
        if record.attempts[idx].dial_call_sid.is_none() {
            record.attempts[idx].dial_call_sid = result.dial_call_sid.clone();
        }
        let mut releases = Vec::new();
        let mut reserved = None;
        let asked = Instant::now();
        match result.status {
            AttemptOutcome::Completed | AttemptOutcome::Answered => {
                let talk = result
                    .duration_seconds
                    .unwrap_or(record.attempts[idx].duration_seconds);
                let buyer = self.buyer(record.attempts[idx].buyer_id);
                releases.extend(calls::finish_answered(
                    &mut record,
                    idx,
                    talk,
                    now,
                    buyer.as_deref(),
                ));
            }
            outcome => {
                // Anything else means the buyer never took the call.
                let outcome = if outcome.is_unanswered() {
                    outcome
                } else {
                    AttemptOutcome::Failed
                };
                releases.extend(calls::finish_unanswered(&mut record, idx, outcome, now));
                let max = campaign.as_ref().map_or(0, |c| c.max_fallthrough);
                let mut next = Err(RejectReason::NoBuyerAvailable);
                if (record.attempts.len() as u32) <= max {
                    let tried: Vec<Id> = record.attempts.iter().map(|a| a.buyer_id).collect();
                    let caller = Arc::new(CallerInfo {
                        from: record.from.clone(),
                        state: record.caller_state.clone(),
                        zip: record.caller_zip.clone(),
                        tags: record.tags.clone(),
                    });
                    let attempt = record.attempts.len() as u16;
                    // An RTB call goes to the next-best unexpired bid first, then to the campaign's buyers.
                    if let Some((_, (at, mut bids))) = self.inner.rtb_pending.remove(&record.id)
                        && let Some((bid, number)) = self
                            .reserve_bid(&mut bids, (record.id, attempt), &caller, now)
                            .await
                    {
                        if !bids.is_empty() {
                            self.inner.rtb_pending.insert(record.id, (at, bids));
                        }
                        next = Ok(Pick::Bid(bid, number));
                    } else {
                        let routed = self
                            .route(record.campaign_id, record.id, attempt, caller, tried, now)
                            .await?;
                        record.skipped.extend(routed.skipped);
                        next = routed.buyer.map(Pick::Buyer);
                    }
                }
                match next {
                    Ok(pick) => {
                        metrics::FALLTHROUGHS.inc();
                        pick.push(&mut record, now);
                        reserved = Some(Release {
                            buyer_id: pick.id(),
                            key: (record.id, idx as u16 + 1),
                            answered: false,
                        });
                    }
                    Err(_) => {
                        record.status = CallStatus::NoAnswer;
                        record.ended_at = Some(now);
                        self.inner.rtb_pending.remove(&record.id);
                    }
                }
            }
        }
        let decision = calls::decision_for(&record, campaign.as_deref(), &self.settings());
        if let Err(e) = self.commit(&mut slot, record, releases).await {
            if let Some(r) = reserved {
                self.release(r).await;
            }
            return Err(e);
        }
        if reserved.is_some() && self.recorded_late(asked) {
            return Ok(self.withdraw(&mut slot, idx + 1, campaign.as_deref()).await);
        }
        Ok(decision)
    }

    /// Whether a reservation asked for at `asked` was recorded too late to
    /// count: in a cluster, the buyer's next owner may have rebuilt its
    /// counters without it (docs/cluster.md, the settle budget).
    fn recorded_late(&self, asked: Instant) -> bool {
        self.record_budget()
            .is_some_and(|budget| asked.elapsed() > budget)
    }

    /// Withdraws attempt `idx` of the call in `slot` (recorded too late):
    /// released, not dialed, the call ended. Answers the decision for the
    /// withdrawn call even if writing it fails: the stored attempt then
    /// stays open until it expires, which never breaks a cap.
    async fn withdraw(
        &self,
        slot: &mut Option<CallRecord>,
        idx: usize,
        campaign: Option<&Campaign>,
    ) -> Decision {
        let Some(mut record) = slot.clone() else {
            return Decision::Hangup;
        };
        tracing::warn!(call = %record.id, attempt = idx, "a routed attempt was recorded too late for the cluster's settle wait; not dialing it");
        metrics::CALLS_REJECTED.inc_with(&[("reason", RejectReason::Overloaded.as_str())]);
        let now = Utc::now();
        let releases: Vec<Release> =
            calls::finish_unanswered(&mut record, idx, AttemptOutcome::Canceled, now)
                .into_iter()
                .collect();
        if idx == 0 {
            (record.status, record.reject_reason) =
                (CallStatus::Rejected, Some(RejectReason::Overloaded));
        } else {
            record.status = CallStatus::NoAnswer;
        }
        record.ended_at = Some(now);
        self.inner.rtb_pending.remove(&record.id);
        let decision = calls::decision_for(&record, campaign, &self.settings());
        if let Err(e) = self.commit(slot, record.clone(), releases.clone()).await {
            tracing::warn!(call = %record.id, error = %e, "could not record a withdrawn attempt; it stays open in the store until it expires");
            for r in releases {
                self.release(r).await;
            }
            *slot = Some(record);
        }
        decision
    }

    /// Applies a status callback; duplicates and stale events change nothing.
    pub async fn status_event(&self, event: StatusEvent) -> Result<()> {
        let live = match (event.call_id, &event.parent_call_sid) {
            (Some(id), _) => self.live_call(id).await?,
            (None, Some(parent)) => self.live_by_sid(parent).await?,
            (None, None) => self.live_by_sid(&event.call_sid).await?,
        };
        live.heard_now();
        let mut slot = live.record.lock().await;
        let Some(current) = slot.as_ref() else {
            return Err(EngineError::Overloaded("call is not decided yet".into()));
        };
        let mut record = current.clone();
        let now = event.timestamp.unwrap_or_else(Utc::now);
        let mut releases = Vec::new();

        if event.call_sid == record.call_sid {
            // The inbound leg: the caller is gone once it is terminal.
            if !event.status.is_terminal()
                || record.ended_at.is_some() && record.attempts.iter().all(|a| a.released)
            {
                return Ok(());
            }
            let buyers = |id: Id| self.buyer(id);
            releases = calls::end_call(&mut record, now, &buyers);
            return self.commit(&mut slot, record, releases).await;
        }

        let idx = event
            .attempt
            .map(usize::from)
            .or_else(|| {
                record
                    .attempts
                    .iter()
                    .position(|a| a.dial_call_sid.as_deref() == Some(event.call_sid.as_str()))
            })
            .or_else(|| record.attempts.len().checked_sub(1));
        let Some(idx) = idx.filter(|i| *i < record.attempts.len()) else {
            return Err(EngineError::UnknownCall(format!(
                "{} attempt {:?}",
                record.id, event.attempt
            )));
        };
        let a = &record.attempts[idx];
        let stale = a.outcome.is_terminal()
            || matches!((event.sequence, a.last_sequence), (Some(seq), Some(last)) if seq <= last);
        if stale {
            metrics::STALE_CALLBACKS.inc();
            return Ok(());
        }
        let a = &mut record.attempts[idx];
        if let Some(seq) = event.sequence {
            a.last_sequence = Some(seq);
        }
        if a.dial_call_sid.is_none() {
            a.dial_call_sid = Some(event.call_sid.clone());
        }
        match event.status {
            AttemptOutcome::Pending => {}
            AttemptOutcome::Answered => calls::answer(&mut record, idx, now),
            AttemptOutcome::Completed => {
                let buyer = self.buyer(record.attempts[idx].buyer_id);
                let talk = event.duration_seconds.unwrap_or(0);
                releases.extend(calls::finish_answered(
                    &mut record,
                    idx,
                    talk,
                    now,
                    buyer.as_deref(),
                ));
            }
            outcome => releases.extend(calls::finish_unanswered(&mut record, idx, outcome, now)),
        }
        self.commit(&mut slot, record, releases).await
    }

    async fn live_by_sid(&self, sid: &str) -> Result<Arc<LiveCall>> {
        if let Some(live) = self.inner.live.by_sid(sid) {
            return Ok(live);
        }
        match self.inner.store.get_call_by_sid(sid).await? {
            Some(record) => Ok(self.inner.live.adopt(record)),
            None => Err(EngineError::UnknownCall(sid.to_owned())),
        }
    }

    /// Sets or revises an ended call's conversion, revenue and payout
    /// ([`payout::adjust`]), under the call's lock, durable before it
    /// returns; `true` when applied, `false` for a repeat of an adjustment
    /// with the same idempotency key. Another tenant's call is unknown; a
    /// call still going on is refused (its payout is booked when it ends).
    pub async fn adjust(
        &self,
        tenant: Id,
        call_id: Id,
        adjustment: Adjustment,
    ) -> Result<(CallRecord, bool)> {
        let live = self.live_call(call_id).await?;
        if live.tenant_id != tenant {
            return Err(EngineError::UnknownCall(call_id.to_string()));
        }
        let mut slot = live.record.lock().await;
        let Some(current) = slot.as_ref() else {
            return Err(EngineError::Overloaded("call is not decided yet".into()));
        };
        if !current.status.is_terminal() {
            return Err(EngineError::Reference(
                "the call has not ended yet: adjust it once it has".into(),
            ));
        }
        let mut record = current.clone();
        match payout::adjust(&mut record, adjustment) {
            payout::Adjusted::Repeated => Ok((record, false)),
            payout::Adjusted::KeyReused => Err(EngineError::Reference(
                "this Idempotency-Key was used for another adjustment of this call".into(),
            )),
            payout::Adjusted::Applied => {
                self.commit(&mut slot, record.clone(), Vec::new()).await?;
                Ok((record, true))
            }
        }
    }

    /// Stores a recording URL on a call.
    pub async fn recording(&self, call_id: Id, url: String) -> Result<()> {
        let live = self.live_call(call_id).await?;
        let mut slot = live.record.lock().await;
        let Some(current) = slot.as_ref() else {
            return Err(EngineError::Overloaded("call is not decided yet".into()));
        };
        if current.recording_url.as_deref() == Some(url.as_str()) {
            return Ok(());
        }
        let mut record = current.clone();
        record.recording_url = Some(url);
        self.commit(&mut slot, record, Vec::new()).await
    }
}
