//! The accuracy benchmark's clips: espeak-ng speech after silence, in
//! background noise, everything random about a clip drawn from a seed fixed
//! by what the clip is.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use super::{Clip, Set, PASSPHRASE, TRUE_TAKES};

/// Every clip once, as 16-bit 8 kHz WAV: speech after leading silence, with
/// pink or brown noise about 25 dB below it throughout.
pub(super) fn synthesise(dir: &Path, sets: &[Set], quick: bool) -> anyhow::Result<Vec<Clip>> {
    let mut clips = Vec::new();
    for &set in sets {
        let mut said: Vec<(&'static str, Option<&'static str>)> =
            vec![(PASSPHRASE, None); TRUE_TAKES];
        said.extend(set.impostors().iter().map(|&(t, k)| (t, Some(k))));
        let voices = if quick {
            &set.voices()[..1]
        } else {
            set.voices()
        };
        for &voice in voices {
            for &speed in set.speeds() {
                for (take, &(text, impostor)) in said.iter().enumerate() {
                    let n = clips.len();
                    let wav = dir.join(format!("clip{n}.wav"));
                    let seed = clip_seed(set, voice, speed, text, take);
                    speak(dir, text, voice, speed, seed, &wav)?;
                    clips.push(Clip {
                        set,
                        seed,
                        voice,
                        speed,
                        text,
                        impostor,
                        wav,
                    });
                }
            }
        }
        eprintln!("accuracy: {} voices synthesised", set.name());
    }
    Ok(clips)
}

/// A clip's seed: FNV-1a over what the clip is (its set, voice, speed,
/// words and take), stable across runs, builds and the sets chosen.
fn clip_seed(set: Set, voice: &str, speed: u32, text: &str, take: usize) -> u64 {
    let described = format!("{}|{voice}|{speed}|{text}|{take}", set.name());
    described.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The seed of the packets lost for one clip at one loss.
pub(super) fn loss_seed(clip_seed: u64, loss: f64) -> u64 {
    clip_seed ^ ((loss * 100.0) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// RMS of the background noise, of full scale: what `sox synth
/// pinknoise vol 0.03` and `brownnoise vol 0.01` gave, about 25 dB below
/// espeak-ng's speech.
const NOISE_RMS: f64 = 0.0058;

fn speak(
    dir: &Path,
    text: &str,
    voice: &str,
    speed: u32,
    seed: u64,
    wav: &Path,
) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    // 0.5-2 s of silence first, and pink or brown noise.
    let lead = 0.5 + f64::from(random.random_range(0..16u32)) * 0.1;
    let pink = random.random_bool(0.5);
    let raw = dir.join("raw.wav");
    let padded = dir.join("padded.wav");
    run_tool(
        Command::new("espeak-ng")
            .args(["-v", voice, "-s", &speed.to_string(), "-w"])
            .arg(&raw)
            .arg(text),
    )?;
    // -D: no dither, which sox would draw at random.
    run_tool(
        Command::new("sox")
            .arg("-D")
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16"])
            .arg(&padded)
            .args(["pad", &format!("{lead:.1}"), "1"]),
    )?;
    let speech: Vec<i16> = hound::WavReader::open(&padded)?
        .samples::<i16>()
        .collect::<Result<_, _>>()?;
    let noise = noise(&mut random, speech.len(), pink);
    let mut out = hound::WavWriter::create(
        wav,
        hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )?;
    for (s, n) in speech.iter().zip(&noise) {
        let mixed = f64::from(*s) + n * 32768.0;
        out.write_sample(mixed.round().clamp(-32768.0, 32767.0) as i16)?;
    }
    out.finalize()?;
    Ok(())
}

/// `len` samples of pink (Paul Kellet's filter over white noise) or brown
/// (leaky integrated white noise) noise at `NOISE_RMS`, drawn from `random`.
fn noise(random: &mut impl rand::Rng, len: usize, pink: bool) -> Vec<f64> {
    let mut b = [0.0f64; 7];
    let mut brown = 0.0f64;
    let mut out: Vec<f64> = (0..len)
        .map(|_| {
            let white: f64 = random.random_range(-1.0..1.0);
            if pink {
                b[0] = 0.99886 * b[0] + white * 0.0555179;
                b[1] = 0.99332 * b[1] + white * 0.0750759;
                b[2] = 0.96900 * b[2] + white * 0.1538520;
                b[3] = 0.86650 * b[3] + white * 0.3104856;
                b[4] = 0.55000 * b[4] + white * 0.5329522;
                b[5] = -0.7616 * b[5] - white * 0.0168980;
                let pink = b.iter().sum::<f64>() + white * 0.5362;
                b[6] = white * 0.115926;
                pink
            } else {
                brown = 0.995 * brown + white * 0.1;
                brown
            }
        })
        .collect();
    let rms = (out.iter().map(|x| x * x).sum::<f64>() / len.max(1) as f64).sqrt();
    if rms > 0.0 {
        out.iter_mut().for_each(|x| *x *= NOISE_RMS / rms);
    }
    out
}

fn run_tool(command: &mut Command) -> anyhow::Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_clip_draws_the_same_noise_and_losses_in_every_run() {
        let seed = clip_seed(Set::Tuning, "ko", 175, "하얀 말", 0);
        assert_eq!(seed, clip_seed(Set::Tuning, "ko", 175, "하얀 말", 0));
        // Another take, set or loss draws anew.
        assert_ne!(seed, clip_seed(Set::Tuning, "ko", 175, "하얀 말", 1));
        assert_ne!(seed, clip_seed(Set::Reporting, "ko", 175, "하얀 말", 0));
        assert_ne!(loss_seed(seed, 5.0), loss_seed(seed, 10.0));
        for pink in [true, false] {
            let draw = || noise(&mut rand::rngs::StdRng::seed_from_u64(seed), 8000, pink);
            let (first, again) = (draw(), draw());
            assert_eq!(first, again);
            let rms = (first.iter().map(|x| x * x).sum::<f64>() / first.len() as f64).sqrt();
            assert!((rms - NOISE_RMS).abs() < 1e-9, "{rms}");
        }
    }
}
