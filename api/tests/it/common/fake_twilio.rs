//! `FakeTwilio` is a FAKE of Twilio's REST API, not Twilio: the real API
//! cannot be reached from here (and buying numbers costs money). It is a
//! small axum server on 127.0.0.1:0 that the server under test is pointed at
//! (`--twilio-api-base`). It checks what the real API would reject — basic
//! auth with the account SID and auth token, the `/2010-04-01/Accounts/{sid}/…`
//! paths, the form fields and query parameters — records every request, and
//! answers in Twilio's JSON shapes (snake_case fields, `{code, message,
//! status}` errors, 204 on delete). It serves the numbers resources
//! (provisioning) and the calls resource (the reconciler: `Calls/{sid}.json`
//! and `Calls.json?ParentCallSid=…`, with calls a test sets). What Twilio does
//! beyond that (number availability, billing, placing calls) is not faked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use base64::Engine as _;
use serde_json::{Value, json};

pub(crate) const SID: &str = "ACfake00000000000000000000000001";
pub(crate) const TOKEN: &str = "fake-auth-token";
/// A second account (an account belongs to one tenant).
pub(crate) const SID_B: &str = "ACfake00000000000000000000000002";
pub(crate) const TOKEN_B: &str = "fake-auth-token-b";
/// The accounts the fake knows: these two, and the harness's test tenant's.
const ACCOUNTS: [(&str, &str); 3] = [
    (SID, TOKEN),
    (SID_B, TOKEN_B),
    (super::ACCOUNT, super::TOKEN),
];
/// The fake refuses to sell this one, as Twilio does when someone was faster.
pub(crate) const TAKEN: &str = "+14155550199";

/// One request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) params: HashMap<String, String>,
}

#[derive(Default)]
struct Books {
    seen: Vec<Seen>,
    /// Numbers the account owns: E.164 → PN sid.
    owned: HashMap<String, String>,
    /// Calls of the accounts: CA sid → (account sid, Twilio's JSON of the call).
    calls: HashMap<String, (String, Value)>,
    /// Answer every `Calls` request with a 500, as Twilio does in an outage.
    calls_failing: bool,
}

/// The fake Twilio REST API (see the module docs).
pub(crate) struct FakeTwilio {
    /// `http://127.0.0.1:PORT`: the base URL to point the server at.
    pub(crate) base: String,
    books: Arc<Mutex<Books>>,
}

type Fake = Arc<Mutex<Books>>;

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()})))
        .into_response()
}

/// Whether the basic-auth credentials are account `sid`'s.
fn authorized(headers: &HeaderMap, sid: &str) -> bool {
    let token = ACCOUNTS
        .iter()
        .find(|(s, _)| *s == sid)
        .map_or("", |(_, t)| *t);
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"))
    );
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    !token.is_empty() && given == Some(expected.as_str())
}

/// Twilio's answer when the credentials are not the account's.
fn unauthorized() -> Response {
    twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
}

fn not_found() -> Response {
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        "The requested resource was not found",
    )
}

fn server_error() -> Response {
    twilio_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        20500,
        "Internal Server Error",
    )
}

/// The books for a request of account `sid`, once its credentials are the
/// account's, with the request noted in them (`None`: answer
/// [`unauthorized`]).
fn open<'a>(
    books: &'a Fake,
    headers: &HeaderMap,
    sid: &str,
    method: &'static str,
    path: String,
    params: HashMap<String, String>,
) -> Option<std::sync::MutexGuard<'a, Books>> {
    if !authorized(headers, sid) {
        return None;
    }
    let mut b = books.lock().unwrap();
    b.seen.push(Seen {
        method,
        path,
        params,
    });
    Some(b)
}

