//! What every call shares: the SIP handle, RTP ports, prompts, the
//! recognizer, the account store, the SMS gateway, the CRM, and the settings.
//! The operations here are the flow's side effects, each turned into the
//! answer the flow expects; failures are logged, counted and answered so that
//! the flow moves the caller on (to the SMS code, or to a person).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asr::{ListenOptions, Recognizer};
use auth::crm::CrmClient;
use auth::flow::{AccountId, Alternatives, FlowConfig, LookupResult, PassphraseCheck};
use auth::otp::OtpCode;
use auth::passphrase::MatchRule;
use auth::phone::E164;
use auth::sms::{code_message, Gateway, SmsGateway};
use auth::store::{LockoutPolicy, SmsCap, Store, Timestamp};
use media::{MediaSession, SourceLearning};
use sip::driver::SipHandle;
use sip::Negotiated;

use crate::audit_log::AuditLog;
use crate::config::TransferConfig;
use crate::media_engine::MediaEngine;
use crate::media_formats::MediaFormats;
use crate::metrics::Metrics;
use crate::rtp_ports::RtpPorts;
use crate::tts::Tts;

pub struct Services {
    pub sip: SipHandle,
    pub ports: RtpPorts,
    pub media: MediaEngine,
    pub max_duration: Duration,
    /// `sip.max_calls`: also the most call tasks alive at once.
    pub max_calls: usize,
    pub answer_delay: Duration,
    /// `rtp.strict_source`.
    pub strict_rtp_source: bool,
    /// `auth.require_verstat`.
    pub require_verstat: bool,
    /// `rtp.learn_source`.
    pub learn_rtp_source: SourceLearning,
    pub tts: Tts,
    pub recognizer: Option<Recognizer>,
    pub listen: ListenOptions,
    pub store: Store,
    pub audit_log: AuditLog,
    pub sms: Gateway,
    pub sms_message: String,
    pub sms_cap: SmsCap,
    pub crm: Option<CrmClient>,
    pub lockout: LockoutPolicy,
    pub match_rule: MatchRule,
    pub flow: Arc<FlowConfig>,
    /// Prompts (by name) that play to the end whatever the caller does.
    pub no_barge_in: Vec<String>,
    pub transfer: TransferConfig,
    pub metrics: Arc<Metrics>,
}

/// The codec rate prompts are rendered at (G.711).
pub const PROMPT_RATE: u32 = 8000;

impl Services {
    /// The call's media: receive path at the recognizer's rate, prompts in
    /// the negotiated codec and packet time.
    pub fn media_session(
        &self,
        neg: &Negotiated,
        local: Option<SocketAddr>,
    ) -> anyhow::Result<MediaSession> {
        Ok(MediaSession::new(
            Instant::now(),
            self.media_formats().session_config(neg, local),
        )?)
    }

    /// What a negotiation means for this node's calls' media.
    pub fn media_formats(&self) -> MediaFormats {
        MediaFormats {
            recognizer_rate: self
                .recognizer
                .as_ref()
                .map_or(16000, |r| r.model().sample_rate()),
            strict_source: self.strict_rtp_source,
            learn_source: self.learn_rtp_source,
        }
    }

    /// Finds the account for `number` (CRM first when configured), applying
    /// the lock-out for it and for the calling number.
    pub async fn lookup(&self, number: &E164, caller: Option<&E164>) -> LookupResult {
        let now = Timestamp::now();
        if let Some(crm) = self.crm.as_ref().filter(|c| c.can_lookup()) {
            let status = self
                .store
                .lockout_status(None, caller, &self.lockout, now)
                .await;
            if status.as_ref().is_ok_and(|s| s.locked) {
                return LookupResult::Locked { account: None };
            }
            return crm.lookup_for_flow(number).await;
        }
        match self.store.lookup(number, caller, &self.lockout, now).await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                self.metrics.store_error();
                LookupResult::Failed
            }
        }
    }

    pub async fn verify_passphrase(
        &self,
        account: &AccountId,
        alternatives: &Alternatives,
    ) -> PassphraseCheck {
        let started = Instant::now();
        let check = match self.crm.as_ref().filter(|c| c.can_verify()) {
            Some(crm) => crm.verify_for_flow(account, alternatives).await,
            None => {
                self.store
                    .verify_passphrase(account, alternatives, &self.match_rule)
                    .await
            }
        };
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "passphrase checked"
        );
        if check == PassphraseCheck::Error {
            self.metrics.store_error();
        }
        check
    }

    /// Sends the code to the number on file, within the hourly cap.
    pub async fn send_code(&self, account: &AccountId, to: &E164, code: &OtpCode) -> bool {
        match self
            .store
            .reserve_sms_send(account, to, &self.sms_cap, Timestamp::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(account = %account, "hourly SMS cap reached; no code sent");
                self.metrics.sms(false);
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the SMS send; not sending");
                self.metrics.store_error();
                self.metrics.sms(false);
                return false;
            }
        }
        let body = code_message(&self.sms_message, code);
        match self.sms.send(to, body.expose()).await {
            Ok(receipt) => {
                tracing::info!(gateway = ?receipt.gateway, attempts = receipt.attempts, "code sent by SMS");
                self.metrics.sms(true);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "SMS gateway failed");
                self.metrics.sms(false);
                false
            }
        }
    }
}
