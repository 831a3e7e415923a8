//! What admin handlers take from a request: who is asking ([`Auth`], or
//! [`Scoped`] for the few handlers a publisher's login may also use), a JSON
//! body whose every rejection is our 400 ([`Json`]), a page of a list
//! ([`PageQuery`], [`List`]), the id in a path ([`ResourceId`]) and the
//! version a write expects ([`if_match`]).

use axum::extract::rejection::QueryRejection;
use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_model::{Id, Role};

use crate::error::ApiError;
use crate::server::AppState;

/// A JSON body. Malformed JSON, a wrong content type, an unknown field or a
/// wrong type is a 400 in the house error shape, and a body over
/// [`ADMIN_BODY_LIMIT`](super::ADMIN_BODY_LIMIT) a 413 `payload_too_large`;
/// as a response it is `application/json`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json<T>(pub(crate) T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::Body {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!(
                        "the request body is larger than the {} MiB the admin api accepts",
                        super::ADMIN_BODY_LIMIT / (1024 * 1024)
                    ),
                })
            }
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text().to_lowercase())),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Who made the request: a signed-in user or an API key, always within one tenant.
///
/// As an extractor it admits staff only: a publisher's login is refused
/// with 403 before the handler runs, so a handler is closed to publishers
/// unless it asks for [`Scoped`] instead (the allow-list), and must then
/// narrow what it answers to [`Auth::publisher`].
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    /// The only tenant whose resources this request may see or change.
    pub(crate) tenant_id: Id,
    /// What it may do.
    pub(crate) role: Role,
    /// Who it is.
    pub(crate) principal: Principal,
    /// For the `publisher` role (and only it): the one publisher whose
    /// things this request may see.
    pub(crate) publisher: Option<Id>,
}

/// A request a publisher's login may also make: staff of any role, or a
/// publisher, whose answer the handler narrows to `auth.publisher`.
#[derive(Debug, Clone)]
pub(crate) struct Scoped(pub(crate) Auth);

/// What a [`Scoped`] request may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// All of the tenant's (a staff role, viewer or above).
    Tenant,
    /// Only this publisher's things.
    Publisher(Id),
}

impl Scope {
    /// Whether a thing attributed to `publisher` is in scope.
    pub(crate) fn sees(self, publisher: Option<Id>) -> bool {
        match self {
            Scope::Tenant => true,
            Scope::Publisher(p) => publisher == Some(p),
        }
    }
}

/// The 403 of everything a publisher's login may not use.
fn publisher_refused() -> ApiError {
    ApiError::Forbidden(
        "a publisher's login reads only its own calls, numbers and publisher".into(),
    )
}

/// The identity behind a request.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// A console user with a session cookie.
    User {
        /// The user's id.
        id: Id,
        /// Their login name.
        username: String,
        /// The session the cookie names.
        session: Id,
    },
    /// A machine with `Authorization: Bearer …`.
    ApiKey {
        /// The key's id (what per-key rate limits count by).
        id: Id,
        /// Its name.
        name: String,
        /// The publisher it sends traffic for, if any.
        publisher: Option<Id>,
    },
}

impl Auth {
    /// Refuses with 403 unless the caller's role is a staff role of at
    /// least `min` (never a publisher: see [`Role::at_least`]).
    pub(crate) fn require(&self, min: Role) -> Result<(), ApiError> {
        if self.publisher.is_some() {
            Err(publisher_refused())
        } else if self.role.at_least(min) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role; yours is {}",
                min.as_str(),
                self.role.as_str()
            )))
        }
    }

    /// What the caller may see: a publisher only its own things; staff
    /// everything of its tenant, if it may read at all.
    pub(crate) fn scope(&self) -> Result<Scope, ApiError> {
        match self.publisher {
            Some(p) => Ok(Scope::Publisher(p)),
            None => self.require(Role::Viewer).map(|()| Scope::Tenant),
        }
    }

    /// How the audit log names the caller: `user:<username>` or `api-key:<name>`.
    pub(crate) fn actor(&self) -> String {
        match &self.principal {
            Principal::User { username, .. } => format!("user:{username}"),
            Principal::ApiKey { name, .. } => format!("api-key:{name}"),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = super::auth::authenticate(parts, state).await?;
        if auth.publisher.is_some() || auth.role == Role::Publisher {
            return Err(publisher_refused());
        }
        Ok(auth)
    }
}

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        super::auth::authenticate(parts, state).await.map(Scoped)
    }
}

/// A query string; every rejection is our 400 (handlers take
/// `Result<Query<T>, QueryRejection>` so that axum's plain-text rejection
/// never reaches a client).
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text().to_lowercase()))
}

