//! Two Passgate nodes behind Kamailio's dispatcher (`tests/kamailio/dispatcher.cfg`)
//! sharing one PostgreSQL, all under one SIPp load: one node is killed with
//! SIGKILL and new calls fail over; it comes back, and the other is drained
//! with SIGTERM without a failed call; PostgreSQL stops for 20 s, the node
//! says it is not ready (`/readyz` and OPTIONS 503), the dispatcher takes it
//! out (new calls get its 503) until the store is back, and the calls in
//! progress complete; in the end every answered call has exactly one start
//! and one end row in the shared audit trail.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use support::cli::passgate;
use support::kamailio::Kamailio;
use support::postgres::PgCluster;
use support::udp_caller::{options_status, options_status_line};
use support::{free_media_port, free_port, workspace, Agent};

/// Calls per second SIPp offers; each lasts 1.5 s.
const RATE: u32 = 10;
/// Seconds of load: the kill, the drain and the store outage all fall in it.
const LOAD_SECS: u32 = 45;
/// How long PostgreSQL is stopped.
const OUTAGE: Duration = Duration::from_secs(20);

fn node(database: &str, port: u16, spool: &std::path::Path) -> Agent {
    let listen = format!("127.0.0.1:{port}");
    Agent::start(&[
        ("PASSGATE_DATABASE__URL", database),
        ("PASSGATE_DATABASE__AUDIT_SPOOL", spool.to_str().unwrap()),
        ("PASSGATE_SIP__LISTEN", listen.as_str()),
        ("PASSGATE_LOG__LEVEL", "info"),
        ("PASSGATE_CALL__DRAIN_TIMEOUT_SECS", "10"),
    ])
}

fn ready(agent: &Agent) -> bool {
    readyz(agent).starts_with("HTTP/1.1 200")
}

