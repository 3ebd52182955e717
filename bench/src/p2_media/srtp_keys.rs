//! The calling side's SDES (RFC 4568): a fresh master key per call offered
//! in `a=crypto`, the agent's key read back from its answer, and the two
//! SRTP contexts (webrtc-srtp through `media::Srtp`, as the agent uses) that
//! let the generator encrypt what it sends and check what it receives.
//! Written here, not taken from the SIP stack under test.

use std::fmt;

use media::{Srtp, SrtpConfig, SrtpMaster, SrtpProfile};
use rand::RngCore;

/// The suite offered: the one every carrier in the README takes.
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
const MASTER_LEN: usize = 30;

/// Master key (16 bytes) and salt (14 bytes). Prints no byte of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; MASTER_LEN]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn generate() -> Key {
        let mut bytes = [0u8; MASTER_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Key(bytes)
    }

    /// The value of our offer's `a=crypto:` attribute.
    pub fn crypto_attribute(&self) -> String {
        format!("1 {SUITE} inline:{}", base64_encode(&self.0))
    }

    fn master(&self) -> SrtpMaster {
        let mut salt = [0u8; 14];
        salt.copy_from_slice(&self.0[16..]);
        SrtpMaster {
            key: self.0[..16].to_vec(),
            salt,
        }
    }
}

/// The key of the first `a=crypto` line of `sdp` in our suite.
pub fn answer_key(sdp: &str) -> Option<Key> {
    sdp.lines().find_map(|line| {
        let mut parts = line.trim().strip_prefix("a=crypto:")?.split_whitespace();
        let _tag = parts.next()?;
        (parts.next()? == SUITE).then_some(())?;
        let inline = parts.next()?.strip_prefix("inline:")?;
        let bytes = base64_decode(inline.split('|').next()?)?;
        Some(Key(bytes.try_into().ok()?))
    })
}

/// One call's contexts: the first protects what the generator sends (with
/// `ours`), the second checks what the agent sends (with `theirs`). Two, so
/// the sending and receiving threads each own one.
pub fn contexts(ours: &Key, theirs: &Key) -> anyhow::Result<(Srtp, Srtp)> {
    let config = SrtpConfig {
        profile: SrtpProfile::Aes128CmSha1_80,
        local: ours.master(),
        remote: theirs.master(),
    };
    Ok((Srtp::new(config.clone())?, Srtp::new(config)?))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63])
            } else {
                '='
            });
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for byte in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | ALPHABET.iter().position(|&a| a == byte)? as u32;
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

    #[test]
    fn our_offer_line_reads_back_as_the_same_key() {
        let key = Key::generate();
        let sdp = format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:{}\r\n",
            key.crypto_attribute()
        );
        assert_eq!(answer_key(&sdp), Some(key));
        // RFC 4568 §9.1's example key, with a lifetime.
        let example = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 \
                       inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20\r\n";
        let key = answer_key(example).unwrap();
        assert_eq!(
            base64_encode(&key.0),
            "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
        );
        assert_eq!(
            answer_key("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:WVNf\r\n"),
            None
        );
        assert_eq!(format!("{key:?}"), "Key(..)");
    }

    #[test]
    fn each_side_opens_what_the_other_protects() {
        let (ours, theirs) = (Key::generate(), Key::generate());
        let (mut send, _) = contexts(&ours, &theirs).unwrap();
        let (_, mut agent_receive) = contexts(&theirs, &ours).unwrap();
        let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        rtp.extend([0x55u8; 160]);
        let wire = send.protect_rtp(&rtp).unwrap();
        assert_ne!(wire[12..172], rtp[12..]);
        assert_eq!(agent_receive.unprotect_rtp(&wire).unwrap(), rtp);
    }
}
