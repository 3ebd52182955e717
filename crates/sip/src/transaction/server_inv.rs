//! What an INVITE server transaction adds to the non-INVITE rules (RFC 3261
//! §17.2.1 as updated by RFC 6026): a deferred 100 Trying, the non-2xx final
//! retransmitted until its ACK (Timers G, H, I), and an Accepted state after
//! a 2xx that answers retransmitted INVITEs with the 2xx again.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{EchoHeaders, Method};
use crate::timers::Timers;
use crate::transport::TransportKind;

use super::server::{ServerState, ServerTx};

impl ServerTx {
    /// A transaction for an INVITE with these headers and Record-Route values.
    pub fn invite(
        transport: TransportKind,
        source: SocketAddr,
        echo: Option<EchoHeaders>,
        record_route: Vec<String>,
    ) -> Self {
        let mut tx = ServerTx::new(Method::Invite, transport, source);
        tx.echo = echo;
        tx.record_route = record_route;
        tx
    }

    /// Sends 100 Trying at `at` unless another response goes out first.
    pub fn defer_trying(&mut self, at: Instant) {
        self.trying_at = Some(at);
    }

    /// Whether a retransmitted INVITE should get the 100 Trying at once: it
    /// is deferred and nothing has been sent yet.
    pub fn trying_pending(&self) -> bool {
        self.trying_at.is_some()
    }

    /// The headers to echo in a 100 Trying, when none has gone out and no
    /// other response either.
    pub fn trying_echo(&mut self) -> Option<EchoHeaders> {
        self.trying_at = None;
        self.echo.clone().filter(|_| self.last_code == 0)
    }

    /// Every 18x and 2xx to an INVITE, initial or re-INVITE, carries the
    /// request's Record-Route values in order and unchanged (RFC 3261
    /// §12.1.1): the caller builds its route set, and the route of its ACK,
    /// from them. Responses to other requests carry none: they create no
    /// dialog, and a dialog's route set is fixed when it is made (§12.2), so
    /// a Record-Route there would tell the caller nothing.
    pub fn record_route_for(&self, code: u16) -> impl Iterator<Item = String> + '_ {
        let copied = self.method == Method::Invite && (101..300).contains(&code);
        self.record_route
            .iter()
            .filter(move |_| copied)
            .map(|rr| format!("Record-Route: {rr}"))
    }

    /// The ACK of a non-2xx final (same branch as the INVITE, §17.2.1):
    /// Completed becomes Confirmed, absorbing stray ACKs for T4 over UDP
    /// (Timer I). Returns the deadline to schedule; None when the ACK is not
    /// this transaction's to take (it acknowledges a 2xx, a dialog matter).
    pub fn on_ack(&mut self, now: Instant, timers: &Timers) -> Option<Instant> {
        if self.state != ServerState::Completed {
            return None;
        }
        self.state = ServerState::Confirmed;
        self.retransmit_at = None;
        let linger = if self.transport.reliable() {
            Duration::ZERO
        } else {
            timers.t4
        };
        self.expires_at = Some(now + linger);
        self.expires_at
    }

    /// A final response to an INVITE went out at `now`.
    pub(super) fn invite_final(&mut self, now: Instant, code: u16, timers: &Timers) {
        if code < 300 {
            self.state = ServerState::Accepted;
        } else {
            self.state = ServerState::Completed;
            if !self.transport.reliable() {
                self.interval = timers.t1;
                self.retransmit_at = Some(now + timers.t1);
            }
        }
        self.expires_at = Some(now + timers.transaction_timeout());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::ServerTimer;

    fn invite(transport: TransportKind) -> ServerTx {
        ServerTx::invite(
            transport,
            "192.0.2.9:5060".parse().unwrap(),
            None,
            vec!["<sip:p1;lr>".into()],
        )
    }

    #[test]
    fn a_non_2xx_final_is_retransmitted_doubling_to_t2_until_the_ack_then_absorbs_acks_for_t4() {
        let t = Timers::default();
        let start = Instant::now();
        let mut tx = invite(TransportKind::Udp);
        tx.sent(start, 486, b"486".to_vec(), &t);
        let mut now = start;
        let mut intervals = Vec::new();
        while let Some(at) = tx.next_deadline().filter(|at| *at < start + t.t2 * 3) {
            intervals.push(at - now);
            now = at;
            match tx.on_timer(now, &t) {
                ServerTimer::Due { retransmit, .. } => {
                    assert_eq!(retransmit.as_deref(), Some(&b"486"[..]))
                }
                ServerTimer::Expired => panic!("Timer H is 64*T1"),
            }
        }
        assert_eq!(
            intervals[..5],
            [t.t1, t.t1 * 2, t.t1 * 4, t.t2, t.t2],
            "Timer G doubles to T2"
        );
        let linger = tx.on_ack(now, &t).expect("the ACK is this transaction's");
        assert_eq!(linger, now + t.t4, "Timer I");
        assert_eq!(tx.on_ack(now, &t), None, "a second ACK changes nothing");
        assert!(matches!(tx.on_timer(now + t.t4, &t), ServerTimer::Expired));
    }

    #[test]
    fn a_2xx_is_accepted_and_its_ack_belongs_to_the_dialog() {
        let t = Timers::default();
        let now = Instant::now();
        let mut tx = invite(TransportKind::Tcp(1));
        tx.sent(now, 200, b"200".to_vec(), &t);
        assert_eq!(tx.next_deadline(), Some(now + t.transaction_timeout()));
        assert_eq!(tx.on_ack(now, &t), None);
        assert_eq!(
            tx.last_response(),
            Some(&b"200"[..]),
            "a retransmitted INVITE gets the 2xx again"
        );
    }

    #[test]
    fn record_route_goes_in_18x_and_2xx_only() {
        let tx = invite(TransportKind::Udp);
        for (code, copied) in [(100, false), (180, true), (200, true), (486, false)] {
            assert_eq!(
                tx.record_route_for(code).count(),
                usize::from(copied),
                "{code}"
            );
        }
        let bye = ServerTx::new(
            Method::Bye,
            TransportKind::Udp,
            "192.0.2.9:5060".parse().unwrap(),
        );
        assert_eq!(bye.record_route_for(200).count(), 0);
    }

    #[test]
    fn a_deferred_100_trying_goes_only_if_nothing_else_went_first() {
        let t = Timers::default();
        let now = Instant::now();
        let echo = crate::message::echo_headers_of(
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
        )
        .unwrap();
        let mut tx = ServerTx::invite(
            TransportKind::Udp,
            "192.0.2.9:5060".parse().unwrap(),
            Some(echo),
            Vec::new(),
        );
        tx.defer_trying(now + Duration::from_millis(100));
        assert!(tx.trying_pending());
        let mut answered =
            ServerTx::invite(TransportKind::Udp, tx.source, tx.echo.clone(), Vec::new());
        answered.defer_trying(now + Duration::from_millis(100));
        answered.sent(now, 200, b"200".to_vec(), &t);
        assert!(!answered.trying_pending(), "the answer cancels the 100");
        assert!(answered.trying_echo().is_none());
        assert!(matches!(
            tx.on_timer(now + Duration::from_millis(100), &t),
            ServerTimer::Due { trying: true, .. }
        ));
        assert!(tx.trying_echo().is_some());
    }
}
