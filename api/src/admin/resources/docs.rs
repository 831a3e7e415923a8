//! The plumbing every stored resource of a tenant shares: load one of the
//! caller's tenant (or 404), list them, write with a version check, delete
//! (both through the engine, under a [`ConfigWrite`]: the configuration
//! lock, held across a handler's checks and its write);
//! the id in a path (malformed: 404, like an unknown one); the version a
//! write replaces (`If-Match` or the body's `version`, optional: without
//! either a write replaces the current version) and the `ETag` answered;
//! system-wide unique keys (a phone number's one tenant, a tag code's one
//! tag: [`switchboard_engine::claims`]); and who references what, so that a
//! delete can say what still uses a resource.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use switchboard_engine::{CheckedByWriter, ConfigWrite, claims};
use switchboard_model::{FieldError, Id, ModelError, PhoneNumber};
use switchboard_store::{ConfigKind, Doc, DocKind, StoreError};

use crate::admin::extract::{Json, Kind, if_match};
use crate::error::ApiError;
use crate::server::AppState;

/// A tenant-owned document type of this module's family: a
/// [`ConfigKind`] (store kind, identity, version, decoding) with what the
/// HTTP layer adds.
pub(crate) trait Resource: ConfigKind + Send + Sync {
    /// How messages name it: `number`, `pool`, `rtb target`, …
    const NAME: &'static str;
    /// Takes the identity of `stored`, which an update cannot change: its
    /// id, tenant and (where it has one) creation time.
    fn adopt(&mut self, stored: &Self);
    /// Its write-only fields (secrets reads never show): a `PUT` without
    /// one keeps it, an explicit `null` clears it.
    const WRITE_ONLY: &'static [&'static str] = &[];
}

macro_rules! resource {
    ($t:ty, $name:literal, $($identity:ident),+ $(; write_only = $wo:expr)?) => {
        impl Resource for $t {
            const NAME: &'static str = $name;
            $(const WRITE_ONLY: &'static [&'static str] = $wo;)?
            fn adopt(&mut self, stored: &Self) {
                $(self.$identity = stored.$identity;)+
            }
        }
    };
}

resource!(switchboard_model::Buyer, "buyer", id, tenant_id);
resource!(switchboard_model::Campaign, "campaign", id, tenant_id);
resource!(
    switchboard_model::Number,
    "number",
    id,
    tenant_id,
    created_at
);
resource!(switchboard_model::Pool, "pool", id, tenant_id, created_at);
resource!(
    switchboard_model::RtbTarget,
    "rtb target",
    id,
    tenant_id,
    created_at;
    write_only = &["authToken", "authPassword"]
);
resource!(
    switchboard_model::RtbRouter,
    "rtb router",
    id,
    tenant_id,
    created_at
);
resource!(
    switchboard_model::TrackingTag,
    "tracking tag",
    id,
    tenant_id,
    created_at
);
resource!(
    switchboard_model::BlocklistEntry,
    "blocklist entry",
    id,
    tenant_id,
    created_at
);
resource!(
    switchboard_model::Publisher,
    "publisher",
    id,
    tenant_id,
    created_at
);
resource!(switchboard_model::Pixel, "pixel", id, tenant_id, created_at);

fn decode<T: Resource>(doc: Doc) -> Result<T, ApiError> {
    Ok(T::decode(&doc)?)
}

/// One resource of `tenant`, if it exists there.
pub(crate) async fn get<T: Resource>(
    state: &AppState,
    tenant: Id,
    id: Id,
) -> Result<Option<T>, ApiError> {
    match state.engine.store().get_doc(T::KIND, tenant, id).await? {
        Some(doc) => decode(doc).map(Some),
        None => Ok(None),
    }
}

/// One resource of `tenant`, or 404 (also for another tenant's id).
pub(crate) async fn load<T: Resource>(state: &AppState, tenant: Id, id: Id) -> Result<T, ApiError> {
    get(state, tenant, id)
        .await?
        .ok_or(ApiError::NotFound(T::NAME))
}

