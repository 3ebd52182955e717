use thiserror::Error;

/// Why a CRM call gave no answer. Never carries the alternatives sent.
#[derive(Debug, Error)]
pub enum CrmError {
    #[error("no {0} URL is configured for the CRM")]
    NotConfigured(&'static str),
    #[error("the CRM did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("cannot reach the CRM: {0}")]
    Connect(String),
    #[error("the CRM answered HTTP {0}")]
    Status(u16),
    #[error("the CRM's answer is not what was expected: {0}")]
    BadResponse(String),
    #[error("the request to the CRM failed: {0}")]
    Request(String),
    #[error("CRM configuration: {0}")]
    Config(String),
}
