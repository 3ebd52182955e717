//! The account store on SQLite and on a real PostgreSQL (started by the
//! workspace's `test-postgres` crate). Every test runs on both engines.
//!
//! `cargo test -p auth --test store` runs both; the PostgreSQL half needs
//! Debian's `postgresql` package (binaries under
//! `/usr/lib/postgresql/*/bin`) and is skipped, with a message on stderr,
//! where they are missing.

use test_postgres as postgres_server;

use std::time::Duration;

use auth::flow::{
    AccountId, Alternatives, AuditEvent, Balance, LookupResult, LookupSummary, PassphraseResult,
};
use auth::otp::{CodeCheck, OtpPolicy};
use auth::passphrase::{HashCost, MatchRule, PassphraseHasher, StoredPassphrase};
use auth::phone::E164;
use auth::store::{
    FailedFactor, LockoutPolicy, NewAccount, NewAuditRow, SmsCap, Store, StoreError, Timestamp,
};

/// A database for one test; the temp dir lives as long as the test.
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: connecting must create it.
    let url = format!("sqlite://{}/data/passgate.db", dir.path().display());
    TestDb {
        url,
        _dir: Some(dir),
    }
}

fn postgres_db(test: &str) -> Option<TestDb> {
    postgres_server::fresh_database(test).map(|url| TestDb { url, _dir: None })
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::sqlite_db()).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let Some(db) = super::postgres_db(stringify!($name)) else {
                    return;
                };
                super::$name(db).await;
            })*
        }
    };
}

on_both_engines!(
    accounts_round_trip,
    bad_input_is_refused_by_name,
    migrate_is_idempotent_and_shared,
    lockout_holds_across_nodes_and_ages_out,
    lookup_applies_the_lockout,
    sms_cap_holds_across_nodes,
    codes_are_single_use_across_nodes,
    codes_expire_and_run_out_of_tries,
    racing_nodes_accept_a_code_once,
    audit_rows_round_trip,
    audit_rows_are_written_together_in_order,
    audit_rows_with_ids_are_stored_once_however_often_sent,
    store_failures_name_their_cause,
);

fn hash(phrase: &str) -> StoredPassphrase {
    PassphraseHasher::new(HashCost::minimum())
        .unwrap()
        .hash(phrase)
        .unwrap()
}

fn number(text: &str) -> E164 {
    E164::parse(text).unwrap()
}

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_800_000_000_000 + seconds * 1000)
}

fn nelson(phones: &[&str]) -> NewAccount {
    NewAccount {
        id: None,
        name: "  Nelson Medina ".to_string(),
        phones: phones.iter().map(|p| number(p)).collect(),
        passphrase: hash("white horse"),
        balance: "1234.56".parse().unwrap(),
    }
}

