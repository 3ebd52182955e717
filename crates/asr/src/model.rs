use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::AsrError;

/// A Vosk model, loaded once and shared by every recognizer.
#[derive(Clone)]
pub struct SpeechModel {
    inner: Arc<vosk::Model>,
    path: PathBuf,
    sample_rate: u32,
}

impl SpeechModel {
    pub fn load(path: &Path) -> Result<SpeechModel, AsrError> {
        if !path.is_dir() {
            return Err(AsrError::ModelMissing(path.to_path_buf()));
        }
        vosk::set_log_level(vosk::LogLevel::Error);
        let model = path
            .to_str()
            .and_then(vosk::Model::new)
            .ok_or_else(|| AsrError::ModelLoad(path.to_path_buf()))?;
        Ok(SpeechModel {
            inner: Arc::new(model),
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

    pub(crate) fn vosk(&self) -> &vosk::Model {
        &self.inner
    }
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
