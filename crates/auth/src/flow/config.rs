use std::time::Duration;

use serde::Deserialize;

use super::prompts::Prompts;
use crate::otp::OtpPolicy;
use crate::phone::NumberingPlan;

/// Everything about the flow an operator may change. Loaded from the
/// `[flow]` table of the TOML configuration; every field has a default.
/// Durations are written as `"5s"`, `"1m"`, `"500ms"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    pub numbering: NumberingPlan,
    pub prompts: Prompts,
    pub offer: OfferConfig,
    pub number_entry: NumberEntryConfig,
    pub passphrase: PassphraseStepConfig,
    pub code: CodeStepConfig,
    pub menu: MenuConfig,
    /// Longest wait for the account store or CRM to answer a lookup.
    #[serde(with = "humantime_serde")]
    pub lookup_timeout: Duration,
    /// Longest a prompt may take before the flow stops waiting for its
    /// `PromptFinished` and starts the input timers anyway.
    #[serde(with = "humantime_serde")]
    pub prompt_guard: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            numbering: NumberingPlan::default(),
            prompts: Prompts::default(),
            offer: OfferConfig::default(),
            number_entry: NumberEntryConfig::default(),
            passphrase: PassphraseStepConfig::default(),
            code: CodeStepConfig::default(),
            menu: MenuConfig::default(),
            lookup_timeout: Duration::from_secs(5),
            prompt_guard: Duration::from_secs(60),
        }
    }
}

/// "If you have an account with us, press 1".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfferConfig {
    pub accept_key: char,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for OfferConfig {
    fn default() -> Self {
        Self {
            accept_key: '1',
            timeout: Duration::from_secs(8),
        }
    }
}

/// Typing the account's phone number. The number of digits is the
/// numbering plan's national length.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberEntryConfig {
    /// Entries allowed (invalid or unknown numbers) before transferring.
    pub attempts: u32,
    #[serde(with = "humantime_serde")]
    pub inter_digit_timeout: Duration,
    /// Cap on the whole entry, from the prompt's end (a restart key starts
    /// it again); silence is the inter-digit timeout's job. Long enough for
    /// ten digits typed at the inter-digit limit after a pause to start:
    /// callers reading a number off a card take 2 to 5 s a digit.
    #[serde(with = "humantime_serde")]
    pub total_timeout: Duration,
    pub terminator: Option<char>,
    pub restart: Option<char>,
}

impl Default for NumberEntryConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            inter_digit_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(60),
            terminator: Some('#'),
            restart: Some('*'),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassphraseStepConfig {
    /// The recognizer's vocabulary: `None` for the model's full vocabulary,
    /// or a word list that every passphrase's words come from.
    pub vocabulary: Option<Vec<String>>,
    /// How long the caller has to begin the passphrase once the request
    /// (and beep) has played: the recognizer gives up on silence then.
    #[serde(with = "humantime_serde")]
    pub listen_timeout: Duration,
    /// How long a passphrase begun within `listen_timeout` may take: the
    /// turn's audio ends at `listen_timeout + max_answer` whatever happens.
    #[serde(with = "humantime_serde")]
    pub max_answer: Duration,
    /// Extra wait past the longest turn for the final result to arrive.
    #[serde(with = "humantime_serde")]
    pub listen_grace: Duration,
    /// Longest wait for `PassphraseChecked`.
    #[serde(with = "humantime_serde")]
    pub verify_timeout: Duration,
    /// Play a tone after the request ("after the beat").
    pub beep: bool,
}

