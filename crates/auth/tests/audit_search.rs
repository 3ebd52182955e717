//! Searching the audit trail, on SQLite and on a real PostgreSQL (started
//! by the workspace's `test-postgres` crate; skipped, with a message on
//! stderr, where Debian's `postgresql` binaries are missing).

use test_postgres as postgres_server;

use auth::flow::{AccountId, AuditEvent, LookupSummary, PassphraseResult};
use auth::phone::E164;
use auth::store::{AuditQuery, NewAuditRow, Store, Timestamp};

async fn migrated(url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    rows_are_found_by_number_account_and_outcome_a_page_at_a_time(migrated(&url).await).await;
}

#[tokio::test]
async fn on_postgres() {
    let Some(url) = postgres_server::fresh_database("audit_search") else {
        return;
    };
    rows_are_found_by_number_account_and_outcome_a_page_at_a_time(migrated(&url).await).await;
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

async fn rows_are_found_by_number_account_and_outcome_a_page_at_a_time(store: Store) {
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
