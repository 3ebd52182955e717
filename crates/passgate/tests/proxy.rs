//! Passgate behind a real record-routing proxy: Kamailio with the stock
//! configuration's routing (`record_route()` on initial INVITEs,
//! `loose_route()` for in-dialog requests, 404 for one that names no route
//! through it) and SIPp callers that honour Record-Route. Every in-dialog
//! request either way must go through the proxy, which it only does when
//! Passgate's 200 carries the proxy's Record-Route (RFC 3261 §12.1.1).

mod support;

use std::time::Duration;

use support::kamailio::Kamailio;
use support::{Agent, SippOptions, SippRun};

/// Runs `tests/sipp/<scenario>.xml` through the proxy, from `dir` if given.
fn call_through(proxy: &Kamailio, scenario: &str, dir: Option<&std::path::Path>) -> SippRun {
    support::sipp_with(
        scenario,
        proxy.sip,
        &SippOptions {
            dir,
            timeout_secs: Some(60),
            ..Default::default()
        },
    )
}

/// The messages SIPp sent, each as text.
fn sent(run: &SippRun) -> Vec<&str> {
    run.messages
        .split("-----------------------------------------------")
        .filter(|block| block.contains("message sent"))
        .collect()
}

/// The message whose first line starts with `start` ("BYE ", "SIP/2.0 200"),
/// with `cseq` in its CSeq header.
fn find<'a>(messages: &[&'a str], start: &str, cseq: &str) -> &'a str {
    messages
        .iter()
        .copied()
        .find(|m| {
            first_line(m).is_some_and(|first| first.starts_with(start))
                && m.lines().any(|l| l.trim() == format!("CSeq: {cseq}"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no {start} with CSeq {cseq} among:\n{}",
                messages.join("\n")
            )
        })
}

/// The start line of a message in SIPp's trace: the first line after the
/// "… message sent/received …" line.
fn first_line(block: &str) -> Option<&str> {
    block
        .lines()
        .skip_while(|l| !l.contains("message sent") && !l.contains("message received"))
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty())
}

fn header_lines<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines()
        .map(str::trim)
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
        .collect()
}

/// The 200 to the INVITE carries the proxy's Record-Route, and every request
/// the caller sent in the dialog named the proxy in its Route.
fn assert_routed_by(proxy: &Kamailio, run: &SippRun, in_dialog: &[(&str, &str)]) {
    let received = run.received();
    let ok = find(&received, "SIP/2.0 200", "1 INVITE");
    let record_route = header_lines(ok, "Record-Route");
    assert!(
        record_route.len() == 1
            && record_route[0].starts_with(&format!("Record-Route: <{};lr", proxy.uri())),
        "the 200 carries the proxy's Record-Route: {ok}"
    );
    let sent = sent(run);
    for (method, cseq) in in_dialog {
        let request = find(&sent, &format!("{method} "), cseq);
        let route = header_lines(request, "Route");
        assert!(
            route.len() == 1 && route[0].starts_with(&format!("Route: <{};lr", proxy.uri())),
            "the {method} is routed through the proxy: {request}"
        );
    }
    assert!(
        !proxy.log_text().contains("no route for in-dialog"),
        "the proxy refused an in-dialog request:\n{}",
        proxy.log_text()
    );
}

/// A request from Passgate arrived through the proxy: the proxy's Via on top.
fn assert_came_through(proxy: &Kamailio, request: &str) {
    // One Via header per value, or SIPp's one line of them comma-joined.
    let vias: Vec<&str> = header_lines(request, "Via")
        .into_iter()
        .flat_map(|l| l["Via:".len()..].split(','))
        .map(str::trim)
        .collect();
    assert!(
        vias.len() == 2 && vias[0].starts_with(&format!("SIP/2.0/UDP {};branch=", proxy.sip)),
        "the request came through the proxy: {request}"
    );
}

fn audit(agent: &Agent) -> String {
    support::cli::passgate(&agent.database, &["audit", "--json"])
}

#[test]
fn a_call_through_the_proxy_is_answered_and_ended_by_the_callers_bye() {
    let agent = Agent::start(&[]);
    let proxy = Kamailio::start(agent.sip);
    let run = call_through(&proxy, "routed_caller_bye", None);
    run.assert_ok(&format!(
        "a call through the proxy\n--- kamailio ---\n{}\n--- passgate ---\n{}",
        proxy.log_text(),
        agent.log_text()
    ));
    assert_routed_by(&proxy, &run, &[("ACK", "1 ACK"), ("BYE", "2 BYE")]);
    let ok = find(&run.received(), "SIP/2.0 200", "2 BYE");
    assert!(ok.contains("SIP/2.0 200 OK"), "{ok}");
    let log = agent.wait_log(
        &["call confirmed (ACK)", "call finished"],
        Duration::from_secs(10),
    );
    assert!(
        log.contains("call confirmed (ACK)"),
        "the ACK reached Passgate: {log}"
    );
    assert!(log.contains("call ended reason=RemoteBye"), "{log}");
    let audit = audit(&agent);
    assert!(audit.contains("\"call_started\""), "{audit}");
    assert!(
        audit.contains("\"caller_hung_up\""),
        "the call's end is in the audit trail: {audit}"
    );
}