async fn accounts_round_trip(db: TestDb) {
    let store = db.store().await;
    let added = store
        .add_account(nelson(&["+15550100001", "+15550100002"]), t(0))
        .await
        .unwrap();
    assert_eq!(added.name, "Nelson Medina");
    assert!(added.id.0.starts_with("acct-"));
    assert_eq!(added.sms_number().as_str(), "+15550100001");

    let listed = store.list_accounts().await.unwrap();
    assert_eq!(listed, vec![added.clone()]);
    for phone in ["+15550100001", "+15550100002"] {
        let found = store.find_by_phone(&number(phone)).await.unwrap().unwrap();
        assert_eq!(found.id, added.id);
    }
    assert!(store
        .find_by_phone(&number("+15550100003"))
        .await
        .unwrap()
        .is_none());
    let account = added.to_flow_account();
    assert_eq!(account.balance, Balance { cents: 123_456 });
    assert_eq!(account.sms_number.as_str(), "+15550100001");

    let rule = MatchRule::default();
    let heard = Alternatives::new(["white horse"]);
    assert!(store
        .check_passphrase(&added.id, &heard, &rule)
        .await
        .unwrap());
    store
        .set_passphrase(&added.id, &hash("blue river"), t(10))
        .await
        .unwrap();
    assert!(!store
        .check_passphrase(&added.id, &heard, &rule)
        .await
        .unwrap());
    // The recognizer's scores decide which alternatives count.
    let close = Alternatives::scored([("uh blue river", 40.0), ("blue river", 39.8)]);
    assert!(store
        .check_passphrase(&added.id, &close, &rule)
        .await
        .unwrap());
    let far = Alternatives::scored([("blue wing", 40.0), ("blue river", 38.0)]);
    assert!(!store
        .check_passphrase(&added.id, &far, &rule)
        .await
        .unwrap());
    store
        .set_balance(&added.id, Balance { cents: -5 }, t(20))
        .await
        .unwrap();
    let changed = store.get_account(&added.id).await.unwrap();
    assert_eq!(changed.balance.cents, -5);
    assert_eq!(changed.created_at, t(0));
    assert_eq!(changed.updated_at, t(20));

    let second = store
        .add_account(
            NewAccount {
                id: Some(AccountId("crm-42".to_string())),
                name: "Ada".to_string(),
                phones: vec![number("+442079460000")],
                passphrase: hash("하얀 말"),
                balance: Balance { cents: 0 },
            },
            t(30),
        )
        .await
        .unwrap();
    assert_eq!(second.id.0, "crm-42");
    let ids: Vec<String> = store
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id.0)
        .collect();
    assert_eq!(ids, [added.id.0.clone(), "crm-42".to_string()]);

    store.remove_account(&added.id).await.unwrap();
    assert!(store
        .find_by_phone(&number("+15550100001"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
    // The number is free again once its account is gone.
    store
        .add_account(nelson(&["+15550100001"]), t(40))
        .await
        .unwrap();
    let err = store.remove_account(&added.id).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownAccount(_)));
    assert_eq!(
        err.to_string(),
        format!("no account has the id \"{}\"", added.id)
    );
}

async fn bad_input_is_refused_by_name(db: TestDb) {
    let store = db.store().await;
    store
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap();

    let err = store
        .add_account(nelson(&["+15550100009", "+15550100001"]), t(1))
        .await
        .unwrap_err();
    assert!(matches!(&err, StoreError::DuplicatePhone(n) if n.as_str() == "+15550100001"));
    assert_eq!(
        err.to_string(),
        "the phone number +15550100001 already belongs to an account"
    );
    // All or nothing: the first number of the refused account was not kept.
    assert!(store
        .find_by_phone(&number("+15550100009"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);

    let twice = store
        .add_account(nelson(&["+15550100005", "+15550100005"]), t(2))
        .await
        .unwrap_err();
    assert!(matches!(twice, StoreError::DuplicatePhone(_)));

    let unnamed = NewAccount {
        name: "   ".to_string(),
        ..nelson(&["+15550100006"])
    };
    let err = store.add_account(unnamed, t(3)).await.unwrap_err();
    assert_eq!(err.to_string(), "the display name is empty");

    let err = store.add_account(nelson(&[]), t(4)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "an account needs at least one phone number"
    );

    let bad_id = NewAccount {
        id: Some(AccountId("x'; DROP TABLE accounts; --".to_string())),
        ..nelson(&["+15550100007"])
    };
    let err = store.add_account(bad_id, t(5)).await.unwrap_err();
    assert!(matches!(err, StoreError::BadAccountId(_)), "{err}");

    let first = NewAccount {
        id: Some(AccountId("same".to_string())),
        ..nelson(&["+15550100011"])
    };
    let again = NewAccount {
        id: Some(AccountId("same".to_string())),
        ..nelson(&["+15550100012"])
    };
    store.add_account(first, t(6)).await.unwrap();
    let err = store.add_account(again, t(7)).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateAccount(_)), "{err}");

    let ghost = AccountId("ghost".to_string());
    for err in [
        store
            .set_passphrase(&ghost, &hash("x"), t(8))
            .await
            .unwrap_err(),
        store
            .set_balance(&ghost, Balance { cents: 1 }, t(8))
            .await
            .unwrap_err(),
        store.get_account(&ghost).await.unwrap_err(),
        store.remove_account(&ghost).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::UnknownAccount(_)), "{err}");
    }
    assert!("12.345".parse::<Balance>().is_err());
}

