use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::{
    AudioCodec, MediaEvent, MediaSession, PacerConfig, ReceiverConfig, RtpPacket, SessionConfig,
    SessionEvent, G711,
};

use super::{CallMedia, CallMediaCommand, MediaEngine, RtcpRoute};

/// Plays `pcm` as the call task does: a command the media thread carries out.
fn play(media: &CallMedia, pcm: Vec<i16>) {
    media.apply(CallMediaCommand::Session(media::MediaCommand::Play {
        id: media::ClipId(1),
        pcm: pcm.into(),
    }));
}

fn session() -> MediaSession {
    session_reporting_every(Duration::from_secs(5))
}

fn session_reporting_every(rtcp_interval: Duration) -> MediaSession {
    let receiver = ReceiverConfig::new(vec![(0, AudioCodec::G711(G711::Ulaw))], Some(101), 8000);
    MediaSession::new(
        Instant::now(),
        SessionConfig {
            receiver,
            pacer: PacerConfig::g711(G711::Ulaw, 0x1234, 100, 1000),
            cname: "test".into(),
            rtcp_interval,
            srtp: None,
        },
    )
    .unwrap()
}

fn rtcp_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, payload: Vec<u8>) -> Vec<u8> {
    RtpPacket {
        payload_type: pt,
        marker,
        sequence_number: seq,
        timestamp: ts,
        ssrc: 0xCAFE,
        payload: Bytes::from(payload),
    }
    .to_bytes()
    .unwrap()
    .to_vec()
}

fn attach(engine: &MediaEngine, peer: &UdpSocket) -> (super::CallMedia, std::net::SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let media = engine
        .attach(
            socket,
            rtcp_socket(),
            session(),
            peer.local_addr().unwrap(),
            RtcpRoute::NextToRtp,
        )
        .unwrap();
    (media, local)
}

#[test]
fn a_prompt_is_sent_paced_with_consecutive_sequence_numbers_and_timestamps() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (media, _) = attach(&engine, &peer);
    // Half a second of prompt: 25 packets of 160 samples.
    play(&media, vec![1000i16; 4000]);
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    let started = Instant::now();
    while got.len() < 25 {
        let (n, _) = peer.recv_from(&mut buf).expect("the prompt's packets");
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        if p.payload_type == 0 {
            got.push(p);
        }
    }
    let span = started.elapsed();
    for pair in got.windows(2) {
        assert_eq!(
            pair[1].sequence_number,
            pair[0].sequence_number.wrapping_add(1)
        );
        assert_eq!(pair[1].timestamp, pair[0].timestamp.wrapping_add(160));
    }
    assert!(got.iter().all(|p| p.payload.len() == 160));
    // Paced, not sent in a burst: 24 intervals of 20 ms at the least.
    assert!(span >= Duration::from_millis(460), "{span:?}");
    // The end of the prompt is an event for the call.
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !events
        .iter()
        .any(|e| matches!(e, SessionEvent::Prompt(media::PacerEvent::Finished(_))))
    {
        assert!(Instant::now() < deadline, "no Finished event: {events:?}");
        std::thread::sleep(Duration::from_millis(5));
        media.take_events(&mut events);
    }
}

#[tokio::test]
async fn a_key_press_wakes_the_call_with_the_digit() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (media, local) = attach(&engine, &peer);
    // RFC 4733 key 5: three updates, then the end packet three times.
    let ts = 8000;
    for (i, (end, duration)) in [
        (false, 160u16),
        (false, 320),
        (false, 480),
        (true, 640),
        (true, 640),
        (true, 640),
    ]
    .into_iter()
    .enumerate()
    {
        let flags = if end { 0x80 } else { 0 } | 10;
        let payload = vec![5, flags, (duration >> 8) as u8, duration as u8];
        peer.send_to(&rtp(101, i == 0, 10 + i as u16, ts, payload), local)
            .unwrap();
    }
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            media.events().await;
            media.take_events(&mut events);
            if events
                .iter()
                .any(|e| matches!(e, SessionEvent::Media(MediaEvent::Digit { .. })))
            {
                break;
            }
        }
    })
    .await
    .expect("woken with the digit");
    assert_eq!(digits_in(&events), "5");
}

/// The key presses among a call's events, in order.
fn digits_in(events: &[SessionEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Media(MediaEvent::Digit { digit, .. }) => Some(digit.as_char()),
            _ => None,
        })
        .collect()
}

