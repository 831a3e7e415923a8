//! What the engine records: calls and their dial attempts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CallTags, Currency, Id, PhoneNumber};

/// What routing needs to know about the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallerInfo {
    /// `From` as Twilio sent it (not always a phone number).
    pub from: String,
    /// Two-letter state, when Twilio knows it.
    #[serde(default)]
    pub state: Option<String>,
    /// ZIP code, when Twilio knows it.
    #[serde(default)]
    pub zip: Option<String>,
    /// The call's tags (`callerCity`, `utmSource`, the campaign's fixed
    /// tags, …): what buyers' filters and `{tag:NAME}` read.
    #[serde(default, skip_serializing_if = "CallTags::is_empty")]
    pub tags: CallTags,
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CallStatus {
    /// Dialing a buyer.
    Ringing,
    /// A buyer answered; talking.
    InProgress,
    /// Ended after a buyer answered.
    Completed,
    /// No buyer answered and fall-through is exhausted.
    NoAnswer,
    /// Refused without dialing (see `rejectReason`).
    Rejected,
    /// Refused without routing: the caller is on the tenant's blocklist.
    Blocked,
}

impl CallStatus {
    /// Whether nothing more happens to the call.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            CallStatus::Completed
                | CallStatus::NoAnswer
                | CallStatus::Rejected
                | CallStatus::Blocked
        )
    }

    /// The wire name (`in-progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in-progress",
            CallStatus::Completed => "completed",
            CallStatus::NoAnswer => "no-answer",
            CallStatus::Rejected => "rejected",
            CallStatus::Blocked => "blocked",
        }
    }
}

/// Why a call was refused without dialing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// The campaign is paused, draft or completed.
    CampaignInactive,
    /// Every buyer is closed, capped, busy or excluded.
    NoBuyerAvailable,
    /// A repeat caller inside the duplicate window, and the campaign rejects them.
    DuplicateCaller,
    /// The engine could not decide in time.
    Overloaded,
    /// The call's publisher is at its concurrency, daily or monthly cap.
    PublisherCap,
    /// The call's publisher is paused.
    PublisherPaused,
}

impl RejectReason {
    /// Every reason, in a fixed order (the rollups' by-reason counts).
    pub const ALL: [RejectReason; 6] = [
        RejectReason::CampaignInactive,
        RejectReason::NoBuyerAvailable,
        RejectReason::DuplicateCaller,
        RejectReason::Overloaded,
        RejectReason::PublisherCap,
        RejectReason::PublisherPaused,
    ];

    /// Its place in [`Self::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// The wire name, also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::CampaignInactive => "campaign-inactive",
            RejectReason::NoBuyerAvailable => "no-buyer-available",
            RejectReason::DuplicateCaller => "duplicate-caller",
            RejectReason::Overloaded => "overloaded",
            RejectReason::PublisherCap => "publisher-cap",
            RejectReason::PublisherPaused => "publisher-paused",
        }
    }
}

/// Why a buyer (or RTB target) did not take a call: the buyer actor's
/// answer, or that no answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// The buyer is paused or inactive.
    Paused,
    /// Outside the buyer's hours of operation.
    Closed,
    /// The caller's location is excluded.
    Geo,
    /// One of the buyer's tag filters does not match the call.
    Filtered,
    /// The buyer has as many calls in progress as it takes at once.
    Concurrency,
    /// The local hour's cap is used up.
    #[serde(rename = "hourly-cap")]
    Hourly,
    /// The local day's cap is used up.
    #[serde(rename = "daily-cap")]
    Daily,
    /// The local month's cap is used up.
    #[serde(rename = "monthly-cap")]
    Monthly,
    /// The all-time cap is used up.
    #[serde(rename = "total-cap")]
    Total,
    /// The attempt was released before its reservation arrived (a caller
    /// that gave up on a slow answer): reserving it now would leak a slot.
    Withdrawn,
    /// No answer in time: the buyer's actor was busy, or the node that
    /// decides for it did not answer (a cluster).
    Unavailable,
}

