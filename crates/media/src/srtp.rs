//! SRTP and SRTCP (RFC 3711) for one call, on the webrtc-rs `webrtc-srtp`
//! crate (patched in `vendor/webrtc-srtp` so that a packet costs only its
//! cipher, tag and replay check): one context to protect what we send, one
//! to check and decrypt what the caller sends, each with a replay window.
//!
//! A packet that fails authentication, or repeats one already accepted, is
//! dropped and counted before anything else reads it. Keys never leave this
//! module in a printable form: [`SrtpMaster`] shows no byte in `Debug`.

use std::fmt;

use bytes::Bytes;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

/// Packets behind the newest one that may still arrive (RFC 3711 §3.3.2
/// asks for at least 64).
const REPLAY_WINDOW: usize = 128;

/// Length of an SRTCP trailer we need before decrypting: SSRC, E flag and
/// index, and the 80-bit tag both suites use on RTCP.
const MIN_SRTCP: usize = 8 + 4 + 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpProfile {
    Aes128CmSha1_80,
    /// 32-bit tag on SRTP; SRTCP keeps the 80-bit tag (RFC 4568 §6.2.2).
    Aes128CmSha1_32,
    /// A 256-bit key (RFC 6188).
    Aes256CmSha1_80,
    /// A 256-bit key, 32-bit tag on SRTP (RFC 6188).
    Aes256CmSha1_32,
}

/// A master key (16 bytes, or 32 for the AES-256 profiles) and master salt
/// (14 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpMaster {
    pub key: Vec<u8>,
    pub salt: [u8; 14],
}

impl fmt::Debug for SrtpMaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SrtpMaster(..)")
    }
}

/// The keys of one offer/answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpConfig {
    pub profile: SrtpProfile,
    /// Ours: what we send is protected with it.
    pub local: SrtpMaster,
    /// The caller's: what it sends is checked with it.
    pub remote: SrtpMaster,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpStats {
    /// SRTP and SRTCP packets decrypted and passed on.
    pub unprotected: u64,
    /// Dropped: the authentication tag did not match (tampered, or another key).
    pub auth_failures: u64,
    /// Dropped: an index already accepted (a replay or a duplicate).
    pub replayed: u64,
    /// Dropped: too short or not an RTP/RTCP header.
    pub malformed: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("SRTP context: {0}")]
pub struct SrtpError(String);

pub struct Srtp {
    config: SrtpConfig,
    outbound: Context,
    inbound: Context,
    stats: SrtpStats,
}

impl fmt::Debug for Srtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Srtp")
            .field("profile", &self.config.profile)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn context(master: &SrtpMaster, profile: SrtpProfile) -> Result<Context, SrtpError> {
    let profile = match profile {
        SrtpProfile::Aes128CmSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpProfile::Aes128CmSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        SrtpProfile::Aes256CmSha1_80 => ProtectionProfile::Aes256CmHmacSha1_80,
        SrtpProfile::Aes256CmSha1_32 => ProtectionProfile::Aes256CmHmacSha1_32,
    };
    if master.key.len() != profile.key_len() {
        return Err(SrtpError(format!(
            "a {}-byte master key for a profile that takes {}",
            master.key.len(),
            profile.key_len()
        )));
    }
    // The crate's error names lengths only, never key bytes.
    Context::new(
        &master.key,
        &master.salt,
        profile,
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        Some(srtcp_replay_protection(REPLAY_WINDOW)),
    )
    .map_err(|e| SrtpError(e.to_string()))
}

impl Srtp {
    pub fn new(config: SrtpConfig) -> Result<Srtp, SrtpError> {
        Ok(Srtp {
            outbound: context(&config.local, config.profile)?,
            inbound: context(&config.remote, config.profile)?,
            config,
            stats: SrtpStats::default(),
        })
    }

    /// Takes the keys of a new offer/answer (a re-INVITE rekeys). A side
    /// whose key is unchanged keeps its context: its rollover counter and
    /// replay window go on.
    pub fn rekey(&mut self, config: SrtpConfig) -> Result<(), SrtpError> {
        if config.profile != self.config.profile || config.local != self.config.local {
            self.outbound = context(&config.local, config.profile)?;
        }
        if config.profile != self.config.profile || config.remote != self.config.remote {
            self.inbound = context(&config.remote, config.profile)?;
        }
        self.config = config;
        Ok(())
    }

