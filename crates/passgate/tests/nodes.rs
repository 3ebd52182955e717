//! A node as one of several: every answered call has a start and an end row
//! in the audit trail (an unacknowledged call ends as `no_ack`, a call the
//! node died under as `interrupted` once it starts again), no row is lost to
//! a store outage, and `/readyz` and OPTIONS tell the truth about it.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::cli::passgate;
use support::postgres::PgCluster;
use support::udp_caller::{offer, options_status, UdpCaller};
use support::Agent;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every audit row of the store, as (call id → [(event, outcome)]).
fn audit_by_call(database: &str) -> HashMap<String, Vec<(String, String)>> {
    let mut calls: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for line in passgate(database, &["audit", "--json", "--limit", "100000"]).lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        calls
            .entry(row["call_id"].as_str().unwrap().to_string())
            .or_default()
            .push((
                row["event"].as_str().unwrap().to_string(),
                row["outcome"].as_str().unwrap_or("-").to_string(),
            ));
    }
    calls
}

fn count(rows: &[(String, String)], event: &str) -> usize {
    rows.iter().filter(|(e, _)| e == event).count()
}

fn metric(agent: &Agent, line: &str) -> bool {
    get(agent.http, "/metrics").1.contains(line)
}

/// INVITE, ACK, a moment of call, BYE; the Call-ID.
fn short_call(target: SocketAddr) -> String {
    let (caller, answer) =
        UdpCaller::invite(target, &offer("127.0.0.1".parse().unwrap(), 40000, ""));
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    std::thread::sleep(Duration::from_millis(100));
    caller.bye();
    caller.call_id().to_string()
}

#[test]
fn an_unacknowledged_call_ends_as_no_ack_in_the_audit_trail_and_the_metrics() {
    // T1 of 20 ms: the 200 waits 64·T1 = 1.28 s for its ACK.
    let agent = Agent::start(&[("PASSGATE_SIP__TIMER_T1_MS", "20")]);
    let (caller, answer) =
        UdpCaller::invite_without_ack(agent.sip, &offer("127.0.0.1".parse().unwrap(), 40002, ""));
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    wait_for("the call to end", Duration::from_secs(15), || {
        metric(
            &agent,
            "passgate_call_outcomes_total{outcome=\"no_ack\"} 1\n",
        )
    });
    assert!(
        !metric(&agent, "outcome=\"caller_hung_up\""),
        "an ACK timeout is not a hang-up"
    );
    let calls = audit_by_call(&agent.database);
    let rows = &calls[caller.call_id()];
    assert_eq!(count(rows, "call_started"), 1, "{rows:?}");
    assert_eq!(
        rows.last(),
        Some(&("call_ended".to_string(), "no_ack".to_string())),
        "{rows:?}"
    );
}

#[test]
fn a_call_the_node_died_under_is_closed_as_interrupted_when_it_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("shared.db").display());
    let spool = dir.path().join("node.spool");
    let env = [
        ("PASSGATE_DATABASE__URL", database.as_str()),
        ("PASSGATE_DATABASE__AUDIT_SPOOL", spool.to_str().unwrap()),
    ];
    let agent = Agent::start(&env);
    let finished = short_call(agent.sip);
    let (open, answer) =
        UdpCaller::invite(agent.sip, &offer("127.0.0.1".parse().unwrap(), 40004, ""));
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    // Its first row is in the store (and so in the spool) before the kill.
    wait_for("the open call's first row", Duration::from_secs(10), || {
        audit_by_call(&database).contains_key(open.call_id())
    });
    drop(agent); // SIGKILL: no drain, no goodbye.
    let calls = audit_by_call(&database);
    assert_eq!(count(&calls[open.call_id()], "call_ended"), 0);

    let again = Agent::start(&env);
    again.wait_log(&["closed as interrupted"], Duration::from_secs(10));
    wait_for(
        "the interrupted call's end row",
        Duration::from_secs(10),
        || {
            audit_by_call(&database)
                .get(open.call_id())
                .is_some_and(|rows| count(rows, "call_ended") == 1)
        },
    );
    let calls = audit_by_call(&database);
    assert_eq!(
        calls[open.call_id()].last(),
        Some(&("call_ended".to_string(), "interrupted".to_string()))
    );
    assert_eq!(
        count(&calls[&finished], "call_ended"),
        1,
        "a call that ended before the kill is not closed again: {:?}",
        calls[&finished]
    );
    assert!(metric(
        &again,
        "passgate_call_outcomes_total{outcome=\"interrupted\"} 1\n"
    ));
}

#[test]
fn a_store_outage_loses_no_audit_row_and_readiness_and_options_follow_it() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    // The node starts while its database is down, and waits for it.
    pg.down();
    let url = pg.url();
    let agent = Agent::start(&[("PASSGATE_DATABASE__URL", url.as_str())]);
    let (code, body) = get(agent.http, "/readyz");
    assert_eq!(code, 503, "{body}");
    wait_for("the refusal named", Duration::from_secs(10), || {
        get(agent.http, "/readyz").1.contains("store: refused")
    });
    assert_eq!(get(agent.http, "/livez").0, 200, "alive while not ready");
    assert_eq!(get(agent.http, "/healthz").0, 503, "/healthz is /readyz");
    assert_eq!(options_status(agent.sip), Some(503));
    pg.up();
    wait_for(
        "ready once the store answers",
        Duration::from_secs(15),
        || get(agent.http, "/readyz").0 == 200,
    );
    assert_eq!(options_status(agent.sip), Some(200));

    let mut calls = Vec::new();
    for _ in 0..5 {
        calls.push(short_call(agent.sip));
    }
    pg.down();
    wait_for("not ready, and why", Duration::from_secs(15), || {
        let (code, body) = get(agent.http, "/readyz");
        code == 503 && body.contains("store: refused")
    });
    assert_eq!(options_status(agent.sip), Some(503));
    // Calls still taken (a caller sent straight here) complete; their rows wait.
    for _ in 0..5 {
        calls.push(short_call(agent.sip));
    }
    wait_for("rows waiting in the spool", Duration::from_secs(10), || {
        let text = get(agent.http, "/metrics").1;
        !text.contains("passgate_audit_spool_rows 0\n")
            && text.contains("passgate_calls_settling 0\n")
    });
    wait_for(
        "the writer to meet the outage",
        Duration::from_secs(15),
        || agent.log_text().contains("could not store audit rows"),
    );
    pg.up();
    wait_for("ready again", Duration::from_secs(15), || {
        get(agent.http, "/readyz").0 == 200
    });
    assert_eq!(options_status(agent.sip), Some(200));
    wait_for(
        "the spool emptied into the store",
        Duration::from_secs(15),
        || metric(&agent, "passgate_audit_spool_rows 0\n"),
    );
    let stored = audit_by_call(&url);
    for call in &calls {
        let rows = &stored[call];
        assert_eq!(count(rows, "call_started"), 1, "{call}: {rows:?}");
        assert_eq!(count(rows, "call_ended"), 1, "{call}: {rows:?}");
    }
    let log = agent.log_text();
    assert!(
        log.contains("could not store audit rows")
            && (log.contains("cause=refused") || log.contains("cause=connection lost")),
        "the outage is logged with its cause:\n{}",
        log.lines()
            .filter(|l| l.contains("store"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
