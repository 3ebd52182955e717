//! The UAS entry point: arbitrary bytes as UDP datagrams and as TCP stream
//! data (through the framer), interleaved with the passage of time so the
//! transaction and dialog timers fire.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sip::framing::{Frame, StreamFramer};
use sip::{Endpoint, EndpointConfig, Event, TransportKind};

fuzz_target!(|data: &[u8]| {
    let public: SocketAddr = "192.0.2.1:5060".parse().unwrap();
    let source: SocketAddr = "198.51.100.20:5070".parse().unwrap();
    let mut ep = Endpoint::new(EndpointConfig::new(public), 1);
    let start = Instant::now();
    let mut now = start;

    // Our To tag, learnt from the responses we send: the literal "TOTAG"
    // in later input is replaced by it, so in-dialog requests reach a dialog.
    let mut tag: Option<Vec<u8>> = None;

    // The whole input as one datagram: the parser and salvage path.
    ep.handle_input(now, TransportKind::Udp, source, data);
    drive(&mut ep, &mut now, &mut tag);

    // The same bytes as a TCP stream, cut wherever a NUL byte falls, so one
    // input can carry several messages and split them across reads.
    let mut framer = StreamFramer::default();
    for chunk in data.split(|b| *b == 0) {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(msg))) => {
                    ep.handle_input(now, TransportKind::Tcp(7), source, &msg)
                }
                Ok(Some(Frame::Ping)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        drive(&mut ep, &mut now, &mut tag);
    }

    run_out(&mut ep, &mut now);

    // Several datagrams: the input split on a marker byte, so a corpus entry
    // can hold an INVITE followed by its ACK, CANCEL, BYE or INFO.
    let mut ep = Endpoint::new(EndpointConfig::new(public), 2);
    for part in data.split(|b| *b == 0xff) {
        let part = with_tag(part, tag.as_deref());
        ep.handle_input(now, TransportKind::Udp, source, &part);
        drive(&mut ep, &mut now, &mut tag);
    }

    run_out(&mut ep, &mut now);
});

/// Runs every timer out (Timer H, 2xx retransmission, Timer J, a session
/// timer's refresh or BYE and that request's own transaction): nothing may
/// be left behind. The longest: a session of 1800 s (the most we agree to)
/// refreshed by us at 900 s, the refresh timing out, then our BYE.
fn run_out(ep: &mut Endpoint, now: &mut Instant) {
    let end = *now + Duration::from_secs(2000);
    while let Some(t) = ep.poll_timeout() {
        if t > end {
            break;
        }
        *now = (*now).max(t);
        ep.handle_timeout(*now);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
    }
    assert_eq!(ep.transactions(), 0, "transactions outlived every timer");
}

/// Answers every new call (the application's usual reply), drains output,
/// remembers our tag and moves the clock a little.
fn drive(ep: &mut Endpoint, now: &mut Instant, tag: &mut Option<Vec<u8>>) {
    drain(ep, tag);
    while let Some(ev) = ep.poll_event() {
        match ev {
            // Rung first, so a caller requiring 100rel gets a reliable 180
            // (and its PRACK crosses the 200).
            Event::IncomingCall(call) => {
                let _ = ep.ring(*now, call.call);
                let _ = ep.answer(*now, call.call, 40000);
            }
            // What the application does next: transfer, then hang up on a key.
            Event::CallConfirmed { call } => {
                let _ = ep.refer(*now, call, "sip:agent@192.0.2.9?X-Passgate-Auth=ok");
            }
            Event::InfoDigit { call, .. } => {
                let _ = ep.hangup(*now, call);
            }
            _ => {}
        }
    }
    drain(ep, tag);
    *now += Duration::from_millis(250);
    ep.handle_timeout(*now);
    drain(ep, tag);
}

fn drain(ep: &mut Endpoint, tag: &mut Option<Vec<u8>>) {
    while let Some(t) = ep.poll_transmit() {
        if let Some(found) = to_tag(&t.payload) {
            *tag = Some(found);
        }
    }
}

/// The tag of the To header of a response we sent.
fn to_tag(payload: &[u8]) -> Option<Vec<u8>> {
    let to = payload
        .split(|b| *b == b'\n')
        .find(|l| l.starts_with(b"To: "))?;
    let at = to.windows(5).position(|w| w == b";tag=")? + 5;
    let rest = &to[at..];
    let end = rest
        .iter()
        .position(|b| matches!(b, b'\r' | b';' | b'>'))
        .unwrap_or(rest.len());
    Some(rest[..end].to_vec())
}

fn with_tag(part: &[u8], tag: Option<&[u8]>) -> Vec<u8> {
    let Some(tag) = tag else {
        return part.to_vec();
    };
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        if part[i..].starts_with(b"TOTAG") {
            out.extend_from_slice(tag);
            i += 5;
        } else {
            out.push(part[i]);
            i += 1;
        }
    }
    out
}
