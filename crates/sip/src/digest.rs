//! Digest authentication of INVITEs (RFC 3261 §22, RFC 2617 with qop=auth).
//!
//! Nonces are stateless, so nothing is stored per call: each carries the time
//! it was made, hidden under a keyed pad drawn from a random salt, and an
//! HMAC-SHA256 over salt and hidden time. A nonce reads as random (it does not
//! tell how long the process has run) yet the issuer can check it and read
//! its age. The time is the issuing process's own clock, so a nonce is good
//! only on the node that issued it.

use std::collections::HashMap;
use std::fmt::Write;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

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

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The WWW-Authenticate value for a 401, at `now_secs` (any monotonic
    /// clock), with `salt` fresh random bits.
    pub fn challenge(&self, now_secs: u64, salt: u64) -> String {
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            self.realm,
            self.nonce(now_secs, salt)
        )
    }

    fn keyed(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label);
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    fn pad(&self, salt: u64) -> u64 {
        let k = self.keyed(b"pad", &[&salt.to_be_bytes()]);
        u64::from_be_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]])
    }

    fn tag(&self, salt: u64, hidden: u64) -> String {
        let k = self.keyed(b"tag", &[&salt.to_be_bytes(), &hidden.to_be_bytes()]);
        hex(&k[..16])
    }

    /// 64 hex digits: salt, time XOR pad, tag.
    fn nonce(&self, at: u64, salt: u64) -> String {
        let hidden = at ^ self.pad(salt);
        format!("{salt:016x}{hidden:016x}{}", self.tag(salt, hidden))
    }

    /// When a nonce made here was issued; None when it was not made here.
    fn issued(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != 64 || !nonce.is_ascii() {
            return None;
        }
        let salt = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let hidden = u64::from_str_radix(&nonce[16..32], 16).ok()?;
        let expected = self.tag(salt, hidden);
        // Compared whole, in time independent of where they differ.
        let differ = expected
            .bytes()
            .zip(nonce[32..].bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()));
        (differ == 0).then(|| hidden ^ self.pad(salt))
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
        let issued = self.issued(nonce).ok_or(DigestError::StaleNonce)?;
        if now_secs.saturating_sub(issued) > NONCE_LIFETIME_SECS || issued > now_secs {
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

/// The user name an Authorization header value claims, at most 64
/// characters (it comes from anyone, and goes into log lines).
pub fn claimed_user(authorization: &str) -> Option<String> {
    let params = authorization.trim();
    let params = params
        .strip_prefix("Digest")
        .or_else(|| params.strip_prefix("digest"))?;
    let user = parse_params(params).remove("username")?;
    Some(user.chars().take(64).collect())
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
    hex(&Md5::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
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
            &a.challenge(100, 7),
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
        let challenge = a.challenge(100, 7);
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
        // The hidden time changed (to make an old nonce look new): refused.
        let nonce = challenge.split("nonce=\"").nth(1).unwrap()[..64].to_string();
        let mut tampered = nonce.clone().into_bytes();
        tampered[31] = if tampered[31] == b'0' { b'1' } else { b'0' };
        let forged = challenge.replace(&nonce, std::str::from_utf8(&tampered).unwrap());
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
    fn nonces_read_as_random_yet_the_issuer_reads_their_time() {
        let a = auth();
        let nonce = |c: String| c.split("nonce=\"").nth(1).unwrap()[..64].to_string();
        let early = nonce(a.challenge(5, 1));
        let late = nonce(a.challenge(86_400, 2));
        for n in [&early, &late] {
            assert!(n.bytes().all(|b| b.is_ascii_hexdigit()), "{n}");
            assert!(!n.contains('.'), "{n}");
        }
        assert_eq!(a.issued(&early), Some(5));
        assert_eq!(a.issued(&late), Some(86_400));
        // Same time, other salt: nothing in common that would give the time away.
        let again = nonce(a.challenge(5, 3));
        assert_ne!(early[16..32], again[16..32]);
        // Another secret (another node, another run) cannot read or pass it.
        let other = DigestAuth::new("passgate", HashMap::new(), "other");
        assert_eq!(other.issued(&early), None);
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        assert!(!format!("{:?}", auth()).contains("s3cret"));
    }
}
