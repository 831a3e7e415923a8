//! `/api/reports/*` and `/api/stats/*`: the figures a pay-per-call manager
//! reads, from the store's rollups (a projection of the call log, exact
//! once it applied what was appended, which a read waits for). Every query
//! reads O(buckets × groups) rows, never calls.
//!
//! - `summary`: one row per group (campaign, buyer, … or a period of the
//!   zone), per currency, and totals.
//! - `timeseries`: one bucket per hour or day of the zone, empty ones too.
//! - `stats/historical`, `stats/campaign/{id}`: the original product's
//!   paths, as days of the same data.
//! - `live`: calls in progress by campaign and buyer, and buyers' caps in use.
//! - `rtb`: per RTB target or router: bids, wins, rejections, timeouts,
//!   errors, response times, winning bids.
//! - `dni`: visits, calls, conversions and revenue by traffic source.
//! - `/api/events`: the tenant's call events as Server-Sent Events.
//!
//! A publisher's login reads `summary` and `timeseries` of its own calls
//! only, grouped by anything but buyers, targets and publishers, with no
//! revenue, profit or margin ([`for_publisher`]); every other report is 403.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Duration as Span, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use switchboard_model::report::{Dimension, Figures, Metrics, Width};
use switchboard_model::{Currency, Id, Role};
use switchboard_store::{DocKind, RollupQuery, RollupRow};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, ResourceId, Scope, Scoped, query};
use super::resources::buyers::BuyerCapacity;
use crate::error::ApiError;
use crate::server::AppState;

/// The longest range a report covers.
const MAX_DAYS: i64 = 400;
/// How far back `live` looks for calls not ended (longer than any call).
const LIVE_WINDOW: Span = Span::hours(24);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(timeseries))
        .routes(routes!(historical))
        .routes(routes!(campaign_stats))
        .routes(routes!(live))
        .routes(routes!(rtb))
        .routes(routes!(dni))
        .routes(routes!(events))
}

/// The parameters every report takes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// Start, RFC 3339, included (default: 7 days before `to`). Widened to
    /// the start of its hour in `tz`.
    from: Option<String>,
    /// End, RFC 3339, excluded (default: now). Widened to the end of its hour in `tz`.
    to: Option<String>,
    /// An IANA zone (default: the tenant's `timezone`).
    tz: Option<String>,
    /// `campaign`, `buyer`, `publisher`, `number`, `pool`, `utmSource`,
    /// `utmMedium`, `utmCampaign`, `landingPage`, `callerState`,
    /// `rtbTarget`, `hour`, `day`, `week` or `month` (summary; default `campaign`).
    group_by: Option<String>,
    /// `hour` or `day` (timeseries; default `hour`).
    interval: Option<String>,
    /// Only this campaign's calls.
    campaign_id: Option<String>,
    /// Only calls this buyer took.
    buyer_id: Option<String>,
    /// Only this publisher's calls.
    publisher_id: Option<String>,
    /// Only calls of visits from this `utmSource`.
    utm_source: Option<String>,
}

/// A range resolved: whole hours of `tz`, and the bucket width that adds
/// up exactly into them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Range {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
    width: Width,
}

/// How a summary groups.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Grouping {
    By(Dimension),
    Period(Period),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Period {
    Hour,
    Day,
    Week,
    Month,
}

fn bad(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{field}: {message}"))
}

fn time(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(field, "is not an RFC 3339 date-time (2026-12-01T00:00:00Z)"))
}

/// The start of the hour of `tz` holding `t`.
fn hour_floor(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    t - Span::seconds(i64::from(local.minute() * 60 + local.second()))
        - Span::nanoseconds(i64::from(local.nanosecond()))
}

/// The end of the hour of `tz` holding `t` (`t` itself on an hour).
fn hour_ceil(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let floor = hour_floor(t, tz);
    if floor == t {
        t
    } else {
        hour_floor(floor + Span::minutes(61), tz)
    }
}

