//! CRM web calls against a real HTTP server on 127.0.0.1, including what
//! each failure turns into for the flow.

#[path = "support/http.rs"]
mod http;

use std::time::Duration;

use auth::crm::{CrmClient, CrmConfig, CrmError};
use auth::flow::{Account, AccountId, Alternatives, LookupResult, PassphraseCheck};
use auth::phone::E164;
use auth::secret::SecretString;
use http::{Reply, TestServer};

const NELSON: &str =
    r#"{"id":"crm-7","name":"Nelson Medina","sms_number":"+15550100002","balance":1234.56}"#;

fn client(server: &TestServer) -> CrmClient {
    CrmClient::new(&CrmConfig {
        lookup_url: Some(format!("{}/crm/lookup", server.base)),
        verify_url: Some(format!("{}/crm/verify", server.base)),
        bearer_token: Some(SecretString::new("crm-t0ken")),
        timeout: Duration::from_millis(300),
    })
    .unwrap()
}

fn caller() -> E164 {
    E164::parse("+15550100001").unwrap()
}

#[tokio::test]
async fn lookup_sends_the_number_and_maps_the_answer() {
    let server = TestServer::start(vec![Reply::Json(200, NELSON)]).await;
    let account = client(&server).lookup(&caller()).await.unwrap().unwrap();
    assert_eq!(account.id, AccountId("crm-7".to_string()));
    assert_eq!(account.name, "Nelson Medina");
    assert_eq!(account.sms_number.as_str(), "+15550100002");
    assert_eq!(account.balance.cents, 123_456);

    let request = &server.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/crm/lookup?number=%2B15550100001");
    assert_eq!(request.header("authorization"), Some("Bearer crm-t0ken"));
}

type Expect = fn(&Result<Option<Account>, CrmError>) -> bool;

#[tokio::test]
async fn lookup_failures_become_the_flows_answers() {
    let cases: Vec<(Reply, Expect, LookupResult)> = vec![
        (
            Reply::Json(404, "{}"),
            |r| matches!(r, Ok(None)),
            LookupResult::NotFound,
        ),
        (
            Reply::Json(500, "{}"),
            |r| matches!(r, Err(CrmError::Status(500))),
            LookupResult::Failed,
        ),
        (
            Reply::Json(200, r#"{"id":"x"}"#),
            |r| matches!(r, Err(CrmError::BadResponse(_))),
            LookupResult::Failed,
        ),
        (
            Reply::Hang,
            |r| matches!(r, Err(CrmError::Timeout(_))),
            LookupResult::Failed,
        ),
    ];
    for (reply, expected, for_flow) in cases {
        let server = TestServer::start(vec![reply.clone()]).await;
        let crm = client(&server);
        let result = crm.lookup(&caller()).await;
        assert!(expected(&result), "{reply:?}: {result:?}");
        assert_eq!(crm.lookup_for_flow(&caller()).await, for_flow, "{reply:?}");
        // No retries: one request per call.
        assert_eq!(server.requests().len(), 2, "{reply:?}");
    }
}

#[tokio::test]
async fn verification_posts_the_account_and_alternatives() {
    let server = TestServer::start(vec![
        Reply::Json(200, r#"{"match":true}"#),
        Reply::Json(200, r#"{"match":false}"#),
        Reply::Json(503, "{}"),
    ])
    .await;
    let crm = client(&server);
    let account = AccountId("crm-7".to_string());
    let heard = Alternatives::new(["white horse", "white house"]);
    assert!(crm.verify_passphrase(&account, &heard).await.unwrap());
    assert_eq!(
        crm.verify_for_flow(&account, &heard).await,
        PassphraseCheck::NoMatch
    );
    let err = crm.verify_passphrase(&account, &heard).await.unwrap_err();
    assert!(matches!(err, CrmError::Status(503)));
    assert!(!format!("{err} {err:?}").contains("white"));
    assert_eq!(
        crm.verify_for_flow(&account, &heard).await,
        PassphraseCheck::Error
    );

    let request = &server.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/crm/verify");
    assert_eq!(request.header("authorization"), Some("Bearer crm-t0ken"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"account": "crm-7", "alternatives": ["white horse", "white house"]})
    );
}

#[tokio::test]
async fn unconfigured_or_unreachable_crm_is_an_error() {
    let crm = CrmClient::new(&CrmConfig::default()).unwrap();
    assert!(!crm.can_lookup() && !crm.can_verify());
    assert!(matches!(
        crm.lookup(&caller()).await,
        Err(CrmError::NotConfigured("lookup"))
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = CrmClient::new(&CrmConfig {
        lookup_url: Some(format!("http://127.0.0.1:{port}/lookup")),
        ..CrmConfig::default()
    })
    .unwrap();
    assert!(matches!(
        down.lookup(&caller()).await,
        Err(CrmError::Connect(_))
    ));
    assert_eq!(down.lookup_for_flow(&caller()).await, LookupResult::Failed);
    assert!(!format!("{down:?}").contains("127.0.0.1"));
}
