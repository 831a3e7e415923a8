//! `/api/blocklist`: callers the tenant refuses, tenant-wide or for one
//! campaign, and `POST /api/blocklist/import` for many at once (CSV).
//!
//! Every write goes through the engine under one [`ConfigWrite`]
//! (`docs::put`), which re-indexes the entry at once: the next call from a
//! newly blocked caller is refused. An entry's target (number, prefix or
//! anonymous) is unique in its scope: a second is a 409 naming the first,
//! and an import passes over it.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_engine::ConfigWrite;
use switchboard_model::blocklist::is_prefix;
use switchboard_model::{BlockTarget, BlocklistEntry, FieldError, Id, PhoneNumber, Role, new_id};
use switchboard_store::{ConfigKind, DocKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use crate::admin::audit;
use crate::admin::extract::{self, Auth, Json, List, PageQuery, ResourceId};
use crate::error::ApiError;
use crate::server::AppState;

/// Most lines one import takes: each is a write of its own.
const IMPORT_MAX_LINES: usize = 10_000;

/// Documents read from the store at a time while listing.
const READ_PAGE: usize = 500;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_entries, create_entry))
        .routes(routes!(import_entries))
        .routes(routes!(get_entry, update_entry, patch_entry, delete_entry))
}

/// The list's filters and page.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only the entries of this campaign (tenant-wide ones excluded).
    #[param(value_type = Option<String>, format = Uuid)]
    campaign_id: Option<Id>,
    /// `true`: only tenant-wide entries.
    tenant_wide: Option<bool>,
    /// The last id of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
}

/// The tenant's blocklist, oldest first, paged; `campaignId` or
/// `tenantWide=true` narrow it. Read from the store a page at a time, so a
/// page costs what it holds, not the list's size.
#[utoipa::path(get, path = "/api/blocklist", tag = "blocklist", params(ListQuery),
    responses((status = 200, body = List<BlocklistEntry>), (status = 400), (status = 401)))]
async fn list_entries(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<List<BlocklistEntry>>, ApiError> {
    let q = extract::query(q)?;
    auth.require(Role::Viewer)?;
    let tenant = auth.tenant_id;
    let limit = PageQuery {
        cursor: None,
        limit: q.limit,
    }
    .limit();
    let mut after = match &q.cursor {
        Some(c) => Some((
            tenant,
            c.parse::<Id>()
                .map_err(|_| ApiError::BadRequest(format!("invalid cursor {c:?}")))?,
        )),
        None => None,
    };
    let wanted = |e: &BlocklistEntry| {
        q.campaign_id.is_none_or(|c| e.campaign_id == Some(c))
            && (q.tenant_wide != Some(true) || e.campaign_id.is_none())
    };
    let mut items = Vec::new();
    // Whether another entry matches after the page: then it has a next cursor.
    let mut more = false;
    'pages: loop {
        let page = state
            .engine
            .store()
            .list_docs_page(DocKind::BlocklistEntry, Some(tenant), after, READ_PAGE)
            .await?;
        for doc in &page.docs {
            let e = BlocklistEntry::decode(doc)?;
            if !wanted(&e) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break 'pages;
            }
            items.push(e);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let next_cursor = more
        .then(|| items.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(List { items, next_cursor }))
}

/// One blocklist entry; a malformed or unknown id is a 404. `ETag`: its version.
#[utoipa::path(get, path = "/api/blocklist/{id}", tag = "blocklist", params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = BlocklistEntry), (status = 404)))]
async fn get_entry(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<BlocklistEntry>,
) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    let e = docs::load::<BlocklistEntry>(&state, auth.tenant_id, id).await?;
    Ok(docs::tagged(StatusCode::OK, &e, e.version))
}