/// Hour buckets when `tz` is a whole number of hours from UTC throughout
/// the range (checked daily and at both ends), quarter-hours otherwise.
fn width_for(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Width {
    use chrono::Offset;
    let whole =
        |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix().local_minus_utc() % 3600 == 0;
    let mut t = from;
    while t < to {
        if !whole(t) {
            return Width::Quarter;
        }
        t += Span::hours(12);
    }
    if whole(to) {
        Width::Hour
    } else {
        Width::Quarter
    }
}

impl ReportQuery {
    fn range(&self, tenant_tz: Tz, now: DateTime<Utc>) -> Result<Range, ApiError> {
        let tz = match self.tz.as_deref().map(str::trim) {
            None | Some("") => tenant_tz,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| bad("tz", format!("{name:?} is not an IANA time zone")))?,
        };
        let to = self
            .to
            .as_deref()
            .map(|t| time("to", t))
            .transpose()?
            .unwrap_or(now);
        let from = match self.from.as_deref() {
            Some(f) => time("from", f)?,
            None => to - Span::days(7),
        };
        if from >= to {
            return Err(bad("from", "must be before to"));
        }
        if to - from > Span::days(MAX_DAYS) {
            return Err(bad("to", format!("the range is over {MAX_DAYS} days")));
        }
        let (from, to) = (hour_floor(from, tz), hour_ceil(to, tz));
        Ok(Range {
            from,
            to,
            tz,
            width: width_for(tz, from, to),
        })
    }

    fn grouping(&self) -> Result<Grouping, ApiError> {
        Ok(match self.group_by.as_deref().unwrap_or("campaign") {
            "hour" => Grouping::Period(Period::Hour),
            "day" => Grouping::Period(Period::Day),
            "week" => Grouping::Period(Period::Week),
            "month" => Grouping::Period(Period::Month),
            other => match other.parse::<Dimension>() {
                Ok(d) if d != Dimension::All => Grouping::By(d),
                _ => {
                    return Err(bad(
                        "groupBy",
                        format!(
                            "{other:?} is not one of campaign, buyer, publisher, number, pool, utmSource, utmMedium, utmCampaign, landingPage, callerState, rtbTarget, hour, day, week, month"
                        ),
                    ));
                }
            },
        })
    }

    /// The `groupBy` of a report that groups by one of `allowed` (the
    /// first is the default) and takes no filter.
    fn one_of(&self, allowed: &[Dimension], report: &str) -> Result<Dimension, ApiError> {
        if self.campaign_id.is_some()
            || self.buyer_id.is_some()
            || self.publisher_id.is_some()
            || self.utm_source.is_some()
        {
            return Err(bad(
                "campaignId",
                format!("the {report} report takes no filters"),
            ));
        }
        let wanted = self.group_by.as_deref().unwrap_or(allowed[0].as_str());
        allowed
            .iter()
            .copied()
            .find(|d| d.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|d| d.as_str()).collect();
                bad(
                    "groupBy",
                    format!("{wanted:?} is not one of {}", names.join(", ")),
                )
            })
    }

    /// The filters given, each checked to be the tenant's (another
    /// tenant's id is a 404).
    async fn filters(
        &self,
        state: &AppState,
        tenant: Id,
    ) -> Result<Vec<(Dimension, String)>, ApiError> {
        let mut out = Vec::new();
        for (field, dimension, value, kinds) in [
            (
                "campaignId",
                Dimension::Campaign,
                &self.campaign_id,
                &[DocKind::Campaign][..],
            ),
            (
                "buyerId",
                Dimension::Buyer,
                &self.buyer_id,
                &[DocKind::Buyer, DocKind::RtbTarget][..],
            ),
            (
                "publisherId",
                Dimension::Publisher,
                &self.publisher_id,
                &[DocKind::Publisher][..],
            ),
        ] {
            let Some(value) = value.as_deref() else {
                continue;
            };
            let id: Id = value
                .trim()
                .parse()
                .map_err(|_| bad(field, "is not an id"))?;
            let mut found = false;
            for kind in kinds {
                found |= state
                    .engine
                    .store()
                    .get_doc(*kind, tenant, id)
                    .await?
                    .is_some();
            }
            if !found {
                return Err(ApiError::NotFound(match dimension {
                    Dimension::Campaign => "campaign",
                    Dimension::Buyer => "buyer",
                    _ => "publisher",
                }));
            }
            out.push((dimension, id.to_string()));
        }
        if let Some(source) = self.utm_source.as_deref().filter(|s| !s.is_empty()) {
            out.push((Dimension::UtmSource, source.to_owned()));
        }
        Ok(out)
    }
}

/// What is pinned in the store's rows, and what is then kept of a group.
struct Selection {
    filter: (Dimension, String),
    /// A filter on the group's own dimension: only this key is kept.
    keep: Option<String>,
}

fn select(filters: Vec<(Dimension, String)>, group: Dimension) -> Result<Selection, ApiError> {
    let (own, others): (Vec<_>, Vec<_>) = filters.into_iter().partition(|(d, _)| *d == group);
    if others.len() > 1 {
        return Err(bad(
            "campaignId",
            "combine at most one of campaignId, buyerId, publisherId and utmSource, besides a filter on what groupBy names",
        ));
    }
    Ok(Selection {
        filter: others
            .into_iter()
            .next()
            .unwrap_or((Dimension::All, String::new())),
        keep: own.into_iter().next().map(|(_, k)| k),
    })
}

async fn rows(
    state: &AppState,
    tenant: Id,
    range: &Range,
    selection: &Selection,
    group: Dimension,
) -> Result<Vec<RollupRow>, ApiError> {
    let mut rows = state
        .engine
        .store()
        .rollups(&RollupQuery {
            tenant,
            width: range.width,
            filter: selection.filter.0,
            filter_key: selection.filter.1.clone(),
            group,
            from: range.from.timestamp(),
            to: range.to.timestamp(),
        })
        .await?;
    if let Some(keep) = &selection.keep {
        rows.retain(|r| &r.key == keep);
    }
    Ok(rows)
}

/// A group's figures in one currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SummaryRow {
    /// The group's value: an id, a number, a source, a state, or a period
    /// (`2026-12-01T13:00:00-05:00`, `2026-12-01`, the Monday of a week, `2026-12`).
    key: String,
    /// What it is called (the campaign's name…; the key when it has none).
    name: String,
    /// The money's currency.
    #[schema(value_type = String)]
    currency: Currency,
    metrics: Metrics,
}

