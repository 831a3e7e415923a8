//! E.164 phone numbers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// A phone number in E.164 form: `+` then 8 to 15 digits, the first not zero.
///
/// Parsing accepts what people type — `(555) 000-2001`, `1-555-000-2001`,
/// `+44 20 7946 0958` — and normalizes it. Ten bare digits are taken as a
/// North American number (+1), as Twilio does for US accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Normalizes `input` to E.164, or says why it cannot.
    pub fn parse(input: &str) -> Result<Self, ModelError> {
        let trimmed = input.trim();
        let plus = trimmed.starts_with('+');
        let mut digits = String::with_capacity(16);
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(ModelError::InvalidPhone(input.to_owned())),
            }
        }
        let digits = if plus {
            digits
        } else if digits.len() == 10 {
            format!("1{digits}")
        } else if digits.len() == 11 && digits.starts_with('1') {
            digits
        } else {
            return Err(ModelError::InvalidPhone(input.to_owned()));
        };
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(ModelError::InvalidPhone(input.to_owned()));
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The E.164 text, `+15550001000`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A display form: `(555) 000-1000` for +1 numbers, E.164 otherwise.
    pub fn formatted(&self) -> String {
        let d = &self.0[1..];
        if d.len() == 11 && d.starts_with('1') {
            format!("({}) {}-{}", &d[1..4], &d[4..7], &d[7..])
        } else {
            self.0.clone()
        }
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PhoneNumber {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_common_forms() {
        for input in [
            "+15550002001",
            "(555) 000-2001",
            "555-000-2001",
            "1 555 000 2001",
            "555.000.2001",
        ] {
            assert_eq!(
                PhoneNumber::parse(input).unwrap().as_str(),
                "+15550002001",
                "{input}"
            );
        }
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for input in [
            "",
            "abc",
            "+0123456789",
            "12345",
            "+1234567890123456",
            "555-CALL-NOW",
            "client:alice",
        ] {
            assert!(PhoneNumber::parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn formats_north_american_numbers() {
        assert_eq!(
            PhoneNumber::parse("+15550001000").unwrap().formatted(),
            "(555) 000-1000"
        );
    }
}