/// Every resource of the kind of `tenant`.
pub(crate) async fn list<T: Resource>(state: &AppState, tenant: Id) -> Result<Vec<T>, ApiError> {
    state
        .engine
        .store()
        .list_docs(T::KIND, Some(tenant))
        .await?
        .into_iter()
        .map(decode)
        .collect()
}

/// What an update of `id` replaces: the stored resource of `tenant` (404
/// otherwise), whose identity `new` takes, and the version to write over
/// (see [`Precondition`]). Call under the [`ConfigWrite`] of the update
/// where it checks other documents.
pub(crate) async fn replacing<T: Resource>(
    state: &AppState,
    tenant: Id,
    id: Id,
    headers: &HeaderMap,
    new: &mut T,
) -> Result<(T, Expected), ApiError> {
    let precondition = Precondition::of(headers, new.version())?;
    let stored = load::<T>(state, tenant, id).await?;
    new.adopt(&stored);
    let expected = precondition.check(stored.version())?;
    Ok((stored, expected))
}

/// Writes `value` through the engine ([`ConfigWrite::put`]) if the stored
/// version is `expected` (`None`: it must not exist); a stale version is a
/// 412 or 409 ([`Expected::conflict`]). Sets the new version. What does not
/// validate is never stored, whatever a handler checked before.
pub(crate) async fn put<T: Resource + CheckedByWriter>(
    w: &ConfigWrite<'_>,
    value: &mut T,
    expected: Option<Expected>,
) -> Result<(), ApiError> {
    invalid(value.validate(), Vec::new())?;
    w.put(value, expected.map(|e| e.version))
        .await
        .map_err(|e| Expected::conflict_of(expected, e.into()))
}

/// Deletes a resource of `tenant` through the engine if its version is
/// still `expected`.
pub(crate) async fn delete<T: Resource + CheckedByWriter>(
    w: &ConfigWrite<'_>,
    tenant: Id,
    id: Id,
    expected: Expected,
) -> Result<(), ApiError> {
    w.delete::<T>(tenant, id, expected.version)
        .await
        .map_err(|e| expected.conflict(e.into()))
}

/// Deletes `stored`, a `T` of the caller's tenant labelled `label` in
/// messages, under `w`: a 409 naming `users` while anything still uses it;
/// else removed at the version `If-Match` states (stale: 412) or the
/// current one, its system-wide `key` (if any) given back, and the delete
/// audited with `detail`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn delete_unused<T: Resource + CheckedByWriter>(
    w: &ConfigWrite<'_>,
    state: &AppState,
    auth: &crate::admin::extract::Auth,
    stored: &T,
    label: &str,
    headers: &HeaderMap,
    users: Vec<String>,
    key: Option<Key<'_>>,
    detail: Value,
) -> Result<StatusCode, ApiError> {
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "{} {label} is used by {}: remove it there first",
            T::NAME,
            users.join(", ")
        )));
    }
    let (tenant, id) = (auth.tenant_id, stored.id());
    delete::<T>(w, tenant, id, delete_version(headers, stored.version())?).await?;
    if let Some(key) = key {
        release(
            w,
            key,
            Owner {
                tenant,
                resource: id,
            },
        )
        .await?;
    }
    let kind = T::NAME.replace(' ', "_");
    crate::admin::audit::record(state, auth, "delete", &kind, Some(id), detail).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a write states about the version it replaces. `If-Match` wins over
/// the body's `version`; a body's `version` 0 states nothing (the resource
/// types default an absent `version` to 0, and stored versions start at 1).
/// With neither, the write replaces whatever is current (unconditional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Nothing stated.
    Any,
    /// `If-Match: "v"`: a stale one is 412 `precondition_failed`.
    IfMatch(u64),
    /// The body's `version`: a stale one is 409 `version_conflict`.
    Body(u64),
}

