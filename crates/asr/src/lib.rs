//! Embedded Vosk speech recognition.
//!
//! One [`SpeechModel`] is loaded per process and shared. Each listening call
//! opens a [`Session`] on the [`Recognizer`]'s bounded pool of worker threads
//! (recognition is CPU-bound and must not run on the async runtime), pushes
//! its audio frames as they arrive and receives partial results and one final
//! [`Transcript`] with N-best alternatives. When the pool is full a session is
//! refused at once ([`AsrError::Busy`]) so the caller can fall back to another
//! factor instead of queueing without bound.

mod decoys;
mod dither;
mod endpointer;
mod error;
mod filler;
mod lag;
mod lexicon;
mod load;
mod model;
mod nuclei;
mod pool;
mod recent;
mod session;
mod transcript;
mod vocabulary;

pub use decoys::{with_decoys, DecoyConfig};
pub use endpointer::{Decision, Endpointer, EndpointerConfig};
pub use error::AsrError;
pub use filler::Filler;
pub use lexicon::{Lexicon, LexiconWord};
pub use model::{test_model_dir, DecoderOptions, SpeechModel};
pub use nuclei::{syllable_nuclei, NucleiConfig, NucleusTrack};
pub use pool::{PoolLoad, Recognizer, RecognizerConfig, WORKER_THREAD_PREFIX};
pub use session::{ListenOptions, RecognitionEvent, Session};
pub use transcript::{Alternative, Transcript, TurnEnd, TurnTiming, WordTiming};
pub use vocabulary::Vocabulary;
