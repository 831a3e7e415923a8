//! Call tags and the routing filters over them.
//!
//! A call carries `tags`, a flat map of names to strings: the caller's
//! location from the carrier (`callerCity`, `callerState`, `callerZip`,
//! `callerCountry`), the DNI visit's traffic (`utmSource`, `gclid`, …),
//! values a publisher sent on an RTB ping, and the campaign's fixed tags.
//! Buyers and RTB targets take a call only when all of their `filters`
//! match its tags; RTB request templates read them as `{tag:NAME}`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// A call's tags: name → value.
pub type CallTags = BTreeMap<String, String>;

/// The most filters a buyer or target has.
pub const MAX_FILTERS: usize = 50;
/// The most values one filter lists.
pub const MAX_FILTER_VALUES: usize = 1_000;

/// One condition on a call's tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagFilter {
    /// The tag's name, e.g. `callerState`, `utmSource`, `language`.
    pub tag: String,
    /// How the tag's value is compared with `values`: `eq`, `in`, `notIn`,
    /// `exists`, `gt`, `lt` or `prefix`.
    #[schema(value_type = String, example = "in")]
    pub op: FilterOp,
    /// What it is compared with: one value for `eq`, `gt` and `lt`, none
    /// for `exists`, one or more for `in`, `notIn` and `prefix`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A filter's comparison. Text compares ignoring ASCII case; `gt` and `lt`
/// compare numbers. Only `notIn` passes a call that lacks the tag (like a
/// geo deny list, it refuses only callers known to match).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FilterOp {
    /// The tag equals the value.
    Eq,
    /// The tag equals one of the values.
    In,
    /// The tag is absent or equals none of the values.
    NotIn,
    /// The tag is present and not blank.
    Exists,
    /// The tag is a number greater than the value.
    Gt,
    /// The tag is a number less than the value.
    Lt,
    /// The tag starts with one of the values.
    Prefix,
    /// A name that is no operator: kept so validation can name it (a 422,
    /// not a parse error), and never matching.
    Unknown(String),
}

/// The operators' wire names, in the documented order.
pub const FILTER_OPS: [&str; 7] = ["eq", "in", "notIn", "exists", "gt", "lt", "prefix"];

impl From<String> for FilterOp {
    fn from(s: String) -> Self {
        match s.as_str() {
            "eq" => FilterOp::Eq,
            "in" => FilterOp::In,
            "notIn" => FilterOp::NotIn,
            "exists" => FilterOp::Exists,
            "gt" => FilterOp::Gt,
            "lt" => FilterOp::Lt,
            "prefix" => FilterOp::Prefix,
            _ => FilterOp::Unknown(s),
        }
    }
}

impl From<FilterOp> for String {
    fn from(op: FilterOp) -> Self {
        op.to_string()
    }
}

impl fmt::Display for FilterOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilterOp::Eq => "eq",
            FilterOp::In => "in",
            FilterOp::NotIn => "notIn",
            FilterOp::Exists => "exists",
            FilterOp::Gt => "gt",
            FilterOp::Lt => "lt",
            FilterOp::Prefix => "prefix",
            FilterOp::Unknown(s) => s,
        })
    }
}

impl TagFilter {
    /// Whether a call with `tags` passes this filter.
    pub fn matches(&self, tags: &CallTags) -> bool {
        let value = tags
            .get(&self.tag)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty());
        let is = |v: &str, want: &String| v.eq_ignore_ascii_case(want.trim());
        match (&self.op, value) {
            (FilterOp::NotIn, None) => true,
            (FilterOp::NotIn, Some(v)) => !self.values.iter().any(|w| is(v, w)),
            (_, None) => false,
            (FilterOp::Exists, Some(_)) => true,
            (FilterOp::Eq | FilterOp::In, Some(v)) => self.values.iter().any(|w| is(v, w)),
            (FilterOp::Prefix, Some(v)) => self.values.iter().any(|w| {
                let w = w.trim();
                v.len() >= w.len() && v.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            }),
            (FilterOp::Gt | FilterOp::Lt, Some(v)) => {
                match (number(v), self.values.first().and_then(|w| number(w))) {
                    (Some(v), Some(w)) if self.op == FilterOp::Gt => v > w,
                    (Some(v), Some(w)) => v < w,
                    _ => false,
                }
            }
            (FilterOp::Unknown(_), Some(_)) => false,
        }
    }
}

