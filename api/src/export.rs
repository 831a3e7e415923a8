//! `switchboard calls export`: every stored call, as JSON lines or CSV.
//!
//! Reads the store page by page in id order, so memory stays flat however
//! many calls there are. Times are RFC 3339 in UTC; money is a decimal
//! amount (and the same in integer minor units) plus the currency code.
//! Campaigns, buyers and publishers are named as well as identified, so the file reads
//! without lookups (a name is empty when its campaign or buyer is gone).
//!
//! CSV is written by the `csv` crate (RFC 4180 quoting, CRLF), every cell
//! through [`neutralise`]: callers, campaign and buyer names are other
//! people's text, and a spreadsheet runs a cell that starts with `=` as a
//! formula (OWASP "CSV injection").

use std::borrow::Cow;
use std::io::Write;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use switchboard_model::money::format_decimal;
use switchboard_model::{CallRecord, CallTags, Id, Skipped};
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
    /// `ringing`, `in-progress`, `completed`, `no-answer`, `rejected` or
    /// `blocked` (the caller is on the blocklist).
    pub status: String,
    /// Why it was refused, when it was.
    pub reject_reason: Option<String>,
    /// A repeat caller inside the campaign's duplicate window.
    pub duplicate: bool,
    /// Seeded by `serve --demo` as past history (never postbacked).
    pub demo: bool,
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
    /// What the publisher is paid, a decimal amount.
    pub payout: String,
    /// The same in minor units.
    pub payout_minor: i64,
    /// Revenue minus payout, a decimal amount.
    pub profit: String,
    /// The same in minor units.
    pub profit_minor: i64,
    /// ISO currency of the revenue, payout and profit.
    pub currency: String,
    /// The publisher the call is attributed to.
    pub publisher_id: Option<String>,
    /// Its name.
    pub publisher_name: Option<String>,
    /// Dial attempts after the first.
    pub fallthroughs: u32,
    /// Recording, when there is one.
    pub recording_url: Option<String>,
    /// The call's tags (in CSV, a JSON object).
    pub tags: CallTags,
    /// Buyers passed over without dialing, with why (in CSV, a JSON list).
    pub skipped: Vec<Skipped>,
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
    "duplicate",
    "demo",
    "startedAt",
    "answeredAt",
    "endedAt",
    "durationSeconds",
    "converted",
    "revenue",
    "revenueMinor",
    "payout",
    "payoutMinor",
    "profit",
    "profitMinor",
    "currency",
    "publisherId",
    "publisherName",
    "fallthroughs",
    "recordingUrl",
    "tags",
    "skipped",
];

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Names of campaigns, buyers, RTB targets and publishers by id.
#[derive(Debug, Default)]
pub struct Names(HashMap<Id, String>);

impl Names {
    /// Every campaign, buyer, RTB target and publisher in the store (of
    /// one tenant, or all): for an export of every call.
    pub async fn load(store: &dyn Store, tenant: Option<Id>) -> Result<Names, StoreError> {
        let mut names = Names::default();
        for kind in [
            DocKind::Campaign,
            DocKind::Buyer,
            DocKind::RtbTarget,
            DocKind::Publisher,
        ] {
            let mut pages = DocPages::new(store, kind, tenant, PAGE);
            while let Some(docs) = pages.next_page().await? {
                docs.iter().for_each(|d| names.add(d));
            }
        }
        Ok(names)
    }

    /// The campaigns, buyers (or RTB targets) and publishers `calls` of
    /// `tenant` name, and only those: for one page of calls.
    pub async fn of_calls(
        store: &dyn Store,
        tenant: Id,
        calls: &[CallRecord],
    ) -> Result<Names, StoreError> {
        let campaigns: HashSet<Id> = calls.iter().map(|c| c.campaign_id).collect();
        let buyers: HashSet<Id> = calls.iter().filter_map(|c| c.buyer_id).collect();
        let publishers: HashSet<Id> = calls.iter().filter_map(|c| c.publisher_id).collect();
        Self::of_ids(
            store,
            tenant,
            [
                (campaigns, &[DocKind::Campaign][..]),
                (buyers, &[DocKind::Buyer, DocKind::RtbTarget][..]),
                (publishers, &[DocKind::Publisher][..]),
            ],
        )
        .await
    }

