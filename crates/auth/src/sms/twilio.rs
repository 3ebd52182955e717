use reqwest::Client;

use super::config::{GatewayKind, HttpPolicy, TwilioConfig};
use super::error::SmsError;
use super::http::{client, send_with_retry};
use super::{SmsGateway, SmsReceipt};
use crate::phone::E164;
use crate::secret::SecretString;

/// The Twilio Messages API: a form POST of `To`, `From`, `Body` to
/// `{base_url}/2010-04-01/Accounts/{sid}/Messages.json` with basic auth
/// `sid:token`. The answer's `sid` is the receipt id.
#[derive(Clone)]
pub struct TwilioGateway {
    http: Client,
    policy: HttpPolicy,
    url: String,
    account_sid: String,
    auth_token: SecretString,
    from: String,
}

impl TwilioGateway {
    pub fn new(config: &TwilioConfig, policy: &HttpPolicy) -> Result<Self, SmsError> {
        let sid_ok = !config.account_sid.is_empty()
            && config
                .account_sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric());
        if !sid_ok {
            return Err(SmsError::Config(
                "the Twilio account SID must be letters and digits".to_string(),
            ));
        }
        Ok(Self {
            http: client(policy)?,
            policy: *policy,
            url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                config.base_url.trim_end_matches('/'),
                config.account_sid
            ),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            from: config.from.clone(),
        })
    }
}

impl SmsGateway for TwilioGateway {
    async fn send(&self, to: &E164, body: &str) -> Result<SmsReceipt, SmsError> {
        let form = [
            ("To", to.as_str()),
            ("From", self.from.as_str()),
            ("Body", body),
        ];
        let delivered = send_with_retry(&self.policy, || {
            self.http
                .post(&self.url)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .form(&form)
        })
        .await?;
        let id = delivered
            .response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("sid").and_then(|s| s.as_str()).map(str::to_string));
        tracing::info!(%to, attempts = delivered.attempts, sid = ?id, "SMS handed to Twilio");
        Ok(SmsReceipt {
            gateway: GatewayKind::Twilio,
            id,
            attempts: delivered.attempts,
        })
    }
}

impl std::fmt::Debug for TwilioGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioGateway")
            .field("url", &self.url)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}
