//! The demo's past: seven days of plausible calls, so a newcomer's first
//! look at Reports shows a chart, not an empty page.
//!
//! Written once, when the demo tenant has no calls yet, through the store's
//! one write path (`put_calls`: the call log, then its projections), so the
//! rollups count them like any call. Each is marked `demo`: reported, never
//! postbacked. They end before the start of today in the tenant's zone and
//! in every buyer's, so no buyer's daily cap and no report of today counts them.

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use chrono_tz::Tz;

use crate::admin::reports::start_of_day;
use switchboard_model::call::Traffic;
use switchboard_model::prng::SplitMix64;
use switchboard_model::{
    Attempt, AttemptOutcome, Buyer, CallRecord, CallStatus, Campaign, Currency, PhoneNumber,
    RejectReason, new_id,
};

/// Days of history.
pub(super) const DAYS: i64 = 7;

/// Where the demo's visitors come from, with their share of the calls.
const SOURCES: [(&str, &str, u64); 4] = [
    ("google", "cpc", 45),
    ("facebook", "paid-social", 25),
    ("bing", "cpc", 15),
    ("newsletter", "email", 15),
];

const STATES: [&str; 6] = ["CA", "TX", "FL", "NY", "IL", "OH"];

/// Calls an hour at `hour` (UTC), shaped like a US business day: few at
/// night, most from late morning to late afternoon Eastern.
fn per_hour(hour: u32, weekend: bool, rng: &mut SplitMix64) -> u64 {
    // 14–21 UTC is 9–16 in New York.
    let base = match hour {
        13..=21 => 14,
        11 | 12 | 22 | 23 => 7,
        0..=3 => 3,
        _ => 1,
    };
    let base = if weekend { base / 2 + 1 } else { base };
    rng.range(base / 2, base + base / 2)
}

/// The first instant of today in the earliest of `zones`: where the
/// history ends, so it is yesterday or earlier in every one of them.
pub(super) fn end(now: DateTime<Utc>, zones: impl IntoIterator<Item = Tz>) -> DateTime<Utc> {
    zones
        .into_iter()
        .map(|tz| start_of_day(now.with_timezone(&tz).date_naive(), tz))
        .fold(now, DateTime::min)
}

/// The history: every call of the `DAYS` days before `end`.
pub(super) fn calls(
    campaigns: &[Campaign],
    buyers: &[Buyer],
    end: DateTime<Utc>,
) -> Vec<CallRecord> {
    let mut rng = SplitMix64::new(0x5EED_DE30);
    let mut out = Vec::new();
    let (Some(first_buyer), false) = (buyers.first(), campaigns.is_empty()) else {
        return out;
    };
    let start = end.duration_trunc(Duration::hours(1)).unwrap_or(end) - Duration::days(DAYS);
    let mut repeat: Vec<String> = Vec::new();
    for hour in 0..DAYS * 24 {
        let at = start + Duration::hours(hour);
        let weekend = matches!(
            chrono::Datelike::weekday(&at),
            chrono::Weekday::Sat | chrono::Weekday::Sun
        );
        for _ in 0..per_hour(at.hour(), weekend, &mut rng) {
            let started = at + Duration::seconds(rng.range(0, 3_599) as i64);
            if started >= end {
                continue;
            }
            let campaign = rng.pick(campaigns);
            let call = one(
                &mut rng,
                campaign,
                buyers,
                first_buyer,
                started,
                &mut repeat,
            );
            out.push(call);
        }
    }
    out
}