#[test]
fn hold_and_resume_by_reinvite_through_the_proxy() {
    let agent = Agent::start(&[]);
    let proxy = Kamailio::start(agent.sip);
    let run = call_through(&proxy, "routed_hold_resume", None);
    run.assert_ok(&format!(
        "hold and resume through the proxy\n--- kamailio ---\n{}\n--- passgate ---\n{}",
        proxy.log_text(),
        agent.log_text()
    ));
    assert_routed_by(
        &proxy,
        &run,
        &[
            ("ACK", "1 ACK"),
            ("INVITE", "2 INVITE"),
            ("ACK", "2 ACK"),
            ("INVITE", "3 INVITE"),
            ("ACK", "3 ACK"),
            ("BYE", "4 BYE"),
        ],
    );
    let received = run.received();
    for (cseq, direction) in [("2 INVITE", "a=recvonly"), ("3 INVITE", "a=sendrecv")] {
        let ok = find(&received, "SIP/2.0 200", cseq);
        assert!(ok.contains(direction), "{cseq} answered {direction}: {ok}");
    }
    let log = agent.wait_log(
        &["direction=RecvOnly", "call ended reason=RemoteBye"],
        Duration::from_secs(10),
    );
    assert!(log.contains("direction=RecvOnly"), "{log}");
    assert!(log.contains("call ended reason=RemoteBye"), "{log}");
}

#[test]
fn the_verified_seed_call_through_the_proxy_is_referred_and_passgate_leaves_by_the_route() {
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    support::cli::add_nelson(&agent.database);
    let proxy = Kamailio::start(agent.sip);
    let dir = tempfile::tempdir().unwrap();
    support::cli::spoken_as("하얀 말", dir.path(), "passphrase.wav");
    let run = call_through(&proxy, "routed_seed_verified", Some(dir.path()));
    run.assert_ok(&format!(
        "the verified call through the proxy\n--- kamailio ---\n{}\n--- passgate ---\n{}",
        proxy.log_text(),
        agent.log_text()
    ));
    assert_routed_by(
        &proxy,
        &run,
        &[
            ("ACK", "1 ACK"),
            ("INFO", "2 INFO"),
            ("NOTIFY", "3 NOTIFY"),
            ("NOTIFY", "4 NOTIFY"),
        ],
    );
    let received = run.received();
    let refer = find(&received, "REFER ", "1 REFER");
    assert_came_through(&proxy, refer);
    assert!(
        refer.contains(
            "Refer-To: <sip:agents@127.0.0.1?X-Passgate-Auth=verified&X-Passgate-Account=nelson>"
        ),
        "{refer}"
    );
    let sent = sent(&run);
    let notify = find(&sent, "NOTIFY ", "4 NOTIFY");
    assert!(
        notify.contains("Subscription-State: terminated") && notify.contains("SIP/2.0 200 OK"),
        "{notify}"
    );
    for cseq in ["3 NOTIFY", "4 NOTIFY"] {
        assert!(find(&received, "SIP/2.0 200", cseq).contains("200 OK"));
    }
    let bye = find(&received, "BYE ", "2 BYE");
    assert_came_through(&proxy, bye);
    let log = agent.wait_log(
        &["transfer completed", "call finished"],
        Duration::from_secs(10),
    );
    assert!(log.contains("transfer completed"), "{log}");
    let audit = audit(&agent);
    for event in ["\"authenticated\"", "\"transferred\""] {
        assert!(audit.contains(event), "{event} missing: {audit}");
    }
}

#[test]
fn passgates_own_bye_reaches_the_caller_through_the_proxy() {
    let agent = Agent::start(&[("PASSGATE_CALL__MAX_DURATION_SECS", "2")]);
    let proxy = Kamailio::start(agent.sip);
    let run = call_through(&proxy, "routed_agent_hangup", None);
    run.assert_ok(&format!(
        "Passgate hangs up through the proxy\n--- kamailio ---\n{}\n--- passgate ---\n{}",
        proxy.log_text(),
        agent.log_text()
    ));
    assert_routed_by(&proxy, &run, &[("ACK", "1 ACK")]);
    let bye = find(&run.received(), "BYE ", "1 BYE");
    assert_came_through(&proxy, bye);
    // The caller's 200 goes back the way the BYE came: through the proxy.
    let ok = find(&sent(&run), "SIP/2.0 200", "1 BYE");
    assert_came_through(&proxy, ok);
    let log = agent.wait_log(&["call finished"], Duration::from_secs(10));
    assert!(
        log.contains("call confirmed (ACK)"),
        "the ACK reached Passgate: {log}"
    );
    assert!(
        log.contains("maximum call duration reached; hanging up")
            && log.contains("outcome=agent_hung_up"),
        "{log}"
    );
    assert!(!log.contains("no ACK for our 2xx"), "{log}");
}

