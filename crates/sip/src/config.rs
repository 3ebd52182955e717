//! How an endpoint is set up: its addresses, limits, timers and who it trusts.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::sdp::MediaPolicy;
use crate::timers::Timers;

#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Address put in Via, Contact and the SDP (the public one behind NAT)
    /// for peers of its family.
    pub public_ip: IpAddr,
    /// The address for IPv6 peers and IPv6 media when `public_ip` is IPv4
    /// (a dual-stack listener). Without an address of the offer's family a
    /// call is refused with 488.
    pub public_ipv6: Option<Ipv6Addr>,
    pub public_port: u16,
    /// The port of the TLS listener, written in Contact and Via of TLS calls.
    pub tls_port: Option<u16>,
    /// The port of the WebSocket listener, written in Contact and Via of
    /// calls over WebSocket.
    pub ws_port: Option<u16>,
    /// User part of our Contact.
    pub user: String,
    pub media: MediaPolicy,
    pub timers: Timers,
    /// INVITEs beyond this many calls in progress get 503.
    pub max_calls: usize,
    /// Seconds suggested in Retry-After of a 503.
    pub retry_after_secs: u32,
    /// Sources allowed to send requests; empty allows everyone. Others get 403.
    pub allow_from: Vec<crate::admission::Cidr>,
    /// New calls per second per source address; beyond it INVITEs get 503.
    pub calls_per_source: Option<crate::admission::RateLimit>,
    /// New calls per second accepted in all (503 with Retry-After beyond).
    pub calls_per_second: Option<crate::admission::RateLimit>,
    /// When set, INVITEs must carry Digest credentials (else 401).
    pub digest: Option<crate::digest::DigestAuth>,
    /// The trust domain (RFC 3325): sources whose `P-Asserted-Identity`,
    /// `Remote-Party-ID` and `verstat` are believed. Empty: nobody's.
    pub trusted_identity_sources: Vec<crate::admission::Cidr>,
    /// How long an INVITE waits for its first response before 100 Trying
    /// goes out; zero sends it at once. At most 200 ms (RFC 3261 §17.2.1).
    pub trying_after: Duration,
    /// Server header of our responses and User-Agent of our requests; None
    /// leaves them out (nothing tells a scanner what answers). Never sent to
    /// sources refused for not being in `allow_from`.
    pub server_header: Option<String>,
    /// Limits on wrong Digest answers per source and per user name.
    pub auth_limits: crate::auth_throttle::AuthLimits,
}

impl EndpointConfig {
    /// Our address in the family of `peer` (an IPv4-mapped IPv6 address
    /// counts as IPv4), if we have one.
    pub fn local_ip_for(&self, peer: IpAddr) -> Option<IpAddr> {
        match (peer.to_canonical(), self.public_ip) {
            (IpAddr::V4(_), ip @ IpAddr::V4(_)) => Some(ip),
            (IpAddr::V4(_), IpAddr::V6(_)) => None,
            (IpAddr::V6(_), ip @ IpAddr::V6(_)) => Some(self.public_ipv6.map_or(ip, IpAddr::V6)),
            (IpAddr::V6(_), IpAddr::V4(_)) => self.public_ipv6.map(IpAddr::V6),
        }
    }

    pub fn new(public: SocketAddr) -> Self {
        EndpointConfig {
            public_ip: public.ip(),
            public_ipv6: None,
            public_port: public.port(),
            tls_port: None,
            ws_port: None,
            user: "passgate".into(),
            media: MediaPolicy::default(),
            timers: Timers::default(),
            max_calls: 10_000,
            retry_after_secs: 5,
            allow_from: Vec::new(),
            calls_per_source: None,
            calls_per_second: None,
            digest: None,
            trusted_identity_sources: Vec::new(),
            trying_after: Duration::from_millis(100),
            server_header: None,
            auth_limits: crate::auth_throttle::AuthLimits::default(),
        }
    }
}