/// Validates an entry, including that its campaign is the tenant's, and
/// that no other entry of its scope has its target (409, naming it).
async fn check(
    w: &ConfigWrite<'_>,
    state: &AppState,
    tenant: Id,
    e: &BlocklistEntry,
) -> Result<(), ApiError> {
    let mut extra = Vec::new();
    if let Some(c) = e.campaign_id
        && !docs::campaign_exists(state, tenant, c).await?
    {
        extra.push(FieldError::new("campaignId", "no such campaign"));
    }
    docs::invalid(e.validate(), extra)?;
    if let Some(target) = e.target()
        && let Some(other) = w
            .blocklist_entry_like(tenant, e.campaign_id, &target)
            .filter(|o| *o != e.id)
    {
        return Err(ApiError::Conflict(format!(
            "{} is already on the blocklist{} (entry {other})",
            target.label(),
            if e.campaign_id.is_some() {
                " of this campaign"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

fn detail(e: &BlocklistEntry) -> Value {
    json!({
        "target": e.target().map(|t| t.label()),
        "campaignId": e.campaign_id,
        "expiresAt": e.expires_at,
        "version": e.version,
    })
}

/// Blocks a caller: exactly one of `number` (E.164), `prefix` (`+` and
/// digits) or `anonymous: true`; optional `campaignId` (absent: every
/// campaign), `expiresAt`, `note`. Takes effect on the next call.
#[utoipa::path(post, path = "/api/blocklist", tag = "blocklist", request_body = BlocklistEntry,
    responses((status = 201, body = BlocklistEntry), (status = 400), (status = 409, description = "the same caller is on the blocklist of this scope already"), (status = 422)))]
async fn create_entry(
    State(state): State<AppState>,
    auth: Auth,
    body: Result<Json<Value>, ApiError>,
) -> Result<Response, ApiError> {
    auth.require(Role::Manager)?;
    let Json(body) = body?;
    let mut e: BlocklistEntry = docs::body(body, &["number"])?;
    (e.id, e.tenant_id, e.created_at) = (new_id(), auth.tenant_id, Utc::now());
    let w = state.engine.config_write().await;
    check(&w, &state, auth.tenant_id, &e).await?;
    docs::put(&w, &mut e, None).await?;
    audit::record(
        &state,
        &auth,
        "create",
        "blocklist_entry",
        Some(e.id),
        detail(&e),
    )
    .await?;
    Ok(docs::tagged(StatusCode::CREATED, &e, e.version))
}

docs::put_and_patch!(
    update_entry,
    patch_entry,
    replace_entry,
    BlocklistEntry,
    "/api/blocklist/{id}",
    "blocklist",
    "Replaces a blocklist entry: its target, scope, expiry and note."
);

async fn replace_entry(
    state: &AppState,
    auth: &Auth,
    id: Id,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response, ApiError> {
    let mut e: BlocklistEntry = docs::body(body, &["number"])?;
    let w = state.engine.config_write().await;
    let (_, expected) = docs::replacing(state, auth.tenant_id, id, headers, &mut e).await?;
    check(&w, state, auth.tenant_id, &e).await?;
    docs::put(&w, &mut e, Some(expected)).await?;
    audit::record(
        state,
        auth,
        "update",
        "blocklist_entry",
        Some(id),
        detail(&e),
    )
    .await?;
    Ok(docs::tagged(StatusCode::OK, &e, e.version))
}

/// Unblocks: deletes a blocklist entry.
#[utoipa::path(delete, path = "/api/blocklist/{id}", tag = "blocklist",
    params(("id" = String, Path, format = Uuid), ("If-Match" = Option<String>, Header, description = "the version being deleted; absent: the current one")),
    responses((status = 204), (status = 404), (status = 409, description = "changed meanwhile"), (status = 412, description = "stale If-Match")))]
async fn delete_entry(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<BlocklistEntry>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    auth.require(Role::Manager)?;
    let w = state.engine.config_write().await;
    let e = docs::load::<BlocklistEntry>(&state, auth.tenant_id, id).await?;
    let label = e.target().map(|t| t.label()).unwrap_or_default();
    docs::delete_unused(
        &w,
        &state,
        &auth,
        &e,
        &label,
        &headers,
        Vec::new(),
        None,
        detail(&e),
    )
    .await
}

/// Where imported entries apply.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// The campaign the imported entries block; absent: tenant-wide.
    #[param(value_type = Option<String>, format = Uuid)]
    campaign_id: Option<Id>,
}

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ImportAnswer {
    /// Entries created.
    imported: usize,
    /// Lines not imported, each with why (1-based line numbers).
    refused: Vec<Refused>,
}

/// One line not imported.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Refused {
    /// Its line number, from 1.
    line: u64,
    /// Why, lowercase.
    reason: String,
}

/// Imports CSV lines `number_or_prefix,note,expiresAt` (a `text/csv` body;
/// an optional header line). The first column is an E.164 number, a prefix
/// (`+` and up to 7 digits, or any `+digits` ending in `*`: `+4420*`) or
/// `anonymous`; `note` and `expiresAt` (RFC 3339, or a date: its midnight
/// UTC) may be empty. A line that does not read, or whose caller is on the
/// blocklist of that scope already, is refused with its line number; the
/// others are imported (a store failure midway is answered as such; what
/// was stored stays, and an import of the same file passes over it). At
/// most 10,000 lines. For example
/// `+15551230000,robocaller,` then `+1900*,premium numbers,2027-01-01`.
#[utoipa::path(post, path = "/api/blocklist/import", tag = "blocklist", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "lines of number_or_prefix,note,expiresAt"),
    responses((status = 200, body = ImportAnswer), (status = 400, description = "not utf-8"), (status = 413, description = "more than 10,000 lines"), (status = 422, description = "no such campaign")))]
