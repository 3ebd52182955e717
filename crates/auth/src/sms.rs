//! SMS gateways that deliver one-time codes: `console` (demo only: prints
//! the message to the log), `webhook` (signed JSON POST) and `twilio`
//! (the Twilio Messages API, or anything with its shape).
//!
//! The message body holds the code, so only the console gateway ever
//! prints it; the others log the destination and the result, and their
//! errors never carry the body or the gateway's reply.

mod config;
mod console;
mod error;
mod http;
mod signature;
mod twilio;
mod webhook;

use std::future::Future;

pub use config::{GatewayKind, HttpPolicy, SmsConfig, TwilioConfig, WebhookConfig};
pub use console::ConsoleGateway;
pub use error::SmsError;
pub use signature::{sign, SIGNATURE_HEADER};
pub use twilio::TwilioGateway;
pub use webhook::WebhookGateway;

use crate::otp::OtpCode;
use crate::phone::E164;
use crate::secret::SecretString;

/// What a gateway said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReceipt {
    pub gateway: GatewayKind,
    /// The gateway's id for the message, when it gives one.
    pub id: Option<String>,
    /// Requests made, retries included.
    pub attempts: u32,
}

/// Sends one text message.
pub trait SmsGateway {
    fn send(
        &self,
        to: &E164,
        body: &str,
    ) -> impl Future<Output = Result<SmsReceipt, SmsError>> + Send;
}

/// The gateway the configuration names.
#[derive(Debug, Clone)]
pub enum Gateway {
    Console(ConsoleGateway),
    Webhook(WebhookGateway),
    Twilio(TwilioGateway),
}

impl Gateway {
    pub fn from_config(config: &SmsConfig) -> Result<Self, SmsError> {
        if !config.message.contains("{code}") {
            return Err(SmsError::Config(
                "the SMS message must contain {code}, where the code goes".to_string(),
            ));
        }
        let missing = |section: &str| {
            SmsError::Config(format!(
                "gateway = \"{section}\" needs an [sms.{section}] section"
            ))
        };
        Ok(match config.gateway {
            GatewayKind::Console => Self::Console(ConsoleGateway::new()),
            GatewayKind::Webhook => {
                let section = config.webhook.as_ref().ok_or_else(|| missing("webhook"))?;
                Self::Webhook(WebhookGateway::new(section, &config.http)?)
            }
            GatewayKind::Twilio => {
                let section = config.twilio.as_ref().ok_or_else(|| missing("twilio"))?;
                Self::Twilio(TwilioGateway::new(section, &config.http)?)
            }
        })
    }

    pub fn kind(&self) -> GatewayKind {
        match self {
            Self::Console(_) => GatewayKind::Console,
            Self::Webhook(_) => GatewayKind::Webhook,
            Self::Twilio(_) => GatewayKind::Twilio,
        }
    }
}

impl SmsGateway for Gateway {
    async fn send(&self, to: &E164, body: &str) -> Result<SmsReceipt, SmsError> {
        match self {
            Self::Console(g) => g.send(to, body).await,
            Self::Webhook(g) => g.send(to, body).await,
            Self::Twilio(g) => g.send(to, body).await,
        }
    }
}

/// The text to send: `template` with `{code}` replaced. The result holds
/// the code, so it comes back as a secret.
pub fn code_message(template: &str, code: &OtpCode) -> SecretString {
    SecretString::new(template.replace("{code}", code.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::{generate_code, OsSecretSource};

    #[test]
    fn message_carries_the_code_but_hides_it_from_debug() {
        let code = generate_code(&mut OsSecretSource, 4).unwrap();
        let message = code_message("Your code is {code}.", &code);
        assert_eq!(message.expose(), format!("Your code is {}.", code.expose()));
        assert!(!format!("{message:?}").contains(code.expose()));
    }

    #[test]
    fn a_gateway_without_its_section_is_a_config_error() {
        let config: SmsConfig = toml::from_str("gateway = \"twilio\"").unwrap();
        let err = Gateway::from_config(&config).unwrap_err();
        assert!(err.to_string().contains("[sms.twilio]"), "{err}");
        let no_code: SmsConfig = toml::from_str("message = \"Hello\"").unwrap();
        let err = Gateway::from_config(&no_code).unwrap_err();
        assert!(err.to_string().contains("{code}"), "{err}");
        let console: SmsConfig = toml::from_str("gateway = \"console\"").unwrap();
        assert_eq!(
            Gateway::from_config(&console).unwrap().kind(),
            GatewayKind::Console
        );
    }
}
