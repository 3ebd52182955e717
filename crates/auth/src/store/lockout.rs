use serde::Serialize;
use sqlx::Row;

use super::config::LockoutPolicy;
use super::error::StoreError;
use super::time::Timestamp;
use super::Store;
use crate::flow::{AccountId, LookupResult};
use crate::phone::E164;

/// Which factor a caller failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailedFactor {
    Passphrase,
    SmsCode,
    /// A typed number that matched no account.
    TypedNumber,
}

impl FailedFactor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passphrase => "passphrase",
            Self::SmsCode => "sms_code",
            Self::TypedNumber => "typed_number",
        }
    }
}

/// Recent failures against an account and a calling number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LockoutStatus {
    pub account_failures: u32,
    pub caller_failures: u32,
    pub locked: bool,
    /// When enough failures will have aged out of the window to let calls
    /// through again; `None` when not locked.
    pub locked_until: Option<Timestamp>,
}

/// Failures counted against an account or a number.
#[derive(Clone, Copy)]
enum Subject<'a> {
    Account(&'a AccountId),
    Caller(&'a E164),
}

impl Subject<'_> {
    fn column(self) -> &'static str {
        match self {
            Self::Account(_) => "account_id",
            Self::Caller(_) => "caller",
        }
    }

    fn value(self) -> String {
        match self {
            Self::Account(id) => id.0.clone(),
            Self::Caller(number) => number.as_str().to_string(),
        }
    }
}

impl Store {
    /// Counts one failed factor against the account and/or the calling
    /// number. Rows are never updated in place, so concurrent nodes cannot
    /// lose each other's counts.
    pub async fn record_failure(
        &self,
        account: Option<&AccountId>,
        caller: Option<&E164>,
        factor: FailedFactor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if account.is_none() && caller.is_none() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO auth_failures (account_id, caller, factor, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(account.map(|a| a.0.clone()))
        .bind(caller.map(|c| c.as_str().to_string()))
        .bind(factor.as_str())
        .bind(now.unix_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `policy.max_failures` failures fell within `policy.window`
    /// before `now`, for the account or for the calling number.
    pub async fn lockout_status(
        &self,
        account: Option<&AccountId>,
        caller: Option<&E164>,
        policy: &LockoutPolicy,
        now: Timestamp,
    ) -> Result<LockoutStatus, StoreError> {
        let (account_failures, account_until) = match account {
            Some(id) => self.failures(Subject::Account(id), policy, now).await?,
            None => (0, None),
        };
        let (caller_failures, caller_until) = match caller {
            Some(number) => self.failures(Subject::Caller(number), policy, now).await?,
            None => (0, None),
        };
        let locked_until = account_until.max(caller_until);
        Ok(LockoutStatus {
            account_failures,
            caller_failures,
            locked: locked_until.is_some(),
            locked_until,
        })
    }

    /// After a caller passes both factors their account's slate is clean;
    /// the calling number's failures stay, as they may be someone else's.
    pub async fn clear_failures(&self, account: &AccountId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM auth_failures WHERE account_id = $1 AND caller IS NULL")
            .bind(account.0.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE auth_failures SET account_id = NULL WHERE account_id = $1")
            .bind(account.0.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finds the account for `number` and applies the lock-out for it and
    /// for `caller` (the number calling, when known), as the flow wants it.
    pub async fn lookup(
        &self,
        number: &E164,
        caller: Option<&E164>,
        policy: &LockoutPolicy,
        now: Timestamp,
    ) -> Result<LookupResult, StoreError> {
        let record = self.find_by_phone(number).await?;
        let account = record.as_ref().map(|r| &r.id);
        let status = self.lockout_status(account, caller, policy, now).await?;
        if status.locked {
            return Ok(LookupResult::Locked {
                account: account.cloned(),
            });
        }
        Ok(match record {
            Some(record) => LookupResult::Found(record.to_flow_account()),
            None => LookupResult::NotFound,
        })
    }

    /// How many failures are inside the window, and until when that many
    /// keep the subject locked.
    async fn failures(
        &self,
        subject: Subject<'_>,
        policy: &LockoutPolicy,
        now: Timestamp,
    ) -> Result<(u32, Option<Timestamp>), StoreError> {
        // No upper bound on `at`: a row stamped by a node whose clock runs
        // a little ahead still counts.
        let since = now.saturating_sub(policy.window).unix_millis();
        let column = subject.column();
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM auth_failures WHERE {column} = $1 AND at > $2"
        ))
        .bind(subject.value())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        if policy.max_failures == 0 || count < policy.max_failures {
            return Ok((count, None));
        }
        // The lock lifts when the max_failures-th newest failure leaves
        // the window.
        let row = sqlx::query(&format!(
            "SELECT at FROM auth_failures WHERE {column} = $1 AND at > $2 \
             ORDER BY at DESC LIMIT 1 OFFSET $3"
        ))
        .bind(subject.value())
        .bind(since)
        .bind(i64::from(policy.max_failures) - 1)
        .fetch_optional(&self.pool)
        .await?;
        let until = match row {
            Some(row) => {
                Timestamp::from_unix_millis(row.try_get("at")?).saturating_add(policy.window)
            }
            None => now,
        };
        Ok((count, Some(until)))
    }
}
