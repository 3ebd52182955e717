//! A whole call driven through the real store and a real (local) SMS
//! webhook: the passphrase fails, a code is sent, a wrong code then the
//! right one is typed. Afterwards no audit row, no stored column, no log
//! line, no error message and no Debug output holds the spoken phrases or
//! the code. Runs on SQLite and, when available, on PostgreSQL.

#[path = "support/http.rs"]
mod http;
use test_postgres as postgres_server;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use auth::flow::{
    Action, Alternatives, Event, Flow, FlowConfig, ListenPurpose, PassphraseCheck, Stage,
};
use auth::otp::OtpPolicy;
use auth::passphrase::{HashCost, MatchRule, PassphraseHasher};
use auth::phone::E164;
use auth::secret::SecretString;
use auth::sms::{code_message, HttpPolicy, SmsGateway, WebhookConfig, WebhookGateway};
use auth::store::{FailedFactor, LockoutPolicy, NewAccount, SmsCap, Store, Timestamp};
use http::{Reply, TestServer};
use sqlx::Row;

const PHRASE: &str = "white horse";
const HEARD: [&str; 2] = ["white house", "white mouse"];
const CALLER: &str = "+15550100001";

#[tokio::test]
async fn sqlite_call_leaves_no_secret_behind() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/passgate.db", dir.path().display());
    run_call_and_scan(&url).await;
}

#[tokio::test]
async fn postgres_call_leaves_no_secret_behind() {
    let Some(url) = postgres_server::fresh_database("no_secrets") else {
        return;
    };
    run_call_and_scan(&url).await;
}

/// What the call left behind, and the secrets it must not contain.
struct Evidence {
    secrets: Vec<String>,
    haystacks: Vec<(String, String)>,
}

impl Evidence {
    fn add(&mut self, place: &str, text: impl Into<String>) {
        self.haystacks.push((place.to_string(), text.into()));
    }

    fn assert_clean(&self) {
        for (place, text) in &self.haystacks {
            for secret in &self.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{place} contains a secret: {text}"
                );
            }
        }
    }
}