/// The version a write replaces, and how a conflict on it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expected {
    /// The version the write replaces.
    pub(crate) version: u64,
    if_match: bool,
}

impl Precondition {
    /// The precondition of a request: its `If-Match`, else `body_version`.
    pub(crate) fn of(
        headers: &HeaderMap,
        body_version: impl Into<Option<u64>>,
    ) -> Result<Self, ApiError> {
        Ok(match if_match(headers)? {
            Some(v) => Precondition::IfMatch(v),
            None => match body_version.into().filter(|v| *v > 0) {
                Some(v) => Precondition::Body(v),
                None => Precondition::Any,
            },
        })
    }

    /// A version conflict of a write under this precondition: 412 after
    /// `If-Match`, else the 409 it is.
    pub(crate) fn conflict(self, e: ApiError) -> ApiError {
        stale_as(self.is_if_match(), e)
    }

    fn is_if_match(self) -> bool {
        matches!(self, Precondition::IfMatch(_))
    }

    /// Checked against the stored version `current`: a stated version that
    /// is not current is refused before anything is written.
    pub(crate) fn check(self, current: u64) -> Result<Expected, ApiError> {
        let expected = Expected {
            version: current,
            if_match: self.is_if_match(),
        };
        match self {
            Precondition::IfMatch(v) | Precondition::Body(v) if v != current => Err(expected
                .conflict(ApiError::Store(StoreError::Conflict {
                    expected: Some(v),
                    found: Some(current),
                }))),
            _ => Ok(expected),
        }
    }
}

impl Expected {
    /// The version read just before a write of the server's own (no
    /// client precondition): a conflict stays a 409.
    pub(crate) fn current(version: u64) -> Self {
        Self {
            version,
            if_match: false,
        }
    }

    /// A version conflict as the precondition's failure: 412 after
    /// `If-Match`, else the 409 it is. Other errors pass through.
    pub(crate) fn conflict(self, e: ApiError) -> ApiError {
        stale_as(self.if_match, e)
    }

    fn conflict_of(expected: Option<Expected>, e: ApiError) -> ApiError {
        match expected {
            Some(x) => x.conflict(e),
            None => e,
        }
    }
}

/// A version conflict as a stated version's failure: 412 when `If-Match`
/// stated it, else the 409 it is. Other errors pass through.
fn stale_as(if_match: bool, e: ApiError) -> ApiError {
    let stale = matches!(
        e,
        ApiError::Store(StoreError::Conflict { .. })
            | ApiError::Engine(switchboard_engine::EngineError::Store(
                StoreError::Conflict { .. }
            ))
    );
    if stale && if_match {
        ApiError::PreconditionFailed
    } else {
        e
    }
}

/// The `version` of a JSON object body, for [`Precondition::of`]; absent
/// or null is `None`, anything but a whole number a 400.
pub(crate) fn version_in(body: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    match body.get("version") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest("version must be a non-negative integer".into())),
    }
}

/// The version a delete removes: `If-Match` when sent (412 when stale),
/// else the current one.
pub(crate) fn delete_version(headers: &HeaderMap, current: u64) -> Result<Expected, ApiError> {
    Precondition::of(headers, None)?.check(current)
}

/// A `PATCH` body: a JSON object (a JSON Merge Patch), else a 400.
pub(crate) fn patch_object(patch: &Value) -> Result<&Map<String, Value>, ApiError> {
    patch.as_object().ok_or_else(|| {
        ApiError::BadRequest("the body must be a json object (a json merge patch)".into())
    })
}

/// `patch` (JSON Merge Patch, RFC 7396) merged into `base`, as the whole
/// body a `PUT` would send. A `null` removes a field, except one of
/// `write_only`, which stays `null` so that the `PUT` rules clear it. The
/// patch's `version`, if any, is the body's; the base's is not carried over.
pub(crate) fn merge_patch(
    mut base: Value,
    patch: &Map<String, Value>,
    write_only: &[&str],
) -> Value {
    json_patch::merge(&mut base, &Value::Object(patch.clone()));
    if let Value::Object(m) = &mut base {
        for key in write_only {
            if patch.get(*key) == Some(&Value::Null) {
                m.insert((*key).to_owned(), Value::Null);
            }
        }
        match patch.get("version") {
            Some(v) => m.insert("version".to_owned(), v.clone()),
            None => m.remove("version"),
        };
    }
    base
}

