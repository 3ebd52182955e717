use std::time::Duration;

use serde::Deserialize;

use super::code::OtpError;

/// How codes are made and how long they last.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpPolicy {
    /// Digits per code.
    pub length: usize,
    /// From issue until the code stops being accepted.
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    /// Wrong entries allowed before the code is void.
    pub max_tries: u32,
}

impl OtpPolicy {
    /// Fewer digits make guessing within the tries too likely; more do not
    /// fit a keypad entry comfortably.
    pub const LENGTHS: std::ops::RangeInclusive<usize> = 4..=10;

    pub fn validate(&self) -> Result<(), OtpError> {
        if !Self::LENGTHS.contains(&self.length) {
            return Err(OtpError::Length(self.length));
        }
        if self.max_tries == 0 {
            return Err(OtpError::NoTries);
        }
        Ok(())
    }
}

impl Default for OtpPolicy {
    fn default() -> Self {
        Self {
            length: 4,
            lifetime: Duration::from_secs(60),
            max_tries: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_calls_four_digits_for_one_minute() {
        let policy = OtpPolicy::default();
        assert_eq!(policy.length, 4);
        assert_eq!(policy.lifetime, Duration::from_secs(60));
        assert_eq!(policy.max_tries, 3);
        assert!(policy.validate().is_ok());
    }

    #[test]
    fn loads_from_toml() {
        let policy: OtpPolicy = toml::from_str("length = 6\nlifetime = \"2m\"").unwrap();
        assert_eq!(policy.length, 6);
        assert_eq!(policy.lifetime, Duration::from_secs(120));
        assert_eq!(policy.max_tries, 3);
    }

    #[test]
    fn validation_refuses_weak_or_useless_policies() {
        let short = OtpPolicy {
            length: 3,
            ..OtpPolicy::default()
        };
        assert!(matches!(short.validate(), Err(OtpError::Length(3))));
        let no_tries = OtpPolicy {
            max_tries: 0,
            ..OtpPolicy::default()
        };
        assert!(matches!(no_tries.validate(), Err(OtpError::NoTries)));
    }
}
