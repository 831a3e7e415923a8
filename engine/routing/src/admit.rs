//! The buyer actor's decision: may this buyer (or RTB target) take this call attempt now?

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use switchboard_model::tags::first_failing;
use switchboard_model::{
    Buyer, BuyerStatus, CallerInfo, Caps, GeoFilter, Id, ResourceStatus, RtbTarget, Schedule,
    TagFilter,
};

use crate::caps::{CapCounters, Refusal, ReservationKey};
use crate::geo::geo_allows;
use crate::schedule::is_open;

/// What a buyer actor judges an attempt by: what every thing that takes calls
/// (a buyer, an RTB target) has in common. Where a call is then dialed is
/// not here: a buyer's number, or the number an RTB target bid with.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// The buyer's or target's id.
    pub id: Id,
    /// Whether it takes calls: its status is active.
    pub active: bool,
    /// IANA time zone of its schedule and cap periods.
    pub timezone: Tz,
    /// Concurrency and per-period caps.
    pub caps: Caps,
    /// Hours of operation; none = always open.
    pub schedule: Option<Schedule>,
    /// Caller geography.
    pub geo: GeoFilter,
    /// Tag filters, all of which the call's tags must match.
    pub filters: Vec<TagFilter>,
}

impl From<&Buyer> for Capacity {
    fn from(b: &Buyer) -> Self {
        Self {
            id: b.id,
            active: b.status == BuyerStatus::Active,
            timezone: b.timezone,
            caps: b.caps,
            schedule: b.schedule.clone(),
            geo: b.geo.clone(),
            filters: b.filters.clone(),
        }
    }
}

impl From<&RtbTarget> for Capacity {
    fn from(t: &RtbTarget) -> Self {
        Self {
            id: t.id,
            active: t.status == ResourceStatus::Active,
            timezone: t.timezone,
            caps: t.caps,
            schedule: t.schedule.clone(),
            geo: t.geo.clone(),
            filters: t.filters.clone(),
        }
    }
}

impl Capacity {
    /// Whether it takes this caller now, caps aside: active (else Paused),
    /// schedule open (else Closed), geo allowed (else Geo), every tag filter
    /// matching the call's tags (else Filtered). Call-independent checks
    /// first, so a refusal names the most fundamental reason. Geo is the
    /// location case of the filters, kept as its own field with its own
    /// rules (ZIP prefixes, unknown locations refused by an allow list).
    pub fn open_to(&self, caller: &CallerInfo, now: DateTime<Utc>) -> Result<(), Refusal> {
        if !self.active {
            return Err(Refusal::Paused);
        }
        if !is_open(self.schedule.as_ref(), self.timezone, now) {
            return Err(Refusal::Closed);
        }
        if !geo_allows(&self.geo, caller.state.as_deref(), caller.zip.as_deref()) {
            return Err(Refusal::Geo);
        }
        if first_failing(&self.filters, &caller.tags).is_some() {
            return Err(Refusal::Filtered);
        }
        Ok(())
    }
}

