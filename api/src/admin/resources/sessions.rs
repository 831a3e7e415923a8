//! `GET /api/tracking-sessions`: the web visits DNI tracked, newest first.
//!
//! Visits are stored by (tracking tag, UTC day of their start), so a page is
//! read day by day from `to` back to `from`, over the tenant's tags (or the
//! one named), and the range is bounded ([`MAX_DAYS`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use switchboard_model::call::VisitorSession;
use switchboard_model::{Id, Role, TrackingTag};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::docs;
use crate::admin::extract::{Auth, Json, List};
use crate::error::ApiError;
use crate::server::AppState;

/// Longest range one request reads: each day is a read per tag.
const MAX_DAYS: i64 = 31;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Filters and paging of `GET /api/tracking-sessions`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionQuery {
    /// Only visits tracked with this tag code.
    tag_code: Option<String>,
    /// Visits that started at or after this time (RFC 3339); default `to` minus 7 days.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<DateTime<Utc>>,
    /// Visits that started before this time (RFC 3339); default now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<DateTime<Utc>>,
    /// Only visits from this traffic source (`google`, `direct`, …), any case.
    source: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Most visits on the page (default 50, at most 500).
    limit: Option<u32>,
}

/// Where a visit sits in the newest-first order; also the cursor's content.
type Position = (DateTime<Utc>, Id, String);

fn position(v: &VisitorSession) -> Position {
    (v.started_at, v.tag_id, v.session_id.clone())
}

/// `micros~tag~session`: session ids never hold `~`.
fn encode_cursor(p: &Position) -> String {
    format!("{}~{}~{}", p.0.timestamp_micros(), p.1, p.2)
}

fn decode_cursor(c: &str) -> Result<Position, ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid cursor {c:?}"));
    let mut parts = c.splitn(3, '~');
    let micros = parts
        .next()
        .and_then(|m| m.parse::<i64>().ok())
        .ok_or_else(bad)?;
    let tag = parts
        .next()
        .and_then(|t| t.parse::<Id>().ok())
        .ok_or_else(bad)?;
    let session = parts.next().ok_or_else(bad)?.to_owned();
    Ok((
        DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        tag,
        session,
    ))
}

/// The tenant's tracked web visits, newest first.
#[utoipa::path(get, operation_id = "list_tracking_sessions", path = "/api/tracking-sessions", tag = "tracking-tags", params(SessionQuery),
    responses((status = 200, body = List<VisitorSession>), (status = 400, description = "bad filter or cursor, or a range over 31 days"), (status = 401)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Json<List<VisitorSession>>, ApiError> {
    let q = crate::admin::extract::query(q)?;
    auth.require(Role::Viewer)?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(7));
    if from > to {
        return Err(ApiError::BadRequest("from must not be after to".into()));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "from and to may be at most {MAX_DAYS} days apart"
        )));
    }
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500) as usize;
    let tags: Vec<TrackingTag> = docs::list::<TrackingTag>(&state, auth.tenant_id)
        .await?
        .into_iter()
        .filter(|t| {
            q.tag_code
                .as_deref()
                .is_none_or(|c| t.tag_code.eq_ignore_ascii_case(c.trim()))
        })
        .collect();
    let source = q.source.as_deref().map(str::trim);
    let keep = |v: &VisitorSession| {
        from <= v.started_at
            && v.started_at < to
            && v.tenant_id == auth.tenant_id
            && source.is_none_or(|s| {
                v.traffic
                    .source
                    .as_deref()
                    .is_some_and(|vs| vs.eq_ignore_ascii_case(s))
            })
            && after.as_ref().is_none_or(|a| position(v) < *a)
    };
    let mut items = Vec::new();
    let mut day = to.date_naive();
    // Newest day first; a day is read whole, so the page is cut at a day's end.
    while day >= from.date_naive() && items.len() <= limit {
        let mut today = Vec::new();
        for tag in &tags {
            today.extend(
                state
                    .engine
                    .store()
                    .list_sessions(tag.id, day)
                    .await?
                    .into_iter()
                    .filter(|v| keep(v)),
            );
        }
        today.sort_by_key(|v| std::cmp::Reverse(position(v)));
        items.extend(today);
        let Some(prev) = day.pred_opt() else { break };
        day = prev;
    }
    let next_cursor = (items.len() > limit).then(|| encode_cursor(&position(&items[limit - 1])));
    items.truncate(limit);
    Ok(Json(List { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let p = (
            DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap(),
            switchboard_model::new_id(),
            "a.b:c".to_owned(),
        );
        assert_eq!(decode_cursor(&encode_cursor(&p)).unwrap(), p);
        assert!(decode_cursor("nope").is_err());
        assert!(decode_cursor("1~not-an-id~s").is_err());
    }
}
