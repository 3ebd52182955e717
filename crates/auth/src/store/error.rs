use std::path::PathBuf;

use thiserror::Error;

use crate::flow::AccountId;
use crate::otp::OtpError;
use crate::passphrase::PassphraseError;
use crate::phone::E164;

/// What can go wrong in the account store. Messages name the problem and
/// never carry a passphrase, a code or a database password: only ids,
/// phone numbers and the engine's own description.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the phone number {0} already belongs to an account")]
    DuplicatePhone(E164),
    #[error("an account with the id \"{0}\" already exists")]
    DuplicateAccount(AccountId),
    #[error("no account has the id \"{0}\"")]
    UnknownAccount(AccountId),
    #[error(
        "an account id may only contain letters, digits, '-' and '_' (1 to 64 of them), not {0:?}"
    )]
    BadAccountId(String),
    #[error("the display name is empty")]
    EmptyName,
    #[error("an account needs at least one phone number")]
    NoPhone,
    #[error("{0:?} is not an amount like 1234.56")]
    BadAmount(String),
    #[error("a database URL must start with sqlite:// or postgres://, not {scheme:?}")]
    UnsupportedUrl { scheme: String },
    #[error("a SQLite URL needs a file path, e.g. sqlite://data/passgate.db")]
    NoSqlitePath,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the database refused the request: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("no one-time code has the id {0}")]
    UnknownCode(i64),
    #[error("a stored {what} is invalid: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("one-time code: {0}")]
    Otp(#[from] OtpError),
    #[error("passphrase: {0}")]
    Passphrase(#[from] PassphraseError),
    #[error("the passphrase check did not finish: {0}")]
    Worker(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}

/// True when the database refused a row because a unique key already had it.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}
