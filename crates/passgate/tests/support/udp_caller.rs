//! A minimal SIP caller over UDP for tests that need to own the caller's
//! media sockets (SIPp binds its own): INVITE with a given SDP, ACK, BYE.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

pub struct UdpCaller {
    sip: UdpSocket,
    target: SocketAddr,
    call_id: String,
    to_tag: Option<String>,
}

impl UdpCaller {
    /// Sends an INVITE carrying `sdp` to `target` from a socket of its
    /// family, retransmitting until a final response, and ACKs a 2xx.
    /// Returns the caller and the final response.
    pub fn invite(target: SocketAddr, sdp: &str) -> (UdpCaller, String) {
        Self::invite_acking(target, sdp, true)
    }

    /// As [`UdpCaller::invite`], but never acknowledges the 2xx.
    pub fn invite_without_ack(target: SocketAddr, sdp: &str) -> (UdpCaller, String) {
        Self::invite_acking(target, sdp, false)
    }

    fn invite_acking(target: SocketAddr, sdp: &str, ack: bool) -> (UdpCaller, String) {
        let local = if target.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let sip = UdpSocket::bind(local).expect("bind the caller's SIP socket");
        sip.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut caller = UdpCaller {
            sip,
            target,
            call_id: format!("udp-caller-{}", rand::random::<u64>()),
            to_tag: None,
        };
        let invite = caller.request("INVITE", 1, "z9hG4bK-inv", Some(sdp));
        let deadline = Instant::now() + Duration::from_secs(15);
        let final_response = loop {
            assert!(Instant::now() < deadline, "no final response to the INVITE");
            caller.send(&invite);
            if let Some(msg) = caller.recv_response("INVITE", Duration::from_millis(500)) {
                let code: u16 = msg[8..11].parse().unwrap_or(0);
                if code >= 200 {
                    break msg;
                }
            }
        };
        if final_response.starts_with("SIP/2.0 2") {
            caller.to_tag = final_response
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                .and_then(|l| l.split(";tag=").nth(1))
                .map(|t| t.trim().to_string());
            if ack {
                let ack = caller.request("ACK", 1, "z9hG4bK-ack", None);
                caller.send(&ack);
            }
        }
        (caller, final_response)
    }

    /// The Call-ID of the call.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Ends the call with BYE (waits briefly for its 200).
    pub fn bye(&self) {
        let bye = self.request("BYE", 2, "z9hG4bK-bye", None);
        for _ in 0..4 {
            self.send(&bye);
            if self
                .recv_response("BYE", Duration::from_millis(500))
                .is_some()
            {
                return;
            }
        }
    }

    fn send(&self, msg: &str) {
        self.sip
            .send_to(msg.as_bytes(), self.target)
            .expect("send SIP");
    }

    /// The next response to `method` (requests from the agent are ignored).
    fn recv_response(&self, method: &str, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            let Ok((n, _)) = self.sip.recv_from(&mut buf) else {
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.starts_with("SIP/2.0 ") && msg.contains(&format!(" {method}\r\n")) {
                return Some(msg);
            }
        }
        None
    }

    fn request(&self, method: &str, cseq: u32, branch: &str, sdp: Option<&str>) -> String {
        // SocketAddr writes IPv6 in brackets, as a SIP URI and Via want it.
        let me = self.sip.local_addr().unwrap();
        let target = self.target;
        let to_tag = self
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let body = sdp.unwrap_or("");
        let content_type = if sdp.is_some() {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        };
        format!(
            "{method} sip:passgate@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}-{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:+15557654321@{me}>;tag=caller\r\n\
             To: <sip:passgate@{target}>{to_tag}\r\n\
             Call-ID: {}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:caller@{me}>\r\n\
             {content_type}Content-Length: {}\r\n\r\n{body}",
            self.call_id,
            self.call_id,
            body.len()
        )
    }
}

/// The RTP port of an answer's `m=audio` line.
pub fn answer_rtp_port(answer: &str) -> u16 {
    answer
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no m=audio port in {answer}"))
}

/// An offer of PCMU from `ip` (IN IP4 or IN IP6 by its family) with RTP on
/// `rtp_port` and `extra` attribute lines.
pub fn offer(ip: std::net::IpAddr, rtp_port: u16, extra: &str) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=caller 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n{extra}"
    )
}

/// The status code of the answer to an out-of-dialog OPTIONS, as a
/// dispatcher's probe sees it; `None` when nothing answers.
pub fn options_status(target: SocketAddr) -> Option<u16> {
    options_status_line(target).and_then(|line| line.get(8..11).and_then(|c| c.parse().ok()))
}

/// The status line of the answer to an out-of-dialog OPTIONS (its reason
/// phrase tells a proxy's own answer from a node's).
pub fn options_status_line(target: SocketAddr) -> Option<String> {
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sip.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let me = sip.local_addr().unwrap();
    let call_id = format!("probe-{}", rand::random::<u64>());
    let msg = format!(
        "OPTIONS sip:passgate@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{me}>;tag=probe\r\n\
         To: <sip:passgate@{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let mut buf = [0u8; 65536];
    for _ in 0..4 {
        sip.send_to(msg.as_bytes(), target).expect("send");
        if let Ok((n, _)) = sip.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            return text.lines().next().map(str::to_string);
        }
    }
    None
}