async fn import_entries(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<ImportQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<ImportAnswer>, ApiError> {
    let q = extract::query(q)?;
    auth.require(Role::Manager)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body must be utf-8 csv text".into()))?;
    let lines = parse_csv(text)?;
    let w = state.engine.config_write().await;
    if let Some(c) = q.campaign_id
        && !docs::campaign_exists(&state, auth.tenant_id, c).await?
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "campaignId",
            "no such campaign",
        )]));
    }
    let mut answer = ImportAnswer {
        imported: 0,
        refused: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut accepted = Vec::new();
    let now = Utc::now();
    for (line, fields) in lines {
        let mut e = match fields.and_then(|f| entry_of(&f)) {
            Ok(e) => e,
            Err(reason) => {
                answer.refused.push(Refused { line, reason });
                continue;
            }
        };
        (e.id, e.tenant_id, e.created_at, e.campaign_id) =
            (new_id(), auth.tenant_id, now, q.campaign_id);
        let Some(target) = e.target() else { continue };
        if w.blocklist_entry_like(auth.tenant_id, e.campaign_id, &target)
            .is_some()
            || !seen.insert(target.clone())
        {
            answer.refused.push(Refused {
                line,
                reason: format!("{} is already on the blocklist", target.label()),
            });
            continue;
        }
        if let Err(ApiError::Invalid(fields)) = docs::invalid(e.validate(), Vec::new()) {
            let why: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            answer.refused.push(Refused {
                line,
                reason: why.join("; "),
            });
            continue;
        }
        accepted.push(e);
    }
    let (stored, result) = w.put_new(&mut accepted).await;
    answer.imported = stored;
    audit::record(
        &state,
        &auth,
        "import",
        "blocklist_entry",
        None,
        json!({"imported": answer.imported, "refused": answer.refused.len(), "campaignId": q.campaign_id}),
    )
    .await?;
    // Lines stored before a failure stay; importing the file again passes over them.
    result?;
    Ok(Json(answer))
}

/// One CSV line: its fields, or why they do not read.
type Line = Result<Vec<String>, String>;

/// The CSV's lines with their numbers (from 1), each read as one record
/// (quotes allowed; an entry is one line), a header line and blank lines
/// left out.
fn parse_csv(text: &str) -> Result<Vec<(u64, Line)>, ApiError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(raw.as_bytes());
        let fields = match reader.records().next() {
            Some(Ok(record)) => Ok(record.iter().map(str::to_owned).collect::<Vec<_>>()),
            Some(Err(e)) => Err(format!("unreadable csv: {e}")),
            None => continue,
        };
        let header = fields.as_ref().is_ok_and(|f| {
            ["number_or_prefix", "number", "prefix", "caller"]
                .contains(&f[0].to_ascii_lowercase().as_str())
        });
        if lines.is_empty() && header {
            continue;
        }
        lines.push((i as u64 + 1, fields));
        if lines.len() > IMPORT_MAX_LINES {
            return Err(ApiError::Body {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("an import takes at most {IMPORT_MAX_LINES} lines"),
            });
        }
    }
    Ok(lines)
}

