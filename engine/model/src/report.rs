//! Reporting: what one call adds to the rollups, and the events a new
//! record of it marks.
//!
//! Pure. The store's projector and the recount behind `reports verify` both
//! read a stored record through [`CallView`] and call [`Figures::of`] and
//! [`rows`], so the rollups and the recount cannot differ in method, only
//! in what they were given.
//!
//! A rollup row is keyed by (tenant, bucket width, filter, group, bucket
//! start, group key, currency). A call counts once per (filter, group) pair
//! it has values for: `filter` is what a query may pin (nothing, or one
//! campaign, buyer, publisher or source) and `group` what it groups by. So
//! every query of the report API reads rows, never calls.

pub mod activity;

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::call::{AttemptOutcome, CallStatus, RejectReason};
use crate::event::EventKind;
use crate::{Currency, Id};

/// A report bucket's width. Hour buckets serve every zone whose offset is a
/// whole number of hours; quarter-hours serve the rest (India, Nepal,
/// Newfoundland, Chatham…), since every offset in use is a multiple of 15
/// minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Width {
    /// 15 minutes.
    Quarter,
    /// 60 minutes.
    Hour,
}

impl Width {
    /// Both widths, as every call is counted in each.
    pub const ALL: [Width; 2] = [Width::Quarter, Width::Hour];

    /// Seconds a bucket spans.
    pub fn seconds(self) -> i64 {
        match self {
            Width::Quarter => 900,
            Width::Hour => 3_600,
        }
    }

    /// A stable code, for keys.
    pub fn code(self) -> u8 {
        match self {
            Width::Quarter => 1,
            Width::Hour => 2,
        }
    }

    /// The start (Unix seconds) of the bucket holding `t`.
    pub fn bucket(self, t: DateTime<Utc>) -> i64 {
        t.timestamp().div_euclid(self.seconds()) * self.seconds()
    }
}

/// What a call is grouped or filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// Every call of the tenant (key `""`): totals and time series.
    All,
    /// The campaign.
    Campaign,
    /// The buyer that took the call (the last one dialed); for an RTB
    /// winner, its target.
    Buyer,
    /// The publisher the call is attributed to.
    Publisher,
    /// The tracking number dialed.
    Number,
    /// The DNI pool of the number dialed.
    Pool,
    /// The visit's `utmSource`.
    UtmSource,
    /// The visit's `utmMedium`.
    UtmMedium,
    /// The visit's `utmCampaign`.
    UtmCampaign,
    /// The visit's landing page.
    LandingPage,
    /// The caller's state.
    CallerState,
    /// The RTB target that won the call's auction.
    RtbTarget,
    /// The RTB router of an auction (RTB reports only: calls have none).
    RtbRouter,
}

impl Dimension {
    /// Every dimension a call is grouped by.
    pub const GROUPS: [Dimension; 12] = [
        Dimension::All,
        Dimension::Campaign,
        Dimension::Buyer,
        Dimension::Publisher,
        Dimension::Number,
        Dimension::Pool,
        Dimension::UtmSource,
        Dimension::UtmMedium,
        Dimension::UtmCampaign,
        Dimension::LandingPage,
        Dimension::CallerState,
        Dimension::RtbTarget,
    ];

    /// Every dimension a query may filter by (`All`: no filter).
    pub const FILTERS: [Dimension; 5] = [
        Dimension::All,
        Dimension::Campaign,
        Dimension::Buyer,
        Dimension::Publisher,
        Dimension::UtmSource,
    ];

    /// A stable code, for keys.
    pub fn code(self) -> u8 {
        match self {
            Dimension::All => 0,
            Dimension::Campaign => 1,
            Dimension::Buyer => 2,
            Dimension::Publisher => 3,
            Dimension::Number => 4,
            Dimension::Pool => 5,
            Dimension::UtmSource => 6,
            Dimension::UtmMedium => 7,
            Dimension::UtmCampaign => 8,
            Dimension::LandingPage => 9,
            Dimension::CallerState => 10,
            Dimension::RtbTarget => 11,
            Dimension::RtbRouter => 12,
        }
    }

