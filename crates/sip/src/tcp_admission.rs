//! Which TCP connections are taken: sources outside `allow_from` are closed at
//! once, and connections are capped in all and per source address, so that one
//! peer cannot hold the file descriptors calls need for their media.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::admission::Cidr;

/// Limits on the TCP transport.
#[derive(Debug, Clone)]
pub struct TcpLimits {
    /// Connections open at once, from every source together.
    pub max_connections: usize,
    /// Connections open at once from one source address.
    pub max_per_source: usize,
    /// A connection that receives nothing for this long is closed, unless a
    /// call in progress uses it.
    pub idle_timeout: Duration,
    /// A message must be complete (header and body) this long after its first
    /// byte arrived, else the connection is closed (slowloris).
    pub message_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 1000,
            max_per_source: 50,
            idle_timeout: Duration::from_secs(900),
            message_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a connection was refused or closed, as metrics and log lines name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpRefusal {
    /// The source is not in `allow_from`.
    Forbidden,
    /// The source already holds `max_per_source` connections.
    PerSource,
    /// `max_connections` are open.
    Total,
}

impl TcpRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            TcpRefusal::Forbidden => "forbidden",
            TcpRefusal::PerSource => "per_source",
            TcpRefusal::Total => "total",
        }
    }
}

/// Connections open, by source; every admitted connection must be released.
#[derive(Debug)]
pub struct TcpAdmission {
    limits: TcpLimits,
    allow_from: Vec<Cidr>,
    open: HashMap<IpAddr, usize>,
    total: usize,
}

impl TcpAdmission {
    pub fn new(limits: TcpLimits, allow_from: Vec<Cidr>) -> Self {
        TcpAdmission {
            limits,
            allow_from,
            open: HashMap::new(),
            total: 0,
        }
    }

    pub fn limits(&self) -> &TcpLimits {
        &self.limits
    }

    /// Takes a connection from `source`, or says why not.
    pub fn admit(&mut self, source: IpAddr) -> Result<(), TcpRefusal> {
        if !self.allow_from.is_empty() && !self.allow_from.iter().any(|c| c.contains(source)) {
            return Err(TcpRefusal::Forbidden);
        }
        if self.total >= self.limits.max_connections {
            return Err(TcpRefusal::Total);
        }
        let from_source = self.open.entry(source).or_insert(0);
        if *from_source >= self.limits.max_per_source {
            return Err(TcpRefusal::PerSource);
        }
        *from_source += 1;
        self.total += 1;
        Ok(())
    }

    /// A connection admitted from `source` has closed.
    pub fn release(&mut self, source: IpAddr) {
        if let Some(n) = self.open.get_mut(&source) {
            *n -= 1;
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.open.remove(&source);
            }
        }
    }

    pub fn open(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limits(total: usize, per_source: usize) -> TcpLimits {
        TcpLimits {
            max_connections: total,
            max_per_source: per_source,
            ..TcpLimits::default()
        }
    }

    #[test]
    fn per_source_and_total_caps_hold_and_release_frees_a_slot() {
        let mut a = TcpAdmission::new(limits(3, 2), Vec::new());
        assert_eq!(a.admit(ip("192.0.2.1")), Ok(()));
        assert_eq!(a.admit(ip("192.0.2.1")), Ok(()));
        assert_eq!(a.admit(ip("192.0.2.1")), Err(TcpRefusal::PerSource));
        assert_eq!(a.admit(ip("192.0.2.2")), Ok(()));
        assert_eq!(a.admit(ip("192.0.2.3")), Err(TcpRefusal::Total));
        assert_eq!(a.open(), 3);
        a.release(ip("192.0.2.1"));
        assert_eq!(a.admit(ip("192.0.2.3")), Ok(()));
        assert_eq!(a.admit(ip("192.0.2.1")), Err(TcpRefusal::Total));
    }

    #[test]
    fn sources_outside_allow_from_are_refused_and_take_no_slot() {
        let allow = vec!["10.0.0.0/8".parse().unwrap()];
        let mut a = TcpAdmission::new(limits(10, 10), allow);
        assert_eq!(a.admit(ip("192.0.2.1")), Err(TcpRefusal::Forbidden));
        assert_eq!(a.admit(ip("10.1.2.3")), Ok(()));
        assert_eq!(a.open(), 1);
        // Releasing a source never admitted changes nothing.
        a.release(ip("192.0.2.1"));
        assert_eq!(a.open(), 1);
    }
}
