//! Sample-rate conversion between telephony (8 kHz), the recogniser (16 kHz) and Opus /
//! prompt files (48 kHz and others), using rubato's synchronous FFT resampler: the rates
//! are fixed per call, and it band-limits properly instead of dropping samples.

use std::collections::VecDeque;
use std::time::Duration;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("a {rate} Hz stream has no whole number of samples in {frame:?}")]
    FrameNotWhole { rate: u32, frame: Duration },
    #[error("cannot build resampler: {0}")]
    Construction(#[from] rubato::ResamplerConstructionError),
    #[error("resampling failed: {0}")]
    Process(#[from] rubato::ResampleError),
    #[error("buffer shape: {0}")]
    Buffer(String),
}

/// Resamples a whole clip (a prompt file), trimming the filter delay so the output lines
/// up with the input and has `len * to / from` samples, rounded up.
pub fn resample_clip(pcm: &[i16], from_hz: u32, to_hz: u32) -> Result<Vec<i16>, ResampleError> {
    if from_hz == to_hz || pcm.is_empty() {
        return Ok(pcm.to_vec());
    }
    let mut resampler =
        Fft::<f32>::new(from_hz as usize, to_hz as usize, 1024, 1, FixedSync::Both)?;
    let input: Vec<f32> = pcm.iter().map(|&s| to_float(s)).collect();
    let adapter = InterleavedSlice::new(&input, 1, input.len())
        .map_err(|e| ResampleError::Buffer(e.to_string()))?;
    let output = resampler.process_all(&adapter, input.len(), None)?;
    Ok(output.take_data().into_iter().map(to_i16).collect())
}

/// Streams fixed-length frames (normally 20 ms) from one rate to another.
///
/// Output lags input by [`FrameResampler::delay_samples`] (the FFT overlap); the first
/// frames out therefore start with that much silence.
pub struct FrameResampler {
    inner: Fft<f32>,
    in_frame: usize,
    out_frame: usize,
    input: Vec<f32>,
    scratch: Vec<f32>,
    output: VecDeque<i16>,
}

impl std::fmt::Debug for FrameResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameResampler")
            .field("in_frame", &self.in_frame)
            .field("out_frame", &self.out_frame)
            .finish_non_exhaustive()
    }
}

impl FrameResampler {
    pub fn new(from_hz: u32, to_hz: u32, frame: Duration) -> Result<Self, ResampleError> {
        let in_frame = whole_samples(from_hz, frame)?;
        let out_frame = whole_samples(to_hz, frame)?;
        let inner = Fft::<f32>::new(
            from_hz as usize,
            to_hz as usize,
            in_frame.max(1),
            1,
            FixedSync::Both,
        )?;
        let scratch = vec![0.0; inner.output_frames_max()];
        Ok(FrameResampler {
            inner,
            in_frame,
            out_frame,
            input: Vec::new(),
            scratch,
            output: VecDeque::new(),
        })
    }

    /// Whether [`FrameResampler::new`] accepts these shapes, without
    /// building the FFT (which is what a resampler costs to create).
    pub fn check(from_hz: u32, to_hz: u32, frame: Duration) -> Result<(), ResampleError> {
        whole_samples(from_hz, frame)?;
        whole_samples(to_hz, frame)?;
        Ok(())
    }

    pub fn input_frame_len(&self) -> usize {
        self.in_frame
    }

    pub fn output_frame_len(&self) -> usize {
        self.out_frame
    }

    /// Output samples by which the stream lags its input.
    pub fn delay_samples(&self) -> usize {
        self.inner.output_delay()
    }

    /// Accepts PCM of any length at the input rate.
    pub fn push(&mut self, pcm: &[i16]) -> Result<(), ResampleError> {
        self.input.extend(pcm.iter().map(|&s| to_float(s)));
        loop {
            let needed = self.inner.input_frames_next();
            if self.input.len() < needed {
                return Ok(());
            }
            let in_adapter = InterleavedSlice::new(&self.input[..needed], 1, needed)
                .map_err(|e| ResampleError::Buffer(e.to_string()))?;
            let capacity = self.scratch.len();
            let mut out_adapter = InterleavedSlice::new_mut(&mut self.scratch, 1, capacity)
                .map_err(|e| ResampleError::Buffer(e.to_string()))?;
            let (used, written) =
                self.inner
                    .process_into_buffer(&in_adapter, &mut out_adapter, None)?;
            self.output
                .extend(self.scratch[..written].iter().map(|&x| to_i16(x)));
            self.input.drain(..used);
        }
    }

    /// One frame at the output rate, once enough input has arrived.
    pub fn pop_frame(&mut self) -> Option<Vec<i16>> {
        if self.output.len() < self.out_frame {
            return None;
        }
        Some(self.output.drain(..self.out_frame).collect())
    }
}

fn whole_samples(rate: u32, frame: Duration) -> Result<usize, ResampleError> {
    let scaled = rate as u128 * frame.as_nanos();
    if scaled == 0 || !scaled.is_multiple_of(1_000_000_000) {
        return Err(ResampleError::FrameNotWhole { rate, frame });
    }
    Ok((scaled / 1_000_000_000) as usize)
}