#[test]
fn many_calls_on_one_thread_do_not_mix_and_a_dropped_call_frees_its_port() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let peers: Vec<_> = (0..20)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let calls: Vec<_> = peers.iter().map(|p| attach(&engine, p)).collect();
    for (media, _) in &calls {
        play(media, vec![0i16; 800]);
    }
    let mut ssrcs = std::collections::HashSet::new();
    for (peer, (_, local)) in peers.iter().zip(&calls) {
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(from, *local, "each peer hears its own call");
        ssrcs.insert(RtpPacket::parse(&buf[..n]).unwrap().ssrc);
    }
    assert_eq!(ssrcs.len(), 1, "every session was built with the same SSRC");

    let (media, local) = calls.into_iter().next().unwrap();
    drop(media);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match UdpSocket::bind(local) {
            Ok(_) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "port still held: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[test]
fn a_panic_in_one_call_ends_that_call_only() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let peers: Vec<_> = (0..2)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let (broken, _) = attach(&engine, &peers[0]);
    let (healthy, _) = attach(&engine, &peers[1]);
    // A real panic, through the media threads' panic hook: reported at
    // once even under RUST_BACKTRACE, with no backtrace to symbolize.
    broken.inject_panic();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !broken.failed() {
        assert!(Instant::now() < deadline, "the failure was not reported");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!healthy.failed());
    // The thread goes on carrying the other call.
    play(&healthy, vec![0i16; 800]);
    peers[1]
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = peers[1]
        .recv_from(&mut buf)
        .expect("the healthy call still sends");
    assert!(RtpPacket::parse(&buf[..n]).is_ok());
}

/// One RFC 4733 key press: a start packet and the end packet three times.
fn press(from: &UdpSocket, to: std::net::SocketAddr, digit: u8, seq: u16, ts: u32) {
    for (i, (end, duration)) in [(false, 160u16), (true, 640), (true, 640), (true, 640)]
        .into_iter()
        .enumerate()
    {
        let flags = if end { 0x80 } else { 0 } | 10;
        let payload = vec![digit, flags, (duration >> 8) as u8, duration as u8];
        from.send_to(&rtp(101, i == 0, seq + i as u16, ts, payload), to)
            .unwrap();
    }
}

/// Digits heard within `wait`.
fn digits_within(media: &super::CallMedia, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    let mut heard = String::new();
    while Instant::now() < deadline {
        let mut events = Vec::new();
        media.take_events(&mut events);
        heard.push_str(&digits_in(&events));
        std::thread::sleep(Duration::from_millis(5));
    }
    heard
}

#[test]
fn the_socket_is_connected_to_the_learnt_source_and_others_are_not_heard() {
    connected_socket_case(true);
}

#[test]
fn without_io_uring_the_connected_socket_sends_each_packet_itself() {
    connected_socket_case(false);
}

