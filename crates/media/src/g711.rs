//! G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).
//!
//! Decoding uses 256-entry tables built at compile time. Encoding computes what the
//! segment search of the ITU-T reference (the Sun `g711.c` algorithm) finds, without
//! a search or a table; a test compares the two on every sample.

/// Which G.711 companding law a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711 {
    Ulaw,
    Alaw,
}

impl G711 {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Ulaw => 0,
            G711::Alaw => 8,
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<G711> {
        match pt {
            0 => Some(G711::Ulaw),
            8 => Some(G711::Alaw),
            _ => None,
        }
    }

    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            G711::Ulaw => ulaw_encode(sample),
            G711::Alaw => alaw_encode(sample),
        }
    }

    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            G711::Ulaw => ulaw_decode(code),
            G711::Alaw => alaw_decode(code),
        }
    }

    /// Appends one code per sample to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        // The law is chosen once per frame, so the per-sample loop is
        // branch-free and vectorises (it was 4 % of a media thread's time).
        match self {
            G711::Ulaw => out.extend(pcm.iter().map(|&s| ulaw_encode(s))),
            G711::Alaw => out.extend(pcm.iter().map(|&s| alaw_encode(s))),
        }
    }

    /// Appends one sample per code to `out`.
    pub fn decode(self, codes: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            G711::Ulaw => &ULAW_DECODE,
            G711::Alaw => &ALAW_DECODE,
        };
        out.extend(codes.iter().map(|&c| table[c as usize]));
    }

    /// The code for digital silence, used to pad partial packets.
    pub fn silence(self) -> u8 {
        self.encode_sample(0)
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    let pcm = sample as i32;
    // 0x80 for a negative sample: its bits above bit 7 are all set.
    let sign = ((pcm >> 8) & 0x80) as u8;
    let biased = pcm.abs().min(ULAW_CLIP) + ULAW_BIAS;
    // The segment is the position of the highest set bit above bit 7, the
    // mantissa the four bits after it. The biased magnitude is 132 to 32767:
    // as an `f32` it is exact, its exponent field is that position plus 127,
    // and the mantissa field starts with those four bits. Read this way,
    // with the same shift for every sample, the loop over a frame
    // vectorises, where a count of leading zeros and a shift by it do not.
    let segment_and_mantissa = ((biased as f32).to_bits() >> 19) - ((127 + 7) << 4);
    !(sign | segment_and_mantissa as u8)
}

pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13-bit magnitudes: a negative value v stands for
    // -v - 1, which is its bitwise complement.
    let pcm = (sample as i32) >> 3;
    let magnitude = pcm ^ (pcm >> 31);
    let mask = if pcm >= 0 { 0xD5 } else { 0x55 };
    // Below 32, segment 0 and the magnitude halved. From 32 (bit 5) up, the
    // segment is the highest set bit's position less 4 and the mantissa the
    // four bits after it: read from the magnitude as an `f32` (exact below
    // 2^24), as µ-law does.
    let code = if magnitude < 32 {
        (magnitude >> 1) as u32
    } else {
        ((magnitude as f32).to_bits() >> 19) - ((127 + 4) << 4)
    };
    code as u8 ^ mask
}

pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

