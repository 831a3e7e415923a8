//! [`ApiError`]: every way a request fails, mapped to a status and the JSON
//! body `{"error": {"code": "...", "message": "..."}}`.
//!
//! Overload and storage trouble are 503 with `Retry-After`, never 500: the
//! carrier (or the client) should simply try again.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_engine::EngineError;
use switchboard_model::{FieldError, ModelError, ServiceErrorCode};
use switchboard_store::StoreError;

use crate::twilio::form::FormError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A webhook body or query is missing a field or has an invalid one (400).
    #[error(transparent)]
    Form(#[from] FormError),
    /// The body could not be read: too large, or the connection failed.
    #[error("{message}")]
    Body {
        /// 413, 408 or 400.
        status: StatusCode,
        /// What happened, lowercase.
        message: String,
    },
    /// `X-Twilio-Signature` is missing or wrong (403).
    #[error("missing or invalid x-twilio-signature")]
    InvalidSignature,
    /// No tenant owns the dialed number or the account (403).
    #[error("no tenant owns this number or account")]
    UnknownTenant,
    /// The call in the URL does not exist (404).
    #[error("unknown call")]
    UnknownCall,
    /// No route has this path (404).
    #[error("no such route")]
    NoRoute,
    /// The request body or query is malformed: bad JSON, unknown field, wrong type (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid session cookie or API key (401).
    #[error("sign in or send an api key")]
    Unauthorized,
    /// Signed in, but the role or the request's origin does not allow it (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource in the caller's tenant (404). Another tenant's id
    /// gets this too: its existence is not revealed.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Fields failed validation (422), every one listed.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// The change conflicts with what exists: taken, in use, or stale (409).
    /// `If-Match` named a version that is no longer current.
    #[error("the resource was changed since the version in if-match: reload it and retry")]
    PreconditionFailed,
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; retry after this many seconds (429).
    #[error("too many attempts, retry in {0} s")]
    RateLimited(u64),
    /// Too much costly work at once (password hashing); retry shortly (503).
    #[error("{0}")]
    Busy(String),
    /// Storage failed or refused outside the engine.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Twilio's REST API refused or failed (502); the message says what Twilio said.
    #[error(transparent)]
    Twilio(#[from] crate::twilio::rest::RestError),
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [FieldError]>,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Engine(e) => by_code(e.code()),
            ApiError::Form(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Body { status, .. } if *status == StatusCode::PAYLOAD_TOO_LARGE => {
                (*status, "payload_too_large")
            }
            ApiError::Body { status, .. } if *status == StatusCode::REQUEST_TIMEOUT => {
                (*status, "request_timeout")
            }
            ApiError::Body { status, .. } => (*status, "bad_request"),
            ApiError::InvalidSignature => (StatusCode::FORBIDDEN, "invalid_signature"),
            ApiError::UnknownTenant => (StatusCode::FORBIDDEN, "unknown_tenant"),
            ApiError::UnknownCall => (StatusCode::NOT_FOUND, "unknown_call"),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PreconditionFailed => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::Store(e) => by_code(e.code()),
            ApiError::Twilio(_) => (StatusCode::BAD_GATEWAY, "twilio_error"),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Engine(EngineError::Store(StoreError::Conflict { .. }))
            | ApiError::Store(StoreError::Conflict { .. }) => {
                "the resource was changed by someone else: reload it and retry".to_owned()
            }
            ApiError::Engine(EngineError::Store(StoreError::InvalidArgument(m)))
            | ApiError::Store(StoreError::InvalidArgument(m)) => lowercase_first(m),
            // Storage internals are for the log, not the client.
            ApiError::Engine(EngineError::Store(_)) | ApiError::Store(_) => {
                "storage is unavailable, retry later".to_owned()
            }
            ApiError::Engine(EngineError::Overloaded(_)) => {
                "the engine is overloaded, retry later".to_owned()
            }
            other => lowercase_first(&other.to_string()),
        }
    }

    fn fields(&self) -> Option<&[FieldError]> {
        match self {
            ApiError::Engine(EngineError::Invalid(ModelError::Invalid(fields)))
            | ApiError::Invalid(fields) => Some(fields),
            _ => None,
        }
    }
}

/// A version conflict is the client's stale write (409); a bad cursor is
/// its mistake (400); anything else is the store's trouble (503).
/// The one status of each kind of engine or store failure.
fn by_code(code: ServiceErrorCode) -> (StatusCode, &'static str) {
    let status = match code {
        ServiceErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ServiceErrorCode::NotFound | ServiceErrorCode::UnknownCall => StatusCode::NOT_FOUND,
        ServiceErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceErrorCode::Conflict | ServiceErrorCode::VersionConflict => StatusCode::CONFLICT,
        ServiceErrorCode::Overloaded | ServiceErrorCode::StoreUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ServiceErrorCode::Carrier => StatusCode::BAD_GATEWAY,
    };
    (status, code.as_str())
}

fn lowercase_first(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if status.is_server_error() {
            tracing::warn!(error = %self, code, "request failed");
        } else {
            tracing::debug!(error = %self, code, "request refused");
        }
        let body = Body {
            error: Inner {
                code,
                message: self.message(),
                fields: self.fields(),
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::RateLimited(secs) = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn json(e: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let r = e.into_response();
        let status = r.status();
        let retry = r
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn statuses_codes_and_bodies() {
        let (s, retry, v) = json(EngineError::Overloaded("campaign timeout".into()).into()).await;
        assert_eq!(
            (s, retry.as_deref()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("1"))
        );
        assert_eq!(v["error"]["code"], "overloaded");

        let (s, retry, v) =
            json(EngineError::Store(StoreError::Backend("disk on fire".into())).into()).await;
        assert_eq!(
            (s, retry.as_deref()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("1"))
        );
        assert!(!v["error"]["message"].as_str().unwrap().contains("fire"));

        let (s, _, _) = json(EngineError::UnknownCall("x".into()).into()).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, v) = json(EngineError::Reference("Buyer does not exist.".into()).into()).await;
        assert_eq!(
            (s, v["error"]["message"].as_str()),
            (StatusCode::CONFLICT, Some("buyer does not exist"))
        );

        let invalid = ModelError::Invalid(vec![FieldError::new("name", "must not be empty")]);
        let (s, _, v) = json(EngineError::Invalid(invalid).into()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(v["error"]["fields"][0]["field"], "name");

        let (s, _, v) = json(FormError::Missing("CallSid").into()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["message"], "missing field CallSid");

        let (s, retry, v) = json(ApiError::InvalidSignature).await;
        assert_eq!((s, retry), (StatusCode::FORBIDDEN, None));
        assert_eq!(v["error"]["code"], "invalid_signature");
        assert!(v["error"].get("fields").is_none());
    }
}
