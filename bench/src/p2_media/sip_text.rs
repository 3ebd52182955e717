//! The few SIP messages a caller needs (INVITE with an SDP offer, ACK, BYE,
//! answers to the agent's requests) written as text, and the fields of what
//! comes back read out of it. Hand-written so the load generator owes nothing
//! to the SIP stack under test.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::srtp_keys::{self, Key};

/// What identifies one call leg on our side.
#[derive(Debug, Clone)]
pub struct Leg {
    pub call_id: String,
    pub from_user: String,
    pub from_tag: String,
    /// Our SIP address (Via, Contact).
    pub local: SocketAddr,
    /// The agent's SIP address (Request-URI of the INVITE).
    pub agent: SocketAddr,
}

/// Once answered: what in-dialog requests need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub to_tag: String,
    /// The agent's Contact, the Request-URI of ACK and BYE.
    pub target: String,
    pub rtp: SocketAddr,
    /// The agent's SRTP key, when its answer carried `a=crypto`.
    pub srtp: Option<Key>,
}

fn to_header(leg: &Leg, to_tag: Option<&str>) -> String {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!("<sip:passgate@{}>{tag}", leg.agent)
}

fn common_headers(out: &mut String, leg: &Leg, branch: &str, to_tag: Option<&str>, cseq: &str) {
    let _ = write!(
        out,
        "Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         From: <sip:{user}@{ip}>;tag={tag}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq}\r\n\
         Contact: <sip:{user}@{local}>\r\n\
         Max-Forwards: 70\r\n",
        local = leg.local,
        ip = leg.local.ip(),
        user = leg.from_user,
        tag = leg.from_tag,
        to = to_header(leg, to_tag),
        call_id = leg.call_id,
    );
}