    pub fn stats(&self) -> SrtpStats {
        self.stats
    }

    /// Encrypts and tags an RTP packet of ours. `None` only for a packet
    /// that is not RTP, or after 2^48 packets under one key.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Option<Bytes> {
        self.outbound.encrypt_rtp(packet).ok()
    }

    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Option<Bytes> {
        self.outbound.encrypt_rtcp(packet).ok()
    }

    /// Checks and decrypts an SRTP packet from the caller; `None` (counted)
    /// when it must be dropped.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Option<Bytes> {
        let result = self.inbound.decrypt_rtp(packet);
        self.count(result)
    }

    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Option<Bytes> {
        if packet.len() < MIN_SRTCP {
            self.stats.malformed += 1;
            return None;
        }
        let result = self.inbound.decrypt_rtcp(packet);
        self.count(result)
    }

    fn count(&mut self, result: Result<Bytes, webrtc_srtp::Error>) -> Option<Bytes> {
        use webrtc_srtp::Error;
        match result {
            Ok(plain) => {
                self.stats.unprotected += 1;
                Some(plain)
            }
            Err(
                Error::ErrFailedToVerifyAuthTag
                | Error::RtpFailedToVerifyAuthTag
                | Error::RtcpFailedToVerifyAuthTag,
            ) => {
                self.stats.auth_failures += 1;
                None
            }
            Err(Error::SrtpSsrcDuplicated(..) | Error::SrtcpSsrcDuplicated(..)) => {
                self.stats.replayed += 1;
                None
            }
            Err(_) => {
                self.stats.malformed += 1;
                None
            }
        }
    }
}

