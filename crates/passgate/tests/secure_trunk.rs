//! Secure trunks against the real binary: pjsip (pjsua2, `tests/pjsua/caller.py`)
//! calls over SIP/TLS with SRTP (RTP/SAVP, SDES) and goes through the seed's
//! verified branch to its REFER while tshark watches loopback; `rtp.srtp =
//! "required"` refuses a plain offer; SRTP packets with a bad tag or
//! replayed are dropped and counted; under mutual TLS a client certificate
//! from another issuer or expired is refused, and a SIGHUP certificate
//! reload keeps the call up.
//!
//! Certificates are made by each test (`support/pki.rs`, the `openssl`
//! command), never committed. Needs what `second_stack.rs` needs (pjsua2,
//! sipp, espeak-ng, sox, tshark as root).

mod support;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use support::pjsua::{pjsua, tail};
use support::pki::{base64, stranger, unbase64, Pki};
use support::transfer_target::TransferTarget;
use support::udp_caller::{answer_rtp_port, offer, UdpCaller};
use support::{free_port, Agent, Capture};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const LISTENING: &str = "}: listening vocabulary=";
const ACCEPTED: &str = "playing prompt=WelcomeAfterPassphrase";

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

/// Frames of the capture that tshark's display filter `filter` selects,
/// with the SIP and RTP dissectors tried on every port involved.
fn tshark_count(file: &Path, decode_as: &[String], filter: &str) -> usize {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file);
    for d in decode_as {
        cmd.args(["-d", d]);
    }
    let out = cmd
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// The UDP payloads to or from `port` (source, destination, bytes).
fn udp_payloads(file: &Path, port: u16) -> Vec<(u16, u16, Vec<u8>)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", &format!("udp.port == {port}"), "-T", "fields"])
        .args([
            "-E",
            "separator=;",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
        ])
        .args(["-e", "udp.payload"])
        .output()
        .expect("tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            let bytes = (0..f.get(2)?.len() / 2)
                .map(|i| u8::from_str_radix(&f[2][2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect();
            Some((f[0].parse().ok()?, f[1].parse().ok()?, bytes))
        })
        .collect()
}

/// The share of the commonest byte value in `payload`: G.711 silence and
/// speech repeat a few values; ciphertext does not.
fn commonest_share(payload: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for b in payload {
        counts[*b as usize] += 1;
    }
    *counts.iter().max().unwrap_or(&0) as f64 / payload.len().max(1) as f64
}

#[test]
fn pjsip_over_tls_with_srtp_is_verified_and_transferred_and_nothing_is_in_the_clear() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.issue("server", "ec", "serverAuth");
    let mut target = TransferTarget::start();
    let target_uri = target.uri("agents");
    let first = 30000 + (free_port() % 14000) / 2 * 2;
    let range = format!("{first}-{}", first + 40);
    let tls_port = free_port();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let agent = Agent::start(&[
        ("PASSGATE_RTP__PORT_RANGE", range.as_str()),
        ("PASSGATE_RTP__SRTP", "required"),
        ("PASSGATE_SIP__TLS__CERT", cert.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__KEY", key.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__PORT", &tls_port.to_string()),
        ("PASSGATE_TRANSFER__AUTHENTICATED", target_uri.as_str()),
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    support::cli::add_nelson(&agent.database);
    let capture = Capture::start_filter(&format!(
        "tcp port {tls_port} or udp port {} or tcp port {} or udp portrange {first}-{}",
        agent.sip.port(),
        agent.sip.port(),
        first + 41
    ));
    let passphrase = dir.path().join("passphrase.wav");
    spoken_pcm16("하얀 말", dir.path(), &passphrase);
    let listening = dir.path().join("listening");
    let accepted = dir.path().join("accepted");
    signal_when_logged(&agent, LISTENING, listening.clone());
    signal_when_logged(&agent, ACCEPTED, accepted.clone());
    // pjsip counts only the packets its libsrtp opened: 100 of ours
    // within 10 s of the answer say our encryption is right.
    let steps = vec![
        "wait_confirmed:20".to_string(),
        "wait_rtp:100:10".to_string(),
        format!("wait_file:{}:60", listening.display()),
        format!("play:{}", passphrase.display()),
        format!("wait_file:{}:60", accepted.display()),
        "stop".to_string(),
        "dtmf_until_refer:0:3:40".to_string(),
        "until_disconnected:30".to_string(),
    ];
    let options = vec![
        "--tls-ca".to_string(),
        pki.path("ca.pem").display().to_string(),
        "--srtp".to_string(),
        "mandatory".to_string(),
    ];
    let run = pjsua(
        &format!("sip:passgate@127.0.0.1:{tls_port};transport=tls"),
        dir.path(),
        &options,
        &steps,
    );
    let story = run.story();
    let log = agent.wait_log(&["transfer completed"], Duration::from_secs(10));
    assert!(
        run.code == Some(0) && run.of("done").len() == 1,
        "caller.py did not finish every step:\n{story}\n--- passgate ---\n{}",
        tail(&log, 8000)
    );
    // The call went over TLS and SRTP: pjsip's INVITE came over TLS, and
    // our answer is RTP/SAVP with a key of ours.
    let ok = run.received("Response msg 200/INVITE");
    let first_ok = ok.first().unwrap_or_else(|| panic!("no 200: {story}"));
    assert!(first_ok.contains("TLS"), "{first_ok}");
    // pjsip offers AES_256_CM_HMAC_SHA1_80 first (RFC 6188), and that is
    // what we answer.
    assert!(
        first_ok.contains("RTP/SAVP")
            && first_ok.contains("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:"),
        "{first_ok}"
    );
    let opened = run
        .of("rtp")
        .iter()
        .filter_map(|e| e["rx_total"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(
        opened >= 100,
        "pjsip opened {opened} of our SRTP packets: {story}"
    );
    assert!(
        first_ok.contains(&format!("127.0.0.1:{tls_port};transport=tls>")),
        "Contact: {first_ok}"
    );
    // Passgate's own requests in the dialog name TLS and its TLS port.
    let refer = run.received("Request msg REFER");
    let refer = refer.first().unwrap_or_else(|| panic!("no REFER: {story}"));
    assert!(
        refer.contains(&format!("Via: SIP/2.0/TLS 127.0.0.1:{tls_port};")),
        "{refer}"
    );
    // The verified branch to the REFER, followed by pjsip.
    assert_eq!(
        run.of("refer")
            .first()
            .map(|e| e["refer_to"].as_str().unwrap_or("")),
        Some(format!("<{target_uri}?X-Passgate-Auth=verified&X-Passgate-Account=nelson>").as_str()),
        "{story}"
    );
    assert!(
        log.contains("digit digit=0 source=Rfc4733"),
        "{}",
        tail(&log, 6000)
    );
    assert!(log.contains("transfer completed"), "{}", tail(&log, 6000));
    assert!(
        run.of("request_in")
            .iter()
            .any(|e| e["call"] == "main" && e["method"] == "BYE"),
        "Passgate's BYE came over the caller's TLS connection: {story}"
    );
    assert!(
        run.received("Response msg 200/NOTIFY").len() >= 2,
        "{story}"
    );
    let (code, messages) = target.finish(Duration::from_secs(20));
    assert!(
        code.is_some() && messages.contains("X-Passgate-Auth: verified"),
        "{messages}"
    );
    // What loopback carried between pjsip and Passgate.
    let file = capture.stop();
    let mut decode_as = vec![
        format!("tcp.port=={tls_port},sip"),
        format!("udp.port=={},sip", agent.sip.port()),
    ];
    let tls_frames = {
        let mut d = decode_as.clone();
        d[0] = format!("tcp.port=={tls_port},tls");
        tshark_count(&file.file, &d, "tls.app_data")
    };
    assert!(tls_frames >= 10, "TLS records seen: {tls_frames}");
    decode_as[0] = format!("tcp.port=={tls_port},tls");
    let sip_frames = tshark_count(&file.file, &decode_as, "sip");
    assert_eq!(sip_frames, 0, "SIP in the clear on the wire");
    let rtp_port = run
        .of("media")
        .first()
        .and_then(|e| e["remote_rtp"].as_str())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no media event: {story}"));
    let packets = udp_payloads(&file.file, rtp_port);
    let (sent, received): (Vec<_>, Vec<_>) =
        packets.iter().partition(|(src, _, _)| *src == rtp_port);
    assert!(
        sent.len() > 200 && received.len() > 200,
        "RTP both ways: {} sent, {} received",
        sent.len(),
        received.len()
    );
    for (_, _, bytes) in sent.iter().chain(received.iter()) {
        if media::srtp::is_rtcp(bytes) {
            continue;
        }
        // 12-byte header, then 160 bytes of PCMU (20 ms) or a 4-byte
        // RFC 4733 event, then the 80-bit tag.
        if bytes[1] & 0x7f != 0 {
            assert_eq!(bytes.len(), 12 + 4 + 10, "an SRTP telephone-event");
            continue;
        }
        assert_eq!(bytes.len(), 12 + 160 + 10, "an SRTP packet of 20 ms");
        let share = commonest_share(&bytes[12..172]);
        assert!(
            share < 0.2,
            "a payload that reads as plain G.711 ({share:.2})"
        );
    }
    let stats = agent.metrics_text();
    assert!(
        stats.contains("passgate_srtp_dropped_total{why=\"auth_failed\"} 0\n"),
        "{stats}"
    );
}

#[test]
fn required_srtp_refuses_plain_rtp_and_drops_tampered_and_replayed_packets() {
    let _one = serial();
    let agent = Agent::start(&[("PASSGATE_RTP__SRTP", "required")]);
    // SRTP without TLS: said at start.
    let log = agent.wait_log(&["SDES keys travel in the SDP"], Duration::from_secs(5));
    assert!(log.contains("rtp.srtp is on but sip.tls is not"), "{log}");
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = media.local_addr().unwrap().port();
    let ip = "127.0.0.1".parse().unwrap();

    let (_plain, refused) = UdpCaller::invite(agent.sip, &offer(ip, media_port, ""));
    assert!(refused.starts_with("SIP/2.0 488"), "{refused}");
    assert!(
        refused
            .contains("Warning: 304 passgate \"SRTP is required here and the offer is plain RTP\""),
        "{refused}"
    );

    let SrtpCall {
        call,
        mut srtp,
        to,
        inline,
        answer_key: line,
    } = srtp_call(&agent, media_port);
    let rtp = |seq: u16| {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0xCA, 0xFE, 0, 1];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend(std::iter::repeat_n(0xFFu8, 160));
        p
    };
    let mut wire = Vec::new();
    for seq in 1..=20u16 {
        wire.push(srtp.protect_rtp(&rtp(seq)).unwrap().to_vec());
    }
    // The call's media is attached once the ACK is in.
    std::thread::sleep(Duration::from_millis(300));
    for packet in &wire[..10] {
        media.send_to(packet, to).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // A replay of packet 5, then packet 11 with one payload bit flipped.
    media.send_to(&wire[4], to).unwrap();
    let mut tampered = wire[10].clone();
    tampered[50] ^= 0x01;
    media.send_to(&tampered, to).unwrap();
    for packet in &wire[11..] {
        media.send_to(packet, to).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // What Passgate sends opens with its key and carries PCMU.
    let opened = srtp_packets_opened(&media, &mut srtp);
    assert!(
        opened >= 10,
        "Passgate's SRTP opened with its key: {opened}"
    );
    call.bye();
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = agent.metrics_text();
        if stats.contains("passgate_srtp_dropped_total{why=\"auth_failed\"}")
            || Instant::now() > deadline
        {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        stats.contains("passgate_srtp_dropped_total{why=\"auth_failed\"} 1\n")
            && stats.contains("passgate_srtp_dropped_total{why=\"replayed\"} 1\n"),
        "{stats}"
    );
    assert!(
        stats.contains("passgate_rtp_packets_received_total 19\n")
            && stats.contains("passgate_rtp_packets_lost_total 1\n"),
        "the 19 good packets reached the receiver, the tampered one never: {stats}"
    );
    let log = agent.log_text();
    assert!(
        !log.contains(&line) && !log.contains(&inline),
        "a key in the log"
    );
}

/// A call offered RTP/SAVP with our key, answered with Passgate's own.
struct SrtpCall {
    call: UdpCaller,
    /// Our side's context: protects with our key, opens Passgate's packets.
    srtp: media::Srtp,
    /// Passgate's RTP address for the call.
    to: std::net::SocketAddr,
    /// Our key and salt as offered (base64), and Passgate's as answered.
    inline: String,
    answer_key: String,
}

fn srtp_call(agent: &Agent, media_port: u16) -> SrtpCall {
    let ip = "127.0.0.1".parse().unwrap();
    let ours = media::SrtpMaster {
        key: b"0123456789abcdef".to_vec(),
        salt: *b"0123456789abcd",
    };
    let inline = base64(&[&ours.key[..], &ours.salt[..]].concat());
    let savp = offer(
        ip,
        media_port,
        &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{inline}\r\n"),
    )
    .replace("RTP/AVP", "RTP/SAVP");
    let (call, answer) = UdpCaller::invite(agent.sip, &savp);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(
        answer.contains("m=audio ") && answer.contains(" RTP/SAVP 0"),
        "{answer}"
    );
    let answer_key = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"))
        .unwrap_or_else(|| panic!("no a=crypto in {answer}"))
        .trim()
        .to_string();
    let theirs = unbase64(&answer_key);
    assert_eq!(theirs.len(), 30);
    assert_ne!(&theirs[..16], &ours.key[..], "a key of its own");
    let srtp = media::Srtp::new(media::SrtpConfig {
        profile: media::SrtpProfile::Aes128CmSha1_80,
        local: ours,
        remote: media::SrtpMaster {
            key: theirs[..16].to_vec(),
            salt: theirs[16..].try_into().unwrap(),
        },
    })
    .unwrap();
    SrtpCall {
        call,
        srtp,
        to: std::net::SocketAddr::new(ip, answer_rtp_port(&answer)),
        inline,
        answer_key,
    }
}

/// How many of the next 20 SRTP packets Passgate sends to `media` (RTCP
/// aside) open with the call's key.
fn srtp_packets_opened(media: &UdpSocket, srtp: &mut media::Srtp) -> usize {
    media
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut opened = 0;
    for _ in 0..20 {
        if let Ok((n, _)) = media.recv_from(&mut buf) {
            if !media::srtp::is_rtcp(&buf[..n]) && srtp.unprotect_rtp(&buf[..n]).is_some() {
                opened += 1;
            }
        }
    }
    opened
}

/// A stranger's forged SRTP and SRTCP are refused and counted, and the
/// caller is heard as if they had not come. That they leave no SSRC state
/// behind is counted exactly in media's
/// `a_strangers_packets_under_new_ssrcs_leave_no_state_behind`: from outside,
/// the heap moves by megabytes on its own.
#[test]
fn a_stranger_spraying_srtp_under_made_up_ssrcs_is_refused_and_the_call_goes_on() {
    let _one = serial();
    let agent = Agent::start(&[("PASSGATE_RTP__SRTP", "required")]);
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let SrtpCall {
        call, mut srtp, to, ..
    } = srtp_call(&agent, media.local_addr().unwrap().port());
    let rtcp_to = std::net::SocketAddr::new(to.ip(), to.port() + 1);
    // The call's media is attached once the ACK is in.
    std::thread::sleep(Duration::from_millis(500));

    // Before the caller's first packet, from the SDP's IP but another port
    // (a source the call may still learn, so its packets reach SRTP): SRTP
    // and SRTCP under a new SSRC each, with made-up tags.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let per_kind = 100_000u32;
    for ssrc in 1..=per_kind {
        let mut forged = vec![0x80, 0, 0, 1, 0, 0, 0, 160];
        forged.extend(ssrc.to_be_bytes());
        forged.extend([0x55; 170]);
        let _ = stranger.send_to(&forged, to);
        let mut report = vec![0x80, 201, 0, 1];
        report.extend(ssrc.to_be_bytes());
        report.extend([0x80, 0, 0, 1]);
        report.extend([0x55; 10]);
        let _ = stranger.send_to(&report, rtcp_to);
        if ssrc % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::thread::sleep(Duration::from_millis(500));

    // The caller is heard, and hears Passgate, as if nothing happened.
    let rtp = |seq: u16| {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0xCA, 0xFE, 0, 1];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend(std::iter::repeat_n(0xFFu8, 160));
        p
    };
    for seq in 1..=10u16 {
        media
            .send_to(&srtp.protect_rtp(&rtp(seq)).unwrap(), to)
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let opened = srtp_packets_opened(&media, &mut srtp);
    assert!(
        opened >= 10,
        "Passgate's SRTP opened with its key: {opened}"
    );
    call.bye();
    let deadline = Instant::now() + Duration::from_secs(10);
    let heard = || {
        agent.metric("passgate_rtp_packets_received_total")
            - agent.metric("passgate_rtp_foreign_source_packets_total")
    };
    while heard() < 10.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        heard(),
        10.0,
        "the caller's packets after the spray were all heard"
    );
    // A call's counts reach the metrics when it ends.
    let refused = agent.metric("passgate_srtp_dropped_total{why=\"auth_failed\"}") as u64;
    assert!(
        refused >= u64::from(per_kind) / 4,
        "the spray reached the call's SRTP and failed authentication: {refused} of {}",
        2 * per_kind
    );
}

#[test]
fn mutual_tls_refuses_foreign_and_expired_client_certificates_and_a_reload_keeps_the_call() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.issue("server", "rsa", "serverAuth");
    pki.issue("trunk", "ec", "clientAuth");
    pki.issue_for_days("expired", "ec", "clientAuth", "-1");
    stranger(dir.path());
    let tls_port = free_port();
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    let agent = Agent::start(&[
        ("PASSGATE_SIP__TLS__CERT", cert.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__KEY", key.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__PORT", &tls_port.to_string()),
        ("PASSGATE_SIP__TLS__CLIENT_CA", ca.to_str().unwrap()),
        ("PASSGATE_RTP__SRTP", "required"),
        // The reload below is SIGHUP's alone.
        ("PASSGATE_SIP__TLS__RELOAD_CHECK_SECS", "0"),
    ]);
    let target = format!("sip:passgate@127.0.0.1:{tls_port};transport=tls");
    let with = |name: &str| {
        vec![
            "--tls-ca".to_string(),
            ca.display().to_string(),
            "--tls-cert".to_string(),
            dir.path().join(format!("{name}.pem")).display().to_string(),
            "--tls-key".to_string(),
            dir.path().join(format!("{name}.key")).display().to_string(),
        ]
    };
    for (client, why) in [("stranger", "UnknownIssuer"), ("expired", "Expired")] {
        let refused = pjsua(
            &target,
            dir.path(),
            &with(client),
            &["wait_confirmed:10".to_string()],
        );
        assert!(
            refused
                .of("call_state")
                .iter()
                .all(|e| e["state"] != "CONFIRMED"),
            "{client}: {}",
            refused.story()
        );
        let log = agent.wait_log(&[why], Duration::from_secs(5));
        assert!(
            log.lines()
                .any(|l| l.contains("security: closing TLS connection")
                    && l.contains("reason=tls_handshake")
                    && l.contains("source=127.0.0.1")
                    && l.contains(why)),
            "{client}: {log}"
        );
    }
    let stats = agent.metrics_text();
    let closed = stats
        .lines()
        .find_map(|l| l.strip_prefix("passgate_sip_tcp_closed_total{reason=\"tls_handshake\"} "))
        .and_then(|n| n.trim().parse::<u32>().ok());
    assert!(closed >= Some(2), "{stats}");
    // A trunk with a certificate from the configured CA gets its call. While
    // it is up the certificate files are replaced (RSA by ECDSA) and SIGHUP
    // reloads them: the call goes on, and a new connection gets the new one.
    let reload = dir.path().join("reload");
    let hup = reload.clone();
    let pid = agent.pid();
    let log_path = agent.log.clone();
    let pki_dir = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::fs::read_to_string(&log_path)
                .unwrap_or_default()
                .contains(" answered rtp_port=")
            {
                Pki { dir: pki_dir }.issue("server", "ec", "serverAuth");
                let _ = Command::new("kill")
                    .args(["-HUP", &pid.to_string()])
                    .status();
                let _ = std::fs::write(&hup, "");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    // The call is SRTP, and pjsip holds and resumes it: each re-INVITE's
    // answer keeps Passgate's key while pjsip re-offers its own (a new one
    // of pjsip's would get a new one of ours), and pjsip still opens what
    // Passgate sends after it.
    let mut options = with("trunk");
    options.extend(["--srtp".to_string(), "mandatory".to_string()]);
    let accepted = pjsua(
        &target,
        dir.path(),
        &options,
        &[
            "wait_confirmed:20".to_string(),
            format!("wait_file:{}:30", reload.display()),
            "wait_rtp:100:20".to_string(),
            "hold".to_string(),
            "wait_media:10".to_string(),
            "unhold".to_string(),
            "wait_media:10".to_string(),
            "wait_rtp:100:20".to_string(),
            "hangup".to_string(),
        ],
    );
    assert!(
        accepted.code == Some(0) && accepted.of("done").len() == 1,
        "{}\n{}",
        accepted.story(),
        tail(&agent.log_text(), 5000)
    );
    let log = agent.wait_log(&["TLS certificate reloaded"], Duration::from_secs(5));
    assert!(log.contains("TLS certificate reloaded"), "{log}");
    assert!(
        log.contains("call ended"),
        "the call ended by the caller's BYE"
    );
    let crypto_lines = |messages: Vec<&str>| -> Vec<String> {
        messages
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find(|l| l.starts_with("a=crypto:"))
                    .map(str::to_string)
            })
            .collect()
    };
    let ours = crypto_lines(accepted.received("Response msg 200/INVITE"));
    let theirs = crypto_lines(accepted.sent("Request msg INVITE"));
    assert!(ours.len() >= 3, "an answer per INVITE: {ours:?}");
    assert_eq!(theirs.len(), ours.len(), "{theirs:?} answered by {ours:?}");
    for i in 1..ours.len() {
        assert_eq!(
            ours[i] == ours[i - 1],
            theirs[i] == theirs[i - 1],
            "our key is kept exactly when pjsip keeps its own: {theirs:?} answered by {ours:?}"
        );
    }
    // Packets in flight across a rekey may fail; a wrong key would fail all.
    let stats = agent.metrics_text();
    let failed = stats
        .lines()
        .find_map(|l| l.strip_prefix("passgate_srtp_dropped_total{why=\"auth_failed\"} "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(failed.is_some_and(|n| n < 10), "{stats}");
    let fresh = std::fs::read_to_string(dir.path().join("server.pem")).unwrap();
    assert!(!pem_body(&fresh).is_empty());
    assert_eq!(
        pem_body(&served_certificate(tls_port, Some((dir.path(), "trunk")))),
        pem_body(&fresh)
    );
}

/// What a new TLS connection to `port` is served (`openssl s_client`'s
/// output), presenting `client` (`NAME.pem`, `NAME.key` in the directory).
fn served_certificate(port: u16, client: Option<(&Path, &str)>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    if let Some((dir, name)) = client {
        cmd.arg("-cert")
            .arg(dir.join(format!("{name}.pem")))
            .arg("-key")
            .arg(dir.join(format!("{name}.key")));
    }
    let out = cmd.stdin(Stdio::null()).output().expect("openssl s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The base64 of the first certificate in PEM text.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .take_while(|l| !l.starts_with("-----END CERTIFICATE"))
        .collect()
}

#[test]
fn a_certificate_replaced_on_disk_is_served_without_a_signal() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    pki.issue("server", "rsa", "serverAuth");
    let tls_port = free_port();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let agent = Agent::start(&[
        ("PASSGATE_SIP__TLS__CERT", cert.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__KEY", key.to_str().unwrap()),
        ("PASSGATE_SIP__TLS__PORT", &tls_port.to_string()),
        ("PASSGATE_SIP__TLS__RELOAD_CHECK_SECS", "1"),
    ]);
    let first = std::fs::read_to_string(&cert).unwrap();
    assert_eq!(
        pem_body(&served_certificate(tls_port, None)),
        pem_body(&first)
    );
    pki.issue("server", "ec", "serverAuth");
    let fresh = std::fs::read_to_string(&cert).unwrap();
    assert_ne!(pem_body(&fresh), pem_body(&first));
    let log = agent.wait_log(&["TLS certificate reloaded"], Duration::from_secs(10));
    assert!(log.contains("(the files changed)"), "{log}");
    assert_eq!(
        pem_body(&served_certificate(tls_port, None)),
        pem_body(&fresh)
    );
}
