//! RFC 3261 §17 timer values.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate; retransmission intervals start here and double.
    pub t1: Duration,
    /// Cap on the retransmission interval for non-INVITE requests and 2xx.
    pub t2: Duration,
    /// How long a message may stay in the network.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H, J and the wait for the ACK of a 2xx (32 s by default).
    pub fn transaction_timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// The next retransmission interval: doubled, capped at T2.
    pub fn backoff(&self, interval: Duration) -> Duration {
        (interval * 2).min(self.t2)
    }
}
