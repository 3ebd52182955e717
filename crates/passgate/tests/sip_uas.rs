//! The SIP user agent, proven against SIPp: each test starts the real
//! `passgate` binary and runs one scenario of `tests/sipp/` against it.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::{offer_keys, sipp, Agent};

fn sdp_answer_of_200(run: &support::SippRun) -> String {
    run.received()
        .into_iter()
        .find(|m| m.contains("SIP/2.0 200 OK") && m.contains("CSeq: 1 INVITE") && m.contains("v=0"))
        .unwrap_or_else(|| panic!("no 200 with SDP to the INVITE:\n{}", run.messages))
        .to_string()
}

#[test]
fn basic_call_over_udp() {
    let agent = Agent::start(&[]);
    let run = sipp(
        "basic_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    );
    run.assert_ok("basic call");
    let answer = sdp_answer_of_200(&run);
    assert!(answer.contains("m=audio "), "{answer}");
    assert!(
        answer.contains(" RTP/AVP 0 101\r\n") || answer.contains(" RTP/AVP 0 101\n"),
        "{answer}"
    );
    assert!(answer.contains("a=ptime:20"), "{answer}");
    let received = run.received();
    // Answered within sip.trying_after_ms (100), the INVITE needs no 100
    // Trying (RFC 3261 §17.2.1); a slow machine may still send one first.
    let first = received[0];
    assert!(
        first.contains("SIP/2.0 200 OK") || first.contains("SIP/2.0 100 Trying"),
        "{first}"
    );
    let trying = received.iter().filter(|m| m.contains("100 Trying")).count();
    assert!(trying <= 1, "one 100 Trying at most:\n{}", run.messages);
    assert!(
        received.last().unwrap().contains("CSeq: 2 BYE"),
        "the BYE was answered"
    );
    // One span per call: the log names the Call-ID on the call's lines.
    let log = agent.wait_log(&["call ended reason=RemoteBye"], Duration::from_secs(5));
    assert!(
        log.contains("call_id=") && log.contains("call ended reason=RemoteBye"),
        "{log}"
    );
}

#[test]
fn an_invite_with_multipart_sdp_and_isup_is_answered_200_with_our_sdp() {
    let agent = Agent::start(&[]);
    let run = sipp(
        "multipart_sip_i",
        agent.sip,
        &offer_keys("8", "PCMA", "101", "20"),
    );
    run.assert_ok("multipart SIP-I call");
    let ok = sdp_answer_of_200(&run);
    assert!(ok.contains("Content-Type: application/sdp"), "{ok}");
    assert!(
        ok.contains(" RTP/AVP 8 101"),
        "answered from the SDP part: {ok}"
    );
    assert!(
        !ok.lines().any(|l| l.trim_end() == "Supported:"),
        "no empty Supported header: {ok}"
    );
    assert!(
        run.received().last().unwrap().contains("CSeq: 2 BYE"),
        "the call was set up and the caller's BYE answered:\n{}",
        run.messages
    );
}

#[test]
fn basic_call_over_tcp() {
    // The 100 Trying asked for at once, as some trunks expect.
    let agent = Agent::start(&[("PASSGATE_SIP__TRYING_AFTER_MS", "0")]);
    let run = sipp(
        "basic_call",
        agent.sip,
        &[&["-t", "t1"], &offer_keys("0", "PCMU", "101", "20")[..]].concat(),
    );
    run.assert_ok("basic call over TCP");
    let received = run.received();
    assert!(
        received[0].contains("SIP/2.0 100 Trying"),
        "100 Trying comes first: {}",
        received[0]
    );
    assert!(
        run.messages.contains("TCP message received"),
        "{}",
        run.messages
    );
    let answer = sdp_answer_of_200(&run);
    assert!(
        answer.contains(";transport=tcp>"),
        "Contact names TCP: {answer}"
    );
}

#[test]
fn telephone_event_is_answered_with_the_offered_payload_type_and_ptime_is_honoured() {
    let agent = Agent::start(&[]);
    for (codec_pt, codec, te, ptime) in [
        ("0", "PCMU", "96", "20"),
        ("8", "PCMA", "120", "30"),
        ("0", "PCMU", "101", "20"),
    ] {
        let run = sipp(
            "basic_call",
            agent.sip,
            &offer_keys(codec_pt, codec, te, ptime),
        );
        run.assert_ok("call with telephone-event");
        let answer = sdp_answer_of_200(&run);
        assert!(
            answer.contains(&format!(" RTP/AVP {codec_pt} {te}")),
            "{te}: {answer}"
        );
        assert!(
            answer.contains(&format!("a=rtpmap:{te} telephone-event/8000")),
            "{answer}"
        );
        assert!(answer.contains(&format!("a=ptime:{ptime}")), "{answer}");
    }
}

#[test]
fn agent_side_hang_up() {
    let agent = Agent::start(&[("PASSGATE_CALL__MAX_DURATION_SECS", "2")]);
    let run = sipp("agent_hangup", agent.sip, &[]);
    run.assert_ok("agent hang-up");
    let bye = run
        .received()
        .into_iter()
        .find(|m| m.contains("BYE sip:"))
        .expect("a BYE from passgate");
    assert!(bye.contains("CSeq: 1 BYE"), "{bye}");
    assert!(bye.contains("SIP/2.0/UDP"), "{bye}");
}

#[test]
fn cancel_before_answer() {
    let agent = Agent::start(&[("PASSGATE_SIP__ANSWER_DELAY_MS", "3000")]);
    let run = sipp("cancel", agent.sip, &[]);
    run.assert_ok("CANCEL before answer");
    let received = run.received();
    assert!(received
        .iter()
        .any(|m| m.contains("SIP/2.0 487 Request Terminated")));
    assert!(!received
        .iter()
        .any(|m| m.contains("SIP/2.0 200 OK") && m.contains("CSeq: 1 INVITE")));
    let log = agent.wait_log(
        &["call ended before it was answered"],
        Duration::from_secs(5),
    );
    assert!(log.contains("call ended before it was answered"), "{log}");
}

#[test]
fn options_ping() {
    let agent = Agent::start(&[]);
    let run = sipp("options", agent.sip, &[]);
    run.assert_ok("OPTIONS");
}

#[test]
fn reinvite_hold_and_resume() {
    let agent = Agent::start(&[]);
    let run = sipp("reinvite_hold", agent.sip, &[]);
    run.assert_ok("re-INVITE hold/resume");
    let oks: Vec<&str> = run
        .received()
        .into_iter()
        .filter(|m| m.contains("SIP/2.0 200 OK") && m.contains(" INVITE"))
        .collect();
    assert!(oks.len() >= 4, "{}", run.messages);
    let log = agent.wait_log(
        &["direction=RecvOnly", "direction=Inactive"],
        Duration::from_secs(5),
    );
    assert!(
        log.contains("direction=RecvOnly") && log.contains("direction=Inactive"),
        "{log}"
    );
}

#[test]
fn offer_with_only_an_unsupported_codec_gets_488() {
    let agent = Agent::start(&[]);
    let run = sipp("codec_488", agent.sip, &[]);
    run.assert_ok("488");
}

#[test]
fn malformed_messages_then_a_good_call() {
    let mut agent = Agent::start(&[]);
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0u8; 3],
        b"INVITE".to_vec(),
        b"\r\n\r\n".to_vec(),
        (0..=255u8).cycle().take(1400).collect(),
        b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
        "SIP/2.0 200 OK\r\nVia: ✓\r\n\r\n".as_bytes().to_vec(),
    ];
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for g in &garbage {
        socket.send_to(g, agent.sip).unwrap();
    }
    let mut buf = [0u8; 2048];
    assert!(
        socket.recv_from(&mut buf).is_err(),
        "nothing to answer in garbage"
    );
    let run = sipp(
        "malformed_then_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    );
    run.assert_ok("400 then a good call");
    assert!(run
        .received()
        .iter()
        .any(|m| m.contains("SIP/2.0 400 Bad Request")));
    assert!(agent.is_running(), "passgate survived");
    let again = sipp("options", agent.sip, &[]);
    again.assert_ok("still answering");
}

