//! The admin API's JSON decoders, for every resource: the stored model types
//! (`Buyer`, `Campaign`, `Number`, `Pool`, `RtbTarget`, `RtbRouter`,
//! `TrackingTag`, `Tenant`) from arbitrary JSON with their `validate()`, and
//! the create handlers' own decoding of the same body.
//!
//! Input: one byte choosing the resource, then the JSON body. Properties:
//! nothing panics; what decodes is written back as JSON that decodes to the
//! same value (so a stored document always reads back); the handler answers
//! 201, 400 or 422 with a JSON body, a 422 naming every field at fault, a 201
//! being the resource and passing its own validation; an RTB target accepted
//! at save compiles for the auction (its template and response paths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard::fuzzing::{Resource, admin_create};
use switchboard_model::{
    Buyer, Campaign, ModelError, Number, Pool, RtbRouter, RtbTarget, Tenant, TrackingTag,
};
use switchboard_rtb::{PathConfig, ResponsePaths, Template};

/// Decodes `body` as `T`; when it decodes, its JSON reads back equal.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    body: &[u8],
) -> Option<T> {
    let v: T = serde_json::from_slice(body).ok()?;
    let json = serde_json::to_string(&v).expect("a decoded value serializes");
    let back: T = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("written JSON does not read back ({e}): {json}"));
    assert_eq!(back, v, "{json}");
    Some(v)
}

fn check_errors(r: Result<(), ModelError>) -> bool {
    match r {
        Ok(()) => true,
        Err(ModelError::Invalid(fields)) => {
            assert!(!fields.is_empty() && fields.iter().all(|f| !f.message.is_empty()));
            false
        }
        Err(_) => false,
    }
}

/// A target that saves is one an auction can use.
fn compiles_for_auction(t: &RtbTarget) {
    Template::parse(&t.request_body).unwrap_or_else(|e| {
        panic!(
            "accepted requestBody {:?} does not parse: {e}",
            t.request_body
        )
    });
    let config = PathConfig::of(t);
    ResponsePaths::compile(&config)
        .unwrap_or_else(|e| panic!("accepted response paths do not compile: {e}"));
    for (_, value) in &t.headers {
        Template::parse(value)
            .unwrap_or_else(|e| panic!("accepted header {value:?} does not parse: {e}"));
    }
    Template::parse(&t.endpoint_url).unwrap_or_else(|e| {
        panic!(
            "accepted endpointUrl {:?} does not parse: {e}",
            t.endpoint_url
        )
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let resource = match kind % 8 {
        0 => {
            if let Some(b) = round_trip::<Buyer>(body) {
                check_errors(b.validate());
            }
            Resource::Buyer
        }
        1 => {
            if let Some(c) = round_trip::<Campaign>(body) {
                check_errors(c.validate());
            }
            Resource::Campaign
        }
        2 => {
            if let Some(n) = round_trip::<Number>(body) {
                check_errors(n.validate());
            }
            Resource::Number
        }
        3 => {
            if let Some(p) = round_trip::<Pool>(body) {
                check_errors(p.validate());
            }
            Resource::Pool
        }
        4 => {
            if let Some(t) = round_trip::<RtbTarget>(body)
                && check_errors(t.validate())
                && switchboard_rtb::check_target(&t, true).is_empty()
            {
                compiles_for_auction(&t);
            }
            Resource::RtbTarget
        }
        5 => {
            if let Some(r) = round_trip::<RtbRouter>(body) {
                check_errors(r.validate());
            }
            Resource::RtbRouter
        }
        6 => {
            if let Some(t) = round_trip::<TrackingTag>(body) {
                check_errors(t.validate());
            }
            Resource::TrackingTag
        }
        _ => {
            round_trip::<Tenant>(body);
            return;
        }
    };

    let (status, answer) = admin_create(resource, body);
    let json: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_else(|e| {
        panic!(
            "{status} answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&answer)
        )
    });
    match status {
        201 => {
            let s = json.to_string();
            let ok = match resource {
                Resource::Buyer => serde_json::from_str::<Buyer>(&s).map(|b| b.validate().is_ok()),
                Resource::Campaign => {
                    serde_json::from_str::<Campaign>(&s).map(|c| c.validate().is_ok())
                }
                Resource::Number => {
                    serde_json::from_str::<Number>(&s).map(|n| n.validate().is_ok())
                }
                Resource::Pool => serde_json::from_str::<Pool>(&s).map(|p| p.validate().is_ok()),
                Resource::RtbTarget => {
                    serde_json::from_str::<RtbTarget>(&s).map(|t| t.validate().is_ok())
                }
                Resource::RtbRouter => {
                    serde_json::from_str::<RtbRouter>(&s).map(|r| r.validate().is_ok())
                }
                Resource::TrackingTag => {
                    serde_json::from_str::<TrackingTag>(&s).map(|t| t.validate().is_ok())
                }
            };
            assert_eq!(
                ok.map_err(|e| e.to_string()),
                Ok(true),
                "an accepted {resource:?} reads back valid: {s}"
            );
        }
        400 | 422 => {
            let error = &json["error"];
            assert!(
                error["code"].is_string() && error["message"].is_string(),
                "{json}"
            );
            if status == 422 {
                let fields = error["fields"]
                    .as_array()
                    .unwrap_or_else(|| panic!("a 422 lists its fields: {json}"));
                assert!(!fields.is_empty(), "{json}");
            }
        }
        other => panic!("unexpected status {other}: {json}"),
    }
});
