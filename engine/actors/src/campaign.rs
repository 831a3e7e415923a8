//! One actor per campaign: owns its routing state (round-robin cursor,
//! duplicate-caller window) and turns a call into a buyer by asking buyer
//! actors, in policy order, to reserve capacity. It never touches disk.
//!
//! A [`CampaignMsg::Route`] orders the candidates and offers the attempt to
//! each in turn through [`CapacityGateway::reserve`]; whether a buyer takes
//! it is decided by that buyer's actor alone, in its
//! [`BuyerMsg::Reserve`](crate::buyer::BuyerMsg::Reserve) handler. The first
//! that reserves gets the call.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use switchboard_model::blocklist::is_anonymous;
use switchboard_model::prng::SplitMix64;
use switchboard_model::{
    Buyer, CallerInfo, Campaign, CampaignStatus, DuplicateAction, Id, PhoneNumber, Refusal,
    RejectReason, RoutingPolicy, Skipped,
};
use switchboard_routing::{
    Candidate, DuplicateWindow, next_cursor, order_priority, order_round_robin,
};
use switchboard_store::Store;

use crate::gateway::CapacityGateway;

/// How long a campaign waits for one buyer actor before moving on.
const RESERVE_TIMEOUT: Duration = Duration::from_millis(250);

/// One routing question: which buyer takes this attempt of this call?
pub(crate) struct RouteRequest {
    pub(crate) call_id: Id,
    pub(crate) attempt: u16,
    pub(crate) caller: Arc<CallerInfo>,
    /// Buyers already tried for this call (fall-through).
    pub(crate) exclude: Vec<Id>,
    pub(crate) now: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

/// The buyer that reserved capacity, or why nobody did; and the buyers
/// asked before it that did not take the call, with why.
#[derive(Debug)]
pub(crate) struct RouteOutcome {
    pub(crate) buyer: Result<Arc<Buyer>, RejectReason>,
    pub(crate) skipped: Vec<Skipped>,
    /// A repeat caller inside the duplicate window (first attempts only),
    /// whatever the campaign's duplicate action.
    pub(crate) duplicate: bool,
}

impl RouteOutcome {
    /// Nobody takes the call, for `reason`, and nobody was asked.
    pub(crate) fn rejected(reason: RejectReason) -> Self {
        Self {
            buyer: Err(reason),
            skipped: Vec::new(),
            duplicate: false,
        }
    }
}

/// Messages a campaign actor handles.
pub(crate) enum CampaignMsg {
    /// Route one attempt.
    Route(RouteRequest, RpcReplyPort<RouteOutcome>),
    /// New configuration, applied between messages.
    Update(Arc<Campaign>),
}

/// Start-up arguments.
pub(crate) struct CampaignArgs {
    pub(crate) campaign: Arc<Campaign>,
    pub(crate) store: Arc<dyn Store>,
    /// Reaches the buyer actors it asks (started on first need).
    pub(crate) capacity: CapacityGateway,
}

pub(crate) struct CampaignState {
    campaign: Arc<Campaign>,
    capacity: CapacityGateway,
    cursor: usize,
    duplicates: DuplicateWindow,
    rng: SplitMix64,
}

/// The campaign actor (stateless shell; the state is `CampaignState`).
pub(crate) struct CampaignActor;

impl Actor for CampaignActor {
    type Msg = CampaignMsg;
    type State = CampaignState;
    type Arguments = CampaignArgs;

