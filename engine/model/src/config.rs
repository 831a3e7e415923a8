//! What managers configure: tenants, buyers and campaigns.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Currency, FieldError, Id, ModelError, PhoneNumber, TagFilter, money};

fn utc() -> Tz {
    Tz::UTC
}

/// One customer account. Every other resource belongs to exactly one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// Id.
    pub id: Id,
    /// Display name, unique across the system.
    pub name: String,
    /// Twilio account SID (`AC…`): identifies the tenant on webhooks for unknown numbers.
    #[serde(default)]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token: the key that signs this tenant's webhooks. Never shown by the API.
    #[serde(default)]
    pub twilio_auth_token: String,
    /// IANA time zone of the tenant's own periods (publishers' daily and
    /// monthly caps); UTC when not set.
    #[serde(default = "utc")]
    pub timezone: Tz,
    /// Whether a publisher's login sees its calls' caller numbers whole;
    /// when false (the default) it sees only their last 4 digits. Not
    /// written while false, so a tenant that never turns it on is stored as
    /// before (a node without the field still reads it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publisher_sees_caller_numbers: bool,
    /// Optimistic-concurrency version, bumped by every write.
    #[serde(default)]
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Whether a buyer takes calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BuyerStatus {
    /// Takes calls.
    #[default]
    Active,
    /// Temporarily takes none.
    Paused,
    /// Takes none until reactivated.
    Inactive,
}

/// A time of day in minutes since midnight, `"HH:MM"` in JSON, `"24:00"` allowed as an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(pub u16);

impl TimeOfDay {
    /// Parses `HH:MM`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::InvalidTime(s.to_owned());
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
            return Err(bad());
        }
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeOfDay::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Opening hours on one day, `[open, close)` in the buyer's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// First minute open.
    #[schema(value_type = String, example = "09:00")]
    pub open: TimeOfDay,
    /// First minute closed again (`24:00` for end of day).
    #[schema(value_type = String, example = "17:00")]
    pub close: TimeOfDay,
}

/// Hours of operation per weekday, in the buyer's time zone. A day with no
/// windows is closed. To stay open across midnight, end one day at `24:00`
/// and open the next at `00:00`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Monday's windows.
    #[serde(default)]
    pub monday: Vec<TimeWindow>,
    /// Tuesday's windows.
    #[serde(default)]
    pub tuesday: Vec<TimeWindow>,
    /// Wednesday's windows.
    #[serde(default)]
    pub wednesday: Vec<TimeWindow>,
    /// Thursday's windows.
    #[serde(default)]
    pub thursday: Vec<TimeWindow>,
    /// Friday's windows.
    #[serde(default)]
    pub friday: Vec<TimeWindow>,
    /// Saturday's windows.
    #[serde(default)]
    pub saturday: Vec<TimeWindow>,
    /// Sunday's windows.
    #[serde(default)]
    pub sunday: Vec<TimeWindow>,
}

impl Schedule {
    /// The windows of a weekday.
    pub fn day(&self, day: chrono::Weekday) -> &[TimeWindow] {
        use chrono::Weekday::*;
        match day {
            Mon => &self.monday,
            Tue => &self.tuesday,
            Wed => &self.wednesday,
            Thu => &self.thursday,
            Fri => &self.friday,
            Sat => &self.saturday,
            Sun => &self.sunday,
        }
    }

    /// The same hours on every day of the week.
    pub fn every_day(open: &str, close: &str) -> Result<Self, ModelError> {
        let w = vec![TimeWindow {
            open: TimeOfDay::parse(open)?,
            close: TimeOfDay::parse(close)?,
        }];
        Ok(Self {
            monday: w.clone(),
            tuesday: w.clone(),
            wednesday: w.clone(),
            thursday: w.clone(),
            friday: w.clone(),
            saturday: w.clone(),
            sunday: w,
        })
    }

    fn validate(&self, errors: &mut Vec<FieldError>) {
        use chrono::Weekday::*;
        for day in [Mon, Tue, Wed, Thu, Fri, Sat, Sun] {
            for w in self.day(day) {
                if w.open >= w.close {
                    errors.push(FieldError::new(
                        format!("schedule.{}", day_name(day)),
                        format!("window {}-{} must open before it closes", w.open, w.close),
                    ));
                }
            }
        }
    }
}

fn day_name(day: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match day {
        Mon => "monday",
        Tue => "tuesday",
        Wed => "wednesday",
        Thu => "thursday",
        Fri => "friday",
        Sat => "saturday",
        Sun => "sunday",
    }
}