async fn migrate_is_idempotent_and_shared(db: TestDb) {
    let node_a = db.store().await;
    node_a.migrate().await.unwrap();
    let node_b = db.store().await;
    node_a
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap();
    assert_eq!(node_b.list_accounts().await.unwrap().len(), 1);
    node_b.close().await;
    node_a.close().await;
}

async fn lockout_holds_across_nodes_and_ages_out(db: TestDb) {
    let node_a = db.store().await;
    let node_b = db.store().await;
    let policy = LockoutPolicy::default();
    let account = node_a
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap()
        .id;
    let caller = number("+15557770000");

    node_a
        .record_failure(
            Some(&account),
            Some(&caller),
            FailedFactor::Passphrase,
            t(0),
        )
        .await
        .unwrap();
    node_b
        .record_failure(Some(&account), Some(&caller), FailedFactor::SmsCode, t(60))
        .await
        .unwrap();
    let status = node_a
        .lockout_status(Some(&account), Some(&caller), &policy, t(61))
        .await
        .unwrap();
    assert_eq!(
        (
            status.account_failures,
            status.caller_failures,
            status.locked
        ),
        (2, 2, false)
    );

    // A restart: a third Store instance sees the same counts.
    drop(node_a);
    let restarted = db.store().await;
    restarted
        .record_failure(Some(&account), None, FailedFactor::Passphrase, t(120))
        .await
        .unwrap();
    for node in [&restarted, &node_b] {
        let status = node
            .lockout_status(Some(&account), None, &policy, t(121))
            .await
            .unwrap();
        assert!(status.locked, "{status:?}");
        assert_eq!(status.account_failures, 3);
        // Unlocks when the oldest of the three leaves the window.
        assert_eq!(status.locked_until, Some(t(15 * 60)));
    }
    let caller_only = node_b
        .lockout_status(None, Some(&caller), &policy, t(121))
        .await
        .unwrap();
    assert!(!caller_only.locked);

    let later = node_b
        .lockout_status(Some(&account), None, &policy, t(15 * 60))
        .await
        .unwrap();
    assert_eq!(later.account_failures, 2);
    assert!(!later.locked);

    // Success clears the account's count, not the calling number's.
    node_b.clear_failures(&account).await.unwrap();
    let cleared = restarted
        .lockout_status(Some(&account), Some(&caller), &policy, t(122))
        .await
        .unwrap();
    assert_eq!((cleared.account_failures, cleared.caller_failures), (0, 2));
}

async fn lookup_applies_the_lockout(db: TestDb) {
    let store = db.store().await;
    let policy = LockoutPolicy {
        max_failures: 2,
        window: Duration::from_secs(60),
    };
    let added = store
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap();
    let own = number("+15550100001");
    let stranger = number("+15559990000");

    let found = store.lookup(&own, Some(&own), &policy, t(1)).await.unwrap();
    assert_eq!(found, LookupResult::Found(added.to_flow_account()));
    let unknown = number("+15550100002");
    assert_eq!(
        store
            .lookup(&unknown, Some(&stranger), &policy, t(1))
            .await
            .unwrap(),
        LookupResult::NotFound
    );

    // A stranger failing twice locks their own number, even for a number
    // they type that has no account...
    for s in [2, 3] {
        store
            .record_failure(None, Some(&stranger), FailedFactor::TypedNumber, t(s))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .lookup(&own, Some(&stranger), &policy, t(4))
            .await
            .unwrap(),
        LookupResult::Locked {
            account: Some(added.id.clone())
        }
    );
    // ...but not the account's owner calling from their own phone.
    assert!(matches!(
        store.lookup(&own, Some(&own), &policy, t(4)).await.unwrap(),
        LookupResult::Found(_)
    ));
    // An account with failures is locked whoever calls.
    for s in [5, 6] {
        store
            .record_failure(Some(&added.id), None, FailedFactor::Passphrase, t(s))
            .await
            .unwrap();
    }
    assert!(matches!(
        store.lookup(&own, Some(&own), &policy, t(7)).await.unwrap(),
        LookupResult::Locked { .. }
    ));
    assert!(matches!(
        store
            .lookup(&own, Some(&own), &policy, t(66))
            .await
            .unwrap(),
        LookupResult::Found(_)
    ));
}

