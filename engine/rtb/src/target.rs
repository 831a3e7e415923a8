//! What saving an RTB target checks beyond [`RtbTarget::validate`] (which
//! sees only plain values): its templates and response paths, parsed by the
//! very code an auction runs, so a target that saves is one an auction can use.

use switchboard_model::{BodyFormat, FieldError, RtbTarget};

use crate::RtbError;
use crate::extract::ResponsePath;
use crate::ssrf::forbidden_literal_host;
use crate::template::{Template, builtin_names};

/// The field errors of `t` by this crate's rules:
/// - a template (`endpointUrl`, `requestBody`, each header) naming an
///   unknown variable, or a JSON body that does not render to JSON;
/// - a response path that does not compile ([`ResponsePath::parse`]: syntax
///   and the documented JSONPath cost);
/// - unless private targets are allowed, an `endpointUrl` whose host is a
///   literal loopback, private, link-local or metadata address in any
///   notation. Host names are left to the check after resolution, on every
///   request.
pub fn check_target(t: &RtbTarget, allow_private: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut templates: Vec<(String, &str)> = vec![
        ("endpointUrl".into(), &t.endpoint_url),
        ("requestBody".into(), &t.request_body),
    ];
    templates.extend(
        t.headers
            .iter()
            .map(|(k, v)| (format!("headers.{k}"), v.as_str())),
    );
    for (field, text) in templates {
        match Template::parse(text) {
            Err(RtbError::UnknownVariables(names)) => {
                let list = names
                    .iter()
                    .map(|u| format!("{{{u}}}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                errors.push(FieldError::new(
                    field,
                    format!(
                        "unknown template variable {list}: use {} or {{tag:NAME}}",
                        builtin_names()
                    ),
                ));
            }
            Err(other) => errors.push(FieldError::new(field, other.to_string())),
            Ok(body)
                if field == "requestBody"
                    && !text.trim().is_empty()
                    && t.content_type.format() == Ok(BodyFormat::Json) =>
            {
                if let Err(why) = body.check_json() {
                    errors.push(FieldError::new(field, why));
                }
            }
            Ok(_) => {}
        }
    }
    for (field, path) in t.response_paths() {
        let Some(p) = path else { continue };
        if p.trim().is_empty() {
            errors.push(FieldError::new(field, "must not be empty"));
        } else if let Err(RtbError::BadPath { reason, .. }) = ResponsePath::parse(p) {
            errors.push(FieldError::new(field, reason));
        }
    }
    if !allow_private && let Some(ip) = forbidden_literal_host(&t.endpoint_url) {
        errors.push(FieldError::new(
            "endpointUrl",
            format!("names the address {ip}: loopback, private, link-local and metadata addresses are not allowed"),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(extra: serde_json::Value) -> RtbTarget {
        let mut body =
            json!({"name": "b", "endpointUrl": "https://bidder.example/bid", "maxBidAmount": 50});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        serde_json::from_value(body).unwrap()
    }

    fn fields(t: &RtbTarget, allow_private: bool) -> Vec<String> {
        check_target(t, allow_private)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn bad_and_costly_paths_are_named_by_field() {
        let t = target(
            json!({"bidAmountPath": "$..*..*..*..*", "currencyPath": "$..c[*]", "durationPath": "$.d",
                   "expiryPath": "$..[", "rejectReasonPath": "why not", "acceptancePath": " "}),
        );
        assert_eq!(
            fields(&t, false),
            [
                "bidAmountPath",
                "acceptancePath",
                "currencyPath",
                "expiryPath",
                "rejectReasonPath"
            ]
        );
        assert!(fields(&target(json!({"bidAmountPath": "$..amount"})), false).is_empty());
    }

    #[test]
    fn templates_are_parsed_by_the_auctions_grammar() {
        let t = target(json!({
            "endpointUrl": "https://bidder.example/{campaignID}",
            "requestBody": r#"{"caller": "{callerId}", "src": "{tag:utm.source}", "x": "{callerId}"}"#,
            "headers": {"X-Trace": "{traceId}", "X-Ok": "{requestId}"}
        }));
        let errors = check_target(&t, false);
        assert_eq!(
            errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["endpointUrl", "requestBody", "headers.X-Trace"]
        );
        assert!(
            errors[1].message.contains("{tag:utm.source}"),
            "{}",
            errors[1].message
        );
        assert!(
            errors[1].message.contains("{callerId}"),
            "the known ones are listed"
        );
        // A JSON body must render to JSON; a form body need not.
        let broken = target(json!({"requestBody": r#"{"caller": "{callerId}",}"#}));
        assert_eq!(fields(&broken, false), ["requestBody"]);
        let form = target(json!({"requestBody": "caller={callerId}", "contentType": "form"}));
        assert!(fields(&form, false).is_empty());
    }

    #[test]
    fn literal_private_hosts_are_refused_unless_allowed() {
        for url in [
            "http://2130706433/bid",
            "http://[::ffff:127.0.0.1]/bid",
            "http://169.254.169.254/x",
            "http://0x7f.1/",
        ] {
            let t = target(json!({"endpointUrl": url}));
            let errors = check_target(&t, false);
            assert_eq!(
                errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
                ["endpointUrl"],
                "{url}"
            );
            assert!(
                errors[0].message.contains("not allowed"),
                "{}",
                errors[0].message
            );
            assert!(check_target(&t, true).is_empty(), "{url} with the flag");
        }
        assert!(
            fields(
                &target(json!({"endpointUrl": "http://localhost:9/bid"})),
                false
            )
            .is_empty(),
            "names are checked when resolved"
        );
    }
}
