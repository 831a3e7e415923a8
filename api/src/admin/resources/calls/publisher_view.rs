//! A publisher's view of a call: the one projection every path that serves
//! calls to a publisher's login goes through (`GET /api/calls` as JSON and
//! as CSV, `GET /api/calls/{id}`).
//!
//! It is an allow-list: [`PublisherCall`] names each field a publisher may
//! see, so a field added to [`CallRecord`] later stays hidden until it is
//! added here. Left out: revenue, profit, the buyer and every attempt and
//! skipped buyer (so RTB bids too), recordings, adjustments, the DNI
//! visit and Twilio's sid. The caller's number is masked
//! ([`mask_caller`]) unless the tenant's `publisherSeesCallerNumbers` is on.

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_model::money::format_decimal;
use switchboard_model::{CallRecord, CallStatus, CallTags, Id, RejectReason};

use crate::export::{Names, neutralise};

/// A call as a publisher's login sees it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublisherCall {
    /// Switchboard's id.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) id: Id,
    /// The campaign that answered the number.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) campaign_id: Id,
    /// Its name.
    pub(crate) campaign_name: Option<String>,
    /// The caller: every digit but the last 4 masked (`+*******1234`),
    /// unless the tenant shows publishers whole numbers.
    pub(crate) from: String,
    /// The tracking number dialed.
    pub(crate) to: String,
    /// Caller's state.
    pub(crate) caller_state: Option<String>,
    /// Caller's ZIP.
    pub(crate) caller_zip: Option<String>,
    /// Where it stands.
    pub(crate) status: CallStatus,
    /// Why it was refused, when it was.
    pub(crate) reject_reason: Option<RejectReason>,
    /// A repeat caller inside the campaign's duplicate window.
    pub(crate) duplicate: bool,
    /// The call's tags (the caller's location, the visit's traffic, the
    /// publisher's own and the campaign's fixed tags; none names a buyer).
    pub(crate) tags: CallTags,
    /// When the webhook arrived.
    pub(crate) started_at: DateTime<Utc>,
    /// When it was answered.
    pub(crate) answered_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub(crate) ended_at: Option<DateTime<Utc>>,
    /// Talk time, seconds.
    pub(crate) duration_seconds: u32,
    /// Whether it converted.
    pub(crate) converted: bool,
    /// What the call pays the publisher, a decimal in `currency`.
    #[schema(example = "10.00")]
    pub(crate) payout: String,
    /// The same, minor units of `currency`.
    pub(crate) payout_minor: i64,
    /// Currency of the payout.
    pub(crate) currency: String,
    /// The publisher (always the caller's own).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub(crate) publisher_id: Option<Id>,
}

impl PublisherCall {
    /// The view of `c`, naming its campaign from `names`; the caller is
    /// masked unless `whole_callers`.
    pub(crate) fn of(c: &CallRecord, names: &Names, whole_callers: bool) -> Self {
        Self {
            id: c.id,
            campaign_id: c.campaign_id,
            campaign_name: names.of(c.campaign_id),
            from: match whole_callers {
                true => c.from.clone(),
                false => mask_caller(&c.from),
            },
            to: c.to.as_str().to_owned(),
            caller_state: c.caller_state.clone(),
            caller_zip: c.caller_zip.clone(),
            status: c.status,
            reject_reason: c.reject_reason,
            duplicate: c.duplicate,
            tags: c.tags.clone(),
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            duration_seconds: c.duration_seconds,
            converted: c.converted,
            payout: format_decimal(c.payout_minor, c.currency.minor_digits()),
            payout_minor: c.payout_minor,
            currency: c.currency.code().to_owned(),
            publisher_id: c.publisher_id,
        }
    }
}

/// The CSV columns of a publisher's calls, in [`csv_row`] order.
const CSV_HEADER: &[&str] = &[
    "id",
    "campaignId",
    "campaignName",
    "from",
    "to",
    "callerState",
    "callerZip",
    "status",
    "rejectReason",
    "duplicate",
    "startedAt",
    "answeredAt",
    "endedAt",
    "durationSeconds",
    "converted",
    "payout",
    "payoutMinor",
    "currency",
    "publisherId",
    "tags",
];

/// `calls` as CSV: the header row, then a row each (CRLF, as the staff export).
pub(crate) fn csv(calls: &[PublisherCall]) -> csv::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for c in calls {
        w.write_record(csv_row(c))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// One CSV row of `c`, each cell neutralised against spreadsheet formulas.
fn csv_row(c: &PublisherCall) -> Vec<String> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let t = |v: Option<DateTime<Utc>>| {
        v.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let cells = [
        c.id.to_string(),
        c.campaign_id.to_string(),
        o(&c.campaign_name),
        c.from.clone(),
        c.to.clone(),
        o(&c.caller_state),
        o(&c.caller_zip),
        c.status.as_str().to_owned(),
        c.reject_reason
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        c.duplicate.to_string(),
        t(Some(c.started_at)),
        t(c.answered_at),
        t(c.ended_at),
        c.duration_seconds.to_string(),
        c.converted.to_string(),
        c.payout.clone(),
        c.payout_minor.to_string(),
        c.currency.clone(),
        c.publisher_id.map(|p| p.to_string()).unwrap_or_default(),
        serde_json::to_string(&c.tags).unwrap_or_default(),
    ];
    cells
        .iter()
        .map(|cell| neutralise(cell).into_owned())
        .collect()
}

/// `from` with every digit but the last 4 replaced by `*`, other
/// characters kept: `+15551231234` is `+*******1234`. A caller with 4
/// digits or fewer (or none, such as `anonymous`) is shown as it is: there
/// is nothing to hide.
pub(crate) fn mask_caller(from: &str) -> String {
    let digits = from.chars().filter(char::is_ascii_digit).count();
    let mut hide = digits.saturating_sub(4);
    from.chars()
        .map(|ch| {
            if hide > 0 && ch.is_ascii_digit() {
                hide -= 1;
                '*'
            } else {
                ch
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_keeps_only_its_last_four_digits() {
        assert_eq!(mask_caller("+15551231234"), "+*******1234");
        assert_eq!(mask_caller("+442071838750"), "+********8750");
        assert_eq!(mask_caller("1234"), "1234");
        assert_eq!(mask_caller("anonymous"), "anonymous");
        assert_eq!(mask_caller(""), "");
    }

    #[test]
    fn the_csv_row_has_a_cell_per_column() {
        let json = serde_json::json!({
            "id": switchboard_model::new_id(), "callSid": "CA1", "tenantId": switchboard_model::new_id(),
            "campaignId": switchboard_model::new_id(), "from": "+15551231234", "to": "+15550001000",
            "status": "completed", "startedAt": "2026-12-03T10:00:00Z", "revenueMinor": 2500,
            "payoutMinor": 1000, "profitMinor": 1500, "currency": "USD"
        });
        let call: CallRecord = serde_json::from_value(json).unwrap();
        let view = PublisherCall::of(&call, &Names::default(), false);
        let row = csv_row(&view);
        assert_eq!(row.len(), CSV_HEADER.len());
        // A cell that starts with `+` and is not a number is quoted for spreadsheets.
        assert_eq!(
            (row[3].as_str(), row[15].as_str()),
            ("'+*******1234", "10.00")
        );
    }
}
