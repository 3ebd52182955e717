//! What an SDP negotiation means for a call's media: the negotiated codec,
//! payload types, packet time and SDES keys as a `media::SessionConfig`, for
//! a new session and for every renegotiation.

use std::net::SocketAddr;
use std::time::Duration;

use media::{
    AudioCodec, IdleFill, PacerConfig, Ptime, ReceiverConfig, SessionConfig, SourceLearning, G711,
};
use sip::{Codec, Negotiated};

/// The settings every call's media shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaFormats {
    /// The rate the receive path hands frames out at: the speech model's.
    pub recognizer_rate: u32,
    /// `rtp.strict_source`.
    pub strict_source: bool,
    /// `rtp.learn_source`.
    pub learn_source: SourceLearning,
}

impl MediaFormats {
    /// The media formats `neg` agreed, for a new session or a renegotiation
    /// (a fresh SSRC, sequence and timestamp, which a renegotiation ignores).
    /// Between prompts the stream carries encoded silence, so media timers
    /// of SBCs and NAT bindings on the path see a live call while it waits
    /// for the caller.
    pub fn session_config(&self, neg: &Negotiated, local: Option<SocketAddr>) -> SessionConfig {
        let (ssrc, seq, ts) = (rand::random(), rand::random(), rand::random());
        let (audio, mut pacer) = match neg.codec {
            Codec::Pcmu => (
                AudioCodec::G711(G711::Ulaw),
                PacerConfig::g711(G711::Ulaw, ssrc, seq, ts),
            ),
            Codec::Pcma => (
                AudioCodec::G711(G711::Alaw),
                PacerConfig::g711(G711::Alaw, ssrc, seq, ts),
            ),
            Codec::Opus => (
                AudioCodec::Opus,
                PacerConfig::opus(neg.payload_type, ssrc, seq, ts),
            ),
        };
        let mut receiver = ReceiverConfig::new(
            vec![(neg.payload_type, audio)],
            neg.telephone_event,
            self.recognizer_rate,
        );
        receiver.strict_source = self.strict_source;
        receiver.sdp_source = Some(neg.remote_rtp);
        receiver.learn_source = self.learn_source;
        if neg.webrtc.is_some() {
            // ICE finds a browser's address and DTLS-SRTP authenticates
            // its packets; the SDP's address is a placeholder.
            receiver.strict_source = false;
            receiver.sdp_source = None;
            receiver.learn_source = SourceLearning::Any;
        }
        pacer.payload_type = neg.payload_type;
        pacer.ptime = Ptime::from_millis(neg.ptime_ms).unwrap_or(Ptime::Ms20);
        pacer.idle = IdleFill::Silence;
        let cname = format!(
            "passgate@{}",
            local.map_or_else(|| "unknown".to_string(), |a| a.to_string())
        );
        SessionConfig {
            receiver,
            pacer,
            cname,
            rtcp_interval: Duration::from_secs(5),
            srtp: neg.srtp.as_ref().map(srtp_config),
        }
    }
}

/// The media crate's view of the SDES keys offer/answer settled.
fn srtp_config(params: &sip::SrtpParams) -> media::SrtpConfig {
    let master = |k: &sip::SrtpKey| {
        let mut salt = [0u8; 14];
        salt.copy_from_slice(k.master_salt());
        media::SrtpMaster {
            key: k.master_key().to_vec(),
            salt,
        }
    };
    media::SrtpConfig {
        profile: match params.suite {
            sip::SrtpSuite::AesCm128HmacSha1_80 => media::SrtpProfile::Aes128CmSha1_80,
            sip::SrtpSuite::AesCm128HmacSha1_32 => media::SrtpProfile::Aes128CmSha1_32,
            sip::SrtpSuite::Aes256CmHmacSha1_80 => media::SrtpProfile::Aes256CmSha1_80,
            sip::SrtpSuite::Aes256CmHmacSha1_32 => media::SrtpProfile::Aes256CmSha1_32,
        },
        local: master(&params.local),
        remote: master(&params.remote),
    }
}
