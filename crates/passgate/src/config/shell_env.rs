//! `PASSGATE_SECTION__KEY=value` overrides read as a shell or `docker run -e`
//! gives them: text. figment's own `Env` provider guesses a type from the text,
//! so `+15550009999` or a token `0012` arrives as a number and a string key
//! refuses it. Here a value stays a string and the key's own type parses it
//! (the configuration is extracted leniently: "20" fills a number, "true" a
//! flag). A value written as a list or table (`[pcmu, pcma]`, `{a = 1}`) is
//! still read as one, its items as strings; quote an item (`["0012"]`) to keep
//! its exact text.
//!
//! figment's lenient extraction reads a short decimal ("0.6", up to seven
//! characters) as an `f32`, which a `f64` key would widen to
//! 0.6000000238418579: such keys take [`f64_as_written`].

use figment::providers::Env;
use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// Reads the variables `env` selects; `prefix` (as in `Env::prefixed`) and
/// the `__` separator name the variable in errors.
pub struct ShellEnv {
    pub env: Env,
    pub prefix: &'static str,
}

impl Provider for ShellEnv {
    /// An error names the variable to fix: `PASSGATE_RTP__MEDIA_THREADS`.
    fn metadata(&self) -> Metadata {
        let prefix = self.prefix;
        Metadata::named("environment variable").interpolater(move |_: &Profile, keys: &[&str]| {
            format!("{prefix}{}", keys.join("__").to_ascii_uppercase())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (key, text) in self.env.iter() {
            insert(&mut dict, key.as_str(), value_of(&text));
        }
        Ok(self.env.profile.collect(dict))
    }
}

/// The text as a string, unless it is written as a list or table.
fn value_of(text: &str) -> Value {
    let trimmed = text.trim();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let parsed: Value = trimmed
            .parse()
            .unwrap_or_else(|never: std::convert::Infallible| match never {});
        if matches!(parsed, Value::Array(..) | Value::Dict(..)) {
            return leaves_as_strings(parsed);
        }
    }
    Value::from(text.to_string())
}

fn leaves_as_strings(value: Value) -> Value {
    match value {
        Value::Array(tag, items) => {
            Value::Array(tag, items.into_iter().map(leaves_as_strings).collect())
        }
        Value::Dict(tag, map) => Value::Dict(
            tag,
            map.into_iter()
                .map(|(k, v)| (k, leaves_as_strings(v)))
                .collect(),
        ),
        Value::Num(_, n) => {
            let text = n
                .to_u128()
                .map(|v| v.to_string())
                .or_else(|| n.to_i128().map(|v| v.to_string()))
                .or_else(|| n.to_f64().map(|v| v.to_string()))
                .unwrap_or_default();
            Value::from(text)
        }
        Value::Bool(_, b) => Value::from(b.to_string()),
        Value::Char(_, c) => Value::from(c.to_string()),
        other => other,
    }
}

/// Deserializes an `f64` key as its text was written: a value that arrives
/// as an `f32` (figment's reading of a short decimal from the environment)
/// is taken at the shortest decimal that is that `f32`, so `0.6` is 0.6 and
/// not 0.6000000238418579.
pub fn f64_as_written<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    struct AsWritten;
    impl serde::de::Visitor<'_> for AsWritten {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number")
        }
        fn visit_f32<E: serde::de::Error>(self, v: f32) -> Result<f64, E> {
            // f32's Display is the shortest decimal that reads back as `v`.
            Ok(v.to_string().parse().unwrap_or(f64::from(v)))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
    }
    deserializer.deserialize_f64(AsWritten)
}

/// Puts `value` at the dotted `key` ("sms.webhook.from"), creating the tables
/// on the way; a later variable for the same key wins.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_looking_text_stays_text_and_lists_keep_their_shape() {
        assert_eq!(value_of("+15550009999"), Value::from("+15550009999"));
        assert_eq!(value_of("0012"), Value::from("0012"));
        assert_eq!(value_of("true"), Value::from("true"));
        assert_eq!(
            value_of("[pcmu, 8, \"0012\"]"),
            Value::from(vec!["pcmu", "8", "0012"])
        );
    }

    #[test]
    fn dotted_keys_nest() {
        let mut dict = Dict::new();
        insert(&mut dict, "sms.webhook.from", Value::from("+1"));
        insert(&mut dict, "sms.webhook.url", Value::from("u"));
        insert(&mut dict, "sms.gateway", Value::from("webhook"));
        let sms = dict["sms"].clone().into_dict().unwrap();
        assert_eq!(sms["gateway"], Value::from("webhook"));
        let webhook = sms["webhook"].clone().into_dict().unwrap();
        assert_eq!(webhook["from"], Value::from("+1"));
        assert_eq!(webhook["url"], Value::from("u"));
    }
}