    /// The dimension of a code.
    pub fn of_code(code: u8) -> Option<Self> {
        Self::GROUPS
            .into_iter()
            .chain([Dimension::RtbRouter])
            .find(|d| d.code() == code)
    }

    /// The API's name (`groupBy=utmSource`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Campaign => "campaign",
            Dimension::Buyer => "buyer",
            Dimension::Publisher => "publisher",
            Dimension::Number => "number",
            Dimension::Pool => "pool",
            Dimension::UtmSource => "utmSource",
            Dimension::UtmMedium => "utmMedium",
            Dimension::UtmCampaign => "utmCampaign",
            Dimension::LandingPage => "landingPage",
            Dimension::CallerState => "callerState",
            Dimension::RtbTarget => "rtbTarget",
            Dimension::RtbRouter => "rtbRouter",
        }
    }
}

impl FromStr for Dimension {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::GROUPS.into_iter().find(|d| d.as_str() == s).ok_or(())
    }
}

/// The parts of a stored call record that indexes, rollups and events read.
/// Serde skips the rest of the record, which keeps the projector's decode
/// cheap.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    /// The call.
    pub id: Id,
    /// Twilio's `CallSid`.
    pub call_sid: String,
    /// Owning tenant.
    pub tenant_id: Id,
    /// Its campaign.
    pub campaign_id: Id,
    /// The number dialed.
    pub to: String,
    /// The caller's state.
    #[serde(default)]
    pub caller_state: Option<String>,
    /// Where it stands.
    pub status: CallStatus,
    /// Why it was refused.
    #[serde(default)]
    pub reject_reason: Option<RejectReason>,
    /// The buyer that has (or last had) it.
    #[serde(default)]
    pub buyer_id: Option<Id>,
    /// The buyers dialed.
    #[serde(default)]
    pub attempts: Vec<AttemptView>,
    /// The traffic tags reports group by.
    #[serde(default)]
    pub tags: TrafficTags,
    /// When the webhook arrived.
    pub started_at: DateTime<Utc>,
    /// When a buyer answered.
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    /// Talk time, seconds.
    #[serde(default)]
    pub duration_seconds: u32,
    /// Converted.
    #[serde(default)]
    pub converted: bool,
    /// Revenue, minor units.
    #[serde(default)]
    pub revenue_minor: i64,
    /// Payout, minor units.
    #[serde(default)]
    pub payout_minor: i64,
    /// Profit, minor units.
    #[serde(default)]
    pub profit_minor: i64,
    /// The currency of the money.
    #[serde(default)]
    pub currency: Currency,
    /// Whether a recording exists.
    #[serde(default)]
    pub recording_url: Option<serde::de::IgnoredAny>,
    /// The number's pool.
    #[serde(default)]
    pub pool_id: Option<Id>,
    /// The publisher.
    #[serde(default)]
    pub publisher_id: Option<Id>,
    /// A repeat caller.
    #[serde(default)]
    pub duplicate: bool,
    /// Seeded by the demo: reported, never postbacked.
    #[serde(default)]
    pub demo: bool,
}

/// The parts of an attempt the views read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// The buyer (or RTB target) dialed.
    pub buyer_id: Id,
    /// When it was routed.
    pub started_at: DateTime<Utc>,
    /// When the buyer answered.
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    /// How it went.
    pub outcome: AttemptOutcome,
    /// Whether its reservation was given back.
    #[serde(default)]
    pub released: bool,
    /// An RTB winner's bid.
    #[serde(default)]
    pub bid_minor: Option<i64>,
}

/// The call tags reports group by (the rest of the tags are skipped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTags {
    /// `utmSource`.
    #[serde(default)]
    pub utm_source: Option<String>,
    /// `utmMedium`.
    #[serde(default)]
    pub utm_medium: Option<String>,
    /// `utmCampaign`.
    #[serde(default)]
    pub utm_campaign: Option<String>,
    /// `landingPage`.
    #[serde(default)]
    pub landing_page: Option<String>,
}

