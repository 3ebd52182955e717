//! The dialog layer (RFC 3261 §12): a call's dialog as the INVITE made it,
//! its route set and remote target, the CSeq on each side, the 2xx it
//! retransmits until the ACK (§13.3.1.4), and the requests we send in it.
//!
//! The endpoint looks dialogs up and acts on what they hand back; a dialog
//! builds its own in-dialog requests and keeps its own timers.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::message::{Method, Request};
use crate::reliable_provisional::ReliableProvisional;
use crate::sdes::SrtpKey;
use crate::sdp::{Negotiated, SdpOrigin};
use crate::session_timer::SessionTimer;
use crate::timers::Timers;
use crate::transaction::TxKey;
use crate::transport::{Transmit, TransportKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialogState {
    /// INVITE received, the application has not answered.
    Offered,
    /// 2xx sent, waiting for the ACK.
    Answered,
    Confirmed,
    /// We sent BYE; waiting for its response before forgetting the call.
    Ending,
}

/// A dialog's id (§12): Call-ID and the tags of both sides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DialogKey {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

/// A 2xx to an INVITE, retransmitted by the dialog until ACKed (§13.3.1.4).
pub(crate) struct Pending2xx {
    pub cseq: u32,
    payload: Vec<u8>,
    next_at: Option<Instant>,
    interval: Duration,
    give_up_at: Instant,
}

/// What the 2xx timer asks of the endpoint.
pub(crate) enum AckTimer {
    /// Nothing is waiting (the ACK came, or the call moved on).
    Idle,
    /// No ACK within 64·T1: the dialog must end.
    GaveUp,
    Wait {
        retransmit: Option<Transmit>,
        next: Instant,
    },
}

/// A call's dialog, and the session its INVITE set up.
pub(crate) struct Dialog {
    pub key: DialogKey,
    pub transport: TransportKind,
    /// Where the INVITE came from; in-dialog requests go back there.
    pub remote: SocketAddr,
    pub invite_tx: TxKey,
    pub state: DialogState,
    /// The From of the INVITE, with its tag: the To of our requests.
    pub remote_party: String,
    /// The To of the INVITE, without our tag: the From of our requests.
    pub local_party: String,
    pub remote_target: String,
    pub route_set: Vec<String>,
    /// Our Contact in this dialog is a `sips:` URI (RFC 3261 §12.1.1).
    pub sips: bool,
    pub remote_cseq: u32,
    /// The CSeq of the INVITE that made the dialog: what its 2xx's ACK and a
    /// PRACK's RAck name, whatever came in the early dialog since.
    pub invite_cseq: u32,
    pub local_cseq: u32,
    pub media: Option<Negotiated>,
    pub local_rtp_port: u16,
    /// Our address in the SDP: of the offer's family.
    pub media_ip: IpAddr,
    pub origin: SdpOrigin,
    pub pending_2xx: Option<Pending2xx>,
    /// The last 2xx carried our offer; the ACK carries the answer.
    pub awaiting_answer_in_ack: bool,
    /// Our key in that offer, when it offered SRTP.
    pub offered_srtp: Option<SrtpKey>,
    /// The application hung up before the ACK; send BYE once it comes.
    pub bye_after_ack: bool,
    pub refer_cseq: Option<u32>,
    /// The session timer the INVITE or last re-INVITE asked for and our 2xx
    /// agreed to (RFC 4028), the caller refreshing.
    pub session_timer: Option<SessionTimer>,
    /// When the session timer is next due: the caller's refresh is late,
    /// or ours is to be sent.
    pub session_due_at: Option<Instant>,
    /// When the session is over unless refreshed: how long our own refresh
    /// may be tried again.
    pub session_ends_at: Option<Instant>,
    /// The caller's Allow (its INVITE's, or a later request's) lists
    /// UPDATE: our session refreshes can be sent.
    pub peer_allows_update: bool,
    /// The INVITE requires provisional responses to be sent reliably
    /// (RFC 3262).
    pub reliable_provisionals: bool,
    /// Our reliable provisional response, sent again until its PRACK or
    /// our final response.
    pub unacknowledged_provisional: Option<ReliableProvisional>,
    /// The RSeq of our last reliable provisional response: a PRACK naming
    /// it is answered 200 even after the final response went (they cross).
    pub last_rseq: Option<u32>,
    /// The RSeq of our next reliable provisional response.
    pub next_rseq: u32,
    /// The SDP of our last offer or answer: what a re-offer of the session
    /// as it is sends (our refreshing re-INVITE), and what an answer
    /// unchanged from it keeps the version of (RFC 3264 §8).
    pub local_sdp: Option<String>,
    /// The CSeq of our re-INVITE while it waits for its final response: a
    /// new offer from the caller crosses it (491, RFC 3261 §14.2).
    pub reinvite_cseq: Option<u32>,
    /// Our ACK to the final response to our last re-INVITE, and that
    /// re-INVITE's CSeq: sent again for each retransmission of it.
    pub reinvite_ack: Option<(u32, Transmit)>,
}

/// What one request of ours in a dialog carries beyond the dialog's own ids.
pub(crate) struct OutRequest<'a> {
    pub method: Method,
    pub branch: &'a str,
    /// Our host:port for Via.
    pub host: &'a str,
    /// Our Contact header line.
    pub contact: &'a str,
    /// Further header lines (Refer-To, a Reason), each without its CRLF.
    pub headers: &'a [String],
    pub user_agent: Option<&'a str>,
    /// An SDP body (the offer of our re-INVITE).
    pub sdp: Option<&'a str>,
}

