//! Passgate's SIP user agent.
//!
//! The protocol logic ([`Endpoint`]) is sans-IO: it takes datagrams and stream
//! messages with the time they arrived, and hands back what to send, what
//! happened and when it next needs to be woken. It is built along RFC 3261's
//! layers: [`transport`] (§18), `transaction` (§17), `dialog` (§12), and the
//! UAS itself in [`endpoint`]. [`driver`] is the thin tokio layer that owns the
//! UDP socket, the TCP listener and the clock, and hands each call its own
//! channel of events without ever waiting on one.
//!
//! Messages are read by our own parser (`grammar`, `message`): rsipstack's
//! generic one cost about three times as much on the one runtime thread and
//! took fewer of the forms RFC 3261 allows. The transaction and dialog
//! state machines are ours too, because rsipstack's are async, unbounded and cannot
//! be driven by a test clock (README, "SIP behaviour in detail").

pub mod admission;
pub mod auth_throttle;
mod call_events;
mod config;
mod dialog;
pub mod digest;
pub mod driver;
pub mod endpoint;
mod event;
mod extensions;
pub mod framing;
mod grammar;
pub mod identity;
pub mod info_dtmf;
pub mod message;
pub mod multipart;
mod reliable_provisional;
mod response;
mod route;
pub mod salvage;
pub mod sdes;
pub mod sdp;
mod session_timer;
mod stateless;
mod stream_conn;
pub mod tcp_admission;
mod timer_queue;
pub mod timers;
pub mod tls;
mod tls_accept;
pub mod tls_client_auth;
mod tls_dial;
mod transaction;
pub mod transport;
pub mod ws;
mod ws_driver;

pub use admission::{Cidr, RateLimit};
pub use auth_throttle::AuthLimits;
pub use digest::DigestAuth;
pub use endpoint::{
    CallHandle, EndReason, Endpoint, EndpointConfig, Event, IncomingCall, ReferStatus,
};
pub use sdes::{SrtpKey, SrtpMode, SrtpParams, SrtpSuite};
pub use sdp::{Codec, Direction, Negotiated};
pub use tcp_admission::{TcpLimits, TcpRefusal};
pub use tls::{TlsConfigStore, TlsError, TlsSettings};
pub use transport::{Transmit, TransportKind};