/// A tag value read as a number (`gt`/`lt` compare ages, scores, counts;
/// never money, which has its own type).
fn number(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The first filter of `filters` that a call with `tags` fails, by index.
pub fn first_failing(filters: &[TagFilter], tags: &CallTags) -> Option<usize> {
    filters.iter().position(|f| !f.matches(tags))
}

/// Lists what is wrong with `filters`, the field named `field`.
pub fn validate_filters(field: &str, filters: &[TagFilter], errors: &mut Vec<FieldError>) {
    if filters.len() > MAX_FILTERS {
        errors.push(FieldError::new(
            field,
            format!("must have at most {MAX_FILTERS} filters"),
        ));
    }
    for (i, f) in filters.iter().enumerate() {
        let at = |part: &str| format!("{field}[{i}].{part}");
        if !valid_tag_name(&f.tag) {
            errors.push(FieldError::new(at("tag"), TAG_NAME_RULE));
        }
        let n = f.values.len();
        let wrong = match &f.op {
            FilterOp::Unknown(op) => {
                errors.push(FieldError::new(
                    at("op"),
                    format!("unknown operator {op:?}: one of {}", FILTER_OPS.join(", ")),
                ));
                None
            }
            FilterOp::Exists => (n != 0).then_some("takes no values"),
            FilterOp::Eq => (n != 1).then_some("takes exactly one value"),
            FilterOp::Gt | FilterOp::Lt => match f.values.first() {
                Some(v) if n == 1 && number(v).is_some() => None,
                _ => Some("takes exactly one value, a number"),
            },
            FilterOp::In | FilterOp::NotIn | FilterOp::Prefix => {
                (n == 0).then_some("takes at least one value")
            }
        };
        if let Some(message) = wrong {
            errors.push(FieldError::new(at("values"), message));
        }
        if n > MAX_FILTER_VALUES {
            errors.push(FieldError::new(
                at("values"),
                format!("must have at most {MAX_FILTER_VALUES} values"),
            ));
        }
        if f.values
            .iter()
            .any(|v| v.trim().is_empty() || v.len() > 1024)
        {
            errors.push(FieldError::new(
                at("values"),
                "a value is 1 to 1024 bytes, not blank",
            ));
        }
    }
}

/// What a bad tag name is told.
pub const TAG_NAME_RULE: &str = "a tag name is 1 to 64 letters, digits, '_' or '-'";

/// A tag name: 1 to 64 letters, digits, `_` or `-` (what `{tag:NAME}` reads).
pub fn valid_tag_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(tag: &str, op: &str, values: &[&str]) -> TagFilter {
        TagFilter {
            tag: tag.into(),
            op: FilterOp::from(op.to_owned()),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> CallTags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_operator_matches_as_documented() {
        let t = tags(&[
            ("language", "ES"),
            ("age", "42"),
            ("utmSource", "google-ads"),
        ]);
        assert!(f("language", "eq", &["es"]).matches(&t), "case-insensitive");
        assert!(!f("language", "eq", &["en"]).matches(&t));
        assert!(f("language", "in", &["en", "es"]).matches(&t));
        assert!(!f("language", "notIn", &["es"]).matches(&t));
        assert!(f("language", "notIn", &["en"]).matches(&t));
        assert!(f("language", "exists", &[]).matches(&t));
        assert!(f("age", "gt", &["40"]).matches(&t));
        assert!(!f("age", "gt", &["42"]).matches(&t));
        assert!(f("age", "lt", &["42.5"]).matches(&t));
        assert!(!f("language", "gt", &["1"]).matches(&t), "not a number");
        assert!(f("utmSource", "prefix", &["bing", "GOOGLE"]).matches(&t));
        assert!(!f("utmSource", "prefix", &["google-ads-x"]).matches(&t));
    }

    #[test]
    fn only_not_in_passes_a_call_without_the_tag() {
        let none = tags(&[("language", "  ")]);
        for op in ["eq", "in", "exists", "gt", "lt", "prefix"] {
            assert!(!f("language", op, &["1"]).matches(&none), "{op}");
        }
        assert!(f("language", "notIn", &["es"]).matches(&none));
        assert!(!f("x", "bogus", &["1"]).matches(&tags(&[("x", "1")])));
    }

    #[test]
    fn first_failing_names_the_filter() {
        let t = tags(&[("language", "es"), ("callerState", "CA")]);
        let fs = [
            f("language", "eq", &["es"]),
            f("callerState", "in", &["NY"]),
        ];
        assert_eq!(first_failing(&fs, &t), Some(1));
        assert_eq!(first_failing(&fs[..1], &t), None);
        assert_eq!(first_failing(&[], &t), None, "no filters take everyone");
    }

    #[test]
    fn validation_names_each_bad_filter() {
        let mut errors = Vec::new();
        validate_filters(
            "filters",
            &[
                f("language", "like", &["es"]),
                f("age", "gt", &["old"]),
                f("x", "exists", &["1"]),
                f("bad name", "in", &[]),
                f("ok", "eq", &["a"]),
            ],
            &mut errors,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "filters[0].op",
                "filters[1].values",
                "filters[2].values",
                "filters[3].tag",
                "filters[3].values"
            ]
        );
        assert!(
            errors[0].message.contains("\"like\""),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn the_operator_keeps_its_wire_name() {
        let json = serde_json::json!({"tag": "language", "op": "notIn", "values": ["es"]});
        let parsed: TagFilter = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(parsed.op, FilterOp::NotIn);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json);
    }
}
