//! How a call ended, as metrics and its last audit row name it.

/// What the call ended as, for metrics and the call's `call_ended` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Refused,
    Authenticated,
    Transferred(&'static str),
    TransferFailed,
    CallerHungUp,
    AgentHungUp,
    /// The peer answered 481 to a request in the dialog: it was gone.
    DialogGone,
    /// Our 200 was never acknowledged (64·T1): the caller never heard us.
    NoAck,
    /// The caller did not refresh the session timer it asked for (RFC
    /// 4028): we ended the call.
    SessionExpired,
}

impl CallOutcome {
    /// The outcome's name in metrics and in the call's `call_ended` audit row.
    pub fn label(&self) -> String {
        match self {
            CallOutcome::Refused => "refused".to_string(),
            CallOutcome::Authenticated => "authenticated".to_string(),
            CallOutcome::Transferred(auth) => format!("transferred_{}", auth.replace('-', "_")),
            CallOutcome::TransferFailed => "transfer_failed".to_string(),
            CallOutcome::CallerHungUp => "caller_hung_up".to_string(),
            CallOutcome::AgentHungUp => "agent_hung_up".to_string(),
            CallOutcome::DialogGone => "dialog_gone".to_string(),
            CallOutcome::NoAck => "no_ack".to_string(),
            CallOutcome::SessionExpired => "session_expired".to_string(),
        }
    }
}
