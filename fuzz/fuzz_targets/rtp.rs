//! The media input path: RTP parsing, RTCP compound parsing, the RFC 4733
//! telephone-event detector and the whole RtpReceiver (jitter buffer, G.711
//! decode, in-band DTMF, VAD), with time advancing between datagrams.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::rtcp::{self, RtcpConfig, RtcpSession};
use media::{ReceiverConfig, Rfc4733Config, Rfc4733Detector, RtpPacket, RtpReceiver, G711};

fuzz_target!(|data: &[u8]| {
    let from: SocketAddr = "198.51.100.20:40000".parse().unwrap();
    let mut now = Instant::now();

    // One datagram, every parser.
    if let Ok(packet) = RtpPacket::parse(data) {
        let _ = packet.to_bytes();
    }
    let _ = rtcp::parse_compound(data);

    // A stream of datagrams: the input cut at each "\xffSEP" marker.
    let mut detector = Rfc4733Detector::new(Rfc4733Config {
        payload_type: 101,
        ..Rfc4733Config::default()
    });
    let mut receiver = RtpReceiver::new(ReceiverConfig::g711(G711::Ulaw, Some(101), 16000))
        .expect("receiver config");
    let mut inband =
        RtpReceiver::new(ReceiverConfig::g711(G711::Alaw, None, 8000)).expect("receiver config");
    let mut rtcp_session = RtcpSession::new(RtcpConfig {
        local_ssrc: 0x1234_5678,
        cname: "fuzz@passgate".into(),
        clock_rate: 8000,
        interval: Duration::from_secs(5),
    });
    rtcp_session.start(now);
    for datagram in split(data, b"\xffSEP") {
        if let Ok(packet) = RtpPacket::parse(datagram) {
            detector.handle_packet(now, &packet);
            rtcp_session.on_rtp_received(now, &packet);
        }
        receiver.handle_datagram(now, from, datagram);
        inband.handle_datagram(now, from, datagram);
        rtcp_session.handle_rtcp(now, datagram);
        now += Duration::from_millis(20);
        detector.handle_timeout(now);
        receiver.handle_timeout(now);
        inband.handle_timeout(now);
        rtcp_session.handle_timeout(now, std::time::SystemTime::UNIX_EPOCH);
        while detector.poll_digit().is_some() {}
        while receiver.poll_event().is_some() {}
        while inband.poll_event().is_some() {}
        while rtcp_session.poll_transmit().is_some() {}
    }
    let _ = rtcp_session.stats();
    let _ = receiver.stats();
});

fn split<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let cur = rest?;
        match cur.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = Some(&cur[i + sep.len()..]);
                Some(&cur[..i])
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}
