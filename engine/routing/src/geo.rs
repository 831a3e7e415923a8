//! Caller geography: may this buyer take a caller from this state and ZIP?
//!
//! The carrier's location data is best effort (often missing for mobiles and
//! VoIP), so the rule is: deny lists only refuse callers known to match, while
//! a non-empty allow list is a promise to the buyer and refuses callers whose
//! location is unknown.

use switchboard_model::GeoFilter;

/// Deny lists win; a non-empty allow list excludes callers whose state/zip is unknown or not listed. States compare case-insensitively.
///
/// ZIP entries match as prefixes (`"100"` covers `10001` and `10001-1234`),
/// also case-insensitively so Canadian postal codes (`"K1A"`) work. When both
/// allow lists are set the caller must pass both. Surrounding spaces are
/// ignored, a blank caller state or ZIP counts as unknown, and blank list
/// entries are ignored (a blank prefix would otherwise match everyone).
pub fn geo_allows(filter: &GeoFilter, state: Option<&str>, zip: Option<&str>) -> bool {
    let state = known(state);
    let zip = known(zip);
    let state_is = |entry: &str| state.is_some_and(|s| s.eq_ignore_ascii_case(entry));
    let zip_in = |prefix: &str| zip.is_some_and(|z| starts_with_ignore_case(z, prefix));

    if entries(&filter.deny_states).any(state_is) || entries(&filter.deny_zips).any(zip_in) {
        return false;
    }
    let allowed = |list: &[String], matches: &dyn Fn(&str) -> bool| {
        let mut list = entries(list).peekable();
        list.peek().is_none() || list.any(matches)
    };
    allowed(&filter.allow_states, &state_is) && allowed(&filter.allow_zips, &zip_in)
}

/// A trimmed, non-blank value, or `None` for unknown.
fn known(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The non-blank entries of a configured list, trimmed.
fn entries(list: &[String]) -> impl Iterator<Item = &str> {
    list.iter().map(|e| e.trim()).filter(|e| !e.is_empty())
}

fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value.len() >= prefix.len()
        && value.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(
        allow_states: &[&str],
        deny_states: &[&str],
        allow_zips: &[&str],
        deny_zips: &[&str],
    ) -> GeoFilter {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        GeoFilter {
            allow_states: v(allow_states),
            deny_states: v(deny_states),
            allow_zips: v(allow_zips),
            deny_zips: v(deny_zips),
        }
    }

    #[test]
    fn empty_filter_allows_everyone_even_unknown() {
        let f = GeoFilter::default();
        assert!(geo_allows(&f, None, None));
        assert!(geo_allows(&f, Some("CA"), Some("90210")));
    }

    #[test]
    fn allow_states_case_insensitive_and_unknown_refused() {
        let f = filter(&["NY", "nj"], &[], &[], &[]);
        assert!(geo_allows(&f, Some("NY"), None));
        assert!(geo_allows(&f, Some("ny"), None));
        assert!(geo_allows(&f, Some(" NJ "), None));
        assert!(!geo_allows(&f, Some("CA"), None));
        assert!(
            !geo_allows(&f, None, Some("10001")),
            "unknown state is not in the allow list"
        );
        assert!(
            !geo_allows(&f, Some(""), None),
            "blank state counts as unknown"
        );
    }

    #[test]
    fn deny_states_refuse_only_known_matches() {
        let f = filter(&[], &["ca"], &[], &[]);
        assert!(!geo_allows(&f, Some("CA"), None));
        assert!(geo_allows(&f, Some("NV"), None));
        assert!(geo_allows(&f, None, None), "unknown state is not denied");
    }

    #[test]
    fn zip_prefixes() {
        let f = filter(&[], &[], &["100", "112"], &["10013"]);
        assert!(geo_allows(&f, None, Some("10001")));
        assert!(geo_allows(&f, None, Some("10001-1234")), "ZIP+4");
        assert!(geo_allows(&f, None, Some("11215")));
        assert!(
            !geo_allows(&f, None, Some("10013")),
            "deny wins over a matching allow prefix"
        );
        assert!(!geo_allows(&f, None, Some("20001")));
        assert!(!geo_allows(&f, None, Some("10")), "shorter than the prefix");
        assert!(
            !geo_allows(&f, Some("NY"), None),
            "unknown ZIP is not in the allow list"
        );
    }

    #[test]
    fn postal_code_prefix_ignores_case() {
        let f = filter(&[], &[], &["k1a"], &[]);
        assert!(geo_allows(&f, None, Some("K1A 0B1")));
        assert!(!geo_allows(&f, None, Some("M5V 2T6")));
    }

    #[test]
    fn deny_wins_over_allow_for_states() {
        let f = filter(&["NY"], &["ny"], &[], &[]);
        assert!(!geo_allows(&f, Some("NY"), None));
    }

    #[test]
    fn both_allow_lists_must_pass() {
        let f = filter(&["NY"], &[], &["100"], &[]);
        assert!(geo_allows(&f, Some("NY"), Some("10001")));
        assert!(!geo_allows(&f, Some("NY"), Some("90210")));
        assert!(!geo_allows(&f, Some("CA"), Some("10001")));
        assert!(!geo_allows(&f, Some("NY"), None));
    }

    #[test]
    fn blank_entries_are_ignored() {
        // A blank deny prefix would otherwise refuse every caller with a ZIP.
        let f = filter(&[" "], &[""], &[], &[""]);
        assert!(geo_allows(&f, Some("CA"), Some("90210")));
        assert!(geo_allows(&f, None, None));
    }

    #[test]
    fn multibyte_input_does_not_panic() {
        let f = filter(&["é"], &[], &["日本"], &["ñ"]);
        assert!(!geo_allows(&f, Some("É"), Some("日")));
        assert!(geo_allows(&f, Some("é"), Some("日本語")));
        assert!(!geo_allows(&f, Some("é"), Some("ñ1")));
    }
}
