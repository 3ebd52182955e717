//! Cost of one whole call to the endpoint, sans-IO: INVITE with an offer,
//! the application's answer, the ACK, the caller's BYE, and the timers that
//! then retire its transactions. What the single runtime thread spends on
//! SIP per call, parsing included, without sockets.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sip::{Endpoint, EndpointConfig, Event, TransportKind};

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn request(method: &str, n: u64, cseq: u32, to_tag: &str, body: &str) -> String {
    let to_tag = if to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={to_tag}")
    };
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-{cseq}-{method}\r\n\
         From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}SIPpTag001\r\n\
         To: service <sip:service@127.0.0.1:5060>{to_tag}\r\n\
         Call-ID: {n}-4242@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: sip:sipp@127.0.0.1:5061\r\n\
         Max-Forwards: 70\r\n\
         {content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn to_tag(response: &[u8]) -> String {
    let text = std::str::from_utf8(response).unwrap();
    let to = text.lines().find(|l| l.starts_with("To:")).unwrap();
    to.split(";tag=").nth(1).unwrap().trim().to_string()
}

fn one_call(ep: &mut Endpoint, now: &mut Instant, n: u64) {
    let caller = "127.0.0.1:5061".parse().unwrap();
    let udp = TransportKind::Udp;
    ep.handle_input(
        *now,
        udp,
        caller,
        request("INVITE", n, 1, "", SDP).as_bytes(),
    );
    let call = match ep.poll_event() {
        Some(Event::IncomingCall(incoming)) => incoming.call,
        other => panic!("{other:?}"),
    };
    ep.answer(*now, call, 40_000).unwrap();
    let ok = std::iter::from_fn(|| ep.poll_transmit()).last().unwrap();
    let tag = to_tag(&ok.payload);
    ep.handle_input(*now, udp, caller, request("ACK", n, 1, &tag, "").as_bytes());
    ep.handle_input(*now, udp, caller, request("BYE", n, 2, &tag, "").as_bytes());
    black_box(std::iter::from_fn(|| ep.poll_transmit()).count());
    black_box(std::iter::from_fn(|| ep.poll_event()).count());
    *now += Duration::from_millis(1);
    ep.handle_timeout(*now);
}

fn calls(c: &mut Criterion) {
    let mut config = EndpointConfig::new("127.0.0.1:5060".parse().unwrap());
    config.trying_after = Duration::from_millis(100);
    let mut ep = Endpoint::new(config, 1);
    let mut now = Instant::now();
    let mut n = 0;
    c.bench_function("one call: INVITE, answer, ACK, BYE", |b| {
        b.iter(|| {
            n += 1;
            one_call(&mut ep, &mut now, n)
        })
    });
}

criterion_group!(benches, calls);
criterion_main!(benches);
