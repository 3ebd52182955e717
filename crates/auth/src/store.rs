//! The account store: accounts and their numbers, one-time codes, failure
//! counters for lock-outs, SMS send counts and the audit trail. SQLite by
//! default, PostgreSQL when several nodes share state; one set of queries
//! for both through sqlx's `Any` driver.
//!
//! Every method takes the time as an argument where time matters, so the
//! windows (lock-out, hourly SMS cap, code expiry) are testable and every
//! node judges them by the same stored integers.

mod accounts;
mod amount;
mod audit;
mod audit_search;
mod codes;
mod config;
mod error;
mod lockout;
mod migrations;
mod sms_cap;
mod time;
mod url;

use std::fmt;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

pub use accounts::{AccountRecord, NewAccount};
pub use audit::{AuditRow, NewAuditRow};
pub use audit_search::{AuditPage, AuditQuery};
pub use codes::CodeId;
pub use config::{redact_url, LockoutPolicy, SmsCap, StoreConfig};
pub use error::{StoreError, StoreFailure};
pub use lockout::{FailedFactor, LockoutStatus};
pub use time::Timestamp;

/// Which engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pool of connections to the account database. Cheap to clone; share
/// one per process.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Where a fresh connection goes, to find out why the pool has none.
    connect_url: std::sync::Arc<str>,
    connect_timeout: std::time::Duration,
}

impl Store {
    /// Connects to `sqlite://…` (creating the file and its directory) or
    /// `postgres://…` with default pool settings. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(&StoreConfig {
            url: Some(url.to_string()),
            ..StoreConfig::default()
        })
        .await
    }

    /// Connects as configured: `config.url`, else `passgate.db` in
    /// `config.data_dir`.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let target = url::DatabaseUrl::parse(&config.effective_url())?;
        target.prepare()?;
        sqlx::any::install_default_drivers();
        let sqlite = target.backend() == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // With WAL, NORMAL syncs at checkpoints instead of at
                        // every commit: a crash of the process loses nothing
                        // committed, a power cut may lose the last commits.
                        // At a commit per call, FULL spent more time in
                        // fsync than in SQLite.
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .max_connections(config.max_connections.max(1))
            // A ping per acquire doubled the round trips of every query; a
            // dead connection still fails its query, which the callers
            // handle, and the pool then replaces it.
            .test_before_acquire(false)
            .acquire_timeout(config.connect_timeout)
            .connect(target.connect_url())
            .await?;
        let store = Self {
            pool,
            backend: target.backend(),
            connect_url: target.connect_url().into(),
            connect_timeout: config.connect_timeout,
        };
        if store.backend == Backend::Sqlite {
            // Readers then do not block the writer; the setting persists
            // in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&store.pool)
                .await?;
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Brings the schema up to date. Safe to run from several nodes at
    /// once: PostgreSQL migrations take an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrations::migrator(self.backend)
            .await?
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Connects like [`Store::open`] but without waiting for the database:
    /// the first query opens the first connection. A node started while
    /// its database is down starts anyway and finds out when it comes.
    pub fn open_lazy(config: &StoreConfig) -> Result<Self, StoreError> {
        let target = url::DatabaseUrl::parse(&config.effective_url())?;
        target.prepare()?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .test_before_acquire(false)
            .acquire_timeout(config.connect_timeout)
            .connect_lazy(target.connect_url())?;
        Ok(Self {
            pool,
            backend: target.backend(),
            connect_url: target.connect_url().into(),
            connect_timeout: config.connect_timeout,
        })
    }

    /// One round trip to the database: whether it answers now.
    /// When the pool has no connection to give, a connection of its own
    /// finds out why (refused, timed out, credentials), which the pool's
    /// "timed out" hides.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match sqlx::query("SELECT 1").execute(&self.pool).await {
            Ok(_) => Ok(()),
            Err(sqlx::Error::PoolTimedOut) => Err(self
                .why_unreachable()
                .await
                .unwrap_or(StoreError::Database(sqlx::Error::PoolTimedOut))),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a connection outside the pool: `None` when that works, else
    /// the error that says why the database cannot be reached.
    pub async fn why_unreachable(&self) -> Option<StoreError> {
        use sqlx::Connection;
        let attempt = tokio::time::timeout(
            self.connect_timeout,
            sqlx::AnyConnection::connect(&self.connect_url),
        )
        .await;
        match attempt {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                None
            }
            Ok(Err(e)) => Some(StoreError::Database(e)),
            Err(_) => Some(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Waits for connections in use to be returned, then closes them all.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}
