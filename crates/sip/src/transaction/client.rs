//! A request we send in a dialog: a non-INVITE client transaction (BYE,
//! REFER, UPDATE; RFC 3261 §17.1.2), or a re-INVITE's (§17.1.1),
//! retransmitted over UDP until answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{Method, Response};
use crate::timers::Timers;
use crate::transport::{Transmit, TransportKind};

pub(crate) struct ClientTx {
    pub call: u64,
    pub method: Method,
    pub cseq: u32,
    payload: Vec<u8>,
    transport: TransportKind,
    destination: SocketAddr,
    /// Timer E (non-INVITE retransmission); None over TCP or once answered.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timer F; Timer B for an INVITE, kept after a provisional response:
    /// our only INVITE is a session refresh, which must be over well before
    /// the session would end (RFC 4028 §10), whatever a proxy's 100 says.
    expires_at: Instant,
}

/// What a due timer asks of the endpoint.
pub(crate) enum ClientTimer {
    /// No final response within 64·T1 (Timer F): the request failed as 408.
    TimedOut,
    /// Look again at this time, after sending this retransmission if any.
    Wait {
        retransmit: Option<Transmit>,
        next: Instant,
    },
}

impl ClientTx {
    /// A request sent at `now`; its first transmission is [`ClientTx::transmit`].
    pub fn new(
        now: Instant,
        timers: &Timers,
        (call, method, cseq): (u64, Method, u32),
        transport: TransportKind,
        destination: SocketAddr,
        payload: Vec<u8>,
    ) -> Self {
        ClientTx {
            call,
            method,
            cseq,
            payload,
            transport,
            destination,
            retransmit_at: (!transport.reliable()).then_some(now + timers.t1),
            interval: timers.t1,
            expires_at: now + timers.transaction_timeout(),
        }
    }

    pub fn transmit(&self) -> Transmit {
        Transmit {
            transport: self.transport,
            destination: self.destination,
            payload: self.payload.clone(),
            reconnect: None,
        }
    }

    pub fn next_deadline(&self) -> Instant {
        match self.retransmit_at {
            Some(r) => r.min(self.expires_at),
            None => self.expires_at,
        }
    }

    /// Whether `resp` answers this request (same CSeq and method).
    pub fn answered_by(&self, resp: &Response) -> bool {
        self.method.as_str() == resp.cseq_method && self.cseq == resp.cseq
    }

    /// A provisional response arrived: retransmit at T2 from now on
    /// (§17.1.2.2); an INVITE is not sent again (§17.1.1.2). Returns the
    /// deadline to schedule, if it moved.
    pub fn on_provisional(&mut self, now: Instant, timers: &Timers) -> Option<Instant> {
        if self.method == Method::Invite {
            self.retransmit_at = None;
            return None;
        }
        self.retransmit_at?;
        self.interval = timers.t2;
        self.retransmit_at = Some(now + self.interval);
        self.retransmit_at
    }

    pub fn on_timer(&mut self, now: Instant, timers: &Timers) -> ClientTimer {
        if self.expires_at <= now {
            return ClientTimer::TimedOut;
        }
        let mut retransmit = None;
        if self.retransmit_at.is_some_and(|t| t <= now) {
            retransmit = Some(self.transmit());
            // Timer A doubles without the T2 cap of Timer E (§17.1.1.2).
            self.interval = match self.method {
                Method::Invite => self.interval * 2,
                _ => timers.backoff(self.interval),
            };
            self.retransmit_at = Some(now + self.interval);
        }
        ClientTimer::Wait {
            retransmit,
            next: self.next_deadline(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bye(now: Instant, transport: TransportKind) -> ClientTx {
        ClientTx::new(
            now,
            &Timers::default(),
            (1, Method::Bye, 2),
            transport,
            "192.0.2.9:5060".parse().unwrap(),
            b"BYE".to_vec(),
        )
    }

    #[test]
    fn over_udp_a_request_is_sent_again_doubling_to_t2_then_times_out_at_64_t1() {
        let t = Timers::default();
        let start = Instant::now();
        let mut tx = bye(start, TransportKind::Udp);
        let mut now: Instant;
        let mut sent_at = Vec::new();
        loop {
            now = tx.next_deadline();
            match tx.on_timer(now, &t) {
                ClientTimer::TimedOut => break,
                ClientTimer::Wait { retransmit, .. } => {
                    if retransmit.is_some() {
                        sent_at.push(now - start);
                    }
                }
            }
        }
        assert_eq!(now - start, t.transaction_timeout(), "Timer F");
        assert_eq!(sent_at[..4], [t.t1, t.t1 * 3, t.t1 * 7, t.t1 * 15]);
        assert!(sent_at.windows(2).all(|w| w[1] - w[0] <= t.t2));
    }

    #[test]
    fn a_reinvite_is_sent_again_doubling_uncapped_until_a_provisional_and_times_out_at_64_t1() {
        let t = Timers::default();
        let start = Instant::now();
        let mut tx = ClientTx::new(
            start,
            &t,
            (1, Method::Invite, 3),
            TransportKind::Udp,
            "192.0.2.9:5060".parse().unwrap(),
            b"INVITE".to_vec(),
        );
        let mut sent_at = Vec::new();
        let mut now = start;
        while now - start < t.t1 * 20 {
            now = tx.next_deadline();
            if let ClientTimer::Wait {
                retransmit: Some(_),
                ..
            } = tx.on_timer(now, &t)
            {
                sent_at.push(now - start);
            }
        }
        // Timer A: T1, 2·T1, 4·T1, 8·T1 apart, past T2.
        assert_eq!(sent_at[..4], [t.t1, t.t1 * 3, t.t1 * 7, t.t1 * 15]);
        assert_eq!(sent_at[4], t.t1 * 31);
        let at = start + t.t1 * 32;
        assert_eq!(tx.on_provisional(at, &t), None);
        assert_eq!(tx.next_deadline(), start + t.transaction_timeout());
        assert!(matches!(
            tx.on_timer(start + t.t1 * 63, &t),
            ClientTimer::Wait {
                retransmit: None,
                ..
            }
        ));
        assert!(matches!(
            tx.on_timer(start + t.transaction_timeout(), &t),
            ClientTimer::TimedOut
        ));
    }

    #[test]
    fn a_provisional_slows_retransmission_to_t2_and_tcp_never_retransmits() {
        let t = Timers::default();
        let now = Instant::now();
        let mut udp = bye(now, TransportKind::Udp);
        assert_eq!(udp.on_provisional(now, &t), Some(now + t.t2));
        let mut tcp = bye(now, TransportKind::Tcp(4));
        assert_eq!(tcp.on_provisional(now, &t), None);
        assert_eq!(tcp.next_deadline(), now + t.transaction_timeout());
        assert!(matches!(
            tcp.on_timer(now + t.t1, &t),
            ClientTimer::Wait {
                retransmit: None,
                ..
            }
        ));
    }
}
