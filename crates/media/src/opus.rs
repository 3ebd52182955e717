//! Opus voice through libopus (`audiopus`), mono.
//!
//! Opus's RTP clock is always 48 kHz (RFC 7587) whatever rate it is decoded at, and the
//! decoder can produce 8, 12, 16, 24 or 48 kHz directly, so no resampler is needed for
//! the telephony or recogniser paths.

use audiopus::coder::{Decoder, Encoder};
use audiopus::packet::{samples_per_frame, Packet};
use audiopus::{Application, Channels, MutSignals, SampleRate};

/// RTP timestamp units per second for Opus, whatever the decoded rate.
pub const OPUS_RTP_CLOCK: u32 = 48_000;
/// The largest payload libopus produces for one frame.
const MAX_PACKET: usize = 1275;

#[derive(Debug, thiserror::Error)]
pub enum OpusError {
    #[error("{0} Hz is not an Opus rate (8000, 12000, 16000, 24000, 48000)")]
    UnsupportedRate(u32),
    #[error("{samples} samples at {rate} Hz is not an Opus frame (2.5 to 60 ms)")]
    BadFrame { samples: usize, rate: u32 },
    #[error("libopus: {0}")]
    Codec(#[from] audiopus::Error),
}

fn sample_rate(rate: u32) -> Result<SampleRate, OpusError> {
    Ok(match rate {
        8000 => SampleRate::Hz8000,
        12000 => SampleRate::Hz12000,
        16000 => SampleRate::Hz16000,
        24000 => SampleRate::Hz24000,
        48000 => SampleRate::Hz48000,
        _ => return Err(OpusError::UnsupportedRate(rate)),
    })
}

pub struct OpusDecoder {
    inner: Decoder,
    rate: u32,
    buffer: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A mono decoder producing PCM at `output_rate`; stereo streams are mixed down.
    pub fn new(output_rate: u32) -> Result<Self, OpusError> {
        let inner = Decoder::new(sample_rate(output_rate)?, Channels::Mono)?;
        Ok(OpusDecoder {
            inner,
            rate: output_rate,
            // The longest Opus packet holds 120 ms.
            buffer: vec![0; output_rate as usize * 120 / 1000],
        })
    }

    pub fn output_rate(&self) -> u32 {
        self.rate
    }

    /// Decodes one RTP payload, appending its samples to `out`; returns how many.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, OpusError> {
        let packet = Packet::try_from(payload)?;
        let signals = MutSignals::try_from(&mut self.buffer[..])?;
        let n = self.inner.decode(Some(packet), signals, false)?;
        out.extend_from_slice(&self.buffer[..n]);
        Ok(n)
    }

    /// Fills `samples` (a multiple of 2.5 ms, at most 120 ms) of a lost packet with libopus's
    /// concealment instead of silence.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<usize, OpusError> {
        let len = samples.min(self.buffer.len());
        let signals = MutSignals::try_from(&mut self.buffer[..len])?;
        let n = self.inner.decode(None, signals, false)?;
        out.extend_from_slice(&self.buffer[..n]);
        Ok(n)
    }

    /// Length (samples at the output rate) of the frame that `next_payload`'s in-band FEC
    /// would restore: the frame before it, at `next_payload`'s frame size.
    pub fn fec_samples(&self, next_payload: &[u8]) -> Option<usize> {
        let packet = Packet::try_from(next_payload).ok()?;
        samples_per_frame(packet, sample_rate(self.rate).ok()?)
            .ok()
            .filter(|&n| n > 0 && n <= self.buffer.len())
    }

    /// Fills the last frame of a loss from the in-band FEC (a coarser copy of the previous
    /// frame) that `next_payload` carries, appending [`Self::fec_samples`] samples; libopus
    /// conceals instead when the packet carries none. `next_payload` is then decoded as usual.
    pub fn recover(&mut self, next_payload: &[u8], out: &mut Vec<i16>) -> Result<usize, OpusError> {
        let len = self.fec_samples(next_payload).unwrap_or(0);
        let packet = Packet::try_from(next_payload)?;
        let signals = MutSignals::try_from(&mut self.buffer[..len])?;
        let n = self.inner.decode(Some(packet), signals, true)?;
        out.extend_from_slice(&self.buffer[..n]);
        Ok(n)
    }
}

