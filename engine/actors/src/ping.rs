//! Inbound pings: a publisher asks what a caller is worth before sending the
//! call. The router's auction runs at once; the winner's capacity is
//! reserved for the bid's life, and the publisher is told the campaign's
//! tracking number to deliver the call to. A call to that number from the
//! same caller id before expiry goes to the reserved winner; a repeat ping
//! meanwhile gets the same bid; at expiry an unused reservation is given back.
//!
//! Held in memory only: a restart forgets open ping bids (their calls then
//! run an auction of their own).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use switchboard_model::{
    CallTags, CallerInfo, Campaign, CampaignStatus, Currency, Id, PhoneNumber, ResourceStatus,
    RoutingType,
};
use switchboard_rtb::ValidBid;

use crate::auction::{self, AuctionCall};
use crate::{Engine, Result};

/// How long a ping's bid holds when the bidder does not say.
const PING_EXPIRY: Duration = Duration::from_secs(60);

/// A ping's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ping {
    /// A bid: deliver the call to `phone_number` from the same caller id before expiry.
    Bid {
        /// The bid's id.
        bid_id: Id,
        /// Minor units of `currency`.
        amount: i64,
        /// The bid's currency.
        currency: Currency,
        /// Where to send the call: the RTB campaign's tracking number.
        phone_number: PhoneNumber,
        /// Seconds the bid holds from now.
        expire_in_seconds: u32,
    },
    /// No bid, with a reason code: `no-tracking-number`, `no-target`,
    /// `no-valid-bid`, `too-few-bids`, `router-inactive`, `blocked` (the
    /// caller is on the blocklist).
    NoBid(String),
}

/// An open ping bid, waiting for its call.
pub(crate) struct PingBid {
    bid_id: Id,
    bid: ValidBid,
    rest: VecDeque<ValidBid>,
    number: PhoneNumber,
    expires: Instant,
    /// The publisher whose key pinged: the call that takes the bid is its.
    publisher: Option<Id>,
    /// The ping's own values (`tags` it sent): the call that takes the bid
    /// carries them, so the target's filters see what they saw at the ping.
    sent: CallTags,
}