impl Dialog {
    /// Whether `ip` is the caller's side of the dialog: the source of the
    /// INVITE, or the next hop toward the caller (the first route of the
    /// route set, else the remote target) when it is an IP address.
    pub fn is_peer(&self, ip: IpAddr) -> bool {
        if self.remote.ip() == ip {
            return true;
        }
        let next_hop = self.route_set.first().unwrap_or(&self.remote_target);
        uri_host_ip(next_hop) == Some(ip)
    }

    /// Takes a request's CSeq if it is in order (§12.2.2): a CSeq at or
    /// below the last one is refused and changes nothing.
    pub fn take_remote_cseq(&mut self, cseq: u32) -> bool {
        if cseq <= self.remote_cseq {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    /// Our next SDP, `write` given the origin to put in it, kept as the
    /// last we sent: at the version of our last when it is that SDP again,
    /// else at the next (RFC 3264 §8), so that a refresh or a re-offer of
    /// the same session does not read as a change to the peer.
    pub fn next_sdp(&mut self, write: impl Fn(SdpOrigin) -> String) -> String {
        let same = write(self.origin);
        let body = if self.local_sdp.as_deref() == Some(same.as_str()) {
            same
        } else {
            self.origin.version += 1;
            write(self.origin)
        };
        self.local_sdp = Some(body.clone());
        body
    }

    /// A target refresh (§12.2.2): our requests go to `contact` from now on.
    /// Applied only for a request we accept, so a refused re-INVITE leaves
    /// the dialog as it was.
    pub fn refresh_target(&mut self, contact: Option<&str>) {
        if let Some(contact) = contact {
            self.remote_target = contact.to_string();
        }
    }

    /// Builds a request in the dialog with the next local CSeq; returns the
    /// CSeq and the message. It goes to where the INVITE came from: the
    /// nearest proxy of the route set, or the caller when there is none.
    pub fn request(&mut self, out: &OutRequest<'_>) -> (u32, Transmit) {
        self.local_cseq += 1;
        let cseq = self.local_cseq;
        (cseq, self.build(cseq, out))
    }

    /// The ACK for the final response to our re-INVITE with `cseq`, on the
    /// path our requests take (RFC 3261 §13.2.2.4 for a 2xx, with a branch
    /// of its own; §17.1.1.3 for any other, with the INVITE's).
    pub fn ack(&self, cseq: u32, out: &OutRequest<'_>) -> Transmit {
        self.build(cseq, out)
    }

    fn build(&self, cseq: u32, out: &OutRequest<'_>) -> Transmit {
        let method = out.method;
        let target = crate::route::in_dialog_target(&self.remote_target, &self.route_set);
        let mut text = String::with_capacity(600);
        let _ = write!(text, "{method} {} SIP/2.0\r\n", target.request_uri);
        let _ = write!(
            text,
            "Via: SIP/2.0/{} {};branch={};rport\r\n",
            self.transport.via_name(),
            out.host,
            out.branch
        );
        text.push_str("Max-Forwards: 70\r\n");
        for route in &target.routes {
            let _ = write!(text, "Route: {route}\r\n");
        }
        let _ = write!(
            text,
            "From: {};tag={}\r\n",
            self.local_party, self.key.local_tag
        );
        let _ = write!(text, "To: {}\r\n", self.remote_party);
        let _ = write!(text, "Call-ID: {}\r\n", self.key.call_id);
        let _ = write!(text, "CSeq: {cseq} {method}\r\n");
        let _ = write!(text, "{}\r\n", out.contact);
        for h in out.headers {
            text.push_str(h);
            text.push_str("\r\n");
        }
        if let Some(agent) = out.user_agent {
            let _ = write!(text, "User-Agent: {agent}\r\n");
        }
        match out.sdp {
            Some(sdp) => {
                let _ = write!(
                    text,
                    "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                    sdp.len()
                );
            }
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        let reconnect = match self.transport {
            TransportKind::Tls(_) => crate::route::next_hop(&self.remote_target, &self.route_set),
            _ => None,
        };
        Transmit {
            transport: self.transport,
            destination: self.remote,
            payload: text.into_bytes(),
            reconnect,
        }
    }

    /// Keeps the 2xx sent at `now` for the INVITE with `cseq`, to retransmit
    /// over UDP until the ACK; returns when to look at it next.
    pub fn track_2xx(
        &mut self,
        now: Instant,
        timers: &Timers,
        cseq: u32,
        payload: Vec<u8>,
    ) -> Instant {
        let next_at = (!self.transport.reliable()).then_some(now + timers.t1);
        let give_up_at = now + timers.transaction_timeout();
        self.pending_2xx = Some(Pending2xx {
            cseq,
            payload,
            next_at,
            interval: timers.t1,
            give_up_at,
        });
        next_at.unwrap_or(give_up_at)
    }

    /// Whether an ACK with `cseq` acknowledges the 2xx we are retransmitting;
    /// if so, the retransmission stops.
    pub fn ack_2xx(&mut self, cseq: u32) -> bool {
        if self.pending_2xx.as_ref().is_none_or(|p| p.cseq != cseq) {
            return false;
        }
        self.pending_2xx = None;
        true
    }

    pub fn on_ack_timer(&mut self, now: Instant, timers: &Timers) -> AckTimer {
        let Some(pending) = self.pending_2xx.as_mut() else {
            return AckTimer::Idle;
        };
        if pending.give_up_at <= now {
            self.pending_2xx = None;
            return AckTimer::GaveUp;
        }
        let mut retransmit = None;
        if pending.next_at.is_some_and(|t| t <= now) {
            retransmit = Some(Transmit {
                transport: self.transport,
                destination: self.remote,
                payload: pending.payload.clone(),
                reconnect: None,
            });
            pending.interval = timers.backoff(pending.interval);
            pending.next_at = Some(now + pending.interval);
        }
        let next = pending
            .next_at
            .map_or(pending.give_up_at, |n| n.min(pending.give_up_at));
        AckTimer::Wait { retransmit, next }
    }
}

/// Whether a URI, bare or in a name-addr, is a `sips:` URI.
pub(crate) fn is_sips(uri: &str) -> bool {
    let uri = uri.split_once('<').map_or(uri, |(_, inside)| inside);
    uri.trim_start()
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("sips:"))
}

/// Whether a dialog that `request` starts must have a `sips:` Contact of
/// ours (RFC 3261 §12.1.1): its Request-URI is SIPS, or its top
/// Record-Route if it has one, else its Contact. Only over TLS: a SIPS
/// request that reached us over another transport broke the rule before
/// us, and a `sips:` Contact would ask for TLS the hop cannot give.
pub(crate) fn wants_sips(request: &Request, transport: TransportKind) -> bool {
    let next = match request.record_route.first() {
        Some(route) => is_sips(route),
        None => request.contact.as_deref().is_some_and(is_sips),
    };
    matches!(transport, TransportKind::Tls(_)) && (is_sips(&request.uri) || next)
}

/// The host of a SIP URI (bare or in a name-addr) when it is an IP address.
pub(crate) fn uri_host_ip(uri: &str) -> Option<IpAddr> {
    let start = uri
        .find("sip:")
        .map(|i| i + 4)
        .or_else(|| uri.find("sips:").map(|i| i + 5))?;
    let rest = &uri[start..];
    let end = rest.find([';', '>', '?']).unwrap_or(rest.len());
    let hostport = &rest[..end];
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split_once(']')?.0.parse().ok();
    }
    hostport.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_a_route_or_target_uri_is_read_when_it_is_an_ip() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(uri_host_ip("<sip:203.0.113.7:5060;lr>"), ip("203.0.113.7"));
        assert_eq!(
            uri_host_ip("sip:sipp@127.0.0.1:5061;transport=udp"),
            ip("127.0.0.1")
        );
        assert_eq!(
            uri_host_ip("<sips:a@[2001:db8::1]:5061>"),
            ip("2001:db8::1")
        );
        assert_eq!(uri_host_ip("<sip:proxy.example;lr>"), None);
    }

