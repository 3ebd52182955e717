//! Server and client transactions (RFC 3261 §17), as plain data. The endpoint
//! owns them and decides; these types only keep the state and the deadlines.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::endpoint::TransportKind;
use crate::message::{EchoHeaders, Method};

/// §17.2.3: a request matches a server transaction by the top Via branch, its
/// sent-by, and the method (an ACK matches the INVITE it acknowledges).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TxKey {
    pub branch: String,
    pub sent_by: String,
    pub method: Method,
}

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
    pub state: ServerState,
    pub last_response: Option<Vec<u8>>,
    /// Code of the last response sent, 0 if none.
    pub last_code: u16,
    pub call: Option<u64>,
    /// An INVITE's headers, kept to answer it when the application decides.
    pub echo: Option<EchoHeaders>,
    /// An INVITE's Record-Route values, in order and as received: copied into
    /// its 18x and 2xx responses (RFC 3261 §12.1.1).
    pub record_route: Vec<String>,
    /// Timer G: retransmit a non-2xx final to an INVITE over UDP.
    pub retransmit_at: Option<Instant>,
    pub interval: Duration,
    /// Timers H, I, J and the Accepted-state lifetime.
    pub expires_at: Option<Instant>,
    /// An INVITE's 100 Trying, due then if no other response went out first.
    pub trying_at: Option<Instant>,
}

impl ServerTx {
    pub fn new(
        method: Method,
        transport: TransportKind,
        source: SocketAddr,
        call: Option<u64>,
    ) -> Self {
        ServerTx {
            method,
            transport,
            source,
            state: ServerState::Proceeding,
            last_response: None,
            last_code: 0,
            call,
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

    pub fn is_final(&self) -> bool {
        self.last_code >= 200
    }
}

/// A request we sent (BYE, REFER), retransmitted over UDP until answered.
pub(crate) struct ClientTx {
    pub call: u64,
    pub method: Method,
    pub cseq: u32,
    pub payload: Vec<u8>,
    pub transport: TransportKind,
    pub destination: SocketAddr,
    /// Timer E (non-INVITE retransmission); None over TCP or once answered.
    pub retransmit_at: Option<Instant>,
    pub interval: Duration,
    /// Timer F.
    pub expires_at: Instant,
}

impl ClientTx {
    pub fn next_deadline(&self) -> Instant {
        match self.retransmit_at {
            Some(r) => r.min(self.expires_at),
            None => self.expires_at,
        }
    }
}
