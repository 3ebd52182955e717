use std::time::{Duration, Instant};

/// One hypothesis of what was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub text: String,
    /// Vosk's score: in N-best mode the hypothesis' total log-likelihood
    /// (higher is better), comparable across recognizers fed the same audio.
    pub confidence: f32,
    /// Heard by the filler decoding ([`crate::Filler`]), not by the
    /// session's own vocabulary.
    pub filler: bool,
    /// When each word of `text` was heard, in order (`[unk]` included);
    /// empty when the recognizer gave no timings.
    pub words: Vec<WordTiming>,
}

/// One recognised word and when it was heard, in seconds from the start of
/// the session's audio (Vosk's word alignment, in 30 ms steps).
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    pub word: String,
    pub start: f32,
    pub end: f32,
}

/// Why a listening turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnd {
    /// Silence after speech.
    EndOfSpeech,
    /// No speech before the no-speech timeout.
    NoSpeech,
    /// The maximum listening time passed.
    MaxDuration,
    /// The caller of the crate finished the session.
    Finished,
    /// Audio came faster than the pool could recognize it.
    Overloaded,
}

/// The final result of a session: N-best alternatives, best first. Empty when
/// nothing was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub alternatives: Vec<Alternative>,
    pub reason: TurnEnd,
    /// Audio received.
    pub audio: Duration,
    /// The part of `audio` the recognizer was given: from
    /// `ListenOptions::pre_roll` before the start of speech to the end
    /// (nothing after a turn with no speech).
    pub recognised: Duration,
    /// Time spent inside the recognizer.
    pub processing: Duration,
    /// The syllable nuclei heard in the turn (voiced peaks of loudness, see
    /// [`crate::NucleusTrack`]), each in seconds from the start of the
    /// session's audio like [`WordTiming`]; empty after a turn with no
    /// speech.
    pub nuclei: Vec<f32>,
    /// When the turn's end was seen and its result made, for latency
    /// accounting; `None` for transcripts not made by a session.
    pub timing: Option<TurnTiming>,
}

/// Wall-clock marks of a turn's end, from the caller's last voiced audio
/// to the final result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnTiming {
    /// When the last voiced frame was handed to the session (`push`).
    pub last_speech_pushed: Option<Instant>,
    /// When a worker decided the turn was over (end-pointer, expected
    /// words, or a finish request).
    pub ended: Instant,
    /// When the final result was ready to send.
    pub decoded: Instant,
}

impl Transcript {
    pub fn best(&self) -> Option<&str> {
        self.alternatives.first().map(|a| a.text.as_str())
    }

    pub(crate) fn from_vosk(result: vosk::CompleteResult<'_>) -> Vec<Alternative> {
        let mut alternatives: Vec<Alternative> = match result {
            vosk::CompleteResult::Multiple(m) => m
                .alternatives
                .iter()
                .map(|a| Alternative {
                    text: a.text.trim().to_string(),
                    confidence: a.confidence,
                    filler: false,
                    words: a
                        .result
                        .iter()
                        .map(|w| WordTiming {
                            word: w.word.to_string(),
                            start: w.start,
                            end: w.end,
                        })
                        .collect(),
                })
                .collect(),
            vosk::CompleteResult::Single(s) => vec![Alternative {
                text: s.text.trim().to_string(),
                confidence: s.result.iter().map(|w| w.conf).fold(1.0, f32::min),
                filler: false,
                words: s
                    .result
                    .iter()
                    .map(|w| WordTiming {
                        word: w.word.to_string(),
                        start: w.start,
                        end: w.end,
                    })
                    .collect(),
            }],
        };
        alternatives.retain(|a| !a.text.is_empty());
        alternatives
    }
}