/// The buyer actor's whole decision for one attempt: [`Capacity::open_to`],
/// then caps via try_reserve.
///
/// A retry of an attempt whose reservation is already held succeeds at once,
/// even if the buyer has since paused or closed: the reservation was granted
/// and is given back through `release`, not here. A buyer or target that is
/// not active (paused, inactive) is refused as [`Refusal::Paused`].
pub fn admit(
    capacity: &Capacity,
    counters: &mut CapCounters,
    caller: &CallerInfo,
    now: DateTime<Utc>,
    key: ReservationKey,
    expires_at: DateTime<Utc>,
) -> Result<(), Refusal> {
    if counters.is_held(key) {
        return Ok(());
    }
    capacity.open_to(caller, now)?;
    counters.try_reserve(&capacity.caps, capacity.timezone, now, key, expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn buyer() -> Buyer {
        Buyer {
            id: Id::from_u128(1),
            tenant_id: Id::from_u128(2),
            name: "Acme".into(),
            company: String::new(),
            contact: String::new(),
            phone_number: switchboard_model::PhoneNumber::parse("+15550002001")
                .expect("valid number"),
            status: BuyerStatus::Active,
            timezone: chrono_tz::America::New_York,
            caps: Caps::default(),
            // Weekdays 9-17 New York.
            schedule: Some(Schedule {
                saturday: vec![],
                sunday: vec![],
                ..Schedule::every_day("09:00", "17:00").expect("valid schedule")
            }),
            geo: GeoFilter {
                allow_states: vec!["NY".into()],
                ..GeoFilter::default()
            },
            filters: vec![],
            conversion_seconds: 60,
            revenue: 2500,
            currency: Default::default(),
            version: 0,
        }
    }

    fn caller(state: &str) -> CallerInfo {
        CallerInfo {
            from: "+15551230000".into(),
            state: Some(state.into()),
            zip: Some("10001".into()),
            tags: Default::default(),
        }
    }

    /// Monday 2024-01-08 12:00 New York.
    fn monday_noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 8, 17, 0, 0)
            .single()
            .expect("valid time")
    }

    fn key(n: u16) -> ReservationKey {
        (Id::from_u128(99), n)
    }

    fn try_admit(
        b: &Buyer,
        c: &mut CapCounters,
        who: &CallerInfo,
        now: DateTime<Utc>,
        n: u16,
    ) -> Result<(), Refusal> {
        let profile = Capacity::from(b);
        admit(
            &profile,
            c,
            who,
            now,
            key(n),
            now + chrono::Duration::hours(1),
        )
    }

    #[test]
    fn admits_and_reserves() {
        let mut c = CapCounters::new();
        assert_eq!(
            try_admit(&buyer(), &mut c, &caller("NY"), monday_noon(), 0),
            Ok(())
        );
        assert_eq!(c.active(), 1);
        assert!(c.is_held(key(0)));
    }

    #[test]
    fn paused_and_inactive_buyers_refuse() {
        for status in [BuyerStatus::Paused, BuyerStatus::Inactive] {
            let b = Buyer { status, ..buyer() };
            let mut c = CapCounters::new();
            assert_eq!(
                try_admit(&b, &mut c, &caller("NY"), monday_noon(), 0),
                Err(Refusal::Paused)
            );
            assert_eq!(c.active(), 0, "a refusal reserves nothing");
        }
    }

    #[test]
    fn closed_outside_hours() {
        let mut c = CapCounters::new();
        let saturday = Utc
            .with_ymd_and_hms(2024, 1, 13, 17, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            try_admit(&buyer(), &mut c, &caller("NY"), saturday, 0),
            Err(Refusal::Closed)
        );
        let monday_8am = Utc
            .with_ymd_and_hms(2024, 1, 8, 13, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            try_admit(&buyer(), &mut c, &caller("NY"), monday_8am, 0),
            Err(Refusal::Closed)
        );
        assert_eq!(
            c.snapshot(chrono_tz::America::New_York, monday_8am).total,
            0
        );
    }

    #[test]
    fn geo_refusal() {
        let mut c = CapCounters::new();
        assert_eq!(
            try_admit(&buyer(), &mut c, &caller("CA"), monday_noon(), 0),
            Err(Refusal::Geo)
        );
        let unknown = CallerInfo {
            state: None,
            ..caller("NY")
        };
        assert_eq!(
            try_admit(&buyer(), &mut c, &unknown, monday_noon(), 0),
            Err(Refusal::Geo)
        );
        assert_eq!(c.active(), 0);
    }

    #[test]
    fn a_buyer_takes_only_calls_its_filters_match() {
        let spanish = Buyer {
            filters: vec![TagFilter {
                tag: "language".into(),
                op: switchboard_model::FilterOp::In,
                values: vec!["es".into()],
            }],
            ..buyer()
        };
        let with = |lang: &str| CallerInfo {
            tags: [("language".to_owned(), lang.to_owned())].into(),
            ..caller("NY")
        };
        let mut c = CapCounters::new();
        assert_eq!(
            try_admit(&spanish, &mut c, &with("en"), monday_noon(), 0),
            Err(Refusal::Filtered)
        );
        assert_eq!(
            try_admit(&spanish, &mut c, &caller("NY"), monday_noon(), 1),
            Err(Refusal::Filtered),
            "a call without the tag"
        );
        assert_eq!(c.active(), 0, "a refusal reserves nothing");
        assert_eq!(
            try_admit(&spanish, &mut c, &with("ES"), monday_noon(), 2),
            Ok(())
        );
        assert_eq!(
            try_admit(&spanish, &mut c, &with("es"), monday_noon(), 2),
            Ok(()),
            "geo is still checked first: NY passes"
        );
        assert_eq!(
            try_admit(
                &spanish,
                &mut c,
                &CallerInfo {
                    tags: with("es").tags,
                    ..caller("CA")
                },
                monday_noon(),
                3
            ),
            Err(Refusal::Geo)
        );
    }

    proptest::proptest! {
        /// Filters only ever narrow: a buyer with filters admits a call only
        /// if the same buyer without them does, and exactly when every
        /// filter matches.
        #[test]
        fn filters_narrow_and_decide_exactly(
            lang in proptest::sample::select(vec!["es", "en", "fr", ""]),
            want in proptest::collection::vec(proptest::sample::select(vec!["es", "en", "de"]), 1..3),
            op in proptest::sample::select(vec!["eq", "in", "notIn", "exists", "prefix"]),
        ) {
            let filter = TagFilter {
                tag: "language".into(),
                op: switchboard_model::FilterOp::from(op.to_owned()),
                values: if op == "exists" { vec![] } else { want.iter().map(|w| w.to_string()).collect() },
            };
            let filtered = Buyer { filters: vec![filter.clone()], ..buyer() };
            let mut who = caller("NY");
            who.tags.insert("language".into(), lang.into());
            let plain = try_admit(&buyer(), &mut CapCounters::new(), &who, monday_noon(), 0);
            let got = try_admit(&filtered, &mut CapCounters::new(), &who, monday_noon(), 0);
            proptest::prop_assert!(plain.is_ok());
            proptest::prop_assert_eq!(got.is_ok(), filter.matches(&who.tags));
            if got.is_err() {
                proptest::prop_assert_eq!(got, Err(Refusal::Filtered));
            }
        }
    }

    #[test]
    fn status_is_checked_before_schedule_and_schedule_before_geo() {
        let saturday = Utc
            .with_ymd_and_hms(2024, 1, 13, 17, 0, 0)
            .single()
            .expect("valid");
        let mut c = CapCounters::new();
        let paused = Buyer {
            status: BuyerStatus::Paused,
            ..buyer()
        };
        assert_eq!(
            try_admit(&paused, &mut c, &caller("CA"), saturday, 0),
            Err(Refusal::Paused)
        );
        assert_eq!(
            try_admit(&buyer(), &mut c, &caller("CA"), saturday, 0),
            Err(Refusal::Closed)
        );
    }

    #[test]
    fn each_cap_refusal() {
        let now = monday_noon();
        let cases = [
            (
                Buyer {
                    caps: Caps {
                        concurrency_limit: Some(1),
                        ..Caps::default()
                    },
                    ..buyer()
                },
                Refusal::Concurrency,
            ),
            (
                Buyer {
                    caps: Caps {
                        hourly_cap: Some(1),
                        ..Caps::default()
                    },
                    ..buyer()
                },
                Refusal::Hourly,
            ),
            (
                Buyer {
                    caps: Caps {
                        daily_cap: Some(1),
                        ..Caps::default()
                    },
                    ..buyer()
                },
                Refusal::Daily,
            ),
            (
                Buyer {
                    caps: Caps {
                        monthly_cap: Some(1),
                        ..Caps::default()
                    },
                    ..buyer()
                },
                Refusal::Monthly,
            ),
            (
                Buyer {
                    caps: Caps {
                        total_cap: Some(1),
                        ..Caps::default()
                    },
                    ..buyer()
                },
                Refusal::Total,
            ),
        ];
        for (b, refusal) in cases {
            let mut c = CapCounters::new();
            assert_eq!(try_admit(&b, &mut c, &caller("NY"), now, 0), Ok(()));
            if refusal != Refusal::Concurrency {
                // Answered and hung up: the slot is free, the count stays.
                assert!(c.release(key(0), true));
            }
            assert_eq!(
                try_admit(&b, &mut c, &caller("NY"), now, 1),
                Err(refusal),
                "{refusal}"
            );
        }
    }

    #[test]
    fn retry_of_a_held_attempt_is_ok_even_after_pausing() {
        let mut b = Buyer {
            caps: Caps {
                concurrency_limit: Some(1),
                ..Caps::default()
            },
            ..buyer()
        };
        let mut c = CapCounters::new();
        assert_eq!(
            try_admit(&b, &mut c, &caller("NY"), monday_noon(), 0),
            Ok(())
        );
        b.status = BuyerStatus::Paused;
        assert_eq!(
            try_admit(&b, &mut c, &caller("NY"), monday_noon(), 0),
            Ok(())
        );
        assert_eq!(
            c.snapshot(b.timezone, monday_noon()).total,
            1,
            "counted once"
        );
        assert_eq!(
            try_admit(&b, &mut c, &caller("NY"), monday_noon(), 1),
            Err(Refusal::Paused)
        );
    }

    #[test]
    fn capacity_of_a_buyer() {
        let caps = Caps {
            concurrency_limit: Some(3),
            hourly_cap: Some(4),
            total_cap: Some(7),
            ..Caps::default()
        };
        let b = Buyer { caps, ..buyer() };
        let p = Capacity::from(&b);
        assert_eq!(
            (p.id, p.active, p.timezone, p.caps),
            (b.id, true, b.timezone, caps)
        );
        assert_eq!((p.schedule, p.geo), (b.schedule, b.geo));
        for status in [BuyerStatus::Paused, BuyerStatus::Inactive] {
            assert!(!Capacity::from(&Buyer { status, ..buyer() }).active);
        }
    }

    #[test]
    fn refusal_names() {
        let all = [
            (Refusal::Paused, "paused"),
            (Refusal::Closed, "closed"),
            (Refusal::Geo, "geo"),
            (Refusal::Concurrency, "concurrency"),
            (Refusal::Hourly, "hourly-cap"),
            (Refusal::Daily, "daily-cap"),
            (Refusal::Monthly, "monthly-cap"),
            (Refusal::Total, "total-cap"),
        ];
        for (r, name) in all {
            assert_eq!(r.as_str(), name);
            assert_eq!(r.to_string(), name);
        }
    }
}
