//! Which source a call's RTP is read from and sent back to (symmetric,
//! strict RTP), sans-IO.
//!
//! The SDP names the caller's media address. A source is ranked by how well
//! it matches it: the exact address and port, then the same IP from another
//! port (a NAT or a phone that sends from another port than it advertised),
//! then any other address, which is learnt only when the operator allows it
//! ([`SourceLearning::Any`], callers behind NAT that advertise a private
//! address). The first good packet latches its source; a source of a higher
//! rank takes over, one of the same or a lower rank is dropped. So a third
//! party who sprays a call's port before the caller speaks learns nothing
//! and gets nothing: it is not the SDP address, and even when any source may
//! be learnt, the caller's first packet takes the call back.

use std::net::SocketAddr;

/// Which sources other than the SDP's IP may be learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceLearning {
    /// Only a source from the IP the SDP gave (any port).
    #[default]
    SdpAddress,
    /// Also any other source, when none from the SDP's IP came first.
    Any,
}

/// How well a source matches the SDP; higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Elsewhere,
    SameIp,
    Exact,
}

#[derive(Debug, Clone)]
pub struct SourceLatch {
    /// Where the SDP says the caller's media is; `None`: no address was
    /// given, so nothing ranks above another.
    sdp: Option<SocketAddr>,
    learning: SourceLearning,
    /// Off: follow whichever source sent the last good packet.
    strict: bool,
    remote: Option<(SocketAddr, Rank)>,
}

impl SourceLatch {
    pub fn new(sdp: Option<SocketAddr>, learning: SourceLearning, strict: bool) -> Self {
        SourceLatch {
            sdp,
            learning,
            strict,
            remote: None,
        }
    }

    fn rank(&self, from: SocketAddr) -> Option<Rank> {
        let Some(sdp) = self.sdp else {
            return Some(Rank::Elsewhere);
        };
        let from_ip = from.ip().to_canonical();
        if from_ip == sdp.ip().to_canonical() {
            Some(if from.port() == sdp.port() {
                Rank::Exact
            } else {
                Rank::SameIp
            })
        } else if self.learning == SourceLearning::Any {
            Some(Rank::Elsewhere)
        } else {
            None
        }
    }

    /// Whether a datagram from `from` is to be read at all.
    pub fn accepts(&self, from: SocketAddr) -> bool {
        if !self.strict {
            return true;
        }
        match (self.remote, self.rank(from)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((remote, _)), _) if remote == from => true,
            (Some((_, latched)), Some(rank)) => rank > latched,
        }
    }

    /// A good packet came from `from` (already accepted): it is where the
    /// caller's media comes from now.
    pub fn learn(&mut self, from: SocketAddr) {
        let rank = self.rank(from).unwrap_or(Rank::Elsewhere);
        self.remote = Some((from, rank));
    }

    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote.map(|(r, _)| r)
    }

    /// The learnt source when it is final: strict, and no other source
    /// could take over (the exact SDP address, or no SDP address to rank
    /// against). The socket may then be connected to it, so the kernel
    /// drops every other source's packets before they are read.
    pub fn settled(&self) -> Option<SocketAddr> {
        let (remote, rank) = self.remote.filter(|_| self.strict)?;
        (rank == Rank::Exact || self.sdp.is_none()).then_some(remote)
    }

    /// The caller's media moved (a re-INVITE): rank against `sdp` and learn
    /// the source again. An unspecified address (a hold, RFC 3264 §8.4)
    /// moves nothing.
    pub fn moved_to(&mut self, sdp: SocketAddr) {
        if sdp.ip().is_unspecified() || self.sdp == Some(sdp) {
            return;
        }
        self.sdp = Some(sdp);
        self.remote = None;
    }

    /// Learn the source again from the next good packet.
    pub fn forget(&mut self) {
        self.remote = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_the_sdp_ip_is_learnt_by_default_and_a_port_change_is_allowed() {
        let mut latch = SourceLatch::new(
            Some(addr("192.0.2.10:4000")),
            SourceLearning::SdpAddress,
            true,
        );
        assert!(
            !latch.accepts(addr("203.0.113.66:4000")),
            "another IP never"
        );
        assert!(
            latch.accepts(addr("192.0.2.10:5000")),
            "the SDP's IP from a NATed port"
        );
        latch.learn(addr("192.0.2.10:5000"));
        assert_eq!(latch.remote(), Some(addr("192.0.2.10:5000")));
        assert_eq!(latch.settled(), None, "the exact address may still come");
        assert!(
            !latch.accepts(addr("192.0.2.10:6000")),
            "no second port of the same rank"
        );
        assert!(latch.accepts(addr("192.0.2.10:4000")));
        latch.learn(addr("192.0.2.10:4000"));
        assert_eq!(latch.settled(), Some(addr("192.0.2.10:4000")));
        assert!(!latch.accepts(addr("192.0.2.10:5000")), "never back down");
    }

    #[test]
    fn any_source_is_learnt_only_when_allowed_and_the_sdp_address_takes_it_back() {
        let mut latch = SourceLatch::new(Some(addr("10.0.0.5:4000")), SourceLearning::Any, true);
        assert!(latch.accepts(addr("198.51.100.7:61000")));
        latch.learn(addr("198.51.100.7:61000"));
        assert!(
            !latch.accepts(addr("203.0.113.66:4000")),
            "a second stranger is not"
        );
        assert!(latch.accepts(addr("10.0.0.5:4000")));
        latch.learn(addr("10.0.0.5:4000"));
        assert_eq!(latch.remote(), Some(addr("10.0.0.5:4000")));
        assert!(!latch.accepts(addr("198.51.100.7:61000")));
    }

    #[test]
    fn a_move_ranks_against_the_new_address_and_a_hold_moves_nothing() {
        let mut latch = SourceLatch::new(
            Some(addr("192.0.2.10:4000")),
            SourceLearning::SdpAddress,
            true,
        );
        latch.learn(addr("192.0.2.10:4000"));
        latch.moved_to(addr("0.0.0.0:4000"));
        assert_eq!(latch.remote(), Some(addr("192.0.2.10:4000")));
        latch.moved_to(addr("192.0.2.20:4100"));
        assert_eq!(latch.remote(), None);
        assert!(
            !latch.accepts(addr("192.0.2.10:4000")),
            "the old address is foreign now"
        );
        assert!(latch.accepts(addr("192.0.2.20:4100")));
    }

    #[test]
    fn without_strictness_every_source_is_read() {
        let mut latch = SourceLatch::new(
            Some(addr("192.0.2.10:4000")),
            SourceLearning::SdpAddress,
            false,
        );
        latch.learn(addr("192.0.2.10:4000"));
        assert!(latch.accepts(addr("203.0.113.66:4000")));
        assert_eq!(latch.settled(), None);
    }
}
