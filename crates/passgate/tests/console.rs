//! The operator console's endpoints on the real binary: the token, the
//! accounts (the command line's rules), the audit search, a real call seen
//! live and then ended, the metrics series, and no secret in any response.

mod support;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::json;
use support::cli::spoken_as;
use support::http::{get, request, Reply};
use support::Agent;

const TOKEN: &str = "console-t0ken-5ecret";

const ENDPOINTS: [&str; 5] = [
    "/api/console/calls",
    "/api/console/audit",
    "/api/console/accounts",
    "/api/console/metrics",
    "/api/console/demo",
];

/// An address of this machine other than loopback, so a request comes from
/// off loopback as a remote operator's would (None on a host without one).
fn non_loopback_ip() -> Option<IpAddr> {
    let probe = UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route.
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn off_loopback_every_console_endpoint_needs_the_token_and_the_page_does_not() {
    let agent = Agent::start(&[
        ("PASSGATE_HTTP__LISTEN", "0.0.0.0:0"),
        ("PASSGATE_HTTP__TOKEN", TOKEN),
    ]);
    let ip = non_loopback_ip().unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let remote = SocketAddr::new(ip, agent.http.port());
    for path in ENDPOINTS {
        for token in [None, Some("wrong"), Some("")] {
            let reply = get(remote, path, token);
            assert_eq!(reply.status, 401, "{path} with {token:?}: {}", reply.body);
            assert!(!reply.body.contains(TOKEN));
        }
    }
    let refused = request(
        remote,
        "POST",
        "/api/console/accounts",
        None,
        Some(&json!({"name": "X", "phones": ["+15550100009"], "passphrase": "white horse"})),
    );
    assert_eq!(refused.status, 401);
    for (method, path) in [
        ("DELETE", "/api/console/accounts/nelson"),
        ("PUT", "/api/console/accounts/nelson/passphrase"),
    ] {
        assert_eq!(
            request(remote, method, path, None, None).status,
            401,
            "{method} {path}"
        );
    }
    let accounts = get(remote, "/api/console/accounts", Some(TOKEN));
    assert_eq!(accounts.status, 200, "{}", accounts.body);
    assert_eq!(accounts.json(), json!([]), "the refused POST added nothing");
    let calls = get(remote, "/api/console/calls", Some(TOKEN));
    assert_eq!(calls.status, 200);
    assert_eq!(calls.json(), json!({"live": [], "recent": []}));
    // Not a demo: its account and texts are not there to show.
    assert_eq!(get(remote, "/api/console/demo", Some(TOKEN)).status, 404);
    // The page holds no secret; it asks for the token and sends it.
    let page = get(remote, "/console/", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Passgate console"), "{}", page.body);
    assert_eq!(get(remote, "/console/console.js", None).status, 200);
    for probe in [
        "/console/..%2FCargo.toml",
        "/console/.gitignore",
        "/console/nothing.html",
    ] {
        assert_eq!(get(remote, probe, None).status, 404, "{probe}");
    }
}

fn add(agent: &Agent, body: serde_json::Value) -> Reply {
    request(
        agent.http,
        "POST",
        "/api/console/accounts",
        None,
        Some(&body),
    )
}

#[test]
fn accounts_follow_the_command_lines_rules_and_never_show_a_passphrase() {
    let agent = Agent::start(&[]);
    let nelson = json!({
        "id": "nelson", "name": "Nelson Medina", "phones": ["+15550100001", "5550100011"],
        "passphrase": "white horse", "balance": "1234.56"
    });
    let added = add(&agent, nelson.clone());
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.json(), json!({"id": "nelson"}));
    for (body, status, problem) in [
        (nelson.clone(), 409, "already exists"),
        (
            json!({"name": "Ana", "phones": ["+15550100001"], "passphrase": "white horse"}),
            409,
            "already belongs to an account",
        ),
        (
            json!({"name": "Ana", "phones": ["not-a-number"], "passphrase": "white horse"}),
            400,
            "is not a phone number",
        ),
        (
            json!({"name": "Ana", "phones": ["+15550100002"], "passphrase": "   "}),
            400,
            "passphrase",
        ),
        (
            json!({"name": "Ana", "phones": ["+15550100002"], "passphrase": "white horse", "balance": "lots"}),
            400,
            "lots",
        ),
        (
            json!({"name": "Ana", "phones": [], "passphrase": "white horse"}),
            400,
            "at least one phone number",
        ),
        (
            json!({"name": "Ana", "phones": ["+15550100002"], "passphrase": 12345}),
            400,
            "expected a JSON object",
        ),
    ] {
        let reply = add(&agent, body.clone());
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(
            reply.body.contains(problem),
            "{problem:?} not in {}",
            reply.body
        );
        assert!(
            !reply.body.contains("white horse") && !reply.body.contains("12345"),
            "a passphrase came back: {}",
            reply.body
        );
    }
    let list = get(agent.http, "/api/console/accounts", None);
    assert_eq!(list.status, 200);
    let accounts = list.json();
    assert_eq!(accounts.as_array().map(Vec::len), Some(1), "{accounts}");
    assert_eq!(
        accounts[0]["phones"],
        json!(["+15550100001", "+15550100011"])
    );
    assert_eq!(accounts[0]["balance"], "1234.56");
    assert!(
        !list.body.contains("argon2")
            && !list.body.contains("white")
            && !list.body.contains("passphrase"),
        "passphrase material in the listing: {}",
        list.body
    );
    // The command line reads the same store the console wrote.
    let cli = support::cli::passgate(&agent.database, &["accounts", "list"]);
    assert!(cli.contains("nelson\tNelson Medina"), "{cli}");

    let set = |id: &str, passphrase: &str| {
        request(
            agent.http,
            "PUT",
            &format!("/api/console/accounts/{id}/passphrase"),
            None,
            Some(&json!({ "passphrase": passphrase })),
        )
    };
    assert_eq!(set("nelson", "black ox").status, 204);
    let empty = set("nelson", "  ");
    assert_eq!(empty.status, 400, "{}", empty.body);
    let unknown = set("nobody", "black ox");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(!unknown.body.contains("black ox"));
    let remove = |id: &str| {
        request(
            agent.http,
            "DELETE",
            &format!("/api/console/accounts/{id}"),
            None,
            None,
        )
    };
    assert_eq!(remove("nelson").status, 204);
    assert_eq!(remove("nelson").status, 404);
    assert_eq!(
        get(agent.http, "/api/console/accounts", None).json(),
        json!([])
    );

    // Each change is in the audit trail, marked as the console's, and
    // found by the account's id.
    let audit = get(agent.http, "/api/console/audit?account=nelson", None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    let rows = audit.json();
    let events: Vec<(&str, &str)> = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap(),
                r["detail"]["by"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("account_removed", "console"),
            ("account_passphrase_set", "console"),
            ("account_added", "console")
        ]
    );
    for secret in ["white horse", "black ox", "$argon2"] {
        assert!(!audit.body.contains(secret), "{secret} in {}", audit.body);
        assert!(!agent.log_text().contains(secret), "{secret} in the log");
    }
}

/// Polls the calls endpoint until `pick` finds what it wants in the reply.
fn wait_calls(
    agent: &Agent,
    timeout: Duration,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> Option<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let calls = get(agent.http, "/api/console/calls", None).json();
        if pick(&calls) {
            return Some(calls);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn a_real_call_is_seen_live_then_verified_and_transferred_and_found_in_the_audit_trail() {
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    let added = add(
        &agent,
        json!({"id": "nelson", "name": "Nelson Medina", "phones": ["+15550100001"],
               "passphrase": "하얀 말", "balance": "1234.56"}),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let dir = tempfile::tempdir().unwrap();
    spoken_as("하얀 말", dir.path(), "passphrase.wav");
    let target = agent.sip;
    let caller = std::thread::spawn({
        let dir = dir.path().to_path_buf();
        move || {
            support::sipp_with(
                "seed_verified",
                target,
                &support::SippOptions {
                    dir: Some(&dir),
                    timeout_secs: Some(90),
                    extra: &["-cid_str", "passgate-console-%u"],
                    ..Default::default()
                },
            )
        }
    });
    // While the caller speaks, the call is live at the passphrase step.
    let live = wait_calls(&agent, Duration::from_secs(30), |c| {
        c["live"][0]["stage"] == "passphrase"
    })
    .unwrap_or_else(|| panic!("the call never showed live:\n{}", agent.log_text()));
    let call = &live["live"][0];
    assert_eq!(call["caller"], "+15550100001");
    assert_eq!(call["account"], "nelson");
    assert_eq!(call["outcome"], serde_json::Value::Null);
    assert!(call["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["event"] == "caller_lookup" && s["outcome"] == "found"));
    let run = caller.join().unwrap();
    run.assert_ok(&format!(
        "the verified call\n--- log ---\n{}",
        agent.log_text()
    ));

    let ended = wait_calls(&agent, Duration::from_secs(10), |c| {
        c["recent"][0]["outcome"].is_string()
    })
    .expect("the call ended");
    assert_eq!(ended["live"], json!([]));
    let call = &ended["recent"][0];
    assert_eq!(call["call_id"], "passgate-console-1");
    assert_eq!(call["outcome"], "transferred_verified");
    assert_eq!(call["verified_by"], "passphrase");
    assert_eq!(
        call["transfer"],
        json!({"target": "authenticated", "auth": "verified", "state": "completed"})
    );
    assert_eq!(call["stage"], "ended");
    assert!(call["duration_ms"].as_u64().unwrap() > 1000, "{call}");
    let steps: Vec<String> = call["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["event"].as_str().unwrap(),
                s["outcome"].as_str().unwrap_or("-")
            )
        })
        .collect();
    for step in [
        "passphrase_checked:match",
        "authenticated:authenticated",
        "transferred:verified",
    ] {
        assert!(steps.iter().any(|s| s == step), "{step} not in {steps:?}");
    }

    // The audit trail finds the call by its number, its account and its outcome.
    std::thread::sleep(Duration::from_millis(500));
    let by_number = get(agent.http, "/api/console/audit?number=5550100001", None);
    assert_eq!(by_number.status, 200, "{}", by_number.body);
    let rows = by_number.json()["rows"].as_array().unwrap().clone();
    assert!(rows.len() >= 6, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["call_id"] == "passgate-console-1"),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r["event"] == "call_ended"),
        "every row of the call, its end too"
    );
    let ended_rows = get(
        agent.http,
        "/api/console/audit?outcome=transferred_verified",
        None,
    )
    .json();
    assert_eq!(
        ended_rows["rows"].as_array().map(Vec::len),
        Some(1),
        "{ended_rows}"
    );
    let by_account = get(
        agent.http,
        "/api/console/audit?account=nelson&limit=3",
        None,
    )
    .json();
    assert_eq!(by_account["rows"].as_array().map(Vec::len), Some(3));
    let before = by_account["next_before"].as_i64().expect("a next page");
    let next = get(
        agent.http,
        &format!("/api/console/audit?account=nelson&limit=3&before={before}"),
        None,
    )
    .json();
    assert!(next["rows"][0]["id"].as_i64().unwrap() < before);
    assert_eq!(
        get(agent.http, "/api/console/audit?number=bogus", None).status,
        400
    );
    let nobody = get(agent.http, "/api/console/audit?number=%2B15550100002", None).json();
    assert_eq!(nobody["rows"], json!([]));

    // The metrics series counted the call.
    std::thread::sleep(Duration::from_millis(2500));
    let metrics = get(agent.http, "/api/console/metrics", None).json();
    let samples = metrics["samples"].as_array().unwrap();
    let sum = |k: &str| {
        samples
            .iter()
            .map(|s| s[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!((sum("calls"), sum("verified")), (1, 1), "{metrics}");
    assert!(samples.iter().any(|s| s["live_calls"] == 1), "{metrics}");

    // No response tells the passphrase, in words or hashed.
    for path in ENDPOINTS
        .iter()
        .chain(&["/api/console/audit?account=nelson"])
    {
        let body = get(agent.http, path, None).body;
        assert!(
            !body.contains("하얀") && !body.contains("argon2"),
            "{path}: {body}"
        );
    }
}

/// `code` standing alone in `text` (four digits inside a timestamp or a
/// longer id are chance).
fn contains_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn the_sms_branch_shows_the_code_factor_but_never_the_code() {
    let sipp_port = support::free_port();
    let sink = support::sms_sink::SmsSink::start(sipp_port);
    let vars = sink.env();
    let mut env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    let agent = Agent::start(&env);
    support::cli::add_nelson(&agent.database);
    let dir = tempfile::tempdir().unwrap();
    spoken_as("검은 소", dir.path(), "wrong.wav");
    let run = support::sipp_with(
        "seed_sms_code",
        agent.sip,
        &support::SippOptions {
            dir: Some(dir.path()),
            port: Some(sipp_port),
            timeout_secs: Some(90),
            extra: &["-cid_str", "passgate-seed-%u"],
            ..Default::default()
        },
    );
    run.assert_ok(&format!(
        "the SMS-code call\n--- log ---\n{}",
        agent.log_text()
    ));
    let sms = sink.messages();
    let code = support::sms_sink::first_code(sms[0]["body"].as_str().unwrap()).unwrap();
    let ended = wait_calls(&agent, Duration::from_secs(10), |c| {
        c["recent"][0]["outcome"].is_string()
    })
    .expect("the call ended");
    let call = &ended["recent"][0];
    assert_eq!(call["verified_by"], "sms_code", "{call}");
    assert_eq!(call["outcome"], "transferred_verified", "{call}");
    let steps = call["steps"].to_string();
    for step in [
        "\"passphrase_checked\"",
        "\"no_match\"",
        "\"code_send\"",
        "\"code_checked\"",
        "\"accepted\"",
    ] {
        assert!(steps.contains(step), "{step} not in {steps}");
    }
    std::thread::sleep(Duration::from_millis(2500));
    let metrics = get(agent.http, "/api/console/metrics", None).json();
    let sent: u64 = metrics["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sms_sent"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(sent, 1, "{metrics}");
    for path in ENDPOINTS.iter().chain(&[
        "/api/console/audit?account=nelson",
        "/api/console/audit?number=%2B15550100001",
    ]) {
        let body = get(agent.http, path, None).body;
        assert!(
            !contains_code(&body, &code),
            "the code {code} in {path}: {body}"
        );
        assert!(
            !body.contains("검은") && !body.contains("하얀"),
            "{path}: {body}"
        );
    }
}