pub struct OpusEncoder {
    inner: Encoder,
    rate: u32,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// A mono VoIP encoder for PCM at `input_rate`.
    pub fn new(input_rate: u32) -> Result<Self, OpusError> {
        let inner = Encoder::new(sample_rate(input_rate)?, Channels::Mono, Application::Voip)?;
        Ok(OpusEncoder {
            inner,
            rate: input_rate,
        })
    }

    /// Encodes exactly one frame (2.5, 5, 10, 20, 40 or 60 ms of samples).
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, OpusError> {
        let per_2_5_ms = self.rate as usize / 400;
        let valid = [1, 2, 4, 8, 16, 24].map(|k| k * per_2_5_ms);
        if !valid.contains(&pcm.len()) {
            return Err(OpusError::BadFrame {
                samples: pcm.len(),
                rate: self.rate,
            });
        }
        let mut out = vec![0u8; MAX_PACKET];
        let n = self.inner.encode(pcm, &mut out)?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
impl OpusEncoder {
    /// Adds in-band FEC sized for `loss_percent`, as a caller's phone may (24 kbit/s, enough
    /// for libopus to carry it).
    pub(crate) fn add_fec(&mut self, loss_percent: u8) {
        self.inner.set_inband_fec(true).unwrap();
        self.inner.set_packet_loss_perc(loss_percent).unwrap();
        self.inner
            .set_bitrate(audiopus::Bitrate::BitsPerSecond(24000))
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(rate: u32, freq: f32, amplitude: f32, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|n| (amplitude * (2.0 * PI * freq * n as f32 / rate as f32).sin()) as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&s| (s as f32).powi(2)).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    fn fraction_at(x: &[i16], rate: u32, freq: f32) -> f32 {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (n, &s) in x.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * freq as f64 * n as f64 / rate as f64;
            re += s as f64 * w.cos();
            im -= s as f64 * w.sin();
        }
        let tone = 2.0 * (re * re + im * im) / (x.len() as f64).powi(2);
        let total = x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64;
        (tone / total) as f32
    }

    fn round_trip(encode_rate: u32, decode_rate: u32) -> Vec<i16> {
        let mut enc = OpusEncoder::new(encode_rate).unwrap();
        let mut dec = OpusDecoder::new(decode_rate).unwrap();
        let input = sine(encode_rate, 1000.0, 8000.0, encode_rate as usize);
        let mut out = Vec::new();
        for frame in input.chunks(encode_rate as usize / 50) {
            let payload = enc.encode(frame).unwrap();
            assert!(payload.len() < 400, "{} bytes for 20 ms", payload.len());
            let n = dec.decode(&payload, &mut out).unwrap();
            assert_eq!(n, decode_rate as usize / 50);
        }
        out
    }

    #[test]
    fn a_tone_survives_encode_and_decode_at_16k() {
        let out = round_trip(16000, 16000);
        assert_eq!(out.len(), 16000);
        let steady = &out[4000..12000];
        assert!(fraction_at(steady, 16000, 1000.0) > 0.95);
        let level_db = 20.0 * (rms(steady) / (8000.0 / 2f32.sqrt())).log10();
        assert!(level_db.abs() < 1.5, "level off by {level_db} dB");
    }

    #[test]
    fn decoding_at_8k_gives_telephony_frames() {
        let out = round_trip(48000, 8000);
        assert_eq!(out.len(), 8000);
        assert!(fraction_at(&out[2000..6000], 8000, 1000.0) > 0.95);
    }

    #[test]
    fn a_lost_packet_is_concealed_with_audio_not_silence() {
        let mut enc = OpusEncoder::new(16000).unwrap();
        let mut dec = OpusDecoder::new(16000).unwrap();
        let input = sine(16000, 500.0, 8000.0, 3200);
        let mut out = Vec::new();
        for frame in input.chunks(320).take(9) {
            dec.decode(&enc.encode(frame).unwrap(), &mut out).unwrap();
        }
        let before = out.len();
        assert_eq!(dec.conceal(320, &mut out).unwrap(), 320);
        assert!(rms(&out[before..]) > 1000.0, "concealment is not silence");
    }

    #[test]
    fn a_lost_frame_comes_back_from_the_next_packets_fec_closer_than_concealment() {
        let mut enc = OpusEncoder::new(8000).unwrap();
        enc.add_fec(20);
        // A voice-like glide (pitch 200 +- 150 Hz at 1.5 Hz, loudness at 3 Hz): it changes
        // every frame, so guessing forward
        // from the frame before the loss goes wrong and the FEC copy does not.
        let input: Vec<i16> = (0..16000)
            .map(|n| {
                let t = n as f32 / 8000.0;
                let phase =
                    2.0 * PI * (200.0 * t - 150.0 / (2.0 * PI * 1.5) * (2.0 * PI * 1.5 * t).cos());
                let level = 6000.0 * (0.6 + 0.4 * (2.0 * PI * 3.0 * t).sin());
                (level * (phase.sin() + 0.5 * (2.0 * phase).sin())) as i16
            })
            .collect();
        let payloads: Vec<Vec<u8>> = input.chunks(160).map(|f| enc.encode(f).unwrap()).collect();
        let decode_all = |lost: Option<usize>, fec: bool| {
            let mut dec = OpusDecoder::new(8000).unwrap();
            let mut out = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                if Some(i) == lost {
                    continue;
                }
                if i > 0 && Some(i - 1) == lost {
                    if fec {
                        assert_eq!(dec.fec_samples(p), Some(160));
                        assert_eq!(dec.recover(p, &mut out).unwrap(), 160);
                    } else {
                        assert_eq!(dec.conceal(160, &mut out).unwrap(), 160);
                    }
                }
                dec.decode(p, &mut out).unwrap();
            }
            out
        };
        let reference = decode_all(None, false);
        let error = |out: &[i16], frame: usize| {
            let range = frame * 160..(frame + 1) * 160;
            out[range.clone()]
                .iter()
                .zip(&reference[range])
                .map(|(&a, &b)| (a as f32 - b as f32).powi(2))
                .sum::<f32>()
        };
        let (mut fec_error, mut plc_error) = (0.0, 0.0);
        for lost in [20, 35, 50, 65, 80] {
            let fec = decode_all(Some(lost), true);
            let plc = decode_all(Some(lost), false);
            assert_eq!((fec.len(), plc.len()), (reference.len(), reference.len()));
            fec_error += error(&fec, lost);
            plc_error += error(&plc, lost);
        }
        // Measured: FEC 1.6e7, concealment 9.6e9 (squared error over the five frames).
        assert!(
            fec_error * 4.0 < plc_error,
            "FEC error {fec_error:.3e}, concealment error {plc_error:.3e}"
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut enc = OpusEncoder::new(16000).unwrap();
        assert!(matches!(
            enc.encode(&[0; 300]),
            Err(OpusError::BadFrame { samples: 300, .. })
        ));
        assert!(matches!(
            OpusDecoder::new(44100),
            Err(OpusError::UnsupportedRate(44100))
        ));
        let mut dec = OpusDecoder::new(16000).unwrap();
        let mut out = Vec::new();
        assert!(dec.decode(&[], &mut out).is_err());
        assert!(
            dec.decode(&[0x03], &mut out).is_err(),
            "code 3 without a count byte"
        );
        let mut state = 99u32;
        for len in 1..200 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let _ = dec.decode(&junk, &mut out);
        }
        assert!(out.len() <= 199 * 1920);
    }
}
