use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Identifies one `Play` so that `PromptFinished` can say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlaybackId(pub u32);

/// Every prompt the flow plays, in one catalogue: its id, its name in
/// configuration and override files, and its default words. Adding a prompt
/// is adding a line to [`PromptId::ALL`]'s table below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptId {
    /// Played when the call is answered; empty words for none.
    Greeting,
    NumberNotRecognized,
    EnterNumber,
    NumberInvalid,
    NumberNotFound,
    NumberMatched,
    PassphraseRequest,
    /// A short tone: "after the beat". It has no words.
    Beep,
    PassphraseFailed,
    EnterCode,
    CodeWrong,
    CodeExpired,
    CodeSendFailed,
    WelcomeAfterPassphrase,
    WelcomeAfterCode,
    Menu,
    Balance,
    Goodbye,
    TransferringToRepresentative,
    TransferringToAgent,
    TransferFailed,
}

/// The catalogue: id, name, default words (the seed demo's wording).
/// `{name}` and `{balance}` are filled in where they appear.
const CATALOGUE: [(PromptId, &str, &str); 21] = [
    (PromptId::Greeting, "greeting", "Welcome."),
    (
        PromptId::NumberNotRecognized,
        "number_not_recognized",
        "We did not recognize your phone number in our database. If you have an account with \
         us, press 1, otherwise you will be transferred to a representative.",
    ),
    (
        PromptId::EnterNumber,
        "enter_number",
        "Please enter the 10-digit phone number associated with the account starting with the \
         area code.",
    ),
    (
        PromptId::NumberInvalid,
        "number_invalid",
        "That is not a complete phone number.",
    ),
    (
        PromptId::NumberNotFound,
        "number_not_found",
        "We could not find an account with that phone number.",
    ),
    (
        PromptId::NumberMatched,
        "number_matched",
        "We have matched your phone number in our record.",
    ),
    (
        PromptId::PassphraseRequest,
        "passphrase_request",
        "For security reasons please give us your security passphrase to access your account \
         after the beat.",
    ),
    (PromptId::Beep, "beep", ""),
    (
        PromptId::PassphraseFailed,
        "passphrase_failed",
        "Passphrase does not match our records. We will send you an SMS with a temporary code to \
         the number linked to the account. The code will expire in one minute.",
    ),
    (
        PromptId::EnterCode,
        "enter_code",
        "Please enter the code from the message on your keypad.",
    ),
    (
        PromptId::CodeWrong,
        "code_wrong",
        "That code is not correct. Please try again.",
    ),
    (
        PromptId::CodeExpired,
        "code_expired",
        "The code has expired.",
    ),
    (
        PromptId::CodeSendFailed,
        "code_send_failed",
        "We could not send the code.",
    ),
    (
        PromptId::WelcomeAfterPassphrase,
        "welcome_after_passphrase",
        "{name} welcome back.",
    ),
    (
        PromptId::WelcomeAfterCode,
        "welcome_after_code",
        "Hello {name}. Welcome back.",
    ),
    (
        PromptId::Menu,
        "menu",
        "If you want to know your balance press or say one. To speak to an agent press zero.",
    ),
    (PromptId::Balance, "balance", "Your balance is {balance}."),
    (
        PromptId::Goodbye,
        "goodbye",
        "Thank you for calling. Goodbye.",
    ),
    (
        PromptId::TransferringToRepresentative,
        "transferring_to_representative",
        "We are transferring you to a representative.",
    ),
    (
        PromptId::TransferringToAgent,
        "transferring_to_agent",
        "Please hold while we connect you to an agent.",
    ),
    (
        PromptId::TransferFailed,
        "transfer_failed",
        "We could not transfer your call. Please call again later.",
    ),
];

impl PromptId {
    /// Every prompt, in the catalogue's order.
    pub const ALL: [PromptId; 21] = {
        let mut all = [PromptId::Greeting; 21];
        let mut i = 0;
        while i < CATALOGUE.len() {
            all[i] = CATALOGUE[i].0;
            i += 1;
        }
        all
    };

    /// The name in configuration, override files and logs: `enter_code`.
    pub fn name(self) -> &'static str {
        CATALOGUE[self.index()].1
    }

    /// The prompt called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<PromptId> {
        CATALOGUE
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(id, _, _)| *id)
    }

    /// The seed demo's words for it.
    pub fn default_words(self) -> &'static str {
        CATALOGUE[self.index()].2
    }

    fn index(self) -> usize {
        // The catalogue lists the variants in declaration order; a test holds
        // it to that.
        self as usize
    }
}

/// The words of every prompt: the catalogue's defaults with the operator's
/// `[flow.prompts]` entries over them.
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    words: BTreeMap<PromptId, String>,
}

/// Equal when every prompt has the same words, whether set or defaulted.
impl PartialEq for Prompts {
    fn eq(&self, other: &Self) -> bool {
        PromptId::ALL
            .iter()
            .all(|&id| self.template(id) == other.template(id))
    }
}

impl Eq for Prompts {}

impl<'de> Deserialize<'de> for Prompts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let words = BTreeMap::<PromptId, String>::deserialize(deserializer)?;
        if words.contains_key(&PromptId::Beep) {
            return Err(serde::de::Error::custom(
                "beep is a tone and has no words to set",
            ));
        }
        Ok(Prompts { words })
    }
}

impl Prompts {
    /// The words for `id`, placeholders not yet filled.
    pub fn template(&self, id: PromptId) -> &str {
        self.words
            .get(&id)
            .map_or(id.default_words(), String::as_str)
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
        assert!(toml::from_str::<Prompts>("beep = \"x\"").is_err());
    }

    #[test]
    fn the_catalogue_lists_every_prompt_once_in_declaration_order_by_its_serde_name() {
        for (i, id) in PromptId::ALL.iter().enumerate() {
            assert_eq!(*id as usize, i, "{id:?} is out of order");
            let serde_name = toml::Value::try_from(id).unwrap();
            assert_eq!(serde_name.as_str(), Some(id.name()));
            assert_eq!(PromptId::from_name(id.name()), Some(*id));
        }
        // The last variant's index is the catalogue's length less one, so no
        // variant is missing from it.
        assert_eq!(PromptId::TransferFailed as usize, PromptId::ALL.len() - 1);
        assert_eq!(PromptId::from_name("no_such_prompt"), None);
    }
}