impl Refusal {
    /// The wire name, also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Paused => "paused",
            Refusal::Closed => "closed",
            Refusal::Geo => "geo",
            Refusal::Filtered => "filtered",
            Refusal::Concurrency => "concurrency",
            Refusal::Hourly => "hourly-cap",
            Refusal::Daily => "daily-cap",
            Refusal::Monthly => "monthly-cap",
            Refusal::Total => "total-cap",
            Refusal::Withdrawn => "withdrawn",
            Refusal::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A buyer the call passed over without dialing, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// The buyer (or RTB target).
    #[schema(value_type = String, format = Uuid)]
    pub buyer_id: Id,
    /// Why it did not take the call.
    pub reason: Refusal,
}

/// How one dial attempt ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    /// Ringing; no answer yet.
    Pending,
    /// Answered, still talking.
    Answered,
    /// Answered and ended.
    Completed,
    /// The buyer's line was busy.
    Busy,
    /// Nobody answered before the timeout.
    NoAnswer,
    /// The dial failed (bad number, carrier error).
    Failed,
    /// Canceled before it was answered.
    Canceled,
    /// Its reservation outlived the maximum call length with no callback.
    Expired,
}

impl AttemptOutcome {
    /// Whether the buyer never took the call: its caps are refunded and the
    /// call may fall through to the next buyer.
    pub fn is_unanswered(self) -> bool {
        matches!(
            self,
            AttemptOutcome::Busy
                | AttemptOutcome::NoAnswer
                | AttemptOutcome::Failed
                | AttemptOutcome::Canceled
        )
    }

    /// Whether the attempt is over.
    pub fn is_terminal(self) -> bool {
        !matches!(self, AttemptOutcome::Pending | AttemptOutcome::Answered)
    }

    /// Maps Twilio's `CallStatus` / `DialCallStatus` words.
    pub fn from_twilio(status: &str) -> Option<Self> {
        Some(match status {
            "queued" | "initiated" | "ringing" => AttemptOutcome::Pending,
            "in-progress" | "answered" => AttemptOutcome::Answered,
            "completed" => AttemptOutcome::Completed,
            "busy" => AttemptOutcome::Busy,
            "no-answer" => AttemptOutcome::NoAnswer,
            "failed" => AttemptOutcome::Failed,
            "canceled" => AttemptOutcome::Canceled,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Pending => "pending",
            AttemptOutcome::Answered => "answered",
            AttemptOutcome::Completed => "completed",
            AttemptOutcome::Busy => "busy",
            AttemptOutcome::NoAnswer => "no-answer",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Canceled => "canceled",
            AttemptOutcome::Expired => "expired",
        }
    }
}

/// One buyer dialed for a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The buyer.
    #[schema(value_type = String, format = Uuid)]
    pub buyer_id: Id,
    /// The number dialed.
    #[schema(value_type = String)]
    pub number: PhoneNumber,
    /// When it was routed.
    pub started_at: DateTime<Utc>,
    /// When the buyer answered.
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// How it went.
    pub outcome: AttemptOutcome,
    /// Talk time in seconds.
    #[serde(default)]
    pub duration_seconds: u32,
    /// Twilio's sid of the dialed leg.
    #[serde(default)]
    pub dial_call_sid: Option<String>,
    /// Highest `SequenceNumber` applied from this leg's status callbacks.
    #[serde(default)]
    pub last_sequence: Option<u32>,
    /// Whether the buyer's reservation for this attempt was given back.
    #[serde(default)]
    pub released: bool,
    /// For an RTB winner (`buyerId` is then the RTB target): the bid, minor
    /// units, booked as the call's revenue when it converts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_minor: Option<i64>,
    /// For an RTB winner: the talk time the bidder pays for (none: any answered call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_duration_seconds: Option<u32>,
}

