//! Dialogs over TLS against pjsip (pjsua2, `tests/pjsua/caller.py`) and the
//! real binary: our Contact is `sips:` when the caller's Request-URI is, and
//! pjsip's re-INVITEs and BYE reach us through it; an INVITE without SDP gets
//! our `RTP/SAVP` offer and SRTP flows both ways once the ACK answers it;
//! and when the caller's TLS connection has closed, our REFER and BYE go
//! over a new connection to the caller's Contact, whose certificate must
//! chain to the trunk CAs (an untrusted one gets nothing).
//!
//! Certificates are made by each test (`support/pki.rs`). Needs pjsua2,
//! sipp and openssl, as `secure_trunk.rs` does.

mod support;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use support::pjsua::{pjsua, tail};
use support::pki::Pki;
use support::transfer_target::TransferTarget;
use support::{free_port, metric_in, Agent};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Passgate with a TLS listener (certificate from `pki`) plus `env`.
fn tls_agent(pki: &Pki, env: &[(&str, &str)]) -> (Agent, u16) {
    pki.issue("server", "ec", "serverAuth");
    let tls_port = free_port();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let port = tls_port.to_string();
    let mut all = vec![
        ("PASSGATE_SIP__TLS__CERT", cert.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__KEY", key.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__PORT", port.as_str()),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ];
    all.extend_from_slice(env);
    (Agent::start(&all), tls_port)
}

fn tls_options(pki: &Pki) -> Vec<String> {
    vec!["--tls-ca".into(), pki.path("ca.pem").display().to_string()]
}

#[test]
fn a_sips_request_uri_gets_a_sips_contact_and_pjsips_requests_reach_it() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (agent, tls_port) = tls_agent(&pki, &[("PASSGATE_FLOW__OFFER__TIMEOUT", "60s")]);
    let run = pjsua(
        &format!("sips:passgate@127.0.0.1:{tls_port}"),
        dir.path(),
        &tls_options(&pki),
        &[
            "wait_confirmed:20".into(),
            "hold".into(),
            "wait_media:10".into(),
            "unhold".into(),
            "wait_media:10".into(),
            "hangup".into(),
            "until_disconnected:10".into(),
        ],
    );
    let story = format!(
        "{}\n--- passgate ---\n{}",
        run.story(),
        tail(&agent.log_text(), 4000)
    );
    assert!(run.code == Some(0), "{story}");
    let oks = run.received("Response msg 200/INVITE");
    assert!(
        oks.len() >= 3,
        "the INVITE and both re-INVITEs answered: {story}"
    );
    for ok in &oks {
        assert!(
            ok.contains(&format!("Contact: <sips:passgate@127.0.0.1:{tls_port}>")),
            "{ok}"
        );
    }
    // pjsip's re-INVITEs and BYE went to that Contact, over TLS.
    let bye_ok = run.received("Response msg 200/BYE");
    assert!(bye_ok.first().is_some_and(|m| m.contains("TLS")), "{story}");
    let log = agent.wait_log(&["call ended"], Duration::from_secs(5));
    assert!(log.contains("call ended"), "{log}");
}

#[test]
fn a_delayed_offer_gets_our_srtp_offer_and_srtp_flows_both_ways() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (agent, tls_port) = tls_agent(
        &pki,
        &[
            ("PASSGATE_RTP__SRTP", "required"),
            ("PASSGATE_FLOW__OFFER__TIMEOUT", "60s"),
        ],
    );
    let mut options = tls_options(&pki);
    options.extend(["--srtp".into(), "mandatory".into(), "--no-sdp-offer".into()]);
    let run = pjsua(
        &format!("sip:passgate@127.0.0.1:{tls_port};transport=tls"),
        dir.path(),
        &options,
        &[
            "wait_confirmed:20".into(),
            "wait_rtp:100:20".into(),
            "hangup".into(),
            "until_disconnected:10".into(),
        ],
    );
    let story = format!(
        "{}\n--- passgate ---\n{}",
        run.story(),
        tail(&agent.log_text(), 4000)
    );
    assert!(run.code == Some(0), "{story}");
    let invite = run
        .sip_log
        .split("--end msg--")
        .find(|b| b.contains("TX ") && b.contains("Request msg INVITE"))
        .unwrap_or_else(|| panic!("no INVITE: {story}"));
    assert!(!invite.contains("m=audio"), "a delayed offer: {invite}");
    let ok = run.received("Response msg 200/INVITE");
    let ok = ok.first().unwrap_or_else(|| panic!("no 200: {story}"));
    assert!(ok.contains(" RTP/SAVP "), "{ok}");
    assert!(
        ok.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{ok}"
    );
    // pjsip opened what we sent with the key we offered.
    let rtp = run.of("rtp");
    assert!(
        rtp.first().and_then(|e| e["rx_total"].as_u64()) >= Some(100),
        "{story}"
    );
    // And we opened what pjsip sent with the key its ACK answered with.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = agent.metrics_text();
        if metric_in(&stats, "passgate_rtp_packets_received_total") > 0.0
            || Instant::now() > deadline
        {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The call lasts about the 2 s pjsip waits for 100 of ours.
    assert!(
        metric_in(&stats, "passgate_rtp_packets_received_total") >= 50.0,
        "{stats}"
    );
    assert!(
        stats.contains("passgate_srtp_dropped_total{why=\"auth_failed\"} 0\n"),
        "{stats}"
    );
}

