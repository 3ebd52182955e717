//! Hands out local RTP ports from `rtp.port_range`: even ports (RTP) with the
//! odd one above left for RTCP, rotating so a port just released is not
//! reused at once (late packets of the old call would land in the new one).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use std::net::UdpSocket;

use crate::config::PortRange;

pub struct RtpPorts {
    ip: IpAddr,
    first: u16,
    pairs: u32,
    cursor: AtomicU32,
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

    /// Binds the next free even port of the range.
    pub fn bind(&self) -> std::io::Result<UdpSocket> {
        let mut last_err = None;
        for _ in 0..self.pairs.min(256) {
            let n = self.cursor.fetch_add(1, Ordering::Relaxed) % self.pairs;
            let port = self.first + (n * 2) as u16;
            match UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("RTP port range exhausted")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_even_in_range_and_rotate() {
        let ports = RtpPorts::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                first: 41001,
                last: 41011,
            },
        );
        let a = ports.bind().unwrap().local_addr().unwrap().port();
        let b = ports.bind().unwrap().local_addr().unwrap().port();
        for p in [a, b] {
            assert!(p % 2 == 0 && (41002..=41010).contains(&p), "{p}");
        }
        assert_ne!(a, b);
    }
}
