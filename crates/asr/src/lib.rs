//! Embedded Vosk recognizer. Filled in by the recognizer issue.
