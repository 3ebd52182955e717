//! SDP security descriptions for SRTP (SDES, RFC 4568): the `a=crypto`
//! attribute, the AES counter-mode suites with 128-bit (RFC 4568) and
//! 256-bit keys (RFC 6188), and our own fresh key per answer.
//!
//! Keys travel inside the SDP, so whoever reads the signalling reads the
//! keys: SDES protects media only when SIP itself runs over TLS. A key is a
//! secret: [`SrtpKey`] never prints its bytes, and nothing here logs one.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The master salt's length: 112 bits in every suite we take.
const SALT_LEN: usize = 14;

/// The longest master key and salt: a 256-bit key, then the salt.
const MAX_MASTER_LEN: usize = 32 + SALT_LEN;

/// Whether calls carry SRTP (`rtp.srtp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpMode {
    /// Plain RTP only: an `RTP/SAVP` offer is refused, `a=crypto` on
    /// `RTP/AVP` is ignored.
    #[default]
    Off,
    /// SRTP when the offer has a usable `a=crypto`, plain RTP otherwise.
    Offer,
    /// SRTP or nothing: an offer without a usable `a=crypto` gets 488.
    Required,
}

impl std::str::FromStr for SrtpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(SrtpMode::Off),
            "offer" => Ok(SrtpMode::Offer),
            "required" => Ok(SrtpMode::Required),
            other => Err(format!(
                "unknown SRTP mode {other:?} (expected off, offer or required)"
            )),
        }
    }
}

/// The crypto suites we take: AES counter mode with a 128-bit key (RFC 4568
/// §6.2) or a 256-bit key (RFC 6188 §7), HMAC-SHA1 tags of 80 or 32 bits on
/// RTP (SRTCP keeps 80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
    Aes256CmHmacSha1_80,
    Aes256CmHmacSha1_32,
}

impl SrtpSuite {
    const ALL: [SrtpSuite; 4] = [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
        SrtpSuite::Aes256CmHmacSha1_80,
        SrtpSuite::Aes256CmHmacSha1_32,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            SrtpSuite::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
        }
    }

    /// The master key's length in bytes (the salt's is 14 in every suite).
    pub fn key_len(self) -> usize {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 | SrtpSuite::AesCm128HmacSha1_32 => 16,
            SrtpSuite::Aes256CmHmacSha1_80 | SrtpSuite::Aes256CmHmacSha1_32 => 32,
        }
    }

    fn parse(name: &str) -> Option<SrtpSuite> {
        SrtpSuite::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Master key and salt, of a suite's lengths. Its `Debug` shows no byte of
/// it.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    /// The key, then the salt; zero past them.
    bytes: [u8; MAX_MASTER_LEN],
    key_len: usize,
}

impl SrtpKey {
    /// A fresh key for `suite` from the operating system's CSPRNG (via
    /// `rand`'s thread-local generator, seeded from it).
    pub fn generate(suite: SrtpSuite) -> SrtpKey {
        let key_len = suite.key_len();
        let mut bytes = [0u8; MAX_MASTER_LEN];
        rand::rng().fill_bytes(&mut bytes[..key_len + SALT_LEN]);
        SrtpKey { bytes, key_len }
    }

    /// The key and salt of `suite` as `inline:` carries them; None when
    /// `master` is not of the suite's length.
    fn of_suite(master: &[u8], suite: SrtpSuite) -> Option<SrtpKey> {
        let key_len = suite.key_len();
        if master.len() != key_len + SALT_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_MASTER_LEN];
        bytes[..master.len()].copy_from_slice(master);
        Some(SrtpKey { bytes, key_len })
    }

    pub fn master_key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    pub fn master_salt(&self) -> &[u8] {
        &self.bytes[self.key_len..self.key_len + SALT_LEN]
    }

    fn inline(&self) -> String {
        base64_encode(&self.bytes[..self.key_len + SALT_LEN])
    }
}

impl fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SrtpKey(..)")
    }
}

/// One `a=crypto` line we can use: a supported suite, one key, no MKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoOffer {
    pub tag: u32,
    pub suite: SrtpSuite,
    pub key: SrtpKey,
}

/// Reads the value of an `a=crypto:` attribute. `None` for what we cannot
/// use: an unknown suite, a key of the wrong size, several keys, an MKI, a
/// key derivation rate or session parameters (`UNENCRYPTED_SRTP` and the
/// like weaken what the answer would promise).
pub fn parse_crypto(arg: &str) -> Option<CryptoOffer> {
    let mut parts = arg.split_whitespace();
    let tag: u32 = parts.next()?.parse().ok()?;
    if tag > 999_999_999 {
        return None;
    }
    let suite = SrtpSuite::parse(parts.next()?)?;
    let key_params = parts.next()?;
    if parts.next().is_some() || key_params.contains(';') {
        return None;
    }
    let inline = key_params.strip_prefix("inline:")?;
    let mut fields = inline.split('|');
    let key = base64_decode(fields.next()?)?;
    for field in fields {
        // A lifetime (decimal or 2^n) is accepted: no call lasts 2^31
        // packets. An MKI (n:len) is not.
        if field.contains(':') || !lifetime_ok(field) {
            return None;
        }
    }
    Some(CryptoOffer {
        tag,
        suite,
        key: SrtpKey::of_suite(&key, suite)?,
    })
}