/// The totals of one currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Totals {
    #[schema(value_type = String)]
    currency: Currency,
    metrics: Metrics,
}

/// `totals`: one object, or a list when several currencies occur (money is
/// never added across currencies).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum TotalsOf {
    One(Box<Totals>),
    Several(Vec<Totals>),
}

/// A summary report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    /// The range used (widened to whole hours of `tz`).
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[schema(value_type = String)]
    tz: Tz,
    /// What the rows group by.
    group_by: String,
    rows: Vec<SummaryRow>,
    totals: TotalsOf,
}

fn totals(sums: BTreeMap<Currency, Figures>, default: Currency) -> TotalsOf {
    let mut list: Vec<Totals> = sums
        .into_iter()
        .map(|(currency, f)| Totals {
            currency,
            metrics: Metrics::of(&f),
        })
        .collect();
    match list.len() {
        0 => TotalsOf::One(Box::new(Totals {
            currency: default,
            metrics: Metrics::of(&Figures::default()),
        })),
        1 => TotalsOf::One(Box::new(list.remove(0))),
        _ => TotalsOf::Several(list),
    }
}

/// The start of the period of `tz` holding `t`, and its label.
fn period(t: DateTime<Utc>, tz: Tz, p: Period) -> (DateTime<Utc>, String) {
    let local = t.with_timezone(&tz);
    let midnight = |d: NaiveDate| start_of_day(d, tz);
    match p {
        Period::Hour => {
            let start = hour_floor(t, tz);
            (start, start.with_timezone(&tz).to_rfc3339())
        }
        Period::Day => (midnight(local.date_naive()), local.date_naive().to_string()),
        Period::Week => {
            let monday =
                local.date_naive() - Span::days(i64::from(local.weekday().num_days_from_monday()));
            (midnight(monday), monday.to_string())
        }
        Period::Month => {
            let first = local.date_naive().with_day(1).unwrap_or(local.date_naive());
            (
                midnight(first),
                format!("{:04}-{:02}", first.year(), first.month()),
            )
        }
    }
}

/// The first instant of `day` in `tz` (a day starting in a DST gap starts
/// at the gap's end).
pub(crate) fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut t = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..24 {
        if let Some(s) = tz.from_local_datetime(&t).earliest() {
            return s.with_timezone(&Utc);
        }
        t += Span::minutes(15);
    }
    Utc.from_utc_datetime(&t)
}

fn add(into: &mut Figures, row: &RollupRow) {
    into.add(&row.figures, 1);
}

/// The tenant's zone and currency, for defaults.
fn tenant_defaults(state: &AppState, tenant: Id) -> (Tz, Currency) {
    let tz = state.engine.tenant(tenant).map_or(Tz::UTC, |t| t.timezone);
    (tz, Currency::default())
}

async fn names(
    state: &AppState,
    tenant: Id,
    group: Dimension,
    keys: impl Iterator<Item = &String>,
) -> Result<HashMap<String, String>, ApiError> {
    let kinds: &[DocKind] = match group {
        Dimension::Campaign => &[DocKind::Campaign],
        Dimension::Buyer => &[DocKind::Buyer, DocKind::RtbTarget],
        Dimension::RtbTarget => &[DocKind::RtbTarget],
        Dimension::Publisher => &[DocKind::Publisher],
        Dimension::Pool => &[DocKind::Pool],
        _ => &[],
    };
    let mut out = HashMap::new();
    for key in keys {
        let Ok(id) = key.parse::<Id>() else { continue };
        for kind in kinds {
            if let Some(doc) = state.engine.store().get_doc(*kind, tenant, id).await?
                && let Some(name) = doc.body.get("name").and_then(|n| n.as_str())
            {
                out.insert(key.clone(), name.to_owned());
                break;
            }
        }
    }
    Ok(out)
}

/// The tenant's figures grouped by a dimension or a period of the zone.
#[utoipa::path(get, path = "/api/reports/summary", tag = "reports", params(ReportQuery),
    responses((status = 200, body = Summary), (status = 400, description = "a bad parameter, named"),
              (status = 401), (status = 404, description = "a filter names another tenant's (or no) resource")))]
async fn summary(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut q = query(q)?;
    let scope = auth.scope()?;
    if let Scope::Publisher(p) = scope {
        let grouping = q.grouping()?;
        narrow(&mut q, p, grouping)?;
    }
    let answer = summarize(&state, auth.tenant_id, &q).await?;
    for_publisher(scope, &answer)
}

/// Pins a publisher's query to its own calls; grouping by who bought them
/// or by publisher is not its business (403).
fn narrow(q: &mut ReportQuery, publisher: Id, grouping: Grouping) -> Result<(), ApiError> {
    if let Grouping::By(Dimension::Buyer | Dimension::RtbTarget | Dimension::Publisher) = grouping {
        return Err(ApiError::Forbidden(
            "a publisher's report groups by campaign, number, pool, traffic, state or time".into(),
        ));
    }
    if q.buyer_id.is_some() {
        return Err(ApiError::Forbidden(
            "a publisher's report takes no buyerId".into(),
        ));
    }
    match q.publisher_id.as_deref().map(str::trim) {
        Some(p) if p != publisher.to_string() => return Err(ApiError::NotFound("publisher")),
        _ => q.publisher_id = Some(publisher.to_string()),
    }
    Ok(())
}

