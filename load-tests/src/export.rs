//! "Every routed call is in the store": callsim's record of what it did to
//! each call that got a `<Dial>`, checked against `switchboard calls export
//! --format jsonl` taken after the server stopped.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What callsim knows about a call it dialed: one JSON line of `--sids-out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Expectation {
    /// The inbound `CallSid`.
    pub call_sid: String,
    /// The tracking number called.
    pub to: String,
    /// `<Dial>`s the call received (1 + fall-throughs).
    pub dials: u32,
    /// The final status the store must show: `completed` when the last leg
    /// was answered, `no-answer` when every leg went unanswered and the server
    /// hung up. `None` when a request failed midway: then only presence is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Talk time sent for the answered leg (`CallDuration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
}

/// The fields of an exported call that the check reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    /// Switchboard's call id.
    #[serde(default)]
    pub id: String,
    /// Twilio's `CallSid`.
    pub call_sid: String,
    /// Stored status.
    pub status: String,
    /// Buyer that has (or last had) the call.
    #[serde(default)]
    pub buyer_id: Option<String>,
    /// Talk time, seconds.
    #[serde(default)]
    pub duration_seconds: Option<u32>,
    /// Dial attempts after the first.
    #[serde(default)]
    pub fallthroughs: Option<u32>,
}

/// Reads a JSONL export, keyed by `CallSid` (a list, to catch duplicates).
pub fn read_export(path: &Path) -> anyhow::Result<HashMap<String, Vec<ExportRow>>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the export {}", path.display()))?;
    let mut rows: HashMap<String, Vec<ExportRow>> = HashMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: ExportRow = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not an exported call", path.display(), n + 1))?;
        rows.entry(row.call_sid.clone()).or_default().push(row);
    }
    Ok(rows)
}

/// Reads callsim's `--sids-out` file.
pub fn read_expectations(path: &Path) -> anyhow::Result<Vec<Expectation>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).with_context(|| {
                format!("{} line {}: not a callsim record", path.display(), n + 1)
            })?,
        );
    }
    Ok(out)
}

