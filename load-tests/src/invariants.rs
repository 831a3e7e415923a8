//! The invariants a run must hold, computed from its [`Summary`] alone, so
//! they are tested without a server.

use serde::Serialize;

use crate::report::Summary;

/// One checked invariant, with the figures behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invariant {
    /// What must hold.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// The figures.
    pub detail: String,
}

fn inv(name: &str, ok: bool, detail: String) -> Invariant {
    Invariant {
        name: name.to_owned(),
        ok,
        detail,
    }
}

/// Checks every invariant of a run.
pub fn check(s: &Summary) -> Vec<Invariant> {
    let mut out = Vec::new();
    let voice = &s.http.voice;
    out.push(inv(
        "every voice webhook got valid TwiML",
        s.calls.valid_twiml == s.calls.attempted && s.calls.attempted > 0,
        format!(
            "{} of {} (HTTP 200, parseable, <Dial> or <Say>/<Hangup>); {} dialed, {} rejected",
            s.calls.valid_twiml, s.calls.attempted, s.calls.dialed, s.calls.rejected
        ),
    ));
    let actions = &s.http.dial_action;
    out.push(inv(
        "every dial action got valid TwiML",
        s.calls.invalid_action_twiml == 0 && actions.non_success() == 0,
        format!(
            "{} action(s) posted; {} invalid TwiML, {} non-200",
            actions.total(),
            s.calls.invalid_action_twiml,
            actions.non_success()
        ),
    ));
    let status = &s.http.status;
    out.push(inv(
        "every status callback accepted (2xx)",
        status.non_success() == 0,
        format!("{} of {} accepted", status.ok, status.total()),
    ));
    let all5 = voice.server_error + actions.server_error + status.server_error;
    let total = voice.total() + actions.total() + status.total();
    out.push(inv(
        "no 5xx",
        all5 == 0,
        format!("{all5} of {total} requests"),
    ));
    let transport = voice.transport + actions.transport + status.transport;
    out.push(inv(
        "every request answered (no connection errors or timeouts)",
        transport == 0,
        format!("{transport} of {total} requests failed in transport"),
    ));

    let over: Vec<String> = s
        .destinations
        .iter()
        .filter(|d| d.cap.is_some_and(|cap| d.max_concurrent > cap))
        .map(|d| {
            format!(
                "{} held {} at once (cap {})",
                d.number,
                d.max_concurrent,
                d.cap.unwrap_or(0)
            )
        })
        .collect();
    let capped = s.destinations.iter().filter(|d| d.cap.is_some()).count();
    out.push(inv(
        "no destination above its concurrency cap",
        over.is_empty(),
        if over.is_empty() {
            let peaks: Vec<String> = s
                .destinations
                .iter()
                .map(|d| {
                    format!(
                        "{} {}/{}",
                        d.number,
                        d.max_concurrent,
                        d.cap.map_or("?".to_owned(), |c| c.to_string())
                    )
                })
                .collect();
            format!(
                "{capped} capped destination(s); peak/cap: {}",
                peaks.join(", ")
            )
        } else {
            over.join("; ")
        },
    ));
    let over_daily: Vec<String> = s
        .destinations
        .iter()
        .filter(|d| d.daily_cap.is_some_and(|cap| d.answered > u64::from(cap)))
        .map(|d| {
            format!(
                "{} answered {} (daily cap {})",
                d.number,
                d.answered,
                d.daily_cap.unwrap_or(0)
            )
        })
        .collect();
    out.push(inv(
        "no destination answered more calls than its daily cap",
        over_daily.is_empty(),
        if over_daily.is_empty() {
            format!(
                "{} answered leg(s) in this run",
                s.destinations.iter().map(|d| d.answered).sum::<u64>()
            )
        } else {
            over_daily.join("; ")
        },
    ));
    out.push(inv(
        "no call dialed the same number twice",
        s.calls.redialed == 0,
        format!(
            "{} call(s) did; {} fall-through(s) in all",
            s.calls.redialed, s.calls.fallthroughs
        ),
    ));
    out.push(inv(
        "fall-through ends",
        s.calls.runaway == 0,
        format!(
            "{} call(s) dialed more than {} times",
            s.calls.runaway, s.max_dials
        ),
    ));
    out.push(inv(
        "retried webhooks get the same answer",
        s.calls.retry_mismatch == 0,
        format!(
            "{} of {} retried voice webhooks/dial actions answered differently",
            s.calls.retry_mismatch, s.calls.retries
        ),
    ));
    if let Some(e) = &s.export {
        out.push(inv(
            "every dialed call is in the export, once",
            e.all_present(),
            format!(
                "{} of {} found, {} missing, {} duplicated ({} calls exported)",
                e.found, e.expected, e.missing, e.duplicated, e.exported
            ),
        ));
        out.push(inv(
            "the export agrees with what callsim did",
            e.mismatched == 0,
            format!(
                "{} of {} stored call(s) disagree (status, duration, fall-throughs, buyer)",
                e.mismatched, e.found
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExportCheck;
    use crate::report::{Calls, Destination, HttpCounts, HttpSummary, Summary};

    fn good() -> Summary {
        let ok = |n| HttpCounts {
            ok: n,
            ..HttpCounts::default()
        };
        Summary {
            calls: Calls {
                attempted: 10,
                valid_twiml: 10,
                dialed: 8,
                rejected: 2,
                answered: 6,
                ..Calls::default()
            },
            http: HttpSummary {
                voice: ok(10),
                dial_action: ok(8),
                status: ok(30),
            },
            destinations: vec![
                Destination {
                    number: "+15550002001".into(),
                    cap: Some(2),
                    daily_cap: Some(100),
                    max_concurrent: 2,
                    dials: 5,
                    answered: 4,
                },
                Destination {
                    number: "+15550009999".into(),
                    cap: None,
                    daily_cap: None,
                    max_concurrent: 7,
                    dials: 3,
                    answered: 2,
                },
            ],
            max_dials: 10,
            ..Summary::default()
        }
    }

    fn failed(s: &Summary) -> Vec<String> {
        check(s)
            .into_iter()
            .filter(|i| !i.ok)
            .map(|i| i.name)
            .collect()
    }

    #[test]
    fn a_clean_run_passes() {
        assert_eq!(failed(&good()), Vec::<String>::new());
    }

    #[test]
    fn a_cap_violation_fails() {
        let mut s = good();
        s.destinations[0].max_concurrent = 3;
        assert_eq!(failed(&s), ["no destination above its concurrency cap"]);
        let detail = check(&s).into_iter().find(|i| !i.ok).unwrap().detail;
        assert!(
            detail.contains("+15550002001 held 3 at once (cap 2)"),
            "{detail}"
        );
    }

    #[test]
    fn server_errors_and_bad_twiml_fail() {
        let mut s = good();
        s.http.voice.ok = 9;
        s.http.voice.server_error = 1;
        s.calls.valid_twiml = 9;
        assert_eq!(
            failed(&s),
            ["every voice webhook got valid TwiML", "no 5xx"]
        );
        let mut s = good();
        s.http.status.client_error = 1;
        assert_eq!(failed(&s), ["every status callback accepted (2xx)"]);
    }

    #[test]
    fn no_calls_is_not_a_pass() {
        let s = Summary::default();
        assert!(failed(&s).contains(&"every voice webhook got valid TwiML".to_owned()));
    }

    #[test]
    fn export_findings_fail() {
        let mut s = good();
        s.export = Some(ExportCheck {
            expected: 8,
            found: 7,
            missing: 1,
            exported: 9,
            ..ExportCheck::default()
        });
        assert_eq!(failed(&s), ["every dialed call is in the export, once"]);
        s.export = Some(ExportCheck {
            expected: 8,
            found: 8,
            mismatched: 2,
            exported: 10,
            ..ExportCheck::default()
        });
        assert_eq!(failed(&s), ["the export agrees with what callsim did"]);
    }
}
