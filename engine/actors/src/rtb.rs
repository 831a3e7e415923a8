//! Real-time bidding: an RTB campaign's call runs its router's auction
//! (`auction`) and reserves capacity on the best bid's target, through the
//! target's own buyer actor, like a buyer's; the bids after the winner wait
//! for a fall-through. Also the RTB targets and routers the auctions use.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchboard_model::{
    CallerInfo, Campaign, Id, PhoneNumber, ResourceStatus, RtbRouter, RtbTarget,
};
use switchboard_rtb::ValidBid;

use crate::Engine;
use crate::auction::{self, AuctionCall, Bidder};
use crate::buyer::BuyerMsg;
use crate::error::Result;
use crate::lifecycle::{Pick, Routed};

impl Engine {
    /// Routes the first attempt of a call to an RTB campaign: runs its
    /// router's auction and reserves the best bid it can; with no valid bid,
    /// the campaign's buyers (none: a polite hang-up). A call that takes a
    /// ping's bid sets `pinged_by` to the publisher whose key pinged, if any.
    pub(crate) async fn rtb_route(
        &self,
        campaign: &Campaign,
        call_id: Id,
        caller: Arc<CallerInfo>,
        now: DateTime<Utc>,
        pinged_by: &mut Option<Id>,
    ) -> Result<Routed> {
        let router = campaign
            .rtb_router_id
            .and_then(|r| self.inner.registry.routers.get(&r).map(|r| r.clone()))
            .filter(|r| r.tenant_id == campaign.tenant_id && r.status == ResourceStatus::Active);
        if let Some(router) = &router
            && let Some(number) = &campaign.phone_number
            && let Some(((bid, dial), rest, publisher)) =
                self.take_ping(router.id, number, &caller, call_id).await
        {
            *pinged_by = publisher;
            // A publisher pinged for this caller: the call goes to the bid it was promised.
            if !rest.is_empty() {
                self.inner
                    .rtb_pending
                    .insert(call_id, (Instant::now(), rest));
            }
            return Ok(Routed {
                pick: Ok(Pick::Bid(bid, dial)),
                skipped: Vec::new(),
                duplicate: false,
            });
        }
        if let Some(router) = router {
            let timeout = Duration::from_millis(router.bidding_timeout_ms.into())
                .min(self.inner.config.rtb_max_auction);
            let call = AuctionCall {
                tenant_id: campaign.tenant_id,
                call_id: Some(call_id),
                campaign_id: Some(campaign.id),
                caller: caller.clone(),
                call_start: now,
            };
            let mut auction = auction::run(
                &self.inner.capacity,
                &self.inner.bid_client,
                &router,
                timeout,
                call,
            )
            .await;
            let mut bids: VecDeque<ValidBid> = std::mem::take(&mut auction.ranked).into();
            let winner = self
                .reserve_bid(&mut bids, (call_id, 0), &caller, now)
                .await;
            auction.finish(winner.as_ref().map(|w| &w.0));
            self.record_auction(auction);
            if let Some((bid, number)) = winner {
                if !bids.is_empty() {
                    self.inner
                        .rtb_pending
                        .insert(call_id, (Instant::now(), bids));
                }
                return Ok(Routed {
                    pick: Ok(Pick::Bid(bid, number)),
                    skipped: Vec::new(),
                    duplicate: false,
                });
            }
        }
        Ok(self
            .route(campaign.id, call_id, 0, caller, Vec::new(), now)
            .await?
            .into())
    }

    /// Takes bids best first until one's target reserves capacity for `key`.
    /// Expired bids and SIP destinations (the dial path speaks E.164 only) are passed over.
    pub(crate) async fn reserve_bid(
        &self,
        bids: &mut VecDeque<ValidBid>,
        key: (Id, u16),
        caller: &Arc<CallerInfo>,
        now: DateTime<Utc>,
    ) -> Option<(ValidBid, PhoneNumber)> {
        while let Some(bid) = bids.pop_front() {
            let switchboard_rtb::Destination::Phone(number) = bid.destination.clone() else {
                continue;
            };
            if bid.is_expired(Instant::now()) {
                continue;
            }
            let expires_at = now + self.inner.config.max_hold();
            if self
                .inner
                .capacity
                .reserve(
                    bid.target_id,
                    key,
                    caller,
                    now,
                    expires_at,
                    Duration::from_millis(250),
                )
                .await
                .is_ok()
            {
                return Some((bid, number));
            }
        }
        None
    }

    /// Writes an auction's rows off the call path: the decision does not
    /// wait for them. They are group-committed with the other auctions
    /// waiting (one transaction and fsync a batch, not one an auction).
    pub(crate) fn record_auction(&self, auction: auction::Auction) {
        tracing::debug!(request = %auction.request.id, status = %auction.request.status, overhead = ?auction.overhead, "rtb auction decided");
        let auctions = self.inner.auctions.clone();
        tokio::spawn(async move {
            let id = auction.request.id;
            if let Err(e) = auctions.record((auction.request, auction.responses)).await {
                tracing::warn!(error = %e, request = %id, "could not record an rtb auction");
            }
        });
    }

    /// Makes a stored RTB target the one auctions ask (as stored: no version check).
    pub(crate) async fn apply_rtb_target(&self, target: RtbTarget) -> Result<()> {
        let target = Arc::new(target);
        let bidder = Arc::new(Bidder::new(target.clone(), self.inner.config.rtb_breaker));
        let capacity = bidder.capacity.clone();
        self.inner.registry.bidders.insert(target.id, bidder);
        // Its capacity actor starts on first need, like a buyer's, from the bidder's profile.
        let _held = self.inner.registry.lock(target.id).await;
        if let Some(actor) = self
            .inner
            .registry
            .buyers
            .get(&target.id)
            .map(|a| a.clone())
        {
            let _ = actor.cast(BuyerMsg::Update(capacity));
        }
        Ok(())
    }

    /// A deleted RTB target: no longer asked; its capacity actor stops.
    pub(crate) fn forget_rtb_target(&self, id: Id) {
        self.inner.registry.bidders.remove(&id);
        if let Some((_, actor)) = self.inner.registry.buyers.remove(&id) {
            self.inner.registry.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// Whether bid requests may reach loopback, private, link-local and
    /// metadata addresses (`--rtb-allow-private-targets`).
    pub fn rtb_allow_private_targets(&self) -> bool {
        self.inner.config.rtb_allow_private_targets
    }

    /// An RTB router's configuration as the engine knows it.
    pub fn rtb_router(&self, id: Id) -> Option<Arc<RtbRouter>> {
        self.inner.registry.routers.get(&id).map(|r| r.clone())
    }

    /// An RTB target's circuit breaker: `closed`, `open` or `half-open`.
    pub fn rtb_breaker_state(&self, target: Id) -> Option<&'static str> {
        self.inner
            .registry
            .bidders
            .get(&target)
            .map(|b| b.breaker_state())
    }
}