fn lifetime_ok(field: &str) -> bool {
    let digits = field.strip_prefix("2^").unwrap_or(field);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// SRTP as one offer/answer settled it: the suite and both directions' keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpParams {
    pub suite: SrtpSuite,
    /// The offer's tag, which our `a=crypto` answers with.
    pub tag: u32,
    /// What the caller encrypts with: we decrypt with it.
    pub remote: SrtpKey,
    /// Ours, fresh for each answer: we encrypt with it.
    pub local: SrtpKey,
}

impl SrtpParams {
    /// Answers `offer` with a new key of ours.
    pub fn answering(offer: &CryptoOffer) -> SrtpParams {
        SrtpParams {
            suite: offer.suite,
            tag: offer.tag,
            remote: offer.key.clone(),
            local: SrtpKey::generate(offer.suite),
        }
    }

    /// The answer's `a=crypto` line.
    pub fn attribute(&self) -> String {
        format!(
            "a=crypto:{} {} inline:{}\r\n",
            self.tag,
            self.suite.name(),
            self.local.inline()
        )
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for byte in trimmed.bytes() {
        let value = ALPHABET.iter().position(|&a| a == byte)? as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4568 §9.1's example key.
    const EXAMPLE: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn the_rfc_example_line_is_read() {
        let c = parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE}|2^20")).unwrap();
        assert_eq!((c.tag, c.suite), (1, SrtpSuite::AesCm128HmacSha1_80));
        assert_eq!(c.key.inline(), EXAMPLE);
        assert_eq!(c.key.master_key().len(), 16);
        assert_eq!(c.key.master_salt().len(), 14);
    }

    #[test]
    fn a_256_bit_key_is_read_with_its_suite_and_answered_in_kind() {
        // RFC 6188 §7.1: 32 bytes of key, 14 of salt.
        let master: Vec<u8> = (0..46u8).collect();
        let inline = base64_encode(&master);
        let c = parse_crypto(&format!("1 AES_256_CM_HMAC_SHA1_80 inline:{inline}")).unwrap();
        assert_eq!(c.suite, SrtpSuite::Aes256CmHmacSha1_80);
        assert_eq!(c.key.master_key(), &master[..32]);
        assert_eq!(c.key.master_salt(), &master[32..]);
        let a = SrtpParams::answering(&c);
        assert_eq!(
            (a.local.master_key().len(), a.local.master_salt().len()),
            (32, 14)
        );
        let line = a.attribute();
        assert!(
            line.starts_with("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:"),
            "{line}"
        );
        let back = parse_crypto(line.trim_end().strip_prefix("a=crypto:").unwrap()).unwrap();
        assert_eq!(back.key, a.local);
        // A 128-bit key under a 256-bit suite's name, and the reverse, are
        // not usable.
        assert_eq!(
            parse_crypto(&format!("2 AES_256_CM_HMAC_SHA1_32 inline:{EXAMPLE}")),
            None
        );
        assert_eq!(
            parse_crypto(&format!("3 AES_CM_128_HMAC_SHA1_80 inline:{inline}")),
            None
        );
    }

    #[test]
    fn unusable_lines_are_skipped() {
        for line in [
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE}|2^20|1:4"),
            format!("1 F8_128_HMAC_SHA1_80 inline:{EXAMPLE}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE} UNENCRYPTED_SRTP"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE};inline:{EXAMPLE}"),
            "1 AES_CM_128_HMAC_SHA1_32 inline:c2hvcnQ=".to_string(),
            format!("x AES_CM_128_HMAC_SHA1_80 inline:{EXAMPLE}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 {EXAMPLE}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", &EXAMPLE[1..]),
        ] {
            assert_eq!(parse_crypto(&line), None, "{line}");
        }
    }

    #[test]
    fn each_answer_has_its_own_key_and_the_key_never_prints() {
        let offer = parse_crypto(&format!("7 AES_CM_128_HMAC_SHA1_32 inline:{EXAMPLE}")).unwrap();
        let a = SrtpParams::answering(&offer);
        let b = SrtpParams::answering(&offer);
        assert_ne!(a.local, b.local);
        assert_eq!(a.remote, offer.key);
        let line = a.attribute();
        assert!(line.starts_with("a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:"));
        let back = parse_crypto(line.trim_end().strip_prefix("a=crypto:").unwrap()).unwrap();
        assert_eq!(back.key, a.local);
        let shown = format!("{a:?}");
        assert!(!shown.contains(&a.local.inline()) && !shown.contains(EXAMPLE));
    }

    #[test]
    fn base64_round_trips_every_length() {
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
    }
}
