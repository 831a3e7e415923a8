//! Publishers: the affiliates and traffic sources that send calls and are
//! paid a payout for them. A number, a pool, a tracking tag or an API key
//! may belong to one; a call is attributed to one ([`attribute`]); a
//! campaign's [`PayoutRule`]s say what its publishers are paid.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Caps, Currency, FieldError, Id, ModelError, money};

/// Whether a publisher's calls are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublisherStatus {
    /// Sends calls.
    #[default]
    Active,
    /// Temporarily not working with the network: its calls are refused
    /// (reason `publisher-paused`), recorded and attributed to it.
    Paused,
}

/// A traffic source the network pays for calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Publisher {
    /// Id (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant (assigned by the server).
    #[serde(default)]
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// Display name.
    pub name: String,
    /// Company.
    #[serde(default)]
    pub company: String,
    /// Contact person or e-mail.
    #[serde(default)]
    pub contact: String,
    /// Active or paused.
    #[serde(default)]
    pub status: PublisherStatus,
    /// The id trackers know it by (Ringba's Publisher Sub ID): letters,
    /// digits, `_`, `-` and `.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_id: Option<String>,
    /// Its calls at once; none = unlimited. Over it a call is rejected
    /// (`publisher-cap`).
    #[serde(default)]
    pub concurrency_limit: Option<u32>,
    /// Its calls per day, in the tenant's time zone; none = no cap.
    #[serde(default)]
    pub daily_cap: Option<u32>,
    /// Its calls per calendar month, in the tenant's time zone; none = no cap.
    #[serde(default)]
    pub monthly_cap: Option<u32>,
    /// Optimistic-concurrency version, bumped by every write. On update, the
    /// version being replaced (or send `If-Match`); absent or 0: the current
    /// one, whatever it is. A stale one is a 409.
    #[serde(default)]
    pub version: u64,
    /// When it was created (assigned by the server).
    #[serde(default)]
    pub created_at: DateTime<Utc>,
}

impl Publisher {
    /// Its caps, in the shape buyers' caps take.
    pub fn caps(&self) -> Caps {
        Caps {
            concurrency_limit: self.concurrency_limit,
            daily_cap: self.daily_cap,
            monthly_cap: self.monthly_cap,
            ..Caps::default()
        }
    }

    /// Checks every field, listing all problems at once.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        self.caps().validate(&mut errors);
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        } else if self.name.chars().count() > 200 {
            errors.push(FieldError::new("name", "must be at most 200 characters"));
        }
        for (field, value) in [("company", &self.company), ("contact", &self.contact)] {
            if value.chars().count() > 200 {
                errors.push(FieldError::new(field, "must be at most 200 characters"));
            }
        }
        if let Some(sub) = &self.sub_id
            && (sub.is_empty()
                || sub.len() > 100
                || !sub
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)))
        {
            errors.push(FieldError::new(
                "subId",
                "must be 1 to 100 letters, digits, '_', '-' or '.'",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Invalid(errors))
        }
    }
}

/// Where a call's publisher may come from, most specific first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherSources {
    /// The publisher whose API key pinged for the caller (RTB).
    pub ping: Option<Id>,
    /// The tracking tag of the visit the call is attributed to (DNI).
    pub tag: Option<Id>,
    /// The pool holding the dialed number.
    pub pool: Option<Id>,
    /// The dialed number in the inventory.
    pub number: Option<Id>,
}

/// The publisher a call is attributed to: a ping's key, else for a pool
/// number the visit's tag then the pool, else the number dialed.
pub fn attribute(s: PublisherSources) -> Option<Id> {
    s.ping.or(s.tag).or(s.pool).or(s.number)
}

/// When a payout rule pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PayoutType {
    /// Every call a buyer answered.
    PerCall,
    /// Calls whose talk time reached the rule's `seconds`.
    AfterSeconds,
    /// Converted calls (the buyer's conversion threshold).
    OnConversion,
}

/// What a campaign pays a publisher for a call: the campaign's default
/// (no `publisherId`), or one publisher's override of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayoutRule {
    /// The publisher this rule is for; absent: every other publisher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub publisher_id: Option<Id>,
    /// perCall, afterSeconds or onConversion.
    #[serde(rename = "type")]
    pub kind: PayoutType,
    /// For afterSeconds: the talk time, in seconds, that earns the payout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    /// A fixed payout, a decimal in the currency's units (or give `percent`).
    #[serde(
        default,
        with = "money::opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "12.50")]
    pub amount: Option<i64>,
    /// A share of the call's revenue, 0 to 100 (40 means 40 %), rounded
    /// down to the cent (or give `amount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
    /// Must be the currency of the buyers' revenue: a call has one currency.
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    /// Whether a repeat caller's call (a duplicate) is paid.
    #[serde(default)]
    pub pay_duplicates: bool,
}

