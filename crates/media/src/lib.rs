//! RTP media: sessions, codecs, DTMF, prompt playback. Filled in by the media issue.
