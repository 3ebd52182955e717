//! What admission has learnt, kept in a file across restarts: the delays
//! from admission to a call's turn, the share of calls that listen, and
//! what a turn costs. A node restarted under traffic (an upgrade, a crash)
//! then predicts its callers' turns as it did before instead of from the
//! priors, which let a burst in as if turns were spread evenly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::turn_schedule::{Learnt, STEP};

/// The file's layout version; a file of another is not read.
const VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct LearntFile {
    pub learnt: Learnt,
    pub turn_cost: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LearntFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not what admission keeps: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    step_ms: u64,
    /// Per step after admission, the share of first turns beginning in it.
    delays: Vec<f64>,
    /// How many calls the delays stand for.
    delay_calls: f64,
    listen_share: f64,
    share_calls: f64,
    turn_cost_ms: f64,
}

impl LearntFile {
    /// What was kept at `path` for a schedule over `horizon`; `None` when
    /// there is no file yet.
    pub fn load(path: &Path, horizon: Duration) -> Result<Option<LearntFile>, LearntFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LearntFileError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let invalid = |why: String| LearntFileError::Invalid {
            path: path.to_path_buf(),
            why,
        };
        let disk: OnDisk = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if disk.version != VERSION || disk.step_ms != STEP.as_millis() as u64 {
            return Err(invalid(format!(
                "version {} with {} ms steps, not version {VERSION} with {} ms",
                disk.version,
                disk.step_ms,
                STEP.as_millis()
            )));
        }
        let learnt = Learnt {
            delays: disk.delays,
            delay_calls: disk.delay_calls,
            listen_share: disk.listen_share,
            share_calls: disk.share_calls,
        };
        if !learnt.fits(horizon) {
            return Err(invalid(format!(
                "its delays do not fit asr.admit_window_secs = {}",
                horizon.as_secs()
            )));
        }
        if !(disk.turn_cost_ms.is_finite() && (0.0..=60_000.0).contains(&disk.turn_cost_ms)) {
            return Err(invalid(format!("turn cost {} ms", disk.turn_cost_ms)));
        }
        Ok(Some(LearntFile {
            learnt,
            turn_cost: Duration::from_secs_f64(disk.turn_cost_ms / 1000.0),
        }))
    }

    /// Keeps this at `path`, whole or not at all (written aside, then
    /// renamed over the old).
    pub fn save(&self, path: &Path) -> Result<(), LearntFileError> {
        let disk = OnDisk {
            version: VERSION,
            step_ms: STEP.as_millis() as u64,
            delays: self.learnt.delays.clone(),
            delay_calls: self.learnt.delay_calls,
            listen_share: self.learnt.listen_share,
            share_calls: self.learnt.share_calls,
            turn_cost_ms: self.turn_cost.as_secs_f64() * 1000.0,
        };
        let write = |source| LearntFileError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string_pretty(&disk).map_err(|e| write(e.into()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let aside = path.with_extension("tmp");
        let mut file = std::fs::File::create(&aside).map_err(write)?;
        file.write_all(text.as_bytes()).map_err(write)?;
        file.sync_all().map_err(write)?;
        std::fs::rename(&aside, path).map_err(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HORIZON: Duration = Duration::from_secs(20);

    #[test]
    fn what_is_kept_is_what_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/admission.json");
        assert_eq!(LearntFile::load(&path, HORIZON).unwrap(), None);
        let mut learnt = Learnt::prior(HORIZON);
        learnt.delays = vec![0.0; learnt.delays.len()];
        learnt.delays[4] = 0.75;
        learnt.delays[7] = 0.25;
        learnt.listen_share = 0.5;
        let kept = LearntFile {
            learnt,
            turn_cost: Duration::from_millis(94),
        };
        kept.save(&path).unwrap();
        let read = LearntFile::load(&path, HORIZON).unwrap().unwrap();
        assert_eq!(read.learnt, kept.learnt);
        assert_eq!(read.turn_cost, kept.turn_cost);
    }

    #[test]
    fn a_file_that_does_not_fit_names_itself_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admission.json");
        LearntFile {
            learnt: Learnt::prior(HORIZON),
            turn_cost: Duration::from_millis(90),
        }
        .save(&path)
        .unwrap();
        let err = LearntFile::load(&path, Duration::from_secs(30)).unwrap_err();
        assert!(
            err.to_string().contains("admission.json")
                && err.to_string().contains("asr.admit_window_secs = 30"),
            "{err}"
        );
        std::fs::write(&path, "{\"version\": 1").unwrap();
        let err = LearntFile::load(&path, HORIZON).unwrap_err();
        assert!(matches!(err, LearntFileError::Invalid { .. }), "{err}");
    }
}
