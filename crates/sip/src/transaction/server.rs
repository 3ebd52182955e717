//! A server transaction (RFC 3261 §17.2) and the non-INVITE rules (§17.2.2):
//! the last response is sent again to each retransmitted request, and the
//! transaction lingers 64·T1 over UDP (Timer J) to absorb them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{EchoHeaders, Method};
use crate::timers::Timers;
use crate::transport::TransportKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Provisional sent (or nothing yet); the application has not decided.
    Proceeding,
    /// Non-2xx final sent; retransmitted until ACK (INVITE) or absorbing retransmissions.
    Completed,
    /// ACK for a non-2xx final received; absorbing stray ACKs (Timer I).
    Confirmed,
    /// 2xx sent to an INVITE; retransmitted INVITEs get the 2xx again (RFC 6026).
    Accepted,
}

pub(crate) struct ServerTx {
    pub method: Method,
    pub transport: TransportKind,
    pub source: SocketAddr,
    pub(super) state: ServerState,
    pub(super) last_response: Option<Vec<u8>>,
    /// Code of the last response sent, 0 if none.
    pub(super) last_code: u16,
    /// The call an INVITE offered or belongs to.
    pub call: Option<u64>,
    /// An INVITE's headers, kept to answer it when the application decides.
    pub echo: Option<EchoHeaders>,
    /// An INVITE's Record-Route values, in order and as received: copied into
    /// its 18x and 2xx responses (RFC 3261 §12.1.1).
    pub(super) record_route: Vec<String>,
    /// Timer G: retransmit a non-2xx final to an INVITE over UDP.
    pub(super) retransmit_at: Option<Instant>,
    pub(super) interval: Duration,
    /// Timers H, I, J and the Accepted-state lifetime.
    pub(super) expires_at: Option<Instant>,
    /// An INVITE's 100 Trying, due then if no other response went out first.
    pub(super) trying_at: Option<Instant>,
}

/// What a due timer asks of the endpoint.
pub(crate) enum ServerTimer {
    /// The transaction is over: forget it.
    Expired,
    Due {
        /// The INVITE's 100 Trying is due (see [`ServerTx::trying_echo`]).
        trying: bool,
        /// The last response, to send again (Timer G).
        retransmit: Option<Vec<u8>>,
    },
}

impl ServerTx {
    pub fn new(method: Method, transport: TransportKind, source: SocketAddr) -> Self {
        ServerTx {
            method,
            transport,
            source,
            state: ServerState::Proceeding,
            last_response: None,
            last_code: 0,
            call: None,
            echo: None,
            record_route: Vec::new(),
            retransmit_at: None,
            interval: Duration::ZERO,
            expires_at: None,
            trying_at: None,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.expires_at, self.trying_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether a final response has been sent.
    pub fn is_final(&self) -> bool {
        self.last_code >= 200
    }

    /// What a retransmission of the request gets: the last response again.
    pub fn last_response(&self) -> Option<&[u8]> {
        self.last_response.as_deref()
    }

    /// Records `payload`, a response with `code`, as sent at `now` and moves
    /// the state along. Returns the next deadline when a final response
    /// started timers.
    pub fn sent(
        &mut self,
        now: Instant,
        code: u16,
        payload: Vec<u8>,
        timers: &Timers,
    ) -> Option<Instant> {
        self.last_response = Some(payload);
        self.last_code = code;
        self.trying_at = None;
        if code < 200 {
            return None;
        }
        if self.method == Method::Invite {
            self.invite_final(now, code, timers);
        } else {
            self.state = ServerState::Completed;
            let linger = if self.transport.reliable() {
                Duration::ZERO
            } else {
                timers.transaction_timeout()
            };
            self.expires_at = Some(now + linger);
        }
        self.next_deadline()
    }

    /// Moves the transaction on at `now`, when one of its deadlines is due.
    pub fn on_timer(&mut self, now: Instant, timers: &Timers) -> ServerTimer {
        if self.expires_at.is_some_and(|t| t <= now) {
            return ServerTimer::Expired;
        }
        let trying = self.trying_at.is_some_and(|t| t <= now);
        if trying {
            self.trying_at = None;
        }
        let mut retransmit = None;
        if self.retransmit_at.is_some_and(|t| t <= now) {
            retransmit = self.last_response.clone();
            self.interval = timers.backoff(self.interval);
            self.retransmit_at = Some(now + self.interval);
        }
        ServerTimer::Due { trying, retransmit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timers() -> Timers {
        Timers::default()
    }

    fn source() -> SocketAddr {
        "192.0.2.9:5060".parse().unwrap()
    }

    #[test]
    fn a_non_invite_final_lingers_64_t1_over_udp_and_not_at_all_over_tcp() {
        let now = Instant::now();
        let mut udp = ServerTx::new(Method::Options, TransportKind::Udp, source());
        let at = udp.sent(now, 200, b"200".to_vec(), &timers());
        assert_eq!(at, Some(now + timers().transaction_timeout()));
        assert!(udp.is_final());
        assert_eq!(
            udp.last_response(),
            Some(&b"200"[..]),
            "absorbs retransmissions"
        );
        assert!(matches!(
            udp.on_timer(now + Duration::from_secs(1), &timers()),
            ServerTimer::Due {
                trying: false,
                retransmit: None
            }
        ));
        assert!(matches!(
            udp.on_timer(now + timers().transaction_timeout(), &timers()),
            ServerTimer::Expired
        ));

        let mut tcp = ServerTx::new(Method::Bye, TransportKind::Tcp(3), source());
        assert_eq!(tcp.sent(now, 200, b"200".to_vec(), &timers()), Some(now));
        assert!(matches!(tcp.on_timer(now, &timers()), ServerTimer::Expired));
    }

    #[test]
    fn a_provisional_starts_no_timer() {
        let now = Instant::now();
        let mut tx = ServerTx::new(Method::Invite, TransportKind::Udp, source());
        assert_eq!(tx.sent(now, 180, b"180".to_vec(), &timers()), None);
        assert!(!tx.is_final());
        assert_eq!(tx.next_deadline(), None);
    }
}