fn one(
    rng: &mut SplitMix64,
    campaign: &Campaign,
    buyers: &[Buyer],
    first_buyer: &Buyer,
    started: DateTime<Utc>,
    repeat: &mut Vec<String>,
) -> CallRecord {
    let id = new_id();
    let duplicate = !repeat.is_empty() && rng.chance(0.05);
    let from = if duplicate {
        rng.pick(repeat).clone()
    } else {
        let n = format!("+1555{:07}", rng.range(2_000_000, 9_999_999));
        if repeat.len() < 50 {
            repeat.push(n.clone());
        }
        n
    };
    let to = campaign
        .phone_number
        .clone()
        .unwrap_or_else(|| PhoneNumber::parse("+15550001100").expect("a valid number"));
    let roll = rng.range(1, 100);
    let mut tags = std::collections::BTreeMap::new();
    let total: u64 = SOURCES.iter().map(|s| s.2).sum();
    let mut pick = rng.range(1, total);
    let (source, medium, _) = *SOURCES
        .iter()
        .find(|s| {
            let hit = pick <= s.2;
            pick = pick.saturating_sub(s.2);
            hit
        })
        .unwrap_or(&SOURCES[0]);
    Traffic {
        source: Some(source.to_owned()),
        medium: Some(medium.to_owned()),
        campaign: Some("winter-promo".to_owned()),
        landing_page: Some(format!("https://example.com/{source}")),
        ..Traffic::default()
    }
    .tag(&mut tags);
    let state = rng.pick(&STATES).to_string();
    tags.insert("callerState".to_owned(), state.clone());
    let mut call = CallRecord {
        id,
        call_sid: format!("CAdemo{}", id.simple()),
        tenant_id: campaign.tenant_id,
        campaign_id: campaign.id,
        from,
        to,
        caller_state: Some(state),
        caller_zip: None,
        status: CallStatus::Completed,
        reject_reason: None,
        buyer_id: None,
        attempts: Vec::new(),
        skipped: Vec::new(),
        tags,
        started_at: started,
        answered_at: None,
        ended_at: None,
        duration_seconds: 0,
        converted: false,
        revenue_minor: 0,
        payout_minor: 0,
        profit_minor: 0,
        currency: Currency::USD,
        recording_url: None,
        pool_id: campaign.pool_id,
        attribution: None,
        publisher_id: None,
        duplicate,
        adjustments: Vec::new(),
        demo: true,
    };
    if roll <= 6 {
        call.status = CallStatus::Rejected;
        call.reject_reason = Some(RejectReason::NoBuyerAvailable);
        call.ended_at = Some(started);
        return call;
    }
    // Fall-through: the first buyer dialed does not answer.
    let fell_through = roll <= 20;
    let unanswered = roll > 93;
    let mut dial = |buyer: &Buyer, at: DateTime<Utc>, answer: bool| Attempt {
        buyer_id: buyer.id,
        number: buyer.phone_number.clone(),
        started_at: at,
        answered_at: answer.then(|| at + Duration::seconds(rng.range(3, 20) as i64)),
        ended_at: None,
        outcome: if answer {
            AttemptOutcome::Completed
        } else {
            AttemptOutcome::NoAnswer
        },
        duration_seconds: 0,
        dial_call_sid: Some(format!("CAleg{}", new_id().simple())),
        last_sequence: None,
        released: true,
        bid_minor: None,
        bid_duration_seconds: None,
    };
    let first = buyers
        .iter()
        .find(|b| campaign.buyers.first().is_some_and(|a| a.buyer_id == b.id))
        .unwrap_or(first_buyer);
    let at = started + Duration::seconds(1);
    if unanswered {
        call.attempts.push(dial(first, at, false));
        call.status = CallStatus::NoAnswer;
        call.buyer_id = Some(first.id);
        call.ended_at = Some(at + Duration::seconds(30));
        return call;
    }
    let mut taker = first;
    if fell_through {
        call.attempts.push(dial(first, at, false));
        taker = buyers.iter().find(|b| b.id != first.id).unwrap_or(first);
    }
    let mut answered = dial(
        taker,
        at + Duration::seconds(25 * call.attempts.len() as i64),
        true,
    );
    let talk = rng.range(15, 600) as u32;
    let answered_at = answered.answered_at.unwrap_or(at);
    answered.duration_seconds = talk;
    answered.ended_at = Some(answered_at + Duration::seconds(i64::from(talk)));
    call.answered_at = Some(answered_at);
    call.ended_at = answered.ended_at;
    call.attempts.push(answered);
    call.buyer_id = Some(taker.id);
    call.duration_seconds = talk;
    call.converted = talk >= taker.conversion_seconds;
    call.revenue_minor = if call.converted { taker.revenue } else { 0 };
    call.profit_minor = call.revenue_minor;
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_has_a_daily_rhythm_ends_before_today_and_is_marked_demo() {
        let tenant = new_id();
        let buyer = Buyer {
            id: new_id(),
            ..serde_json::from_value(serde_json::json!({
                "id": new_id(), "tenantId": tenant, "name": "Acme", "phoneNumber": "+15550002001",
                "timezone": "America/New_York", "conversionSeconds": 60, "revenue": 25,
                "currency": "USD", "status": "active"
            }))
            .unwrap()
        };
        let campaign = Campaign::direct(
            tenant,
            "Demo",
            PhoneNumber::parse("+15550001000").unwrap(),
            switchboard_model::RoutingPolicy::Priority,
            vec![],
        );
        // Half past midnight UTC is still yesterday evening in New York:
        // the history ends before New York's today, not UTC's.
        let now = DateTime::parse_from_rfc3339("2026-12-04T00:30:00Z")
            .unwrap()
            .to_utc();
        let today = end(now, [buyer.timezone, Tz::UTC]);
        assert_eq!(today.to_rfc3339(), "2026-12-03T05:00:00+00:00");
        let calls = calls(&[campaign], &[buyer], today);
        assert!(calls.len() > 300, "{}", calls.len());
        assert!(calls.iter().all(|c| c.demo && c.started_at < today));
        assert!(
            calls
                .iter()
                .all(|c| c.started_at >= today - Duration::days(DAYS))
        );
        let at = |h: u32| calls.iter().filter(|c| c.started_at.hour() == h).count();
        assert!(
            at(16) > 3 * at(8),
            "busier at noon in New York than at night"
        );
        let count = |f: &dyn Fn(&CallRecord) -> bool| calls.iter().filter(|c| f(c)).count();
        assert!(count(&|c| c.converted) > 0 && count(&|c| c.status == CallStatus::Rejected) > 0);
        assert!(count(&|c| c.attempts.len() == 2) > 0, "fall-throughs");
        assert!(count(&|c| c.duplicate) > 0);
        assert!(count(&|c| c.tags.get("utmSource").is_some_and(|s| s == "facebook")) > 0);
    }
}