impl CallView {
    /// Reads the view of a stored record's JSON.
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The attempt that connected, with its position.
    fn connected(&self) -> Option<(usize, &AttemptView)> {
        self.attempts
            .iter()
            .enumerate()
            .rev()
            .find(|(_, a)| a.answered_at.is_some())
    }

    /// Its key under a dimension (`None`: the call has no value there).
    pub fn key(&self, dimension: Dimension) -> Option<String> {
        let text = |v: &Option<String>| v.as_ref().filter(|s| !s.is_empty()).cloned();
        match dimension {
            Dimension::All => Some(String::new()),
            Dimension::Campaign => Some(self.campaign_id.to_string()),
            Dimension::Buyer => self.buyer_id.map(|b| b.to_string()),
            Dimension::Publisher => self.publisher_id.map(|p| p.to_string()),
            Dimension::Number => Some(self.to.clone()),
            Dimension::Pool => self.pool_id.map(|p| p.to_string()),
            Dimension::UtmSource => text(&self.tags.utm_source),
            Dimension::UtmMedium => text(&self.tags.utm_medium),
            Dimension::UtmCampaign => text(&self.tags.utm_campaign),
            Dimension::LandingPage => text(&self.tags.landing_page),
            Dimension::CallerState => text(&self.caller_state),
            Dimension::RtbRouter => None,
            Dimension::RtbTarget => self
                .attempts
                .iter()
                .rev()
                .find(|a| a.bid_minor.is_some())
                .map(|a| a.buyer_id.to_string()),
        }
    }
}

/// The figures a rollup row adds up. Every field is a sum over calls, so
/// rows add exactly; averages and rates are derived at query time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Calls.
    pub incoming: i64,
    /// Calls not ended yet.
    pub live: i64,
    /// Calls a buyer answered.
    pub connected: i64,
    /// Calls ended after an answer.
    pub completed: i64,
    /// Converted calls.
    pub converted: i64,
    /// Calls refused without a buyer (blocked calls are not among them).
    pub rejected: i64,
    /// Dialed calls that ended with no answer on any attempt.
    pub no_connect: i64,
    /// Repeat callers.
    pub duplicate: i64,
    /// Blocked callers.
    pub blocked: i64,
    /// Calls connected on an attempt after the first.
    pub fallback: i64,
    /// Talk time, seconds.
    pub duration_seconds: i64,
    /// From the first dial to the answer, milliseconds, over connected calls.
    pub answer_millis: i64,
    /// Revenue, minor units.
    pub revenue_minor: i64,
    /// Payout, minor units.
    pub payout_minor: i64,
    /// Profit, minor units.
    pub profit_minor: i64,
    /// Rejected calls by reason, in [`RejectReason::ALL`] order.
    pub rejected_by: [i64; RejectReason::ALL.len()],
}

/// How many i64 a [`Figures`] encodes to.
const FIELDS: usize = 15 + RejectReason::ALL.len();

impl Figures {
    /// What one call (as stored) adds.
    pub fn of(call: &CallView) -> Self {
        let one = |b: bool| i64::from(b);
        let connected = call.connected();
        let mut f = Figures {
            incoming: 1,
            live: one(!call.status.is_terminal()),
            connected: one(connected.is_some()),
            completed: one(call.status == CallStatus::Completed),
            converted: one(call.converted),
            rejected: one(call.status == CallStatus::Rejected),
            no_connect: one(call.status.is_terminal()
                && !call.attempts.is_empty()
                && connected.is_none()),
            duplicate: one(call.duplicate),
            blocked: one(call.status == CallStatus::Blocked),
            fallback: one(connected.is_some_and(|(i, _)| i > 0)),
            duration_seconds: i64::from(call.duration_seconds),
            answer_millis: 0,
            revenue_minor: call.revenue_minor,
            payout_minor: call.payout_minor,
            profit_minor: call.profit_minor,
            rejected_by: [0; RejectReason::ALL.len()],
        };
        if let (Some((_, a)), Some(first)) = (connected, call.attempts.first())
            && let Some(answered) = a.answered_at
        {
            f.answer_millis = (answered - first.started_at).num_milliseconds().max(0);
        }
        if call.status == CallStatus::Rejected
            && let Some(reason) = call.reject_reason
        {
            f.rejected_by[reason.index()] = 1;
        }
        f
    }

