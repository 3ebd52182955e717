use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a string is not a usable phone number.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhoneError {
    #[error("a phone number must start with '+' followed by digits")]
    MissingPlus,
    #[error("a phone number may only contain digits after the '+'")]
    NotDigits,
    #[error("a phone number has {min} to {max} digits, this one has {found}")]
    Length {
        found: usize,
        min: usize,
        max: usize,
    },
    #[error("a country code cannot start with 0")]
    LeadingZero,
    #[error("expected {expected} digits, got {found}")]
    TypedLength { expected: usize, found: usize },
    #[error("a country code is 1 to 3 digits, not starting with 0")]
    CountryCode,
}

/// A phone number in E.164 form: `+`, country code, subscriber number, no
/// separators. Only ever built through [`E164::parse`], so holding one means
/// the number is well formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// E.164 allows at most 15 digits; the shortest assigned numbers
    /// (small island nations) have 7 including the country code.
    pub const MIN_DIGITS: usize = 7;
    pub const MAX_DIGITS: usize = 15;

    /// Accepts exactly the canonical form; visual separators are the
    /// normalisers' job, not this constructor's.
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let digits = text.strip_prefix('+').ok_or(PhoneError::MissingPlus)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotDigits);
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(PhoneError::Length {
                found: digits.len(),
                min: Self::MIN_DIGITS,
                max: Self::MAX_DIGITS,
            });
        }
        if digits.starts_with('0') {
            return Err(PhoneError::LeadingZero);
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the leading `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for E164 {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<E164> for String {
    fn from(value: E164) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_numbers() {
        let n = E164::parse("+15551234567").unwrap();
        assert_eq!(n.as_str(), "+15551234567");
        assert_eq!(n.digits(), "15551234567");
        assert_eq!(n.to_string(), "+15551234567");
    }

    #[test]
    fn rejects_malformed_numbers() {
        let cases = [
            ("15551234567", PhoneError::MissingPlus),
            ("+1-555-123-4567", PhoneError::NotDigits),
            (
                "+1555",
                PhoneError::Length {
                    found: 4,
                    min: 7,
                    max: 15,
                },
            ),
            (
                "+1234567890123456",
                PhoneError::Length {
                    found: 16,
                    min: 7,
                    max: 15,
                },
            ),
            ("+05551234567", PhoneError::LeadingZero),
            (
                "+",
                PhoneError::Length {
                    found: 0,
                    min: 7,
                    max: 15,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(E164::parse(text), Err(expected), "{text}");
        }
    }

    #[test]
    fn serde_round_trip_validates() {
        #[derive(Deserialize)]
        struct Holder {
            n: E164,
        }
        let ok: Holder = toml::from_str(r#"n = "+442079460000""#).unwrap();
        assert_eq!(ok.n.as_str(), "+442079460000");
        assert!(toml::from_str::<Holder>(r#"n = "not a number""#).is_err());
    }
}