/// The money a publisher's login never sees: what buyers pay and what the
/// network keeps (its own payout stays).
const NOT_FOR_PUBLISHERS: [&str; 5] = [
    "revenueMinor",
    "profitMinor",
    "revenuePerCallMinor",
    "marginRate",
    "roi",
];

/// The answer as JSON; for a publisher, without [`NOT_FOR_PUBLISHERS`].
fn for_publisher(scope: Scope, answer: &impl Serialize) -> Result<Response, ApiError> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in NOT_FOR_PUBLISHERS {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(answer)
        .map_err(|e| ApiError::BadRequest(format!("encoding the report: {e}")))?;
    if let Scope::Publisher(_) = scope {
        strip(&mut v);
    }
    Ok(axum::Json(v).into_response())
}

async fn summarize(state: &AppState, tenant: Id, q: &ReportQuery) -> Result<Summary, ApiError> {
    let (tenant_tz, currency) = tenant_defaults(state, tenant);
    let range = q.range(tenant_tz, Utc::now())?;
    let grouping = q.grouping()?;
    let filters = q.filters(state, tenant).await?;
    let group = match grouping {
        Grouping::By(d) => d,
        Grouping::Period(_) => Dimension::All,
    };
    let selection = select(filters, group)?;
    let found = rows(state, tenant, &range, &selection, group).await?;
    let mut groups: BTreeMap<(String, Currency), Figures> = BTreeMap::new();
    let mut labels: HashMap<String, String> = HashMap::new();
    for row in &found {
        let key = match grouping {
            Grouping::By(_) => row.key.clone(),
            Grouping::Period(p) => {
                let (_, label) = period(
                    DateTime::from_timestamp(row.bucket, 0).unwrap_or_default(),
                    range.tz,
                    p,
                );
                label
            }
        };
        add(groups.entry((key, row.currency)).or_default(), row);
    }
    // Totals count every call of the filter, grouped or not (a rejected
    // call has no buyer, but it is a call).
    let mut sums: BTreeMap<Currency, Figures> = BTreeMap::new();
    if selection.keep.is_some() || group == Dimension::All {
        for ((_, c), f) in &groups {
            sums.entry(*c).or_default().add(f, 1);
        }
    } else {
        for row in rows(state, tenant, &range, &selection, Dimension::All).await? {
            add(sums.entry(row.currency).or_default(), &row);
        }
    }
    if let Grouping::By(d) = grouping {
        labels = names(state, tenant, d, groups.keys().map(|(k, _)| k)).await?;
    }
    let mut out: Vec<SummaryRow> = groups
        .into_iter()
        .map(|((key, currency), f)| SummaryRow {
            name: labels.get(&key).cloned().unwrap_or_else(|| key.clone()),
            key,
            currency,
            metrics: Metrics::of(&f),
        })
        .collect();
    if matches!(grouping, Grouping::By(_)) {
        out.sort_by(|a, b| {
            b.metrics
                .incoming
                .cmp(&a.metrics.incoming)
                .then(a.name.cmp(&b.name))
        });
    }
    Ok(Summary {
        from: range.from,
        to: range.to,
        tz: range.tz,
        group_by: match grouping {
            Grouping::By(d) => d.as_str().to_owned(),
            Grouping::Period(p) => format!("{p:?}").to_lowercase(),
        },
        rows: out,
        totals: totals(sums, currency),
    })
}

/// One bucket of a time series, in one currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Bucket {
    /// The bucket's start (UTC); its hour or day is of `tz`.
    start: DateTime<Utc>,
    /// The money's currency (a bucket with calls in several currencies
    /// appears once per currency).
    #[schema(value_type = String)]
    currency: Currency,
    metrics: Metrics,
}

/// A time series.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Timeseries {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[schema(value_type = String)]
    tz: Tz,
    /// `hour` or `day`.
    interval: String,
    /// One per hour or day of `tz` in the range, empty ones included (a DST
    /// day has 23 or 25 hours).
    buckets: Vec<Bucket>,
}

/// The tenant's figures per hour or day of the zone.
#[utoipa::path(get, path = "/api/reports/timeseries", tag = "reports", params(ReportQuery),
    responses((status = 200, body = Timeseries), (status = 400), (status = 401), (status = 404)))]
async fn timeseries(
    State(state): State<AppState>,
    Scoped(auth): Scoped,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut q = query(q)?;
    let scope = auth.scope()?;
    if let Scope::Publisher(p) = scope {
        narrow(&mut q, p, Grouping::By(Dimension::All))?;
    }
    let interval = match q.interval.as_deref().unwrap_or("hour") {
        "hour" => Period::Hour,
        "day" => Period::Day,
        other => return Err(bad("interval", format!("{other:?} is not hour or day"))),
    };
    for_publisher(scope, &series(&state, auth.tenant_id, &q, interval).await?)
}

