//! SIP never waits for a call: over real UDP against the driver, a call
//! whose task stops reading its events is ended with a BYE carrying a
//! Reason and counted, while another call's requests keep being answered
//! and its events delivered.

use std::time::Duration;

use sip::driver::{self, NewCall, CALL_EVENT_DEPTH};
use sip::{EndpointConfig, Event};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

struct Caller {
    socket: UdpSocket,
    server: std::net::SocketAddr,
}

impl Caller {
    async fn send(&self, msg: String) {
        self.socket
            .send_to(msg.as_bytes(), self.server)
            .await
            .unwrap();
    }

    /// The next message from the agent that `pick` accepts; others are skipped.
    async fn until(&self, pick: impl Fn(&str) -> bool) -> String {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, _) = timeout(WAIT, self.socket.recv_from(&mut buf))
                .await
                .expect("the agent went quiet")
                .unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if pick(&text) {
                return text;
            }
        }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    fn request(&self, method: &str, call_id: &str, cseq: u32, to_tag: &str, extra: &str) -> String {
        let port = self.port();
        let to_tag = if to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={to_tag}")
        };
        let cseq_method = if method == "ACK" { "ACK" } else { method };
        format!(
            "{method} sip:passgate@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call_id}-{cseq}-{method};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:caller@127.0.0.1>;tag=from-{call_id}\r\n\
             To: <sip:passgate@{server}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {cseq_method}\r\n\
             Contact: <sip:caller@127.0.0.1:{port}>\r\n\
             {extra}",
            server = self.server,
        )
    }

    /// INVITE, answered by the application, ACKed: returns the To tag.
    async fn call(
        &self,
        call_id: &str,
        calls: &mut tokio::sync::mpsc::Receiver<NewCall>,
        handle: &driver::SipHandle,
    ) -> (String, NewCall) {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 6000 RTP/AVP 0\r\n";
        let body = format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.send(self.request("INVITE", call_id, 1, "", &body))
            .await;
        let new_call = timeout(WAIT, calls.recv()).await.unwrap().unwrap();
        handle.answer(new_call.incoming.call, 40_000).await;
        let ok = self
            .until(|m| m.starts_with("SIP/2.0 200") && m.contains(&format!("Call-ID: {call_id}")))
            .await;
        let tag = ok
            .lines()
            .find(|l| l.starts_with("To:"))
            .and_then(|l| l.split(";tag=").nth(1))
            .unwrap()
            .trim()
            .to_string();
        self.send(self.request("ACK", call_id, 1, &tag, "Content-Length: 0\r\n\r\n"))
            .await;
        (tag, new_call)
    }

    fn info(&self, call_id: &str, cseq: u32, tag: &str) -> String {
        let body = "Signal=5\r\nDuration=160\r\n";
        let extra = format!(
            "Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.request("INFO", call_id, cseq, tag, &extra)
    }
}

#[tokio::test]
async fn a_call_that_stops_reading_is_ended_and_counted_while_another_goes_on() {
    let mut config = EndpointConfig::new("127.0.0.1:0".parse().unwrap());
    config.trying_after = Duration::ZERO;
    let mut server = driver::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let caller = Caller {
        socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        server: server.local_addr,
    };
    let handle = server.handle.clone();
    let (stuck_tag, stuck) = caller.call("stuck", &mut server.calls, &handle).await;
    let (live_tag, mut live) = caller.call("live", &mut server.calls, &handle).await;
    assert!(matches!(
        timeout(WAIT, live.events.recv()).await.unwrap(),
        Some(Event::CallConfirmed { .. })
    ));

    // The stuck call's task never reads; the live one's does, and its
    // every INFO is answered and reported while the stuck one piles up.
    let rounds = CALL_EVENT_DEPTH as u32 + 8;
    for cseq in 2..2 + rounds {
        caller.send(caller.info("stuck", cseq, &stuck_tag)).await;
        caller.send(caller.info("live", cseq, &live_tag)).await;
        let cseq_line = format!("CSeq: {cseq} INFO");
        caller
            .until(|m| {
                m.starts_with("SIP/2.0 200")
                    && m.contains("Call-ID: live")
                    && m.contains(&cseq_line)
            })
            .await;
        assert!(
            matches!(
                timeout(WAIT, live.events.recv()).await.unwrap(),
                Some(Event::InfoDigit { .. })
            ),
            "the live call gets INFO {cseq} at once"
        );
    }

    let bye = caller
        .until(|m| m.starts_with("BYE ") && m.contains("Call-ID: stuck"))
        .await;
    assert!(
        bye.contains("Reason: SIP;cause=500;text=\"call not responding\""),
        "{bye}"
    );
    let stats = handle.stats().await.unwrap();
    assert_eq!(stats.calls.stalled, 1);
    assert_eq!(stats.calls.refused_backlog, 0);

    // The stuck task, when it reads at last, finds what was queued and then
    // the end of its channel.
    let mut stuck_events = stuck.events;
    let mut queued = 0;
    while let Some(_event) = timeout(WAIT, stuck_events.recv()).await.unwrap() {
        queued += 1;
    }
    assert_eq!(queued, CALL_EVENT_DEPTH);

    // The live call still ends normally.
    caller
        .send(caller.request("BYE", "live", 100, &live_tag, "Content-Length: 0\r\n\r\n"))
        .await;
    caller
        .until(|m| m.starts_with("SIP/2.0 200") && m.contains("CSeq: 100 BYE"))
        .await;
    assert!(matches!(
        timeout(WAIT, live.events.recv()).await.unwrap(),
        Some(Event::CallEnded { .. })
    ));
}
