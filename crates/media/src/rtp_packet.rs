//! RTP packets (RFC 3550) parsed and built with the webrtc-rs `rtp` crate.
//!
//! The crate trusts header-extension element lengths and can panic on a truncated
//! extension, so every datagram is checked for structural soundness first; after that
//! check the crate's parser cannot read out of bounds.

use bytes::{BufMut, Bytes, BytesMut};
use rtp::packet::Packet;
use webrtc_util::marshal::Unmarshal;

const FIXED_HEADER_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("datagram of {0} bytes is shorter than an RTP header")]
    TooShort(usize),
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("second octet {0} is an RTCP packet type (RFC 5761 demultiplexing)")]
    Rtcp(u8),
    #[error("CSRC list or header extension runs past the end of the datagram")]
    TruncatedHeader,
    #[error("header extension element runs past the extension block")]
    BadExtension,
    #[error("padding count {count} does not fit a payload of {payload_len} bytes")]
    BadPadding { count: usize, payload_len: usize },
    #[error("rtp crate rejected the packet: {0}")]
    Codec(String),
}

/// The header fields Passgate uses plus the payload (padding removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Bytes,
}

impl RtpPacket {
    /// Parses one datagram. Never panics, whatever the bytes.
    pub fn parse(datagram: &[u8]) -> Result<RtpPacket, RtpError> {
        check_structure(datagram)?;
        let mut buf = datagram;
        let packet = Packet::unmarshal(&mut buf).map_err(|e| RtpError::Codec(e.to_string()))?;
        Ok(RtpPacket {
            payload_type: packet.header.payload_type,
            marker: packet.header.marker,
            sequence_number: packet.header.sequence_number,
            timestamp: packet.header.timestamp,
            ssrc: packet.header.ssrc,
            payload: packet.payload,
        })
    }

    /// Serialises to a datagram with no CSRCs, extensions or padding: one
    /// allocation, the fixed header written field by field (RFC 3550 §5.1).
    pub fn to_bytes(&self) -> Result<Bytes, RtpError> {
        let mut out = BytesMut::with_capacity(FIXED_HEADER_LEN + self.payload.len());
        out.put_u8(2 << 6);
        out.put_u8(u8::from(self.marker) << 7 | (self.payload_type & 0x7F));
        out.put_u16(self.sequence_number);
        out.put_u32(self.timestamp);
        out.put_u32(self.ssrc);
        out.extend_from_slice(&self.payload);
        Ok(out.freeze())
    }
}