/// A prompt after the caller's source is learnt, and again after the media
/// moved: through the io_uring batch (`io_uring`, where this kernel allows
/// it) or one `send` per packet.
fn connected_socket_case(io_uring: bool) {
    let counters = std::sync::Arc::new(super::MediaCounters::default());
    let engine = MediaEngine::start(1, 0, io_uring, counters.clone()).unwrap();
    let batching = io_uring && ::io_uring::IoUring::new(8).is_ok();
    for threads in [
        &counters.io_uring_send_threads,
        &counters.io_uring_receive_threads,
    ] {
        assert_eq!(
            threads.load(std::sync::atomic::Ordering::Relaxed),
            u64::from(batching)
        );
    }
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    // An explicit port, as RtpPorts binds: Linux keeps it across a
    // disconnect, where it would drop an ephemeral one.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let local = socket.local_addr().unwrap();
    let media = engine
        .attach(
            socket,
            rtcp_socket(),
            session(),
            caller.local_addr().unwrap(),
            RtcpRoute::NextToRtp,
        )
        .unwrap();
    press(&caller, local, 1, 10, 8000);
    assert_eq!(digits_within(&media, Duration::from_millis(300)), "1");
    assert_eq!(
        media.connected(),
        Some(caller.local_addr().unwrap()),
        "connected to the caller once learnt"
    );
    // Sent without an address on the connected socket, a prompt still
    // reaches the caller.
    caller
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    play(&media, vec![1000i16; 800]);
    let mut buf = [0u8; 1500];
    let prompt_packet = loop {
        let (n, from) = caller
            .recv_from(&mut buf)
            .expect("the prompt on the connected socket");
        assert_eq!(from, local);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        if p.payload_type == 0 && p.payload.iter().any(|&c| c != G711::Ulaw.silence()) {
            break p;
        }
    };
    assert_eq!(prompt_packet.payload.len(), 160);
    // Key presses from anywhere else are not heard.
    press(&other, local, 9, 20, 16000);
    assert_eq!(digits_within(&media, Duration::from_millis(300)), "");
    // The caller's media moved (a re-INVITE): the next source is learnt.
    media.apply(CallMediaCommand::RemoteMoved {
        rtp: other.local_addr().unwrap(),
        rtcp: RtcpRoute::NextToRtp,
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(media.connected(), None, "disconnected");
    press(&other, local, 2, 30, 24000);
    let heard = digits_within(&media, Duration::from_millis(300));
    let stats = media.stats().receiver;
    assert_eq!(heard, "2", "{stats:?}");
    assert_eq!(media.connected(), Some(other.local_addr().unwrap()));
    // The next prompt reaches the new source, whole and in order.
    other
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    play(&media, vec![1000i16; 1600]);
    let mut sequence = Vec::new();
    while sequence.len() < 10 {
        let (n, from) = other
            .recv_from(&mut buf)
            .expect("the prompt after the move");
        assert_eq!(from, local);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        if p.payload_type == 0 && p.payload.iter().any(|&c| c != G711::Ulaw.silence()) {
            sequence.push(p.sequence_number);
        }
    }
    assert!(
        sequence.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "{sequence:?}"
    );
    assert_eq!(
        counters
            .send_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// Two sockets on consecutive ports, the first even: an RTP/RTCP pair.
fn port_pair() -> (UdpSocket, UdpSocket) {
    loop {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if let (Ok(rtp), Ok(rtcp)) = (
            UdpSocket::bind(("127.0.0.1", port)),
            UdpSocket::bind(("127.0.0.1", port + 1)),
        ) {
            for s in [&rtp, &rtcp] {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            }
            return (rtp, rtcp);
        }
    }
}

/// The first RTCP datagram `on` receives: its source and its packets.
fn first_rtcp(on: &UdpSocket) -> (std::net::SocketAddr, Vec<media::rtcp::RtcpPacket>) {
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = on.recv_from(&mut buf).expect("an RTCP report within 2 s");
        if let Ok(packets) = media::rtcp::parse_compound(&buf[..n]) {
            return (from, packets);
        }
    }
}

#[test]
fn rtcp_leaves_our_rtcp_port_for_the_port_above_the_callers_rtp() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let (caller_rtp, caller_rtcp) = port_pair();
    let (our_rtp, our_rtcp) = port_pair();
    let our_rtcp_addr = our_rtcp.local_addr().unwrap();
    let _media = engine
        .attach(
            our_rtp,
            our_rtcp,
            session_reporting_every(Duration::from_millis(100)),
            caller_rtp.local_addr().unwrap(),
            RtcpRoute::NextToRtp,
        )
        .unwrap();
    let (from, packets) = first_rtcp(&caller_rtcp);
    assert_eq!(from, our_rtcp_addr, "from our RTP port + 1");
    assert!(matches!(
        packets[0],
        media::rtcp::RtcpPacket::ReceiverReport { ssrc: 0x1234, .. }
    ));
}

#[test]
fn rtcp_goes_to_the_callers_a_rtcp_address() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let (caller_rtp, _) = port_pair();
    let elsewhere = UdpSocket::bind("127.0.0.1:0").unwrap();
    elsewhere
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let (our_rtp, our_rtcp) = port_pair();
    let our_rtcp_addr = our_rtcp.local_addr().unwrap();
    let _media = engine
        .attach(
            our_rtp,
            our_rtcp,
            session_reporting_every(Duration::from_millis(100)),
            caller_rtp.local_addr().unwrap(),
            RtcpRoute::To(elsewhere.local_addr().unwrap()),
        )
        .unwrap();
    let (from, _) = first_rtcp(&elsewhere);
    assert_eq!(from, our_rtcp_addr);
}

#[test]
fn muxed_rtcp_shares_the_rtp_ports_both_ways() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let (caller_rtp, _) = port_pair();
    let (our_rtp, our_rtcp) = port_pair();
    let our_rtp_addr = our_rtp.local_addr().unwrap();
    let media = engine
        .attach(
            our_rtp,
            our_rtcp,
            session_reporting_every(Duration::from_millis(100)),
            caller_rtp.local_addr().unwrap(),
            RtcpRoute::Muxed,
        )
        .unwrap();
    let (from, _) = first_rtcp(&caller_rtp);
    assert_eq!(from, our_rtp_addr, "from our RTP port");
    // The caller's report on our RTP port reaches the RTCP session.
    caller_rtp
        .send_to(&receiver_report_about(0x1234, 64), our_rtp_addr)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stats = media.stats();
    assert_eq!(stats.rtcp.remote_fraction_lost, Some(0.25));
    assert_eq!(stats.receiver.malformed, 0);
}

