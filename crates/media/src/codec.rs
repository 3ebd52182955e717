//! The audio codecs a call can negotiate, as named in SDP `a=rtpmap` lines.

use crate::g711::G711;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    G711(G711),
    /// Opus voice, decoded by libopus (feature `opus`).
    #[cfg(feature = "opus")]
    Opus,
}

impl AudioCodec {
    /// Maps an rtpmap encoding name and clock rate (`PCMU/8000`, `opus/48000/2`).
    pub fn from_rtpmap(encoding: &str, clock_rate: u32) -> Option<AudioCodec> {
        match (encoding.to_ascii_uppercase().as_str(), clock_rate) {
            ("PCMU", 8000) => Some(AudioCodec::G711(G711::Ulaw)),
            ("PCMA", 8000) => Some(AudioCodec::G711(G711::Alaw)),
            #[cfg(feature = "opus")]
            ("OPUS", 48000) => Some(AudioCodec::Opus),
            _ => None,
        }
    }

    /// RTP timestamp units per second.
    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            AudioCodec::G711(_) => 8000,
            #[cfg(feature = "opus")]
            AudioCodec::Opus => crate::opus::OPUS_RTP_CLOCK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_names_map_to_codecs() {
        assert_eq!(
            AudioCodec::from_rtpmap("PCMU", 8000),
            Some(AudioCodec::G711(G711::Ulaw))
        );
        assert_eq!(
            AudioCodec::from_rtpmap("pcma", 8000),
            Some(AudioCodec::G711(G711::Alaw))
        );
        assert_eq!(AudioCodec::from_rtpmap("PCMU", 16000), None);
        assert_eq!(AudioCodec::from_rtpmap("G729", 8000), None);
        assert_eq!(AudioCodec::G711(G711::Alaw).rtp_clock_rate(), 8000);
    }

    #[cfg(feature = "opus")]
    #[test]
    fn opus_is_always_48k_on_the_wire() {
        let opus = AudioCodec::from_rtpmap("opus", 48000).unwrap();
        assert_eq!(opus, AudioCodec::Opus);
        assert_eq!(opus.rtp_clock_rate(), 48000);
    }
}
