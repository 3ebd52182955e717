//! Passgate against a SIP stack that was not written to match it: pjsip
//! (pjsua2 2.15.1, PyPI `pjsua2-python`) places the calls through
//! `tests/pjsua/caller.py`, SIPp's built-in UAS is the transfer target, and
//! the real binary with the Korean model answers. pjsip brings its own SDP
//! (`a=rtcp`, `a=ssrc`, telephone-event 120), RFC 4733 keys, its own hold
//! (`a=sendonly` re-INVITE), a re-offer with a new codec and a new RTP port,
//! and it acts on the REFER: it calls the target and sends the NOTIFYs.
//!
//! Needs python3 with pjsua2 (`scripts/ensure-deps.sh` installs it), `sipp`,
//! `espeak-ng`, `sox`, and `tshark` run as root for the media checks.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::pjsua::{tail, PjsuaRun};
use support::transfer_target::TransferTarget;
use support::{free_port, Agent, Capture, CapturedRtp};

/// One call at a time: each test loads the speech model in its own agent,
/// and pjsip's steps are timed; on a small shared machine they would
/// otherwise starve each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Passgate's log line when it starts listening for the passphrase (after
/// the beep): caller.py starts speaking then.
const LISTENING: &str = "}: listening vocabulary=";

/// Passgate's log line that says the passphrase was accepted: caller.py
/// stops speaking and presses 0 once it is there.
const ACCEPTED: &str = "playing prompt=WelcomeAfterPassphrase";

/// Runs caller.py from `dir` against the agent, as Nelson's number,
/// offering `codecs` (caller.py's `--codecs`).
fn pjsua(agent: &Agent, dir: &Path, codecs: &str, steps: &[String]) -> PjsuaRun {
    let options = ["--codecs".to_string(), codecs.to_string()];
    support::pjsua::pjsua(&format!("sip:passgate@{}", agent.sip), dir, &options, steps)
}

/// An agent whose transfer target is the SIPp UAS and whose RTP ports are
/// a range of our choosing (captured from before the call when `capture`),
/// Nelson Medina's account, and the passphrase as pjsua's player wants it.
struct Setup {
    agent: Agent,
    target: TransferTarget,
    capture: Option<Capture>,
    dir: tempfile::TempDir,
    passphrase: PathBuf,
}