impl Engine {
    /// Runs `router`'s auction for a publisher's caller; the call that
    /// takes the bid is attributed to `publisher`. `Ok(None)`: the tenant
    /// has no such router.
    pub async fn rtb_ping(
        &self,
        tenant: Id,
        router: Id,
        caller: CallerInfo,
        publisher: Option<Id>,
    ) -> Result<Option<Ping>> {
        let Some(router) = self
            .inner
            .registry
            .routers
            .get(&router)
            .map(|r| r.clone())
            .filter(|r| r.tenant_id == tenant)
        else {
            return Ok(None);
        };
        let campaign = self
            .campaigns_through(tenant, router.id)
            .into_iter()
            .find_map(|c| {
                (c.status == CampaignStatus::Active && c.routing_type == RoutingType::Rtb)
                    .then(|| c.phone_number.clone().map(|n| (c.id, n, c.tags.clone())))
                    .flatten()
            });
        // Before any bid, open or new: a caller blocked since still gets none.
        let campaign_id = campaign.as_ref().map(|c| c.0);
        if self
            .blocked(tenant, campaign_id, &caller.from, Utc::now())
            .is_some()
        {
            return Ok(Some(Ping::NoBid("blocked".into())));
        }
        let key = (router.id, caller.from.clone());
        if let Some(open) = self
            .inner
            .pings
            .get(&key)
            .filter(|p| p.expires > Instant::now())
        {
            return Ok(Some(answer(&open)));
        }
        if router.status != ResourceStatus::Active {
            return Ok(Some(Ping::NoBid("router-inactive".into())));
        }
        let Some((campaign_id, number, tags)) = campaign else {
            return Ok(Some(Ping::NoBid("no-tracking-number".into())));
        };
        let now = Utc::now();
        let mut caller = caller;
        let sent = caller.tags.clone();
        caller.tags = switchboard_model::call::call_tags(&caller, None, &tags);
        // Its publisher, as the key says (the API refuses these names from a
        // ping), as the call that takes the bid will have it.
        if let Some(p) = publisher {
            self.tag_publisher(p, &mut caller.tags, &tags);
        }
        let caller = Arc::new(caller);
        let timeout = Duration::from_millis(router.bidding_timeout_ms.into())
            .min(self.inner.config.rtb_max_auction);
        let call = AuctionCall {
            tenant_id: tenant,
            call_id: None,
            campaign_id: Some(campaign_id),
            caller: caller.clone(),
            call_start: now,
        };
        let mut result = auction::run(
            &self.inner.capacity,
            &self.inner.bid_client,
            &router,
            timeout,
            call,
        )
        .await;
        let bid_id = result.request.id;
        let mut bids: VecDeque<ValidBid> = std::mem::take(&mut result.ranked).into();
        let winner = self
            .reserve_bid(&mut bids, (bid_id, 0), &caller, now)
            .await
            .map(|(bid, _)| bid);
        result.finish(winner.as_ref());
        let reason = result.request.status.clone();
        self.record_auction(result);
        let Some(bid) = winner else {
            return Ok(Some(Ping::NoBid(reason)));
        };
        let expires = bid
            .expires_at
            .unwrap_or(Instant::now() + PING_EXPIRY)
            .min(Instant::now() + PING_EXPIRY);
        let open = Arc::new(PingBid {
            bid_id,
            bid,
            rest: bids,
            number,
            expires,
            publisher,
            sent,
        });
        let ping = answer(&open);
        self.inner.pings.insert(key.clone(), open);
        // An unused bid gives its capacity back at expiry.
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep_until(expires.into()).await;
            let Some(inner) = weak.upgrade() else { return };
            if let Some((_, open)) = inner.pings.remove_if(&key, |_, p| p.bid_id == bid_id) {
                inner
                    .capacity
                    .release(open.bid.target_id, (bid_id, 0), false)
                    .await;
            }
        });
        Ok(Some(ping))
    }

    /// The open ping bid a call to RTB `campaign` from `caller` would take
    /// now: the publisher whose key pinged (if any), and the values the
    /// ping sent.
    pub(crate) fn open_ping(
        &self,
        campaign: &Campaign,
        caller: &str,
    ) -> Option<(Option<Id>, CallTags)> {
        let (router, number) = (campaign.rtb_router_id?, campaign.phone_number.as_ref()?);
        self.inner
            .pings
            .get(&(router, caller.to_owned()))
            .filter(|p| p.expires > Instant::now() && p.number == *number)
            .map(|p| (p.publisher, p.sent.clone()))
    }

    /// The open ping bid for a call to an RTB campaign from `caller`, moved
    /// onto the call: its reservation is re-keyed to `(call_id, 0)`. With
    /// it, the publisher whose key pinged.
    pub(crate) async fn take_ping(
        &self,
        router: Id,
        number: &PhoneNumber,
        caller: &Arc<CallerInfo>,
        call_id: Id,
    ) -> Option<((ValidBid, PhoneNumber), VecDeque<ValidBid>, Option<Id>)> {
        let (_, open) = self
            .inner
            .pings
            .remove_if(&(router, caller.from.clone()), |_, p| {
                p.expires > Instant::now() && p.number == *number
            })?;
        let open = Arc::try_unwrap(open).unwrap_or_else(|shared| PingBid {
            bid_id: shared.bid_id,
            bid: shared.bid.clone(),
            rest: shared.rest.clone(),
            number: shared.number.clone(),
            expires: shared.expires,
            publisher: shared.publisher,
            sent: shared.sent.clone(),
        });
        // Hand the slot over: release the ping's key, reserve the call's.
        self.inner
            .capacity
            .release(open.bid.target_id, (open.bid_id, 0), false)
            .await;
        let mut bids: VecDeque<ValidBid> = std::iter::once(open.bid).chain(open.rest).collect();
        let winner = self
            .reserve_bid(&mut bids, (call_id, 0), caller, Utc::now())
            .await?;
        Some((winner, bids, open.publisher))
    }
}

fn answer(open: &PingBid) -> Ping {
    Ping::Bid {
        bid_id: open.bid_id,
        amount: open.bid.amount,
        currency: open.bid.currency,
        phone_number: open.number.clone(),
        expire_in_seconds: u32::try_from(
            open.expires
                .saturating_duration_since(Instant::now())
                .as_secs(),
        )
        .unwrap_or(u32::MAX),
    }
}
