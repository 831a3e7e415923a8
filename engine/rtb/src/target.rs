//! What saving an RTB target checks beyond [`RtbTarget::validate`] (which
//! sees only the value): the rules of this crate, so a target that saves is
//! one an auction can use.

use switchboard_model::{FieldError, RtbTarget};

use crate::extract::check_path_cost;
use crate::ssrf::forbidden_literal_host;

/// The field errors of `t` by this crate's rules: a JSONPath beyond the
/// documented cost ([`check_path_cost`]), and, unless private targets are
/// allowed, an `endpointUrl` whose host is a literal loopback, private,
/// link-local or metadata address in any notation. Host names are left to
/// the check after resolution, on every request.
pub fn check_target(t: &RtbTarget, allow_private: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !allow_private && let Some(ip) = forbidden_literal_host(&t.endpoint_url) {
        errors.push(FieldError::new(
            "endpointUrl",
            format!("names the address {ip}: loopback, private, link-local and metadata addresses are not allowed"),
        ));
    }
    for (field, path) in t.response_paths() {
        // Syntax is `validate`'s to report; only a path that parses is judged for cost.
        if let Some(p) = path.map(str::trim).filter(|p| p.starts_with('$'))
            && serde_json_path::JsonPath::parse(p).is_ok()
            && let Err(why) = check_path_cost(p)
        {
            errors.push(FieldError::new(field, why));
        }
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
    fn costly_paths_are_named_by_field() {
        let t = target(
            json!({"bidAmountPath": "$..*..*..*..*", "currencyPath": "$..c[*]", "durationPath": "$.d", "expiryPath": "$..["}),
        );
        assert_eq!(fields(&t, false), ["bidAmountPath", "currencyPath"]);
        assert!(fields(&target(json!({"bidAmountPath": "$..amount"})), false).is_empty());
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
