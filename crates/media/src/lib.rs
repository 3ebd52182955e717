//! RTP media for Passgate: everything between UDP datagrams and 16-bit PCM frames or digits.
//!
//! Every type here is sans-IO: it is fed bytes, samples and `now: Instant` by a driver that
//! owns the socket and the timers, and hands back packets, frames, digits and deadlines.
//! That keeps pacing, jitter and DTMF timeouts testable faster than real time.
//!
//! - [`rtp_packet`]: parse and build RTP packets (webrtc-rs `rtp`); malformed input is an error.
//! - [`rtcp`]: sender/receiver reports and the loss/jitter/RTT numbers for the call record.
//! - [`jitter`]: reorder buffer keyed by extended sequence number, with loss/duplicate counters.
//! - [`g711`]: µ-law and A-law codecs; [`codec`]: which codec an rtpmap names.
//! - [`opus`]: Opus voice via libopus (feature `opus`, on by default).
//! - [`resample`]: 8/16/48 kHz conversion with `rubato`.
//! - [`dtmf_rfc4733`]: telephone-event digits, once per (SSRC, event timestamp).
//! - [`dtmf_inband`]: Goertzel tone detector with Q.24-style checks.
//! - [`plc`]: G.711 Appendix I loss concealment (pitch-waveform replication).
//! - [`pacer`]: prompt playback paced by `now`, with barge-in.
//! - [`prompt`]: WAV prompt files to mono PCM at the codec rate.
//! - [`vad`]: energy voice-activity detection for barge-in.
//! - [`receiver`]: the whole receive path of a call, datagrams to digits and frames.
//! - [`session`]: receiver, pacer and RTCP of one call joined, with barge-in; what
//!   Passgate's media threads drive.
//! - [`srtp`]: SRTP/SRTCP protect and check (RFC 3711, webrtc-rs `webrtc-srtp`).
//! - [`digit`]: the DTMF key type both detectors report.

pub mod codec;
pub mod digit;
pub mod dtmf_inband;
pub mod dtmf_rfc4733;
pub mod g711;
pub mod jitter;
#[cfg(feature = "opus")]
pub mod opus;
pub mod pacer;
pub mod plc;
pub mod prompt;
pub mod receiver;
pub mod resample;
pub mod rtcp;
pub mod rtp_packet;
pub mod session;
pub mod source_latch;
pub mod srtp;
pub mod vad;
pub mod webrtc;

pub use codec::AudioCodec;
pub use digit::Digit;
pub use dtmf_inband::{InbandConfig, InbandDetector, ToneDigit};
pub use dtmf_rfc4733::{EventDigit, Rfc4733Config, Rfc4733Detector};
pub use g711::G711;
pub use jitter::{JitterBuffer, JitterConfig, JitterStats};
#[cfg(feature = "opus")]
pub use opus::{OpusDecoder, OpusEncoder, OpusError};
pub use pacer::{
    BetweenPrompts, ClipId, IdleFill, OutgoingPacket, Pacer, PacerConfig, PacerEvent, Ptime,
};
pub use prompt::{load_wav, PromptError};
pub use receiver::{
    DigitSource, MediaEvent, ReceiverConfig, ReceiverError, ReceiverStats, Routed, RtpReceiver,
};
pub use resample::{resample_clip, FrameResampler, ResampleError};
pub use rtcp::{CallMediaStats, RtcpConfig, RtcpSession};
pub use rtp_packet::{RtpError, RtpPacket};
pub use session::{
    BargeIn, Command as MediaCommand, MediaSession, SessionConfig, SessionError, SessionEvent,
    SessionStats, Transmit,
};
pub use source_latch::{SourceLatch, SourceLearning};
pub use srtp::{Srtp, SrtpConfig, SrtpMaster, SrtpProfile, SrtpStats};
pub use vad::{Vad, VadConfig, VadEvent};
pub use webrtc::{WebRtcCodec, WebRtcError, WebRtcStats, WebRtcTransport};