    /// The campaigns `calls` of `tenant` name, and nothing else: what a
    /// publisher's view of them may name.
    pub async fn campaigns_of(
        store: &dyn Store,
        tenant: Id,
        calls: &[CallRecord],
    ) -> Result<Names, StoreError> {
        let campaigns: HashSet<Id> = calls.iter().map(|c| c.campaign_id).collect();
        Self::of_ids(store, tenant, [(campaigns, &[DocKind::Campaign][..])]).await
    }

    async fn of_ids<const N: usize>(
        store: &dyn Store,
        tenant: Id,
        groups: [(HashSet<Id>, &[DocKind]); N],
    ) -> Result<Names, StoreError> {
        let mut names = Names::default();
        for (ids, kinds) in groups {
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

    /// The name of `id`, if it was loaded.
    pub fn of(&self, id: Id) -> Option<String> {
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
            duplicate: c.duplicate,
            demo: c.demo,
            started_at: time(c.started_at),
            answered_at: c.answered_at.map(time),
            ended_at: c.ended_at.map(time),
            duration_seconds: c.duration_seconds,
            converted: c.converted,
            revenue: format_decimal(c.revenue_minor, c.currency.minor_digits()),
            revenue_minor: c.revenue_minor,
            payout: format_decimal(c.payout_minor, c.currency.minor_digits()),
            payout_minor: c.payout_minor,
            profit: format_decimal(c.profit_minor, c.currency.minor_digits()),
            profit_minor: c.profit_minor,
            currency: c.currency.code().to_owned(),
            publisher_id: c.publisher_id.map(|p| p.to_string()),
            publisher_name: c.publisher_id.and_then(|p| names.of(p)),
            fallthroughs: c.fallthroughs(),
            recording_url: c.recording_url.clone(),
            tags: c.tags.clone(),
            skipped: c.skipped.clone(),
        }
    }

    fn csv_fields(&self) -> [String; 33] {
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
            self.duplicate.to_string(),
            self.demo.to_string(),
            self.started_at.clone(),
            o(&self.answered_at),
            o(&self.ended_at),
            self.duration_seconds.to_string(),
            self.converted.to_string(),
            self.revenue.clone(),
            self.revenue_minor.to_string(),
            self.payout.clone(),
            self.payout_minor.to_string(),
            self.profit.clone(),
            self.profit_minor.to_string(),
            self.currency.clone(),
            o(&self.publisher_id),
            o(&self.publisher_name),
            self.fallthroughs.to_string(),
            o(&self.recording_url),
            serde_json::to_string(&self.tags).unwrap_or_default(),
            serde_json::to_string(&self.skipped).unwrap_or_default(),
        ]
    }
}

/// A cell a spreadsheet shows as text rather than runs (OWASP CSV
/// injection): one starting with `=`, `@`, a tab or a carriage return, or
/// with `+` or `-` when it is not a number, gets a leading `'`. Numbers stay
/// as they are, E.164 (`+15551234567`) and amounts (`-1.50`) alike, so the
/// file still reads back.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = match cell.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => !is_number(&cell[1..]),
        _ => false,
    };
    if risky {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Digits, optionally with a fraction: `15551234567`, `1.50`.
fn is_number(s: &str) -> bool {
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(s),
    }
}

/// Calls as CSV: the header row, then one row per call, in [`CSV_HEADER`]
/// order (shared by `calls export` and `GET /api/calls`).
pub struct CsvWriter<W: Write>(csv::Writer<W>);

