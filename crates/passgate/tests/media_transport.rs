//! Where a call's media goes, on the wire against the real binary: IPv6
//! callers on a dual-stack listener, and RTCP on RTP + 1, at the caller's
//! `a=rtcp` (RFC 3605), or multiplexed on the RTP port (RFC 5761).

mod support;

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::udp_caller::{answer_rtp_port, offer, UdpCaller};
use support::{free_media_port, offer_keys, sipp_with, Agent, Capture, SippOptions};

const V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn dual_stack_agent() -> Agent {
    Agent::start(&[("PASSGATE_SIP__LISTEN", "[::]:0")])
}

fn the_200(run: &support::SippRun) -> String {
    run.received()
        .into_iter()
        .find(|m| m.contains("SIP/2.0 200 OK") && m.contains("CSeq: 1 INVITE") && m.contains("v=0"))
        .unwrap_or_else(|| panic!("no 200 with SDP to the INVITE:\n{}", run.messages))
        .to_string()
}

#[test]
fn an_ipv6_caller_over_loopback_is_answered_in_ip6_and_hears_the_prompt() {
    let agent = dual_stack_agent();
    let media_port = free_media_port();
    let capture = Capture::start(media_port);
    let mut extra = offer_keys("0", "PCMU", "101", "20");
    // The last -i wins over the helper's 127.0.0.1: SIPp signals and sends
    // its media from ::1, and its SDP says IN IP6 ([media_ip_type] is 6).
    extra.extend(["-i", "::1"]);
    let run = sipp_with(
        "media_listen",
        SocketAddr::new(V6, agent.sip.port()),
        &SippOptions {
            media_port: Some(media_port),
            extra: &extra,
            ..Default::default()
        },
    );
    let capture = capture.stop();
    run.assert_ok("an IPv6 caller");
    let ok = the_200(&run);
    assert!(ok.contains("c=IN IP6 ::1"), "{ok}");
    assert!(!ok.contains("IN IP4"), "{ok}");
    assert!(ok.contains("Contact: <sip:passgate@[::1]:"), "{ok}");
    let agent_port = answer_rtp_port(&ok);
    let prompt = capture
        .rtp(media_port)
        .into_iter()
        .filter(|p| p.dst_port == media_port && p.src_port == agent_port && p.payload_type == 0)
        .count();
    // Four seconds of prompt at 50 packets a second.
    assert!(prompt > 150, "{prompt} prompt packets over IPv6");
}

#[test]
fn an_ipv4_caller_of_the_same_dual_stack_listener_is_answered_in_ip4() {
    let agent = dual_stack_agent();
    let run = sipp_with(
        "basic_call",
        SocketAddr::new(V4, agent.sip.port()),
        &SippOptions {
            extra: &offer_keys("0", "PCMU", "101", "20"),
            ..Default::default()
        },
    );
    run.assert_ok("an IPv4 caller of [::]");
    let ok = the_200(&run);
    assert!(ok.contains("c=IN IP4 127.0.0.1"), "{ok}");
    assert!(ok.contains("Contact: <sip:passgate@127.0.0.1:"), "{ok}");
    assert!(
        ok.contains("received=127.0.0.1"),
        "not as ::ffff:127.0.0.1: {ok}"
    );
}

#[test]
fn an_ipv6_offer_to_an_agent_without_an_ipv6_address_is_refused_488_with_a_warning() {
    let agent = Agent::start(&[]);
    let (_caller, response) = UdpCaller::invite(agent.sip, &offer(V6, 40000, ""));
    assert!(response.starts_with("SIP/2.0 488 "), "{response}");
    let warning = response
        .lines()
        .find_map(|l| l.strip_prefix("Warning: "))
        .unwrap_or_else(|| panic!("no Warning: {response}"));
    assert!(
        warning.starts_with("301 passgate ") && warning.contains("IPv6"),
        "{warning}"
    );
}

/// The caller's RTP and RTCP sockets: an even port and the odd one above.
fn caller_media(ip: IpAddr) -> (UdpSocket, UdpSocket) {
    loop {
        let port = UdpSocket::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            & !1;
        if let (Ok(rtp), Ok(rtcp)) = (UdpSocket::bind((ip, port)), UdpSocket::bind((ip, port + 1)))
        {
            for s in [&rtp, &rtcp] {
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
            }
            return (rtp, rtcp);
        }
    }
}

/// RTCP sender and receiver reports (packet types 200 and 201) that arrive
/// on `socket` within `wait`, with their sources.
fn rtcp_reports(socket: &UdpSocket, wait: Duration) -> Vec<SocketAddr> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    let mut from = Vec::new();
    while Instant::now() < deadline {
        if let Ok((n, source)) = socket.recv_from(&mut buf) {
            if n >= 8 && buf[0] >> 6 == 2 && matches!(buf[1], 200 | 201) {
                assert!(
                    media::rtcp::parse_compound(&buf[..n]).is_ok(),
                    "well-formed RTCP"
                );
                from.push(source);
            }
        }
    }
    from
}

/// The first report is due 5 s after the answer.
const FIRST_REPORT: Duration = Duration::from_secs(8);

/// A call from `ip` offering `extra`; returns the caller, the 200 and the
/// agent's RTP address from it.
fn call(agent: &Agent, ip: IpAddr, rtp_port: u16, extra: &str) -> (UdpCaller, String, SocketAddr) {
    let target = SocketAddr::new(ip, agent.sip.port());
    let (caller, ok) = UdpCaller::invite(target, &offer(ip, rtp_port, extra));
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    let agent_rtp = SocketAddr::new(ip, answer_rtp_port(&ok));
    (caller, ok, agent_rtp)
}

