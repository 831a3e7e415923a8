//! Call events: what happened to a call, one name each. The store's
//! projector derives them from each new record of a call
//! ([`crate::report::events`]) in the transaction that projects it, so
//! pixels and the live stream see every event of every acknowledged call,
//! once per record that marked it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Id;

/// One kind of call event.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    /// The call arrived.
    Incoming,
    /// A buyer (or RTB winner) was dialed; once per attempt.
    Routed,
    /// A buyer answered.
    Connected,
    /// It ended after an answer.
    Completed,
    /// It converted (talk time reached the threshold, or an adjustment).
    Converted,
    /// Every buyer dialed was busy, did not answer or failed.
    NoConnect,
    /// It was refused without a buyer.
    Rejected,
    /// The caller is on the blocklist.
    Blocked,
    /// A repeat caller inside the campaign's window.
    Duplicate,
    /// Its recording is ready.
    Recording,
    /// Its payout was booked or changed.
    Payout,
    /// An RTB bidder won it.
    RtbWon,
    /// Nothing more happens to it (a recording or adjustment may still follow).
    Finalized,
}

impl EventKind {
    /// Every kind, in the order a call's events happen.
    pub const ALL: [EventKind; 13] = [
        EventKind::Incoming,
        EventKind::Routed,
        EventKind::Connected,
        EventKind::Completed,
        EventKind::Converted,
        EventKind::NoConnect,
        EventKind::Rejected,
        EventKind::Blocked,
        EventKind::Duplicate,
        EventKind::Recording,
        EventKind::Payout,
        EventKind::RtbWon,
        EventKind::Finalized,
    ];

    /// The wire name (`noConnect`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Incoming => "incoming",
            EventKind::Routed => "routed",
            EventKind::Connected => "connected",
            EventKind::Completed => "completed",
            EventKind::Converted => "converted",
            EventKind::NoConnect => "noConnect",
            EventKind::Rejected => "rejected",
            EventKind::Blocked => "blocked",
            EventKind::Duplicate => "duplicate",
            EventKind::Recording => "recording",
            EventKind::Payout => "payout",
            EventKind::RtbWon => "rtbWon",
            EventKind::Finalized => "finalized",
        }
    }

    /// A stable code, for keys.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0) as u8
    }

    /// The kind of a code.
    pub fn of_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// One event as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its place in the event log: strictly increasing, never reused.
    pub position: u64,
    /// Owning tenant.
    pub tenant: Id,
    /// The call.
    pub call_id: Id,
    /// What happened.
    pub kind: EventKind,
    /// When the record that marked it was appended.
    pub at: DateTime<Utc>,
    /// A demo-seeded call's event: shown, never postbacked.
    pub demo: bool,
}
