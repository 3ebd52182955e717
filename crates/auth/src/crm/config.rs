use std::time::Duration;

use serde::Deserialize;

use crate::secret::SecretString;

/// `[crm]`. Either call may be configured alone.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// GET `{lookup_url}?number=+15550100001` → account JSON, 404 when
    /// the number is unknown.
    pub lookup_url: Option<String>,
    /// POST `{"account": id, "alternatives": [...]}` → `{"match": bool}`.
    pub verify_url: Option<String>,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer_token: Option<SecretString>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            lookup_url: None,
            verify_url: None,
            bearer_token: None,
            timeout: Duration::from_secs(3),
        }
    }
}