async fn series(
    state: &AppState,
    tenant: Id,
    q: &ReportQuery,
    interval: Period,
) -> Result<Timeseries, ApiError> {
    let (tenant_tz, default_currency) = tenant_defaults(state, tenant);
    let mut range = q.range(tenant_tz, Utc::now())?;
    if interval == Period::Day {
        // Whole days of the zone.
        range.from = period(range.from, range.tz, Period::Day).0;
        let (last, _) = period(range.to - Span::seconds(1), range.tz, Period::Day);
        range.to = start_of_day(
            last.with_timezone(&range.tz).date_naive() + Span::days(1),
            range.tz,
        );
        range.width = width_for(range.tz, range.from, range.to);
    }
    let selection = select(q.filters(state, tenant).await?, Dimension::All)?;
    let found = rows(state, tenant, &range, &selection, Dimension::All).await?;
    let mut sums: BTreeMap<(DateTime<Utc>, Currency), Figures> = BTreeMap::new();
    for row in &found {
        let at = DateTime::from_timestamp(row.bucket, 0).unwrap_or_default();
        let (start, _) = period(at, range.tz, interval);
        add(sums.entry((start, row.currency)).or_default(), row);
    }
    let mut buckets = Vec::new();
    let mut start = range.from;
    while start < range.to {
        let next = match interval {
            Period::Hour => hour_floor(start + Span::minutes(61), range.tz),
            _ => start_of_day(
                start.with_timezone(&range.tz).date_naive() + Span::days(1),
                range.tz,
            ),
        };
        let mut any = false;
        for ((s, currency), f) in sums.range((start, Currency::USD)..(next, Currency::USD)) {
            any = true;
            buckets.push(Bucket {
                start: *s,
                currency: *currency,
                metrics: Metrics::of(f),
            });
        }
        if !any {
            buckets.push(Bucket {
                start,
                currency: default_currency,
                metrics: Metrics::of(&Figures::default()),
            });
        }
        start = next;
    }
    Ok(Timeseries {
        from: range.from,
        to: range.to,
        tz: range.tz,
        interval: format!("{interval:?}").to_lowercase(),
        buckets,
    })
}

/// The original product's history: the tenant's figures per day of the
/// zone, with totals (`from`, `to` and `tz` as in the reports; filters too).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct History {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[schema(value_type = String)]
    tz: Tz,
    /// One per day of `tz`, empty days included.
    days: Vec<Bucket>,
    totals: TotalsOf,
}

async fn history(state: &AppState, tenant: Id, q: &ReportQuery) -> Result<History, ApiError> {
    let series = series(state, tenant, q, Period::Day).await?;
    let mut sums: BTreeMap<Currency, Figures> = BTreeMap::new();
    let selection = select(q.filters(state, tenant).await?, Dimension::All)?;
    let range = Range {
        from: series.from,
        to: series.to,
        tz: series.tz,
        width: width_for(series.tz, series.from, series.to),
    };
    for row in rows(state, tenant, &range, &selection, Dimension::All).await? {
        add(sums.entry(row.currency).or_default(), &row);
    }
    Ok(History {
        from: series.from,
        to: series.to,
        tz: series.tz,
        days: series.buckets,
        totals: totals(sums, tenant_defaults(state, tenant).1),
    })
}

/// `GET /api/stats/historical`: the tenant's days (the original product's path).
#[utoipa::path(get, path = "/api/stats/historical", tag = "reports", params(ReportQuery),
    responses((status = 200, body = History), (status = 400), (status = 401)))]
async fn historical(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    Ok(axum::Json(history(&state, auth.tenant_id, &q).await?).into_response())
}

/// `GET /api/stats/campaign/{id}`: one campaign's days (the original product's path).
#[utoipa::path(get, path = "/api/stats/campaign/{id}", tag = "reports", params(("id" = String, Path), ReportQuery),
    responses((status = 200, body = History), (status = 400), (status = 401), (status = 404)))]
async fn campaign_stats(
    State(state): State<AppState>,
    auth: Auth,
    ResourceId(id, _): ResourceId<switchboard_model::Campaign>,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    let mut q = query(q)?;
    if q.campaign_id.is_some() {
        return Err(bad("campaignId", "is given by the path"));
    }
    q.campaign_id = Some(id.to_string());
    Ok(axum::Json(history(&state, auth.tenant_id, &q).await?).into_response())
}

/// Calls in progress, and buyers' capacity in use.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Live {
    /// Calls in progress (not ended) of the tenant.
    live: i64,
    /// By campaign, with names.
    campaigns: Vec<LiveGroup>,
    /// Each buyer: its calls in progress and its caps in use.
    buyers: Vec<LiveBuyer>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LiveGroup {
    id: String,
    name: String,
    live: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LiveBuyer {
    /// The buyer's id.
    id: String,
    name: String,
    /// Its slots and counts against its caps, as `/api/buyers/{id}/stats`.
    #[serde(flatten)]
    capacity: BuyerCapacity,
}

/// `GET /api/reports/live`: what is happening now.
#[utoipa::path(get, path = "/api/reports/live", tag = "reports",
    responses((status = 200, body = Live), (status = 401)))]
