//! `switchboard calls export`: every stored call, as JSON lines or CSV.
//!
//! Reads the store page by page in id order, so memory stays flat however
//! many calls there are. Times are RFC 3339 in UTC; money is a decimal
//! amount (and the same in integer minor units) plus the currency code.
//! Campaigns and buyers are named as well as identified, so the file reads
//! without lookups (a name is empty when its campaign or buyer is gone).

use std::io::Write;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use switchboard_model::money::format_decimal;
use switchboard_model::{CallRecord, Id};
use switchboard_store::{Doc, DocKind, DocPages, Store, StoreError};

/// Calls read from the store per page.
const PAGE: usize = 1000;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    #[default]
    Jsonl,
    /// A header row, then one row per call.
    Csv,
}

/// One exported call: the flat shape of a [`CallRecord`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    /// Switchboard's call id.
    pub id: String,
    /// Twilio's `CallSid`.
    pub call_sid: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Campaign that answered.
    pub campaign_id: String,
    /// Its name.
    pub campaign_name: Option<String>,
    /// Caller.
    pub from: String,
    /// Tracking number dialed.
    pub to: String,
    /// Caller's state.
    pub caller_state: Option<String>,
    /// Caller's ZIP.
    pub caller_zip: Option<String>,
    /// Buyer (or RTB target) that has (or last had) the call.
    pub buyer_id: Option<String>,
    /// Its name.
    pub buyer_name: Option<String>,
    /// `ringing`, `in-progress`, `completed`, `no-answer` or `rejected`.
    pub status: String,
    /// Why it was refused, when it was.
    pub reject_reason: Option<String>,
    /// When the webhook arrived.
    pub started_at: String,
    /// When a buyer answered.
    pub answered_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Talk time, seconds.
    pub duration_seconds: u32,
    /// Reached the buyer's conversion threshold.
    pub converted: bool,
    /// Revenue booked, a decimal amount (`25.00`).
    pub revenue: String,
    /// The same in minor units.
    pub revenue_minor: i64,
    /// ISO currency of the revenue.
    pub currency: String,
    /// Dial attempts after the first.
    pub fallthroughs: u32,
    /// Recording, when there is one.
    pub recording_url: Option<String>,
}

/// CSV column names, in [`ExportRow`] order.
pub const CSV_HEADER: &[&str] = &[
    "id",
    "callSid",
    "tenantId",
    "campaignId",
    "campaignName",
    "from",
    "to",
    "callerState",
    "callerZip",
    "buyerId",
    "buyerName",
    "status",
    "rejectReason",
    "startedAt",
    "answeredAt",
    "endedAt",
    "durationSeconds",
    "converted",
    "revenue",
    "revenueMinor",
    "currency",
    "fallthroughs",
    "recordingUrl",
];

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Names of campaigns, buyers and RTB targets by id.
#[derive(Debug, Default)]
pub struct Names(HashMap<Id, String>);

impl Names {
    /// Every campaign, buyer and RTB target in the store (of one tenant, or
    /// all): for an export of every call.
    pub async fn load(store: &dyn Store, tenant: Option<Id>) -> Result<Names, StoreError> {
        let mut names = Names::default();
        for kind in [DocKind::Campaign, DocKind::Buyer, DocKind::RtbTarget] {
            let mut pages = DocPages::new(store, kind, tenant, PAGE);
            while let Some(docs) = pages.next_page().await? {
                docs.iter().for_each(|d| names.add(d));
            }
        }
        Ok(names)
    }

    /// The campaigns and buyers (or RTB targets) `calls` of `tenant` name,
    /// and only those: for one page of calls.
    pub async fn of_calls(store: &dyn Store, tenant: Id, calls: &[CallRecord]) -> Result<Names, StoreError> {
        let mut names = Names::default();
        let campaigns: HashSet<Id> = calls.iter().map(|c| c.campaign_id).collect();
        let buyers: HashSet<Id> = calls.iter().filter_map(|c| c.buyer_id).collect();
        for (ids, kinds) in [(campaigns, &[DocKind::Campaign][..]), (buyers, &[DocKind::Buyer, DocKind::RtbTarget][..])] {
            for id in ids {
                for kind in kinds {
                    if let Some(doc) = store.get_doc(*kind, tenant, id).await? {
                        names.add(&doc);
                        break;
                    }
                }
            }
        }
        Ok(names)
    }

    fn add(&mut self, doc: &Doc) {
        if let Some(name) = doc.body.get("name").and_then(|n| n.as_str()) {
            self.0.insert(doc.id, name.to_owned());
        }
    }

    fn of(&self, id: Id) -> Option<String> {
        self.0.get(&id).cloned()
    }
}

