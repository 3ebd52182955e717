//! SMS gateways against a real HTTP server on 127.0.0.1 that checks what
//! arrives: method, path, headers (auth, signature) and body.

#[path = "support/http.rs"]
mod http;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth::phone::E164;
use auth::secret::SecretString;
use auth::sms::{
    sign, Gateway, GatewayKind, HttpPolicy, SmsConfig, SmsError, SmsGateway, TwilioConfig,
    TwilioGateway, WebhookConfig, WebhookGateway, SIGNATURE_HEADER,
};
use http::{Reply, TestServer};

const BODY: &str = "Your verification code is 6408. It expires in one minute.";

fn to() -> E164 {
    E164::parse("+15550100001").unwrap()
}

fn quick() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        max_attempts: 3,
        backoff: Duration::from_millis(10),
    }
}

fn webhook(server: &TestServer, policy: HttpPolicy) -> WebhookGateway {
    WebhookGateway::new(
        &WebhookConfig {
            url: format!("{}/hooks/sms?tenant=7", server.base),
            from: "+15550009999".to_string(),
            secret: SecretString::new("sh4red-secret"),
        },
        &policy,
    )
    .unwrap()
}

fn twilio(server: &TestServer, policy: HttpPolicy) -> TwilioGateway {
    TwilioGateway::new(
        &TwilioConfig {
            base_url: format!("{}/", server.base),
            account_sid: "AC123".to_string(),
            auth_token: SecretString::new("t0ken"),
            from: "+15550009999".to_string(),
        },
        &policy,
    )
    .unwrap()
}