fn to_float(s: i16) -> f32 {
    s as f32 / 32768.0
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(rate: u32, freq: f32, amplitude: f32, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|n| (amplitude * (2.0 * PI * freq * n as f32 / rate as f32).sin()).round() as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&s| (s as f32).powi(2)).sum::<f32>() / x.len() as f32).sqrt()
    }

    /// Power at `freq` relative to total power, via a single DFT bin.
    fn fraction_at(x: &[i16], rate: u32, freq: f32) -> f32 {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (n, &s) in x.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * freq as f64 * n as f64 / rate as f64;
            re += s as f64 * w.cos();
            im -= s as f64 * w.sin();
        }
        let tone_power = 2.0 * (re * re + im * im) / (x.len() as f64).powi(2);
        let total: f64 = x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64;
        (tone_power / total) as f32
    }

    fn db(ratio: f32) -> f32 {
        20.0 * ratio.log10()
    }

    #[test]
    fn one_khz_survives_8k_to_16k_and_back() {
        let original = sine(8000, 1000.0, 10_000.0, 8000);
        let up = resample_clip(&original, 8000, 16000).unwrap();
        assert_eq!(up.len(), 16000);
        let mid = &up[2000..14000];
        assert!(
            fraction_at(mid, 16000, 1000.0) > 0.99,
            "frequency kept at 16 kHz"
        );
        // Repeating samples would leave an image at 7 kHz about 24 dB down; a real
        // interpolation filter leaves far less.
        assert!(fraction_at(mid, 16000, 7000.0) < 1e-5, "image at 7 kHz");
        assert!(
            db(rms(mid) / rms(&original)).abs() < 1.0,
            "level within 1 dB"
        );

        let back = resample_clip(&up, 16000, 8000).unwrap();
        assert_eq!(back.len(), original.len());
        let err: Vec<i16> = back[500..7500]
            .iter()
            .zip(&original[500..7500])
            .map(|(a, b)| a - b)
            .collect();
        assert!(
            rms(&err) / rms(&original) < 0.01,
            "round trip error {}",
            rms(&err)
        );
    }

    #[test]
    fn all_telephony_rate_pairs_keep_length_frequency_and_level() {
        let rates = [8000u32, 16000, 48000];
        for &from in &rates {
            for &to in &rates {
                let input = sine(from, 1000.0, 8000.0, from as usize / 2);
                let out = resample_clip(&input, from, to).unwrap();
                assert_eq!(out.len(), to as usize / 2, "{from}->{to}");
                let mid = &out[out.len() / 8..out.len() * 7 / 8];
                assert!(fraction_at(mid, to, 1000.0) > 0.99, "{from}->{to}");
                assert!(db(rms(mid) / rms(&input)).abs() < 1.0, "{from}->{to}");
            }
        }
    }

    #[test]
    fn downsampling_removes_content_above_the_new_nyquist() {
        // 6 kHz exists at 16 kHz but not at 8 kHz: it must be filtered, not folded to 2 kHz.
        let input = sine(16000, 6000.0, 10_000.0, 16000);
        let out = resample_clip(&input, 16000, 8000).unwrap();
        let mid = &out[1000..7000];
        assert!(rms(mid) < 100.0, "alias energy left: rms {}", rms(mid));
    }

    #[test]
    fn frames_of_20_ms_stream_from_8k_to_16k() {
        let mut r = FrameResampler::new(8000, 16000, Duration::from_millis(20)).unwrap();
        assert_eq!((r.input_frame_len(), r.output_frame_len()), (160, 320));
        let input = sine(8000, 1000.0, 10_000.0, 8000);
        let mut out = Vec::new();
        for frame in input.chunks(160) {
            r.push(frame).unwrap();
            while let Some(f) = r.pop_frame() {
                assert_eq!(f.len(), 320);
                out.extend(f);
            }
        }
        assert!(
            out.len() >= 16000 - 320 - r.delay_samples(),
            "got {}",
            out.len()
        );
        let steady = &out[out.len() / 4..out.len() * 3 / 4];
        assert!(fraction_at(steady, 16000, 1000.0) > 0.99);
        assert!(db(rms(steady) / rms(&input)).abs() < 1.0);
    }

    #[test]
    fn odd_frame_lengths_are_rejected() {
        assert!(matches!(
            FrameResampler::new(8000, 16000, Duration::from_micros(100)),
            Err(ResampleError::FrameNotWhole { rate: 8000, .. })
        ));
        assert!(FrameResampler::new(0, 16000, Duration::from_millis(20)).is_err());
        assert!(resample_clip(&[1, 2, 3], 0, 8000).is_err());
    }

    #[test]
    fn same_rate_is_a_copy() {
        let pcm = vec![1i16, -2, 3];
        assert_eq!(resample_clip(&pcm, 8000, 8000).unwrap(), pcm);
    }
}
