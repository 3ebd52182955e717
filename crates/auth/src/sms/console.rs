use super::config::GatewayKind;
use super::error::SmsError;
use super::{SmsGateway, SmsReceipt};
use crate::phone::E164;

/// DEMO ONLY. Writes the message, code included, to the log instead of
/// sending it: this is how the local demo delivers codes. It is the one
/// place in Passgate allowed to print an SMS body; never configure it
/// where real callers are.
#[derive(Debug, Clone, Default)]
pub struct ConsoleGateway;

impl ConsoleGateway {
    pub fn new() -> Self {
        tracing::warn!(
            "SMS gateway is \"console\": one-time codes will be printed to the log (demo only)"
        );
        Self
    }
}

impl SmsGateway for ConsoleGateway {
    async fn send(&self, to: &E164, body: &str) -> Result<SmsReceipt, SmsError> {
        // Deliberately prints the body: see the type's documentation.
        tracing::info!(%to, body, "[console SMS gateway, demo only] message not sent, printed here");
        Ok(SmsReceipt {
            gateway: GatewayKind::Console,
            id: None,
            attempts: 1,
        })
    }
}