fn rtcp_from_rtp_plus_one(ip: IpAddr) {
    let agent = dual_stack_agent();
    let (rtp, rtcp) = caller_media(ip);
    let (caller, ok, agent_rtp) = call(&agent, ip, rtp.local_addr().unwrap().port(), "");
    assert!(!ok.contains("a=rtcp-mux"), "{ok}");
    assert_eq!(agent_rtp.port() % 2, 0, "RTP on an even port: {ok}");
    let reports = rtcp_reports(&rtcp, FIRST_REPORT);
    caller.bye();
    let ours = SocketAddr::new(ip, agent_rtp.port() + 1);
    assert!(!reports.is_empty(), "a report reached the caller's RTP + 1");
    assert!(
        reports.iter().all(|&r| r == ours),
        "{reports:?} from {ours}"
    );
    assert!(
        rtcp_reports(&rtp, Duration::from_millis(300)).is_empty(),
        "no RTCP on the RTP port unless muxed"
    );
}

#[test]
fn rtcp_comes_from_our_rtp_port_plus_one_to_the_callers_rtp_port_plus_one() {
    rtcp_from_rtp_plus_one(V4);
}

#[test]
fn rtcp_over_ipv6_comes_from_our_rtp_port_plus_one_too() {
    rtcp_from_rtp_plus_one(V6);
}

#[test]
fn rtcp_goes_to_the_port_of_the_callers_a_rtcp() {
    let agent = dual_stack_agent();
    let (rtp, next_to_rtp) = caller_media(V4);
    let elsewhere = UdpSocket::bind((V4, 0)).unwrap();
    elsewhere
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let a_rtcp = format!("a=rtcp:{}\r\n", elsewhere.local_addr().unwrap().port());
    let (caller, _, agent_rtp) = call(&agent, V4, rtp.local_addr().unwrap().port(), &a_rtcp);
    let reports = rtcp_reports(&elsewhere, FIRST_REPORT);
    caller.bye();
    let ours = SocketAddr::new(V4, agent_rtp.port() + 1);
    assert!(!reports.is_empty(), "a report reached the a=rtcp port");
    assert!(
        reports.iter().all(|&r| r == ours),
        "{reports:?} from {ours}"
    );
    assert!(
        rtcp_reports(&next_to_rtp, Duration::from_millis(300)).is_empty(),
        "nothing to RTP + 1 when a=rtcp names another port"
    );
}

#[test]
fn rtcp_is_muxed_on_the_rtp_ports_when_the_caller_offers_rtcp_mux() {
    let agent = dual_stack_agent();
    let (rtp, next_to_rtp) = caller_media(V4);
    let (caller, ok, agent_rtp) = call(
        &agent,
        V4,
        rtp.local_addr().unwrap().port(),
        "a=rtcp-mux\r\n",
    );
    assert!(ok.contains("a=rtcp-mux\r\n"), "{ok}");
    let reports = rtcp_reports(&rtp, FIRST_REPORT);
    caller.bye();
    assert!(!reports.is_empty(), "a report on the caller's RTP port");
    assert!(
        reports.iter().all(|&r| r == agent_rtp),
        "{reports:?} from {agent_rtp}"
    );
    assert!(
        rtcp_reports(&next_to_rtp, Duration::from_millis(300)).is_empty(),
        "nothing to RTP + 1 when muxed"
    );
}

/// Counts the agent's RTP packets reaching `rtp` within `wait`, after the
/// caller's own packet taught the agent its source (the socket is then
/// connected to it).
fn prompt_packets_after_learning(rtp: &UdpSocket, agent_rtp: SocketAddr, wait: Duration) -> usize {
    let silence = media::RtpPacket {
        payload_type: 0,
        marker: true,
        sequence_number: 1,
        timestamp: 160,
        ssrc: 0x5eed,
        payload: bytes::Bytes::from(vec![0xffu8; 160]),
    }
    .to_bytes()
    .unwrap();
    rtp.send_to(&silence, agent_rtp).unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    let mut packets = 0;
    while Instant::now() < deadline {
        if let Ok((n, from)) = rtp.recv_from(&mut buf) {
            if from == agent_rtp && n > 12 && buf[1] & 0x7f == 0 {
                packets += 1;
            }
        }
    }
    packets
}

fn io_uring_case(io_uring: &str) {
    let agent = Agent::start(&[("PASSGATE_RTP__IO_URING", io_uring)]);
    let (rtp, _rtcp) = caller_media(V4);
    let (caller, _ok, agent_rtp) = call(&agent, V4, rtp.local_addr().unwrap().port(), "");
    let packets = prompt_packets_after_learning(&rtp, agent_rtp, Duration::from_secs(2));
    caller.bye();
    // 50 packets a second, prompt or encoded silence, from the answer on.
    assert!(packets >= 80, "{packets} packets in 2 s");
    let used = io_uring == "true" && io_uring::IoUring::new(8).is_ok();
    let text = agent.metrics_text();
    for direction in ["send", "receive"] {
        let line = format!(
            "passgate_media_threads_io_uring{{direction=\"{direction}\"}} {}",
            u8::from(used)
        );
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}

#[test]
fn a_caller_hears_its_prompt_through_io_uring_and_the_gauge_says_so() {
    io_uring_case("true");
}

#[test]
fn with_rtp_io_uring_off_a_caller_hears_its_prompt_through_send_and_the_gauge_reads_0() {
    io_uring_case("false");
}
