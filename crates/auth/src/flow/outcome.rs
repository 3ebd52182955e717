//! How a call's authentication ends: the outcome a transfer carries, the
//! factor that was passed and where the caller goes.

use std::fmt;

use serde::Serialize;

use super::event::AccountId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    /// A person who will verify the caller themselves.
    Representative,
    /// The agent queue for callers who passed both factors.
    Authenticated,
}

/// Which second factor the caller passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    Passphrase,
    SmsCode,
}

/// What a transfer tells the receiving side about the caller; the SIP layer
/// puts it in the REFER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AuthOutcome {
    Verified {
        account: AccountId,
        factor: Factor,
    },
    /// The caller did not pass the second factor.
    Failed,
    /// No account for the caller's number or the number they typed.
    NoAccount,
    Locked,
    /// Something on our side failed (store, SMS gateway, random source).
    Error,
}

impl AuthOutcome {
    /// A short stable word for headers, metrics and audit rows.
    pub fn label(&self) -> &'static str {
        match self {
            AuthOutcome::Verified { .. } => "verified",
            AuthOutcome::Failed => "failed",
            AuthOutcome::NoAccount => "no-account",
            AuthOutcome::Locked => "locked",
            AuthOutcome::Error => "error",
        }
    }
}

impl fmt::Display for AuthOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthOutcome::Verified { account, .. } => write!(f, "verified:{account}"),
            other => f.write_str(other.label()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_stable_labels() {
        let verified = AuthOutcome::Verified {
            account: AccountId("42".to_string()),
            factor: Factor::SmsCode,
        };
        assert_eq!(verified.label(), "verified");
        assert_eq!(verified.to_string(), "verified:42");
        assert_eq!(AuthOutcome::NoAccount.to_string(), "no-account");
        assert_eq!(AuthOutcome::Locked.label(), "locked");
    }
}