/// The body a `PATCH` of `id` stands for: the stored document with `patch`
/// merged in ([`merge_patch`]).
pub(crate) async fn patched<T: Resource>(
    state: &AppState,
    tenant: Id,
    id: Id,
    patch: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let doc = state
        .engine
        .store()
        .get_doc(T::KIND, tenant, id)
        .await?
        .ok_or(ApiError::NotFound(T::NAME))?;
    Ok(merge_patch(doc.body, patch, T::WRITE_ONLY))
}

/// A `PATCH` of a `T` (manager or above): the patch, and the whole body it
/// stands for ([`patched`]), for the resource's `PUT` logic.
pub(crate) async fn patch_of<T: Resource>(
    state: &AppState,
    auth: &crate::admin::extract::Auth,
    id: Id,
    body: Result<Json<Value>, ApiError>,
) -> Result<(Map<String, Value>, Value), ApiError> {
    auth.require(switchboard_model::Role::Manager)?;
    let Json(patch) = body?;
    let patch = patch_object(&patch)?.clone();
    let body = patched::<T>(state, auth.tenant_id, id, &patch).await?;
    Ok((patch, body))
}

/// The `PUT` and `PATCH` handlers of a resource whose write is
/// `$replace(state, auth, id, headers, body)`: both check the role first,
/// and `PATCH` merges its body into the stored document ([`patch_of`]), so
/// one write, with one set of rules, serves both.
macro_rules! put_and_patch {
    ($put:ident, $patch:ident, $replace:ident, $ty:ident, $path:literal, $tag:literal, $doc:literal) => {
        #[doc = $doc]
        #[doc = "The version replaced is `If-Match` (stale: 412) or the body's `version` (stale: 409); with neither, the current one."]
        #[utoipa::path(put, path = $path, tag = $tag, request_body = $ty,
            params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being replaced (wins over the body's `version`); neither: the current one")),
            responses((status = 200, body = $ty), (status = 400), (status = 404), (status = 409, description = "stale body version, or a conflict named in the message"), (status = 412, description = "stale If-Match"), (status = 422)))]
        async fn $put(
            axum::extract::State(state): axum::extract::State<AppState>,
            auth: crate::admin::extract::Auth,
            crate::admin::extract::ResourceId(id, _): crate::admin::extract::ResourceId<$ty>,
            headers: axum::http::HeaderMap,
            body: Result<crate::admin::extract::Json<serde_json::Value>, ApiError>,
        ) -> Result<axum::response::Response, ApiError> {
            auth.require(switchboard_model::Role::Manager)?;
            let crate::admin::extract::Json(body) = body?;
            $replace(&state, &auth, id, &headers, body).await
        }

        /// Changes the fields a JSON Merge Patch (RFC 7396) names; versions as for `PUT`.
        #[utoipa::path(patch, path = $path, tag = $tag, request_body(content = Object, content_type = "application/merge-patch+json"),
            params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being changed (wins over the patch's `version`)")),
            responses((status = 200, body = $ty), (status = 400), (status = 404), (status = 409, description = "stale body version, or a conflict named in the message"), (status = 412, description = "stale If-Match"), (status = 422)))]
        async fn $patch(
            axum::extract::State(state): axum::extract::State<AppState>,
            auth: crate::admin::extract::Auth,
            crate::admin::extract::ResourceId(id, _): crate::admin::extract::ResourceId<$ty>,
            headers: axum::http::HeaderMap,
            body: Result<crate::admin::extract::Json<serde_json::Value>, ApiError>,
        ) -> Result<axum::response::Response, ApiError> {
            let (_, body) = $crate::admin::resources::docs::patch_of::<$ty>(&state, &auth, id, body).await?;
            $replace(&state, &auth, id, &headers, body).await
        }
    };
}
pub(crate) use put_and_patch;