/// The entry one CSV line stands for, or why it stands for none.
fn entry_of(fields: &[String]) -> Result<BlocklistEntry, String> {
    if fields.len() > 3 {
        return Err(format!(
            "{} columns: expected number_or_prefix,note,expiresAt",
            fields.len()
        ));
    }
    let value = fields[0].as_str();
    let target = target_of(value).ok_or_else(|| {
        format!(
            "{value:?} is not a number or prefix: expected E.164 such as +15551230000, a prefix such as +1900 or +4420*, or anonymous"
        )
    })?;
    let note = fields.get(1).filter(|n| !n.is_empty()).cloned();
    let expires_at = match fields.get(2).map(String::as_str) {
        None | Some("") => None,
        Some(t) => Some(when(t).ok_or_else(|| {
            format!("expiresAt {t:?} is not a time: expected RFC 3339 such as 2027-01-31T00:00:00Z, or a date")
        })?),
    };
    let (mut number, mut prefix, mut anonymous) = (None, None, false);
    match target {
        BlockTarget::Number(n) => number = Some(n),
        BlockTarget::Prefix(p) => prefix = Some(p),
        BlockTarget::Anonymous => anonymous = true,
    }
    Ok(BlocklistEntry {
        id: Id::nil(),
        tenant_id: Id::nil(),
        number,
        prefix,
        anonymous,
        campaign_id: None,
        expires_at,
        note,
        version: 0,
        created_at: DateTime::<Utc>::MIN_UTC,
    })
}

/// A CSV value as a target: `anonymous`; `+digits*` or a `+digits` too
/// short to be a number, a prefix; else an E.164 number.
fn target_of(value: &str) -> Option<BlockTarget> {
    if value.eq_ignore_ascii_case("anonymous") {
        return Some(BlockTarget::Anonymous);
    }
    if let Some(p) = value.strip_suffix('*') {
        return is_prefix(p).then(|| BlockTarget::Prefix(p.to_owned()));
    }
    if is_prefix(value) && value.len() < 9 {
        return Some(BlockTarget::Prefix(value.to_owned()));
    }
    PhoneNumber::parse(value).ok().map(BlockTarget::Number)
}

/// RFC 3339, or a date (its midnight UTC).
fn when(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<String> {
        line.split(',').map(|f| f.trim().to_owned()).collect()
    }

    #[test]
    fn csv_values_read_as_numbers_prefixes_or_anonymous() {
        let n = |s: &str| Some(BlockTarget::Number(PhoneNumber::parse(s).unwrap()));
        let p = |s: &str| Some(BlockTarget::Prefix(s.into()));
        assert_eq!(target_of("+15551230000"), n("+15551230000"));
        assert_eq!(target_of("+1900"), p("+1900"));
        assert_eq!(target_of("+1234567"), p("+1234567"));
        assert_eq!(target_of("+12345678"), n("+12345678"), "8 digits: a number");
        assert_eq!(target_of("+4420794*"), p("+4420794"));
        assert_eq!(target_of("+44207946095*"), p("+44207946095"));
        assert_eq!(target_of("Anonymous"), Some(BlockTarget::Anonymous));
        for bad in ["", "12", "+", "+0", "+1-900*", "robocaller", "+1900**"] {
            assert_eq!(target_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_line_names_what_is_wrong_with_it() {
        let e = entry_of(&fields("+15551230000, spam , 2027-01-31")).unwrap();
        assert_eq!(e.note.as_deref(), Some("spam"));
        assert_eq!(
            e.expires_at.map(|t| t.to_rfc3339()),
            Some("2027-01-31T00:00:00+00:00".into())
        );
        assert!(
            entry_of(&fields("+1900,,2027-01-31T12:00:00+02:00"))
                .unwrap()
                .expires_at
                .is_some()
        );
        assert!(
            entry_of(&fields("555"))
                .unwrap_err()
                .contains("\"555\" is not a number or prefix")
        );
        assert!(
            entry_of(&fields("+1900,x,tomorrow"))
                .unwrap_err()
                .contains("expiresAt \"tomorrow\"")
        );
        assert!(
            entry_of(&fields("+1900,a,,b"))
                .unwrap_err()
                .contains("4 columns")
        );
    }

    #[test]
    fn the_header_and_blank_lines_are_left_out() {
        let lines = parse_csv(
            "number_or_prefix,note,expiresAt\r\n+15551230000,a\r\n\n+1900\n\"+1555\",\"a, b\"\n",
        )
        .unwrap();
        let got: Vec<(u64, Vec<String>)> =
            lines.into_iter().map(|(l, f)| (l, f.unwrap())).collect();
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            got,
            [
                (2, s(&["+15551230000", "a"])),
                (4, s(&["+1900"])),
                (5, s(&["+1555", "a, b"]))
            ]
        );
    }
}