async fn sms_cap_holds_across_nodes(db: TestDb) {
    let node_a = db.store().await;
    let node_b = db.store().await;
    let cap = SmsCap {
        per_account_per_hour: 3,
    };
    let account = AccountId("acct-cap".to_string());
    let to = number("+15550100001");
    assert!(node_a
        .reserve_sms_send(&account, &to, &cap, t(0))
        .await
        .unwrap());
    assert!(node_b
        .reserve_sms_send(&account, &to, &cap, t(10))
        .await
        .unwrap());
    assert!(node_a
        .reserve_sms_send(&account, &to, &cap, t(20))
        .await
        .unwrap());
    assert!(!node_b
        .reserve_sms_send(&account, &to, &cap, t(30))
        .await
        .unwrap());
    assert_eq!(
        node_a
            .sms_sends_in_last_hour(&account, t(30))
            .await
            .unwrap(),
        3
    );
    let other = AccountId("acct-other".to_string());
    assert!(node_b
        .reserve_sms_send(&other, &to, &cap, t(30))
        .await
        .unwrap());
    // An hour after the first send, one slot is free again.
    assert_eq!(
        node_b
            .sms_sends_in_last_hour(&account, t(3600))
            .await
            .unwrap(),
        2
    );
    assert!(node_b
        .reserve_sms_send(&account, &to, &cap, t(3600))
        .await
        .unwrap());
    assert!(!node_a
        .reserve_sms_send(&account, &to, &cap, t(3601))
        .await
        .unwrap());
}

async fn codes_are_single_use_across_nodes(db: TestDb) {
    let node_a = db.store().await;
    let node_b = db.store().await;
    let account = node_a
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap()
        .id;
    let policy = OtpPolicy::default();
    let (id, code) = node_a
        .issue_code(&account, "call-1", &policy, t(0))
        .await
        .unwrap();
    assert_eq!(code.expose().len(), 4);
    let wrong = if code.expose() == "0000" {
        "1111"
    } else {
        "0000"
    };
    assert_eq!(
        node_b.check_code(id, wrong, t(5)).await.unwrap(),
        CodeCheck::Rejected { tries_left: 2 }
    );
    assert_eq!(
        node_b.check_code(id, code.expose(), t(6)).await.unwrap(),
        CodeCheck::Accepted
    );
    assert_eq!(
        node_a.check_code(id, code.expose(), t(7)).await.unwrap(),
        CodeCheck::Spent
    );
    let (second, _) = node_a
        .issue_code(&account, "call-1", &policy, t(8))
        .await
        .unwrap();
    assert_ne!(second, id);
    assert!(matches!(
        node_a
            .check_code(auth::store::CodeId(999_999), "1234", t(8))
            .await,
        Err(StoreError::UnknownCode(999_999))
    ));
}

