//! What a call pays its publisher, and when it is booked.
//!
//! A campaign's payout rules hold a default (no `publisherId`) and
//! per-publisher overrides ([`rule_for`]). A call earns its publisher's rule
//! ([`earned`]) from what its record says: answered (perCall), talk time
//! (afterSeconds), converted (onConversion), and its revenue for a percent.
//!
//! [`settle`] books it once: on the change that ends the call (its status
//! becomes terminal, which happens once, under the call's lock), when talk
//! time, conversion and revenue are final. A duplicate or out-of-order
//! callback after that finds the call ended and books nothing again.
//!
//! [`adjust`] changes an ended call's conversion, revenue and payout later
//! (a sale confirmed, a return), once per idempotency key.

use switchboard_model::publisher::{PayoutRule, PayoutType};
use switchboard_model::{Adjustment, CallRecord, Id};

/// The rule for `publisher`'s calls: its own override, else the default.
pub fn rule_for(rules: &[PayoutRule], publisher: Id) -> Option<&PayoutRule> {
    rules
        .iter()
        .find(|r| r.publisher_id == Some(publisher))
        .or_else(|| rules.iter().find(|r| r.publisher_id.is_none()))
}

/// The payout `call` earns under `rules`, in minor units of its currency:
/// nothing without a publisher or a rule for it, for a rule in another
/// currency, or for a duplicate call the rule does not pay.
pub fn earned(rules: &[PayoutRule], call: &CallRecord) -> i64 {
    let Some(rule) = call.publisher_id.and_then(|p| rule_for(rules, p)) else {
        return 0;
    };
    if rule.currency != call.currency || (call.duplicate && !rule.pay_duplicates) {
        return 0;
    }
    let earns = match rule.kind {
        PayoutType::PerCall => call.answered_at.is_some(),
        PayoutType::AfterSeconds => rule
            .seconds
            .is_some_and(|s| call.answered_at.is_some() && call.duration_seconds >= s),
        PayoutType::OnConversion => call.converted,
    };
    if !earns {
        return 0;
    }
    match (rule.amount, rule.percent) {
        (Some(amount), _) => amount.max(0),
        // Rounded down to the cent: the network never pays out more than the share.
        (None, Some(percent)) => call.revenue_minor.max(0) * i64::from(percent.min(100)) / 100,
        (None, None) => 0,
    }
}

/// Books `call`'s payout if this change ends it (`was_terminal`: whether
/// it had ended before), and keeps its profit at revenue minus payout.
pub fn settle(call: &mut CallRecord, was_terminal: bool, rules: &[PayoutRule]) {
    if !was_terminal && call.status.is_terminal() {
        call.payout_minor = earned(rules, call);
    }
    call.profit_minor = call.revenue_minor - call.payout_minor;
}

/// What [`adjust`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjusted {
    /// The call took the adjustment.
    Applied,
    /// An adjustment with its idempotency key and the same change was
    /// applied before: nothing changed.
    Repeated,
    /// Its idempotency key was used for a different change of this call.
    KeyReused,
}