/// Writes expectations as JSON lines.
pub fn write_expectations(path: &Path, items: &[Expectation]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for e in items {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// Most examples kept per kind of finding.
const EXAMPLES: usize = 10;

/// The outcome of comparing callsim's calls with the export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportCheck {
    /// Calls in the export.
    pub exported: usize,
    /// Calls callsim dialed.
    pub expected: usize,
    /// Of those, found in the export.
    pub found: usize,
    /// Dialed calls absent from the export.
    pub missing: usize,
    /// Dialed calls stored more than once.
    pub duplicated: usize,
    /// Stored calls whose state disagrees with what callsim did.
    pub mismatched: usize,
    /// Up to ten examples of each finding.
    pub examples: Vec<String>,
}

impl ExportCheck {
    /// Every dialed call is stored, once.
    pub fn all_present(&self) -> bool {
        self.missing == 0 && self.duplicated == 0
    }
}

/// Compares callsim's dialed calls with the export.
pub fn check(expected: &[Expectation], export: &HashMap<String, Vec<ExportRow>>) -> ExportCheck {
    let mut c = ExportCheck {
        exported: export.values().map(Vec::len).sum(),
        expected: expected.len(),
        ..ExportCheck::default()
    };
    let mut examples = [Vec::new(), Vec::new(), Vec::new()];
    for e in expected {
        let Some(rows) = export.get(&e.call_sid) else {
            c.missing += 1;
            examples[0].push(format!(
                "{} (to {}, {} dial(s)) is not in the export",
                e.call_sid, e.to, e.dials
            ));
            continue;
        };
        c.found += 1;
        if rows.len() > 1 {
            c.duplicated += 1;
            examples[1].push(format!("{} is stored {} times", e.call_sid, rows.len()));
        }
        let row = &rows[0];
        let mut wrong = Vec::new();
        if let Some(f) = row.fallthroughs
            && f + 1 != e.dials
        {
            wrong.push(format!(
                "fallthroughs {f}, callsim was dialed {} time(s)",
                e.dials
            ));
        }
        if row.buyer_id.is_none() {
            wrong.push("no buyer".to_owned());
        }
        if let Some(status) = &e.status {
            if &row.status != status {
                wrong.push(format!("status {:?}, expected {status:?}", row.status));
            } else if let (Some(want), Some(got)) = (e.duration_seconds, row.duration_seconds)
                && want != got
            {
                wrong.push(format!("durationSeconds {got}, expected {want}"));
            }
        }
        if !wrong.is_empty() {
            c.mismatched += 1;
            examples[2].push(format!(
                "{} (id {}): {}",
                e.call_sid,
                row.id,
                wrong.join("; ")
            ));
        }
    }
    c.examples = examples
        .into_iter()
        .flat_map(|v| v.into_iter().take(EXAMPLES))
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(sid: &str, dials: u32, status: Option<&str>, dur: Option<u32>) -> Expectation {
        Expectation {
            call_sid: sid.into(),
            to: "+15550001000".into(),
            dials,
            status: status.map(Into::into),
            duration_seconds: dur,
        }
    }

    fn rows(lines: &[&str]) -> HashMap<String, Vec<ExportRow>> {
        let mut m: HashMap<String, Vec<ExportRow>> = HashMap::new();
        for l in lines {
            let r: ExportRow = serde_json::from_str(l).unwrap();
            m.entry(r.call_sid.clone()).or_default().push(r);
        }
        m
    }

    #[test]
    fn present_and_agreeing() {
        let export = rows(&[
            r#"{"id":"1","callSid":"CA1","status":"completed","buyerId":"b","durationSeconds":42,"fallthroughs":0,"extra":true}"#,
            r#"{"id":"2","callSid":"CA2","status":"no-answer","buyerId":"b","durationSeconds":0,"fallthroughs":2}"#,
            r#"{"id":"3","callSid":"CA3","status":"rejected","buyerId":null,"durationSeconds":0,"fallthroughs":0}"#,
        ]);
        let c = check(
            &[
                exp("CA1", 1, Some("completed"), Some(42)),
                exp("CA2", 3, Some("no-answer"), None),
            ],
            &export,
        );
        assert_eq!(
            (
                c.exported,
                c.expected,
                c.found,
                c.missing,
                c.mismatched,
                c.duplicated
            ),
            (3, 2, 2, 0, 0, 0)
        );
        assert!(c.all_present());
    }

    #[test]
    fn missing_duplicated_and_wrong_are_reported() {
        let export = rows(&[
            r#"{"id":"1","callSid":"CA1","status":"in-progress","buyerId":"b","durationSeconds":0,"fallthroughs":0}"#,
            r#"{"id":"2","callSid":"CA2","status":"completed","buyerId":"b","durationSeconds":9,"fallthroughs":1}"#,
            r#"{"id":"3","callSid":"CA2","status":"completed","buyerId":"b","durationSeconds":9,"fallthroughs":1}"#,
        ]);
        let c = check(
            &[
                exp("CA1", 1, Some("completed"), Some(30)),
                exp("CA2", 2, Some("completed"), Some(9)),
                exp("CA9", 1, None, None),
            ],
            &export,
        );
        assert_eq!(
            (c.found, c.missing, c.duplicated, c.mismatched),
            (2, 1, 1, 1)
        );
        assert!(!c.all_present());
        assert!(
            c.examples
                .iter()
                .any(|e| e.contains("CA9") && e.contains("not in the export"))
        );
        assert!(
            c.examples
                .iter()
                .any(|e| e.contains("CA1") && e.contains("status"))
        );
    }

    #[test]
    fn expectations_round_trip() {
        let dir = std::env::temp_dir().join(format!("callsim-exp-{}", std::process::id()));
        let items = vec![
            exp("CA1", 2, Some("completed"), Some(5)),
            exp("CA2", 1, None, None),
        ];
        write_expectations(&dir, &items).unwrap();
        assert_eq!(read_expectations(&dir).unwrap(), items);
        let _ = std::fs::remove_file(&dir);
    }
}