async fn live(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    let tenant = auth.tenant_id;
    let now = Utc::now();
    let range = Range {
        from: hour_floor(now - LIVE_WINDOW, Tz::UTC),
        to: hour_ceil(now + Span::seconds(1), Tz::UTC),
        tz: Tz::UTC,
        width: Width::Hour,
    };
    let everything = Selection {
        filter: (Dimension::All, String::new()),
        keep: None,
    };
    let total: i64 = rows(&state, tenant, &range, &everything, Dimension::All)
        .await?
        .iter()
        .map(|r| r.figures.live)
        .sum();
    let mut by_campaign: BTreeMap<String, i64> = BTreeMap::new();
    for r in rows(&state, tenant, &range, &everything, Dimension::Campaign).await? {
        *by_campaign.entry(r.key).or_default() += r.figures.live;
    }
    by_campaign.retain(|_, n| *n != 0);
    let labels = names(&state, tenant, Dimension::Campaign, by_campaign.keys()).await?;
    let campaigns = by_campaign
        .into_iter()
        .map(|(id, live)| LiveGroup {
            name: labels.get(&id).cloned().unwrap_or_else(|| id.clone()),
            id,
            live,
        })
        .collect();
    let mut buyers = Vec::new();
    for doc in state
        .engine
        .store()
        .list_docs(DocKind::Buyer, Some(tenant))
        .await?
    {
        let Some(buyer) = state.engine.buyer(doc.id) else {
            continue;
        };
        let stats = state.engine.buyer_stats(buyer.id).await.unwrap_or_default();
        buyers.push(LiveBuyer {
            id: buyer.id.to_string(),
            name: buyer.name.clone(),
            capacity: BuyerCapacity::of(&buyer, &stats),
        });
    }
    buyers.sort_by(|a, b| (b.capacity.active, &a.name).cmp(&(a.capacity.active, &b.name)));
    Ok(axum::Json(Live {
        live: total,
        campaigns,
        buyers,
    })
    .into_response())
}

/// A group's RTB figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtbMetrics {
    /// Bid requests (a target asked; a router's auctions).
    bid_requests: i64,
    /// Valid bids.
    valid_bids: i64,
    /// Auctions won.
    wins: i64,
    /// Answers that were no valid bid, by why (for a router: auctions not
    /// won, by their status).
    rejected_by_reason: BTreeMap<String, i64>,
    /// Requests that timed out.
    timeouts: i64,
    /// Requests that failed.
    errors: i64,
    /// Median response time, ms (the bound of its histogram bucket: 1 ms
    /// to 50 ms, then 5, 25 and 100 ms steps); null with no request.
    response_ms_p50: Option<u32>,
    /// 95th percentile response time, ms, as above.
    response_ms_p95: Option<u32>,
    /// Wins ÷ bid requests (4 decimals).
    win_rate: f64,
    /// Average winning bid, minor units.
    average_winning_bid_minor: i64,
    /// Highest winning bid, minor units.
    max_winning_bid_minor: i64,
}

