//! What an RTB auction records: one [`BidRequestRecord`] per auction and one
//! [`BidResponseRecord`] per target asked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Currency, Id};

/// One auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BidRequestRecord {
    /// The request id (sent to bidders as `{requestId}`); time-ordered.
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// The call auctioned; none for an inbound ping.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub call_id: Option<Id>,
    /// The campaign, if any.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub campaign_id: Option<Id>,
    /// The router whose targets were asked.
    #[schema(value_type = String, format = Uuid)]
    pub router_id: Id,
    /// The caller id.
    pub caller_id: String,
    /// Targets asked, in the router's order.
    #[schema(value_type = Vec<String>)]
    pub targets_asked: Vec<Id>,
    /// The winning target, if any.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub winner_target_id: Option<Id>,
    /// The winning bid, decimal.
    #[serde(default, with = "decimal_opt")]
    #[schema(value_type = Option<f64>)]
    pub winning_bid: Option<i64>,
    /// Currency of the winning bid.
    #[serde(default)]
    #[schema(value_type = String)]
    pub currency: Currency,
    /// `won`, `no-valid-bid`, `too-few-bids` or `no-target`.
    pub status: String,
    /// Valid bids received.
    pub valid_bids: u32,
    /// From the first request sent to the decision, milliseconds.
    pub total_ms: u32,
    /// When the auction started.
    pub created_at: DateTime<Utc>,
}

/// One target's answer in one auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BidResponseRecord {
    /// Row id, time-ordered.
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// The auction ([`BidRequestRecord::id`]).
    #[schema(value_type = String, format = Uuid)]
    pub request_id: Id,
    /// Owning tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// The call auctioned, if any.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub call_id: Option<Id>,
    /// The campaign, if any.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub campaign_id: Option<Id>,
    /// The target asked.
    #[schema(value_type = String, format = Uuid)]
    pub target_id: Id,
    /// `success`, `timeout`, `error`, `invalid`, `no-bid` or `rejected`.
    pub status: String,
    /// Whether this bid won the auction.
    pub won: bool,
    /// The bid, decimal, when it was valid.
    #[serde(default, with = "decimal_opt")]
    #[schema(value_type = Option<f64>)]
    pub amount: Option<i64>,
    /// Where the bidder wants the call.
    #[serde(default)]
    pub destination: Option<String>,
    /// How long the bidder took, milliseconds (the deadline for a timeout).
    pub response_ms: u32,
    /// Why it is not a valid bid.
    #[serde(default)]
    pub reason: Option<String>,
    /// The request sent, truncated.
    pub request_body: String,
    /// The answer, truncated.
    #[serde(default)]
    pub response_body: String,
    /// When the auction started.
    pub created_at: DateTime<Utc>,
}

/// Which bid rows a listing wants. Every field narrows; none is "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BidFilter {
    /// Only this campaign.
    pub campaign_id: Option<Id>,
    /// Only rows naming this target (asked, for requests).
    pub target_id: Option<Id>,
    /// Only this status.
    pub status: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
}

impl BidFilter {
    /// Whether a request row passes.
    pub fn request(&self, r: &BidRequestRecord) -> bool {
        self.campaign_id.is_none_or(|c| r.campaign_id == Some(c))
            && self.target_id.is_none_or(|t| r.targets_asked.contains(&t))
            && self.status.as_ref().is_none_or(|s| *s == r.status)
    }

    /// Whether a response row passes.
    pub fn response(&self, r: &BidResponseRecord) -> bool {
        self.campaign_id.is_none_or(|c| r.campaign_id == Some(c))
            && self.target_id.is_none_or(|t| r.target_id == t)
            && self.status.as_ref().is_none_or(|s| *s == r.status)
    }
}

/// Serde for an `Option<i64>` of minor units as a JSON decimal or null.
mod decimal_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(m) => crate::money::decimal::serialize(m, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "crate::money::decimal")] i64);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}
