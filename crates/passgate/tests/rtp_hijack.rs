//! A stranger on the trunk side tries to take over a call's media, against
//! the real binary: it sprays RTP (key presses and audio) at every port of
//! the range from another address before the caller's media starts, and it
//! reads one call's port to guess the next one's.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::cli::{add_nelson, refer_to, spoken_as};
use support::udp_caller::{answer_rtp_port, offer, UdpCaller};
use support::{free_port, Agent, SippOptions};

/// What the sprayer sent, and what came back to it.
struct Sprayed {
    sent: u64,
    received: u64,
}

/// An RTP packet: V=2, `payload_type` (with the marker bit when `marker`).
fn rtp(payload_type: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, payload_type | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x5eed_0bad_u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// From 127.0.0.2 (not the caller's address), every 20 ms to every even
/// port of `ports`: a press of 9 as telephone-event 101 (start and end) and
/// 20 ms of loud µ-law audio, until `stop`. Counts what comes back.
fn spray(ports: std::ops::RangeInclusive<u16>, stop: Arc<AtomicBool>) -> Sprayed {
    let socket = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2 (loopback alias)");
    socket.set_nonblocking(true).unwrap();
    let targets: Vec<SocketAddr> = ports
        .filter(|p| p % 2 == 0)
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect();
    let loud = [0x80u8; 160];
    let mut sprayed = Sprayed {
        sent: 0,
        received: 0,
    };
    let mut buf = [0u8; 2048];
    let mut seq: u16 = 1;
    let mut ts: u32 = 160;
    while !stop.load(Ordering::Relaxed) {
        let press = [
            rtp(101, true, seq, ts, &[9, 10, 0, 160]),
            rtp(101, false, seq.wrapping_add(1), ts, &[9, 0x80 | 10, 1, 64]),
            rtp(0, false, seq.wrapping_add(2), ts, &loud),
        ];
        for to in &targets {
            for packet in &press {
                if socket.send_to(packet, to).is_ok() {
                    sprayed.sent += 1;
                }
            }
        }
        seq = seq.wrapping_add(3);
        ts = ts.wrapping_add(480);
        while socket.recv_from(&mut buf).is_ok() {
            sprayed.received += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    while socket.recv_from(&mut buf).is_ok() {
        sprayed.received += 1;
    }
    sprayed
}

/// A sample the agent must export (a missing one fails the test).
fn metric(agent: &Agent, name: &str) -> u64 {
    let metrics = agent.metrics_text();
    assert!(
        metrics.lines().any(|l| l.starts_with(name)),
        "no {name} in {metrics}"
    );
    support::metric_in(&metrics, name) as u64
}

#[test]
fn a_stranger_spraying_the_port_range_before_the_caller_speaks_neither_hears_nor_types() {
    let rtp_first = 20000 + (free_port() % 20000) / 2 * 2;
    let range = format!("{}-{}", rtp_first, rtp_first + 19);
    let agent = Agent::start(&[
        ("PASSGATE_RTP__PORT_RANGE", range.as_str()),
        ("PASSGATE_FLOW__MENU__TIMEOUT", "30s"),
        ("PASSGATE_FLOW__PROMPTS__GREETING", ""),
    ]);
    add_nelson(&agent.database);
    let dir = tempfile::tempdir().unwrap();
    spoken_as("하얀 말", dir.path(), "passphrase.wav");

    let stop = Arc::new(AtomicBool::new(false));
    let sprayer = {
        let stop = stop.clone();
        std::thread::spawn(move || spray(rtp_first..=rtp_first + 19, stop))
    };
    let run = support::sipp_with(
        "verified_media_late",
        agent.sip,
        &SippOptions {
            dir: Some(dir.path()),
            timeout_secs: Some(90),
            ..Default::default()
        },
    );
    stop.store(true, Ordering::Relaxed);
    let sprayed = sprayer.join().unwrap();
    run.assert_ok(&format!(
        "the caller under attack\n--- passgate log ---\n{}",
        agent.log_text()
    ));
    assert_eq!(
        refer_to(&run),
        "Refer-To: <sip:agents@127.0.0.1?X-Passgate-Auth=verified&X-Passgate-Account=nelson>"
    );
    assert!(sprayed.sent > 1000, "{} packets sprayed", sprayed.sent);
    assert_eq!(sprayed.received, 0, "the stranger heard our prompts");
    let log = agent.wait_log(&["call finished"], Duration::from_secs(5));
    assert!(
        !log.contains("source=Rfc4733"),
        "a sprayed key press was taken: {log}"
    );
    assert!(
        metric(&agent, "passgate_rtp_foreign_source_packets_total") > 0,
        "the spray reached the call's port and was dropped there"
    );
}

#[test]
fn consecutive_calls_get_ports_that_do_not_follow_each_other() {
    let rtp_first = 20000 + (free_port() % 20000) / 2 * 2;
    let range = format!("{}-{}", rtp_first, rtp_first + 1999);
    let agent = Agent::start(&[("PASSGATE_RTP__PORT_RANGE", range.as_str())]);
    let media = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = offer(
        "127.0.0.1".parse().unwrap(),
        media.local_addr().unwrap().port(),
        "",
    );
    let ports: Vec<u16> = (0..6)
        .map(|_| {
            let (caller, answer) = UdpCaller::invite(agent.sip, &sdp);
            assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
            caller.bye();
            answer_rtp_port(&answer)
        })
        .collect();
    // Handed out in order, every step would be one pair (2); drawn at
    // random from 1,000 pairs, a step of one pair is a 1-in-1,000 chance.
    let steps_of_one_pair = ports.windows(2).filter(|w| w[1] == w[0] + 2).count();
    assert!(steps_of_one_pair <= 1, "{ports:?}");
    assert!(
        ports
            .iter()
            .all(|p| (rtp_first..rtp_first + 2000).contains(p) && p % 2 == 0),
        "{ports:?}"
    );
}