/// Whether a datagram on the RTP port is RTCP (RFC 5761 §4: packet types
/// 192 to 223 are never RTP payload types once the marker bit is cleared).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && (192..=223).contains(&datagram[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp_packet::RtpPacket;

    fn master(fill: u8, key_len: usize) -> SrtpMaster {
        SrtpMaster {
            key: vec![fill; key_len],
            salt: [fill.wrapping_add(1); 14],
        }
    }

    fn key_len(profile: SrtpProfile) -> usize {
        match profile {
            SrtpProfile::Aes128CmSha1_80 | SrtpProfile::Aes128CmSha1_32 => 16,
            SrtpProfile::Aes256CmSha1_80 | SrtpProfile::Aes256CmSha1_32 => 32,
        }
    }

    /// Our side and the caller's, with mirrored keys.
    fn pair(profile: SrtpProfile) -> (Srtp, Srtp) {
        let len = key_len(profile);
        let ours = SrtpConfig {
            profile,
            local: master(1, len),
            remote: master(9, len),
        };
        let theirs = SrtpConfig {
            profile,
            local: master(9, len),
            remote: master(1, len),
        };
        (Srtp::new(ours).unwrap(), Srtp::new(theirs).unwrap())
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0x12, 0x34];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend((0..160).map(|i| (i as u8) ^ 0x55));
        p
    }

    #[test]
    fn both_suites_round_trip_and_hide_the_payload() {
        for (profile, tag) in [
            (SrtpProfile::Aes128CmSha1_80, 10),
            (SrtpProfile::Aes128CmSha1_32, 4),
            (SrtpProfile::Aes256CmSha1_80, 10),
            (SrtpProfile::Aes256CmSha1_32, 4),
        ] {
            let (mut ours, mut theirs) = pair(profile);
            let plain = rtp(7);
            let wire = theirs.protect_rtp(&plain).unwrap();
            assert_eq!(wire.len(), plain.len() + tag);
            assert_eq!(wire[..12], plain[..12], "the header stays readable");
            assert_ne!(wire[12..172], plain[12..], "the payload does not");
            assert_eq!(ours.unprotect_rtp(&wire).unwrap(), plain);
            let back = ours.protect_rtp(&plain).unwrap();
            assert_eq!(theirs.unprotect_rtp(&back).unwrap(), plain);
        }
    }

    #[test]
    fn a_tampered_packet_and_a_replay_are_dropped_and_counted() {
        let (mut ours, mut theirs) = pair(SrtpProfile::Aes128CmSha1_80);
        let first = theirs.protect_rtp(&rtp(1)).unwrap();
        let mut tampered = theirs.protect_rtp(&rtp(2)).unwrap().to_vec();
        tampered[40] ^= 1;
        assert!(ours.unprotect_rtp(&first).is_some());
        assert!(ours.unprotect_rtp(&first).is_none(), "replay");
        assert!(ours.unprotect_rtp(&tampered).is_none(), "bad tag");
        assert!(ours.unprotect_rtp(&rtp(3)).is_none(), "plain RTP");
        assert!(ours.unprotect_rtcp(&[0x80, 200, 0, 1]).is_none(), "short");
        let stats = ours.stats();
        assert_eq!(
            (
                stats.unprotected,
                stats.replayed,
                stats.auth_failures,
                stats.malformed
            ),
            (1, 1, 2, 1)
        );
    }

    #[test]
    fn a_strangers_packets_under_new_ssrcs_leave_no_state_behind() {
        let (mut ours, mut theirs) = pair(SrtpProfile::Aes128CmSha1_80);
        let first = theirs.protect_rtp(&rtp(1)).unwrap();
        assert!(ours.unprotect_rtp(&first).is_some());
        // Without the key: SRTP and SRTCP under a thousand SSRCs each, with
        // made-up tags, as a stranger spraying the call's port sends them.
        for ssrc in 1..=1000u32 {
            let mut forged = rtp(7);
            forged[8..12].copy_from_slice(&ssrc.to_be_bytes());
            forged.extend([0xa5; 10]);
            assert!(ours.unprotect_rtp(&forged).is_none());
            let mut report = vec![0x80, 201, 0, 1];
            report.extend(ssrc.to_be_bytes());
            report.extend([0x80, 0, 0, 1]);
            report.extend([0xa5; 10]);
            assert!(ours.unprotect_rtcp(&report).is_none());
        }
        assert_eq!(ours.stats().auth_failures, 2000);
        assert_eq!(
            ours.inbound.ssrc_states(),
            (1, 0),
            "only the caller's authenticated SSRC has state"
        );
        // The caller's stream goes on as before.
        let second = theirs.protect_rtp(&rtp(2)).unwrap();
        assert!(ours.unprotect_rtp(&second).is_some());
    }

    #[test]
    fn srtcp_round_trips_with_an_80_bit_tag_under_the_32_bit_suite() {
        let (mut ours, mut theirs) = pair(SrtpProfile::Aes128CmSha1_32);
        // An empty receiver report from SSRC 0x1234.
        let rr = [0x80, 201, 0, 1, 0, 0, 0x12, 0x34];
        let wire = theirs.protect_rtcp(&rr).unwrap();
        assert_eq!(wire.len(), rr.len() + 4 + 10);
        assert!(is_rtcp(&wire));
        assert_eq!(ours.unprotect_rtcp(&wire).unwrap()[..], rr);
        assert!(ours.unprotect_rtcp(&wire).is_none());
        assert!(RtpPacket::parse(&rtp(1)).is_ok() && !is_rtcp(&rtp(1)));
    }

    #[test]
    fn rekeying_replaces_only_the_side_whose_key_changed() {
        let (mut ours, mut theirs) = pair(SrtpProfile::Aes128CmSha1_80);
        assert!(ours
            .unprotect_rtp(&theirs.protect_rtp(&rtp(1)).unwrap())
            .is_some());
        let old_packet = theirs.protect_rtp(&rtp(2)).unwrap();
        ours.rekey(SrtpConfig {
            profile: SrtpProfile::Aes128CmSha1_80,
            local: master(3, 16),
            remote: master(9, 16),
        })
        .unwrap();
        assert!(ours.unprotect_rtp(&old_packet).is_some(), "inbound kept");
        let sent = ours.protect_rtp(&rtp(5)).unwrap();
        assert!(
            theirs.unprotect_rtp(&sent).is_none(),
            "the old key no longer opens it"
        );
    }
}