/// A TCP relay from a port of its own to `to`, so that a test can cut the
/// caller's connection under both ends.
struct Relay {
    port: u16,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let kept = streams.clone();
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let Ok(outbound) = TcpStream::connect(to) else {
                    continue;
                };
                let (Ok(a), Ok(b)) = (inbound.try_clone(), outbound.try_clone()) else {
                    continue;
                };
                if let Ok(mut kept) = kept.lock() {
                    kept.extend([a, b]);
                }
                pipe(&inbound, &outbound);
                pipe(&outbound, &inbound);
            }
        });
        Relay { port, streams }
    }

    /// Closes every relayed connection, both sides.
    fn cut(&self) {
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// Cuts the relay once Passgate has answered, then says so in `signal`.
fn cut_when_answered(agent: &Agent, relay: Relay, signal: PathBuf) {
    let log = agent.log.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(" answered rtp_port=")
            {
                std::thread::sleep(Duration::from_millis(500));
                relay.cut();
                let _ = std::fs::write(&signal, "");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// A call from an unknown number through the relay, which is cut once the
/// call is up: Passgate's REFER (to the representative, after the offer's
/// timeout) and BYE must then find their own way to pjsip's Contact.
/// `pjsua_cert`: the directory and name of the certificate pjsip presents.
fn call_then_cut(
    pki: &Pki,
    dir: &Path,
    pjsua_cert: (&Path, &str),
) -> (Agent, support::pjsua::PjsuaRun) {
    let target = TransferTarget::start();
    let representative = target.uri("representative");
    let trunk_ca = pki.path("ca.pem");
    let (agent, tls_port) = tls_agent(
        pki,
        &[
            ("PASSGATE_SIP__TLS__TRUNK_CA", trunk_ca.to_str().unwrap()),
            ("PASSGATE_FLOW__OFFER__TIMEOUT", "1s"),
            ("PASSGATE_TRANSFER__REPRESENTATIVE", representative.as_str()),
        ],
    );
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], tls_port)));
    let relay_port = relay.port;
    let cut = dir.join("cut");
    cut_when_answered(&agent, relay, cut.clone());
    let mut options = tls_options(pki);
    options.extend([
        "--from".to_string(),
        "+15559990123".to_string(),
        // pjsip's listener, named in its Contact: where Passgate reconnects.
        "--tls-port".to_string(),
        free_port().to_string(),
        "--tls-cert".to_string(),
        pjsua_cert
            .0
            .join(format!("{}.pem", pjsua_cert.1))
            .display()
            .to_string(),
        "--tls-key".to_string(),
        pjsua_cert
            .0
            .join(format!("{}.key", pjsua_cert.1))
            .display()
            .to_string(),
    ]);
    let run = pjsua(
        &format!("sip:passgate@127.0.0.1:{relay_port};transport=tls"),
        dir,
        &options,
        &[
            "wait_confirmed:20".into(),
            format!("wait_file:{}:20", cut.display()),
            "wait_refer:30".into(),
            "until_disconnected:30".into(),
        ],
    );
    drop(target);
    (agent, run)
}

#[test]
fn with_the_callers_connection_gone_refer_and_bye_open_a_verified_one_to_its_contact() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    // pjsip's TLS listener serves this certificate, from the trunk CA.
    pki.issue("trunk", "ec", "serverAuth,clientAuth");
    let (agent, run) = call_then_cut(&pki, dir.path(), (dir.path(), "trunk"));
    let log = agent.wait_log(&["call ended"], Duration::from_secs(10));
    let invite = run
        .sip_log
        .split("--end msg--")
        .find(|b| b.contains("TX ") && b.contains("Request msg INVITE"))
        .unwrap_or("");
    let story = format!(
        "{}\n--- pjsip's INVITE ---\n{invite}\n--- passgate ---\n{}",
        run.story(),
        tail(&log, 6000)
    );
    assert!(run.code == Some(0), "{story}");
    assert!(
        log.contains("TLS connection gone; opening one to the dialog's peer")
            && log.contains("TLS connection opened to the dialog's peer"),
        "{story}"
    );
    let refer = run.of("refer");
    assert!(
        refer
            .first()
            .and_then(|e| e["refer_to"].as_str())
            .is_some_and(|r| r.contains("representative@")),
        "{story}"
    );
    // The REFER and the BYE after the transfer came in over TLS, on the
    // connection Passgate opened to pjsip's listener.
    let refer_in = run.received("Request msg REFER");
    assert!(
        refer_in.first().is_some_and(|m| m.contains("TLS")),
        "{story}"
    );
    assert!(
        run.of("request_in")
            .iter()
            .any(|e| e["call"] == "main" && e["method"] == "BYE"),
        "{story}"
    );
}

#[test]
fn a_contact_whose_certificate_the_trunk_cas_do_not_trust_gets_nothing() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    // A certificate fit for a server, from a CA that is not the trunk CA.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    Pki::new(&elsewhere).issue("trunk", "ec", "serverAuth,clientAuth");
    let (agent, run) = call_then_cut(&pki, dir.path(), (&elsewhere, "trunk"));
    let log = agent.wait_log(
        &["security: TLS connection to the dialog's peer refused"],
        Duration::from_secs(10),
    );
    let story = format!("{}\n--- passgate ---\n{}", run.story(), tail(&log, 6000));
    assert!(
        log.lines().any(
            |l| l.contains("security: TLS connection to the dialog's peer refused")
                && l.contains("invalid peer certificate")
        ),
        "{story}"
    );
    assert!(run.of("refer").is_empty(), "{story}");
    let handshakes = agent.metric("passgate_sip_tcp_closed_total{reason=\"tls_handshake\"}");
    assert!(handshakes >= 1.0, "{story}");
}
