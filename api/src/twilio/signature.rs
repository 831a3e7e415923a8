//! `X-Twilio-Signature`: HMAC-SHA1 over the URL Twilio requested followed by
//! every POST parameter (sorted by name, name then value, no separators),
//! keyed with the account's auth token, base64-encoded. A name sent more
//! than once contributes each of its distinct values once, sorted: exactly
//! what the official `twilio` library's `RequestValidator` computes
//! (`for name in sorted(set(params)): for value in sorted(set(values))`).
//!
//! The URL must be the public one Twilio was configured with, not one rebuilt
//! from the request: behind a proxy they differ. Twilio's own libraries also
//! accept the URL with the scheme's default port added or removed, because
//! some Twilio paths sign one form and some the other; [`verify`] does the same.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// The header Twilio puts the signature in.
pub const HEADER: &str = "X-Twilio-Signature";

/// Computes the signature Twilio sends for a POST of `params` to `url`.
///
/// Parameters are sorted by name, then value, and a repeated pair counts once.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params))
}

/// Whether `header` is the signature of a POST of `params` to `url` (or to the
/// same URL with the default port added or removed), compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    // A tenant that has not connected Twilio has no token; an empty HMAC key
    // is one anybody can sign with, so nothing verifies against it.
    if auth_token.is_empty() {
        return false;
    }
    // Decoding first makes the comparison independent of base64 padding quirks
    // and bounds the work: a SHA-1 MAC is 20 bytes.
    let Ok(given) = STANDARD.decode(header.trim()) else {
        return false;
    };
    if given.len() != 20 {
        return false;
    }
    let mut ok = false;
    for candidate in url_variants(url) {
        let expected = mac(auth_token, &candidate, params);
        // Evaluate every variant; `|` keeps the result free of early exits.
        ok |= bool::from(expected.as_slice().ct_eq(given.as_slice()));
    }
    ok
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Vec<u8> {
    // By name, then value (byte order of UTF-8 is code point order, as
    // Python sorts), each distinct pair once.
    let sorted: std::collections::BTreeSet<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha1 as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("hmac takes any key length");
    m.update(url.as_bytes());
    for (name, value) in sorted {
        m.update(name.as_bytes());
        m.update(value.as_bytes());
    }
    m.finalize().into_bytes().to_vec()
}

/// The URL as given, plus the same URL with the scheme's default port removed
/// (when present) or added (when absent).
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some(scheme_end) = url.find("://") else {
        return out;
    };
    let default_port = match url[..scheme_end].to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    // A port is the digits after the last ':' that is not inside an IPv6 literal.
    let port_colon = host_port.rfind(':').filter(|&i| {
        let digits = &host_port[i + 1..];
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && host_port[i..].find(']').is_none()
    });
    let authority_end = rest_start + authority_len;
    match port_colon {
        Some(i) => {
            if &host_port[i + 1..] == default_port {
                let colon = rest_start + host_start + i;
                out.push(format!("{}{}", &url[..colon], &url[authority_end..]));
            }
        }
        None => out.push(format!(
            "{}:{}{}",
            &url[..authority_end],
            default_port,
            &url[authority_end..]
        )),
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_empty_token_verifies_nothing() {
        let params = vec![("CallSid".to_owned(), "CA1".to_owned())];
        let forged = sign("", "https://example.com/api/webhooks/voice", &params);
        assert!(!verify(
            "",
            "https://example.com/api/webhooks/voice",
            &params,
            &forged
        ));
    }

    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn documented() -> Vec<(String, String)> {
        // Deliberately not in sorted order: signing must sort.
        p(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+12349013030"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
        ])
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn documented_test_vector() {
        assert_eq!(
            sign("12345", URL, &documented()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify(
            "12345",
            URL,
            &documented(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn wrong_token_url_params_or_header_fail() {
        let sig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(!verify("12346", URL, &documented(), sig));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &documented(),
            sig
        ));
        let mut tampered = documented();
        tampered[0].1 = "+18005551213".into();
        assert!(!verify("12345", URL, &tampered, sig));
        let mut extra = documented();
        extra.push(("Extra".into(), String::new()));
        assert!(!verify("12345", URL, &extra, sig));
        for bad in [
            "",
            "not base64!",
            "AAAA",
            "1/KCTR6DLpKmkAf8muzZqo1nDgQ=",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=AAAA",
        ] {
            assert!(!verify("12345", URL, &documented(), bad), "{bad:?}");
        }
    }

    #[test]
    fn default_port_may_be_added_or_removed() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let sig = sign("12345", with_port, &documented());
        assert!(
            verify("12345", URL, &documented(), &sig),
            "signed with :443, served without"
        );
        let sig = sign("12345", URL, &documented());
        assert!(
            verify("12345", with_port, &documented(), &sig),
            "signed without, configured with :443"
        );
        let http = "http://example.com/voice";
        let sig = sign("t", "http://example.com:80/voice", &[]);
        assert!(verify("t", http, &[], &sig));
        // Another port is another URL.
        let sig = sign(
            "12345",
            "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
            &documented(),
        );
        assert!(!verify("12345", URL, &documented(), &sig));
    }

    #[test]
    fn url_variants_handle_odd_authorities() {
        assert_eq!(
            url_variants("https://a.b"),
            ["https://a.b", "https://a.b:443"]
        );
        assert_eq!(
            url_variants("https://u:p@a.b/x"),
            ["https://u:p@a.b/x", "https://u:p@a.b:443/x"]
        );
        assert_eq!(
            url_variants("https://u:p@a.b:443/x"),
            ["https://u:p@a.b:443/x", "https://u:p@a.b/x"]
        );
        assert_eq!(
            url_variants("http://[::1]:80/x?y"),
            ["http://[::1]:80/x?y", "http://[::1]/x?y"]
        );
        assert_eq!(
            url_variants("http://[::1]/x"),
            ["http://[::1]/x", "http://[::1]:80/x"]
        );
        assert_eq!(url_variants("ftp://a/x"), ["ftp://a/x"]);
        assert_eq!(url_variants("nonsense"), ["nonsense"]);
    }

    #[test]
    fn repeated_names_sign_their_distinct_values_sorted() {
        let url = "https://h/p";
        let sorted = sign("k", url, &p(&[("A", "x"), ("A", "y"), ("B", "1")]));
        // Whatever order the values came in, and however often each came.
        for sent in [
            p(&[("B", "1"), ("A", "y"), ("A", "x")]),
            p(&[("A", "y"), ("B", "1"), ("A", "x"), ("A", "y")]),
            p(&[("A", "x"), ("A", "x"), ("A", "y"), ("B", "1"), ("B", "1")]),
        ] {
            assert_eq!(sign("k", url, &sent), sorted, "{sent:?}");
        }
        // What the library signs for A=y&A=x&B=1: the URL, then Ax Ay B1.
        let mut m = <HmacSha1 as KeyInit>::new_from_slice(b"k").unwrap();
        m.update(b"https://h/pAxAyB1");
        assert_eq!(sorted, STANDARD.encode(m.finalize().into_bytes()));
        assert_ne!(
            sign("k", url, &p(&[("A", "x"), ("B", "1")])),
            sorted,
            "a distinct value still counts"
        );
    }
}