impl<W: Write> CsvWriter<W> {
    /// A writer to `out` that has written the header row.
    pub fn new(out: W) -> csv::Result<Self> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        w.write_record(CSV_HEADER)?;
        Ok(Self(w))
    }

    /// Writes one call.
    pub fn row(&mut self, call: &CallRecord, names: &Names) -> csv::Result<()> {
        let fields = ExportRow::new(call, names).csv_fields();
        self.0
            .write_record(fields.iter().map(|f| neutralise(f).into_owned()))
    }

    /// Flushes and hands `out` back.
    pub fn finish(self) -> std::io::Result<W> {
        self.0.into_inner().map_err(|e| e.into_error())
    }
}

/// Writes every stored call to `out`; returns how many.
pub async fn export_calls(
    store: &dyn Store,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let names = Names::load(store, None).await?;
    let mut sink = match format {
        Format::Csv => Sink::Csv(Box::new(CsvWriter::new(out)?)),
        Format::Jsonl => Sink::Jsonl(out),
    };
    let mut after = None;
    let mut count = 0u64;
    loop {
        let page = store.scan_calls(after, PAGE).await?;
        for call in &page {
            match &mut sink {
                Sink::Csv(csv) => csv.row(call, &names)?,
                Sink::Jsonl(out) => {
                    serde_json::to_writer(&mut **out, &ExportRow::new(call, &names))?;
                    out.write_all(b"\n")?;
                }
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
    match sink {
        Sink::Csv(csv) => csv.finish()?.flush()?,
        Sink::Jsonl(out) => out.flush()?,
    }
    Ok(count)
}

/// Where [`export_calls`] writes.
enum Sink<'a, W: Write> {
    Jsonl(&'a mut W),
    Csv(Box<CsvWriter<&'a mut W>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_line(fields: &[&str]) -> String {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        w.write_record(fields.iter().map(|f| neutralise(f).into_owned()))
            .unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_line(&["plain"]), "plain\r\n");
        assert_eq!(csv_line(&["+15550001000"]), "+15550001000\r\n");
        assert_eq!(csv_line(&["a,b"]), "\"a,b\"\r\n");
        assert_eq!(csv_line(&["say \"hi\""]), "\"say \"\"hi\"\"\"\r\n");
        assert_eq!(csv_line(&["two\nlines"]), "\"two\nlines\"\r\n");
        assert_eq!(csv_line(&["a", "b,c", ""]), "a,\"b,c\",\r\n");
    }

    #[test]
    fn formula_cells_are_neutralised_and_numbers_kept() {
        for (cell, out) in [
            (
                "=HYPERLINK(\"http://evil\",\"x\")",
                "'=HYPERLINK(\"http://evil\",\"x\")",
            ),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("+", "'+"),
            ("-", "'-"),
            ("+1.", "'+1."),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("+15551234567", "+15551234567"),
            ("-1.50", "-1.50"),
            ("+42", "+42"),
            ("25.00", "25.00"),
            ("Acme = best", "Acme = best"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), out, "{cell:?}");
        }
        // Quoting still applies to a neutralised cell, and the file reads back.
        let line = csv_line(&["=1,2", "+15551234567", "-1.50"]);
        assert_eq!(line, "\"'=1,2\",+15551234567,-1.50\r\n");
        let back: Vec<String> = csv::Reader::from_reader(format!("a,b,c\r\n{line}").as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(back, ["'=1,2", "+15551234567", "-1.50"]);
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
            duplicate: false,
            demo: false,
            started_at: "s".into(),
            answered_at: None,
            ended_at: None,
            duration_seconds: 0,
            converted: false,
            revenue: "0.00".into(),
            revenue_minor: 0,
            payout: "0.00".into(),
            payout_minor: 0,
            profit: "0.00".into(),
            profit_minor: 0,
            currency: "USD".into(),
            publisher_id: None,
            publisher_name: None,
            fallthroughs: 0,
            recording_url: None,
            tags: Default::default(),
            skipped: Vec::new(),
        };
        let json = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut header: Vec<&str> = CSV_HEADER.to_vec();
        let mut keys_sorted = keys.clone();
        header.sort_unstable();
        keys_sorted.sort_unstable();
        assert_eq!(header, keys_sorted);
        assert_eq!(row.csv_fields().len(), CSV_HEADER.len());
    }
}
