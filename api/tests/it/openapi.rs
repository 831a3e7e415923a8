//! The console's copy of the OpenAPI document (`admin-ui/openapi.json`, from
//! which `admin-ui/src/api/schema.d.ts` is generated and checked by the
//! console's own test) is the document the server serves now, and
//! `switchboard openapi` prints that same document. A change to the API
//! fails here until the copy is regenerated (`npm run gen:api` in admin-ui/).

use crate::common;

use common::{Console, TestServer};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../admin-ui/openapi.json");
const REGENERATE: &str = "run `npm run gen:api` in admin-ui/ and commit admin-ui/openapi.json and admin-ui/src/api/schema.d.ts";

/// Where two JSON values first differ, as a JSON pointer with both sides.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_difference(p, q, &here),
                    (p, q) => Some(format!("{here}: {} vs {}", side(p), side(q))),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {} vs {}", side(Some(a)), side(Some(b)))),
    }
}

fn side(v: Option<&Value>) -> String {
    let s = v.map_or_else(|| "(absent)".to_owned(), Value::to_string);
    if s.len() > 120 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(120).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

#[tokio::test]
async fn the_consoles_openapi_document_is_the_one_the_server_serves() {
    let server = TestServer::start().await;
    let (status, served) = Console::new(&server.base).get("/api/openapi.json").await;
    assert_eq!(status, 200);

    let text = std::fs::read_to_string(CHECKED_IN)
        .unwrap_or_else(|e| panic!("cannot read {CHECKED_IN} ({e}): {REGENERATE}"));
    let checked_in: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{CHECKED_IN} is not JSON ({e}): {REGENERATE}"));
    if let Some(diff) = first_difference(&served, &checked_in, "") {
        panic!(
            "admin-ui/openapi.json is not the server's /api/openapi.json (served vs checked in at {diff}): {REGENERATE}"
        );
    }
}

#[tokio::test]
async fn switchboard_openapi_prints_the_served_document() {
    // What `npm run gen:api` reads: the same document, without a server.
    let out = tokio::process::Command::new(BIN)
        .arg("openapi")
        .output()
        .await
        .expect("run switchboard openapi");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    let server = TestServer::start().await;
    let (_, doc) = Console::new(&server.base).get("/api/openapi.json").await;
    assert_eq!(first_difference(&doc, &printed, ""), None);
    assert!(
        printed["paths"]["/api/buyers"]["get"].is_object()
            && printed["components"]["schemas"]["Buyer"].is_object()
    );
}

#[tokio::test]
async fn every_operation_has_its_own_id() {
    let server = TestServer::start().await;
    let (_, doc) = Console::new(&server.base).get("/api/openapi.json").await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if let Some(id) = op["operationId"].as_str()
                && let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}"))
            {
                panic!("operationId {id} names both {other} and {method} {path}");
            }
        }
    }
    assert!(seen.len() > 50, "{} operations", seen.len());
}
