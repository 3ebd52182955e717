//! The flow's side effects on accounts: finding the account, checking the
//! passphrase, sending the one-time code. Each failure is logged, counted and
//! turned into the answer the flow expects, so the flow moves the caller on
//! (to the SMS code, or to a person).

use std::sync::Arc;
use std::time::Instant;

use auth::crm::CrmClient;
use auth::flow::{AccountId, Alternatives, LookupResult, PassphraseCheck};
use auth::otp::OtpCode;
use auth::passphrase::MatchRule;
use auth::phone::E164;
use auth::sms::{code_message, Gateway, SmsGateway};
use auth::store::{LockoutPolicy, SmsCap, Store, Timestamp};

use crate::metrics::Metrics;

pub struct AccountChecks {
    pub store: Store,
    pub crm: Option<CrmClient>,
    pub sms: Gateway,
    /// `sms.message`: the text around the code.
    pub sms_message: String,
    pub sms_cap: SmsCap,
    pub lockout: LockoutPolicy,
    pub match_rule: MatchRule,
    pub metrics: Arc<Metrics>,
    /// `passgate demo` only: the texts sent, for the console to show.
    pub demo_sms: Option<Arc<crate::console::SmsInbox>>,
}

impl AccountChecks {
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
                if let Some(inbox) = &self.demo_sms {
                    inbox.push(to, body.expose());
                }
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
