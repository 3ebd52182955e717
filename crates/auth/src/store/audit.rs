use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::error::StoreError;
use super::time::Timestamp;
use super::{Backend, Store};
use crate::flow::{AccountId, AuditEvent};

/// An audit row to write for something outside the call flow (an
/// operator's change, a gateway's answer). `detail` must hold no secret:
/// ids, numbers and results only.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditRow {
    pub call_id: String,
    pub event: String,
    pub outcome: Option<String>,
    pub account: Option<AccountId>,
    pub detail: Value,
}

impl NewAuditRow {
    /// The row for one of the flow's audit events: its name, its result
    /// and the account it concerns are pulled out for querying; the whole
    /// event is the detail. Flow events carry no secrets by construction.
    pub fn from_flow(call_id: &str, event: &AuditEvent) -> Self {
        let detail = serde_json::to_value(event).unwrap_or(Value::Null);
        let name = detail
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        Self {
            call_id: call_id.to_string(),
            outcome: outcome_of(event, &detail),
            account: account_of(&detail),
            event: name,
            detail,
        }
    }
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub call_id: String,
    pub event: String,
    pub outcome: Option<String>,
    pub account: Option<AccountId>,
    pub detail: Value,
    pub at: Timestamp,
}

/// One INSERT of `rows` rows. SQLite gets anonymous `?` parameters: for a
/// numbered one (`$7`) sqlx asks SQLite its name, a scan of every name in
/// the statement, so binding a 500-row batch's 3,000 parameters was
/// quadratic and took most of the store's CPU at thousands of calls/s.
fn insert_audit_sql(rows: usize, backend: Backend) -> String {
    use std::fmt::Write;
    const COLUMNS: usize = 6;
    let mut sql = String::with_capacity(96 + rows * 40);
    sql.push_str(
        "INSERT INTO audit_events (call_id, event, outcome, account_id, detail, at) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        match backend {
            Backend::Sqlite => sql.push_str("(?, ?, ?, ?, ?, ?)"),
            Backend::Postgres => {
                let n = i * COLUMNS;
                let _ = write!(
                    sql,
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6
                );
            }
        }
    }
    sql
}

/// One INSERT of rows with their own ids, ignoring ids already stored.
fn insert_once_sql(rows: usize, backend: Backend) -> String {
    use std::fmt::Write;
    const COLUMNS: usize = 7;
    let mut sql = String::with_capacity(128 + rows * 48);
    sql.push_str(
        "INSERT INTO audit_events (row_id, call_id, event, outcome, account_id, detail, at) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        match backend {
            Backend::Sqlite => sql.push_str("(?, ?, ?, ?, ?, ?, ?)"),
            Backend::Postgres => {
                sql.push('(');
                for c in 1..=COLUMNS {
                    let sep = if c < COLUMNS { ", " } else { ")" };
                    let _ = write!(sql, "${}{sep}", i * COLUMNS + c);
                }
            }
        }
    }
    sql.push_str(" ON CONFLICT (row_id) DO NOTHING");
    sql
}

async fn insert_audit_rows<'e, E>(
    executor: E,
    backend: Backend,
    rows: &[(NewAuditRow, Timestamp)],
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = insert_audit_sql(rows.len(), backend);
    let mut query = sqlx::query(&sql);
    for (row, at) in rows {
        query = query
            .bind(row.call_id.clone())
            .bind(row.event.clone())
            .bind(row.outcome.clone())
            .bind(row.account.as_ref().map(|a| a.0.clone()))
            .bind(row.detail.to_string())
            .bind(at.unix_millis());
    }
    query.execute(executor).await?;
    Ok(())
}

impl Store {
    pub async fn append_audit(
        &self,
        call_id: &str,
        event: &AuditEvent,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.append_audit_row(&NewAuditRow::from_flow(call_id, event), now)
            .await
    }

    pub async fn append_audit_row(
        &self,
        row: &NewAuditRow,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.append_audit_rows(&[(row.clone(), now)]).await
    }

