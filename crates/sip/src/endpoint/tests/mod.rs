//! The UAS behaviours of RFC 3261/3264/3581/3515, driven by a test clock:
//! the harness here, the cases by subject in the files beside it.

mod admission;
mod dialog;
mod invite;
mod messages;
mod offer_answer;
mod reliable_provisional;
mod session_timer;
mod srtp_offer;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

pub(super) const CALLER: &str = "198.51.100.20:5070";

pub(super) struct Harness {
    ep: Endpoint,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        let mut config = EndpointConfig::new("192.0.2.1:5060".parse().unwrap());
        // Most tests read the 100 Trying as the first thing sent; the
        // deferred 100 (the default) has tests of its own.
        config.trying_after = Duration::ZERO;
        Harness {
            ep: Endpoint::new(config, 7),
            now: Instant::now(),
        }
    }

    fn feed(&mut self, msg: &str) {
        self.feed_from(TransportKind::Udp, CALLER, msg);
    }

    fn feed_from(&mut self, transport: TransportKind, source: &str, msg: &str) {
        self.ep
            .handle_input(self.now, transport, source.parse().unwrap(), msg.as_bytes());
    }

    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(t) = self.ep.poll_timeout().filter(|t| *t <= target) {
            self.now = t.max(self.now);
            self.ep.handle_timeout(self.now);
        }
        self.now = target;
    }

    fn sent(&mut self) -> Vec<(SocketAddr, String)> {
        std::iter::from_fn(|| self.ep.poll_transmit())
            .map(|t| (t.destination, String::from_utf8(t.payload).unwrap()))
            .collect()
    }

    fn sent_text(&mut self) -> Vec<String> {
        self.sent().into_iter().map(|(_, s)| s).collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    /// The one event so far, an IncomingCall: its handle.
    fn incoming_call(&mut self) -> CallHandle {
        match self.events().as_slice() {
            [Event::IncomingCall(c)] => c.call,
            other => panic!("expected one IncomingCall, got {other:?}"),
        }
    }

    /// INVITE → 100 → IncomingCall; returns the handle.
    fn offered_call(&mut self) -> CallHandle {
        self.feed(&invite("z9hG4bK-inv1", "call-1", Some(&sdp("0 101", ""))));
        let sent = self.sent_text();
        assert_eq!(status_lines(&sent), vec!["SIP/2.0 100 Trying"]);
        self.incoming_call()
    }

    /// Offered, answered and acknowledged; returns the handle and our To tag.
    fn confirmed_call(&mut self) -> (CallHandle, String) {
        let call = self.offered_call();
        self.ep.answer(self.now, call, 40000).unwrap();
        let ok = self.sent_text().pop().unwrap();
        let tag = to_tag(&ok);
        self.feed(&in_dialog("ACK", 1, "z9hG4bK-ack1", "call-1", &tag, ""));
        assert!(matches!(
            self.events().as_slice(),
            [Event::CallConfirmed { .. }]
        ));
        (call, tag)
    }
}

fn sdp(formats: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n\
         m=audio 6000 RTP/AVP {formats}\r\na=rtpmap:101 telephone-event/8000\r\n{extra}"
    )
}

fn invite(branch: &str, call_id: &str, body: Option<&str>) -> String {
    request(
        "INVITE",
        1,
        branch,
        call_id,
        None,
        body.unwrap_or(""),
        body.map(|_| "application/sdp"),
    )
}

fn in_dialog(
    method: &str,
    cseq: u32,
    branch: &str,
    call_id: &str,
    to_tag: &str,
    body: &str,
) -> String {
    let ct = (!body.is_empty()).then_some("application/sdp");
    request(method, cseq, branch, call_id, Some(to_tag), body, ct)
}

fn request(
    method: &str,
    cseq: u32,
    branch: &str,
    call_id: &str,
    to_tag: Option<&str>,
    body: &str,
    content_type: Option<&str>,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let ct = content_type
        .map(|c| format!("Content-Type: {c}\r\n"))
        .unwrap_or_default();
    let cseq_method = if method == "ACK" { "ACK" } else { method };
    format!(
        "{method} sip:passgate@192.0.2.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.20:5070;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Nelson\" <sip:+15551234567@198.51.100.20>;tag=caller-tag\r\n\
         To: <sip:passgate@192.0.2.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {cseq_method}\r\n\
         Contact: <sip:caller@198.51.100.20:5070>\r\n\
         {ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An admission limit of `rate` new calls per second with a burst of `burst`.
fn per_second(rate: f64, burst: f64) -> Option<crate::admission::RateLimit> {
    Some(crate::admission::RateLimit {
        per_second: rate,
        burst,
    })
}

fn status_lines(msgs: &[String]) -> Vec<&str> {
    msgs.iter().map(|m| m.lines().next().unwrap()).collect()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn to_tag(msg: &str) -> String {
    header(msg, "To")
        .unwrap()
        .split(";tag=")
        .nth(1)
        .unwrap()
        .to_string()
}

/// Every value of the named header, in order, comma-joined lines split.
fn header_values<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
        .flat_map(|v| v.split(", "))
        .map(str::trim)
        .collect()
}