async fn available(
    State(books): State<Fake>,
    Path((sid, country, file)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("AvailablePhoneNumbers/{country}/{file}");
    if open(&books, &headers, &sid, "GET", path, q.clone()).is_none() {
        return unauthorized();
    }
    let numbers: Vec<(&str, &str)> = match (
        country.as_str(),
        file.as_str(),
        q.get("AreaCode").map(String::as_str),
    ) {
        ("US", "Local.json", Some("415")) => vec![
            ("+14155550100", "(415) 555-0100"),
            ("+14155550101", "(415) 555-0101"),
        ],
        ("US", "Local.json", _) => vec![("+12125550100", "(212) 555-0100")],
        ("US", "TollFree.json", _) => vec![("+18885550100", "(888) 555-0100")],
        _ => {
            return not_found();
        }
    };
    let list: Vec<Value> = numbers
        .into_iter()
        .map(|(n, f)| {
            json!({"friendly_name": f, "phone_number": n, "locality": "San Francisco", "region": "CA", "iso_country": "US",
                   "capabilities": {"voice": true, "SMS": true, "MMS": false}})
        })
        .collect();
    axum::Json(json!({"available_phone_numbers": list, "uri": format!("/2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/{country}/{file}")}))
        .into_response()
}

async fn buy(
    State(books): State<Fake>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(mut b) = open(
        &books,
        &headers,
        &sid,
        "POST",
        "IncomingPhoneNumbers.json".into(),
        form.clone(),
    ) else {
        return unauthorized();
    };
    let Some(number) = form.get("PhoneNumber") else {
        return twilio_error(StatusCode::BAD_REQUEST, 21421, "PhoneNumber is required");
    };
    if number == TAKEN || b.owned.contains_key(number) {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21422,
            "PhoneNumber requested is not available",
        );
    }
    let pn = format!("PN{:032x}", b.seen.len());
    b.owned.insert(number.clone(), pn.clone());
    let body = json!({
        "sid": pn, "account_sid": sid, "phone_number": number, "friendly_name": "(415) 555-0100",
        "voice_url": form.get("VoiceUrl"), "voice_method": form.get("VoiceMethod"),
        "status_callback": form.get("StatusCallback"), "status_callback_method": form.get("StatusCallbackMethod"),
        "capabilities": {"voice": true, "sms": true, "mms": false},
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

async fn list_owned(
    State(books): State<Fake>,
    Path(sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(b) = open(
        &books,
        &headers,
        &sid,
        "GET",
        "IncomingPhoneNumbers.json".into(),
        q.clone(),
    ) else {
        return unauthorized();
    };
    let list: Vec<Value> = b
        .owned
        .iter()
        .filter(|(n, _)| q.get("PhoneNumber").is_none_or(|want| want == *n))
        .map(|(n, pn)| json!({"sid": pn, "phone_number": n, "friendly_name": n}))
        .collect();
    axum::Json(json!({"incoming_phone_numbers": list, "page": 0})).into_response()
}

async fn release(
    State(books): State<Fake>,
    Path((sid, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(mut b) = open(
        &books,
        &headers,
        &sid,
        "DELETE",
        format!("IncomingPhoneNumbers/{file}"),
        HashMap::new(),
    ) else {
        return unauthorized();
    };
    let pn = file.trim_end_matches(".json");
    let before = b.owned.len();
    b.owned.retain(|_, v| v != pn);
    if b.owned.len() == before {
        return not_found();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `GET Calls.json?ParentCallSid=…`: the calls a call dialed, newest first.
async fn list_calls(
    State(books): State<Fake>,
    Path(sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(b) = open(
        &books,
        &headers,
        &sid,
        "GET",
        "Calls.json".into(),
        q.clone(),
    ) else {
        return unauthorized();
    };
    if b.calls_failing {
        return server_error();
    }
    let mut list: Vec<Value> = b
        .calls
        .values()
        .filter(|(account, call)| {
            *account == sid
                && q.get("ParentCallSid")
                    .is_none_or(|p| call["parent_call_sid"] == p.as_str())
        })
        .map(|(_, call)| call.clone())
        .collect();
    list.sort_by_key(|c| {
        std::cmp::Reverse(c["date_created"].as_str().unwrap_or_default().to_owned())
    });
    axum::Json(json!({"calls": list, "page": 0, "page_size": 50, "uri": format!("/2010-04-01/Accounts/{sid}/Calls.json")})).into_response()
}

/// `GET Calls/{CallSid}.json`: one call of the account.
async fn get_call(
    State(books): State<Fake>,
    Path((sid, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(b) = open(
        &books,
        &headers,
        &sid,
        "GET",
        format!("Calls/{file}"),
        HashMap::new(),
    ) else {
        return unauthorized();
    };
    if b.calls_failing {
        return server_error();
    }
    match b.calls.get(file.trim_end_matches(".json")) {
        Some((account, call)) if *account == sid => axum::Json(call.clone()).into_response(),
        _ => not_found(),
    }
}

impl FakeTwilio {
    pub(crate) async fn start() -> Self {
        let books = Fake::default();
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/{country}/{file}",
                get(available),
            )
            .route(
                "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
                get(list_owned).post(buy),
            )
            .route(
                "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/{file}",
                axum::routing::delete(release),
            )
            .route("/2010-04-01/Accounts/{sid}/Calls.json", get(list_calls))
            .route("/2010-04-01/Accounts/{sid}/Calls/{file}", get(get_call))
            .with_state(books.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, books }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.books.lock().unwrap().seen.clone()
    }

    pub(crate) fn seen_of(&self, method: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method)
            .collect()
    }

    pub(crate) fn owns(&self, number: &str) -> bool {
        self.books.lock().unwrap().owned.contains_key(number)
    }

    /// Twilio now knows call `sid` of `account` as this: `status`, `duration`
    /// seconds once ended, dialed by `parent` (a `<Dial>` leg) to `to`.
    pub(crate) fn set_call(
        &self,
        account: &str,
        sid: &str,
        parent: Option<&str>,
        to: &str,
        status: &str,
        duration: Option<u32>,
    ) {
        let now = chrono::Utc::now();
        let ended = duration.is_some();
        let call = json!({
            "sid": sid, "account_sid": account, "parent_call_sid": parent, "to": to, "from": super::CALLER,
            "status": status, "direction": if parent.is_some() { "outbound-dial" } else { "inbound" },
            "date_created": now.to_rfc2822(),
            "start_time": (now - chrono::Duration::seconds(i64::from(duration.unwrap_or(0)))).to_rfc2822(),
            "end_time": if ended { Value::from(now.to_rfc2822()) } else { Value::Null },
            "duration": duration.map(|d| d.to_string()),
            "uri": format!("/2010-04-01/Accounts/{account}/Calls/{sid}.json"),
        });
        self.books
            .lock()
            .unwrap()
            .calls
            .insert(sid.to_owned(), (account.to_owned(), call));
    }

    /// Makes every `Calls` request fail with a 500 (`true`), or answer again.
    pub(crate) fn fail_calls(&self, failing: bool) {
        self.books.lock().unwrap().calls_failing = failing;
    }

    /// The `Calls` requests received so far.
    pub(crate) fn call_requests(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.starts_with("Calls"))
            .collect()
    }
}
