use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// Wall-clock time as Unix milliseconds. Rows written by different nodes
/// are compared by this, so it is wall-clock (not `Instant`) and stored as
/// a plain integer both engines order the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(time: SystemTime) -> Self {
        let millis = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis())
                .map(|m| -m)
                .unwrap_or(i64::MIN),
        };
        Self(millis)
    }

    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, by: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(by)))
    }

    pub fn saturating_sub(self, by: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(by)))
    }

    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC with milliseconds, as operators read audit rows.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            // humantime only formats times after the epoch.
            return write!(f, "@{}ms", self.0);
        }
        write!(
            f,
            "{}",
            humantime::format_rfc3339_millis(self.to_system_time())
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_rfc3339_utc() {
        let t = Timestamp::from_unix_millis(1_764_417_600_123);
        assert_eq!(t.to_string(), "2025-11-29T12:00:00.123Z");
        assert_eq!(
            serde_json::to_value(t).unwrap(),
            serde_json::json!("2025-11-29T12:00:00.123Z")
        );
    }

    #[test]
    fn arithmetic_saturates_and_round_trips() {
        let t = Timestamp::from_unix_millis(10_000);
        assert_eq!(
            t.saturating_sub(Duration::from_secs(4)).unix_millis(),
            6_000
        );
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)).unix_millis(),
            11_000
        );
        assert_eq!(
            Timestamp::from_unix_millis(i64::MAX)
                .saturating_add(Duration::from_secs(1))
                .unix_millis(),
            i64::MAX
        );
        assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
        let before = Timestamp::from_unix_millis(-5);
        assert_eq!(Timestamp::from_system_time(before.to_system_time()), before);
    }
}