async fn codes_expire_and_run_out_of_tries(db: TestDb) {
    let store = db.store().await;
    let account = store
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap()
        .id;
    let policy = OtpPolicy::default();
    let (id, code) = store
        .issue_code(&account, "call-1", &policy, t(0))
        .await
        .unwrap();
    assert_eq!(
        store.check_code(id, code.expose(), t(60)).await.unwrap(),
        CodeCheck::Expired
    );

    let (id, code) = store
        .issue_code(&account, "call-2", &policy, t(100))
        .await
        .unwrap();
    let wrong = if code.expose() == "0000" {
        "1111"
    } else {
        "0000"
    };
    assert_eq!(
        store.check_code(id, wrong, t(101)).await.unwrap(),
        CodeCheck::Rejected { tries_left: 2 }
    );
    assert_eq!(
        store.check_code(id, "", t(102)).await.unwrap(),
        CodeCheck::Rejected { tries_left: 1 }
    );
    assert_eq!(
        store.check_code(id, wrong, t(103)).await.unwrap(),
        CodeCheck::Exhausted
    );
    assert_eq!(
        store.check_code(id, code.expose(), t(104)).await.unwrap(),
        CodeCheck::Spent
    );
    // Codes go with their account.
    store.remove_account(&account).await.unwrap();
    assert!(matches!(
        store.check_code(id, code.expose(), t(105)).await,
        Err(StoreError::UnknownCode(_))
    ));
}

async fn racing_nodes_accept_a_code_once(db: TestDb) {
    let node_a = db.store().await;
    let node_b = db.store().await;
    let account = node_a
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap()
        .id;
    for round in 0..5 {
        let (id, code) = node_a
            .issue_code(&account, "call-race", &OtpPolicy::default(), t(round))
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            node_a.check_code(id, code.expose(), t(round)),
            node_b.check_code(id, code.expose(), t(round)),
        );
        let mut results = [a.unwrap(), b.unwrap()];
        results.sort_by_key(|r| matches!(r, CodeCheck::Spent));
        assert_eq!(
            results,
            [CodeCheck::Accepted, CodeCheck::Spent],
            "round {round}"
        );
    }
}

async fn audit_rows_round_trip(db: TestDb) {
    let node_a = db.store().await;
    let node_b = db.store().await;
    let account = AccountId("acct-1".to_string());
    node_a
        .append_audit(
            "call-1",
            &AuditEvent::CallerLookup {
                number: number("+15550100001"),
                result: LookupSummary::Found {
                    account: account.clone(),
                },
            },
            t(0),
        )
        .await
        .unwrap();
    node_b
        .append_audit_row(
            &NewAuditRow {
                call_id: "-".to_string(),
                event: "account_added".to_string(),
                outcome: Some("ok".to_string()),
                account: Some(account.clone()),
                detail: serde_json::json!({"phones": 1}),
            },
            t(1),
        )
        .await
        .unwrap();
    node_a
        .append_audit("call-2", &AuditEvent::CallStarted { caller: None }, t(2))
        .await
        .unwrap();

    let rows = node_b.audit(10).await.unwrap();
    let summary: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|r| (r.call_id.as_str(), r.event.as_str(), r.outcome.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("call-1", "caller_lookup", Some("found")),
            ("-", "account_added", Some("ok")),
            ("call-2", "call_started", Some("withheld")),
        ]
    );
    assert_eq!(rows[0].account, Some(account));
    assert_eq!(rows[0].detail["number"], "+15550100001");
    assert_eq!(rows[0].at, t(0));
    let json = serde_json::to_value(&rows[1]).unwrap();
    assert_eq!(json["at"], t(1).to_string());
    assert_eq!(json["detail"]["phones"], 1);

    let newest = node_a.audit(2).await.unwrap();
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[0].event, "account_added");
    assert_eq!(newest[1].event, "call_started");
}