/// The offer: PCMU and telephone-event 101 at 20 ms on our RTP port; with
/// `srtp`, as `RTP/SAVP` with that key in `a=crypto`.
pub fn sdp_offer(rtp: SocketAddr, srtp: Option<&Key>) -> String {
    let family = if rtp.is_ipv4() { "IP4" } else { "IP6" };
    let (profile, crypto) = match srtp {
        Some(key) => (
            "RTP/SAVP",
            format!("a=crypto:{}\r\n", key.crypto_attribute()),
        ),
        None => ("RTP/AVP", String::new()),
    };
    format!(
        "v=0\r\no=bench 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} {profile} 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n{crypto}a=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

pub fn invite(leg: &Leg, branch: &str, rtp: SocketAddr, srtp: Option<&Key>) -> String {
    let body = sdp_offer(rtp, srtp);
    let mut m = format!("INVITE sip:passgate@{} SIP/2.0\r\n", leg.agent);
    common_headers(&mut m, leg, branch, None, "1 INVITE");
    let _ = write!(
        m,
        "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    m
}

/// ACK of a 2xx (its own transaction, to the agent's Contact).
pub fn ack(leg: &Leg, branch: &str, answer: &Answer) -> String {
    let mut m = format!("ACK {} SIP/2.0\r\n", answer.target);
    common_headers(&mut m, leg, branch, Some(&answer.to_tag), "1 ACK");
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

/// ACK of a final error: same branch as the INVITE, the To of the response.
pub fn ack_error(leg: &Leg, invite_branch: &str, to_tag: Option<&str>) -> String {
    let mut m = format!("ACK sip:passgate@{} SIP/2.0\r\n", leg.agent);
    common_headers(&mut m, leg, invite_branch, to_tag, "1 ACK");
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

/// NOTIFY of a REFER's progress (RFC 3515): the sipfrag of the new call's
/// final answer, and the implicit subscription ended.
pub fn notify(leg: &Leg, branch: &str, answer: &Answer, cseq: u32, status: &str) -> String {
    let body = format!("SIP/2.0 {status}\r\n");
    let mut m = format!("NOTIFY {} SIP/2.0\r\n", answer.target);
    common_headers(
        &mut m,
        leg,
        branch,
        Some(&answer.to_tag),
        &format!("{cseq} NOTIFY"),
    );
    let _ = write!(
        m,
        "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n\
         Content-Type: message/sipfrag;version=2.0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    m
}

pub fn bye(leg: &Leg, branch: &str, answer: &Answer) -> String {
    let mut m = format!("BYE {} SIP/2.0\r\n", answer.target);
    common_headers(&mut m, leg, branch, Some(&answer.to_tag), "2 BYE");
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Request { method: String },
    Response { code: u16 },
}

/// A received SIP message: its start line, headers in order, and body.
#[derive(Debug, Clone)]
pub struct Message {
    pub start: Start,
    headers: Vec<(String, String)>,
    pub body: String,
}

/// RFC 3261 compact header names, expanded.
fn full_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "i" => "call-id".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "v" => "via".into(),
        "m" => "contact".into(),
        "l" => "content-length".into(),
        "c" => "content-type".into(),
        _ => lower,
    }
}

impl Message {
    /// `None` for anything that is not a SIP message.
    pub fn parse(datagram: &[u8]) -> Option<Message> {
        let text = std::str::from_utf8(datagram).ok()?;
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let first = lines.next()?.trim();
        let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
            Start::Response {
                code: rest.split_whitespace().next()?.parse().ok()?,
            }
        } else {
            let mut parts = first.split_whitespace();
            let method = parts.next()?.to_string();
            let _uri = parts.next()?;
            (parts.next()? == "SIP/2.0").then_some(())?;
            Start::Request { method }
        };
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (full_name(n), v.trim().to_string()))
            .collect();
        Some(Message {
            start,
            headers,
            body: body.to_string(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("call-id")
    }

    /// The method the CSeq names: which of our requests a response answers.
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("cseq")?.split_whitespace().nth(1)
    }

    pub fn to_tag(&self) -> Option<String> {
        tag_param(self.header("to")?)
    }

    /// The URI inside the Contact header.
    pub fn contact_uri(&self) -> Option<String> {
        let value = self.header("contact")?;
        let uri = match value.split_once('<') {
            Some((_, rest)) => rest.split('>').next()?,
            None => value.split(';').next()?,
        };
        Some(uri.trim().to_string()).filter(|u| !u.is_empty())
    }

    /// Tag, Contact and the SDP's RTP address of a 2xx to our INVITE.
    pub fn answer(&self) -> Option<Answer> {
        Some(Answer {
            to_tag: self.to_tag()?,
            target: self.contact_uri()?,
            rtp: sdp_audio_address(&self.body)?,
            srtp: srtp_keys::answer_key(&self.body),
        })
    }

    /// Our answer to a request from the agent: its Via, From, To, Call-ID
    /// and CSeq copied back.
    pub fn response(&self, code: u16, reason: &str) -> String {
        let mut m = format!("SIP/2.0 {code} {reason}\r\n");
        for (name, value) in &self.headers {
            let shown = match name.as_str() {
                "via" => "Via",
                "from" => "From",
                "to" => "To",
                "call-id" => "Call-ID",
                "cseq" => "CSeq",
                _ => continue,
            };
            let _ = write!(m, "{shown}: {value}\r\n");
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m
    }
}

/// The `tag` parameter of a From or To value (after the URI's `>`).
fn tag_param(value: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    params.split(';').find_map(|p| {
        let (name, v) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| v.trim().to_string())
    })
}

/// The address the audio goes to: the m=audio port with the c= that applies
/// to it (media level wins over session level).
pub fn sdp_audio_address(sdp: &str) -> Option<SocketAddr> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut in_media = false;
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                break;
            }
            let mut f = rest.split_whitespace();
            in_media = true;
            in_audio = f.next() == Some("audio");
            if in_audio {
                port = f.next()?.parse().ok();
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let ip = rest
                .split_whitespace()
                .nth(2)?
                .split('/')
                .next()?
                .parse()
                .ok();
            if in_audio {
                media_ip = ip;
            } else if !in_media {
                session_ip = ip;
            }
        }
    }
    let port = port.filter(|&p| p != 0)?;
    Some(SocketAddr::new(media_ip.or(session_ip)?, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg() -> Leg {
        Leg {
            call_id: "p2-1-7@bench".into(),
            from_user: "+15559000007".into(),
            from_tag: "t7".into(),
            local: "127.0.0.1:40000".parse().unwrap(),
            agent: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    /// A 200 OK as Passgate's SIP stack writes it (compact forms mixed in).
    const OK: &str = "SIP/2.0 200 OK\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK1;rport=40000\r\n\
        f: <sip:+15559000007@127.0.0.1>;tag=t7\r\n\
        To: <sip:passgate@127.0.0.1:5060>;tag=as8f2a\r\n\
        i: p2-1-7@bench\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:passgate@127.0.0.1:5060;transport=udp>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 131\r\n\r\n\
        v=0\r\no=passgate 1 1 IN IP4 127.0.0.1\r\ns=passgate\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
        m=audio 20002 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn a_200_ok_gives_tag_contact_and_rtp_address() {
        let m = Message::parse(OK.as_bytes()).unwrap();
        assert_eq!(m.start, Start::Response { code: 200 });
        assert_eq!(m.call_id(), Some("p2-1-7@bench"));
        assert_eq!(m.cseq_method(), Some("INVITE"));
        assert_eq!(
            m.answer().unwrap(),
            Answer {
                to_tag: "as8f2a".into(),
                target: "sip:passgate@127.0.0.1:5060;transport=udp".into(),
                rtp: "127.0.0.9:20002".parse().unwrap(),
                srtp: None,
            }
        );
    }

    #[test]
    fn media_level_connection_wins_and_port_zero_is_no_audio() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n";
        assert_eq!(sdp_audio_address(sdp), "10.0.0.2:4000".parse().ok());
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP4 10.0.0.3\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(sdp_audio_address(sdp), "10.0.0.1:4000".parse().ok());
        assert_eq!(
            sdp_audio_address("c=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"),
            None
        );
        assert_eq!(sdp_audio_address("m=audio 4000 RTP/AVP 0\r\n"), None);
    }

    #[test]
    fn provisional_and_error_responses_parse_without_an_answer() {
        let trying =
            "SIP/2.0 100 Trying\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(trying.as_bytes()).unwrap();
        assert_eq!(m.start, Start::Response { code: 100 });
        assert!(m.answer().is_none());
        assert!(Message::parse(b"\x80\x00 not sip").is_none());
        assert!(Message::parse(b"HELLO world\r\n\r\n").is_none());
    }

    #[test]
    fn the_invite_carries_the_offer_and_an_exact_length() {
        let l = leg();
        let text = invite(&l, "z9hG4bK-a", "127.0.0.1:41000".parse().unwrap(), None);
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(
            m.start,
            Start::Request {
                method: "INVITE".into()
            }
        );
        assert_eq!(
            m.header("content-length").unwrap(),
            m.body.len().to_string()
        );
        assert!(m.body.contains("m=audio 41000 RTP/AVP 0 101\r\n"));
        assert!(m.body.contains("a=rtpmap:101 telephone-event/8000"));
        assert_eq!(sdp_audio_address(&m.body), "127.0.0.1:41000".parse().ok());
        assert_eq!(m.to_tag(), None);
        let key = Key::generate();
        let text = invite(
            &l,
            "z9hG4bK-s",
            "127.0.0.1:41000".parse().unwrap(),
            Some(&key),
        );
        let m = Message::parse(text.as_bytes()).unwrap();
        assert!(m.body.contains("m=audio 41000 RTP/SAVP 0 101\r\n"));
        assert_eq!(srtp_keys::answer_key(&m.body), Some(key));
    }

    #[test]
    fn in_dialog_requests_use_the_contact_and_to_tag() {
        let answer = Message::parse(OK.as_bytes()).unwrap().answer().unwrap();
        let b = Message::parse(bye(&leg(), "z9hG4bK-b", &answer).as_bytes()).unwrap();
        assert_eq!(
            b.start,
            Start::Request {
                method: "BYE".into()
            }
        );
        assert_eq!(b.to_tag().as_deref(), Some("as8f2a"));
        assert_eq!(b.cseq_method(), Some("BYE"));
        let text = ack(&leg(), "z9hG4bK-c", &answer);
        assert!(text.starts_with("ACK sip:passgate@127.0.0.1:5060;transport=udp SIP/2.0\r\n"));
    }

    #[test]
    fn an_answer_to_the_agents_bye_echoes_its_headers() {
        let req = "BYE sip:x@127.0.0.1:40000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq\r\n\
                   From: <sip:passgate@127.0.0.1>;tag=as8f2a\r\nTo: <sip:x@127.0.0.1>;tag=t7\r\n\
                   Call-ID: abc\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(req.as_bytes()).unwrap();
        let ok = Message::parse(m.response(200, "OK").as_bytes()).unwrap();
        assert_eq!(ok.start, Start::Response { code: 200 });
        assert_eq!(ok.call_id(), Some("abc"));
        assert_eq!(ok.cseq_method(), Some("BYE"));
        assert_eq!(
            ok.header("via"),
            Some("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq")
        );
        assert_eq!(ok.to_tag().as_deref(), Some("t7"));
    }
}
