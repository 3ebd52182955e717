//! Spoken prompts: text rendered by espeak-ng once, kept as a WAV file in a
//! cache directory and as PCM in memory. A WAV file named after the prompt in
//! the override directory replaces the synthesised voice.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;

pub struct Tts {
    voice: String,
    cache_dir: PathBuf,
    overrides: Option<PathBuf>,
    rate: u32,
    memory: Mutex<HashMap<String, Arc<[i16]>>>,
}

impl Tts {
    pub fn new(voice: &str, cache_dir: &Path, overrides: Option<&Path>, rate: u32) -> Tts {
        Tts {
            voice: voice.to_string(),
            cache_dir: cache_dir.to_path_buf(),
            overrides: overrides.map(Path::to_path_buf),
            rate,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The audio for a prompt already rendered, without waiting.
    pub fn cached(&self, name: &str, text: &str) -> Option<Arc<[i16]>> {
        let key = format!("{}\u{0}{}\u{0}{}", self.voice, name, text);
        self.memory.lock().ok().and_then(|m| m.get(&key).cloned())
    }

    /// PCM at the call's rate for `text`, or the override WAV for `name`.
    pub async fn render(&self, name: &str, text: &str) -> anyhow::Result<Arc<[i16]>> {
        let key = format!("{}\u{0}{}\u{0}{}", self.voice, name, text);
        if let Some(pcm) = self.memory.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(pcm);
        }
        let (file, synthesised) = match self
            .overrides
            .as_ref()
            .map(|d| d.join(format!("{name}.wav")))
        {
            Some(path) if path.is_file() => (path, false),
            _ => (self.synthesise(text).await?, true),
        };
        let rate = self.rate;
        let mut pcm = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<i16>> {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            media::load_wav(std::io::BufReader::new(f), rate)
                .with_context(|| format!("reading {}", file.display()))
        })
        .await??;
        if synthesised {
            trim_leading_silence(&mut pcm);
        }
        let pcm: Arc<[i16]> = Arc::from(pcm);
        if let Ok(mut m) = self.memory.lock() {
            m.insert(key, pcm.clone());
        }
        Ok(pcm)
    }

    async fn synthesise(&self, text: &str) -> anyhow::Result<PathBuf> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.voice, text).hash(&mut h);
        let path = self.cache_dir.join(format!("{:016x}.wav", h.finish()));
        if path.is_file() {
            return Ok(path);
        }
        std::fs::create_dir_all(&self.cache_dir)
            .with_context(|| format!("creating {}", self.cache_dir.display()))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let status = tokio::process::Command::new("espeak-ng")
            .args(["-v", &self.voice, "-w"])
            .arg(&tmp)
            .arg(text)
            .status()
            .await
            .context("running espeak-ng (install the espeak-ng package)")?;
        anyhow::ensure!(status.success(), "espeak-ng failed with {status}");
        std::fs::rename(&tmp, &path).with_context(|| format!("storing {}", path.display()))?;
        Ok(path)
    }
}

/// espeak-ng starts every clip with about 50 ms of digital silence: the
/// caller would wait that much longer for every prompt, the reply to their
/// passphrase too. Samples this close to zero before the first louder one
/// go (an operator's recording is played as recorded).
/// Prompts cached on disk are trimmed when loaded.
const SILENCE_AMPLITUDE: i16 = 2;

fn trim_leading_silence(pcm: &mut Vec<i16>) {
    let quiet = pcm
        .iter()
        .take_while(|s| s.unsigned_abs() <= SILENCE_AMPLITUDE as u16)
        .count();
    // A clip that is all silence stays as it is: it still lasts.
    if quiet < pcm.len() {
        pcm.drain(..quiet);
    }
}

/// The tone that tells the caller to speak: 400 ms of 1 kHz.
pub fn beep(rate: u32) -> Vec<i16> {
    let n = rate as usize * 2 / 5;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn text_is_synthesised_once_and_overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = dir.path().join("prompts");
        std::fs::create_dir_all(&overrides).unwrap();
        let tts = Tts::new("en", &dir.path().join("cache"), Some(&overrides), 8000);
        let a = tts
            .render("greeting", "Welcome to Passgate.")
            .await
            .unwrap();
        assert!(
            a.len() > 8000 / 2,
            "about a second of speech at 8 kHz: {}",
            a.len()
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("cache")).unwrap().count(),
            1
        );
        let b = tts
            .render("greeting", "Welcome to Passgate.")
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b), "served from memory");
        // An operator's recording replaces the voice.
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(overrides.join("goodbye.wav"), spec).unwrap();
        for _ in 0..16000 {
            w.write_sample(1000i16).unwrap();
        }
        w.finalize().unwrap();
        let recorded = tts.render("goodbye", "Goodbye.").await.unwrap();
        assert!(
            (7900..=8100).contains(&recorded.len()),
            "resampled to 8 kHz: {}",
            recorded.len()
        );
    }

    #[test]
    fn leading_digital_silence_is_trimmed_and_nothing_after_it() {
        let mut pcm = vec![0, 1, -2, 0, 300, 0, 0, 5, 0];
        trim_leading_silence(&mut pcm);
        assert_eq!(pcm, vec![300, 0, 0, 5, 0]);
        let mut silent = vec![0i16; 10];
        trim_leading_silence(&mut silent);
        assert_eq!(silent.len(), 10);
    }

    #[test]
    fn the_beep_is_400_ms() {
        assert_eq!(beep(8000).len(), 3200);
    }
}
