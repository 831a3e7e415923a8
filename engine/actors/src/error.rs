//! The engine's one error type; [`EngineError::code`] classifies each
//! failure for clients, without a wildcard, so a new variant must be placed.

use switchboard_model::ModelError;
use switchboard_store::StoreError;

/// The engine's one error type.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An actor did not answer in time or its mailbox is closed: retry later (503).
    #[error("engine overloaded: {0}")]
    Overloaded(String),
    /// No call with that id or sid.
    #[error("unknown call {0}")]
    UnknownCall(String),
    /// A configuration document failed validation.
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// A configuration change refers to something that does not exist or is taken.
    #[error("{0}")]
    Reference(String),
    /// A request to another node of the cluster never reached it: nothing
    /// was applied there.
    #[error("peer unreachable: {0}")]
    PeerUnreachable(String),
    /// A request to another node may have reached it: whether anything was
    /// applied there is unknown.
    #[error("peer request failed: {0}")]
    PeerFailed(String),
    /// An inbound call's `CallSid` is held by a call of another tenant; the
    /// message says nothing of that call.
    #[error("this CallSid belongs to a call of another account")]
    CallSidTaken,
    /// The carrier's API (Twilio's REST API) failed or answered something unusable.
    #[error("carrier api: {0}")]
    Carrier(String),
}

impl EngineError {
    /// How this failure reads to a client.
    pub fn code(&self) -> switchboard_model::ServiceErrorCode {
        use switchboard_model::ServiceErrorCode as C;
        match self {
            EngineError::Store(e) => e.code(),
            EngineError::Overloaded(_)
            | EngineError::PeerUnreachable(_)
            | EngineError::PeerFailed(_) => C::Overloaded,
            EngineError::UnknownCall(_) => C::UnknownCall,
            EngineError::Invalid(_) => C::Invalid,
            EngineError::Reference(_) | EngineError::CallSidTaken => C::Conflict,
            EngineError::Carrier(_) => C::Carrier,
        }
    }
}

/// Result with [`EngineError`].
pub type Result<T> = std::result::Result<T, EngineError>;