    /// Appends rows with one statement: at thousands of calls a second a
    /// statement (and a commit) per row is what limits the store; SQLite
    /// commits one at a time, and each statement is a round trip to its
    /// connection's thread. All or none are written.
    pub async fn append_audit_rows(
        &self,
        rows: &[(NewAuditRow, Timestamp)],
    ) -> Result<(), StoreError> {
        // Parameters per statement stay well under both engines' limits.
        const ROWS_PER_STATEMENT: usize = 500;
        if rows.len() > ROWS_PER_STATEMENT {
            let mut tx = self.pool.begin().await?;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                insert_audit_rows(&mut *tx, self.backend, chunk).await?;
            }
            tx.commit().await?;
        } else if !rows.is_empty() {
            insert_audit_rows(&self.pool, self.backend, rows).await?;
        }
        Ok(())
    }

    /// Appends rows each carrying an id of its own, skipping any whose id is
    /// stored already: a batch sent again (a replay after a crash, a retry
    /// whose first answer was lost) is stored once. Returns how many rows
    /// were new. All or none are written.
    pub async fn append_audit_rows_once(
        &self,
        rows: &[(String, NewAuditRow, Timestamp)],
    ) -> Result<u64, StoreError> {
        const ROWS_PER_STATEMENT: usize = 400;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = insert_once_sql(chunk.len(), self.backend);
            let mut query = sqlx::query(&sql);
            for (id, row, at) in chunk {
                query = query
                    .bind(id.clone())
                    .bind(row.call_id.clone())
                    .bind(row.event.clone())
                    .bind(row.outcome.clone())
                    .bind(row.account.as_ref().map(|a| a.0.clone()))
                    .bind(row.detail.to_string())
                    .bind(at.unix_millis());
            }
            inserted += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// The newest `limit` rows, oldest first (the order to read them in).
    pub async fn audit(&self, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, call_id, event, outcome, account_id, detail, at FROM audit_events \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(audit_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.reverse();
        Ok(out)
    }
}

/// The columns every audit query selects, in [`audit_row`]'s names.
pub(super) const AUDIT_COLUMNS: &str = "id, call_id, event, outcome, account_id, detail, at";

pub(super) fn audit_row(row: &sqlx::any::AnyRow) -> Result<AuditRow, StoreError> {
    let detail: String = row.try_get("detail")?;
    Ok(AuditRow {
        id: row.try_get("id")?,
        call_id: row.try_get("call_id")?,
        event: row.try_get("event")?,
        outcome: row.try_get("outcome")?,
        account: row
            .try_get::<Option<String>, _>("account_id")?
            .map(AccountId),
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::corrupt("audit detail", e))?,
        at: Timestamp::from_unix_millis(row.try_get("at")?),
    })
}

/// A one-word result for the event, for `passgate audit` and queries.
fn outcome_of(event: &AuditEvent, detail: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let nested = |key: &str| {
        detail
            .get(key)
            .and_then(|v| text(v).or_else(|| v.get("result").and_then(text)))
    };
    let generic = ["result", "outcome", "answer", "choice", "reason"]
        .iter()
        .find_map(|key| nested(key));
    generic.or_else(|| match event {
        AuditEvent::CallStarted { caller } => Some(
            if caller.is_some() {
                "caller_id"
            } else {
                "withheld"
            }
            .to_string(),
        ),
        AuditEvent::NumberEntered { number, .. } => {
            Some(if number.is_some() { "valid" } else { "invalid" }.to_string())
        }
        AuditEvent::Authenticated { .. } => Some("authenticated".to_string()),
        AuditEvent::CallerHungUp { .. } => Some("hung_up".to_string()),
        _ => None,
    })
}

fn account_of(detail: &Value) -> Option<AccountId> {
    ["account", "result", "outcome"].iter().find_map(|key| {
        let v = detail.get(key)?;
        v.as_str()
            .filter(|_| *key == "account")
            .or_else(|| v.get("account").and_then(Value::as_str))
            .map(|s| AccountId(s.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{
        AuthOutcome, CodeResult, Factor, IdentifiedBy, LookupSummary, PassphraseResult,
        TransferTarget,
    };
    use crate::phone::E164;

    fn acct() -> AccountId {
        AccountId("acct-1".to_string())
    }

    #[test]
    fn flow_events_become_rows_with_outcome_and_account() {
        let number = E164::parse("+15550100001").unwrap();
        let cases = [
            (
                AuditEvent::CallerLookup {
                    number: number.clone(),
                    result: LookupSummary::Found { account: acct() },
                },
                "caller_lookup",
                Some("found"),
                Some(acct()),
            ),
            (
                AuditEvent::PassphraseChecked {
                    account: acct(),
                    result: PassphraseResult::NoMatch,
                },
                "passphrase_checked",
                Some("no_match"),
                Some(acct()),
            ),
            (
                AuditEvent::CodeChecked {
                    account: acct(),
                    result: CodeResult::Rejected { tries_left: 2 },
                },
                "code_checked",
                Some("rejected"),
                Some(acct()),
            ),
            (
                AuditEvent::Authenticated {
                    account: acct(),
                    factor: Factor::SmsCode,
                    identified_by: IdentifiedBy::CallerId,
                },
                "authenticated",
                Some("authenticated"),
                Some(acct()),
            ),
            (
                AuditEvent::Transferred {
                    target: TransferTarget::Representative,
                    outcome: AuthOutcome::Locked,
                },
                "transferred",
                Some("locked"),
                None,
            ),
            (
                AuditEvent::CallStarted { caller: None },
                "call_started",
                Some("withheld"),
                None,
            ),
        ];
        for (event, name, outcome, account) in cases {
            let row = NewAuditRow::from_flow("call-1", &event);
            assert_eq!(row.event, name);
            assert_eq!(row.outcome.as_deref(), outcome, "{name}");
            assert_eq!(row.account, account, "{name}");
            assert_eq!(row.detail["event"], name);
        }
    }
}
