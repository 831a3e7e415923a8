//! Money: integer minor units plus an explicit currency. Never `f64`.
//!
//! In JSON an amount is a decimal number in the currency's units (`8.75`).
//! It is read from the number's shortest decimal text, so `8.75` is exactly
//! 875 cents; more fraction digits than the currency has are refused.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// An ISO 4217 currency code that Switchboard supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Currency {
    /// US dollar.
    #[default]
    USD,
    /// Canadian dollar.
    CAD,
    /// Euro.
    EUR,
    /// Pound sterling.
    GBP,
    /// Australian dollar.
    AUD,
}

impl Currency {
    /// Digits after the decimal point (2 for every supported currency).
    pub fn minor_digits(self) -> u32 {
        2
    }

    /// The ISO code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::USD => "USD",
            Currency::CAD => "CAD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::AUD => "AUD",
        }
    }

    /// Parses an ISO code, case-insensitively.
    pub fn parse(code: &str) -> Result<Self, ModelError> {
        match code.trim().to_ascii_uppercase().as_str() {
            "USD" => Ok(Currency::USD),
            "CAD" => Ok(Currency::CAD),
            "EUR" => Ok(Currency::EUR),
            "GBP" => Ok(Currency::GBP),
            "AUD" => Ok(Currency::AUD),
            _ => Err(ModelError::InvalidCurrency(code.to_owned())),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The largest amount, in whole units, any amount field takes. Below it an
/// amount with two decimals written as a JSON number reads back exactly
/// (its minor units stay under 2^53), so no client loses a cent.
pub const MAX_WHOLE_UNITS: i64 = 10_000_000_000_000;

/// Parses a decimal text (`"8.75"`, `"12"`, `"-0.5"`) into minor units with
/// `digits` fraction digits, exactly, or refuses it (also past
/// [`MAX_WHOLE_UNITS`]).
pub fn parse_decimal(text: &str, digits: u32) -> Result<i64, ModelError> {
    let bad = || ModelError::InvalidAmount(text.to_owned());
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > digits as usize {
        return Err(bad());
    }
    let scale = 10i64.pow(digits);
    let int: i64 = int
        .parse()
        .ok()
        .filter(|i| *i <= MAX_WHOLE_UNITS)
        .ok_or_else(bad)?;
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    f *= 10i64.pow(digits - frac.len() as u32);
    let v = int
        .checked_mul(scale)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(bad)?;
    // The bound is on the amount, not its whole part: `10000000000000.50`
    // would be taken from text but never read back from the JSON number it
    // is written as.
    if MAX_WHOLE_UNITS
        .checked_mul(scale)
        .is_some_and(|max| v > max)
    {
        return Err(bad());
    }
    Ok(if neg { -v } else { v })
}

/// Formats minor units as decimal text with `digits` fraction digits.
pub fn format_decimal(minor: i64, digits: u32) -> String {
    let scale = 10i64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = digits as usize
    )
}

/// Serde for an `i64` of minor units written as a JSON decimal number
/// (2 fraction digits). Use with `#[serde(with = "money::decimal")]`.
pub mod decimal {
    use serde::de::{self, Visitor};

    use super::*;

    /// Writes minor units as a JSON number (`875` → `8.75`).
    pub fn serialize<S: Serializer>(minor: &i64, s: S) -> Result<S::Ok, S::Error> {
        let text = format_decimal(*minor, 2);
        // The shortest f64 text of a value with two decimals is that text, so
        // the JSON written is exactly the decimal.
        let n: serde_json::Number = text.parse().map_err(serde::ser::Error::custom)?;
        n.serialize(s)
    }

    /// Reads a JSON number or numeric string into minor units, exactly.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = i64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount such as 8.75")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
                if v.unsigned_abs() > MAX_WHOLE_UNITS as u64 {
                    return Err(E::custom("amount too large"));
                }
                Ok(v * 100)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom("amount too large"))
                    .and_then(|v| self.visit_i64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
                if !v.is_finite() || v.abs() > MAX_WHOLE_UNITS as f64 {
                    return Err(E::custom("amount too large"));
                }
                // Shortest round-trip text recovers the decimal that was written.
                parse_decimal(&format!("{v}"), 2).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
                parse_decimal(v, 2).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Serde for an optional amount, as [`decimal`] (absent or `null`: none).
/// Use with `#[serde(default, with = "money::opt_decimal")]`.
pub mod opt_decimal {
    use super::*;

    #[derive(Deserialize)]
    struct Amount(#[serde(with = "super::decimal")] i64);

    /// Writes the amount as a JSON number, or `null`.
    pub fn serialize<S: Serializer>(minor: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match minor {
            Some(m) => super::decimal::serialize(m, s),
            None => s.serialize_none(),
        }
    }

    /// Reads a JSON number, numeric string or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(Option::<Amount>::deserialize(d)?.map(|Amount(m)| m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_amounts_read_numbers_text_and_null() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct O {
            #[serde(default, with = "opt_decimal")]
            amount: Option<i64>,
        }
        let o = |v: &str| serde_json::from_str::<O>(v).map(|o| o.amount);
        assert_eq!(o(r#"{"amount": "8.75"}"#).unwrap(), Some(875));
        assert_eq!(o(r#"{"amount": 8.75}"#).unwrap(), Some(875));
        assert_eq!(o(r#"{"amount": null}"#).unwrap(), None);
        assert_eq!(o("{}").unwrap(), None);
        assert!(o(r#"{"amount": "1.005"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&O { amount: Some(1250) }).unwrap(),
            r#"{"amount":12.5}"#
        );
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("8.75", 2), Ok(875));
        assert_eq!(parse_decimal("12", 2), Ok(1200));
        assert_eq!(parse_decimal("0.1", 2), Ok(10));
        assert_eq!(parse_decimal("-3.50", 2), Ok(-350));
        assert!(parse_decimal("1.005", 2).is_err());
        assert!(parse_decimal("1e3", 2).is_err());
        assert!(parse_decimal("", 2).is_err());
        assert!(parse_decimal("99999999999999999999", 2).is_err());
        // Past the bound where a JSON number would no longer read back exactly.
        assert_eq!(
            parse_decimal("10000000000000.00", 2),
            Ok(1_000_000_000_000_000)
        );
        assert!(parse_decimal("10000000000001", 2).is_err());
        assert!(parse_decimal("-99999999999999.99", 2).is_err());
        assert!(parse_decimal("10000000000000.01", 2).is_err());
        assert!(parse_decimal("-10000000000000.50", 2).is_err());
        assert_eq!(format_decimal(875, 2), "8.75");
        assert_eq!(format_decimal(-5, 2), "-0.05");
    }

    #[derive(Serialize, Deserialize)]
    struct P {
        #[serde(with = "decimal")]
        payout: i64,
    }

    #[test]
    fn json_amounts_round_trip() {
        let p: P = serde_json::from_str(r#"{"payout": 8.75}"#).unwrap();
        assert_eq!(p.payout, 875);
        let p: P = serde_json::from_str(r#"{"payout": 0.29}"#).unwrap();
        assert_eq!(p.payout, 29);
        assert_eq!(
            serde_json::to_string(&P { payout: 2999 }).unwrap(),
            r#"{"payout":29.99}"#
        );
        assert!(serde_json::from_str::<P>(r#"{"payout": 1.234}"#).is_err());
        // The largest amount taken is written back to the cent, as a number and from text.
        let max = r#"{"payout":9999999999999.99}"#;
        assert_eq!(
            serde_json::to_string(&serde_json::from_str::<P>(max).unwrap()).unwrap(),
            max
        );
        let p: P = serde_json::from_str(r#"{"payout": "9999999999999.99"}"#).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), max);
        // Caught by fuzz/money's round trip: an amount just past the bound,
        // sent as text, was taken, and then its JSON number did not read back.
        for too_large in [
            r#"{"payout": "999999999999999.99"}"#,
            r#"{"payout": 99999999999999}"#,
            r#"{"payout": 1e16}"#,
            r#"{"payout": "10000000000000.5"}"#,
            r#"{"payout": 10000000000000.5}"#,
        ] {
            assert!(serde_json::from_str::<P>(too_large).is_err(), "{too_large}");
        }
    }
}