#[test]
fn the_callers_rtcp_on_our_rtcp_port_reaches_the_session() {
    let engine = MediaEngine::start(1, 0, true, Default::default()).unwrap();
    let (caller_rtp, caller_rtcp) = port_pair();
    let (our_rtp, our_rtcp) = port_pair();
    let our_rtcp_addr = our_rtcp.local_addr().unwrap();
    let media = engine
        .attach(
            our_rtp,
            our_rtcp,
            session(),
            caller_rtp.local_addr().unwrap(),
            RtcpRoute::NextToRtp,
        )
        .unwrap();
    caller_rtcp
        .send_to(&receiver_report_about(0x1234, 128), our_rtcp_addr)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stats = media.stats().rtcp;
    assert_eq!(stats.remote_fraction_lost, Some(0.5));
}

/// A receiver report from SSRC 0xCAFE about `ssrc`, with `fraction_lost`/256 lost.
fn receiver_report_about(ssrc: u32, fraction_lost: u8) -> Vec<u8> {
    media::rtcp::build_compound(
        &media::rtcp::RtcpPacket::ReceiverReport {
            ssrc: 0xCAFE,
            reports: vec![media::rtcp::ReportBlock {
                ssrc,
                fraction_lost,
                ..Default::default()
            }],
        },
        "caller",
    )
}

#[test]
fn the_negotiated_route_follows_a_rtcp_and_rtcp_mux() {
    let offer = |extra: &str| {
        let sdp = sip::sdp::parse(&format!(
            "v=0\r\nc=IN IP4 10.0.0.5\r\nm=audio 4000 RTP/AVP 0\r\n{extra}"
        ))
        .unwrap();
        RtcpRoute::negotiated(&sip::sdp::negotiate(&sdp, &Default::default()).unwrap())
    };
    assert_eq!(offer(""), RtcpRoute::NextToRtp);
    assert_eq!(offer("a=rtcp:4001\r\n"), RtcpRoute::NextToRtp);
    assert_eq!(
        offer("a=rtcp:5000 IN IP4 10.0.0.9\r\n"),
        RtcpRoute::To("10.0.0.9:5000".parse().unwrap())
    );
    assert_eq!(offer("a=rtcp-mux\r\n"), RtcpRoute::Muxed);
    let caller: std::net::SocketAddr = "10.0.0.5:4000".parse().unwrap();
    assert_eq!(
        RtcpRoute::NextToRtp.destination(caller),
        ("10.0.0.5:4001".parse().unwrap(), false)
    );
    assert_eq!(RtcpRoute::Muxed.destination(caller), (caller, true));
}

#[test]
fn a_burst_on_one_socket_is_read_to_the_end_with_io_uring() {
    burst_case(true);
}

#[test]
fn a_burst_on_one_socket_is_read_to_the_end_with_recvmmsg() {
    burst_case(false);
}

/// Sixteen datagrams land on a call's socket at once and nothing follows:
/// every one is read, though a read takes one (io_uring) or eight
/// (recvmmsg) at a time, not one per later arrival.
fn burst_case(io_uring: bool) {
    let counters = std::sync::Arc::new(super::MediaCounters::default());
    let engine = MediaEngine::start(1, 0, io_uring, counters).unwrap();
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (media, local) = attach(&engine, &caller);
    for (i, digit) in [1u8, 2, 3, 4].into_iter().enumerate() {
        press(
            &caller,
            local,
            digit,
            10 + 4 * i as u16,
            8000 * (i as u32 + 1),
        );
    }
    assert_eq!(digits_within(&media, Duration::from_millis(500)), "1234");
}