/// One inbound call, from webhook to final status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// Switchboard's id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Twilio's `CallSid` of the inbound call.
    pub call_sid: String,
    /// Owning tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// The campaign that answered the number.
    #[schema(value_type = String, format = Uuid)]
    pub campaign_id: Id,
    /// Caller (`From`).
    pub from: String,
    /// Tracking number dialed (`To`).
    #[schema(value_type = String)]
    pub to: PhoneNumber,
    /// Caller's state.
    #[serde(default)]
    pub caller_state: Option<String>,
    /// Caller's ZIP.
    #[serde(default)]
    pub caller_zip: Option<String>,
    /// Where it stands.
    pub status: CallStatus,
    /// Why it was refused, when it was.
    #[serde(default)]
    pub reject_reason: Option<RejectReason>,
    /// The buyer that has (or last had) the call.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub buyer_id: Option<Id>,
    /// Every buyer dialed, in order.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Buyers passed over without dialing, each with why, in the order
    /// they were asked (`attempts` are the buyers actually dialed).
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// The call's tags: the caller's location, the DNI visit's traffic and
    /// the campaign's fixed tags, as buyers' filters saw them.
    #[serde(default)]
    pub tags: CallTags,
    /// When the webhook arrived.
    pub started_at: DateTime<Utc>,
    /// When a buyer answered.
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Talk time with the buyer, seconds.
    #[serde(default)]
    pub duration_seconds: u32,
    /// Talk time reached the buyer's conversion threshold.
    #[serde(default)]
    pub converted: bool,
    /// Revenue booked on conversion, minor units.
    #[serde(default)]
    pub revenue_minor: i64,
    /// What the call pays its publisher, minor units of `currency`: booked
    /// once, when the call ends, by the campaign's payout rules.
    #[serde(default)]
    pub payout_minor: i64,
    /// Revenue minus payout, minor units of `currency`.
    #[serde(default)]
    pub profit_minor: i64,
    /// Currency of the revenue, payout and profit.
    #[serde(default)]
    #[schema(value_type = String)]
    pub currency: Currency,
    /// Recording, when the campaign records.
    #[serde(default)]
    pub recording_url: Option<String>,
    /// The number pool the dialed number belongs to (DNI).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub pool_id: Option<Id>,
    /// The web visit the call is attributed to (DNI), when one held the
    /// dialed number at the call's start or shortly before.
    #[serde(default)]
    pub attribution: Option<Attribution>,
    /// The publisher the call is attributed to
    /// ([`crate::publisher::attribute`]), fixed when it starts.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub publisher_id: Option<Id>,
    /// A repeat caller inside the campaign's duplicate window, whatever
    /// the campaign does with them (records from before the field: false).
    #[serde(default)]
    pub duplicate: bool,
    /// Changes made after the call (a sale confirmed, a return), oldest first.
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
    /// Seeded by `serve --demo` as past history: reported like any call,
    /// never postbacked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

/// A change of an ended call's conversion, revenue or payout, made after
/// it (Ringba's and TrackDrive's conversion API). The fields it sets are the
/// call's from then on; its profit follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Adjustment {
    /// Its id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// Who made it: `user:<name>` or `api-key:<name>`.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The conversion it set, if it set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted: Option<bool>,
    /// The revenue it set, minor units of the call's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_minor: Option<i64>,
    /// The payout it set, minor units of the call's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_minor: Option<i64>,
    /// The `Idempotency-Key` it was sent with: a repeat with the key changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl Adjustment {
    /// Whether `other` asks for the same change (a retried request).
    pub fn same_change(&self, other: &Adjustment) -> bool {
        (
            self.converted,
            self.revenue_minor,
            self.payout_minor,
            &self.reason,
        ) == (
            other.converted,
            other.revenue_minor,
            other.payout_minor,
            &other.reason,
        )
    }
}

impl CallRecord {
    /// Dial attempts after the first: how often the call fell through.
    pub fn fallthroughs(&self) -> u32 {
        self.attempts.len().saturating_sub(1) as u32
    }
}

/// Where a web visit came from: the landing page's UTM parameters and click
/// ids, the referrer, and the traffic source inferred from them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    /// `utm_source`, else inferred from the referrer (`google`, `bing`,
    /// `facebook`, the referring host) or `direct`.
    #[serde(default)]
    pub source: Option<String>,
    /// `utm_medium` (`cpc` when inferred from a click id).
    #[serde(default)]
    pub medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default)]
    pub campaign: Option<String>,
    /// `utm_term`.
    #[serde(default)]
    pub term: Option<String>,
    /// `utm_content`.
    #[serde(default)]
    pub content: Option<String>,
    /// Google Ads click id.
    #[serde(default)]
    pub gclid: Option<String>,
    /// Facebook click id.
    #[serde(default)]
    pub fbclid: Option<String>,
    /// Microsoft Ads click id.
    #[serde(default)]
    pub msclkid: Option<String>,
    /// The page the visitor came from.
    #[serde(default)]
    pub referrer: Option<String>,
    /// The first page of the visit.
    #[serde(default)]
    pub landing_page: Option<String>,
}

