//! Digest authentication of INVITEs (RFC 3261 §22, RFC 2617 with qop=auth).
//!
//! Nonces are stateless: the time they were made and a keyed hash of it, so
//! nothing is stored per call. The time is the issuing process's own clock,
//! so a nonce is good only on the node that issued it.

use std::collections::HashMap;
use std::fmt::Write;

use md5::{Digest, Md5};

/// How long a nonce stays good.
const NONCE_LIFETIME_SECS: u64 = 300;

#[derive(Clone)]
pub struct DigestAuth {
    realm: String,
    /// user → password
    users: HashMap<String, String>,
    secret: String,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("realm", &self.realm)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("no Digest credentials")]
    Missing,
    #[error("credentials are missing {0}")]
    Incomplete(&'static str),
    #[error("unknown user or wrong realm")]
    UnknownUser,
    #[error("the nonce was not issued here or has expired")]
    StaleNonce,
    #[error("wrong response")]
    WrongResponse,
}

impl DigestAuth {
    /// `secret` keys the nonces; nodes behind one load balancer share it.
    pub fn new(realm: &str, users: HashMap<String, String>, secret: &str) -> DigestAuth {
        DigestAuth {
            realm: realm.to_string(),
            users,
            secret: secret.to_string(),
        }
    }

    /// The WWW-Authenticate value for a 401, at `now_secs` (any monotonic clock).
    pub fn challenge(&self, now_secs: u64) -> String {
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            self.realm,
            self.nonce(now_secs)
        )
    }

    fn nonce(&self, at: u64) -> String {
        let mac = md5_hex(&format!("{at:x}:{}", self.secret));
        format!("{at:x}.{}", &mac[..16])
    }

    /// Checks an Authorization header value for `method`; the user on success.
    pub fn verify(
        &self,
        method: &str,
        authorization: Option<&str>,
        now_secs: u64,
    ) -> Result<String, DigestError> {
        let value = authorization.ok_or(DigestError::Missing)?.trim();
        let params = value
            .strip_prefix("Digest")
            .or_else(|| value.strip_prefix("digest"))
            .ok_or(DigestError::Missing)?;
        let params = parse_params(params);
        let get = |k: &'static str| {
            params
                .get(k)
                .map(String::as_str)
                .ok_or(DigestError::Incomplete(k))
        };
        let (user, realm, nonce, uri, response) = (
            get("username")?,
            get("realm")?,
            get("nonce")?,
            get("uri")?,
            get("response")?,
        );
        if realm != self.realm {
            return Err(DigestError::UnknownUser);
        }
        let password = self.users.get(user).ok_or(DigestError::UnknownUser)?;
        let issued = nonce
            .split_once('.')
            .and_then(|(t, _)| u64::from_str_radix(t, 16).ok())
            .ok_or(DigestError::StaleNonce)?;
        if self.nonce(issued) != nonce
            || now_secs.saturating_sub(issued) > NONCE_LIFETIME_SECS
            || issued > now_secs
        {
            return Err(DigestError::StaleNonce);
        }
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let expected = match params.get("qop").map(String::as_str) {
            Some(qop) => {
                let nc = get("nc")?;
                let cnonce = get("cnonce")?;
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
            }
            None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        };
        if expected.eq_ignore_ascii_case(response) {
            Ok(user.to_string())
        } else {
            Err(DigestError::WrongResponse)
        }
    }
}

fn parse_params(s: &str) -> HashMap<&'static str, String> {
    let mut out = HashMap::new();
    for part in crate::message::split_top_level_commas(s) {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let key: &'static str = match k.trim().to_ascii_lowercase().as_str() {
            "username" => "username",
            "realm" => "realm",
            "nonce" => "nonce",
            "uri" => "uri",
            "response" => "response",
            "qop" => "qop",
            "nc" => "nc",
            "cnonce" => "cnonce",
            _ => continue,
        };
        out.insert(key, v.trim().trim_matches('"').to_string());
    }
    out
}

fn md5_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// What a client computes from a challenge (RFC 2617 §3.2.2, qop=auth);
/// the endpoint's tests use it too.
#[cfg(test)]
pub(crate) fn client_answer(challenge: &str, user: &str, password: &str, uri: &str) -> String {
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let ha1 = md5_hex(&format!("{user}:passgate:{password}"));
    let ha2 = md5_hex(&format!("INVITE:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"passgate\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> DigestAuth {
        DigestAuth::new(
            "passgate",
            HashMap::from([("trunk".to_string(), "s3cret".to_string())]),
            "k",
        )
    }

    #[test]
    fn a_client_answering_the_challenge_is_let_in() {
        let a = auth();
        let header = client_answer(
            &a.challenge(100),
            "trunk",
            "s3cret",
            "sip:passgate@192.0.2.1",
        );
        assert_eq!(
            a.verify("INVITE", Some(&header), 130),
            Ok("trunk".to_string())
        );
    }

    #[test]
    fn wrong_passwords_users_nonces_and_old_nonces_are_refused() {
        let a = auth();
        let challenge = a.challenge(100);
        let uri = "sip:passgate@192.0.2.1";
        assert_eq!(
            a.verify(
                "INVITE",
                Some(&client_answer(&challenge, "trunk", "guess", uri)),
                110
            ),
            Err(DigestError::WrongResponse)
        );
        assert_eq!(
            a.verify(
                "INVITE",
                Some(&client_answer(&challenge, "mallory", "s3cret", uri)),
                110
            ),
            Err(DigestError::UnknownUser)
        );
        assert_eq!(
            a.verify(
                "INVITE",
                Some(&client_answer(&challenge, "trunk", "s3cret", uri)),
                100 + NONCE_LIFETIME_SECS + 1
            ),
            Err(DigestError::StaleNonce)
        );
        let forged = challenge.replace("nonce=\"64.", "nonce=\"65.");
        assert_eq!(
            a.verify(
                "INVITE",
                Some(&client_answer(&forged, "trunk", "s3cret", uri)),
                110
            ),
            Err(DigestError::StaleNonce)
        );
        assert_eq!(a.verify("INVITE", None, 110), Err(DigestError::Missing));
        assert_eq!(
            a.verify("INVITE", Some("Digest username=\"trunk\""), 110),
            Err(DigestError::Incomplete("realm"))
        );
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        assert!(!format!("{:?}", auth()).contains("s3cret"));
    }
}
