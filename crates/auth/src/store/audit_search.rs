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
    use super::*;
    use crate::flow::{AuditEvent, LookupSummary, PassphraseResult};
    use crate::store::{NewAuditRow, Timestamp};

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    fn call(
        store_rows: &mut Vec<(NewAuditRow, Timestamp)>,
        id: &str,
        number: &str,
        account: &str,
        result: PassphraseResult,
    ) {
        let number = E164::parse(number).unwrap();
        let account = AccountId(account.into());
        for event in [
            AuditEvent::CallStarted {
                caller: Some(number.clone()),
            },
            AuditEvent::CallerLookup {
                number,
                result: LookupSummary::Found {
                    account: account.clone(),
                },
            },
            AuditEvent::PassphraseChecked { account, result },
        ] {
            store_rows.push((
                NewAuditRow::from_flow(id, &event),
                Timestamp::from_unix_millis(1),
            ));
        }
    }

    #[tokio::test]
    async fn rows_are_found_by_number_account_and_outcome_a_page_at_a_time() {
        let (store, _dir) = store().await;
        let mut rows = Vec::new();
        call(
            &mut rows,
            "c1",
            "+15550100001",
            "nelson",
            PassphraseResult::Match,
        );
        call(
            &mut rows,
            "c2",
            "+15550100002",
            "ana",
            PassphraseResult::NoMatch,
        );
        call(
            &mut rows,
            "c3",
            "+15550100001",
            "nelson",
            PassphraseResult::NoMatch,
        );
        rows.push((
            NewAuditRow {
                call_id: "-".into(),
                event: "account_added".into(),
                outcome: None,
                account: Some(AccountId("ana".into())),
                detail: serde_json::json!({"by": "cli"}),
            },
            Timestamp::from_unix_millis(2),
        ));
        store.append_audit_rows(&rows).await.unwrap();

        let by_number = store
            .search_audit(&AuditQuery {
                number: Some(E164::parse("+15550100001").unwrap()),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let calls: Vec<&str> = by_number.rows.iter().map(|r| r.call_id.as_str()).collect();
        assert_eq!(calls, ["c3", "c3", "c3", "c1", "c1", "c1"]);
        assert_eq!(by_number.next_before, None);

        let ana = store
            .search_audit(&AuditQuery {
                account: Some(AccountId("ana".into())),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let found: Vec<(&str, &str)> = ana
            .rows
            .iter()
            .map(|r| (r.call_id.as_str(), r.event.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("-", "account_added"),
                ("c2", "passphrase_checked"),
                ("c2", "caller_lookup"),
                ("c2", "call_started")
            ],
            "the call's rows without the account come too"
        );

        let nelson_failures = store
            .search_audit(&AuditQuery {
                account: Some(AccountId("nelson".into())),
                outcome: Some("no_match".into()),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(nelson_failures.rows.len(), 1);
        assert_eq!(nelson_failures.rows[0].call_id, "c3");

        let first = store
            .search_audit(&AuditQuery {
                limit: 4,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(first.rows.len(), 4);
        let second = store
            .search_audit(&AuditQuery {
                limit: 4,
                before: first.next_before,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(second.rows.len(), 4);
        assert!(second.rows[0].id < first.rows[3].id);
        let third = store
            .search_audit(&AuditQuery {
                limit: 4,
                before: second.next_before,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(third.rows.len(), 2);
        assert_eq!(third.next_before, None);
    }
}