/// The `GET` handlers of a resource: the tenant's list (oldest first,
/// paged) and one by id (`ETag`: its version; a malformed or unknown id is
/// a 404), for viewers and above. Each is shown through `$show` (for
/// example, credentials left out).
macro_rules! list_and_get {
    ($list:ident, $get:ident, $ty:ident, $path:literal, $tag:literal, $list_doc:literal, $get_doc:literal, $show:expr) => {
        #[doc = $list_doc]
        #[utoipa::path(get, path = $path, tag = $tag, params(crate::admin::extract::PageQuery),
            responses((status = 200, body = crate::admin::extract::List<$ty>), (status = 401)))]
        async fn $list(
            axum::extract::State(state): axum::extract::State<AppState>,
            auth: crate::admin::extract::Auth,
            q: Result<
                axum::extract::Query<crate::admin::extract::PageQuery>,
                axum::extract::rejection::QueryRejection,
            >,
        ) -> Result<crate::admin::extract::Json<crate::admin::extract::List<$ty>>, ApiError> {
            let q = crate::admin::extract::query(q)?;
            auth.require(switchboard_model::Role::Viewer)?;
            let items = $crate::admin::resources::docs::list::<$ty>(&state, auth.tenant_id)
                .await?
                .into_iter()
                .map($show)
                .collect();
            Ok(crate::admin::extract::Json(crate::admin::extract::List::page(
                items,
                |r: &$ty| r.id,
                &q,
            )?))
        }

        #[doc = $get_doc]
        #[utoipa::path(get, path = concat!($path, "/{id}"), tag = $tag, params(("id" = String, Path, format = Uuid)),
            responses((status = 200, body = $ty), (status = 404)))]
        async fn $get(
            axum::extract::State(state): axum::extract::State<AppState>,
            auth: crate::admin::extract::Auth,
            crate::admin::extract::ResourceId(id, _): crate::admin::extract::ResourceId<$ty>,
        ) -> Result<axum::response::Response, ApiError> {
            auth.require(switchboard_model::Role::Viewer)?;
            let show = $show;
            let r: $ty = show($crate::admin::resources::docs::load::<$ty>(&state, auth.tenant_id, id).await?);
            Ok($crate::admin::resources::docs::tagged(
                axum::http::StatusCode::OK,
                &r,
                r.version,
            ))
        }
    };
}
pub(crate) use list_and_get;

/// Whether a body sets `field` to an explicit `null` (clears a write-only field).
pub(crate) fn cleared(body: &Value, field: &str) -> bool {
    body.get(field) == Some(&Value::Null)
}

/// Every stored resource kind names itself in a `404 {kind} not found`.
impl<T: Resource> Kind for T {
    const NAME: &'static str = <T as Resource>::NAME;
}