/// Lists what is wrong with a campaign's payout rules: each needs either an
/// amount (not negative) or a percent (0 to 100), `seconds` exactly when it
/// is afterSeconds, and no two apply to the same publisher (or are both the
/// default). Currencies and publishers are the caller's to check.
pub fn validate_rules(rules: &[PayoutRule], errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        let field = |f: &str| format!("payoutRules[{i}].{f}");
        match (r.amount, r.percent) {
            (Some(_), Some(_)) | (None, None) => errors.push(FieldError::new(
                field("amount"),
                "give either an amount or a percent",
            )),
            (Some(a), None) if a < 0 => {
                errors.push(FieldError::new(field("amount"), "must not be negative"))
            }
            (None, Some(p)) if p > 100 => errors.push(FieldError::new(
                field("percent"),
                "must be between 0 and 100",
            )),
            _ => {}
        }
        match (r.kind, r.seconds) {
            (PayoutType::AfterSeconds, None) => errors.push(FieldError::new(
                field("seconds"),
                "is required for an afterSeconds rule",
            )),
            (PayoutType::AfterSeconds, Some(0)) => {
                errors.push(FieldError::new(field("seconds"), "must be at least 1"))
            }
            (PayoutType::PerCall | PayoutType::OnConversion, Some(_)) => errors.push(
                FieldError::new(field("seconds"), "only an afterSeconds rule takes seconds"),
            ),
            _ => {}
        }
        if !seen.insert(r.publisher_id) {
            errors.push(FieldError::new(
                field("publisherId"),
                match r.publisher_id {
                    Some(_) => "another rule is already this publisher's",
                    None => "another rule is already the default (no publisherId)",
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn publishers_validate_and_refuse_unknown_fields() {
        let p: Publisher =
            serde_json::from_value(json!({"name": "Leads Co", "subId": "pub-7"})).unwrap();
        assert_eq!(p.status, PublisherStatus::Active);
        p.validate().unwrap();
        let bad = Publisher {
            name: " ".into(),
            sub_id: Some("a b".into()),
            ..p
        };
        match bad.validate() {
            Err(ModelError::Invalid(e)) => assert_eq!(
                e.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
                ["name", "subId"]
            ),
            other => panic!("{other:?}"),
        }
        assert!(serde_json::from_value::<Publisher>(json!({"name": "x", "caps": 1})).is_err());
        assert!(
            serde_json::from_value::<Publisher>(json!({"name": "x", "status": "inactive"}))
                .is_err()
        );
    }

    #[test]
    fn payout_rules_list_every_problem() {
        let rules: Vec<PayoutRule> = serde_json::from_value(json!([
            {"type": "perCall", "amount": "12.50", "currency": "USD"},
            {"type": "afterSeconds", "amount": -1, "currency": "USD", "publisherId": Id::from_u128(1)},
            {"type": "onConversion", "percent": 101, "seconds": 30, "currency": "USD"},
            {"type": "afterSeconds", "currency": "USD", "publisherId": Id::from_u128(1)},
        ]))
        .unwrap();
        assert_eq!(rules[0].amount, Some(1250));
        let mut errors = Vec::new();
        validate_rules(&rules, &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "payoutRules[1].amount",
                "payoutRules[1].seconds",
                "payoutRules[2].percent",
                "payoutRules[2].seconds",
                "payoutRules[2].publisherId",
                "payoutRules[3].amount",
                "payoutRules[3].seconds",
                "payoutRules[3].publisherId",
            ]
        );
        let mut errors = Vec::new();
        validate_rules(&rules[..1], &mut errors);
        assert!(errors.is_empty());
        assert!(
            serde_json::from_value::<PayoutRule>(
                json!({"type": "perWeek", "amount": 1, "currency": "USD"})
            )
            .is_err()
        );
    }

    #[test]
    fn the_most_specific_source_wins() {
        let [a, b, c, d] = [1u128, 2, 3, 4].map(Id::from_u128);
        let all = PublisherSources {
            ping: Some(a),
            tag: Some(b),
            pool: Some(c),
            number: Some(d),
        };
        assert_eq!(attribute(all), Some(a));
        let no_ping = PublisherSources { ping: None, ..all };
        assert_eq!(
            attribute(no_ping),
            Some(b),
            "the visit's tag before the pool"
        );
        let pool_only = PublisherSources {
            tag: None,
            ..no_ping
        };
        assert_eq!(attribute(pool_only), Some(c));
        assert_eq!(
            attribute(PublisherSources {
                number: Some(d),
                ..Default::default()
            }),
            Some(d)
        );
        assert_eq!(attribute(PublisherSources::default()), None);
    }
}
