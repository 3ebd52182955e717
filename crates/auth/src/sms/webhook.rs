use reqwest::header::CONTENT_TYPE;
use reqwest::Client;
use serde::Serialize;

use super::config::{GatewayKind, HttpPolicy, WebhookConfig};
use super::error::SmsError;
use super::http::{client, send_with_retry};
use super::signature::{sign, SIGNATURE_HEADER};
use super::{SmsGateway, SmsReceipt};
use crate::phone::E164;
use crate::secret::SecretString;

/// POSTs `{"to", "from", "body"}` as JSON to a URL of the operator's,
/// with `X-Passgate-Signature: sha256=<hex HMAC-SHA256 of the body>`.
/// A JSON answer with an `id` string gives the receipt its id.
#[derive(Clone)]
pub struct WebhookGateway {
    http: Client,
    policy: HttpPolicy,
    url: String,
    from: String,
    secret: SecretString,
}

#[derive(Serialize)]
struct Payload<'a> {
    to: &'a str,
    from: &'a str,
    body: &'a str,
}

impl WebhookGateway {
    pub fn new(config: &WebhookConfig, policy: &HttpPolicy) -> Result<Self, SmsError> {
        if config.secret.is_empty() {
            return Err(SmsError::Config(
                "the webhook gateway needs a non-empty signing secret".to_string(),
            ));
        }
        Ok(Self {
            http: client(policy)?,
            policy: *policy,
            url: config.url.clone(),
            from: config.from.clone(),
            secret: config.secret.clone(),
        })
    }
}

impl SmsGateway for WebhookGateway {
    async fn send(&self, to: &E164, body: &str) -> Result<SmsReceipt, SmsError> {
        let payload = serde_json::to_vec(&Payload {
            to: to.as_str(),
            from: &self.from,
            body,
        })
        .map_err(|e| SmsError::Request(format!("cannot encode the message: {e}")))?;
        let signature = sign(self.secret.expose().as_bytes(), &payload)?;
        let delivered = send_with_retry(&self.policy, || {
            self.http
                .post(&self.url)
                .header(CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .body(payload.clone())
        })
        .await?;
        let id = delivered
            .response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string));
        tracing::info!(%to, attempts = delivered.attempts, "SMS handed to the webhook");
        Ok(SmsReceipt {
            gateway: GatewayKind::Webhook,
            id,
            attempts: delivered.attempts,
        })
    }
}

impl std::fmt::Debug for WebhookGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token of the receiver's.
        f.debug_struct("WebhookGateway")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}
