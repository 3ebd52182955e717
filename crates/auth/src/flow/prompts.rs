use serde::Deserialize;

use super::action::PromptId;

/// The words of every prompt. `{name}` and `{balance}` are filled in where
/// they appear. The defaults are the seed demo's wording.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prompts {
    /// Played when the call is answered; empty for none.
    pub greeting: String,
    pub number_not_recognized: String,
    pub enter_number: String,
    pub number_invalid: String,
    pub number_not_found: String,
    pub number_matched: String,
    pub passphrase_request: String,
    pub passphrase_failed: String,
    pub enter_code: String,
    pub code_wrong: String,
    pub code_expired: String,
    pub code_send_failed: String,
    pub welcome_after_passphrase: String,
    pub welcome_after_code: String,
    pub menu: String,
    pub balance: String,
    pub goodbye: String,
    pub transferring_to_representative: String,
    pub transferring_to_agent: String,
    pub transfer_failed: String,
}

impl Default for Prompts {
    fn default() -> Self {
        let s = str::to_string;
        Self {
            greeting: s("Welcome."),
            number_not_recognized: s(
                "We did not recognize your phone number in our database. If you have an account \
                 with us, press 1, otherwise you will be transferred to a representative.",
            ),
            enter_number: s(
                "Please enter the 10-digit phone number associated with the account starting \
                 with the area code.",
            ),
            number_invalid: s("That is not a complete phone number."),
            number_not_found: s("We could not find an account with that phone number."),
            number_matched: s("We have matched your phone number in our record."),
            passphrase_request: s(
                "For security reasons please give us your security passphrase to access your \
                 account after the beat.",
            ),
            passphrase_failed: s(
                "Passphrase does not match our records. We will send you an SMS with a temporary \
                 code to the number linked to the account. The code will expire in one minute.",
            ),
            enter_code: s("Please enter the code from the message on your keypad."),
            code_wrong: s("That code is not correct. Please try again."),
            code_expired: s("The code has expired."),
            code_send_failed: s("We could not send the code."),
            welcome_after_passphrase: s("{name} welcome back."),
            welcome_after_code: s("Hello {name}. Welcome back."),
            menu: s(
                "If you want to know your balance press or say one. To speak to an agent press \
                 zero.",
            ),
            balance: s("Your balance is {balance}."),
            goodbye: s("Thank you for calling. Goodbye."),
            transferring_to_representative: s("We are transferring you to a representative."),
            transferring_to_agent: s("Please hold while we connect you to an agent."),
            transfer_failed: s("We could not transfer your call. Please call again later."),
        }
    }
}

impl Prompts {
    pub fn template(&self, id: PromptId) -> &str {
        match id {
            PromptId::Greeting => &self.greeting,
            PromptId::NumberNotRecognized => &self.number_not_recognized,
            PromptId::EnterNumber => &self.enter_number,
            PromptId::NumberInvalid => &self.number_invalid,
            PromptId::NumberNotFound => &self.number_not_found,
            PromptId::NumberMatched => &self.number_matched,
            PromptId::PassphraseRequest => &self.passphrase_request,
            PromptId::Beep => "",
            PromptId::PassphraseFailed => &self.passphrase_failed,
            PromptId::EnterCode => &self.enter_code,
            PromptId::CodeWrong => &self.code_wrong,
            PromptId::CodeExpired => &self.code_expired,
            PromptId::CodeSendFailed => &self.code_send_failed,
            PromptId::WelcomeAfterPassphrase => &self.welcome_after_passphrase,
            PromptId::WelcomeAfterCode => &self.welcome_after_code,
            PromptId::Menu => &self.menu,
            PromptId::Balance => &self.balance,
            PromptId::Goodbye => &self.goodbye,
            PromptId::TransferringToRepresentative => &self.transferring_to_representative,
            PromptId::TransferringToAgent => &self.transferring_to_agent,
            PromptId::TransferFailed => &self.transfer_failed,
        }
    }
}

/// Fills `{key}` placeholders in one pass, so a value that itself contains
/// braces (a name typed by an operator) is never expanded again. Unknown
/// placeholders are left as written.
pub(super) fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_once() {
        let values = [("name", "Nelson {balance}"), ("balance", "12.00")];
        assert_eq!(
            render("{name} welcome back. {balance} {missing} {", &values),
            "Nelson {balance} welcome back. 12.00 {missing} {"
        );
        assert_eq!(render("no placeholders", &values), "no placeholders");
    }

    #[test]
    fn prompts_override_single_entries_from_toml() {
        let prompts: Prompts = toml::from_str(r#"greeting = "Welcome to IntelePeer.""#).unwrap();
        assert_eq!(
            prompts.template(PromptId::Greeting),
            "Welcome to IntelePeer."
        );
        assert_eq!(
            prompts.template(PromptId::NumberMatched),
            "We have matched your phone number in our record."
        );
        assert!(toml::from_str::<Prompts>("no_such_prompt = \"x\"").is_err());
    }
}
