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
