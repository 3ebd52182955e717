use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Where accounts live. With no `url`, a SQLite file in `data_dir`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db` or `postgres://user:password@host/db`.
    pub url: Option<String>,
    pub data_dir: PathBuf,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl StoreConfig {
    pub const DEFAULT_FILE: &'static str = "passgate.db";

    /// The URL to connect to: the configured one, else the default file.
    pub fn effective_url(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join(Self::DEFAULT_FILE).display()
            ),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            data_dir: PathBuf::from("data"),
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The URL may hold a database password.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("data_dir", &self.data_dir)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:<redacted>@host/db`,
/// for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') {
                ":<redacted>"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// "3 failed factors in 15 minutes" and the caller goes to a person.
/// `max_failures = 0` turns the lock-out off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 3,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// SMS-pumping protection: each send costs money, so an account gets a
/// bounded number per hour whoever is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsCap {
    pub per_account_per_hour: u32,
}

impl Default for SmsCap {
    fn default() -> Self {
        Self {
            per_account_per_hour: 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden() {
        let cases = [
            (
                "postgres://gate:s3cret@db.local:5432/passgate",
                "postgres://gate:<redacted>@db.local:5432/passgate",
            ),
            ("postgres://gate@db/passgate", "postgres://gate@db/passgate"),
            ("sqlite://data/passgate.db", "sqlite://data/passgate.db"),
            (
                "postgres://a:b@c@host/db",
                "postgres://a:<redacted>@host/db",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown);
        }
        let config = StoreConfig {
            url: Some("postgres://gate:s3cret@db/passgate".to_string()),
            ..StoreConfig::default()
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn defaults_and_toml() {
        let config: StoreConfig = toml::from_str("data_dir = \"/var/lib/passgate\"").unwrap();
        assert_eq!(
            config.effective_url(),
            "sqlite:///var/lib/passgate/passgate.db"
        );
        let lockout: LockoutPolicy = toml::from_str("window = \"10m\"").unwrap();
        assert_eq!(lockout.max_failures, 3);
        assert_eq!(lockout.window, Duration::from_secs(600));
        assert_eq!(SmsCap::default().per_account_per_hour, 5);
    }
}
