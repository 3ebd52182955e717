use std::time::Duration;

use thiserror::Error;

/// Why a message was not sent. No variant carries the message body or
/// the gateway's reply, which may echo it.
#[derive(Debug, Error)]
pub enum SmsError {
    #[error("the SMS gateway did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach the SMS gateway after {attempts} attempt(s): {reason}")]
    Connect { attempts: u32, reason: String },
    #[error("the SMS gateway answered HTTP {status} after {attempts} attempt(s){}", code_suffix(.code))]
    Status {
        status: u16,
        attempts: u32,
        /// The gateway's own error code (Twilio's `code`), when it gave one.
        code: Option<i64>,
    },
    #[error("the request to the SMS gateway failed: {0}")]
    Request(String),
    #[error("SMS gateway configuration: {0}")]
    Config(String),
}

fn code_suffix(code: &Option<i64>) -> String {
    code.map(|c| format!(" (gateway error code {c})"))
        .unwrap_or_default()
}

impl SmsError {
    /// Classifies a transport error, with the URL left out: a webhook URL
    /// may carry a token.
    pub(super) fn from_reqwest(error: reqwest::Error, attempts: u32, timeout: Duration) -> Self {
        let error = error.without_url();
        if error.is_timeout() {
            Self::Timeout(timeout)
        } else if error.is_connect() {
            Self::Connect {
                attempts,
                reason: error_chain(&error),
            }
        } else {
            Self::Request(error_chain(&error))
        }
    }
}

/// reqwest's top-level message is vague ("error sending request"); the
/// cause says what happened.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