/// `/readyz`'s whole answer.
fn readyz(agent: &Agent) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(agent.http) else {
        return String::new();
    };
    let _ = write!(
        s,
        "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

fn metric(agent: &Agent, name: &str) -> u64 {
    agent.metric(name) as u64
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sum of the last values of SIPp's `-trace_counts` columns (per
/// scenario step: `3_200_Unexp` is what came instead of the INVITE's 200)
/// ending with any of `suffixes`, over steps `steps`.
fn counts(dir: &std::path::Path, steps: std::ops::RangeInclusive<u32>, suffixes: &[&str]) -> u64 {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with("_counts.csv"))
        .expect("SIPp's counts file");
    let csv = std::fs::read_to_string(file.path()).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap_or("").split(';').collect();
    steps
        .flat_map(|step| {
            header
                .iter()
                .filter(move |h| {
                    h.split_once('_').is_some_and(|(n, rest)| {
                        n == step.to_string() && suffixes.iter().any(|s| rest.ends_with(s))
                    })
                })
                .map(|h| stat(&csv, h))
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The last value of a column of SIPp's statistics file.
fn stat(csv: &str, column: &str) -> u64 {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = lines.next_back().unwrap_or("").split(';').collect();
    let i = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    last[i].trim().parse().unwrap_or(0)
}

#[test]
fn a_killed_node_fails_over_a_drained_node_fails_no_call_and_every_call_has_an_end() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let spool_a = dir.path().join("a.spool");
    let mut a = node(&url, port_a, &spool_a);
    let mut b = node(&url, port_b, &dir.path().join("b.spool"));
    wait_for("both nodes ready", Duration::from_secs(20), || {
        ready(&a) && ready(&b)
    });
    let proxy = Kamailio::dispatcher(&[a.sip, b.sip]);

    let stats = dir.path().join("stats.csv");
    let target: SocketAddr = proxy.sip;
    let sipp_port = free_port().to_string();
    let media_port = free_media_port().to_string();
    let stats_path = stats.clone();
    let calls = (RATE * LOAD_SECS).to_string();
    let sipp_dir = dir.path().to_path_buf();
    let scenario = workspace().join("tests/sipp/routed_caller_bye.xml");
    let load_started = Instant::now();
    let load = std::thread::spawn(move || {
        Command::new("sipp")
            // -trace_counts writes its file into the working directory.
            .current_dir(sipp_dir)
            .arg("-sf")
            .arg(scenario)
            .args(["-r", &RATE.to_string(), "-m", &calls, "-l", "100"])
            // A call whose next message does not come within 3 s fails: a
            // new call must reach a live node within that.
            .args(["-recv_timeout", "3000", "-timeout", "90", "-nostdin"])
            .args(["-i", "127.0.0.1", "-p", &sipp_port, "-mp", &media_port])
            .args(["-trace_stat", "-trace_counts", "-fd", "1", "-stf"])
            .arg(&stats_path)
            .arg(target.to_string())
            .output()
            .expect("sipp")
    });

    std::thread::sleep(Duration::from_secs(5));
    a.kill();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    // Back on the same address, with the same spool.
    let a2 = node(&url, port_a, &spool_a);
    wait_for("the restarted node ready", Duration::from_secs(15), || {
        ready(&a2)
    });
    // Time for the dispatcher's probe to take it back before the other drains.
    std::thread::sleep(Duration::from_secs(3));
    b.terminate();
    let drained = b.wait_exit(Duration::from_secs(20));

    // The store goes away under load: the node says it is not ready, its
    // probe answers 503, and the dispatcher stops sending it calls (its own
    // 503) until the store is back; the calls it has complete, their rows
    // waiting in its spool.
    pg.down();
    let outage = Instant::now();
    let outage_at = load_started.elapsed();
    wait_for(
        "/readyz 503 without the store",
        Duration::from_secs(10),
        || readyz(&a2).starts_with("HTTP/1.1 503"),
    );
    let why = readyz(&a2);
    assert!(why.contains("store:"), "{why}");
    assert_eq!(options_status(a2.sip), Some(503), "OPTIONS follows /readyz");
    wait_for(
        "the dispatcher to take the node out",
        Duration::from_secs(10),
        || options_status_line(proxy.sip).is_some_and(|l| l.contains("503 No node available")),
    );
    let taken_out = outage.elapsed();
    let mut spooled = 0;
    while outage.elapsed() < OUTAGE {
        spooled = spooled.max(metric(&a2, "passgate_audit_spool_rows"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        load_started.elapsed() < Duration::from_secs(u64::from(LOAD_SECS)),
        "the outage ended after the load"
    );
    pg.up();
    wait_for(
        "/readyz 200 with the store back",
        Duration::from_secs(15),
        || ready(&a2),
    );
    assert_eq!(options_status(a2.sip), Some(200), "OPTIONS follows /readyz");
    wait_for(
        "the dispatcher to take the node back",
        Duration::from_secs(15),
        || options_status_line(proxy.sip).is_some_and(|l| l.starts_with("SIP/2.0 200")),
    );
    let back_at = load_started.elapsed();
    eprintln!(
        "store outage from {outage_at:?} to {back_at:?} of the load: the dispatcher took the node out after {taken_out:?}; {spooled} rows waited in the spool"
    );
    assert!(
        spooled > 0,
        "the rows of calls ended in the outage waited in the spool"
    );

    let out = load.join().unwrap();
    let csv = std::fs::read_to_string(&stats).unwrap_or_default();
    let (ok, failed) = (stat(&csv, "SuccessfulCall(C)"), stat(&csv, "FailedCall(C)"));
    // Calls refused before an answer (the proxy's 503 while no node was
    // ready), and calls that failed once answered (their BYE unanswered).
    let refused = counts(dir.path(), 0..=3, &["_Unexp", "_Timeout"]);
    let failed_answered = counts(dir.path(), 4..=7, &["_Unexp", "_Timeout"]);

    let complete = |rows: &HashMap<String, Vec<(String, String)>>| {
        rows.values()
            .all(|r| r.iter().filter(|e| e.0 == "call_ended").count() == 1)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rows = audit(&url);
    while !complete(&rows) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        rows = audit(&url);
    }
    let interrupted = rows
        .values()
        .filter(|r| r.iter().any(|e| e.1 == "interrupted"))
        .count() as u64;
    let summary = format!(
        "{ok} calls succeeded, {failed} failed ({refused} refused before an answer, \
         {failed_answered} after it), {interrupted} closed as interrupted, {} in the audit trail; \
         drain exit {drained:?}, {} s after the kill\n--- sipp ---\n{}\n--- kamailio ---\n{}",
        rows.len(),
        killed.elapsed().as_secs(),
        String::from_utf8_lossy(&out.stderr),
        proxy
            .log_text()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARNING"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("{summary}");
    assert_eq!(drained, Some(0), "the drained node exits 0: {summary}");
    assert_eq!(ok + failed, u64::from(RATE * LOAD_SECS), "{summary}");
    assert!(
        refused + failed_answered >= failed,
        "a failure neither before nor after the answer: {summary}"
    );
    // Only the calls the killed node had in progress may fail once
    // answered: every new call reached a live node within 3 s, the drain
    // failed none, and the store outage none in progress.
    assert!(
        failed_answered <= interrupted + 2,
        "more answered calls failed than the killed node had in progress: {summary}"
    );
    // Refused only while no node was ready: the outage and the probe's lag.
    let outage_calls = u64::from(RATE) * (OUTAGE.as_secs() + 4);
    assert!(
        refused <= outage_calls,
        "calls refused outside the store outage: {summary}"
    );
    assert!(
        refused >= u64::from(RATE) * 10,
        "the dispatcher kept sending calls to a node without its store: {summary}"
    );
    for (call, events) in &rows {
        let count = |event: &str| events.iter().filter(|e| e.0 == event).count();
        assert_eq!(count("call_started"), 1, "{call}: {events:?}");
        assert_eq!(count("call_ended"), 1, "{call}: {events:?}");
    }
    assert!(
        rows.len() as u64 >= ok,
        "every successful call is in the audit trail: {summary}"
    );
    drop(a2);
}

/// Call id → [(event, outcome)] of every call's rows in the store.
fn audit(database: &str) -> HashMap<String, Vec<(String, String)>> {
    let mut calls: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for line in passgate(database, &["audit", "--json", "--limit", "100000"]).lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let call = row["call_id"].as_str().unwrap_or("-");
        if call == "-" {
            continue;
        }
        calls.entry(call.to_string()).or_default().push((
            row["event"].as_str().unwrap_or("").to_string(),
            row["outcome"].as_str().unwrap_or("-").to_string(),
        ));
    }
    calls
}
