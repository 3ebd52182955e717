//! The JSON the CRM speaks.

use serde::{Deserialize, Serialize};

use super::error::CrmError;
use crate::flow::{Account, AccountId, Balance};
use crate::phone::E164;

/// The lookup answer. `balance` is in currency units, as a number
/// (`1234.56`) or a string (`"1234.56"`).
#[derive(Debug, Deserialize)]
pub(super) struct AccountJson {
    id: String,
    name: String,
    sms_number: String,
    balance: Amount,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Amount {
    Number(serde_json::Number),
    Text(String),
}

impl AccountJson {
    pub(super) fn into_account(self) -> Result<Account, CrmError> {
        let sms_number = E164::parse(&self.sms_number)
            .map_err(|e| CrmError::BadResponse(format!("sms_number: {e}")))?;
        // Through the decimal text, so 0.1 + 0.2 style float error cannot
        // creep into cents.
        let text = match self.balance {
            Amount::Number(n) => n.to_string(),
            Amount::Text(t) => t,
        };
        let balance: Balance = text
            .parse()
            .map_err(|e| CrmError::BadResponse(format!("balance: {e}")))?;
        if self.id.is_empty() {
            return Err(CrmError::BadResponse("id is empty".to_string()));
        }
        Ok(Account {
            id: AccountId(self.id),
            name: self.name,
            sms_number,
            balance,
            passphrase_words: None,
        })
    }
}

#[derive(Serialize)]
pub(super) struct VerifyRequest<'a> {
    pub account: &'a str,
    pub alternatives: Vec<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct VerifyResponse {
    #[serde(rename = "match")]
    pub matched: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_json_maps_to_a_flow_account() {
        let json =
            r#"{"id":"c-9","name":"Nelson Medina","sms_number":"+15550100001","balance":1234.56}"#;
        let account = serde_json::from_str::<AccountJson>(json)
            .unwrap()
            .into_account()
            .unwrap();
        assert_eq!(account.id, AccountId("c-9".to_string()));
        assert_eq!(account.balance.cents, 123_456);
        assert_eq!(account.sms_number.as_str(), "+15550100001");
        let text = r#"{"id":"c","name":"N","sms_number":"+15550100001","balance":"0.10"}"#;
        let account = serde_json::from_str::<AccountJson>(text)
            .unwrap()
            .into_account()
            .unwrap();
        assert_eq!(account.balance.cents, 10);
    }

    #[test]
    fn bad_fields_are_named() {
        let json = r#"{"id":"c","name":"N","sms_number":"5550100001","balance":1}"#;
        let err = serde_json::from_str::<AccountJson>(json)
            .unwrap()
            .into_account()
            .unwrap_err();
        assert!(err.to_string().contains("sms_number"), "{err}");
    }
}