const fn ulaw_decode_formula(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_formula(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let segment = (a & 0x70) >> 4;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= segment - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode_formula(i as u8)
        } else {
            ulaw_decode_formula(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_DECODE: [i16; 256] = build_table(false);
static ALAW_DECODE: [i16; 256] = build_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0); // negative zero
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(-1), 0x7F);
        // First step of segment 0: 8 linear units (values from the ITU reference tables).
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0xEF), 132);
        assert_eq!(ulaw_encode(1000), 0xCE);
        assert_eq!(ulaw_decode(0xCE), 988);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_encode(1000), 0xFA);
        assert_eq!(alaw_decode(0xFA), 1008);
    }

    /// The segment search of the ITU-T reference (Sun `g711.c`), sample by sample.
    fn ulaw_reference(sample: i16) -> u8 {
        let mut pcm = sample as i32;
        let sign = if pcm < 0 {
            pcm = -pcm;
            0x80
        } else {
            0
        };
        pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
        let exponent = (31 - (pcm as u32).leading_zeros() as i32 - 7).clamp(0, 7);
        let mantissa = (pcm >> (exponent + 3)) & 0x0F;
        !(sign | (exponent << 4) as u8 | mantissa as u8)
    }

    fn alaw_reference(sample: i16) -> u8 {
        let mut pcm = (sample as i32) >> 3;
        let mask: u8 = if pcm >= 0 {
            0xD5
        } else {
            pcm = -pcm - 1;
            0x55
        };
        const SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
        let Some(segment) = SEGMENT_END.iter().position(|&end| pcm <= end) else {
            return 0x7F ^ mask;
        };
        let shift = if segment < 2 { 1 } else { segment };
        (((segment as u8) << 4) | ((pcm >> shift) & 0x0F) as u8) ^ mask
    }

    #[test]
    fn every_sample_encodes_as_the_reference_segment_search_does() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), ulaw_reference(s), "µ-law {s}");
            assert_eq!(alaw_encode(s), alaw_reference(s), "A-law {s}");
        }
        let frame: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        for law in [G711::Ulaw, G711::Alaw] {
            let mut coded = Vec::new();
            law.encode(&frame, &mut coded);
            let one_by_one: Vec<u8> = frame.iter().map(|&s| law.encode_sample(s)).collect();
            assert_eq!(coded, one_by_one, "{law:?} frame");
        }
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
            if code != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(code)), code, "µ-law {code:#04x}");
            }
        }
    }

    #[test]
    fn decode_tables_are_odd_symmetric_and_monotonic() {
        for code in 0..128u8 {
            assert_eq!(ulaw_decode(code), -ulaw_decode(code | 0x80));
            assert_eq!(alaw_decode(code), -alaw_decode(code | 0x80));
        }
        let mut last = i32::MIN;
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let v = ulaw_decode(ulaw_encode(s)) as i32;
            assert!(v >= last, "µ-law not monotonic at {s}");
            last = v;
        }
    }

    /// Quantisation error stays within half a step of the segment the sample falls in.
    #[test]
    fn round_trip_error_is_bounded_by_segment_step() {
        for s in i16::MIN..=i16::MAX {
            let x = s as i32;
            let mag = x.abs();
            let ulaw_err = (ulaw_decode(ulaw_encode(s)) as i32 - x).abs();
            let alaw_err = (alaw_decode(alaw_encode(s)) as i32 - x).abs();
            if mag <= 32124 {
                // µ-law step in segment e is 2^(e+3); (mag + bias) / 16 bounds half of it.
                assert!(
                    ulaw_err <= (mag + 132) / 16 + 1,
                    "µ-law {s}: err {ulaw_err}"
                );
            } else {
                assert!(ulaw_err <= 32768 - 32124, "µ-law clip {s}");
            }
            if mag <= 32256 {
                assert!(
                    alaw_err <= (mag / 32).max(8) + 8,
                    "A-law {s}: err {alaw_err}"
                );
            } else {
                assert!(alaw_err <= 32768 - 32256, "A-law clip {s}");
            }
        }
    }

    #[test]
    fn slice_helpers_and_payload_types() {
        for law in [G711::Ulaw, G711::Alaw] {
            assert_eq!(G711::from_payload_type(law.payload_type()), Some(law));
            let pcm: Vec<i16> = (0..160).map(|i| (i * 200 - 16000) as i16).collect();
            let mut codes = Vec::new();
            law.encode(&pcm, &mut codes);
            assert_eq!(codes.len(), 160);
            let mut back = Vec::new();
            law.decode(&codes, &mut back);
            assert_eq!(back.len(), 160);
            for (a, b) in pcm.iter().zip(&back) {
                assert!((*a as i32 - *b as i32).abs() <= 512);
            }
            assert_eq!(
                law.decode_sample(law.silence()).abs(),
                if law == G711::Ulaw { 0 } else { 8 }
            );
        }
        assert_eq!(G711::from_payload_type(18), None);
    }
}