impl Traffic {
    /// Adds the visit's fields to a call's tags, under their tag names
    /// (`utmSource`, `gclid`, `landingPage`, …); absent fields add nothing.
    pub fn tag(&self, tags: &mut CallTags) {
        let fields = [
            ("utmSource", &self.source),
            ("utmMedium", &self.medium),
            ("utmCampaign", &self.campaign),
            ("utmTerm", &self.term),
            ("utmContent", &self.content),
            ("gclid", &self.gclid),
            ("fbclid", &self.fbclid),
            ("msclkid", &self.msclkid),
            ("referrer", &self.referrer),
            ("landingPage", &self.landing_page),
        ];
        for (name, value) in fields {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                tags.insert(name.to_owned(), v.to_owned());
            }
        }
    }
}

/// A call's tags, in the order later sources win: what the carrier or the
/// publisher's ping said of the caller (`callerCity`, custom ping values;
/// `callerState` and `callerZip` from its location), then the DNI visit's
/// traffic, then the campaign's fixed tags (the manager's own, so nothing a
/// caller sends overrides them).
pub fn call_tags(
    caller: &CallerInfo,
    traffic: Option<&Traffic>,
    campaign: &std::collections::BTreeMap<String, String>,
) -> CallTags {
    let mut tags = caller.tags.clone();
    for (name, value) in [("callerState", &caller.state), ("callerZip", &caller.zip)] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            tags.insert(name.to_owned(), v.to_owned());
        }
    }
    if let Some(t) = traffic {
        t.tag(&mut tags);
    }
    tags.extend(campaign.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// The web visit a call is attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attribution {
    /// The visitor session that held the number.
    pub session_id: String,
    /// The tracking tag the visit was tracked with.
    #[schema(value_type = String, format = Uuid)]
    pub tag_id: Id,
    /// Where the visit came from.
    #[serde(flatten)]
    pub traffic: Traffic,
}

/// One web visit tracked by DNI: stored once per visit, updated while the
/// page keeps its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitorSession {
    /// The session id the page keeps in first-party storage.
    pub session_id: String,
    /// Owning tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// The tracking tag.
    #[schema(value_type = String, format = Uuid)]
    pub tag_id: Id,
    /// The tag's code.
    pub tag_code: String,
    /// The pool the number was leased from.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub pool_id: Option<Id>,
    /// The number shown: a leased pool number, or the fallback number when
    /// the pool was exhausted (then `exhausted` is true).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<PhoneNumber>,
    /// Whether the pool had no free number for this visit.
    #[serde(default)]
    pub exhausted: bool,
    /// Where the visit came from.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// The browser's user agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// When the visit started.
    pub started_at: DateTime<Utc>,
    /// The visit's latest track request.
    pub last_seen_at: DateTime<Utc>,
}

impl VisitorSession {
    /// The attribution a call to this visit's number carries.
    pub fn attribution(&self) -> Attribution {
        Attribution {
            session_id: self.session_id.clone(),
            tag_id: self.tag_id,
            traffic: self.traffic.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_win_and_blank_values_are_left_out() {
        let caller = CallerInfo {
            from: "+15551230000".into(),
            state: Some("CA".into()),
            zip: Some(" ".into()),
            tags: [
                ("callerCity".to_owned(), "Fresno".to_owned()),
                ("vertical".to_owned(), "from-the-ping".to_owned()),
                ("utmSource".to_owned(), "from-the-ping".to_owned()),
            ]
            .into(),
        };
        let traffic = Traffic {
            source: Some("google".into()),
            gclid: Some("G1".into()),
            medium: Some(String::new()),
            ..Traffic::default()
        };
        let campaign = [("vertical".to_owned(), "solar".to_owned())].into();
        let tags = call_tags(&caller, Some(&traffic), &campaign);
        let want: CallTags = [
            ("callerCity", "Fresno"),
            ("callerState", "CA"),
            ("gclid", "G1"),
            ("utmSource", "google"),
            ("vertical", "solar"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(tags, want);
    }
}