impl RtbMetrics {
    fn of(f: &switchboard_model::report::activity::BidFigures) -> Self {
        RtbMetrics {
            bid_requests: f.requests,
            valid_bids: f.valid_bids,
            wins: f.wins,
            rejected_by_reason: f.rejected.clone(),
            timeouts: f.timeouts,
            errors: f.errors,
            response_ms_p50: f.percentile(0.5),
            response_ms_p95: f.percentile(0.95),
            win_rate: if f.requests == 0 {
                0.0
            } else {
                (f.wins as f64 / f.requests as f64 * 10_000.0).round() / 10_000.0
            },
            average_winning_bid_minor: if f.wins == 0 {
                0
            } else {
                f.winning_sum_minor / f.wins
            },
            max_winning_bid_minor: f.winning_max_minor,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtbRow {
    /// The target's or router's id.
    key: String,
    name: String,
    #[schema(value_type = String)]
    currency: Currency,
    metrics: RtbMetrics,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtbTotals {
    #[schema(value_type = String)]
    currency: Currency,
    metrics: RtbMetrics,
}

/// The RTB report, in the summary's shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtbReport {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[schema(value_type = String)]
    tz: Tz,
    /// `rtbTarget` or `rtbRouter`.
    group_by: String,
    rows: Vec<RtbRow>,
    /// One per currency of the bids.
    totals: Vec<RtbTotals>,
}

/// `GET /api/reports/rtb`: per RTB target (`groupBy=rtbTarget`, the
/// default) or router: bids, wins, rejections, timeouts, errors, response
/// times and winning bids.
#[utoipa::path(get, path = "/api/reports/rtb", tag = "reports", params(ReportQuery),
    responses((status = 200, body = RtbReport), (status = 400), (status = 401)))]
async fn rtb(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    use switchboard_model::report::activity::BidFigures;
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let group = q.one_of(&[Dimension::RtbTarget, Dimension::RtbRouter], "RTB")?;
    let tenant = auth.tenant_id;
    let range = q.range(tenant_defaults(&state, tenant).0, Utc::now())?;
    let found = state
        .engine
        .store()
        .bid_rollups(&RollupQuery {
            tenant,
            width: range.width,
            filter: Dimension::All,
            filter_key: String::new(),
            group,
            from: range.from.timestamp(),
            to: range.to.timestamp(),
        })
        .await?;
    let mut groups: BTreeMap<(String, Currency), BidFigures> = BTreeMap::new();
    let mut sums: BTreeMap<Currency, BidFigures> = BTreeMap::new();
    for row in &found {
        groups
            .entry((row.key.clone(), row.currency))
            .or_default()
            .add(&row.figures);
        sums.entry(row.currency).or_default().add(&row.figures);
    }
    let kind = if group == Dimension::RtbRouter {
        DocKind::RtbRouter
    } else {
        DocKind::RtbTarget
    };
    let mut labels = HashMap::new();
    for (key, _) in groups.keys() {
        if let Ok(id) = key.parse::<Id>()
            && let Some(doc) = state.engine.store().get_doc(kind, tenant, id).await?
            && let Some(name) = doc.body.get("name").and_then(|n| n.as_str())
        {
            labels.insert(key.clone(), name.to_owned());
        }
    }
    let mut rows: Vec<RtbRow> = groups
        .into_iter()
        .map(|((key, currency), f)| RtbRow {
            name: labels.get(&key).cloned().unwrap_or_else(|| key.clone()),
            key,
            currency,
            metrics: RtbMetrics::of(&f),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.metrics
            .bid_requests
            .cmp(&a.metrics.bid_requests)
            .then(a.name.cmp(&b.name))
    });
    Ok(axum::Json(RtbReport {
        from: range.from,
        to: range.to,
        tz: range.tz,
        group_by: group.as_str().to_owned(),
        rows,
        totals: sums
            .into_iter()
            .map(|(currency, f)| RtbTotals {
                currency,
                metrics: RtbMetrics::of(&f),
            })
            .collect(),
    })
    .into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DniRow {
    /// The traffic value (`google`, `https://…/landing`).
    key: String,
    name: String,
    /// Visits tracked from it.
    visits: i64,
    /// The calls' money currency.
    #[schema(value_type = String)]
    currency: Currency,
    /// Its calls' figures (calls are `incoming`, conversions `converted`).
    metrics: Metrics,
    /// Calls ÷ visits (4 decimals); null with no visit.
    calls_per_visit: Option<f64>,
}

/// The DNI report, in the summary's shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DniReport {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[schema(value_type = String)]
    tz: Tz,
    /// `utmSource`, `utmMedium`, `utmCampaign` or `landingPage`.
    group_by: String,
    rows: Vec<DniRow>,
    /// Every visit in the range.
    visits: i64,
    totals: TotalsOf,
}

/// `GET /api/reports/dni`: visits, calls, conversions and revenue by
/// traffic source (`groupBy=utmSource`, the default, `utmMedium`,
/// `utmCampaign` or `landingPage`).
#[utoipa::path(get, path = "/api/reports/dni", tag = "reports", params(ReportQuery),
    responses((status = 200, body = DniReport), (status = 400), (status = 401)))]
async fn dni(
    State(state): State<AppState>,
    auth: Auth,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let group = q.one_of(
        &[
            Dimension::UtmSource,
            Dimension::UtmMedium,
            Dimension::UtmCampaign,
            Dimension::LandingPage,
        ],
        "DNI",
    )?;
    let tenant = auth.tenant_id;
    let (tz, default_currency) = tenant_defaults(&state, tenant);
    let range = q.range(tz, Utc::now())?;
    let everything = Selection {
        filter: (Dimension::All, String::new()),
        keep: None,
    };
    let visit_query = |group| RollupQuery {
        tenant,
        width: range.width,
        filter: Dimension::All,
        filter_key: String::new(),
        group,
        from: range.from.timestamp(),
        to: range.to.timestamp(),
    };
    let store = state.engine.store();
    let mut visits: BTreeMap<String, i64> = BTreeMap::new();
    for row in store.visit_rollups(&visit_query(group)).await? {
        *visits.entry(row.key).or_default() += row.visits;
    }
    let all_visits: i64 = store
        .visit_rollups(&visit_query(Dimension::All))
        .await?
        .iter()
        .map(|r| r.visits)
        .sum();
    let mut calls: BTreeMap<(String, Currency), Figures> = BTreeMap::new();
    for row in rows(&state, tenant, &range, &everything, group).await? {
        add(
            calls.entry((row.key.clone(), row.currency)).or_default(),
            &row,
        );
    }
    let mut sums: BTreeMap<Currency, Figures> = BTreeMap::new();
    for row in rows(&state, tenant, &range, &everything, Dimension::All).await? {
        add(sums.entry(row.currency).or_default(), &row);
    }
    // A source with visits and no call yet still has its row.
    for key in visits.keys() {
        if !calls.keys().any(|(k, _)| k == key) {
            calls.insert((key.clone(), default_currency), Figures::default());
        }
    }
    let mut out: Vec<DniRow> = calls
        .into_iter()
        .map(|((key, currency), f)| {
            let v = visits.get(&key).copied().unwrap_or(0);
            DniRow {
                name: key.clone(),
                key,
                visits: v,
                currency,
                calls_per_visit: (v != 0)
                    .then(|| (f.incoming as f64 / v as f64 * 10_000.0).round() / 10_000.0),
                metrics: Metrics::of(&f),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.visits
            .cmp(&a.visits)
            .then(b.metrics.incoming.cmp(&a.metrics.incoming))
    });
    Ok(axum::Json(DniReport {
        from: range.from,
        to: range.to,
        tz: range.tz,
        group_by: group.as_str().to_owned(),
        rows: out,
        visits: all_visits,
        totals: totals(sums, default_currency),
    })
    .into_response())
}

/// The data of one event on `/api/events`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventData {
    #[schema(value_type = String, format = Uuid)]
    call_id: Id,
    at: DateTime<Utc>,
}