/// Where callers may come from. Empty allow lists allow everyone; deny wins.
/// States are two-letter codes; ZIP entries match as prefixes (`"100"` covers 100xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeoFilter {
    /// Only these states, when not empty.
    #[serde(default)]
    pub allow_states: Vec<String>,
    /// Never these states.
    #[serde(default)]
    pub deny_states: Vec<String>,
    /// Only these ZIP prefixes, when not empty.
    #[serde(default)]
    pub allow_zips: Vec<String>,
    /// Never these ZIP prefixes.
    #[serde(default)]
    pub deny_zips: Vec<String>,
}

/// How many calls a buyer or an RTB target takes, periods in its local time;
/// none = unlimited.
// Flattened into its owner's JSON (`dailyCap` beside `name`), so it denies
// no unknown fields itself (its owner's would reach it): the owner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Caps {
    /// Calls at once; none = unlimited.
    #[serde(default)]
    pub concurrency_limit: Option<u32>,
    /// Calls per local clock hour.
    #[serde(default)]
    pub hourly_cap: Option<u32>,
    /// Calls per local day.
    #[serde(default)]
    pub daily_cap: Option<u32>,
    /// Calls per local calendar month.
    #[serde(default)]
    pub monthly_cap: Option<u32>,
    /// Calls ever.
    #[serde(default)]
    pub total_cap: Option<u32>,
}

/// A company that takes calls at a phone number, within its caps and hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Buyer {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant.
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
    /// Where calls are dialed.
    #[schema(value_type = String, example = "+15550002001")]
    pub phone_number: PhoneNumber,
    /// Whether it takes calls.
    #[serde(default)]
    pub status: BuyerStatus,
    /// IANA time zone for schedule and cap resets.
    #[schema(value_type = String, example = "America/New_York")]
    pub timezone: Tz,
    /// Concurrency and per-period caps, as flat fields.
    #[serde(flatten)]
    pub caps: Caps,
    /// Hours of operation; none = always open.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Caller geography.
    #[serde(default)]
    pub geo: GeoFilter,
    /// Tag filters: the buyer takes a call only when all of them match its
    /// tags (skills-based routing: `language in [es]`).
    #[serde(default)]
    pub filters: Vec<TagFilter>,
    /// Talk time, in seconds, after which a call counts as converted.
    #[serde(default)]
    pub conversion_seconds: u32,
    /// What the buyer pays per converted call (the network's revenue), in
    /// minor units. Documents stored before the rename name it `payout`.
    #[serde(default, with = "money::decimal", alias = "payout")]
    #[schema(value_type = f64, example = 25.5)]
    pub revenue: i64,
    /// Currency of the revenue.
    #[serde(default)]
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
    /// Optimistic-concurrency version.
    #[serde(default)]
    pub version: u64,
}

impl Buyer {
    /// Checks every field, listing all problems at once.
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        self.caps.validate(&mut errors);
        crate::tags::validate_filters("filters", &self.filters, &mut errors);
        if self.revenue < 0 {
            errors.push(FieldError::new("revenue", "must not be negative"));
        }
        if let Some(s) = &self.schedule {
            s.validate(&mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Invalid(errors))
        }
    }
}

impl Caps {
    /// Lists what is wrong with these caps: none is 0 (absent means
    /// unlimited), and no shorter period's cap exceeds a longer one's, which
    /// could never be reached.
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        if self.concurrency_limit == Some(0) {
            errors.push(FieldError::new(
                "concurrencyLimit",
                "must be at least 1 (leave empty for unlimited)",
            ));
        }
        let caps = [
            ("hourlyCap", self.hourly_cap),
            ("dailyCap", self.daily_cap),
            ("monthlyCap", self.monthly_cap),
            ("totalCap", self.total_cap),
        ];
        let mut prev: Option<(&str, u32)> = None;
        for (name, cap) in caps {
            match cap {
                Some(0) => errors.push(FieldError::new(
                    name,
                    "must be at least 1 (leave empty for no cap)",
                )),
                Some(cap) => {
                    if let Some((pname, pcap)) = prev
                        && pcap > cap
                    {
                        errors.push(FieldError::new(
                            pname,
                            format!("must not exceed {name} ({cap})"),
                        ));
                    }
                    prev = Some((name, cap));
                }
                None => {}
            }
        }
    }
}

/// Lifecycle of a campaign; only active campaigns route calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Being configured.
    #[default]
    Draft,
    /// Routes calls.
    Active,
    /// Temporarily rejects calls.
    Paused,
    /// Finished; rejects calls.
    Completed,
}

/// How calls reach the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoutingType {
    /// One tracking number.
    #[default]
    Direct,
    /// Any number of a number pool (DNI).
    Pool,
    /// Real-time auction among external bidders.
    Rtb,
}

