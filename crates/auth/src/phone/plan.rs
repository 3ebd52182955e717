use serde::{Deserialize, Serialize};

use super::e164::{PhoneError, E164};

/// A country calling code (1 to 3 digits): what a number dialled without one
/// is assumed to belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let text = text.strip_prefix('+').unwrap_or(text);
        let well_formed = (1..=3).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit())
            && !text.starts_with('0');
        if well_formed {
            Ok(Self(text.to_string()))
        } else {
            Err(PhoneError::CountryCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CountryCode {
    fn default() -> Self {
        Self("1".to_string())
    }
}

impl TryFrom<String> for CountryCode {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CountryCode> for String {
    fn from(value: CountryCode) -> Self {
        value.0
    }
}

/// How numbers without a `+` are read. The defaults are the North American
/// plan: 10-digit national numbers, `1` as trunk prefix, `011` to dial abroad.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberingPlan {
    pub country_code: CountryCode,
    pub national_digits: usize,
    pub trunk_prefix: String,
    pub international_prefix: String,
}

impl Default for NumberingPlan {
    fn default() -> Self {
        Self {
            country_code: CountryCode::default(),
            national_digits: 10,
            trunk_prefix: "1".to_string(),
            international_prefix: "011".to_string(),
        }
    }
}

impl NumberingPlan {
    /// Normalises a number as it appears in a SIP URI user part or a tel URI:
    /// visual separators (`-`, `.`, spaces, parentheses) are dropped, then the
    /// number is read as international, national with trunk prefix, or
    /// national. Anything else (an extension, a name) is not a phone number.
    pub fn normalise(&self, raw: &str) -> Option<E164> {
        let mut compact = String::with_capacity(raw.len());
        for c in raw.chars() {
            match c {
                '-' | '.' | ' ' | '(' | ')' => {}
                _ => compact.push(c),
            }
        }
        if compact.starts_with('+') {
            return E164::parse(&compact).ok();
        }
        if compact.is_empty() || !compact.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let international = [self.international_prefix.as_str(), "00"]
            .into_iter()
            .filter(|prefix| !prefix.is_empty())
            .find_map(|prefix| compact.strip_prefix(prefix));
        if let Some(rest) = international {
            return E164::parse(&format!("+{rest}")).ok();
        }
        if let Some(national) = self.national_part(&compact) {
            return E164::parse(&format!("+{}{national}", self.country_code.as_str())).ok();
        }
        None
    }

    /// Normalises what a caller typed when asked for the national number
    /// (the 10 digits "starting with the area code" by default).
    pub fn normalise_typed(&self, digits: &str) -> Result<E164, PhoneError> {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotDigits);
        }
        if digits.len() != self.national_digits {
            return Err(PhoneError::TypedLength {
                expected: self.national_digits,
                found: digits.len(),
            });
        }
        E164::parse(&format!("+{}{digits}", self.country_code.as_str()))
    }

    fn national_part<'a>(&self, digits: &'a str) -> Option<&'a str> {
        if digits.len() == self.national_digits {
            return Some(digits);
        }
        [self.trunk_prefix.as_str(), self.country_code.as_str()]
            .into_iter()
            .filter(|prefix| !prefix.is_empty())
            .filter_map(|prefix| digits.strip_prefix(prefix))
            .find(|rest| rest.len() == self.national_digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn north_america() -> NumberingPlan {
        NumberingPlan::default()
    }

    fn united_kingdom() -> NumberingPlan {
        NumberingPlan {
            country_code: CountryCode::parse("44").unwrap(),
            national_digits: 10,
            trunk_prefix: "0".to_string(),
            international_prefix: "00".to_string(),
        }
    }

    #[test]
    fn normalises_the_ways_a_number_is_written() {
        let cases = [
            ("+15551234567", Some("+15551234567")),
            ("+1-555-123-4567", Some("+15551234567")),
            ("5551234567", Some("+15551234567")),
            ("(555) 123-4567", Some("+15551234567")),
            ("15551234567", Some("+15551234567")),
            ("555.123.4567", Some("+15551234567")),
            ("011442079460000", Some("+442079460000")),
            ("00442079460000", Some("+442079460000")),
            ("1001", None),
            ("alice", None),
            ("", None),
            ("+1555", None),
            ("555123456", None),
        ];
        let plan = north_america();
        for (raw, expected) in cases {
            let got = plan.normalise(raw);
            assert_eq!(got.as_ref().map(E164::as_str), expected, "{raw:?}");
        }
    }

    #[test]
    fn other_plans_use_their_own_prefixes() {
        let plan = united_kingdom();
        assert_eq!(
            plan.normalise("02079460000").unwrap().as_str(),
            "+442079460000"
        );
        assert_eq!(
            plan.normalise("2079460000").unwrap().as_str(),
            "+442079460000"
        );
        assert_eq!(
            plan.normalise("0015551234567").unwrap().as_str(),
            "+15551234567"
        );
    }

    #[test]
    fn typed_numbers_need_exactly_the_national_length() {
        let plan = north_america();
        assert_eq!(
            plan.normalise_typed("5551234567").unwrap().as_str(),
            "+15551234567"
        );
        assert_eq!(
            plan.normalise_typed("555123456"),
            Err(PhoneError::TypedLength {
                expected: 10,
                found: 9
            })
        );
        assert_eq!(
            plan.normalise_typed("15551234567"),
            Err(PhoneError::TypedLength {
                expected: 10,
                found: 11
            })
        );
        assert_eq!(
            plan.normalise_typed("555123456*"),
            Err(PhoneError::NotDigits)
        );
        let uk = united_kingdom();
        assert_eq!(
            uk.normalise_typed("2079460000").unwrap().as_str(),
            "+442079460000"
        );
    }

    #[test]
    fn country_codes_are_validated() {
        assert_eq!(CountryCode::default().as_str(), "1");
        assert_eq!(CountryCode::parse("+44").unwrap().as_str(), "44");
        for bad in ["", "0", "1234", "4a", "044"] {
            assert_eq!(
                CountryCode::parse(bad),
                Err(PhoneError::CountryCode),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn plan_loads_from_toml_with_defaults() {
        let plan: NumberingPlan = toml::from_str(r#"country_code = "44""#).unwrap();
        assert_eq!(plan.country_code.as_str(), "44");
        assert_eq!(plan.national_digits, 10);
        assert!(toml::from_str::<NumberingPlan>(r#"country_code = "0""#).is_err());
    }
}