/// `?cursor=…&limit=…` of a list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Where the page starts: the `nextCursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// Most items on the page (default 50, at most 500).
    pub(crate) limit: Option<u32>,
}

impl PageQuery {
    /// The page size, clamped to 1..=500.
    pub(crate) fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, 500) as usize
    }
}

/// A page of a list: `{items, nextCursor}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct List<T> {
    /// The items.
    pub(crate) items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub(crate) next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Pages `items` (any order) by their ids, ascending: ids are UUIDv7, so
    /// this is oldest first and stable while items are added.
    pub(crate) fn page(
        mut items: Vec<T>,
        id: impl Fn(&T) -> Id,
        page: &PageQuery,
    ) -> Result<Self, ApiError> {
        let after = match &page.cursor {
            Some(c) => Some(
                c.parse::<Id>()
                    .map_err(|_| ApiError::BadRequest(format!("invalid cursor {c:?}")))?,
            ),
            None => None,
        };
        items.sort_by_key(|t| id(t));
        let start = after.map_or(0, |a| items.partition_point(|t| id(t) <= a));
        let limit = page.limit();
        let rest = items.len().saturating_sub(start);
        let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
        let next_cursor = if rest > limit {
            items.last().map(|t| id(t).to_string())
        } else {
            None
        };
        Ok(Self { items, next_cursor })
    }
}

/// The version an update expects, from `If-Match: "3"` (or `3`); `None`
/// when the header is absent.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .unwrap_or("")
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    s.parse().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "if-match must be a version such as \"3\", got {s:?}"
        ))
    })
}

/// How messages name a kind of resource: `buyer`, `rtb target`, `user`.
pub(crate) trait Kind {
    /// The name in `404 {name} not found`.
    const NAME: &'static str;
    /// The answer to an id of this kind that names nothing.
    fn missing() -> ApiError {
        ApiError::NotFound(Self::NAME)
    }
}

/// The kinds addressed by id that are not stored resources of a tenant.
pub(crate) mod kinds {
    macro_rules! kind {
        ($($t:ident => $name:literal),+) => {$(
            #[doc = concat!("The `", $name, "` kind.")]
            pub(crate) struct $t;
            impl super::Kind for $t {
                const NAME: &'static str = $name;
            }
        )+};
    }
    kind!(
        User => "user",
        ApiKey => "api key",
        Session => "session",
        Call => "call",
        PixelDelivery => "pixel delivery"
    );

    /// The call a Twilio webhook's path names: unknown is `unknown_call`,
    /// as for a call found by its `CallSid`.
    pub(crate) struct WebhookCall;
    impl super::Kind for WebhookCall {
        const NAME: &'static str = "call";
        fn missing() -> crate::error::ApiError {
            crate::error::ApiError::UnknownCall
        }
    }
}

/// The `{id}` of a path, of a resource of kind `K`. Text that is not an id
/// names nothing, just like an id that does not exist: 404 `{kind} not found`.
pub(crate) struct ResourceId<K>(pub(crate) Id, pub(crate) PhantomData<K>);

impl<K: Kind, S: Send + Sync> FromRequestParts<S> for ResourceId<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| K::missing())?;
        let id = text.parse().map_err(|_| K::missing())?;
        Ok(ResourceId(id, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_by_id_with_a_cursor() {
        let ids: Vec<Id> = (0..5).map(|_| switchboard_model::new_id()).collect();
        let mut shuffled = ids.clone();
        shuffled.reverse();
        let q = PageQuery {
            cursor: None,
            limit: Some(2),
        };
        let p1 = List::page(shuffled.clone(), |i| *i, &q).unwrap();
        assert_eq!(p1.items, ids[..2]);
        let q = PageQuery {
            cursor: p1.next_cursor,
            limit: Some(2),
        };
        let p2 = List::page(shuffled.clone(), |i| *i, &q).unwrap();
        assert_eq!(p2.items, ids[2..4]);
        let q = PageQuery {
            cursor: p2.next_cursor,
            limit: Some(2),
        };
        let p3 = List::page(shuffled, |i| *i, &q).unwrap();
        assert_eq!((p3.items.as_slice(), p3.next_cursor), (&ids[4..], None));
    }

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        h.insert(header::IF_MATCH, "\"3\"".parse().unwrap());
        assert_eq!(if_match(&h).unwrap(), Some(3));
        h.insert(header::IF_MATCH, "W/\"4\"".parse().unwrap());
        assert_eq!(if_match(&h).unwrap(), Some(4));
        h.insert(header::IF_MATCH, "abc".parse().unwrap());
        assert!(if_match(&h).is_err());
    }
}