    fn fields(&self) -> [i64; FIELDS] {
        let mut out = [0; FIELDS];
        out[..15].copy_from_slice(&[
            self.incoming,
            self.live,
            self.connected,
            self.completed,
            self.converted,
            self.rejected,
            self.no_connect,
            self.duplicate,
            self.blocked,
            self.fallback,
            self.duration_seconds,
            self.answer_millis,
            self.revenue_minor,
            self.payout_minor,
            self.profit_minor,
        ]);
        out[15..].copy_from_slice(&self.rejected_by);
        out
    }

    fn from_fields(v: [i64; FIELDS]) -> Self {
        let mut rejected_by = [0; RejectReason::ALL.len()];
        rejected_by.copy_from_slice(&v[15..]);
        Figures {
            incoming: v[0],
            live: v[1],
            connected: v[2],
            completed: v[3],
            converted: v[4],
            rejected: v[5],
            no_connect: v[6],
            duplicate: v[7],
            blocked: v[8],
            fallback: v[9],
            duration_seconds: v[10],
            answer_millis: v[11],
            revenue_minor: v[12],
            payout_minor: v[13],
            profit_minor: v[14],
            rejected_by,
        }
    }

    /// Adds `other` times `sign` (1 or -1).
    pub fn add(&mut self, other: &Figures, sign: i64) {
        let mut mine = self.fields();
        for (m, o) in mine.iter_mut().zip(other.fields()) {
            *m += o * sign;
        }
        *self = Self::from_fields(mine);
    }

    /// Whether every figure is zero (a row that can go).
    pub fn is_zero(&self) -> bool {
        self.fields().iter().all(|v| *v == 0)
    }

