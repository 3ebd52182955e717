//! Hands out local RTP/RTCP port pairs from `rtp.port_range`: an even port
//! for RTP and the odd one above it for RTCP (RFC 3550 §11), both bound.
//! Each call's pair is drawn at random (a CSPRNG), so that one call's port
//! tells nothing about the next call's: a stranger who could guess it could
//! spray it before the caller speaks. The pairs handed out last are not
//! drawn again at once (late packets of an old call would land in the new
//! one).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use std::net::UdpSocket;

use rand::Rng;

use crate::config::PortRange;

/// Random draws before every pair is tried in turn (a nearly full range).
const RANDOM_DRAWS: usize = 32;
/// At most this many pairs handed out last are kept from the draw.
const RECENT: usize = 64;

pub struct RtpPorts {
    /// The SIP listen address: media of its family is bound there.
    ip: IpAddr,
    first: u16,
    pairs: u32,
    /// The pairs (by index) handed out last, newest at the back.
    recent: Mutex<VecDeque<u32>>,
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
            recent: Mutex::new(VecDeque::new()),
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

    /// Binds a free pair of the range drawn at random, in the family of
    /// `remote` (the caller's media address).
    pub fn bind(&self, remote: IpAddr) -> std::io::Result<RtpPair> {
        self.bind_pair(self.local_ip_for(remote), true)
    }

    /// Whether a new call could have its pair now (in the family of the
    /// listen address): a pair is bound and let go at once, and kept out of
    /// nothing. Fails when every pair is taken or no socket can be opened
    /// (the open-file limit reached).
    pub fn probe(&self) -> std::io::Result<()> {
        self.bind_pair(self.local_ip_for(self.ip), false).map(drop)
    }

    fn bind_pair(&self, ip: IpAddr, remember: bool) -> std::io::Result<RtpPair> {
        let mut rng = rand::rng();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        // Half the range at most stays out of the draw, so it always has a choice.
        let keep = RECENT.min(self.pairs as usize / 2);
        let draws = (0..RANDOM_DRAWS)
            .map(|_| rng.random_range(0..self.pairs))
            .filter(|n| !recent.contains(n))
            .collect::<Vec<_>>();
        let start = rng.random_range(0..self.pairs);
        let every = (0..self.pairs).map(|i| (start + i) % self.pairs);
        let mut last_err = None;
        for n in draws.into_iter().chain(every) {
            let port = self.first + (n * 2) as u16;
            let pair = UdpSocket::bind(SocketAddr::new(ip, port)).and_then(|rtp| {
                let rtcp = UdpSocket::bind(SocketAddr::new(ip, port + 1))?;
                Ok(RtpPair { rtp, rtcp })
            });
            match pair {
                Ok(pair) => {
                    if remember {
                        recent.push_back(n);
                        while recent.len() > keep {
                            recent.pop_front();
                        }
                    }
                    return Ok(pair);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("RTP port range exhausted")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The ranges below sit under the kernel's ephemeral ports (32768 and
    // up by default): a socket bound to port 0 elsewhere in this test
    // binary can never take one of them while a test expects it free.

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
    fn consecutive_pairs_are_drawn_at_random_over_the_range() {
        let ports = RtpPorts::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                first: 12000,
                last: 13999,
            },
        );
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let drawn: Vec<u16> = (0..20)
            .map(|_| ports.bind(v4).unwrap().rtp.local_addr().unwrap().port())
            .collect();
        let steps_of_one_pair = drawn.windows(2).filter(|w| w[1] == w[0] + 2).count();
        // By chance (1 in 1,000 a step) one at most.
        assert!(steps_of_one_pair <= 1, "{drawn:?}");
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        assert_eq!(
            distinct.len(),
            drawn.len(),
            "none drawn twice in a row of 20: {drawn:?}"
        );
        let spread = drawn.iter().max().unwrap() - drawn.iter().min().unwrap();
        assert!(
            spread > 1000,
            "over the range, not a corner of it: {drawn:?}"
        );
    }

    #[test]
    fn pairs_are_even_and_odd_in_range_and_rotate() {
        let ports = ports("127.0.0.1", 11001);
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let a = ports.bind(v4).unwrap();
        let b = ports.bind(v4).unwrap();
        for pair in [&a, &b] {
            let p = pair.rtp.local_addr().unwrap().port();
            assert!(p % 2 == 0 && (11002..=11010).contains(&p), "{p}");
            assert_eq!(pair.rtcp.local_addr().unwrap().port(), p + 1);
        }
        assert_ne!(
            a.rtp.local_addr().unwrap().port(),
            b.rtp.local_addr().unwrap().port()
        );
    }

    #[test]
    fn a_taken_rtcp_port_moves_the_pair_on() {
        let ports = ports("127.0.0.1", 11101);
        // Every RTCP port of the range but 11103 is taken.
        let _taken: Vec<UdpSocket> = (1..5)
            .map(|i| UdpSocket::bind(("127.0.0.1", 11103 + 2 * i)).unwrap())
            .collect();
        let pair = ports.bind("127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(pair.rtp.local_addr().unwrap().port(), 11102);
        assert_eq!(pair.rtcp.local_addr().unwrap().port(), 11103);
    }

    #[test]
    fn the_probe_fails_while_every_pair_is_taken_and_passes_once_one_is_free() {
        let ports = ports("127.0.0.1", 11401);
        assert!(ports.probe().is_ok());
        let held: Vec<RtpPair> = (0..5)
            .map(|_| ports.bind("127.0.0.1".parse().unwrap()).unwrap())
            .collect();
        assert!(ports.probe().is_err());
        assert!(ports.bind("127.0.0.1".parse().unwrap()).is_err());
        drop(held);
        assert!(ports.probe().is_ok());
        // The probe's pair was let go: a call still gets one.
        assert!(ports.bind("127.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn media_is_bound_in_the_family_of_the_caller() {
        let dual = ports("::", 11201);
        let v6 = dual.bind("::1".parse().unwrap()).unwrap();
        assert!(v6.rtp.local_addr().unwrap().is_ipv6());
        let v4 = dual.bind("127.0.0.1".parse().unwrap()).unwrap();
        assert!(v4.rtp.local_addr().unwrap().is_ipv4());
        let v4_only = ports("127.0.0.1", 11301);
        let pair = v4_only.bind("::1".parse().unwrap()).unwrap();
        assert_eq!(pair.rtcp.local_addr().unwrap().ip(), Ipv6Addr::UNSPECIFIED);
    }
}
