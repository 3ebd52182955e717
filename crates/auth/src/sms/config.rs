use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

/// `[sms]`: which gateway, what the message says, and each gateway's
/// settings in its own section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    pub gateway: GatewayKind,
    /// The message; `{code}` is replaced by the code.
    pub message: String,
    pub http: HttpPolicy,
    pub webhook: Option<WebhookConfig>,
    pub twilio: Option<TwilioConfig>,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            gateway: GatewayKind::Console,
            message: "Your verification code is {code}. It expires in one minute.".to_string(),
            http: HttpPolicy::default(),
            webhook: None,
            twilio: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// Prints the message, code included, to the log. For demos only.
    Console,
    Webhook,
    Twilio,
}

/// Timeouts and retries for the HTTP gateways. Retries happen only when
/// the message cannot have been taken (no connection) or the gateway says
/// it failed (5xx); a timeout is not retried, as the message may be on its
/// way and the caller is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpPolicy {
    /// For one whole request, connection included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Requests in all, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each one after.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// `[sms.webhook]`: POST `{"to", "from", "body"}` to `url`, signed with
/// HMAC-SHA256 under `secret`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub from: String,
    pub secret: SecretString,
}

/// `[sms.twilio]`: the Messages API. `base_url` points elsewhere for
/// tests or Twilio-compatible providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    #[serde(default = "default_twilio_base")]
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: SecretString,
    pub from: String,
}

fn default_twilio_base() -> String {
    "https://api.twilio.com".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_each_gateway_from_toml() {
        let config: SmsConfig = toml::from_str(
            r#"
            gateway = "webhook"
            http = { timeout = "2s", max_attempts = 2 }
            [webhook]
            url = "https://sms.example/send"
            from = "+15550009999"
            secret = "k3y"
            [twilio]
            account_sid = "AC123"
            auth_token = "t0ken"
            from = "+15550008888"
            "#,
        )
        .unwrap();
        assert_eq!(config.gateway, GatewayKind::Webhook);
        assert_eq!(config.http.timeout, Duration::from_secs(2));
        assert_eq!(config.http.max_attempts, 2);
        assert_eq!(config.http.backoff, HttpPolicy::default().backoff);
        let webhook = config.webhook.as_ref().unwrap();
        assert_eq!(webhook.secret.expose(), "k3y");
        let twilio = config.twilio.as_ref().unwrap();
        assert_eq!(twilio.base_url, "https://api.twilio.com");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("k3y") && !shown.contains("t0ken"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_keys_and_gateways_are_refused() {
        assert!(toml::from_str::<SmsConfig>("gateway = \"carrier-pigeon\"").is_err());
        assert!(toml::from_str::<SmsConfig>("gatway = \"console\"").is_err());
    }
}