    fn dialog(transport: TransportKind, route_set: &[&str]) -> Dialog {
        Dialog {
            key: DialogKey {
                call_id: "c1".into(),
                local_tag: "ours".into(),
                remote_tag: "theirs".into(),
            },
            transport,
            remote: "198.51.100.20:5070".parse().unwrap(),
            invite_tx: TxKey {
                branch: "z9hG4bK1".into(),
                sent_by: "198.51.100.20:5070".into(),
                method: Method::Invite,
            },
            state: DialogState::Confirmed,
            remote_party: "<sip:caller@example.com>;tag=theirs".into(),
            local_party: "<sip:agent@192.0.2.1>".into(),
            remote_target: "<sip:caller@198.51.100.20:5070>".into(),
            route_set: route_set.iter().map(|r| r.to_string()).collect(),
            sips: false,
            remote_cseq: 1,
            invite_cseq: 1,
            local_cseq: 0,
            media: None,
            local_rtp_port: 0,
            media_ip: "192.0.2.1".parse().unwrap(),
            origin: SdpOrigin {
                session_id: 1,
                version: 1,
            },
            pending_2xx: None,
            awaiting_answer_in_ack: false,
            offered_srtp: None,
            bye_after_ack: false,
            refer_cseq: None,
            session_timer: None,
            session_due_at: None,
            session_ends_at: None,
            peer_allows_update: false,
            reliable_provisionals: false,
            unacknowledged_provisional: None,
            last_rseq: None,
            next_rseq: 1,
            local_sdp: None,
            reinvite_cseq: None,
            reinvite_ack: None,
        }
    }

