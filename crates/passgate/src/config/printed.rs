//! The settings in effect as `check-config` prints them: every key, with
//! each secret replaced by a mark that says only whether it is set. Tables
//! holding nothing but secrets (`sip.digest_users`, `[sms]`, `[crm]`) are
//! not serialized at all.

use super::Config;

/// What a secret that is set prints as.
pub const REDACTED: &str = "<redacted>";

/// Keys whose whole value is a secret.
const SECRET_KEYS: [(&str, &str); 2] = [("http", "token"), ("sip", "digest_nonce_secret")];

/// The configuration as TOML, its secrets redacted.
pub fn settings(config: &Config) -> Result<String, toml::ser::Error> {
    let mut value = toml::Value::try_from(config)?;
    for (table, key) in SECRET_KEYS {
        if let Some(toml::Value::String(s)) = value.get_mut(table).and_then(|t| t.get_mut(key)) {
            if !s.is_empty() {
                *s = REDACTED.to_string();
            }
        }
    }
    if let Some(toml::Value::String(url)) = value.get_mut("database").and_then(|t| t.get_mut("url"))
    {
        *url = database_url(url);
    }
    toml::to_string(&value)
}

/// A store URL without its password, whether in the user part
/// (`postgres://user:pw@host/db`) or a `password=` parameter.
fn database_url(url: &str) -> String {
    let url = auth::store::redact_url(url);
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{base}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_redacted_and_the_rest_as_set() {
        let mut config = Config::default();
        config.http.token = "tok-9f8e7d".into();
        config.sip.digest_nonce_secret = "n".repeat(40);
        config.database.url =
            "postgres://pg:pw-31337@db.example/passgate?sslmode=require&password=pw-2".into();
        config.sip.max_calls = 77;
        let text = settings(&config).unwrap();
        for secret in ["tok-9f8e7d", &"n".repeat(40), "pw-31337", "pw-2"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        assert!(text.contains("token = \"<redacted>\""), "{text}");
        assert!(
            text.contains("digest_nonce_secret = \"<redacted>\""),
            "{text}"
        );
        assert!(
            text.contains("url = \"postgres://pg:<redacted>@db.example/passgate?sslmode=require&password=<redacted>\""),
            "{text}"
        );
        assert!(text.contains("max_calls = 77"), "{text}");
    }

    #[test]
    fn secrets_not_set_print_empty() {
        let text = settings(&Config::default()).unwrap();
        assert!(text.contains("token = \"\""), "{text}");
        assert!(text.contains("digest_nonce_secret = \"\""), "{text}");
    }
}
