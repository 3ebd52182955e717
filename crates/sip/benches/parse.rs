//! Cost of reading one message off the wire: what a call's INVITE, ACK and
//! BYE and a response cost the single runtime thread before any transaction
//! work (`passgate-bench` P1 profiles put parsing at about 30 % of it).
//! The messages are SIPp's own (`-sn uac`), as P1 and P4 send them.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

const INVITE: &str = "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>\r\n\
Call-ID: 1-4242@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length:   129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const ACK: &str = "ACK sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-5\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>;tag=a6c85cf\r\n\
Call-ID: 1-4242@127.0.0.1\r\n\
CSeq: 1 ACK\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\r\n";

const BYE: &str = "BYE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-7\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>;tag=a6c85cf\r\n\
Call-ID: 1-4242@127.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Length: 0\r\n\r\n";

const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-pg-77;rport=5060\r\n\
From: <sip:passgate@127.0.0.1>;tag=pg77\r\n\
To: <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001\r\n\
Call-ID: 1-4242@127.0.0.1\r\n\
CSeq: 1 BYE\r\n\
Content-Length: 0\r\n\r\n";

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, text) in [("invite", INVITE), ("ack", ACK), ("bye", BYE), ("200", OK)] {
        assert!(sip::message::parse(text.as_bytes()).is_ok(), "{name}");
        g.bench_function(name, |b| {
            b.iter(|| sip::message::parse(black_box(text.as_bytes())))
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