/// A resource answered with its version as the `ETag`, for `If-Match`.
pub(crate) fn tagged<T: Serialize>(status: StatusCode, value: &T, version: u64) -> Response {
    let mut resp = (status, Json(value)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// Decodes a JSON body into `T`. The phone-number fields named in
/// `phones` (a string, or an array of strings) are checked first, so that a
/// number that is not E.164 is a 422 naming the field (`numbers[1]`), like
/// every other semantic error, and so is a required field left out;
/// malformed JSON, unknown fields and wrong types stay 400s with the path of
/// the offending field.
pub(crate) fn body<T: DeserializeOwned>(v: Value, phones: &[&str]) -> Result<T, ApiError> {
    let mut errors = Vec::new();
    for field in phones {
        let bad = |s: &Value| s.as_str().is_some_and(|s| PhoneNumber::parse(s).is_err());
        let why = |s: &Value| {
            format!(
                "{} is not a phone number: expected E.164 such as +15550001000",
                s
            )
        };
        match v.get(*field) {
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate().filter(|(_, item)| bad(item)) {
                    errors.push(FieldError::new(format!("{field}[{i}]"), why(item)));
                }
            }
            Some(item) if bad(item) => errors.push(FieldError::new(*field, why(item))),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let e = match T::deserialize(&v) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    // A required field left out is a 422 naming it, as a `PUT` of the whole
    // resource without it (or a create) is a semantic error, not a malformed body.
    if let Some(field) = e
        .to_string()
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            field,
            "is required",
        )]));
    }
    // Any other refusal, in the words (and with the field path) the JSON
    // extractor gives every other body.
    let bytes = serde_json::to_vec(&v).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    axum::Json::<T>::from_bytes(&bytes)
        .map(|axum::Json(t)| t)
        .map_err(|e| ApiError::BadRequest(e.body_text().to_lowercase()))
}

/// A model validation result as an API error, with `extra` field errors
/// (references checked against the store) listed after the model's own.
pub(crate) fn invalid(
    result: Result<(), ModelError>,
    extra: Vec<FieldError>,
) -> Result<(), ApiError> {
    let mut fields = match result {
        Ok(()) => Vec::new(),
        Err(ModelError::Invalid(f)) => f,
        Err(other) => vec![FieldError::new("", other.to_string())],
    };
    fields.extend(extra);
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(fields))
    }
}

// ---------------------------------------------------------------- system-wide keys

pub(crate) use switchboard_engine::claims::{Key, Owner};

/// Claims `key` for `owner`; `false` when someone (anyone) holds it already.
pub(crate) async fn claim(
    w: &ConfigWrite<'_>,
    key: Key<'_>,
    owner: Owner,
) -> Result<bool, ApiError> {
    Ok(claims::claim(w.store().as_ref(), key, owner).await?)
}

/// Claims phone number `n` for inventory entry `owner`: free, or held by a
/// campaign of the same tenant (whose direct number it is), which the
/// inventory then takes over. `false` when anyone else holds it.
pub(crate) async fn claim_number(
    w: &ConfigWrite<'_>,
    n: &PhoneNumber,
    owner: Owner,
) -> Result<bool, ApiError> {
    let store = w.store().as_ref();
    if claims::claim(store, Key::Number(n), owner).await? {
        return Ok(true);
    }
    match claims::owner_of(store, Key::Number(n)).await? {
        Some(holder)
            if holder.tenant == owner.tenant
                && w.campaign(holder.resource)
                    .is_some_and(|c| c.tenant_id == owner.tenant) =>
        {
            Ok(claims::reassign(store, Key::Number(n), holder, owner).await?)
        }
        _ => Ok(false),
    }
}

/// Gives `key` back, if `owner` holds it.
pub(crate) async fn release(
    w: &ConfigWrite<'_>,
    key: Key<'_>,
    owner: Owner,
) -> Result<(), ApiError> {
    Ok(claims::release(w.store().as_ref(), key, owner).await?)
}

/// The tenant and tag of a tag code, system-wide, in one read (for DNI track).
pub(crate) async fn owner_of_tag(state: &AppState, code: &str) -> Result<Option<Owner>, ApiError> {
    Ok(claims::owner_of(state.engine.store().as_ref(), Key::TagCode(code)).await?)
}

// ---------------------------------------------------------------- references

/// What this module needs to know of a campaign: the resources it uses.
/// Read from the stored JSON, so it does not depend on the campaign type's
/// other fields.
#[derive(Debug, Clone)]
pub(crate) struct CampaignRefs {
    pub(crate) id: Id,
    pub(crate) name: String,
    pub(crate) phone_number: Option<String>,
    pub(crate) pool_id: Option<Id>,
    pub(crate) rtb_router_id: Option<Id>,
}

