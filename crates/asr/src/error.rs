use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("speech model directory {0} does not exist (install one with models/install.sh)")]
    ModelMissing(PathBuf),
    #[error("Vosk could not load the model in {0}")]
    ModelLoad(PathBuf),
    #[error("cannot build the model overlay {path} (the decoder options' copy of the model's settings): {source}")]
    ModelOverlay {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read vocabulary file {path}: {source}")]
    VocabularyRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("vocabulary file {0} lists no words")]
    VocabularyEmpty(PathBuf),
    #[error("cannot read the model's lexicon {path}: {source}")]
    LexiconRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model's lexicon {path} is not in the expected form: {reason}")]
    LexiconFormat { path: PathBuf, reason: &'static str },
    #[error("Vosk could not create a recognizer (is the vocabulary valid for this model?)")]
    RecognizerCreate,
    #[error("all {0} recognition slots are busy")]
    Busy(usize),
    #[error("audio arrives faster than it can be recognized; session abandoned")]
    Overloaded,
}
