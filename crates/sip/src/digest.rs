//! Digest authentication of INVITEs (RFC 3261 §22, RFC 2617 with qop=auth).
//!
//! Nonces are stateless, so nothing is stored per call: each carries the
//! wall-clock time it was made (UNIX seconds), hidden under a keyed pad drawn
//! from a random salt, and an HMAC-SHA256 over salt, hidden time and the
//! address it was given to. A nonce reads as random (it does not tell how
//! long the process has run) yet whoever holds the key can check it and read
//! its age, and it is good only from that address. Nodes given the same key
//! and clocks within [`MAX_CLOCK_SKEW_SECS`] of each other take each other's
//! nonces, so a caller challenged by one node may answer to another.
//!
//! Against a replayed Authorization header (RFC 7616 §3.4, §5.4): the `uri`
//! must name the Request-URI's host, and each nonce's count (`nc`) must go
//! up, so a header seen on the wire is good for nothing once used. Only
//! counts of accepted credentials are kept, for as long as their nonce lives,
//! and by each node for itself: a header accepted by one node is refused by
//! that node again, but another node sharing the key has not seen it (the
//! nonce still binds it to the source address it was given to).

use std::collections::HashMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// How long a nonce stays good unless [`DigestAuth::with_lifetime`] says.
pub const NONCE_LIFETIME_SECS: u64 = 300;
/// How far ahead of this node's clock a nonce's time may be (another node's
/// clock running ahead) and still be taken.
pub const MAX_CLOCK_SKEW_SECS: u64 = 30;

#[derive(Clone)]
pub struct DigestAuth {
    realm: String,
    /// user → password
    users: HashMap<String, String>,
    secret: String,
    lifetime_secs: u64,
    /// An instant and the wall-clock time (since the UNIX epoch) at it:
    /// nonce times are read off the monotonic clock from there. Unset, the
    /// first instant seen counts as second 1 (nonces then hold only within
    /// one process).
    clock: Option<(Instant, Duration)>,
    /// nonce → (when it was issued, the highest count accepted with it).
    counts: HashMap<String, (u64, u32)>,
    /// Expired counts are dropped when `counts` grows to this: amortised
    /// constant time a call.
    prune_at: usize,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("realm", &self.realm)
            .field("users", &self.users.len())
            .field("lifetime_secs", &self.lifetime_secs)
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
    /// The answer is right for the nonce, but the nonce has expired, was
    /// made with another key, or for another address: the client should
    /// answer a fresh challenge (`stale=true`, RFC 2617 §3.2.1).
    #[error("the nonce was not issued here or has expired")]
    StaleNonce,
    #[error("wrong response")]
    WrongResponse,
    #[error("the digest uri is not the Request-URI")]
    UriMismatch,
    #[error("the nonce count was used before (a replay)")]
    Replayed,
}

impl DigestAuth {
    /// `secret` keys the nonces; nodes behind one load balancer share it.
    pub fn new(realm: &str, users: HashMap<String, String>, secret: &str) -> DigestAuth {
        DigestAuth {
            realm: realm.to_string(),
            users,
            secret: secret.to_string(),
            lifetime_secs: NONCE_LIFETIME_SECS,
            clock: None,
            counts: HashMap::new(),
            prune_at: 1024,
        }
    }

    /// Nonces stamped with wall-clock time: `since_epoch` is the time at
    /// `at`. Needed for nonces to hold across nodes. Kept to the
    /// nanosecond and cut to whole seconds only when read: nodes that each
    /// cut their start time would disagree by up to a second more than
    /// their clocks do, and a nonce would outlive its lifetime by that.
    pub fn with_wall_clock(mut self, at: Instant, since_epoch: Duration) -> DigestAuth {
        self.clock = Some((at, since_epoch));
        self
    }