/// The campaigns of `tenant` and what they reference.
pub(crate) async fn campaigns(state: &AppState, tenant: Id) -> Result<Vec<CampaignRefs>, ApiError> {
    let docs = state
        .engine
        .store()
        .list_docs(DocKind::Campaign, Some(tenant))
        .await?;
    Ok(docs
        .into_iter()
        .map(|d| {
            let s = |k: &str| d.body.get(k).and_then(Value::as_str).map(str::to_owned);
            let id = |k: &str| s(k).and_then(|v| v.parse::<Id>().ok());
            CampaignRefs {
                id: d.id,
                name: s("name").unwrap_or_default(),
                phone_number: s("phoneNumber"),
                pool_id: id("poolId"),
                rtb_router_id: id("rtbRouterId"),
            }
        })
        .collect())
}

/// Whether a campaign `id` exists in `tenant`.
pub(crate) async fn campaign_exists(
    state: &AppState,
    tenant: Id,
    id: Id,
) -> Result<bool, ApiError> {
    Ok(state
        .engine
        .store()
        .get_doc(DocKind::Campaign, tenant, id)
        .await?
        .is_some())
}

/// What of this module uses campaign `id` (tracking tags, blocklist
/// entries of the campaign), named for a 409 when the campaign is deleted:
/// empty when nothing does.
pub(crate) async fn campaign_users(
    state: &AppState,
    tenant: Id,
    id: Id,
) -> Result<Vec<String>, ApiError> {
    let mut users: Vec<String> = list::<switchboard_model::TrackingTag>(state, tenant)
        .await?
        .into_iter()
        .filter(|t| t.campaign_id == Some(id))
        .map(|t| named("tracking tag", &t.name, t.id))
        .collect();
    let blocks: Vec<switchboard_model::BlocklistEntry> =
        list::<switchboard_model::BlocklistEntry>(state, tenant)
            .await?
            .into_iter()
            .filter(|e| e.campaign_id == Some(id))
            .collect();
    // A campaign can hold thousands: name a few, count the rest.
    const NAMED: usize = 5;
    for e in blocks.iter().take(NAMED) {
        let label = e.target().map(|t| t.label()).unwrap_or_default();
        users.push(named("blocklist entry", &label, e.id));
    }
    if blocks.len() > NAMED {
        users.push(format!("{} more blocklist entries", blocks.len() - NAMED));
    }
    Ok(users)
}

/// "pool \"Main\"", "campaign \"Spring\"": how a conflict names a holder.
pub(crate) fn named(kind: &str, name: &str, id: Id) -> String {
    format!("{kind} {name:?} ({id})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_come_from_if_match_or_the_body() {
        use Precondition::*;
        let mut h = HeaderMap::new();
        assert_eq!(Precondition::of(&h, 0).unwrap(), Any, "0 states no version");
        assert_eq!(Precondition::of(&h, None).unwrap(), Any);
        assert_eq!(Precondition::of(&h, 2).unwrap(), Body(2));
        h.insert(axum::http::header::IF_MATCH, "\"5\"".parse().unwrap());
        assert_eq!(
            Precondition::of(&h, 2).unwrap(),
            IfMatch(5),
            "if-match wins"
        );
        let body = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(version_in(&body(json!({"version": 3}))).unwrap(), Some(3));
        assert_eq!(version_in(&body(json!({"version": null}))).unwrap(), None);
        assert!(matches!(
            version_in(&body(json!({"version": "3"}))),
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(delete_version(&HeaderMap::new(), 9).unwrap().version, 9);
        assert_eq!(delete_version(&h, 5).unwrap().version, 5);
        // Stale: 412 after if-match, 409 after a body version; any: the current one.
        assert_eq!(
            delete_version(&h, 9).unwrap_err().status(),
            axum::http::StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            Body(2).check(3).unwrap_err().status(),
            axum::http::StatusCode::CONFLICT
        );
        assert_eq!(Any.check(3).unwrap().version, 3);
    }
}