    fn out<'a>(method: Method, headers: &'a [String]) -> OutRequest<'a> {
        OutRequest {
            method,
            branch: "z9hG4bKx",
            host: "192.0.2.1:5060",
            contact: "Contact: <sip:agent@192.0.2.1:5060>",
            headers,
            user_agent: None,
            sdp: None,
        }
    }

    #[test]
    fn our_requests_count_cseq_up_follow_the_route_set_and_a_refreshed_target() {
        let mut d = dialog(TransportKind::Udp, &["<sip:p1.example.com;lr>"]);
        let (cseq, first) = d.request(&out(Method::Refer, &[]));
        assert_eq!(cseq, 1);
        let text = String::from_utf8(first.payload).unwrap();
        assert!(
            text.starts_with("REFER <sip:caller@198.51.100.20:5070> SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("Route: <sip:p1.example.com;lr>\r\n"));
        assert!(text.contains("From: <sip:agent@192.0.2.1>;tag=ours\r\n"));
        assert!(text.contains("To: <sip:caller@example.com>;tag=theirs\r\n"));
        assert!(text.contains("CSeq: 1 REFER\r\n"));
        assert_eq!(first.destination, d.remote, "to where the INVITE came from");

        d.refresh_target(Some("<sip:caller@198.51.100.77:5080>"));
        d.refresh_target(None);
        let (cseq, bye) = d.request(&out(Method::Bye, &["Reason: SIP;cause=500".into()]));
        assert_eq!(cseq, 2);
        let text = String::from_utf8(bye.payload).unwrap();
        assert!(
            text.starts_with("BYE <sip:caller@198.51.100.77:5080> SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("Reason: SIP;cause=500\r\n"));
    }

    #[test]
    fn a_cseq_at_or_below_the_last_is_refused_and_changes_nothing() {
        let mut d = dialog(TransportKind::Udp, &[]);
        assert!(!d.take_remote_cseq(1));
        assert!(d.take_remote_cseq(5));
        assert!(!d.take_remote_cseq(3));
        assert_eq!(d.remote_cseq, 5);
    }

    #[test]
    fn the_2xx_is_sent_again_until_its_ack_and_given_up_at_64_t1() {
        let t = Timers::default();
        let now = Instant::now();
        let mut d = dialog(TransportKind::Udp, &[]);
        assert_eq!(d.track_2xx(now, &t, 1, b"200".to_vec()), now + t.t1);
        match d.on_ack_timer(now + t.t1, &t) {
            AckTimer::Wait { retransmit, next } => {
                assert_eq!(retransmit.unwrap().payload, b"200");
                assert_eq!(next, now + t.t1 * 3);
            }
            _ => panic!("retransmits"),
        }
        assert!(!d.ack_2xx(2), "an ACK for another CSeq");
        assert!(d.ack_2xx(1));
        assert!(matches!(d.on_ack_timer(now + t.t1 * 3, &t), AckTimer::Idle));

        let mut tcp = dialog(TransportKind::Tcp(1), &[]);
        let give_up = tcp.track_2xx(now, &t, 1, b"200".to_vec());
        assert_eq!(
            give_up,
            now + t.transaction_timeout(),
            "nothing to send again over TCP"
        );
        assert!(matches!(tcp.on_ack_timer(give_up, &t), AckTimer::GaveUp));
    }

    #[test]
    fn the_peer_is_the_invites_source_or_the_next_hop_toward_it() {
        let d = dialog(TransportKind::Udp, &["<sip:203.0.113.7;lr>"]);
        assert!(d.is_peer("198.51.100.20".parse().unwrap()));
        assert!(d.is_peer("203.0.113.7".parse().unwrap()));
        assert!(!d.is_peer("203.0.113.8".parse().unwrap()));
    }
}
