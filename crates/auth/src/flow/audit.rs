//! Audit events: one per step and outcome. They are built from ids,
//! numbers and results only, never from passphrases, codes or digits typed,
//! so an audit row cannot leak a secret whatever the store does with it.

use serde::Serialize;

use super::event::AccountId;
use super::outcome::{AuthOutcome, Factor, TransferTarget};
use super::stage::Stage;
use crate::phone::E164;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    CallStarted {
        caller: Option<E164>,
    },
    /// How far the calling number may be believed: whether the network
    /// asserted it from inside the trust domain, the STIR/SHAKEN
    /// verification result the trunk gave, and whether the number was used
    /// to find the account.
    CallerIdentity {
        number: Option<E164>,
        result: CallerIdTrust,
        verstat: Option<String>,
        used_for_lookup: bool,
    },
    CallerLookup {
        number: E164,
        result: LookupSummary,
    },
    TypedNumberOffer {
        answer: OfferAnswer,
    },
    /// `number` is `None` when what was typed is not a number.
    NumberEntered {
        attempt: u32,
        number: Option<E164>,
    },
    NumberLookup {
        attempt: u32,
        number: E164,
        result: LookupSummary,
    },
    PassphraseChecked {
        account: AccountId,
        result: PassphraseResult,
    },
    CodeSend {
        account: AccountId,
        to: E164,
        result: SendResult,
    },
    CodeChecked {
        account: AccountId,
        result: CodeResult,
    },
    Authenticated {
        account: AccountId,
        factor: Factor,
        identified_by: IdentifiedBy,
    },
    MenuChoice {
        account: AccountId,
        choice: MenuChoice,
        input: MenuInput,
    },
    Transferred {
        target: TransferTarget,
        outcome: AuthOutcome,
    },
    TransferFailed {
        target: TransferTarget,
        outcome: AuthOutcome,
    },
    /// We ended the call.
    FlowHungUp {
        reason: HangupReason,
    },
    CallerHungUp {
        stage: Stage,
        account: Option<AccountId>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LookupSummary {
    Found { account: AccountId },
    NotFound,
    Locked { account: Option<AccountId> },
    Failed,
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferAnswer {
    Accepted,
    Declined,
    NoAnswer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassphraseResult {
    Match,
    NoMatch,
    /// Nothing was said, or nothing the recognizer could make words of.
    Silence,
    /// The recognizer could not hear the turn (no room for it, or it
    /// failed on it).
    Unavailable,
    Error,
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendResult {
    /// Handed to the gateway.
    Requested,
    Sent,
    Failed,
    TimedOut,
    /// The random source failed; nothing was sent.
    NotGenerated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CodeResult {
    Accepted,
    Rejected { tries_left: u32 },
    Exhausted,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerIdTrust {
    /// From a trusted source with a passed verification (`verstat`).
    Attested,
    /// From a trusted source, without a passed verification.
    Trusted,
    /// From a source outside the trust domain: From only, which anyone may write.
    Unverified,
}

/// How the account was found: the first factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifiedBy {
    CallerId,
    TypedNumber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuChoice {
    Balance,
    Agent,
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuInput {
    Dtmf,
    Speech,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupReason {
    MenuTimeout,
    MenuInvalid,
    TransferFailed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_serialise_with_an_event_name_and_flat_fields() {
        let row = AuditEvent::CallerLookup {
            number: E164::parse("+15550100001").unwrap(),
            result: LookupSummary::Found {
                account: AccountId("acct-1".to_string()),
            },
        };
        assert_eq!(
            serde_json::to_value(&row).unwrap(),
            serde_json::json!({
                "event": "caller_lookup",
                "number": "+15550100001",
                "result": {"result": "found", "account": "acct-1"}
            })
        );
        let hangup = AuditEvent::CallerHungUp {
            stage: Stage::CodeEntry,
            account: None,
        };
        assert_eq!(
            serde_json::to_value(&hangup).unwrap(),
            serde_json::json!({"event": "caller_hung_up", "stage": "code_entry", "account": null})
        );
    }

    #[test]
    fn transfer_rows_carry_the_outcome() {
        let row = AuditEvent::Transferred {
            target: TransferTarget::Authenticated,
            outcome: AuthOutcome::Verified {
                account: AccountId("acct-1".to_string()),
                factor: Factor::SmsCode,
            },
        };
        assert_eq!(
            serde_json::to_value(&row).unwrap(),
            serde_json::json!({
                "event": "transferred",
                "target": "authenticated",
                "outcome": {"result": "verified", "account": "acct-1", "factor": "sms_code"}
            })
        );
    }
}