    /// The stored form: little-endian i64s. A shorter stored value (from
    /// before a figure was added) reads its missing figures as zero.
    pub fn encode(&self) -> Vec<u8> {
        self.fields().iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Reads [`Self::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Self {
        let mut v = [0i64; FIELDS];
        for (slot, chunk) in v.iter_mut().zip(bytes.chunks_exact(8)) {
            *slot = i64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        }
        Self::from_fields(v)
    }

    /// Rejected calls keyed by reason, as the call record spells them.
    pub fn rejected_by_reason(&self) -> BTreeMap<&'static str, i64> {
        RejectReason::ALL
            .iter()
            .zip(self.rejected_by)
            .filter(|(_, n)| *n != 0)
            .map(|(r, n)| (r.as_str(), n))
            .collect()
    }
}

/// One rollup row's key, without the tenant and width.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowKey {
    /// What a query pins (`All`: nothing).
    pub filter: Dimension,
    /// The pinned value (`""` for `All`).
    pub filter_key: String,
    /// What it groups by.
    pub group: Dimension,
    /// Bucket start, Unix seconds.
    pub bucket: i64,
    /// The group's value.
    pub key: String,
    /// The money's currency.
    pub currency: Currency,
}

/// Every row a call counts in, at `width`.
pub fn rows(call: &CallView, width: Width) -> Vec<RowKey> {
    let bucket = width.bucket(call.started_at);
    let groups: Vec<(Dimension, String)> = Dimension::GROUPS
        .into_iter()
        .filter_map(|g| call.key(g).map(|k| (g, k)))
        .collect();
    let mut out = Vec::with_capacity(groups.len() * 3);
    for filter in Dimension::FILTERS {
        let Some(filter_key) = call.key(filter) else {
            continue;
        };
        for (group, key) in &groups {
            if *group == filter && filter != Dimension::All {
                continue;
            }
            out.push(RowKey {
                filter,
                filter_key: filter_key.clone(),
                group: *group,
                bucket,
                key: key.clone(),
                currency: call.currency,
            });
        }
    }
    out
}

/// Adds to `into` what replacing `old` with `new` changes, at `width`:
/// the old record's rows taken out and the new one's put in.
pub fn delta(
    old: Option<&CallView>,
    new: &CallView,
    width: Width,
    into: &mut std::collections::HashMap<RowKey, Figures>,
) {
    let new_figures = Figures::of(new);
    if let Some(old) = old {
        let old_figures = Figures::of(old);
        let old_rows = rows(old, width);
        let new_rows = rows(new, width);
        if old_rows == new_rows {
            let mut d = new_figures;
            d.add(&old_figures, -1);
            if d.is_zero() {
                return;
            }
            for row in new_rows {
                into.entry(row).or_default().add(&d, 1);
            }
            return;
        }
        for row in old_rows {
            into.entry(row).or_default().add(&old_figures, -1);
        }
        for row in new_rows {
            into.entry(row).or_default().add(&new_figures, 1);
        }
        return;
    }
    for row in rows(new, width) {
        into.entry(row).or_default().add(&new_figures, 1);
    }
}

/// The events a new record of a call marks, given the one it replaces, in
/// the order they happened. A repeat of the same record marks none, so a
/// replayed log or a duplicate status callback never fires twice.
pub fn events(old: Option<&CallView>, new: &CallView) -> Vec<EventKind> {
    let mut out = Vec::new();
    let was = |f: &dyn Fn(&CallView) -> bool| old.is_some_and(f);
    if old.is_none() {
        out.push(EventKind::Incoming);
        if new.duplicate {
            out.push(EventKind::Duplicate);
        }
    }
    let dialed_before = old.map_or(0, |o| o.attempts.len());
    for a in new.attempts.iter().skip(dialed_before) {
        out.push(EventKind::Routed);
        if a.bid_minor.is_some() {
            out.push(EventKind::RtbWon);
        }
    }
    let connected = |c: &CallView| c.connected().is_some();
    if connected(new) && !was(&connected) {
        out.push(EventKind::Connected);
    }
    let status = |s: CallStatus| move |c: &CallView| c.status == s;
    if new.status == CallStatus::Rejected && !was(&status(CallStatus::Rejected)) {
        out.push(EventKind::Rejected);
    }
    if new.status == CallStatus::Blocked && !was(&status(CallStatus::Blocked)) {
        out.push(EventKind::Blocked);
    }
    if new.status == CallStatus::Completed && !was(&status(CallStatus::Completed)) {
        out.push(EventKind::Completed);
    }
    let no_connect = |c: &CallView| Figures::of(c).no_connect == 1;
    if no_connect(new) && !was(&no_connect) {
        out.push(EventKind::NoConnect);
    }
    if new.converted && !was(&|c| c.converted) {
        out.push(EventKind::Converted);
    }
    if new.payout_minor != old.map_or(0, |o| o.payout_minor) {
        out.push(EventKind::Payout);
    }
    if new.recording_url.is_some() && !was(&|c| c.recording_url.is_some()) {
        out.push(EventKind::Recording);
    }
    if new.status.is_terminal() && !was(&|c| c.status.is_terminal()) {
        out.push(EventKind::Finalized);
    }
    out
}

/// A report's figures as the API gives them: the sums of [`Figures`] and
/// what is derived from them. Money is integer minor units; rates are
/// fractions from 0 to 1 rounded to 4 decimals.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Every call.
    pub incoming: i64,
    /// Calls in progress now.
    pub live: i64,
    /// Calls a buyer answered.
    pub connected: i64,
    /// Calls ended after an answer.
    pub completed: i64,
    /// Converted calls.
    pub converted: i64,
    /// Calls refused without a buyer or auction winner (blocked calls excluded).
    pub rejected: i64,
    /// Rejected calls by the call record's reject reason.
    pub rejected_by_reason: BTreeMap<String, i64>,
    /// Dialed calls no buyer answered on any attempt.
    pub no_connect: i64,
    /// Repeat callers inside the campaign's window.
    pub duplicate: i64,
    /// Callers on the blocklist.
    pub blocked: i64,
    /// Calls connected on an attempt after the first.
    pub fallback: i64,
    /// Talk time, seconds.
    pub total_duration_seconds: i64,
    /// Talk time per connected call, seconds (1 decimal).
    pub average_duration_seconds: f64,
    /// From the first dial to the answer, per connected call, seconds (1 decimal).
    pub average_answer_seconds: f64,
    /// Revenue, minor units.
    pub revenue_minor: i64,
    /// Payout, minor units.
    pub payout_minor: i64,
    /// Profit, minor units.
    pub profit_minor: i64,
    /// Revenue per incoming call, minor units (rounded half away from zero).
    pub revenue_per_call_minor: i64,
    /// Payout per incoming call (the cost per call), minor units.
    pub payout_per_call_minor: i64,
    /// Converted ÷ incoming.
    pub conversion_rate: f64,
    /// Connected ÷ incoming.
    pub connect_rate: f64,
    /// Fallback ÷ connected.
    pub fallback_rate: f64,
    /// Profit ÷ revenue; null when the revenue is 0.
    pub margin_rate: Option<f64>,
    /// Profit ÷ payout; null when the payout is 0.
    pub roi: Option<f64>,
}

impl Metrics {
    /// The metrics of summed figures.
    pub fn of(f: &Figures) -> Self {
        let ratio = |n: i64, d: i64, places: i32| {
            let scale = 10f64.powi(places);
            (d != 0).then(|| ((n as f64 / d as f64) * scale).round() / scale)
        };
        let per_call = |total: i64| {
            if f.incoming == 0 {
                0
            } else {
                // Integer rounding half away from zero: money stays exact.
                let (q, r) = (total / f.incoming, total % f.incoming);
                q + (2 * r.abs() >= f.incoming) as i64 * total.signum()
            }
        };
        Metrics {
            incoming: f.incoming,
            live: f.live,
            connected: f.connected,
            completed: f.completed,
            converted: f.converted,
            rejected: f.rejected,
            rejected_by_reason: f
                .rejected_by_reason()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            no_connect: f.no_connect,
            duplicate: f.duplicate,
            blocked: f.blocked,
            fallback: f.fallback,
            total_duration_seconds: f.duration_seconds,
            average_duration_seconds: ratio(f.duration_seconds, f.connected, 1).unwrap_or(0.0),
            average_answer_seconds: ratio(f.answer_millis, f.connected * 1000, 1).unwrap_or(0.0),
            revenue_minor: f.revenue_minor,
            payout_minor: f.payout_minor,
            profit_minor: f.profit_minor,
            revenue_per_call_minor: per_call(f.revenue_minor),
            payout_per_call_minor: per_call(f.payout_minor),
            conversion_rate: ratio(f.converted, f.incoming, 4).unwrap_or(0.0),
            connect_rate: ratio(f.connected, f.incoming, 4).unwrap_or(0.0),
            fallback_rate: ratio(f.fallback, f.connected, 4).unwrap_or(0.0),
            margin_rate: ratio(f.profit_minor, f.revenue_minor, 4),
            roi: ratio(f.profit_minor, f.payout_minor, 4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(json: serde_json::Value) -> CallView {
        let mut base = serde_json::json!({
            "id": "0190b9a0-0000-7000-8000-000000000001", "callSid": "CA1",
            "tenantId": "0190b9a0-0000-7000-8000-000000000002",
            "campaignId": "0190b9a0-0000-7000-8000-000000000003",
            "to": "+15550002000", "status": "ringing", "startedAt": "2026-12-01T10:07:00Z",
        });
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    const BUYER: &str = "0190b9a0-0000-7000-8000-00000000000b";

    fn attempt(answered: bool, bid: Option<i64>) -> serde_json::Value {
        serde_json::json!({"buyerId": BUYER, "startedAt": "2026-12-01T10:07:01Z",
            "answeredAt": answered.then_some("2026-12-01T10:07:05Z"),
            "outcome": if answered {"answered"} else {"no-answer"}, "bidMinor": bid})
    }

    #[test]
    fn a_call_marks_each_event_once_in_the_order_it_happened() {
        let ringing =
            view(serde_json::json!({"attempts": [attempt(false, None)], "duplicate": true}));
        assert_eq!(
            events(None, &ringing),
            [EventKind::Incoming, EventKind::Duplicate, EventKind::Routed]
        );
        let fell_through = view(serde_json::json!({
            "attempts": [attempt(false, None), attempt(true, Some(900))], "status": "in-progress",
            "duplicate": true}));
        assert_eq!(
            events(Some(&ringing), &fell_through),
            [EventKind::Routed, EventKind::RtbWon, EventKind::Connected]
        );
        let done = view(serde_json::json!({
            "attempts": [attempt(false, None), attempt(true, Some(900))], "status": "completed",
            "converted": true, "revenueMinor": 900, "payoutMinor": 300, "duplicate": true}));
        assert_eq!(
            events(Some(&fell_through), &done),
            [
                EventKind::Completed,
                EventKind::Converted,
                EventKind::Payout,
                EventKind::Finalized
            ]
        );
        // The same record again (a replay, a duplicate callback): nothing.
        assert_eq!(events(Some(&done), &done), []);
        let unanswered =
            view(serde_json::json!({"attempts": [attempt(false, None)], "status": "no-answer"}));
        assert_eq!(
            events(Some(&ringing), &unanswered),
            [EventKind::NoConnect, EventKind::Finalized]
        );
        let blocked = view(serde_json::json!({"status": "blocked"}));
        assert_eq!(
            events(None, &blocked),
            [
                EventKind::Incoming,
                EventKind::Blocked,
                EventKind::Finalized
            ]
        );
    }

    #[test]
    fn figures_count_what_a_manager_reads_off_a_call() {
        let done = view(serde_json::json!({
            "attempts": [attempt(false, None), attempt(true, None)], "status": "completed",
            "buyerId": BUYER, "durationSeconds": 95, "converted": true,
            "revenueMinor": 1000, "payoutMinor": 400, "profitMinor": 600}));
        let f = Figures::of(&done);
        assert_eq!(
            (
                f.incoming,
                f.live,
                f.connected,
                f.completed,
                f.fallback,
                f.no_connect
            ),
            (1, 0, 1, 1, 1, 0)
        );
        assert_eq!(f.answer_millis, 4_000, "from the first dial to the answer");
        let rejected =
            view(serde_json::json!({"status": "rejected", "rejectReason": "publisher-cap"}));
        let mut sum = f;
        sum.add(&Figures::of(&rejected), 1);
        let m = Metrics::of(&sum);
        assert_eq!(
            m.rejected_by_reason,
            BTreeMap::from([("publisher-cap".to_owned(), 1)])
        );
        assert_eq!(
            (m.revenue_per_call_minor, m.payout_per_call_minor),
            (500, 200)
        );
        assert_eq!(
            (m.conversion_rate, m.connect_rate, m.fallback_rate),
            (0.5, 0.5, 1.0)
        );
        assert_eq!((m.margin_rate, m.roi), (Some(0.6), Some(1.5)));
        assert_eq!(Figures::decode(&sum.encode()), sum);
        // The rows a call counts in: under no filter and under each filter it has.
        let keys = rows(&done, Width::Hour);
        assert!(keys.iter().all(|k| k.bucket == 1_796_119_200), "10:00 UTC");
        assert!(
            keys.iter()
                .any(|k| k.filter == Dimension::Campaign && k.group == Dimension::Buyer)
        );
        assert!(
            !keys.iter().any(|k| k.filter == Dimension::Publisher),
            "it has no publisher"
        );
        assert_eq!(Width::Quarter.bucket(done.started_at), 1_796_119_200);
    }
}