    async fn pre_start(
        &self,
        _: ActorRef<CampaignMsg>,
        args: CampaignArgs,
    ) -> Result<CampaignState, ActorProcessingErr> {
        let mut duplicates = DuplicateWindow::new();
        let c = &args.campaign;
        if c.duplicate_window_hours > 0 {
            // Rebuild who-took-whom from the store, so a restart does not turn
            // a repeat caller into a new one.
            let now = Utc::now();
            let since = now - window(c);
            for call in args
                .store
                .calls_by_campaign(c.tenant_id, c.id, since, now + chrono::Duration::seconds(1))
                .await?
            {
                if let Some(buyer) = call.buyer_id {
                    duplicates.record(&call.from, buyer, call.started_at);
                }
            }
        }
        Ok(CampaignState {
            campaign: args.campaign,
            capacity: args.capacity,
            cursor: 0,
            duplicates,
            rng: SplitMix64::new(rand::random()),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<CampaignMsg>,
        msg: CampaignMsg,
        state: &mut CampaignState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CampaignMsg::Route(req, reply) => {
                let previous = repeat_of(state, &req);
                let mut outcome = route(state, req, previous).await;
                outcome.duplicate = previous.is_some();
                let _ = reply.send(outcome);
            }
            CampaignMsg::Update(campaign) => {
                if campaign.duplicate_window_hours == 0 {
                    state.duplicates = DuplicateWindow::new();
                }
                state.campaign = campaign;
            }
        }
        Ok(())
    }
}

fn window(c: &Campaign) -> chrono::Duration {
    chrono::Duration::hours(i64::from(c.duplicate_window_hours))
}

/// The buyer of the caller's previous call inside the duplicate window,
/// when this is a repeat. Only real numbers count (not the keypad
/// spellings carriers send for withheld ones: two anonymous callers are not
/// one), and only on the first attempt.
fn repeat_of(state: &mut CampaignState, req: &RouteRequest) -> Option<Id> {
    let campaign = &state.campaign;
    let from = &req.caller.from;
    let window_on = campaign.duplicate_window_hours > 0
        && req.attempt == 0
        && PhoneNumber::parse(from).is_ok()
        && !is_anonymous(from);
    if !window_on {
        return None;
    }
    let w = window(campaign);
    state.duplicates.prune(req.now, w);
    state.duplicates.lookup(&req.caller.from, req.now, w)
}

/// Routes one attempt; `previous` is [`repeat_of`] the caller.
async fn route(state: &mut CampaignState, req: RouteRequest, previous: Option<Id>) -> RouteOutcome {
    let campaign = state.campaign.clone();
    if campaign.status != CampaignStatus::Active {
        return RouteOutcome::rejected(RejectReason::CampaignInactive);
    }
    // The round-robin cursor indexes the full assignment list, so exclusions
    // on a fall-through do not shift anyone's turn.
    let all: Vec<Candidate> = campaign
        .buyers
        .iter()
        .map(|a| Candidate {
            buyer_id: a.buyer_id,
            priority: a.priority,
            weight: a.weight,
        })
        .collect();
    let mut order = match campaign.routing_policy {
        RoutingPolicy::Priority => {
            let open: Vec<Candidate> = all
                .iter()
                .filter(|c| !req.exclude.contains(&c.buyer_id))
                .copied()
                .collect();
            let rng = &mut state.rng;
            order_priority(&open, || rng.unit())
        }
        RoutingPolicy::RoundRobin => order_round_robin(&all, state.cursor),
    };
    order.retain(|id| !req.exclude.contains(id));

    if let Some(previous) = previous {
        match campaign.duplicate_action {
            DuplicateAction::Reject => {
                return RouteOutcome::rejected(RejectReason::DuplicateCaller);
            }
            DuplicateAction::SameBuyer => {
                if let Some(pos) = order.iter().position(|id| *id == previous) {
                    let id = order.remove(pos);
                    order.insert(0, id);
                }
            }
        }
    }

    let mut skipped = Vec::new();
    for buyer_id in order {
        let key = (req.call_id, req.attempt);
        let reserved = state
            .capacity
            .reserve(
                buyer_id,
                key,
                &req.caller,
                req.now,
                req.expires_at,
                RESERVE_TIMEOUT,
            )
            .await;
        if let Err(reason) = reserved {
            skipped.push(Skipped { buyer_id, reason });
            continue;
        }
        // The actor judged its profile; the call is dialed at the buyer's number.
        let Some(buyer) = state.capacity.registry.buyer(buyer_id) else {
            // Deleted since it reserved: let the slot go.
            state.capacity.release(buyer_id, key, false).await;
            skipped.push(Skipped {
                buyer_id,
                reason: Refusal::Unavailable,
            });
            continue;
        };
        if campaign.routing_policy == RoutingPolicy::RoundRobin {
            state.cursor = next_cursor(&all, buyer_id, state.cursor);
        }
        if campaign.duplicate_window_hours > 0 {
            state.duplicates.record(&req.caller.from, buyer_id, req.now);
        }
        return RouteOutcome {
            buyer: Ok(buyer),
            skipped,
            duplicate: false,
        };
    }
    RouteOutcome {
        buyer: Err(RejectReason::NoBuyerAvailable),
        skipped,
        duplicate: false,
    }
}
