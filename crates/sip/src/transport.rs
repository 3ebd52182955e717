//! The transport layer (RFC 3261 §18): what a message travels over, where a
//! response goes back to, and what leaves the endpoint.
//!
//! The driver owns the sockets and connections; the protocol layers above only
//! name a [`TransportKind`] and hand back [`Transmit`]s.

use std::net::SocketAddr;

use crate::message::EchoHeaders;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    /// A TCP connection, by the driver's id for it. Responses and in-dialog
    /// requests go back over the connection the request came in on.
    Tcp(u64),
    /// A TLS connection (RFC 3261 §26), by the driver's id for it; reused
    /// like a TCP one.
    Tls(u64),
    /// A WebSocket connection (RFC 7118), by the driver's id for it: one
    /// message per frame, reused like a TCP one.
    Ws(u64),
}

impl TransportKind {
    /// The transport's name in a Via header.
    pub(crate) fn via_name(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp(_) => "TCP",
            TransportKind::Tls(_) => "TLS",
            TransportKind::Ws(_) => "WS",
        }
    }

    /// The connection's id, for the transports that have one.
    pub fn connection(self) -> Option<u64> {
        match self {
            TransportKind::Udp => None,
            TransportKind::Tcp(id) | TransportKind::Tls(id) | TransportKind::Ws(id) => Some(id),
        }
    }

    /// Whether the transport delivers by itself: nothing is retransmitted
    /// over it, and transactions on it linger for no retransmissions (§17).
    pub(crate) fn reliable(self) -> bool {
        matches!(
            self,
            TransportKind::Tcp(_) | TransportKind::Tls(_) | TransportKind::Ws(_)
        )
    }

    /// The `transport` URI parameter of our Contact over it, if any.
    pub(crate) fn uri_param(self) -> &'static str {
        match self {
            TransportKind::Udp => "",
            TransportKind::Tcp(_) => ";transport=tcp",
            TransportKind::Tls(_) => ";transport=tls",
            TransportKind::Ws(_) => ";transport=ws",
        }
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: TransportKind,
    pub destination: SocketAddr,
    pub payload: Vec<u8>,
    /// A request of ours in a dialog over TLS: where to open a new TLS
    /// connection if the one `transport` names has closed.
    pub reconnect: Option<NextHop>,
}

/// The host and port a new connection goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// A DNS name or an IP address (IPv6 without brackets): what the peer's
    /// certificate must name.
    pub host: String,
    pub port: u16,
}

/// Where a response goes (§18.2.2, RFC 3581): back over the connection for
/// TCP; over UDP to the source address, and to the source port when the
/// client asked with `rport` (or named no port), else to its Via port.
pub(crate) fn response_destination(
    transport: TransportKind,
    source: SocketAddr,
    echo: &EchoHeaders,
) -> SocketAddr {
    match transport {
        TransportKind::Tcp(_) | TransportKind::Tls(_) | TransportKind::Ws(_) => source,
        TransportKind::Udp => {
            let via = echo.vias.first().map(String::as_str).unwrap_or("");
            match via_port_unless_rport(via) {
                Some(port) => SocketAddr::new(source.ip(), port),
                None => source,
            }
        }
    }
}

/// The Via port to answer to over UDP, or None to answer to the source port
/// (`rport` present, §4 of RFC 3581).
fn via_port_unless_rport(via: &str) -> Option<u16> {
    let mut parts = via.split(';');
    let sent_by = parts.next()?.split_whitespace().nth(1)?;
    if parts.any(|p| {
        p.trim().eq_ignore_ascii_case("rport")
            || p.trim().to_ascii_lowercase().starts_with("rport=")
    }) {
        return None;
    }
    let port = match sent_by.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || sent_by.starts_with('[') => port.parse().ok(),
        _ => None,
    };
    Some(port.unwrap_or(5060))
}

/// A datagram of line ends and blanks only: a keep-alive, not a message.
pub(crate) fn is_keepalive(data: &[u8]) -> bool {
    !data.is_empty()
        && data
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
}
