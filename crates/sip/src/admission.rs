//! Who may start calls, and how fast: the trunk allow-list (`sip.allow_from`)
//! and a token bucket of new calls per second per source address. Both are
//! checked before any per-call state is created, so a flood costs one lookup
//! and one short response per INVITE.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// An address block, `192.0.2.0/24`, `2001:db8::/32` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                net.to_ipv4_mapped() == Some(ip) && self.prefix == 128
            }
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// New calls per second allowed from one source address, with a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Forgets sources idle this long, so spoofed floods cannot grow the table forever.
const IDLE: Duration = Duration::from_secs(60);
/// Entries kept before idle ones are swept.
const SWEEP_AT: usize = 4096;

pub(crate) struct CallRateLimiter {
    limit: Option<RateLimit>,
    buckets: HashMap<IpAddr, Bucket>,
}

impl CallRateLimiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        CallRateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Whether [`CallRateLimiter::admit`] would take a token now, taking none.
    pub fn would_admit(&self, now: Instant, source: IpAddr) -> bool {
        match (self.limit, self.buckets.get(&source)) {
            (Some(limit), Some(bucket)) => bucket.has_token(limit, now),
            _ => true,
        }
    }

    /// Takes a token for a new call from `source`; false when over the limit.
    pub fn admit(&mut self, now: Instant, source: IpAddr) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        if self.buckets.len() >= SWEEP_AT {
            self.buckets
                .retain(|_, b| now.saturating_duration_since(b.updated) < IDLE);
        }
        self.buckets
            .entry(source)
            .or_insert_with(|| Bucket::full(limit, now))
            .take(limit, now)
    }

    /// Gives back the token a request from `source` took: it was answered
    /// with a response the caller must answer by sending it again.
    pub fn refund(&mut self, source: IpAddr) {
        if let (Some(limit), Some(bucket)) = (self.limit, self.buckets.get_mut(&source)) {
            bucket.refund(limit);
        }
    }
}

impl Bucket {
    fn full(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            tokens: limit.burst,
            updated: now,
        }
    }

    fn has_token(&self, limit: RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * limit.per_second).min(limit.burst) >= 1.0
    }

    fn refund(&mut self, limit: RateLimit) {
        self.tokens = (self.tokens + 1.0).min(limit.burst);
    }

    fn take(&mut self, limit: RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// New calls per second the whole agent takes: past what the machine can
/// carry, answering 503 at once is cheap and keeps the calls it does take
/// on time, where taking them all would make every call late.
pub(crate) struct TotalRateLimiter {
    limit: Option<RateLimit>,
    bucket: Option<Bucket>,
}

impl TotalRateLimiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        TotalRateLimiter {
            limit,
            bucket: None,
        }
    }

    /// Whether [`TotalRateLimiter::admit`] would take a token now, taking none.
    pub fn would_admit(&self, now: Instant) -> bool {
        match (self.limit, &self.bucket) {
            (Some(limit), Some(bucket)) => bucket.has_token(limit, now),
            _ => true,
        }
    }

    pub fn admit(&mut self, now: Instant) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        self.bucket
            .get_or_insert_with(|| Bucket::full(limit, now))
            .take(limit, now)
    }

    /// Gives back a token, as [`CallRateLimiter::refund`].
    pub fn refund(&mut self) {
        if let (Some(limit), Some(bucket)) = (self.limit, self.bucket.as_mut()) {
            bucket.refund(limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_rate_refuses_past_its_burst_and_refills() {
        let t0 = Instant::now();
        let mut total = TotalRateLimiter::new(Some(RateLimit {
            per_second: 100.0,
            burst: 10.0,
        }));
        let admitted = (0..20).filter(|_| total.admit(t0)).count();
        assert_eq!(admitted, 10);
        assert!(!total.would_admit(t0));
        // 50 ms at 100/s: five more.
        let later = t0 + Duration::from_millis(50);
        assert!(total.would_admit(later));
        assert!(total.would_admit(later), "asking takes no token");
        assert_eq!((0..20).filter(|_| total.admit(later)).count(), 5);
        let mut unlimited = TotalRateLimiter::new(None);
        assert!((0..10_000).all(|_| unlimited.admit(t0)));
    }

    #[test]
    fn cidr_blocks_match_their_addresses_only() {
        let block: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(block.contains("192.0.2.77".parse().unwrap()));
        assert!(!block.contains("192.0.3.1".parse().unwrap()));
        assert!(block.contains("::ffff:192.0.2.5".parse().unwrap()));
        let host: Cidr = "10.1.2.3".parse().unwrap();
        assert!(host.contains("10.1.2.3".parse().unwrap()));
        assert!(!host.contains("10.1.2.4".parse().unwrap()));
        let any: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("203.0.113.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!("10.0.0.0/33"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("prefix"));
        assert!("trunk.example".parse::<Cidr>().is_err());
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut limiter = CallRateLimiter::new(Some(RateLimit {
            per_second: 10.0,
            burst: 5.0,
        }));
        let src: IpAddr = "198.51.100.1".parse().unwrap();
        let other: IpAddr = "198.51.100.2".parse().unwrap();
        let t0 = Instant::now();
        let admitted = (0..20).filter(|_| limiter.admit(t0, src)).count();
        assert_eq!(admitted, 5, "the burst");
        assert!(!limiter.would_admit(t0, src));
        assert!(
            limiter.would_admit(t0, other),
            "a source never seen has a full bucket"
        );
        assert!(limiter.would_admit(t0 + Duration::from_millis(100), src));
        assert!(
            limiter.admit(t0, other),
            "another source has its own bucket"
        );
        // One second later, ten more tokens (capped at the burst of five).
        let admitted = (0..20)
            .filter(|_| limiter.admit(t0 + Duration::from_secs(1), src))
            .count();
        assert_eq!(admitted, 5);
        let admitted = (0..20)
            .filter(|_| limiter.admit(t0 + Duration::from_millis(1300), src))
            .count();
        assert_eq!(admitted, 3);
        let mut unlimited = CallRateLimiter::new(None);
        assert!((0..1000).all(|_| unlimited.admit(t0, src)));
    }
}