#[tokio::test]
async fn webhook_posts_signed_json() {
    let server = TestServer::start(vec![Reply::Json(200, r#"{"id":"msg-1"}"#)]).await;
    let receipt = webhook(&server, quick()).send(&to(), BODY).await.unwrap();
    assert_eq!(receipt.gateway, GatewayKind::Webhook);
    assert_eq!(receipt.id.as_deref(), Some("msg-1"));
    assert_eq!(receipt.attempts, 1);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/hooks/sms?tenant=7");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"to": "+15550100001", "from": "+15550009999", "body": BODY})
    );
    let expected = sign(b"sh4red-secret", &request.body).unwrap();
    assert_eq!(request.header(SIGNATURE_HEADER), Some(expected.as_str()));
    assert!(expected.starts_with("sha256=") && expected.len() == 7 + 64);
    // A different secret would not produce the same signature.
    assert_ne!(sign(b"other", &request.body).unwrap(), expected);
}

#[tokio::test]
async fn twilio_posts_the_messages_api_form_with_basic_auth() {
    let server = TestServer::start(vec![Reply::Json(
        201,
        r#"{"sid":"SM42","status":"queued"}"#,
    )])
    .await;
    let receipt = twilio(&server, quick()).send(&to(), BODY).await.unwrap();
    assert_eq!(receipt.gateway, GatewayKind::Twilio);
    assert_eq!(receipt.id.as_deref(), Some("SM42"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(
        request.header("authorization"),
        Some("Basic QUMxMjM6dDBrZW4=")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        "To=%2B15550100001&From=%2B15550009999&Body=Your+verification+code+is+6408.+It+expires+in+one+minute."
    );
}

#[tokio::test]
async fn a_5xx_is_retried_and_then_succeeds() {
    let server = TestServer::start(vec![
        Reply::Json(500, r#"{"error":"busy"}"#),
        Reply::Json(200, "{}"),
    ])
    .await;
    let receipt = webhook(&server, quick()).send(&to(), BODY).await.unwrap();
    assert_eq!(receipt.attempts, 2);
    assert_eq!(receipt.id, None);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(
        requests[0].header(SIGNATURE_HEADER),
        requests[1].header(SIGNATURE_HEADER)
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = TestServer::start(vec![Reply::Json(503, "{}")]).await;
    let err = twilio(&server, quick())
        .send(&to(), BODY)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SmsError::Status {
                status: 503,
                attempts: 3,
                code: None
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_4xx_is_not_retried_and_keeps_only_the_gateway_code() {
    let server = TestServer::start(vec![Reply::Json(
        400,
        r#"{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"Your verification code is 6408"}"#,
    )])
    .await;
    let err = twilio(&server, quick())
        .send(&to(), BODY)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SmsError::Status {
                status: 400,
                attempts: 1,
                code: Some(21211)
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        err.to_string(),
        "the SMS gateway answered HTTP 400 after 1 attempt(s) (gateway error code 21211)"
    );
}

#[tokio::test]
async fn a_hanging_gateway_times_out_without_retrying() {
    let server = TestServer::start(vec![Reply::Hang]).await;
    let policy = HttpPolicy {
        timeout: Duration::from_millis(300),
        ..quick()
    };
    let started = Instant::now();
    let err = webhook(&server, policy)
        .send(&to(), BODY)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, SmsError::Timeout(d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_gateway_is_retried_then_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = WebhookGateway::new(
        &WebhookConfig {
            url: format!("http://127.0.0.1:{port}/sms?token=url-secret"),
            from: "+15550009999".to_string(),
            secret: SecretString::new("k"),
        },
        &quick(),
    )
    .unwrap();
    let err = gateway.send(&to(), BODY).await.unwrap_err();
    assert!(
        matches!(err, SmsError::Connect { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("url-secret"), "{err}");
}

#[tokio::test]
async fn configured_gateway_dispatches_to_the_named_one() {
    let server = TestServer::start(vec![Reply::Json(200, r#"{"sid":"SM1"}"#)]).await;
    let config: SmsConfig = toml::from_str(&format!(
        r#"
        gateway = "twilio"
        [twilio]
        base_url = "{}"
        account_sid = "AC123"
        auth_token = "t0ken"
        from = "+15550009999"
        "#,
        server.base
    ))
    .unwrap();
    let gateway = Gateway::from_config(&config).unwrap();
    assert_eq!(gateway.kind(), GatewayKind::Twilio);
    let receipt = gateway.send(&to(), BODY).await.unwrap();
    assert_eq!(receipt.id.as_deref(), Some("SM1"));
    assert_eq!(
        server.requests()[0].target,
        "/2010-04-01/Accounts/AC123/Messages.json"
    );
}

/// Captures everything logged while it is the thread's default.
///
/// tracing caches each callsite's interest once for the whole process,
/// asked of the registering thread's subscriber: a test running alongside
/// with no subscriber would cache "never" for a line this one captures.
/// A global subscriber interested in everything (writing nowhere) keeps
/// every callsite's interest open for the thread-local one.
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    static SINK: std::sync::Once = std::sync::Once::new();
    SINK.call_once(|| {
        let sink = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(std::io::sink)
            .finish();
        let _ = tracing::subscriber::set_global_default(sink);
    });
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || LogWriter(writer.clone()))
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
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

#[tokio::test]
async fn only_the_console_gateway_ever_prints_the_message() {
    let (logs, _guard) = capture_logs();
    let server = TestServer::start(vec![
        Reply::Json(500, "{}"),
        Reply::Json(200, "{}"),
        Reply::Json(200, "{}"),
        Reply::Json(400, r#"{"code":1,"message":"6408"}"#),
    ])
    .await;
    let mut errors = Vec::new();
    webhook(&server, quick()).send(&to(), BODY).await.unwrap();
    twilio(&server, quick()).send(&to(), BODY).await.unwrap();
    errors.push(
        twilio(&server, quick())
            .send(&to(), BODY)
            .await
            .unwrap_err(),
    );
    let hang = TestServer::start(vec![Reply::Hang]).await;
    let short = HttpPolicy {
        timeout: Duration::from_millis(200),
        ..quick()
    };
    errors.push(webhook(&hang, short).send(&to(), BODY).await.unwrap_err());
    let http_logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        http_logs.contains("SMS handed to the webhook"),
        "{http_logs}"
    );
    assert!(http_logs.contains("retrying"), "{http_logs}");
    assert!(!http_logs.contains("6408"), "{http_logs}");
    for err in &errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("6408"), "{shown}");
    }
    let shown = format!(
        "{:?} {:?}",
        webhook(&server, quick()),
        twilio(&server, quick())
    );
    assert!(
        !shown.contains("sh4red") && !shown.contains("t0ken"),
        "{shown}"
    );

    // The console gateway is the demo's delivery: it prints, and says so.
    let console = Gateway::from_config(&SmsConfig::default()).unwrap();
    assert_eq!(console.kind(), GatewayKind::Console);
    console.send(&to(), BODY).await.unwrap();
    let all = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(all.contains("6408"), "{all}");
    assert!(all.contains("demo only"), "{all}");
}
