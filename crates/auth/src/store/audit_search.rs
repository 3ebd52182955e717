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