/// Runs the session-timer scenario `scenario` through a proxy in front of
/// an agent whose unknown callers wait at the offer to type their number for
/// longer than the session lasts, so only the session timer ends a call.
/// Returns the agent, the proxy, the run (checked clean, `what` naming the
/// scenario's promise) and how long the run took.
fn session_timer_call(scenario: &str, what: &str) -> (Agent, Kamailio, SippRun, Duration) {
    let agent = Agent::start(&[("PASSGATE_FLOW__OFFER__TIMEOUT", "120s")]);
    let proxy = Kamailio::start(agent.sip);
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let run = support::sipp_with(
        scenario,
        proxy.sip,
        &SippOptions {
            dir: Some(dir.path()),
            timeout_secs: Some(100),
            ..Default::default()
        },
    );
    let took = started.elapsed();
    run.assert_ok(&format!(
        "{what}\n--- kamailio ---\n{}\n--- passgate ---\n{}",
        proxy.log_text(),
        agent.log_text()
    ));
    (agent, proxy, run, took)
}

#[test]
fn a_session_timer_the_caller_does_not_refresh_ends_with_our_bye_through_the_proxy() {
    let (agent, proxy, run, took) = session_timer_call(
        "routed_session_timer",
        "the 200 agrees to 90 s with the caller refreshing, and the BYE says why",
    );
    // 90 s less the lesser of 32 s and a third: the BYE 60 s after the 200.
    assert!(
        took >= Duration::from_secs(59) && took < Duration::from_secs(75),
        "the BYE came {took:?} after the INVITE"
    );
    let bye = find(&run.received(), "BYE ", "1 BYE");
    assert_came_through(&proxy, bye);
    let log = agent.wait_log(&["call finished"], Duration::from_secs(10));
    assert!(
        log.contains("the caller did not refresh the session (RFC 4028)")
            && log.contains("outcome=session_expired"),
        "{log}"
    );
}

/// The SDP `o=` line of a message.
fn origin_line(message: &str) -> Option<&str> {
    message.lines().map(str::trim).find(|l| l.starts_with("o="))
}

#[test]
fn we_refresh_a_session_by_reinvite_through_the_proxy_when_the_caller_takes_no_update() {
    // The caller's Allow lacks UPDATE: the refresh is a re-INVITE offering
    // the session as it is, answered and ACKed through the proxy.
    let (agent, proxy, run, took) = session_timer_call(
        "routed_session_reinvite_refresh",
        "the 200 agrees to 90 s with Passgate refreshing, and its re-INVITE comes",
    );
    assert!(
        took >= Duration::from_secs(47) && took < Duration::from_secs(60),
        "the re-INVITE came {took:?} after the INVITE, less 3 s"
    );
    let received = run.received();
    let reinvite = find(&received, "INVITE ", "1 INVITE");
    assert_came_through(&proxy, reinvite);
    // Our last SDP again, its o= line (and version) unchanged (RFC 3264 §8).
    let ok = find(&received, "SIP/2.0 200", "1 INVITE");
    assert_eq!(origin_line(reinvite), origin_line(ok), "{reinvite}");
    assert!(origin_line(ok).is_some(), "{ok}");
    let ack = find(&received, "ACK ", "1 ACK");
    assert_came_through(&proxy, ack);
    let log = agent.wait_log(&["call finished"], Duration::from_secs(10));
    // The caller lacks the extension: its 200 states no interval, so the
    // session goes on without one (RFC 4028 §7.2).
    assert!(
        log.contains("refreshing the session by re-INVITE")
            && log.contains("states no interval")
            && log.contains("outcome=caller_hung_up")
            && !log.contains("session timer expired"),
        "{log}"
    );
}

#[test]
fn we_refresh_a_session_a_proxy_asked_for_by_update_through_the_proxy() {
    // The caller lacks session timers but takes UPDATE, and its INVITE
    // carries a 90 s interval (as a proxy inserts one): Passgate refreshes.
    let (agent, proxy, run, took) = session_timer_call(
        "routed_session_refresh",
        "the 200 agrees to 90 s with Passgate refreshing, and its UPDATE comes",
    );
    // Half the interval after the 200, then 3 s until the caller's BYE.
    assert!(
        took >= Duration::from_secs(47) && took < Duration::from_secs(60),
        "the UPDATE came {took:?} after the INVITE, less 3 s"
    );
    let update = find(&run.received(), "UPDATE ", "1 UPDATE");
    assert_came_through(&proxy, update);
    let log = agent.wait_log(&["call finished"], Duration::from_secs(10));
    assert!(
        log.contains("outcome=caller_hung_up") && !log.contains("session timer expired"),
        "{log}"
    );
}
