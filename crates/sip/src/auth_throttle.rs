//! Slowing Digest password guessing: failed answers are counted per source
//! address and per user name within a window; past the limit, that source
//! (or user name) is refused outright for a cool-down. A source that proved
//! a user's password recently is not refused for that user's count, so
//! guesses against a trunk's user name from elsewhere do not lock the trunk
//! out. Sans-IO: every call takes `now`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Records kept per map at most; past it, expired ones are dropped, and
/// if none has expired, new sources or names go uncounted (the other map
/// still counts them).
const MAX_TRACKED: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthLimits {
    /// Failures from one source address within `window` before it is refused.
    pub per_source: u32,
    /// Failures for one user name (from anywhere) within `window`.
    pub per_user: u32,
    pub window: Duration,
    /// How long a source or user name is refused once over its limit.
    pub cooldown: Duration,
}

impl Default for AuthLimits {
    fn default() -> Self {
        AuthLimits {
            per_source: 5,
            per_user: 20,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
        }
    }
}

/// Why a request is refused without a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    Source,
    User,
}

impl Locked {
    pub fn as_str(self) -> &'static str {
        match self {
            Locked::Source => "locked_source",
            Locked::User => "locked_user",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

impl Failures {
    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }

    fn expired(&self, now: Instant, limits: &AuthLimits) -> bool {
        !self.locked(now) && now.saturating_duration_since(self.window_start) >= limits.window
    }

    /// Counts one failure; true when it crosses the limit.
    fn add(&mut self, now: Instant, limit: u32, limits: &AuthLimits) -> bool {
        if now.saturating_duration_since(self.window_start) >= limits.window {
            self.count = 0;
            self.window_start = now;
        }
        self.count += 1;
        if self.count >= limit && !self.locked(now) {
            self.locked_until = Some(now + limits.cooldown);
            self.count = 0;
            self.window_start = now;
            return true;
        }
        false
    }
}

#[derive(Debug)]
pub struct AuthThrottle {
    limits: AuthLimits,
    sources: HashMap<IpAddr, Failures>,
    users: HashMap<String, Failures>,
    /// (source, user) that answered right, and when.
    proven: HashMap<(IpAddr, String), Instant>,
}

fn count<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Failures>,
    key: K,
    now: Instant,
    limit: u32,
    limits: &AuthLimits,
) -> bool {
    if limit == 0 {
        return false;
    }
    if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
        map.retain(|_, f| !f.expired(now, limits));
        if map.len() >= MAX_TRACKED {
            return false;
        }
    }
    map.entry(key)
        .or_insert(Failures {
            count: 0,
            window_start: now,
            locked_until: None,
        })
        .add(now, limit, limits)
}

impl AuthThrottle {
    pub fn new(limits: AuthLimits) -> Self {
        AuthThrottle {
            limits,
            sources: HashMap::new(),
            users: HashMap::new(),
            proven: HashMap::new(),
        }
    }

    /// Whether requests from `source` claiming `user` are refused now.
    pub fn locked(&self, now: Instant, source: IpAddr, user: Option<&str>) -> Option<Locked> {
        if self.sources.get(&source).is_some_and(|f| f.locked(now)) {
            return Some(Locked::Source);
        }
        let user = user?;
        if !self.users.get(user).is_some_and(|f| f.locked(now)) {
            return None;
        }
        let proven = self
            .proven
            .get(&(source, user.to_string()))
            .is_some_and(|t| now.saturating_duration_since(*t) < PROVEN_FOR);
        (!proven).then_some(Locked::User)
    }

    /// Counts a wrong answer; what it locked, if it crossed a limit.
    pub fn failed(&mut self, now: Instant, source: IpAddr, user: Option<&str>) -> Option<Locked> {
        let limits = self.limits;
        let mut locked = None;
        if let Some(user) = user {
            if count(
                &mut self.users,
                user.to_string(),
                now,
                limits.per_user,
                &limits,
            ) {
                locked = Some(Locked::User);
            }
        }
        if count(&mut self.sources, source, now, limits.per_source, &limits) {
            locked = Some(Locked::Source);
        }
        locked
    }

    /// A right answer: `source` has proven `user`'s password.
    pub fn succeeded(&mut self, now: Instant, source: IpAddr, user: &str) {
        if self.proven.len() >= MAX_TRACKED {
            self.proven
                .retain(|_, t| now.saturating_duration_since(*t) < PROVEN_FOR);
            if self.proven.len() >= MAX_TRACKED {
                return;
            }
        }
        self.proven.insert((source, user.to_string()), now);
    }
}

/// How long a source that answered right for a user is spared that user's lock.
const PROVEN_FOR: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limits() -> AuthLimits {
        AuthLimits {
            per_source: 3,
            per_user: 5,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
        }
    }

    #[test]
    fn a_source_is_refused_after_its_limit_for_the_cooldown() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(limits());
        let guesser = ip("203.0.113.9");
        assert_eq!(t.failed(t0, guesser, Some("a")), None);
        assert_eq!(t.failed(t0, guesser, Some("b")), None);
        assert_eq!(t.locked(t0, guesser, None), None);
        assert_eq!(t.failed(t0, guesser, Some("c")), Some(Locked::Source));
        assert_eq!(t.locked(t0, guesser, None), Some(Locked::Source));
        assert_eq!(t.locked(t0, ip("198.51.100.1"), Some("a")), None);
        let later = t0 + Duration::from_secs(299);
        assert_eq!(t.locked(later, guesser, None), Some(Locked::Source));
        let after = t0 + Duration::from_secs(300);
        assert_eq!(t.locked(after, guesser, None), None);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_add_up() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(limits());
        let slow = ip("203.0.113.9");
        for minute in 0..10 {
            let now = t0 + Duration::from_secs(61 * minute);
            assert_eq!(t.failed(now, slow, None), None);
            assert_eq!(t.failed(now, slow, None), None);
        }
    }

    #[test]
    fn a_user_guessed_from_many_sources_is_locked_but_not_for_its_proven_trunk() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(limits());
        let trunk = ip("198.51.100.1");
        t.succeeded(t0, trunk, "trunk");
        let mut locked = None;
        for i in 1..=5 {
            locked = t.failed(t0, ip(&format!("203.0.113.{i}")), Some("trunk"));
        }
        assert_eq!(locked, Some(Locked::User));
        assert_eq!(
            t.locked(t0, ip("203.0.113.77"), Some("trunk")),
            Some(Locked::User)
        );
        assert_eq!(t.locked(t0, trunk, Some("trunk")), None);
        assert_eq!(t.locked(t0, ip("203.0.113.77"), Some("other")), None);
    }
}
