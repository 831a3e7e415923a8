//! Switchboard's plain data and its validation.
//!
//! - [`phone`]: E.164 numbers, normalized from the forms people type.
//! - [`money`]: integer minor units with an explicit currency; decimal in JSON.
//! - [`config`]: what managers configure — tenants, buyers, campaigns.
//! - [`call`]: what the engine records — calls and their dial attempts.
//! - [`accounts`]: roles and the audit log.
//! - [`bid`]: what an RTB auction records — one request row, one response row per target.
//! - [`resources`]: numbers, pools, RTB targets and routers, tracking tags.
//! - [`tags`]: a call's tags and the routing filters over them.
//! - [`publisher`]: publishers, and how a call finds its own.
//! - [`prng`]: the one seedable PRNG (SplitMix64).
//! - [`blocklist`]: callers a tenant refuses.
//! - [`event`]: call events, what pixels and the live stream carry.
//! - [`report`]: what a call adds to the report rollups, and which events a record marks.
//!
//! Every type here is both the stored form and the API form (JSON, camelCase).
//! No I/O, no clocks: callers pass time in.

pub mod accounts;
pub mod bid;
pub mod blocklist;
pub mod call;
pub mod config;
pub mod event;
pub mod money;
pub mod phone;
pub mod pixel;
pub mod prng;
pub mod publisher;
pub mod report;
pub mod resources;
pub mod tags;

pub use accounts::{AuditEntry, Role};
pub use bid::{BidFilter, BidRequestRecord, BidResponseRecord};
pub use blocklist::{BlockTarget, BlocklistEntry};
pub use call::{
    Adjustment, Attempt, AttemptOutcome, CallRecord, CallStatus, CallerInfo, Refusal, RejectReason,
    Skipped,
};
pub use config::{
    Buyer, BuyerAssignment, BuyerStatus, CallerIdMode, Campaign, CampaignStatus, Caps,
    DuplicateAction, GeoFilter, RoutingPolicy, RoutingType, Schedule, Tenant, TimeWindow,
};
pub use money::Currency;
pub use phone::PhoneNumber;
pub use pixel::{Delivery, DeliveryState, Pixel, PixelStatus};
pub use publisher::{Publisher, PublisherStatus};
pub use resources::{
    AuthType, BodyFormat, ContentType, HttpMethod, Number, NumberFormat, Pool, ResourceStatus,
    RouterTarget, RtbRouter, RtbTarget, TrackingTag,
};
pub use tags::{CallTags, FilterOp, TagFilter};

/// Identifier of every stored thing: a UUIDv7, so ids sort by creation time.
pub type Id = uuid::Uuid;

/// A fresh, time-ordered id.
pub fn new_id() -> Id {
    uuid::Uuid::now_v7()
}

/// A field that failed validation, with a message a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The JSON field name (camelCase), dotted for nested fields.
    pub field: String,
    /// What is wrong with it, lowercase, no trailing period.
    pub message: String,
}

impl FieldError {
    /// A field error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How a failure reads to a client, whichever crate's error it is: each
/// crate's error enum says which of these each of its variants is (its
/// `code()`, matched without a wildcard, so a new variant does not compile
/// until it is classified), and the HTTP layer maps each to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceErrorCode {
    /// The request is malformed (400 `bad_request`).
    BadRequest,
    /// No such thing (404 `not_found`).
    NotFound,
    /// No such call (404 `unknown_call`).
    UnknownCall,
    /// A value failed validation (422 `invalid`).
    Invalid,
    /// Taken, in use, or refers to what does not exist (409 `conflict`).
    Conflict,
    /// The stated version is not the current one (409 `version_conflict`).
    VersionConflict,
    /// Too busy, or a peer is unreachable: retry (503 `overloaded`).
    Overloaded,
    /// The store failed: retry (503 `store_unavailable`).
    StoreUnavailable,
    /// The carrier's API failed (502 `twilio_error`).
    Carrier,
}

impl ServiceErrorCode {
    /// The `code` of the JSON error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceErrorCode::BadRequest => "bad_request",
            ServiceErrorCode::NotFound => "not_found",
            ServiceErrorCode::UnknownCall => "unknown_call",
            ServiceErrorCode::Invalid => "invalid",
            ServiceErrorCode::Conflict => "conflict",
            ServiceErrorCode::VersionConflict => "version_conflict",
            ServiceErrorCode::Overloaded => "overloaded",
            ServiceErrorCode::StoreUnavailable => "store_unavailable",
            ServiceErrorCode::Carrier => "twilio_error",
        }
    }
}

/// The model's one error type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    /// A phone number that is not E.164 and cannot be normalized to it.
    #[error("invalid phone number {0:?}: expected E.164 such as +15550001000")]
    InvalidPhone(String),
    /// A money amount that is not a decimal with at most the currency's minor digits.
    #[error("invalid amount {0:?}")]
    InvalidAmount(String),
    /// A currency that is not a supported ISO 4217 code.
    #[error("unsupported currency {0:?}")]
    InvalidCurrency(String),
    /// A time of day that is not HH:MM between 00:00 and 24:00.
    #[error("invalid time of day {0:?}: expected HH:MM")]
    InvalidTime(String),
    /// One or more fields failed validation.
    #[error("validation failed: {}", .0.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

/// A time-limited claim on a name, stored so every node sees the same one:
/// which node owns a shard of buyer capacity, or that a node is alive (and
/// where it can be reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What is claimed, e.g. `shard/7` or `node/<id>`.
    pub name: String,
    /// Who holds it (a node id, or for `node/…` leases the node's URL).
    pub holder: String,
    /// When it lapses unless renewed (UTC).
    pub expires: chrono::DateTime<chrono::Utc>,
    /// Bumped each time the holder changes: a fencing token.
    pub epoch: u64,
}
