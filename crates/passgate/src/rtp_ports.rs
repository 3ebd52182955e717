//! Hands out local RTP/RTCP port pairs from `rtp.port_range`: an even port
//! for RTP and the odd one above it for RTCP (RFC 3550 §11), both bound,
//! rotating so a pair just released is not reused at once (late packets of
//! the old call would land in the new one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use std::net::UdpSocket;

use crate::config::PortRange;

pub struct RtpPorts {
    /// The SIP listen address: media of its family is bound there.
    ip: IpAddr,
    first: u16,
    pairs: u32,
    cursor: AtomicU32,
}

/// One call's media sockets.
pub struct RtpPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl RtpPorts {
    pub fn new(ip: IpAddr, range: PortRange) -> Self {
        let first = range.first + range.first % 2;
        // Pairs whose RTCP port (RTP + 1) is still inside the range.
        let pairs = u32::from(range.last.saturating_sub(first)).div_ceil(2);
        RtpPorts {
            ip,
            first,
            pairs: pairs.max(1),
            cursor: AtomicU32::new(rand::random::<u32>() % pairs.max(1)),
        }
    }

    /// The address media to or from `remote` is bound on: the listen
    /// address when it is of the remote's family and not a wildcard, else
    /// every address of that family.
    fn local_ip_for(&self, remote: IpAddr) -> IpAddr {
        let remote = remote.to_canonical();
        match (self.ip, remote) {
            (ip @ IpAddr::V4(_), IpAddr::V4(_)) | (ip @ IpAddr::V6(_), IpAddr::V6(_))
                if !ip.is_unspecified() =>
            {
                ip
            }
            (_, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (_, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// Binds the next free pair of the range, in the family of `remote` (the
    /// caller's media address).
    pub fn bind(&self, remote: IpAddr) -> std::io::Result<RtpPair> {
        let ip = self.local_ip_for(remote);
        let mut last_err = None;
        for _ in 0..self.pairs.min(256) {
            let n = self.cursor.fetch_add(1, Ordering::Relaxed) % self.pairs;
            let port = self.first + (n * 2) as u16;
            let pair = UdpSocket::bind(SocketAddr::new(ip, port)).and_then(|rtp| {
                let rtcp = UdpSocket::bind(SocketAddr::new(ip, port + 1))?;
                Ok(RtpPair { rtp, rtcp })
            });
            match pair {
                Ok(pair) => return Ok(pair),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("RTP port range exhausted")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(listen: &str, first: u16) -> RtpPorts {
        RtpPorts::new(
            listen.parse().unwrap(),
            PortRange {
                first,
                last: first + 10,
            },
        )
    }

    #[test]
    fn pairs_are_even_and_odd_in_range_and_rotate() {
        let ports = ports("127.0.0.1", 41001);
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let a = ports.bind(v4).unwrap();
        let b = ports.bind(v4).unwrap();
        for pair in [&a, &b] {
            let p = pair.rtp.local_addr().unwrap().port();
            assert!(p % 2 == 0 && (41002..=41010).contains(&p), "{p}");
            assert_eq!(pair.rtcp.local_addr().unwrap().port(), p + 1);
        }
        assert_ne!(
            a.rtp.local_addr().unwrap().port(),
            b.rtp.local_addr().unwrap().port()
        );
    }

    #[test]
    fn a_taken_rtcp_port_moves_the_pair_on() {
        let ports = ports("127.0.0.1", 41101);
        // Every RTCP port of the range but 41103 is taken.
        let _taken: Vec<UdpSocket> = (1..5)
            .map(|i| UdpSocket::bind(("127.0.0.1", 41103 + 2 * i)).unwrap())
            .collect();
        let pair = ports.bind("127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(pair.rtp.local_addr().unwrap().port(), 41102);
        assert_eq!(pair.rtcp.local_addr().unwrap().port(), 41103);
    }

    #[test]
    fn media_is_bound_in_the_family_of_the_caller() {
        let dual = ports("::", 41201);
        let v6 = dual.bind("::1".parse().unwrap()).unwrap();
        assert!(v6.rtp.local_addr().unwrap().is_ipv6());
        let v4 = dual.bind("127.0.0.1".parse().unwrap()).unwrap();
        assert!(v4.rtp.local_addr().unwrap().is_ipv4());
        let v4_only = ports("127.0.0.1", 41301);
        let pair = v4_only.bind("::1".parse().unwrap()).unwrap();
        assert_eq!(pair.rtcp.local_addr().unwrap().ip(), Ipv6Addr::UNSPECIFIED);
    }
}