#[test]
fn crlf_keepalives_are_ignored_over_udp_and_ponged_over_tcp() {
    let agent = Agent::start(&[]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for ping in [&b"\r\n\r\n"[..], b"\r\n"] {
        socket.send_to(ping, agent.sip).unwrap();
    }
    let mut buf = [0u8; 64];
    assert!(
        socket.recv_from(&mut buf).is_err(),
        "no answer to a UDP keep-alive"
    );
    // RFC 5626 §3.5.1: a double-CRLF ping over TCP gets one CRLF back.
    let mut tcp = std::net::TcpStream::connect(agent.sip).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::io::Write::write_all(&mut tcp, b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    std::io::Read::read_exact(&mut tcp, &mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    // Still answering, and nothing about the pings at the test's log level
    // (debug for passgate and sip).
    sipp("options", agent.sip, &[]).assert_ok("OPTIONS after the pings");
    let log = agent.log_text();
    assert!(
        !log.contains("malformed")
            && !log.contains("cannot be answered")
            && !log.contains("Request-Line"),
        "{log}"
    );
}

#[test]
fn responses_follow_rport_to_the_observed_source() {
    let agent = Agent::start(&[]);
    let run = sipp("nat_options", agent.sip, &[]);
    run.assert_ok("OPTIONS from behind NAT");
    let ok = run
        .received()
        .into_iter()
        .find(|m| m.contains("SIP/2.0 200 OK"))
        .expect("200");
    assert!(
        ok.contains("Via: SIP/2.0/UDP 192.0.2.99:5999;branch="),
        "{ok}"
    );
    assert!(ok.contains(";received=127.0.0.1"), "{ok}");
}

#[test]
fn agent_side_hang_up_over_tcp_uses_the_callers_connection() {
    let agent = Agent::start(&[("PASSGATE_CALL__MAX_DURATION_SECS", "2")]);
    let run = sipp("agent_hangup", agent.sip, &["-t", "t1"]);
    run.assert_ok("agent hang-up over TCP");
    let bye = run
        .received()
        .into_iter()
        .find(|m| m.contains("BYE sip:"))
        .expect("a BYE");
    assert!(
        bye.contains("TCP message received") && bye.contains("SIP/2.0/TCP"),
        "{bye}"
    );
}

#[test]
fn the_public_address_goes_in_contact_and_sdp() {
    let agent = Agent::start(&[("PASSGATE_SIP__PUBLIC_ADDRESS", "192.0.2.50")]);
    let run = sipp(
        "basic_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    );
    run.assert_ok("call with a public address");
    let answer = sdp_answer_of_200(&run);
    assert!(
        answer.contains("Contact: <sip:passgate@192.0.2.50:"),
        "{answer}"
    );
    assert!(answer.contains("c=IN IP4 192.0.2.50"), "{answer}");
}

/// Nothing is played until the caller's ACK confirms the call (a caller
/// behind an SBC may open its media path only on our 2xx); then the
/// greeting follows at once.
#[test]
fn the_greeting_waits_for_the_ack() {
    let agent = Agent::start(&[]);
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (sip_port, rtp_port) = (
        sip.local_addr().unwrap().port(),
        rtp.local_addr().unwrap().port(),
    );
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
    );
    let headers = |method: &str, cseq: u32, branch: &str, to_tag: &str| {
        format!(
            "Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15551230001@127.0.0.1>;tag=ack-test\r\n\
             To: <sip:passgate@{}>{to_tag}\r\nCall-ID: greeting-waits-for-ack\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:caller@127.0.0.1:{sip_port}>\r\n",
            agent.sip
        )
    };
    let invite = format!(
        "INVITE sip:passgate@{} SIP/2.0\r\n{}Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        agent.sip,
        headers("INVITE", 1, "inv1", ""),
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), agent.sip).unwrap();
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let ok = loop {
        let (n, _) = sip
            .recv_from(&mut buf)
            .expect("a final response to the INVITE");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
        assert!(text.starts_with("SIP/2.0 1"), "{text}");
    };
    let to_tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .expect("a To tag on the 200")
        .trim()
        .to_string();
    let tag = format!(";tag={to_tag}");

    rtp.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    assert!(rtp.recv_from(&mut buf).is_err(), "no audio before the ACK");

    let ack = format!(
        "ACK sip:passgate@{} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
        agent.sip,
        headers("ACK", 1, "ack1", &tag)
    );
    sip.send_to(ack.as_bytes(), agent.sip).unwrap();
    rtp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let (n, _) = rtp.recv_from(&mut buf).expect("the greeting after the ACK");
    assert!(n >= 12 && buf[0] >> 6 == 2, "an RTP packet");

    let bye = format!(
        "BYE sip:passgate@{} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
        agent.sip,
        headers("BYE", 2, "bye1", &tag)
    );
    sip.send_to(bye.as_bytes(), agent.sip).unwrap();
    agent.wait_log(&["call ended reason=RemoteBye"], Duration::from_secs(5));
}