/// Applies `adj` to an ended call: the conversion, revenue and payout it
/// sets are the call's, its profit follows, and it is listed on the call.
pub fn adjust(call: &mut CallRecord, adj: Adjustment) -> Adjusted {
    if let Some(key) = &adj.idempotency_key
        && let Some(before) = call
            .adjustments
            .iter()
            .find(|a| a.idempotency_key.as_ref() == Some(key))
    {
        return if before.same_change(&adj) {
            Adjusted::Repeated
        } else {
            Adjusted::KeyReused
        };
    }
    if let Some(c) = adj.converted {
        call.converted = c;
    }
    if let Some(r) = adj.revenue_minor {
        call.revenue_minor = r;
    }
    if let Some(p) = adj.payout_minor {
        call.payout_minor = p;
    }
    call.profit_minor = call.revenue_minor - call.payout_minor;
    call.adjustments.push(adj);
    Adjusted::Applied
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use proptest::prelude::*;
    use serde_json::json;
    use switchboard_model::{CallStatus, Currency, PhoneNumber};

    use super::*;

    const P: Id = Id::from_u128(7);
    const OTHER: Id = Id::from_u128(8);

    fn rules(v: serde_json::Value) -> Vec<PayoutRule> {
        serde_json::from_value(v).unwrap()
    }

    fn call(talk: u32, converted: bool, revenue: i64) -> CallRecord {
        let now = Utc::now();
        CallRecord {
            id: Id::from_u128(1),
            call_sid: "CA1".into(),
            tenant_id: Id::from_u128(2),
            campaign_id: Id::from_u128(3),
            from: "+15551230000".into(),
            to: PhoneNumber::parse("+15550001000").unwrap(),
            caller_state: None,
            caller_zip: None,
            status: CallStatus::Completed,
            reject_reason: None,
            buyer_id: None,
            attempts: vec![],
            skipped: vec![],
            tags: Default::default(),
            started_at: now,
            answered_at: Some(now),
            ended_at: Some(now),
            duration_seconds: talk,
            converted,
            revenue_minor: revenue,
            currency: Currency::USD,
            recording_url: None,
            pool_id: None,
            attribution: None,
            publisher_id: Some(P),
            duplicate: false,
            payout_minor: 0,
            profit_minor: 0,
            adjustments: vec![],
            demo: false,
        }
    }

    fn adjustment(key: Option<&str>, revenue: Option<i64>) -> Adjustment {
        Adjustment {
            id: Id::from_u128(9),
            at: Utc::now(),
            by: "user:alice".into(),
            reason: "sale confirmed".into(),
            converted: Some(true),
            revenue_minor: revenue,
            payout_minor: Some(1000),
            idempotency_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn an_adjustment_sets_what_it_names_once_per_key() {
        let mut c = call(30, false, 0);
        assert_eq!(
            adjust(&mut c, adjustment(Some("k1"), Some(2500))),
            Adjusted::Applied
        );
        assert_eq!(
            (c.converted, c.revenue_minor, c.payout_minor, c.profit_minor),
            (true, 2500, 1000, 1500)
        );
        assert_eq!(
            adjust(&mut c, adjustment(Some("k1"), Some(2500))),
            Adjusted::Repeated
        );
        assert_eq!(
            adjust(&mut c, adjustment(Some("k1"), Some(100))),
            Adjusted::KeyReused
        );
        assert_eq!(c.adjustments.len(), 1);
        // A return: revenue and payout back to nothing, kept as a second entry.
        let mut back = adjustment(None, Some(0));
        (back.converted, back.payout_minor) = (Some(false), Some(0));
        assert_eq!(adjust(&mut c, back), Adjusted::Applied);
        assert_eq!(
            (
                c.converted,
                c.revenue_minor,
                c.profit_minor,
                c.adjustments.len()
            ),
            (false, 0, 0, 2)
        );
    }

    #[test]
    fn each_type_pays_on_its_own_condition() {
        let per_call = rules(json!([{"type": "perCall", "amount": 5, "currency": "USD"}]));
        assert_eq!(earned(&per_call, &call(3, false, 0)), 500);
        let mut unanswered = call(0, false, 0);
        unanswered.answered_at = None;
        assert_eq!(earned(&per_call, &unanswered), 0);

        let after = rules(
            json!([{"type": "afterSeconds", "seconds": 90, "amount": "7.25", "currency": "USD"}]),
        );
        assert_eq!(earned(&after, &call(89, true, 2500)), 0);
        assert_eq!(earned(&after, &call(90, true, 2500)), 725);

        let conv = rules(json!([{"type": "onConversion", "percent": 40, "currency": "USD"}]));
        assert_eq!(earned(&conv, &call(120, false, 0)), 0);
        assert_eq!(earned(&conv, &call(120, true, 2599)), 1039, "rounded down");
    }

    #[test]
    fn a_publishers_override_wins_over_the_default() {
        let r = rules(json!([
            {"type": "perCall", "amount": 5, "currency": "USD"},
            {"type": "onConversion", "amount": 12, "currency": "USD", "publisherId": P},
        ]));
        assert_eq!(earned(&r, &call(10, false, 0)), 0, "P's rule wants a sale");
        assert_eq!(earned(&r, &call(10, true, 2500)), 1200);
        let mut other = call(10, false, 0);
        other.publisher_id = Some(OTHER);
        assert_eq!(earned(&r, &other), 500, "everyone else: the default");
        other.publisher_id = None;
        assert_eq!(earned(&r, &other), 0, "no publisher, no payout");
    }

    #[test]
    fn duplicates_and_other_currencies_are_not_paid_unless_the_rule_says() {
        let no = rules(json!([{"type": "perCall", "amount": 5, "currency": "USD"}]));
        let yes = rules(
            json!([{"type": "perCall", "amount": 5, "currency": "USD", "payDuplicates": true}]),
        );
        let mut repeat = call(10, false, 0);
        repeat.duplicate = true;
        assert_eq!(earned(&no, &repeat), 0);
        assert_eq!(earned(&yes, &repeat), 500);
        let mut euros = call(10, false, 0);
        euros.currency = Currency::EUR;
        assert_eq!(earned(&yes, &euros), 0);
    }

    #[test]
    fn it_is_booked_on_the_change_that_ends_the_call_only() {
        let r = rules(json!([{"type": "onConversion", "amount": 10, "currency": "USD"}]));
        let mut c = call(120, true, 2500);
        c.status = CallStatus::InProgress;
        settle(&mut c, false, &r);
        assert_eq!((c.payout_minor, c.profit_minor), (0, 2500));
        c.status = CallStatus::Completed;
        settle(&mut c, false, &r);
        assert_eq!((c.payout_minor, c.profit_minor), (1000, 1500));
        // A later change (a duplicate callback, changed rules) books nothing more.
        let richer = rules(json!([{"type": "onConversion", "amount": 99, "currency": "USD"}]));
        settle(&mut c, true, &richer);
        assert_eq!((c.payout_minor, c.profit_minor), (1000, 1500));
    }

    proptest! {
        #[test]
        fn a_percent_payout_never_exceeds_the_revenue(revenue in 0i64..10_000_000_000, percent in 0u32..=100) {
            let r = rules(json!([{"type": "onConversion", "percent": percent, "currency": "USD"}]));
            let paid = earned(&r, &call(60, true, revenue));
            prop_assert!((0..=revenue).contains(&paid));
            prop_assert_eq!(paid, revenue * i64::from(percent) / 100);
        }
    }
}