/// Walks the variable-length parts of the header with bounds checks.
fn check_structure(d: &[u8]) -> Result<(), RtpError> {
    // Checked before the length: an RTCP receiver report without blocks is 8 bytes.
    if let [b0, b1, ..] = *d {
        if b0 >> 6 == 2 && (192..=223).contains(&b1) {
            return Err(RtpError::Rtcp(b1));
        }
    }
    if d.len() < FIXED_HEADER_LEN {
        return Err(RtpError::TooShort(d.len()));
    }
    let version = d[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let has_padding = d[0] & 0x20 != 0;
    let has_extension = d[0] & 0x10 != 0;
    let csrc_count = (d[0] & 0x0F) as usize;
    let mut offset = FIXED_HEADER_LEN + 4 * csrc_count;
    if d.len() < offset {
        return Err(RtpError::TruncatedHeader);
    }
    if has_extension {
        let head = d.get(offset..offset + 4).ok_or(RtpError::TruncatedHeader)?;
        let profile = u16::from_be_bytes([head[0], head[1]]);
        let words = u16::from_be_bytes([head[2], head[3]]) as usize;
        offset += 4;
        let block = d
            .get(offset..offset + 4 * words)
            .ok_or(RtpError::TruncatedHeader)?;
        check_extension_elements(profile, block)?;
        offset += block.len();
    }
    if has_padding {
        let payload_len = d.len() - offset;
        let count = d.last().map_or(0, |&c| c as usize);
        if count == 0 || count > payload_len {
            return Err(RtpError::BadPadding { count, payload_len });
        }
    }
    Ok(())
}

/// RFC 8285 one- and two-byte element lists must stay inside their block.
fn check_extension_elements(profile: u16, block: &[u8]) -> Result<(), RtpError> {
    let one_byte = profile == rtp::header::EXTENSION_PROFILE_ONE_BYTE;
    let two_byte = profile == rtp::header::EXTENSION_PROFILE_TWO_BYTE;
    if !one_byte && !two_byte {
        return Ok(());
    }
    let mut i = 0;
    while i < block.len() {
        let b = block[i];
        if b == 0 {
            i += 1;
            continue;
        }
        let len = if one_byte {
            if b >> 4 == rtp::header::EXTENSION_ID_RESERVED {
                // The crate stops parsing at the reserved id; nothing after it is read.
                return Ok(());
            }
            i += 1;
            (b & 0x0F) as usize + 1
        } else {
            let len = *block.get(i + 1).ok_or(RtpError::BadExtension)? as usize;
            i += 2;
            len
        };
        if i + len > block.len() {
            return Err(RtpError::BadExtension);
        }
        i += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RtpPacket {
        RtpPacket {
            payload_type: 0,
            marker: true,
            sequence_number: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x0E05_384E,
            payload: Bytes::from(vec![0xFF; 160]),
        }
    }

    #[test]
    fn the_header_is_written_as_the_rtp_crate_writes_it() {
        use webrtc_util::marshal::Marshal;
        for (pt, marker, seq, ts, ssrc, len) in [
            (0u8, false, 0u16, 0u32, 0u32, 160usize),
            (8, true, 65535, u32::MAX, 0xDEAD_BEEF, 80),
            (101, true, 1234, 0x0102_0304, 0x0E05_384E, 4),
            (0x7F, false, 42, 7, 1, 0),
        ] {
            let ours = RtpPacket {
                payload_type: pt,
                marker,
                sequence_number: seq,
                timestamp: ts,
                ssrc,
                payload: Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>()),
            };
            let theirs = Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker,
                    payload_type: pt,
                    sequence_number: seq,
                    timestamp: ts,
                    ssrc,
                    ..Default::default()
                },
                payload: ours.payload.clone(),
            }
            .marshal()
            .unwrap();
            assert_eq!(ours.to_bytes().unwrap(), theirs, "pt {pt} marker {marker}");
        }
    }

    #[test]
    fn build_then_parse_round_trips() {
        let p = sample();
        let bytes = p.to_bytes().unwrap();
        assert_eq!(bytes.len(), 12 + 160);
        assert_eq!(&bytes[..2], &[0x80, 0x80]);
        assert_eq!(&bytes[2..4], &[0xFF, 0xFF]);
        assert_eq!(RtpPacket::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn parses_a_telephone_event_from_the_sipp_pcap() {
        // Packet 8 of /usr/share/sip-tester/dtmf_2833_1.pcap (end of digit 1).
        let d = [
            0x80, 0x65, 0x1F, 0x37, 0x00, 0x00, 0x33, 0xE0, 0x0E, 0x05, 0x38, 0x4E, 0x01, 0x8A,
            0x08, 0xC0,
        ];
        let p = RtpPacket::parse(&d).unwrap();
        assert_eq!(p.payload_type, 101);
        assert!(!p.marker);
        assert_eq!(p.sequence_number, 7991);
        assert_eq!(p.timestamp, 13280);
        assert_eq!(p.ssrc, 0x0E05384E);
        assert_eq!(&p.payload[..], &[0x01, 0x8A, 0x08, 0xC0]);
    }

    #[test]
    fn csrcs_extensions_and_padding_are_skipped() {
        let mut d = vec![0xB1, 0x08, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7]; // P, X, CC=1
        d.extend([1, 2, 3, 4]); // CSRC
        d.extend([0xBE, 0xDE, 0, 1, 0x11, 0xAA, 0xBB, 0x00]); // one-byte ext, id 1 len 2
        d.extend([9, 9, 9]); // payload
        d.extend([0, 0, 3]); // padding of 3
        let p = RtpPacket::parse(&d).unwrap();
        assert_eq!(p.payload_type, 8);
        assert_eq!(&p.payload[..], &[9, 9, 9]);
    }

    #[test]
    fn malformed_datagrams_are_errors() {
        let good = sample().to_bytes().unwrap();
        assert_eq!(RtpPacket::parse(&good[..11]), Err(RtpError::TooShort(11)));
        let mut v1 = good.to_vec();
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        let rtcp = [0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(RtpPacket::parse(&rtcp), Err(RtpError::Rtcp(200)));
        let empty_rr = [0x80, 201, 0, 1, 0, 0, 0, 3];
        assert_eq!(RtpPacket::parse(&empty_rr), Err(RtpError::Rtcp(201)));
        let csrc = [0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(RtpPacket::parse(&csrc), Err(RtpError::TruncatedHeader));
        let mut padded = good.to_vec();
        padded[0] |= 0x20;
        *padded.last_mut().unwrap() = 0;
        assert!(matches!(
            RtpPacket::parse(&padded),
            Err(RtpError::BadPadding { .. })
        ));
        padded.truncate(12);
        padded.push(200);
        assert!(matches!(
            RtpPacket::parse(&padded),
            Err(RtpError::BadPadding { .. })
        ));
    }

    /// This element claims 16 bytes in a 4-byte block; the `rtp` crate alone panics on it.
    #[test]
    fn overlong_extension_element_is_an_error_not_a_panic() {
        let d = [
            0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 1, 0x1F, 0, 0, 0,
        ];
        assert_eq!(RtpPacket::parse(&d), Err(RtpError::BadExtension));
        // Keeps the pre-check honest: if upstream stops panicking, this fails and the
        // pre-check can be reconsidered.
        let upstream = std::panic::catch_unwind(|| Packet::unmarshal(&mut &d[..]));
        assert!(
            upstream.is_err(),
            "rtp crate no longer panics on this input"
        );
        let two = [
            0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 1, 0x01, 9, 0, 0,
        ];
        assert_eq!(RtpPacket::parse(&two), Err(RtpError::BadExtension));
        let truncated_block = [0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 9, 0];
        assert_eq!(
            RtpPacket::parse(&truncated_block),
            Err(RtpError::TruncatedHeader)
        );
    }

    /// Every prefix and many bit flips of valid packets either parse or error: no panics.
    #[test]
    fn mangled_packets_never_panic() {
        let mut seeds: Vec<Vec<u8>> = vec![sample().to_bytes().unwrap().to_vec()];
        let mut ext = vec![0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 2];
        ext.extend([0x21, 1, 2, 0x00, 0x10, 5, 0, 0, 7, 7]);
        seeds.push(ext);
        let mut two = vec![0xB0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 1];
        two.extend([1, 2, 5, 5, 8, 8, 2]);
        seeds.push(two);
        let mut state = 0x1234_5678u32;
        let mut outcomes = [0usize; 2];
        for seed in &seeds {
            for len in 0..=seed.len() {
                outcomes[RtpPacket::parse(&seed[..len]).is_ok() as usize] += 1;
            }
            for _ in 0..20_000 {
                let mut d = seed.clone();
                for _ in 0..3 {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let i = (state >> 8) as usize % d.len();
                    d[i] ^= 1 << (state >> 29);
                }
                outcomes[RtpPacket::parse(&d).is_ok() as usize] += 1;
            }
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    }
}