impl ExportRow {
    /// The row of `c`, naming its campaign and buyer from `names`.
    pub fn new(c: &CallRecord, names: &Names) -> Self {
        Self {
            id: c.id.to_string(),
            call_sid: c.call_sid.clone(),
            tenant_id: c.tenant_id.to_string(),
            campaign_id: c.campaign_id.to_string(),
            campaign_name: names.of(c.campaign_id),
            from: c.from.clone(),
            to: c.to.to_string(),
            caller_state: c.caller_state.clone(),
            caller_zip: c.caller_zip.clone(),
            buyer_id: c.buyer_id.map(|b| b.to_string()),
            buyer_name: c.buyer_id.and_then(|b| names.of(b)),
            status: c.status.as_str().to_owned(),
            reject_reason: c.reject_reason.map(|r| r.as_str().to_owned()),
            started_at: time(c.started_at),
            answered_at: c.answered_at.map(time),
            ended_at: c.ended_at.map(time),
            duration_seconds: c.duration_seconds,
            converted: c.converted,
            revenue: format_decimal(c.revenue_minor, c.currency.minor_digits()),
            revenue_minor: c.revenue_minor,
            currency: c.currency.code().to_owned(),
            fallthroughs: c.fallthroughs(),
            recording_url: c.recording_url.clone(),
        }
    }

    fn csv_fields(&self) -> [String; 23] {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.id.clone(),
            self.call_sid.clone(),
            self.tenant_id.clone(),
            self.campaign_id.clone(),
            o(&self.campaign_name),
            self.from.clone(),
            self.to.clone(),
            o(&self.caller_state),
            o(&self.caller_zip),
            o(&self.buyer_id),
            o(&self.buyer_name),
            self.status.clone(),
            o(&self.reject_reason),
            self.started_at.clone(),
            o(&self.answered_at),
            o(&self.ended_at),
            self.duration_seconds.to_string(),
            self.converted.to_string(),
            self.revenue.clone(),
            self.revenue_minor.to_string(),
            self.currency.clone(),
            self.fallthroughs.to_string(),
            o(&self.recording_url),
        ]
    }
}

/// Quotes a CSV field when it holds a comma, quote, line break or edge space (RFC 4180).
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    let needs = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs { format!("\"{}\"", s.replace('"', "\"\"")).into() } else { s.into() }
}

fn csv_line(out: &mut impl Write, fields: impl IntoIterator<Item = impl AsRef<str>>) -> std::io::Result<()> {
    let mut first = true;
    for f in fields {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        out.write_all(csv_field(f.as_ref()).as_bytes())?;
    }
    // RFC 4180 line ending.
    out.write_all(b"\r\n")
}

/// Writes the CSV header row (shared by `calls export` and `GET /api/calls`).
pub fn write_csv_header(out: &mut impl Write) -> std::io::Result<()> {
    csv_line(out, CSV_HEADER)
}

/// Writes one call as a CSV row, in [`CSV_HEADER`] order.
pub fn write_csv_row(out: &mut impl Write, call: &CallRecord, names: &Names) -> std::io::Result<()> {
    csv_line(out, ExportRow::new(call, names).csv_fields())
}

/// Writes every stored call to `out`; returns how many.
pub async fn export_calls(store: &dyn Store, format: Format, out: &mut impl Write) -> anyhow::Result<u64> {
    let names = Names::load(store, None).await?;
    if format == Format::Csv {
        write_csv_header(out)?;
    }
    let mut after = None;
    let mut count = 0u64;
    loop {
        let page = store.scan_calls(after, PAGE).await?;
        for call in &page {
            match format {
                Format::Jsonl => {
                    serde_json::to_writer(&mut *out, &ExportRow::new(call, &names))?;
                    out.write_all(b"\n")?;
                }
                Format::Csv => write_csv_row(out, call, &names)?,
            }
            count += 1;
        }
        // Stop on an empty page rather than a short one: a backend may page
        // by bytes, not only by count.
        match page.last() {
            Some(last) => after = Some(last.id),
            None => break,
        }
    }
    out.flush()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("+15550001000"), "+15550001000");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" pad"), "\" pad\"");
        let mut out = Vec::new();
        csv_line(&mut out, ["a", "b,c", ""]).unwrap();
        assert_eq!(out, b"a,\"b,c\",\r\n");
    }

    #[test]
    fn header_matches_the_row() {
        let row = ExportRow {
            id: "i".into(),
            call_sid: "CA".into(),
            tenant_id: "t".into(),
            campaign_id: "c".into(),
            campaign_name: None,
            from: "f".into(),
            to: "+1".into(),
            caller_state: None,
            caller_zip: None,
            buyer_id: None,
            buyer_name: None,
            status: "ringing".into(),
            reject_reason: None,
            started_at: "s".into(),
            answered_at: None,
            ended_at: None,
            duration_seconds: 0,
            converted: false,
            revenue: "0.00".into(),
            revenue_minor: 0,
            currency: "USD".into(),
            fallthroughs: 0,
            recording_url: None,
        };
        let json = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut header: Vec<&str> = CSV_HEADER.to_vec();
        let mut keys_sorted = keys.clone();
        header.sort_unstable();
        keys_sorted.sort_unstable();
        assert_eq!(header, keys_sorted);
        assert_eq!(row.csv_fields().len(), CSV_HEADER.len());
    }
}