async fn run_call_and_scan(url: &str) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = buffer.clone();
    let _logs = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish(),
    );

    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let hasher = PassphraseHasher::new(HashCost::minimum()).unwrap();
    let caller = E164::parse(CALLER).unwrap();
    let account = store
        .add_account(
            NewAccount {
                id: None,
                name: "Nelson Medina".to_string(),
                phones: vec![caller.clone()],
                passphrase: hasher.hash(PHRASE).unwrap(),
                balance: "1234.56".parse().unwrap(),
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
    let sms_server = TestServer::start(vec![Reply::Json(200, r#"{"id":"m1"}"#)]).await;
    let gateway = WebhookGateway::new(
        &WebhookConfig {
            url: format!("{}/sms", sms_server.base),
            from: "+15550009999".to_string(),
            secret: SecretString::new("k"),
        },
        &HttpPolicy::default(),
    )
    .unwrap();

    // Eight digits, so no hex digest can contain the code by chance.
    let mut config = FlowConfig::default();
    config.code.policy = OtpPolicy {
        length: 8,
        ..OtpPolicy::default()
    };
    let policy = config.code.policy.clone();
    let mut flow = Flow::new(config).unwrap();
    let mut evidence = Evidence {
        secrets: vec![
            PHRASE.to_string(),
            HEARD[0].to_string(),
            HEARD[1].to_string(),
        ],
        haystacks: Vec::new(),
    };
    let call_id = "call-no-secrets";
    let now = Instant::now();
    let mut sent_code: Option<String> = None;
    let mut typed_wrong = false;
    let mut transferred = false;
    let mut events = VecDeque::from([Event::CallerId(Some(caller.clone()))]);
    let mut steps = 0;
    while let Some(event) = events.pop_front() {
        steps += 1;
        assert!(steps < 200, "the call did not end");
        evidence.add("event Debug", format!("{event:?}"));
        for action in flow.handle_event(now, event) {
            evidence.add("action Debug", format!("{action:?}"));
            let at = Timestamp::now();
            match action {
                Action::Play(prompt) => events.push_back(Event::PromptFinished(prompt.playback)),
                Action::LookupAccount { number, .. } => {
                    let result = store
                        .lookup(&number, Some(&caller), &LockoutPolicy::default(), at)
                        .await
                        .unwrap();
                    events.push_back(Event::AccountLookup(result));
                }
                Action::Listen(request) if request.purpose == ListenPurpose::Passphrase => {
                    events.push_back(Event::Transcript(Alternatives::new(HEARD)));
                }
                Action::VerifyPassphrase {
                    account,
                    alternatives,
                } => {
                    let check = store
                        .verify_passphrase(&account, &alternatives, &MatchRule::default())
                        .await;
                    assert_eq!(check, PassphraseCheck::NoMatch);
                    store
                        .record_failure(Some(&account), Some(&caller), FailedFactor::Passphrase, at)
                        .await
                        .unwrap();
                    events.push_back(Event::PassphraseChecked(check));
                }
                Action::SendCode { to, account, code } => {
                    store
                        .save_code(&account, call_id, &code, &policy, at)
                        .await
                        .unwrap();
                    assert!(store
                        .reserve_sms_send(&account, &to, &SmsCap::default(), at)
                        .await
                        .unwrap());
                    let body = code_message("Your code is {code}", &code);
                    gateway.send(&to, body.expose()).await.unwrap();
                    sent_code = Some(code.expose().to_string());
                    events.push_back(Event::CodeSent);
                }
                Action::CollectDigits(_) if flow.stage() == Stage::CodeEntry => {
                    let code = sent_code.clone().unwrap();
                    let typed = if typed_wrong {
                        code
                    } else {
                        typed_wrong = true;
                        store
                            .record_failure(
                                Some(&account.id),
                                Some(&caller),
                                FailedFactor::SmsCode,
                                at,
                            )
                            .await
                            .unwrap();
                        // Every digit different from the code's.
                        code.chars()
                            .map(|c| {
                                if c == '9' {
                                    '0'
                                } else {
                                    char::from(c as u8 + 1)
                                }
                            })
                            .collect::<String>()
                    };
                    evidence.secrets.push(typed.clone());
                    events.extend(typed.chars().map(Event::Digit));
                }
                Action::CollectDigits(_) if flow.stage() == Stage::Menu => {
                    events.push_back(Event::Digit('0'));
                }
                Action::Transfer { .. } => transferred = true,
                Action::Audit(event) => store.append_audit(call_id, &event, at).await.unwrap(),
                _ => {}
            }
        }
    }
    assert!(
        transferred,
        "the call should end with a transfer to an agent"
    );
    let code = sent_code.unwrap();
    evidence.secrets.push(code.clone());
    // The code really travelled, so its absence elsewhere means something.
    let delivered = String::from_utf8(sms_server.requests()[0].body.clone()).unwrap();
    assert!(delivered.contains(&code));

    let rows = store.audit(1000).await.unwrap();
    let events: Vec<&str> = rows.iter().map(|r| r.event.as_str()).collect();
    assert!(events.contains(&"passphrase_checked"), "{events:?}");
    assert!(events.contains(&"code_checked"), "{events:?}");
    assert!(events.contains(&"authenticated"), "{events:?}");
    assert!(
        rows.iter()
            .any(|r| r.event == "code_checked" && r.outcome.as_deref() == Some("rejected")),
        "the wrong code was not seen"
    );
    for row in &rows {
        evidence.add("audit row", serde_json::to_string(row).unwrap());
        evidence.add("audit row Debug", format!("{row:?}"));
    }
    for record in store.list_accounts().await.unwrap() {
        evidence.add("account Debug", format!("{record:?}"));
        evidence.add("account JSON", serde_json::to_string(&record).unwrap());
    }
    for text in every_stored_text(url).await {
        evidence.add("database column", text);
    }

    let hasher_errors = [
        hasher.hash("  ?! ").unwrap_err().to_string(),
        format!("{:?}", hasher.hash(PHRASE).unwrap()),
    ];
    for text in hasher_errors {
        evidence.add("passphrase error/Debug", text);
    }
    let duplicate = store
        .add_account(
            NewAccount {
                id: None,
                name: "Copy".to_string(),
                phones: vec![caller.clone()],
                passphrase: hasher.hash(PHRASE).unwrap(),
                balance: "1".parse().unwrap(),
            },
            Timestamp::now(),
        )
        .await
        .unwrap_err();
    evidence.add("store error", format!("{duplicate} {duplicate:?}"));
    evidence.add("flow Debug", format!("{flow:?}"));
    evidence.add(
        "logs",
        String::from_utf8(buffer.lock().unwrap().clone()).unwrap(),
    );
    assert!(evidence.haystacks.len() > 20);
    evidence.assert_clean();

    // The scan itself can fail: a planted secret is found.
    let planted = Evidence {
        secrets: vec![code.clone()],
        haystacks: vec![("planted".to_string(), format!("x{code}x"))],
    };
    assert!(std::panic::catch_unwind(|| planted.assert_clean()).is_err());
    store.close().await;
}

/// Every text column of every table, read directly.
async fn every_stored_text(url: &str) -> Vec<String> {
    use sqlx::Connection;
    let mut connection = sqlx::AnyConnection::connect(url).await.unwrap();
    let queries = [
        "SELECT id || ' ' || display_name || ' ' || passphrase_phc AS t FROM accounts",
        "SELECT number || ' ' || account_id AS t FROM account_phones",
        "SELECT account_id || ' ' || call_id || ' ' || salt_hex || ' ' || digest_hex AS t FROM one_time_codes",
        "SELECT COALESCE(account_id, '') || ' ' || COALESCE(caller, '') || ' ' || factor AS t FROM auth_failures",
        "SELECT account_id || ' ' || to_number AS t FROM sms_sends",
        "SELECT call_id || ' ' || event || ' ' || COALESCE(outcome, '') || ' ' || detail AS t FROM audit_events",
    ];
    let mut texts = Vec::new();
    for query in queries {
        let rows = sqlx::query(query).fetch_all(&mut connection).await.unwrap();
        assert!(!rows.is_empty(), "{query} found no rows");
        for row in rows {
            texts.push(row.try_get::<String, _>("t").unwrap());
        }
    }
    texts
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
