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

/// Why the database could not be reached or could not write, in the words
/// an operator acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// Nothing listens at the address (the database is down).
    Refused,
    /// No answer, or no free connection, in time.
    Timeout,
    /// The server closed a connection in use (it stopped or restarted).
    ConnectionLost,
    /// The database turned our credentials away.
    AuthFailed,
    /// The database's disk is full.
    DiskFull,
    /// Anything else (a query error, a broken connection).
    Other,
}

impl StoreFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreFailure::Refused => "refused",
            StoreFailure::Timeout => "timeout",
            StoreFailure::ConnectionLost => "connection lost",
            StoreFailure::AuthFailed => "auth failed",
            StoreFailure::DiskFull => "disk full",
            StoreFailure::Other => "error",
        }
    }

    /// The cause of an I/O error, for the store's and the spool's files.
    pub fn of_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::ConnectionRefused => StoreFailure::Refused,
            ErrorKind::TimedOut => StoreFailure::Timeout,
            ErrorKind::StorageFull => StoreFailure::DiskFull,
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                StoreFailure::ConnectionLost
            }
            _ if e.raw_os_error() == Some(28) => StoreFailure::DiskFull,
            _ => StoreFailure::Other,
        }
    }

    fn of_sqlx(e: &sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => StoreFailure::Timeout,
            sqlx::Error::Io(io) => Self::of_io(io),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // PostgreSQL: invalid_password, invalid_authorization_specification.
                Some("28P01") | Some("28000") => StoreFailure::AuthFailed,
                // PostgreSQL disk_full; SQLite SQLITE_FULL.
                Some("53100") | Some("13") => StoreFailure::DiskFull,
                _ => StoreFailure::Other,
            },
            other => {
                // The pool wraps a failed first connection's cause in text.
                let text = other.to_string();
                if text.contains("Connection refused") {
                    StoreFailure::Refused
                } else if text.contains("at EOF") || text.contains("connection reset") {
                    StoreFailure::ConnectionLost
                } else if text.contains("password authentication failed") {
                    StoreFailure::AuthFailed
                } else {
                    StoreFailure::Other
                }
            }
        }
    }
}

impl std::fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StoreError {
    /// Why the store failed, for logs, metrics and `/readyz`.
    pub fn failure(&self) -> StoreFailure {
        match self {
            StoreError::Database(e) => StoreFailure::of_sqlx(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => {
                StoreFailure::of_sqlx(e)
            }
            StoreError::DataDir { source, .. } => StoreFailure::of_io(source),
            _ => StoreFailure::Other,
        }
    }

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