/// `GET /api/events`: the tenant's call events as Server-Sent Events. The
/// `event` field is the event's name (`incoming`, `connected`, …), `id` its
/// position in the log, `data` `{callId, at}`. A reconnect with
/// `Last-Event-ID` resumes after it (events are kept a day); without it the
/// stream starts now.
#[utoipa::path(get, path = "/api/events", tag = "reports",
    params(("Last-Event-ID" = Option<String>, Header, description = "resume after this position")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream"),
              (status = 401), (status = 503, description = "the store keeps no event log")))]
async fn events(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    let tenant = auth.tenant_id;
    let store = state.engine.store().clone();
    let Some(mut positions) = store.event_positions() else {
        return Err(ApiError::Store(switchboard_store::StoreError::Backend(
            "call events are not supported by this store".into(),
        )));
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let start = resume.unwrap_or_else(|| *positions.borrow_and_update());
    let stream = futures::stream::unfold(
        (store, positions, start, std::collections::VecDeque::new()),
        move |(store, mut positions, mut after, mut queue)| async move {
            loop {
                if let Some(e) = queue.pop_front() {
                    return Some((Ok::<_, Infallible>(e), (store, positions, after, queue)));
                }
                let seen = *positions.borrow_and_update();
                match store.events_after(Some(tenant), after, 500).await {
                    Ok(found) if !found.is_empty() => {
                        after = found.last().map_or(after, |e| e.position);
                        if found.len() < 500 {
                            after = after.max(seen);
                        }
                        for e in found {
                            let data = EventData {
                                call_id: e.call_id,
                                at: e.at,
                            };
                            queue.push_back(
                                Event::default()
                                    .event(e.kind.as_str())
                                    .id(e.position.to_string())
                                    .json_data(&data)
                                    .unwrap_or_default(),
                            );
                        }
                        continue;
                    }
                    Ok(_) => after = after.max(seen),
                    Err(e) => tracing::warn!(error = %e, "reading call events failed"),
                }
                // Wait for the next events (or the stream's end with the server).
                let waited =
                    tokio::time::timeout(Duration::from_secs(30), positions.changed()).await;
                if let Ok(Err(_)) = waited {
                    return None;
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ranges_widen_to_whole_hours_of_the_zone_and_pick_a_width_that_adds_up() {
        let q = |from: &str, to: &str, tz: &str| ReportQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            tz: Some(tz.into()),
            ..Default::default()
        };
        let r = q(
            "2026-12-01T10:20:00Z",
            "2026-12-01T12:00:00Z",
            "America/New_York",
        )
        .range(Tz::UTC, Utc::now())
        .unwrap();
        assert_eq!(
            (r.from, r.to, r.width),
            (
                at("2026-12-01T10:00:00Z"),
                at("2026-12-01T12:00:00Z"),
                Width::Hour
            )
        );
        // India is 5:30 from UTC: its hours start at :30, in quarter-hour buckets.
        let r = q(
            "2026-12-01T10:20:00Z",
            "2026-12-01T12:10:00Z",
            "Asia/Kolkata",
        )
        .range(Tz::UTC, Utc::now())
        .unwrap();
        assert_eq!(
            (r.from, r.to, r.width),
            (
                at("2026-12-01T09:30:00Z"),
                at("2026-12-01T12:30:00Z"),
                Width::Quarter
            )
        );
        for (from, to, tz, field) in [
            (
                "2026-12-02T00:00:00Z",
                "2026-12-01T00:00:00Z",
                "UTC",
                "from",
            ),
            ("yesterday", "2026-12-01T00:00:00Z", "UTC", "from"),
            ("2024-01-01T00:00:00Z", "2026-12-01T00:00:00Z", "UTC", "to"),
            (
                "2026-11-01T00:00:00Z",
                "2026-12-01T00:00:00Z",
                "Mars/Olympus",
                "tz",
            ),
        ] {
            let e = q(from, to, tz).range(Tz::UTC, Utc::now()).unwrap_err();
            assert!(e.to_string().starts_with(field), "{e}");
        }
    }

    #[test]
    fn a_dst_day_has_23_or_25_hours_and_weeks_start_on_monday() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let hours = |d: &str| {
            (start_of_day(day(d) + Span::days(1), ny) - start_of_day(day(d), ny)).num_hours()
        };
        assert_eq!(
            (
                hours("2026-03-08"),
                hours("2026-11-01"),
                hours("2026-12-01")
            ),
            (23, 25, 24)
        );
        let (start, label) = period(at("2026-12-03T15:00:00Z"), ny, Period::Week);
        assert_eq!(
            (start, label.as_str()),
            (at("2026-11-30T05:00:00Z"), "2026-11-30")
        );
        let (_, label) = period(at("2026-12-01T03:00:00Z"), ny, Period::Month);
        assert_eq!(label, "2026-11", "still November in New York");
    }
}
