//! Searching the audit trail: by a phone number, an account or a result,
//! newest first, a page at a time.

use serde::Serialize;

use super::audit::{audit_row, AuditRow, AUDIT_COLUMNS};
use super::error::StoreError;
use super::Store;
use crate::flow::AccountId;
use crate::phone::E164;

/// The most rows one page holds.
pub const MAX_PAGE: u32 = 500;

/// What to look for; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// The rows of calls in which this number appears: as the caller, typed,
    /// looked up, or as where a code was sent.
    pub number: Option<E164>,
    /// Rows about this account, and every row of the calls that concerned it.
    pub account: Option<AccountId>,
    /// Rows whose one-word result is this (`no_match`, `transferred_verified`, …).
    pub outcome: Option<String>,
    /// Only rows older than this row id: the page after one that ended there.
    pub before: Option<i64>,
    /// Rows per page, at most [`MAX_PAGE`].
    pub limit: u32,
}

/// One page of rows, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    /// Pass as [`AuditQuery::before`] for the next page; `None` on the last.
    pub next_before: Option<i64>,
}

impl Store {
    pub async fn search_audit(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let param = |binds: &mut Vec<Bind>, value: Bind| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Some(number) = &query.number {
            // A number appears in a detail as a JSON string; E.164 is `+`
            // and digits only, so it holds no LIKE wildcard.
            let p = param(&mut binds, Bind::Text(format!("%\"{}\"%", number.as_str())));
            sql.push_str(&format!(
                " AND call_id <> '-' AND call_id IN \
                 (SELECT call_id FROM audit_events WHERE detail LIKE {p})"
            ));
        }
        if let Some(account) = &query.account {
            let a = param(&mut binds, Bind::Text(account.0.clone()));
            let b = param(&mut binds, Bind::Text(account.0.clone()));
            sql.push_str(&format!(
                " AND (account_id = {a} OR (call_id <> '-' AND call_id IN \
                 (SELECT call_id FROM audit_events WHERE account_id = {b})))"
            ));
        }
        if let Some(outcome) = &query.outcome {
            let p = param(&mut binds, Bind::Text(outcome.clone()));
            sql.push_str(&format!(" AND outcome = {p}"));
        }
        if let Some(before) = query.before {
            let p = param(&mut binds, Bind::Int(before));
            sql.push_str(&format!(" AND id < {p}"));
        }
        let p = param(&mut binds, Bind::Int(i64::from(limit) + 1));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {p}"));
        let mut q = sqlx::query(&sql);
        for bind in binds {
            q = match bind {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut rows = rows
            .iter()
            .map(audit_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next_before = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(AuditPage { rows, next_before })
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    /// SQLite's plan for a statement, one line per step.
    async fn plan(store: &Store, sql: &str) -> String {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&store.pool)
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn the_account_index_holds_only_rows_with_an_account_and_serves_the_search() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/passgate.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let index: String = sqlx::query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'audit_events_account_id'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get("sql")
        .unwrap();
        assert!(index.contains("WHERE account_id IS NOT NULL"), "{index}");
        let plan = plan(
            &store,
            "SELECT id FROM audit_events WHERE account_id = 'acct-1' ORDER BY id DESC",
        )
        .await;
        assert!(plan.contains("audit_events_account_id"), "{plan}");
    }
}