fn setup(capture: bool) -> Setup {
    let target = TransferTarget::start();
    let first = 30000 + (free_port() % 14000) / 2 * 2;
    let range = format!("{first}-{}", first + 40);
    let capture =
        capture.then(|| Capture::start_filter(&format!("udp portrange {first}-{}", first + 40)));
    let transfer = target.uri("agents");
    let agent = Agent::start(&[
        ("PASSGATE_RTP__PORT_RANGE", range.as_str()),
        ("PASSGATE_TRANSFER__AUTHENTICATED", transfer.as_str()),
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    support::cli::add_nelson(&agent.database);
    let dir = tempfile::tempdir().expect("tempdir");
    let passphrase = dir.path().join("passphrase.wav");
    spoken_pcm16("하얀 말", dir.path(), &passphrase);
    Setup {
        agent,
        target,
        capture,
        dir,
        passphrase,
    }
}

/// `text` in Korean espeak-ng speech as a 16-bit PCM WAV at 8 kHz (what
/// pjsua's file player reads), then 2.5 s of silence.
fn spoken_pcm16(text: &str, dir: &Path, out: &Path) {
    let raw = dir.join("raw.wav");
    let espeak = Command::new("espeak-ng")
        .args(["-v", "ko", "-s", "140", "-w"])
        .arg(&raw)
        .arg(text)
        .status();
    assert!(espeak.expect("espeak-ng").success());
    let sox = Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(out)
        .args(["pad", "0", "2.5"])
        .status();
    assert!(sox.expect("sox").success());
}

/// Creates `signal` once the agent's log contains `needle`: what caller.py's
/// `wait_file` step waits for.
fn signal_when_logged(agent: &Agent, needle: &'static str, signal: PathBuf) {
    let log = agent.log.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(needle) {
                let _ = std::fs::write(&signal, "");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

/// The seed's verified branch from wherever `before` leaves the call: once
/// Passgate listens (after the beep), speak the passphrase until Passgate
/// accepts it, then press 0 until the REFER comes, then wait for Passgate's
/// BYE once pjsip has reported the transfer.
fn verified_branch(setup: &Setup, codecs: &str, before: &[&str]) -> PjsuaRun {
    let listening = setup.dir.path().join("listening");
    let accepted = setup.dir.path().join("accepted");
    signal_when_logged(&setup.agent, LISTENING, listening.clone());
    signal_when_logged(&setup.agent, ACCEPTED, accepted.clone());
    let mut steps: Vec<String> = before.iter().map(|s| s.to_string()).collect();
    steps.extend([
        format!("wait_file:{}:60", listening.display()),
        format!("play:{}", setup.passphrase.display()),
        format!("wait_file:{}:60", accepted.display()),
        "stop".to_string(),
        "dtmf_until_refer:0:3:40".to_string(),
        "until_disconnected:30".to_string(),
    ]);
    pjsua(&setup.agent, setup.dir.path(), codecs, &steps)
}

/// pjsip got the REFER verified, called the target with the result as
/// headers, reported it by NOTIFY, and Passgate left with a BYE; the audit
/// trail has the call, by pjsip's Call-ID.
fn assert_verified_transfer(setup: &mut Setup, run: &PjsuaRun) {
    let agent = &setup.agent;
    run.assert_clean(agent);
    let story = run.story();
    assert_eq!(
        run.of("refer")
            .first()
            .map(|e| e["refer_to"].as_str().unwrap_or("")),
        Some(
            format!(
                "<{}?X-Passgate-Auth=verified&X-Passgate-Account=nelson>",
                setup.target.uri("agents")
            )
            .as_str()
        ),
        "{story}"
    );
    assert!(
        run.of("dtmf_sent").iter().all(|e| e["digits"] == "0"),
        "{story}"
    );
    let log = agent.wait_log(&["transfer completed"], Duration::from_secs(10));
    assert!(
        log.contains("digit digit=0 source=Rfc4733"),
        "pjsip's 0 came as RFC 4733: {}",
        tail(&log, 6000)
    );
    assert!(log.contains("transfer completed"), "{}", tail(&log, 6000));
    let transfer_confirmed = run
        .of("call_state")
        .iter()
        .any(|e| e["call"] == "transfer" && e["state"] == "CONFIRMED");
    assert!(transfer_confirmed, "pjsip reached the target: {story}");
    let bye = run
        .of("request_in")
        .iter()
        .any(|e| e["call"] == "main" && e["method"] == "BYE");
    assert!(bye, "Passgate left the call with a BYE: {story}");
    let notifies = run.received("Response msg 200/NOTIFY").len();
    assert!(
        notifies >= 2,
        "Passgate answered pjsip's NOTIFYs ({notifies}): {story}"
    );
    let (code, messages) = setup.target.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "the transfer target's call:\n{messages}");
    let invite = messages
        .split("-----------------------------------------------")
        .find(|m| m.contains("message received") && m.contains("INVITE sip:agents@"))
        .unwrap_or_else(|| panic!("the target got no INVITE:\n{messages}"));
    assert!(
        invite.contains("X-Passgate-Auth: verified")
            && invite.contains("X-Passgate-Account: nelson"),
        "pjsip carried the result to the target: {invite}"
    );
    let call_id = run.call_id();
    let audit = support::cli::passgate(&agent.database, &["audit", "--json"]);
    let rows: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &Value| r["call_id"] == call_id.as_str())
        .collect();
    let has = |event: &str, outcome: &str| {
        rows.iter()
            .any(|r| r["event"] == event && r["outcome"] == outcome)
    };
    assert!(
        has("authenticated", "authenticated") && has("transferred", "verified"),
        "the audit trail of {call_id}:\n{audit}"
    );
}

/// Passgate's RTP port, as pjsip's first media event reports it.
fn passgate_rtp_port(run: &PjsuaRun) -> u16 {
    run.of("media")
        .first()
        .and_then(|e| e["remote_rtp"].as_str())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no media event:\n{}", run.story()))
}

/// What Passgate sent from its RTP port (RTCP goes from the port above).
fn sent_by_passgate(capture: Capture, port: u16) -> Vec<CapturedRtp> {
    capture
        .stop()
        .rtp(port)
        .into_iter()
        .filter(|p| p.src_port == port)
        .collect()
}

fn wall(event: &Value) -> f64 {
    event["wall"].as_f64().expect("wall clock of an event")
}

#[test]
fn pjsip_with_its_default_offer_says_the_passphrase_presses_zero_and_follows_the_refer() {
    let _one = serial();
    let mut setup = setup(false);
    // pjsip's own offer: speex, iLBC, GSM, PCMU, PCMA, G.722 and
    // telephone-event at 16, 8 and 32 kHz (PT 120, 121, 122).
    let run = verified_branch(&setup, "all", &["wait_confirmed:20"]);
    let story = run.story();
    let offers = run
        .sip_log
        .matches("a=rtpmap:121 telephone-event/8000")
        .count();
    assert!(
        offers >= 1,
        "pjsip offered telephone-event/8000 as 121: {story}"
    );
    let answered = run.first_after("wait_confirmed:20", "media");
    assert_eq!(answered["codec"], "PCMU", "{story}");
    assert_eq!(
        answered["tx_event_pt"], 121,
        "the 8 kHz telephone-event: {story}"
    );
    let answer = run.received("Response msg 200/INVITE");
    assert!(
        answer.first().is_some_and(|m| m.contains(" RTP/AVP 0 121")
            && m.contains("a=rtpmap:121 telephone-event/8000")
            && !m.contains("telephone-event/16000")),
        "Passgate's answer: {answer:#?}"
    );
    assert_verified_transfer(&mut setup, &run);
}

#[test]
fn pjsip_holds_and_resumes_and_passgate_sends_nothing_while_held() {
    let _one = serial();
    let mut setup = setup(true);
    let run = verified_branch(
        &setup,
        "PCMU,PCMA",
        &[
            "wait_confirmed:20",
            "wait_rtp:25:20",
            "hold",
            "wait_media:20",
            "stats",
            "wait:3",
            "stats",
            "unhold",
            "wait_media:20",
            "wait_rtp:25:20",
        ],
    );
    let story = run.story();
    run.assert_clean(&setup.agent);
    let held = run.first_after("hold", "media");
    assert_eq!(held["status"], 2, "pjsip's call is on local hold: {story}");
    let resumed = run.first_after("unhold", "media");
    assert_eq!(resumed["status"], 1, "pjsip's call is active: {story}");
    // pjsip's own count, three seconds apart while held. Its held stream
    // (sendonly) decodes nothing and so counts nothing whatever arrives:
    // the capture below is what shows Passgate stopped sending.
    let counts: Vec<i64> = run
        .after_step("stats")
        .iter()
        .filter(|e| e["event"] == "rtp")
        .take(2)
        .map(|e| e["rx_total"].as_i64().unwrap_or(-1))
        .collect();
    assert!(
        counts.len() == 2 && counts[1] - counts[0] <= 3,
        "pjsip received RTP while held: {counts:?}\n{story}"
    );
    let after_resume = run.first_after("unhold", "rtp");
    assert!(
        after_resume["rx_total"].as_i64().unwrap_or(0) >= counts[1] + 25,
        "pjsip receives again after the resume: {story}"
    );
    // On the wire: Passgate answered pjsip's sendonly offer recvonly and
    // sent no RTP from the hold's answer to the resume.
    let answers = run.received("Response msg 200/INVITE");
    assert!(
        answers.iter().any(|m| m.contains("a=recvonly")),
        "the hold's answer: {answers:#?}"
    );
    let port = passgate_rtp_port(&run);
    let capture = setup.capture.take().expect("capture");
    let sent = sent_by_passgate(capture, port);
    let (hold_from, hold_to) = (wall(held) + 0.1, wall(&run.after_step("unhold")[0]));
    let while_held = sent
        .iter()
        .filter(|p| p.time > hold_from && p.time < hold_to)
        .count();
    assert!(
        while_held <= 2,
        "{while_held} RTP packets sent to pjsip while held ({hold_from}..{hold_to})"
    );
    let before = sent.iter().filter(|p| p.time < wall(held)).count();
    let after = sent.iter().filter(|p| p.time > wall(resumed)).count();
    assert!(
        before >= 25 && after >= 25,
        "RTP before the hold {before}, after the resume {after}"
    );
    assert_verified_transfer(&mut setup, &run);
}

#[test]
fn pjsip_moves_the_call_to_pcma_by_reinvite_and_the_passphrase_still_works() {
    let _one = serial();
    let mut setup = setup(true);
    let run = verified_branch(
        &setup,
        "PCMU,PCMA",
        &[
            "wait_confirmed:20",
            "wait_rtp:25:20",
            "codec:PCMA",
            "wait_media:20",
            "wait_rtp:50:20",
            // The transfer target (SIPp's UAS) answers PCMU only.
            "codecs:PCMU,PCMA",
        ],
    );
    let story = run.story();
    run.assert_clean(&setup.agent);
    let first = run.first_after("wait_confirmed:20", "media");
    assert_eq!(first["codec"], "PCMU", "{story}");
    let switched = run.first_after("codec:PCMA", "media");
    assert_eq!(switched["codec"], "PCMA", "{story}");
    assert_eq!(switched["tx_pt"], 8, "{story}");
    let answers = run.received("Response msg 200/INVITE");
    assert!(
        answers
            .iter()
            .any(|m| m.contains("m=audio ") && m.contains(" RTP/AVP 8 120")),
        "the re-INVITE's answer is PCMA with telephone-event 120: {answers:#?}"
    );
    // On the wire: everything Passgate sent once pjsip had the answer is
    // A-law (PT 8), to the port pjsip's new offer gave.
    let port = passgate_rtp_port(&run);
    let capture = setup.capture.take().expect("capture");
    let sent = sent_by_passgate(capture, port);
    let switch_at = wall(switched) + 0.1;
    let switch_sent = wall(&run.after_step("codec:PCMA")[0]);
    let before: Vec<u8> = sent
        .iter()
        .filter(|p| p.time < switch_sent)
        .map(|p| p.payload_type)
        .collect();
    let after: Vec<&CapturedRtp> = sent.iter().filter(|p| p.time > switch_at).collect();
    assert!(
        !before.is_empty() && before.iter().all(|pt| *pt == 0),
        "PCMU first: {before:?}"
    );
    assert!(
        after.len() >= 50 && after.iter().all(|p| p.payload_type == 8),
        "PCMA after the switch: {:?}",
        after.iter().map(|p| p.payload_type).collect::<Vec<_>>()
    );
    let new_port = switched["local_rtp"].as_str().unwrap_or("");
    assert_ne!(
        first["local_rtp"].as_str(),
        Some(new_port),
        "pjsip's re-offer (REINIT_MEDIA) moves its RTP port: {story}"
    );
    assert!(
        after
            .iter()
            .all(|p| new_port.ends_with(&format!(":{}", p.dst_port))),
        "to pjsip's port of the re-offer {new_port}"
    );
    assert_verified_transfer(&mut setup, &run);
}

/// pjsip, with caller.py's `options`, calls the agent from an unknown
/// number, holds the answered call for `secs` and hangs up; the call must
/// have been answered and every step finished.
fn answered_and_held(agent: &Agent, dir: &Path, options: &[String], secs: u32) -> PjsuaRun {
    answered_and_held_via(agent, agent.sip, dir, options, secs)
}

/// [`answered_and_held`] with pjsip's INVITE sent to `target` (a proxy in
/// front of the agent).
fn answered_and_held_via(
    agent: &Agent,
    target: std::net::SocketAddr,
    dir: &Path,
    options: &[String],
    secs: u32,
) -> PjsuaRun {
    let steps = [
        "wait_confirmed:10".to_string(),
        format!("wait:{secs}"),
        "hangup".to_string(),
        "until_disconnected:10".to_string(),
    ];
    let run = support::pjsua::pjsua(&format!("sip:passgate@{target}"), dir, options, &steps);
    run.assert_clean(agent);
    let confirmed = run
        .of("call_state")
        .iter()
        .any(|e| e["call"] == "main" && e["state"] == "CONFIRMED");
    assert!(confirmed, "pjsip got its call: {}", run.story());
    run
}

#[test]
fn pjsip_requiring_session_timers_gets_its_call_and_keeps_it_by_refreshing() {
    let _serial = serial();
    // An unknown number waits at the offer to type it for longer than the
    // test: only the session timer could end this call early.
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__OFFER__TIMEOUT", "120s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    // Require: timer, 90 s: pjsip refreshes at 45 s, and the session,
    // unrefreshed, would end at 60 s.
    let options = [
        "--session-timer".to_string(),
        "required".to_string(),
        "--session-expires".to_string(),
        "90".to_string(),
    ];
    let run = answered_and_held(&agent, dir.path(), &options, 72);
    let story = run.story();
    let bye_from_passgate = run
        .of("request_in")
        .iter()
        .any(|e| e["call"] == "main" && e["method"] == "BYE");
    assert!(!bye_from_passgate, "the refreshed session lasted: {story}");
    // pjsip refreshes by UPDATE, which our Allow lists (RFC 4028 §7.4).
    let refreshes = run.received("Response msg 200/UPDATE");
    assert!(
        !refreshes.is_empty(),
        "pjsip's refreshing UPDATE was answered 200:\n{}",
        tail(&run.sip_log, 8000)
    );
    let answers = run.received("Response msg 200/INVITE");
    for answer in answers.iter().chain(&refreshes) {
        assert!(
            answer.contains("Session-Expires: 90;refresher=uac")
                && answer.contains("Require: timer"),
            "each 200 agrees to 90 s with pjsip refreshing: {answer}"
        );
    }
    let log = agent.wait_log(&["call finished"], Duration::from_secs(10));
    assert!(
        !log.contains("did not refresh the session") && log.contains("outcome=caller_hung_up"),
        "{}",
        tail(&log, 6000)
    );
}

/// pjsip calls through Kamailio acting as an SBC that drops pjsip's timer
/// support and asks 90 s (and, with `hides_update`, drops UPDATE from its
/// Allow): Passgate must refresh, by `method`. pjsip, told Passgate
/// refreshes, ends a session not refreshed within 60 s, so the call must
/// last until the script hangs up at 72 s. The run, once that is checked.
fn refreshed_through_an_sbc(sbc: &[&str], method: &str) -> PjsuaRun {
    let agent = Agent::start(&[
        ("PASSGATE_FLOW__OFFER__TIMEOUT", "120s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    let proxy = support::kamailio::Kamailio::enforcing_a_session_timer(agent.sip, sbc);
    let dir = tempfile::tempdir().expect("tempdir");
    let run = answered_and_held_via(&agent, proxy.sip, dir.path(), &[], 72);
    let story = run.story();
    let answer = run.received("Response msg 200/INVITE");
    assert!(
        answer
            .first()
            .is_some_and(|a| a.contains("Session-Expires: 90;refresher=uas")),
        "our 200 names us the refresher: {}",
        tail(&run.sip_log, 12000)
    );
    let ended_at_hangup = run
        .after_step("hangup")
        .iter()
        .any(|e| e["event"] == "call_state" && e["call"] == "main" && e["state"] == "DISCONNECTED");
    assert!(ended_at_hangup, "the session lasted: {story}");
    let log = agent.wait_log(&["call finished"], Duration::from_secs(10));
    assert!(
        log.contains(&format!("refreshing the session by {method}"))
            && !log.contains("session timer expired")
            && log.contains("outcome=caller_hung_up"),
        "{}\n--- kamailio ---\n{}",
        tail(&log, 6000),
        tail(&proxy.log_text(), 4000)
    );
    run
}

#[test]
fn behind_an_sbc_enforcing_a_timer_our_update_refreshes_keep_the_role_and_pjsips_call_up() {
    let _serial = serial();
    let run = refreshed_through_an_sbc(&[], "UPDATE");
    let sip_log = tail(&run.sip_log, 12000);
    // As the UAC of each UPDATE, Passgate keeps the role: refresher=uac.
    let updates = run.received("Request msg UPDATE");
    assert!(
        !updates.is_empty()
            && updates
                .iter()
                .all(|r| r.contains("Session-Expires: 90;refresher=uac")),
        "pjsip got our refreshing UPDATE: {sip_log}"
    );
    // pjsip's 200 leaves the refreshing to us (refresher=uac names the
    // UPDATE's UAC): the role stayed ours.
    let answers = run.sent("Response msg 200/UPDATE");
    assert!(
        !answers.is_empty()
            && answers
                .iter()
                .all(|a| a.contains("Session-Expires: 90;refresher=uac")),
        "{sip_log}"
    );
}

#[test]
fn behind_an_sbc_that_hides_update_our_reinvite_refreshes_keep_pjsips_call_up() {
    let _serial = serial();
    let run = refreshed_through_an_sbc(&["SBC_HIDES_UPDATE"], "re-INVITE");
    let sip_log = tail(&run.sip_log, 12000);
    let reinvites = run.received("Request msg INVITE");
    assert!(
        !reinvites.is_empty()
            && reinvites
                .iter()
                .all(|r| r.contains("Session-Expires: 90;refresher=uac")),
        "pjsip got our refreshing re-INVITE: {sip_log}"
    );
    assert!(
        !run.sent("Response msg 200/INVITE").is_empty(),
        "pjsip answered it 200: {sip_log}"
    );
}

#[test]
fn behind_an_sbc_refusing_our_refresh_422_we_refresh_again_with_its_minimum_and_pjsips_call_stays_up(
) {
    let _serial = serial();
    let run = refreshed_through_an_sbc(&["SBC_REFRESH_MIN_SE"], "UPDATE");
    let sip_log = tail(&run.sip_log, 12000);
    // The SBC refused the 90 s refresh; the one pjsip got asks for the
    // SBC's 120 s and states it as its Min-SE.
    let updates = run.received("Request msg UPDATE");
    assert!(
        !updates.is_empty()
            && updates.iter().all(|r| {
                r.contains("Session-Expires: 120;refresher=uac") && r.contains("Min-SE: 120")
            }),
        "pjsip got our refresh at the SBC's minimum: {sip_log}"
    );
    assert!(
        !run.sent("Response msg 200/UPDATE").is_empty(),
        "pjsip answered it 200: {sip_log}"
    );
}

#[test]
fn pjsip_requiring_reliable_provisionals_pracks_our_180_and_gets_its_call() {
    let _serial = serial();
    // Ringing for 1.5 s before the answer: a 180 that pjsip must PRACK.
    let agent = Agent::start(&[
        ("PASSGATE_SIP__ANSWER_DELAY_MS", "1500"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ["--prack".to_string(), "mandatory".to_string()];
    let run = answered_and_held(&agent, dir.path(), &options, 2);
    let log = tail(&run.sip_log, 12000);
    let ringing = run.received("Response msg 180/INVITE");
    assert!(
        !ringing.is_empty()
            && ringing
                .iter()
                .all(|r| r.contains("Require: 100rel") && r.contains("RSeq: ")),
        "our 180 was sent reliably: {log}"
    );
    assert!(
        !run.received("Response msg 200/PRACK").is_empty(),
        "pjsip's PRACK was answered 200: {log}"
    );
    let agent_log = agent.wait_log(&["call finished"], Duration::from_secs(10));
    assert!(
        agent_log.contains("outcome=caller_hung_up") && !agent_log.contains("no PRACK"),
        "{}",
        tail(&agent_log, 6000)
    );
}