/// How buyers are ordered for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingPolicy {
    /// Lowest priority number first; weighted random within a level.
    #[default]
    Priority,
    /// In turn, skipping buyers that cannot take the call.
    RoundRobin,
}

/// Which caller id the buyer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CallerIdMode {
    /// The original caller's number.
    #[default]
    Caller,
    /// The tracking number that was dialed.
    TrackingNumber,
}

/// What happens to a repeat caller inside the duplicate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicateAction {
    /// Goes to the buyer that took the first call (others if it cannot).
    #[default]
    SameBuyer,
    /// Is politely refused.
    Reject,
}

/// A buyer's place in a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuyerAssignment {
    /// The buyer.
    #[schema(value_type = String, format = Uuid)]
    pub buyer_id: Id,
    /// 1 is tried first.
    #[serde(default = "one")]
    pub priority: u32,
    /// Share of traffic within a priority level.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}
fn default_dial_timeout() -> u32 {
    30
}
fn default_max_fallthrough() -> u32 {
    3
}

/// A tracking number (or pool) and the rules for where its calls go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Campaign {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Id,
    /// Owning tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: Id,
    /// Display name, unique per tenant.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Lifecycle.
    #[serde(default)]
    pub status: CampaignStatus,
    /// Direct, pool or RTB.
    #[serde(default)]
    pub routing_type: RoutingType,
    /// The tracking number, for direct routing.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<PhoneNumber>,
    /// The number pool, for pool routing.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub pool_id: Option<Id>,
    /// The RTB router, for RTB routing.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub rtb_router_id: Option<Id>,
    /// Priority or round-robin.
    #[serde(default)]
    pub routing_policy: RoutingPolicy,
    /// Buyers that may take its calls.
    #[serde(default)]
    pub buyers: Vec<BuyerAssignment>,
    /// Record dialed calls.
    #[serde(default)]
    pub recording: bool,
    /// Seconds a buyer's phone rings before the next one is tried.
    #[serde(default = "default_dial_timeout")]
    pub dial_timeout_seconds: u32,
    /// Caller id shown to buyers.
    #[serde(default)]
    pub caller_id_mode: CallerIdMode,
    /// Repeat callers within this many hours are duplicates; 0 turns it off.
    #[serde(default)]
    pub duplicate_window_hours: u32,
    /// What happens to duplicates.
    #[serde(default)]
    pub duplicate_action: DuplicateAction,
    /// Further buyers tried after the first does not answer.
    #[serde(default = "default_max_fallthrough")]
    pub max_fallthrough: u32,
    /// Custom values for RTB request templates, used as `{tag:NAME}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// What its calls pay their publisher: the default rule (no
    /// `publisherId`) and per-publisher overrides of it.
    #[serde(default)]
    pub payout_rules: Vec<crate::publisher::PayoutRule>,
    /// Optimistic-concurrency version.
    #[serde(default)]
    pub version: u64,
}

impl Campaign {
    /// An active campaign routing calls to `phone_number` among `buyers`, with
    /// every other setting at its default (no recording, 30 s dial timeout,
    /// the caller's id, no duplicate window, three fall-throughs).
    pub fn direct(
        tenant_id: Id,
        name: &str,
        phone_number: PhoneNumber,
        routing_policy: RoutingPolicy,
        buyers: Vec<BuyerAssignment>,
    ) -> Self {
        Self {
            id: crate::new_id(),
            tenant_id,
            name: name.to_owned(),
            description: String::new(),
            status: CampaignStatus::Active,
            routing_type: RoutingType::Direct,
            phone_number: Some(phone_number),
            pool_id: None,
            rtb_router_id: None,
            routing_policy,
            buyers,
            recording: false,
            dial_timeout_seconds: default_dial_timeout(),
            caller_id_mode: CallerIdMode::Caller,
            duplicate_window_hours: 0,
            duplicate_action: DuplicateAction::SameBuyer,
            max_fallthrough: default_max_fallthrough(),
            tags: BTreeMap::new(),
            payout_rules: Vec::new(),
            version: 0,
        }
    }