impl Default for PassphraseStepConfig {
    fn default() -> Self {
        Self {
            vocabulary: None,
            listen_timeout: Duration::from_secs(8),
            max_answer: Duration::from_secs(5),
            listen_grace: Duration::from_secs(2),
            verify_timeout: Duration::from_secs(10),
            beep: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeStepConfig {
    pub policy: OtpPolicy,
    /// Longest wait for the SMS gateway's answer.
    #[serde(with = "humantime_serde")]
    pub send_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub inter_digit_timeout: Duration,
    /// Per entry; the code's own lifetime still applies across entries.
    #[serde(with = "humantime_serde")]
    pub total_timeout: Duration,
    pub terminator: Option<char>,
    pub restart: Option<char>,
}

impl Default for CodeStepConfig {
    fn default() -> Self {
        Self {
            policy: OtpPolicy::default(),
            send_timeout: Duration::from_secs(15),
            inter_digit_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(45),
            terminator: Some('#'),
            restart: Some('*'),
        }
    }
}

/// The authenticated caller's menu.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MenuConfig {
    pub balance_key: char,
    pub agent_key: char,
    /// Spoken words that choose the balance; with the agent words they are
    /// the recognizer's whole vocabulary while the menu listens.
    pub balance_words: Vec<String>,
    pub agent_words: Vec<String>,
    /// Silence this long after the menu prompt ends the call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Unrecognised choices tolerated before saying goodbye.
    pub invalid_limit: u32,
}

impl Default for MenuConfig {
    fn default() -> Self {
        Self {
            balance_key: '1',
            agent_key: '0',
            balance_words: vec!["one".to_string()],
            agent_words: vec!["zero".to_string(), "agent".to_string()],
            timeout: Duration::from_secs(10),
            invalid_limit: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_issue() {
        let config = FlowConfig::default();
        assert_eq!(config.numbering.national_digits, 10);
        assert_eq!(config.numbering.country_code.as_str(), "1");
        assert_eq!(config.code.policy.length, 4);
        assert_eq!(config.code.policy.lifetime, Duration::from_secs(60));
        assert_eq!(config.code.policy.max_tries, 3);
        assert_eq!(config.number_entry.terminator, Some('#'));
        assert_eq!(config.number_entry.restart, Some('*'));
        assert_eq!(config.menu.balance_key, '1');
    }

    #[test]
    fn loads_a_partial_toml_table() {
        let text = r#"
            lookup_timeout = "3s"

            [numbering]
            country_code = "44"

            [number_entry]
            attempts = 2
            inter_digit_timeout = "3500ms"

            [passphrase]
            vocabulary = ["하얀", "말", "바다"]

            [code.policy]
            length = 6

            [menu]
            balance_words = ["하나"]

            [prompts]
            greeting = "Welcome to IntelePeer."
        "#;
        let config: FlowConfig = toml::from_str(text).unwrap();
        assert_eq!(config.lookup_timeout, Duration::from_secs(3));
        assert_eq!(config.numbering.country_code.as_str(), "44");
        assert_eq!(config.number_entry.attempts, 2);
        assert_eq!(
            config.number_entry.inter_digit_timeout,
            Duration::from_millis(3500)
        );
        assert_eq!(config.number_entry.total_timeout, Duration::from_secs(60));
        assert_eq!(config.passphrase.vocabulary.as_ref().unwrap().len(), 3);
        assert_eq!(config.code.policy.length, 6);
        assert_eq!(config.code.policy.max_tries, 3);
        assert_eq!(config.menu.balance_words, ["하나"]);
        assert_eq!(
            config
                .prompts
                .template(super::super::prompts::PromptId::Greeting),
            "Welcome to IntelePeer."
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FlowConfig>("lookup_timeuot = \"3s\"").is_err());
        assert!(toml::from_str::<FlowConfig>("[menu]\nbalance = 1").is_err());
    }
}

/// A configuration the flow cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum FlowConfigError {
    #[error("code policy: {0}")]
    CodePolicy(#[from] crate::otp::OtpError),
    #[error("number_entry.attempts must be at least 1")]
    NoNumberAttempts,
    #[error("numbering.national_digits must be at least 1")]
    NoNationalDigits,
    #[error("{0}: the terminator and restart keys must differ")]
    SameKeys(&'static str),
}

impl FlowConfig {
    pub fn validate(&self) -> Result<(), FlowConfigError> {
        self.code.policy.validate()?;
        if self.number_entry.attempts == 0 {
            return Err(FlowConfigError::NoNumberAttempts);
        }
        if self.numbering.national_digits == 0 {
            return Err(FlowConfigError::NoNationalDigits);
        }
        let same = |terminator: Option<char>, restart: Option<char>| {
            terminator.is_some() && terminator == restart
        };
        if same(self.number_entry.terminator, self.number_entry.restart) {
            return Err(FlowConfigError::SameKeys("number_entry"));
        }
        if same(self.code.terminator, self.code.restart) {
            return Err(FlowConfigError::SameKeys("code"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert!(FlowConfig::default().validate().is_ok());
    }

    #[test]
    fn unusable_settings_are_refused() {
        let mut config = FlowConfig::default();
        config.code.policy.length = 2;
        assert!(matches!(
            config.validate(),
            Err(FlowConfigError::CodePolicy(_))
        ));

        let mut config = FlowConfig::default();
        config.number_entry.attempts = 0;
        assert!(matches!(
            config.validate(),
            Err(FlowConfigError::NoNumberAttempts)
        ));

        let mut config = FlowConfig::default();
        config.numbering.national_digits = 0;
        assert!(matches!(
            config.validate(),
            Err(FlowConfigError::NoNationalDigits)
        ));

        let mut config = FlowConfig::default();
        config.code.restart = Some('#');
        assert!(matches!(
            config.validate(),
            Err(FlowConfigError::SameKeys("code"))
        ));
    }
}
