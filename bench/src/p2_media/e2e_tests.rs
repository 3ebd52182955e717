//! The generator against a stand-in agent on loopback: a UAS that ignores
//! the first INVITE (so it must be retransmitted), answers the second, and
//! takes the RTP with the agent's own RFC 4733 detector.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use media::{Rfc4733Config, Rfc4733Detector, RtpPacket};

use super::rtp_out::{noise_frames, KeyPlan, Outgoing};
use super::sender::{self, Stream};
use super::sip_text::{Message, Start};
use super::uac::{State, Uac};

#[derive(Default)]
struct Seen {
    invites: usize,
    acks: usize,
    byes: usize,
}

/// Answers INVITEs (after ignoring the very first) with media on `rtp[i]`
/// for the i-th distinct call, and BYEs with 200.
fn stand_in_uas(rtp: Vec<SocketAddr>, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut calls: Vec<String> = Vec::new();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let m = Message::parse(&buf[..n]).unwrap();
            let Start::Request { method } = &m.start else {
                continue;
            };
            let mut seen = seen.lock().unwrap();
            let reply = match method.as_str() {
                "INVITE" => {
                    seen.invites += 1;
                    if seen.invites == 1 {
                        continue;
                    }
                    let id = m.call_id().unwrap().to_string();
                    let i = calls.iter().position(|c| *c == id).unwrap_or_else(|| {
                        calls.push(id);
                        calls.len() - 1
                    });
                    socket
                        .send_to(m.response(100, "Trying").as_bytes(), from)
                        .unwrap();
                    let sdp = format!(
                        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {} RTP/AVP 0 101\r\n",
                        rtp[i].port()
                    );
                    let ok = m.response(200, "OK").replace(
                        "Content-Length: 0\r\n\r\n",
                        &format!(
                            "Contact: <sip:uas@{addr}>\r\nContent-Length: {}\r\n\r\n{sdp}",
                            sdp.len()
                        ),
                    );
                    // The To of the request has no tag yet: the answer adds one.
                    ok.replacen(">\r\nCall-ID", &format!(">;tag=uas{i}\r\nCall-ID"), 1)
                }
                "ACK" => {
                    seen.acks += 1;
                    continue;
                }
                "BYE" => {
                    seen.byes += 1;
                    m.response(200, "OK")
                }
                _ => continue,
            };
            socket.send_to(reply.as_bytes(), from).unwrap();
        }
    });
    addr
}

#[test]
fn calls_are_set_up_stream_keys_and_end() {
    let peer_rtp: Vec<UdpSocket> = (0..2)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let peer_addrs: Vec<SocketAddr> = peer_rtp.iter().map(|s| s.local_addr().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let uas = stand_in_uas(peer_addrs.clone(), stop.clone(), seen.clone());

    let ours: Vec<UdpSocket> = (0..2)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let our_addrs: Vec<SocketAddr> = ours.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut uac = Uac::new(uas, &our_addrs, "t", false).unwrap();
    let setup = uac.set_up(100.0).unwrap();
    assert_eq!(setup.done, 2, "{:?}", setup.failed);
    assert!(
        setup.elapsed >= Duration::from_millis(500),
        "the ignored INVITE was retransmitted"
    );

    let mut streams = Vec::new();
    for (i, socket) in ours.into_iter().enumerate() {
        let State::Confirmed(answer) = uac.state(i).clone() else {
            panic!("call {i}: {:?}", uac.state(i));
        };
        assert_eq!(answer.rtp, peer_addrs[answer_index(&answer.to_tag)]);
        socket.connect(answer.rtp).unwrap();
        socket.set_nonblocking(true).unwrap();
        let plan = KeyPlan {
            first: '1',
            cycle: vec!['2'],
            first_tick: 2,
            every_ticks: 7,
        };
        let out = Outgoing::new(i as u32, 0, 0, noise_frames(3, 9), plan);
        streams.push(Stream {
            socket: Arc::new(socket),
            out,
            srtp: None,
        });
    }
    let start = Instant::now();
    let report = sender::spawn(streams, start, start + Duration::from_millis(400))
        .join()
        .unwrap();
    let mut detected = 0;
    let mut audio = 0;
    for socket in &peer_rtp {
        socket.set_nonblocking(true).unwrap();
        let mut detector = Rfc4733Detector::new(Rfc4733Config::default());
        let mut buf = [0u8; 2048];
        while let Ok(n) = socket.recv(&mut buf) {
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            if !detector.handle_packet(Instant::now(), &p) {
                audio += 1;
            }
        }
        detected += std::iter::from_fn(|| detector.poll_digit()).count() as u64;
    }
    assert_eq!(report.errors, 0);
    assert!(
        (36..=42).contains(&report.packets),
        "20 ms apart for 400 ms, 2 calls: {}",
        report.packets
    );
    // Presses start at ticks 2 and 9; the one at 16 would not end by 400 ms.
    assert_eq!(report.digits, 4);
    assert_eq!(detected, report.digits, "every key sent was detected");
    assert!(audio > 0);

    let down = uac.tear_down(1000.0).unwrap();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(down.done, 2);
    let seen = seen.lock().unwrap();
    assert_eq!((seen.invites, seen.acks, seen.byes), (3, 2, 2));
}

fn answer_index(tag: &str) -> usize {
    tag.trim_start_matches("uas").parse().unwrap()
}
