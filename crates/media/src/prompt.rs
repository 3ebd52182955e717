//! Prompt audio from WAV files (16-bit PCM, any rate, any channel count), converted to
//! mono at the call's codec rate, ready for the [`crate::pacer::Pacer`].

use std::io::Read;

use crate::resample::{resample_clip, ResampleError};

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("not a readable WAV file: {0}")]
    Wav(#[from] hound::Error),
    #[error("{bits}-bit {format:?} WAV; prompts must be 16-bit integer PCM")]
    UnsupportedFormat {
        bits: u16,
        format: hound::SampleFormat,
    },
    #[error(transparent)]
    Resample(#[from] ResampleError),
}

/// Reads a whole WAV stream and returns mono samples at `target_rate`.
pub fn load_wav<R: Read>(reader: R, target_rate: u32) -> Result<Vec<i16>, PromptError> {
    let reader = hound::WavReader::new(reader)?;
    let spec = reader.spec();
    if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(PromptError::UnsupportedFormat {
            bits: spec.bits_per_sample,
            format: spec.sample_format,
        });
    }
    let interleaved = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<i16>, _>>()?;
    let channels = spec.channels.max(1) as usize;
    let mono: Vec<i16> = interleaved
        .chunks_exact(channels)
        .map(|frame| (frame.iter().map(|&s| s as i32).sum::<i32>() / channels as i32) as i16)
        .collect();
    Ok(resample_clip(&mono, spec.sample_rate, target_rate)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav(rate: u32, channels: u16, bits: u16, samples: &[i32]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for &s in samples {
            writer.write_sample(s).unwrap();
        }
        writer.finalize().unwrap();
        bytes.into_inner()
    }

    #[test]
    fn stereo_16k_becomes_mono_8k() {
        // Left is a 500 Hz tone, right is its negation plus 1000: mono is a constant 500.
        let frames = 16000;
        let mut samples = Vec::new();
        for n in 0..frames {
            let x =
                (8000.0 * (2.0 * std::f32::consts::PI * 500.0 * n as f32 / 16000.0).sin()) as i32;
            samples.extend([x, 1000 - x]);
        }
        let pcm = load_wav(Cursor::new(wav(16000, 2, 16, &samples)), 8000).unwrap();
        assert_eq!(pcm.len(), 8000);
        let middle = &pcm[1000..7000];
        assert!(
            middle.iter().all(|&s| (s - 500).abs() <= 5),
            "mono mix is wrong"
        );
    }

    #[test]
    fn same_rate_mono_is_unchanged() {
        let samples: Vec<i32> = (0..800).map(|n| (n % 100) * 10 - 500).collect();
        let pcm = load_wav(Cursor::new(wav(8000, 1, 16, &samples)), 8000).unwrap();
        let expected: Vec<i16> = samples.iter().map(|&s| s as i16).collect();
        assert_eq!(pcm, expected);
    }

    #[test]
    fn other_formats_and_garbage_are_errors() {
        let wide = wav(8000, 1, 24, &[1, 2, 3]);
        assert!(matches!(
            load_wav(Cursor::new(wide), 8000),
            Err(PromptError::UnsupportedFormat { bits: 24, .. })
        ));
        assert!(matches!(
            load_wav(Cursor::new(b"RIFF....not a wav".to_vec()), 8000),
            Err(PromptError::Wav(_))
        ));
    }
}
