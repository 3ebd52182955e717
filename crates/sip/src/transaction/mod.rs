//! The transaction layer (RFC 3261 §17): requests matched to the responses
//! that answer them, and the retransmissions and timers in between.
//!
//! Each transaction owns its state and its transitions; the endpoint tells it
//! what happened (a response sent, an ACK, a timer due) at a time it is given,
//! and sends what the transaction hands back. Nothing here builds a message,
//! reads a clock or touches a socket.
//!
//! - [`server`]: a server transaction and the non-INVITE rules (§17.2.2);
//! - [`server_inv`]: what an INVITE server transaction adds (§17.2.1, RFC 6026);
//! - [`client`]: the requests we send in a dialog (§17.1.2).

pub(crate) mod client;
pub(crate) mod server;
pub(crate) mod server_inv;

pub(crate) use client::{ClientTimer, ClientTx};
pub(crate) use server::{ServerTimer, ServerTx};

use crate::message::Method;

/// §17.2.3: a request matches a server transaction by the top Via branch, its
/// sent-by, and the method (an ACK matches the INVITE it acknowledges).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TxKey {
    pub branch: String,
    pub sent_by: String,
    pub method: Method,
}