    /// Checks the fields that make sense on their own (not references to other resources).
    pub fn validate(&self) -> Result<(), ModelError> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        if !(5..=120).contains(&self.dial_timeout_seconds) {
            errors.push(FieldError::new(
                "dialTimeoutSeconds",
                "must be between 5 and 120",
            ));
        }
        if self.max_fallthrough > 10 {
            errors.push(FieldError::new("maxFallthrough", "must be at most 10"));
        }
        if self.duplicate_window_hours > 24 * 90 {
            errors.push(FieldError::new(
                "duplicateWindowHours",
                "must be at most 2160 (90 days)",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.buyers.iter().enumerate() {
            if !seen.insert(a.buyer_id) {
                errors.push(FieldError::new(
                    format!("buyers[{i}].buyerId"),
                    "is assigned twice",
                ));
            }
            if a.weight == 0 {
                errors.push(FieldError::new(
                    format!("buyers[{i}].weight"),
                    "must be at least 1",
                ));
            }
            if a.priority == 0 {
                errors.push(FieldError::new(
                    format!("buyers[{i}].priority"),
                    "must be at least 1",
                ));
            }
        }
        crate::publisher::validate_rules(&self.payout_rules, &mut errors);
        match self.routing_type {
            RoutingType::Direct
                if self.phone_number.is_none() && self.status == CampaignStatus::Active =>
            {
                errors.push(FieldError::new(
                    "phoneNumber",
                    "is required for direct routing",
                ));
            }
            RoutingType::Pool
                if self.pool_id.is_none() && self.status == CampaignStatus::Active =>
            {
                errors.push(FieldError::new("poolId", "is required for pool routing"));
            }
            RoutingType::Rtb
                if self.rtb_router_id.is_none() && self.status == CampaignStatus::Active =>
            {
                errors.push(FieldError::new(
                    "rtbRouterId",
                    "is required for rtb routing",
                ));
            }
            _ => {}
        }
        if self.tags.len() > 50 {
            errors.push(FieldError::new("tags", "must have at most 50 entries"));
        }
        for (name, value) in &self.tags {
            if !crate::tags::valid_tag_name(name) {
                errors.push(FieldError::new(
                    format!("tags.{name}"),
                    crate::tags::TAG_NAME_RULE,
                ));
            }
            if value.len() > 1024 {
                errors.push(FieldError::new(
                    format!("tags.{name}"),
                    "must be at most 1024 bytes",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Invalid(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer() -> Buyer {
        serde_json::from_value(serde_json::json!({
            "id": crate::new_id(), "tenantId": crate::new_id(), "name": "Acme",
            "phoneNumber": "(555) 000-2001", "timezone": "America/New_York",
            "concurrencyLimit": 2, "dailyCap": 100, "revenue": 25.5,
            "schedule": {"monday": [{"open": "09:00", "close": "17:00"}]}
        }))
        .unwrap()
    }

    #[test]
    fn buyer_json_is_normalized() {
        let b = buyer();
        assert_eq!(b.phone_number.as_str(), "+15550002001");
        assert_eq!(b.revenue, 2550);
        assert_eq!(b.timezone, chrono_tz::America::New_York);
        assert_eq!(
            b.schedule.as_ref().unwrap().monday[0].close,
            TimeOfDay(17 * 60)
        );
        b.validate().unwrap();
    }

    #[test]
    fn buyer_validation_lists_every_problem() {
        let mut b = buyer();
        b.name = " ".into();
        b.caps.concurrency_limit = Some(0);
        b.caps.hourly_cap = Some(50);
        b.caps.daily_cap = Some(10);
        let Err(ModelError::Invalid(errs)) = b.validate() else {
            panic!("expected errors")
        };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "concurrencyLimit", "hourlyCap"]);
    }

    #[test]
    fn caps_are_flat_fields_of_the_buyer() {
        let b = buyer();
        assert_eq!(
            b.caps,
            Caps {
                concurrency_limit: Some(2),
                daily_cap: Some(100),
                ..Caps::default()
            }
        );
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(
            (v["concurrencyLimit"].as_u64(), v["dailyCap"].as_u64()),
            (Some(2), Some(100))
        );
        assert!(v["hourlyCap"].is_null() && v.get("caps").is_none());
        assert_eq!(serde_json::from_value::<Buyer>(v).unwrap(), b);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<Buyer, _> = serde_json::from_value(serde_json::json!({
            "id": crate::new_id(), "tenantId": crate::new_id(), "name": "Acme",
            "phoneNumber": "+15550002001", "timezone": "UTC", "dailycap": 5
        }));
        assert!(r.unwrap_err().to_string().contains("dailycap"));
    }

    #[test]
    fn times_of_day() {
        assert_eq!(TimeOfDay::parse("24:00"), Ok(TimeOfDay(1440)));
        assert!(TimeOfDay::parse("24:01").is_err());
        assert!(TimeOfDay::parse("9:00").is_err());
        assert!(TimeOfDay::parse("09:60").is_err());
        for bad in ["+9:00", "1:000", "09:+5", "0900 "] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad}");
        }
    }
}