async fn audit_rows_are_written_together_in_order(db: TestDb) {
    let store = db.store().await;
    // More than one statement's worth, so the chunks are tested too; rows
    // differ in every column, so a parameter bound to the wrong column shows.
    let rows: Vec<(NewAuditRow, _)> = (0..1100)
        .map(|i| {
            let event = if i % 3 == 0 {
                AuditEvent::PassphraseChecked {
                    account: AccountId(format!("acct-{i}")),
                    result: PassphraseResult::NoMatch,
                }
            } else {
                AuditEvent::CallStarted {
                    caller: Some(number(&format!("+1555010{i:04}"))),
                }
            };
            let row = NewAuditRow::from_flow(&format!("call-{i}"), &event);
            (row, t(i))
        })
        .collect();
    store.append_audit_rows(&rows).await.unwrap();
    store.append_audit_rows(&[]).await.unwrap();
    let stored = store.audit(2000).await.unwrap();
    assert_eq!(stored.len(), 1100);
    for (row, (sent, at)) in stored.iter().zip(&rows) {
        assert_eq!(row.call_id, sent.call_id);
        assert_eq!(row.event, sent.event);
        assert_eq!(row.outcome, sent.outcome);
        assert_eq!(row.account, sent.account);
        assert_eq!(row.detail, sent.detail);
        assert_eq!(row.at, *at);
    }
    assert!(stored[0].account.is_some() && stored[1].account.is_none());
}

#[tokio::test]
async fn sqlite_files_may_live_in_awkwardly_named_directories() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pass gate #1");
    let url = format!("sqlite://{}/100%.db", data.display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .add_account(nelson(&["+15550100001"]), t(0))
        .await
        .unwrap();
    assert!(data.join("100%.db").is_file());
    let again = Store::connect(&url).await.unwrap();
    assert_eq!(again.list_accounts().await.unwrap().len(), 1);
}

async fn audit_rows_with_ids_are_stored_once_however_often_sent(db: TestDb) {
    let store = db.store().await;
    let row = |i: i64| {
        (
            format!("run-a-{i}"),
            NewAuditRow::from_flow(
                &format!("call-{i}"),
                &AuditEvent::CallStarted { caller: None },
            ),
            t(i),
        )
    };
    let first: Vec<_> = (0..3).map(row).collect();
    assert_eq!(store.append_audit_rows_once(&first).await.unwrap(), 3);
    // A replay overlapping what was stored: only the new row is added.
    let replay: Vec<_> = (1..5).map(row).collect();
    assert_eq!(store.append_audit_rows_once(&replay).await.unwrap(), 2);
    assert_eq!(store.append_audit_rows_once(&replay).await.unwrap(), 0);
    let stored = store.audit(100).await.unwrap();
    let calls: Vec<&str> = stored.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(calls, ["call-0", "call-1", "call-2", "call-3", "call-4"]);
    // Rows written without an id are not held to it.
    let plain = NewAuditRow::from_flow("call-x", &AuditEvent::CallStarted { caller: None });
    store.append_audit_row(&plain, t(9)).await.unwrap();
    store.append_audit_row(&plain, t(9)).await.unwrap();
    assert_eq!(store.audit(100).await.unwrap().len(), 7);
}

async fn store_failures_name_their_cause(db: TestDb) {
    use auth::store::{StoreConfig, StoreFailure};
    // Only PostgreSQL has a network to fail; SQLite checks the local kinds.
    if !db.url.starts_with("postgres") {
        return;
    }
    let refused = "postgres://postgres@127.0.0.1:1/none".to_string();
    let config = StoreConfig {
        url: Some(refused),
        connect_timeout: Duration::from_secs(2),
        ..StoreConfig::default()
    };
    let store = Store::open_lazy(&config).unwrap();
    let e = store.ping().await.unwrap_err();
    assert_eq!(e.failure(), StoreFailure::Refused, "{e}");
    // A port that accepts and never answers: a timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = StoreConfig {
        url: Some(format!(
            "postgres://postgres@{}/none",
            silent.local_addr().unwrap()
        )),
        connect_timeout: Duration::from_millis(500),
        ..StoreConfig::default()
    };
    let store = Store::open_lazy(&config).unwrap();
    let e = store.ping().await.unwrap_err();
    assert_eq!(e.failure(), StoreFailure::Timeout, "{e}");
    let live = db.store().await;
    live.ping().await.unwrap();
}