    /// How long a nonce stays good (at least 1 s).
    pub fn with_lifetime(mut self, secs: u64) -> DigestAuth {
        self.lifetime_secs = secs.max(1);
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The time nonces are stamped with at `now`, in seconds.
    pub fn clock_secs(&mut self, now: Instant) -> u64 {
        let (at, since_epoch) = *self.clock.get_or_insert((now, Duration::from_secs(1)));
        if now >= at {
            since_epoch.saturating_add(now.duration_since(at)).as_secs()
        } else {
            since_epoch.saturating_sub(at.duration_since(now)).as_secs()
        }
    }

    /// The WWW-Authenticate value for a 401 to `source`, at `now_secs`
    /// ([`DigestAuth::clock_secs`]), with `salt` fresh random bits; `stale`
    /// after [`DigestError::StaleNonce`].
    pub fn challenge(&self, now_secs: u64, salt: u64, source: IpAddr, stale: bool) -> String {
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{}",
            self.realm,
            self.nonce(now_secs, salt, source),
            if stale { ", stale=true" } else { "" }
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

    fn tag(&self, salt: u64, hidden: u64, source: IpAddr) -> String {
        let source = match source.to_canonical() {
            IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
            IpAddr::V6(ip) => ip.octets(),
        };
        let k = self.keyed(
            b"tag",
            &[&salt.to_be_bytes(), &hidden.to_be_bytes(), &source],
        );
        hex(&k[..16])
    }

    /// 64 hex digits: salt, time XOR pad, tag.
    fn nonce(&self, at: u64, salt: u64, source: IpAddr) -> String {
        let hidden = at ^ self.pad(salt);
        format!("{salt:016x}{hidden:016x}{}", self.tag(salt, hidden, source))
    }

    /// When a nonce made here for `source` was issued; None when it was not
    /// made here, or for another address.
    fn issued(&self, nonce: &str, source: IpAddr) -> Option<u64> {
        if nonce.len() != 64 || !nonce.is_ascii() {
            return None;
        }
        let salt = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let hidden = u64::from_str_radix(&nonce[16..32], 16).ok()?;
        let expected = self.tag(salt, hidden, source);
        // Compared whole, in time independent of where they differ.
        let differ = expected
            .bytes()
            .zip(nonce[32..].bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()));
        (differ == 0).then(|| hidden ^ self.pad(salt))
    }

    /// Checks an Authorization header value of a `method` request to
    /// `request_uri` from `source`; the user on success.
    pub fn verify(
        &mut self,
        method: &str,
        request_uri: &str,
        authorization: Option<&str>,
        now_secs: u64,
        source: IpAddr,
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
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        // Without qop there is no count: the nonce is good once (count 0).
        let (expected, count) = match params.get("qop").map(String::as_str) {
            Some(qop) => {
                let nc = get("nc")?;
                let cnonce = get("cnonce")?;
                let count =
                    u32::from_str_radix(nc, 16).map_err(|_| DigestError::Incomplete("nc"))?;
                (
                    md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")),
                    count,
                )
            }
            None => (md5_hex(&format!("{ha1}:{nonce}:{ha2}")), 0),
        };
        // The answer is judged first: a wrong password counts as one whatever
        // the nonce, and only a right answer to a bad nonce is "stale".
        if !expected.eq_ignore_ascii_case(response) {
            return Err(DigestError::WrongResponse);
        }
        let issued = self.issued(nonce, source).ok_or(DigestError::StaleNonce)?;
        if now_secs.saturating_sub(issued) > self.lifetime_secs
            || issued > now_secs.saturating_add(MAX_CLOCK_SKEW_SECS)
        {
            return Err(DigestError::StaleNonce);
        }
        if !same_target(uri, request_uri) {
            return Err(DigestError::UriMismatch);
        }
        if self
            .counts
            .get(nonce)
            .is_some_and(|&(_, last)| count <= last)
        {
            return Err(DigestError::Replayed);
        }
        let user = user.to_string();
        if self.counts.len() >= self.prune_at {
            let lifetime = self.lifetime_secs;
            self.counts
                .retain(|_, (at, _)| now_secs.saturating_sub(*at) <= lifetime);
            self.prune_at = (2 * self.counts.len()).max(1024);
        }
        self.counts.insert(nonce.to_string(), (issued, count));
        Ok(user)
    }
}

/// Whether the digest `uri` names the same scheme, host and port as the
/// Request-URI. The user part and parameters are not compared: clients
/// (SIPp among them) answer with `sip:host:port` for `sip:user@host:port`.
fn same_target(digest_uri: &str, request_uri: &str) -> bool {
    fn target(uri: &str) -> Option<(String, String)> {
        let (scheme, rest) = uri.trim().split_once(':')?;
        let rest = rest.split([';', '?']).next().unwrap_or("");
        let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        Some((scheme.to_ascii_lowercase(), hostport.to_ascii_lowercase()))
    }
    target(digest_uri).is_some_and(|t| Some(t) == target(request_uri))
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

/// What a client computes from a challenge (RFC 2617 §3.2.2, qop=auth),
/// with nonce count `nc`; the endpoint's tests use it too.
#[cfg(test)]
pub(crate) fn client_answer_nc(
    challenge: &str,
    user: &str,
    password: &str,
    uri: &str,
    nc: u32,
) -> String {
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let ha1 = md5_hex(&format!("{user}:passgate:{password}"));
    let ha2 = md5_hex(&format!("INVITE:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc:08x}:abc:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"passgate\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc={nc:08x}, cnonce=\"abc\""
    )
}

/// [`client_answer_nc`] with the first count.
#[cfg(test)]
pub(crate) fn client_answer(challenge: &str, user: &str, password: &str, uri: &str) -> String {
    client_answer_nc(challenge, user, password, uri, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "sip:passgate@192.0.2.1";

    fn trunk() -> IpAddr {
        "198.51.100.7".parse().unwrap()
    }

    fn auth() -> DigestAuth {
        DigestAuth::new(
            "passgate",
            HashMap::from([("trunk".to_string(), "s3cret".to_string())]),
            "k",
        )
    }

    #[test]
    fn a_client_answering_the_challenge_is_let_in() {
        let mut a = auth();
        let header = client_answer(&a.challenge(100, 7, trunk(), false), "trunk", "s3cret", URI);
        assert_eq!(
            a.verify("INVITE", URI, Some(&header), 130, trunk()),
            Ok("trunk".to_string())
        );
    }

    #[test]
    fn a_replayed_header_is_refused_and_a_higher_count_is_let_in() {
        let mut a = auth();
        let challenge = a.challenge(100, 7, trunk(), false);
        let header = client_answer(&challenge, "trunk", "s3cret", URI);
        assert!(a.verify("INVITE", URI, Some(&header), 101, trunk()).is_ok());
        assert_eq!(
            a.verify("INVITE", URI, Some(&header), 102, trunk()),
            Err(DigestError::Replayed)
        );
        let next = client_answer_nc(&challenge, "trunk", "s3cret", URI, 2);
        assert!(a.verify("INVITE", URI, Some(&next), 103, trunk()).is_ok());
        assert_eq!(
            a.verify("INVITE", URI, Some(&header), 104, trunk()),
            Err(DigestError::Replayed),
            "nor a lower count"
        );
    }

    #[test]
    fn a_header_sent_from_another_address_or_for_another_uri_is_refused() {
        let mut a = auth();
        let header = client_answer(&a.challenge(100, 7, trunk(), false), "trunk", "s3cret", URI);
        let elsewhere: IpAddr = "203.0.113.66".parse().unwrap();
        assert_eq!(
            a.verify("INVITE", URI, Some(&header), 101, elsewhere),
            Err(DigestError::StaleNonce)
        );
        assert_eq!(
            a.verify(
                "INVITE",
                "sip:passgate@192.0.2.2",
                Some(&header),
                101,
                trunk()
            ),
            Err(DigestError::UriMismatch)
        );
        assert_eq!(
            a.verify(
                "INVITE",
                "sips:passgate@192.0.2.1",
                Some(&header),
                101,
                trunk()
            ),
            Err(DigestError::UriMismatch)
        );
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap();
        assert!(a.verify("INVITE", URI, Some(&header), 101, mapped).is_ok());
    }

    #[test]
    fn the_uri_may_leave_out_the_user_but_not_change_the_host() {
        assert!(same_target(
            "sip:192.0.2.1:5060",
            "sip:passgate@192.0.2.1:5060"
        ));
        assert!(same_target(
            "sip:passgate@192.0.2.1;transport=udp",
            "SIP:Passgate@192.0.2.1"
        ));
        assert!(!same_target("sip:192.0.2.1", "sip:passgate@192.0.2.1:5080"));
        assert!(!same_target("garbage", "sip:passgate@192.0.2.1"));
    }

    #[test]
    fn without_qop_a_nonce_is_good_once() {
        let mut a = auth();
        let challenge = a.challenge(100, 7, trunk(), false);
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let ha1 = md5_hex("trunk:passgate:s3cret");
        let ha2 = md5_hex(&format!("INVITE:{URI}"));
        let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        let header = format!(
            "Digest username=\"trunk\", realm=\"passgate\", nonce=\"{nonce}\", uri=\"{URI}\", response=\"{response}\""
        );
        assert!(a.verify("INVITE", URI, Some(&header), 101, trunk()).is_ok());
        assert_eq!(
            a.verify("INVITE", URI, Some(&header), 102, trunk()),
            Err(DigestError::Replayed)
        );
    }

    #[test]
    fn wrong_passwords_users_nonces_and_old_nonces_are_refused() {
        let mut a = auth();
        let challenge = a.challenge(100, 7, trunk(), false);
        let uri = URI;
        let mut verify = |header: &str, at: u64| a.verify("INVITE", uri, Some(header), at, trunk());
        assert_eq!(
            verify(&client_answer(&challenge, "trunk", "guess", uri), 110),
            Err(DigestError::WrongResponse)
        );
        assert_eq!(
            verify(&client_answer(&challenge, "mallory", "s3cret", uri), 110),
            Err(DigestError::UnknownUser)
        );
        assert_eq!(
            verify(
                &client_answer(&challenge, "trunk", "s3cret", uri),
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
            verify(&client_answer(&forged, "trunk", "s3cret", uri), 110),
            Err(DigestError::StaleNonce)
        );
        assert_eq!(
            verify("Digest username=\"trunk\"", 110),
            Err(DigestError::Incomplete("realm"))
        );
        assert_eq!(
            a.verify("INVITE", uri, None, 110, trunk()),
            Err(DigestError::Missing)
        );
    }

    #[test]
    fn nonces_read_as_random_yet_the_issuer_reads_their_time() {
        let a = auth();
        let nonce = |c: String| c.split("nonce=\"").nth(1).unwrap()[..64].to_string();
        let early = nonce(a.challenge(5, 1, trunk(), false));
        let late = nonce(a.challenge(86_400, 2, trunk(), false));
        for n in [&early, &late] {
            assert!(n.bytes().all(|b| b.is_ascii_hexdigit()), "{n}");
            assert!(!n.contains('.'), "{n}");
        }
        assert_eq!(a.issued(&early, trunk()), Some(5));
        assert_eq!(a.issued(&late, trunk()), Some(86_400));
        // Same time, other salt: nothing in common that would give the time away.
        let again = nonce(a.challenge(5, 3, trunk(), false));
        assert_ne!(early[16..32], again[16..32]);
        // Another secret (another node, another run) cannot read or pass it.
        let other = DigestAuth::new("passgate", HashMap::new(), "other");
        assert_eq!(other.issued(&early, trunk()), None);
    }

    #[test]
    fn nodes_sharing_the_key_take_each_others_nonces_within_their_lifetime() {
        let start = Instant::now();
        let later = start + std::time::Duration::from_secs(20);
        let wall = 1_800_000_000;
        let secs = Duration::from_secs;
        // Two nodes started 20 s apart with the same key and one wall clock.
        let mut a = auth().with_wall_clock(start, secs(wall));
        let mut b = auth().with_wall_clock(later, secs(wall + 20));
        let issued_at_a = a.clock_secs(later);
        assert_eq!(issued_at_a, wall + 20);
        let challenge = a.challenge(issued_at_a, 7, trunk(), false);
        let header = client_answer(&challenge, "trunk", "s3cret", URI);
        let at_b = b.clock_secs(later + std::time::Duration::from_secs(3));
        assert_eq!(
            b.verify("INVITE", URI, Some(&header), at_b, trunk()),
            Ok("trunk".to_string())
        );
        // Each node keeps its own counts: A has not seen the header yet,
        // B refuses it again.
        assert!(a
            .verify("INVITE", URI, Some(&header), at_b, trunk())
            .is_ok());
        assert_eq!(
            b.verify("INVITE", URI, Some(&header), at_b, trunk()),
            Err(DigestError::Replayed)
        );
        // Another key: the right answer to a nonce it did not make is stale.
        let mut other = DigestAuth::new(
            "passgate",
            HashMap::from([("trunk".to_string(), "s3cret".to_string())]),
            "another key",
        )
        .with_wall_clock(later, secs(wall + 20));
        let fresh = client_answer_nc(&challenge, "trunk", "s3cret", URI, 9);
        assert_eq!(
            other.verify("INVITE", URI, Some(&fresh), at_b, trunk()),
            Err(DigestError::StaleNonce)
        );
        // A wrong password is one, whoever made the nonce.
        let wrong = client_answer(&challenge, "trunk", "guess", URI);
        assert_eq!(
            other.verify("INVITE", URI, Some(&wrong), at_b, trunk()),
            Err(DigestError::WrongResponse)
        );
    }

    #[test]
    fn nonces_expire_after_their_lifetime_and_tolerate_a_clock_running_ahead() {
        let mut a = auth().with_lifetime(2);
        let challenge = a.challenge(1_000, 7, trunk(), false);
        let header = |nc| client_answer_nc(&challenge, "trunk", "s3cret", URI, nc);
        assert!(a
            .verify("INVITE", URI, Some(&header(1)), 1_002, trunk())
            .is_ok());
        assert_eq!(
            a.verify("INVITE", URI, Some(&header(2)), 1_003, trunk()),
            Err(DigestError::StaleNonce)
        );
        // Made by a node whose clock is ahead of ours.
        let ahead = a.challenge(1_000 + MAX_CLOCK_SKEW_SECS, 8, trunk(), false);
        let answer = client_answer(&ahead, "trunk", "s3cret", URI);
        assert!(a
            .verify("INVITE", URI, Some(&answer), 1_000, trunk())
            .is_ok());
        let too_far = a.challenge(1_001 + MAX_CLOCK_SKEW_SECS, 9, trunk(), false);
        let answer = client_answer(&too_far, "trunk", "s3cret", URI);
        assert_eq!(
            a.verify("INVITE", URI, Some(&answer), 1_000, trunk()),
            Err(DigestError::StaleNonce)
        );
        assert!(a
            .challenge(1_000, 10, trunk(), true)
            .ends_with(", stale=true"));
        assert!(!challenge.contains("stale"));
    }

    #[test]
    fn the_clock_reads_wall_time_off_the_monotonic_clock() {
        let at = Instant::now();
        let mut a = auth().with_wall_clock(at + Duration::from_secs(5), Duration::from_secs(1_000));
        assert_eq!(a.clock_secs(at), 995);
        assert_eq!(a.clock_secs(at + std::time::Duration::from_secs(65)), 1_060);
        let mut unset = auth();
        assert_eq!(unset.clock_secs(at), 1);
        assert_eq!(unset.clock_secs(at + std::time::Duration::from_secs(9)), 10);
    }

    #[test]
    fn nodes_started_at_different_fractions_of_a_second_read_the_same_second() {
        // A starts at 1000.9 s of wall time, B a tenth of a second later,
        // at 1001.0 s: one clock, so both read 1001 from then on, and a
        // nonce A makes is 3 s old at B 3.5 s later: past a 2 s lifetime.
        let start = Instant::now();
        let b_start = start + Duration::from_millis(100);
        let mut a = auth()
            .with_lifetime(2)
            .with_wall_clock(start, Duration::from_millis(1_000_900));
        let mut b = auth()
            .with_lifetime(2)
            .with_wall_clock(b_start, Duration::from_secs(1_001));
        for after_ms in [100, 600, 1_099, 1_100, 4_000] {
            let at = start + Duration::from_millis(after_ms);
            assert_eq!(a.clock_secs(at), b.clock_secs(at), "{after_ms} ms");
        }
        let issued = a.clock_secs(b_start);
        let challenge = a.challenge(issued, 7, trunk(), false);
        let header = client_answer(&challenge, "trunk", "s3cret", URI);
        let at_b = b.clock_secs(b_start + Duration::from_millis(3_500));
        assert_eq!(
            b.verify("INVITE", URI, Some(&header), at_b, trunk()),
            Err(DigestError::StaleNonce)
        );
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        assert!(!format!("{:?}", auth()).contains("s3cret"));
    }
}
