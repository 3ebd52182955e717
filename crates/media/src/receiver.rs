//! The receive path of one call's RTP, sans-IO: datagrams in, digits, speech events and
//! 20 ms PCM frames out.
//!
//! ```text
//! datagram ─ parse ─┬─ telephone-event PT ─► RFC 4733 detector ───────────► Digit
//!                   ├─ audio PT ─► jitter ─► decode ─► 20 ms frames ─┬─► in-band DTMF ─► Digit
//!                   │                                                ├─► VAD ─► SpeechStarted/Ended
//!                   │                                                └─► resample ─► Frame (when listening)
//!                   └─ anything else: counted and dropped
//! ```
//!
//! Symmetric RTP: the address of the last valid packet of a negotiated payload type is
//! where the driver should send (callers behind NAT advertise unusable addresses), among
//! the sources [`SourceLatch`] lets in.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::AudioCodec;
use crate::digit::Digit;
use crate::dtmf_inband::{InbandConfig, InbandDetector};
use crate::dtmf_rfc4733::{Rfc4733Config, Rfc4733Detector, Rfc4733Stats};
use crate::g711::G711;
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats};
#[cfg(feature = "opus")]
use crate::opus::{OpusDecoder, OpusError};
use crate::plc::LossConcealer;
use crate::resample::{FrameResampler, ResampleError};
use crate::rtp_packet::RtpPacket;
use crate::source_latch::{SourceLatch, SourceLearning};
use crate::vad::{Vad, VadConfig, VadEvent};

/// Every codec is decoded to 8 kHz: DTMF detection and VAD work there, and the
/// recogniser's rate is reached by one resampler at the end.
const CODEC_RATE: u32 = 8000;
const FRAME: Duration = Duration::from_millis(20);
const FRAME_SAMPLES: usize = 160;
/// Gaps up to this (in 8 kHz samples) are concealed; beyond it the sender jumped.
const MAX_CONCEALED_SAMPLES: u64 = 8000;

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(transparent)]
    Resample(#[from] ResampleError),
    #[cfg(feature = "opus")]
    #[error(transparent)]
    Opus(#[from] OpusError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverConfig {
    /// The negotiated audio payload types.
    pub audio: Vec<(u8, AudioCodec)>,
    /// Set when telephone-event was negotiated.
    pub telephone_event: Option<Rfc4733Config>,
    /// Tone detection in the audio; leave off when telephone-event is negotiated, since
    /// phones that send events often leave the tones in the audio as well.
    pub inband_dtmf: Option<InbandConfig>,
    pub jitter: JitterConfig,
    pub vad: VadConfig,
    /// Rate of the frames handed out (the recogniser wants 16000).
    pub output_rate: u32,
    /// Once the caller's source is learnt from its first good packet, drop
    /// packets from anywhere else ("strict RTP"): otherwise anyone who can
    /// reach the port can inject key presses into an authentication and
    /// pull our prompts to themselves. [`RtpReceiver::forget_remote`]
    /// learns again (a re-INVITE moving the media).
    pub strict_source: bool,
    /// The caller's media address from the SDP: the source learnt is
    /// ranked against it (see [`SourceLatch`]). `None`: any source.
    pub sdp_source: Option<SocketAddr>,
    /// Whether a source of another IP than the SDP's may be learnt.
    pub learn_source: SourceLearning,
}

impl ReceiverConfig {
    pub fn g711(codec: G711, telephone_event_pt: Option<u8>, output_rate: u32) -> Self {
        Self::new(
            vec![(codec.payload_type(), AudioCodec::G711(codec))],
            telephone_event_pt,
            output_rate,
        )
    }

    /// In-band DTMF is on exactly when telephone-event was not negotiated.
    pub fn new(
        audio: Vec<(u8, AudioCodec)>,
        telephone_event_pt: Option<u8>,
        output_rate: u32,
    ) -> Self {
        ReceiverConfig {
            audio,
            telephone_event: telephone_event_pt.map(|payload_type| Rfc4733Config {
                payload_type,
                ..Rfc4733Config::default()
            }),
            inband_dtmf: telephone_event_pt.is_none().then(InbandConfig::default),
            jitter: JitterConfig::default(),
            vad: VadConfig::default(),
            output_rate,
            strict_source: true,
            sdp_source: None,
            learn_source: SourceLearning::default(),
        }
    }
}

/// Where [`RtpReceiver::handle_packet`] sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    TelephoneEvent,
    Audio,
    /// A payload type that was not negotiated: dropped and counted.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    Rfc4733,
    Inband,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Digit {
        digit: Digit,
        source: DigitSource,
        duration: Duration,
    },
    /// 20 ms of PCM at the output rate; only while listening.
    Frame(Vec<i16>),
    SpeechStarted,
    SpeechEnded,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    pub datagrams: u64,
    pub malformed: u64,
    pub unknown_payload_type: u64,
    /// 8 kHz samples made up for audio that was lost on the way.
    pub concealed_samples: u64,
    /// 8 kHz samples of silence for stretches the sender sent no audio for
    /// (a key press carried as telephone events, silence suppression): the
    /// timestamps jumped but no sequence number is missing.
    pub unsent_samples: u64,
    /// Payloads the codec could not decode.
    pub decode_errors: u64,
    /// Packets dropped for coming from a source other than the learnt one.
    pub foreign_source: u64,
    pub jitter: JitterStats,
    pub rfc4733: Rfc4733Stats,
}

#[derive(Debug)]
pub struct RtpReceiver {
    audio: Vec<(u8, AudioCodec)>,
    #[cfg(feature = "opus")]
    opus: Option<OpusDecoder>,
    jitter: JitterBuffer,
    /// Makes up lost G.711 audio (Opus conceals its own).
    concealer: LossConcealer,
    rfc4733: Option<Rfc4733Detector>,
    inband: Option<InbandDetector>,
    vad: Vad,
    /// Built on the first frame heard while listening: creating it (FFT
    /// plans) costs more than the rest of a call's media set-up, and most
    /// calls never listen or listen late.
    resampler: Option<FrameResampler>,
    output_rate: u32,
    /// SSRC and timestamp the next audio packet should carry, and its codec's clock.
    expected: Option<(u32, u32, u32)>,
    pcm: Vec<i16>,
    listening: bool,
    /// Listening opened while the caller was already talking: that utterance
    /// began before the question ended, so only its tail would reach the
    /// recogniser. Its frames are held back until it ends.
    skip_running_speech: bool,
    source: SourceLatch,
    events: VecDeque<MediaEvent>,
    stats: ReceiverStats,
}

impl RtpReceiver {
    pub fn new(config: ReceiverConfig) -> Result<Self, ReceiverError> {
        if config.output_rate != CODEC_RATE {
            FrameResampler::check(CODEC_RATE, config.output_rate, FRAME)?;
        }
        #[cfg(feature = "opus")]
        let opus = if config.audio.iter().any(|(_, c)| *c == AudioCodec::Opus) {
            Some(OpusDecoder::new(CODEC_RATE)?)
        } else {
            None
        };
        Ok(RtpReceiver {
            audio: config.audio,
            #[cfg(feature = "opus")]
            opus,
            jitter: JitterBuffer::new(config.jitter),
            concealer: LossConcealer::new(),
            rfc4733: config.telephone_event.map(Rfc4733Detector::new),
            inband: config.inband_dtmf.map(InbandDetector::new),
            vad: Vad::new(config.vad, CODEC_RATE),
            resampler: None,
            output_rate: config.output_rate,
            expected: None,
            pcm: Vec::with_capacity(2 * FRAME_SAMPLES),
            listening: false,
            skip_running_speech: false,
            source: SourceLatch::new(config.sdp_source, config.learn_source, config.strict_source),
            events: VecDeque::new(),
            stats: ReceiverStats::default(),
        })
    }

    /// Takes a renegotiated set of payload types (a re-INVITE or the answer
    /// in an ACK): what arrives from now on is read by it. The jitter
    /// buffer's stream and the counters carry on, and so does the learnt
    /// source unless the SDP moved the media.
    pub fn renegotiate(&mut self, config: ReceiverConfig) -> Result<(), ReceiverError> {
        if let Some(sdp) = config.sdp_source {
            self.source.moved_to(sdp);
        }
        #[cfg(feature = "opus")]
        if self.opus.is_none() && config.audio.iter().any(|(_, c)| *c == AudioCodec::Opus) {
            self.opus = Some(OpusDecoder::new(CODEC_RATE)?);
        }
        self.audio = config.audio;
        let same_events = self
            .rfc4733
            .as_ref()
            .zip(config.telephone_event.as_ref())
            .is_some_and(|(d, c)| d.payload_type() == c.payload_type);
        if !same_events {
            self.rfc4733 = config.telephone_event.map(Rfc4733Detector::new);
        }
        match config.inband_dtmf {
            Some(inband) if self.inband.is_none() => {
                self.inband = Some(InbandDetector::new(inband))
            }
            Some(_) => {}
            None => self.inband = None,
        }
        // The next packet may be on another clock: nothing to conceal against.
        self.expected = None;
        Ok(())
    }

    /// Frames are produced only while someone (the recogniser) listens. An
    /// utterance under way when listening opens is not heard: the recogniser
    /// gets whole utterances or nothing, never one's tail.
    pub fn set_listening(&mut self, listening: bool) {
        self.skip_running_speech = listening && !self.listening && self.vad.is_speaking();
        self.listening = listening;
    }

    /// Where to send our RTP: the source of the caller's packets, once seen.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.source.remote()
    }

    /// Whether a datagram from `from` is to be read at all: with a strict
    /// source, only the learnt one or one that matches the SDP better
    /// ([`SourceLatch`]). Counts what it refuses.
    pub fn accepts_source(&mut self, from: SocketAddr) -> bool {
        let foreign = !self.source.accepts(from);
        if foreign {
            self.stats.datagrams += 1;
            self.stats.foreign_source += 1;
        }
        !foreign
    }

    /// The learnt source when only it will ever be accepted (the socket may
    /// be connected to it, so the kernel drops the rest before we read them).
    pub fn strict_remote(&self) -> Option<SocketAddr> {
        self.source.settled()
    }

    /// Learn the caller's source again from its next good packet.
    /// The SDP gave the caller's media a new address (a re-INVITE): sources
    /// are ranked against it and the caller's is learnt again. An
    /// unspecified address (a hold, RFC 3264 §8.4) or the same one moves
    /// nothing.
    pub fn remote_moved(&mut self, sdp: SocketAddr) {
        self.source.moved_to(sdp);
    }

    pub fn forget_remote(&mut self) {
        self.source.forget();
    }

    pub fn stats(&self) -> ReceiverStats {
        ReceiverStats {
            jitter: self.jitter.stats(),
            rfc4733: self.rfc4733.as_ref().map(|d| d.stats()).unwrap_or_default(),
            ..self.stats
        }
    }

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if !self.accepts_source(from) {
            return;
        }
        self.stats.datagrams += 1;
        let Ok(packet) = RtpPacket::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        self.handle_packet(now, from, packet);
    }

    /// For a caller that already parsed the datagram (and counted it).
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, packet: RtpPacket) -> Routed {
        if let Some(detector) = &mut self.rfc4733 {
            if detector.handle_packet(now, &packet) {
                self.source.learn(from);
                self.jitter
                    .fill_slot(now, packet.ssrc, packet.sequence_number);
                self.collect_event_digits();
                self.drain_jitter(now);
                return Routed::TelephoneEvent;
            }
        }
        if self.codec(packet.payload_type).is_none() {
            self.stats.unknown_payload_type += 1;
            self.jitter
                .fill_slot(now, packet.ssrc, packet.sequence_number);
            self.drain_jitter(now);
            return Routed::Unknown;
        }
        self.source.learn(from);
        self.jitter.push(now, packet);
        self.drain_jitter(now);
        Routed::Audio
    }

    /// Counts a datagram handled outside (malformed, or parsed by the caller).
    pub fn count_datagram(&mut self, malformed: bool) {
        self.stats.datagrams += 1;
        self.stats.malformed += malformed as u64;
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(detector) = &mut self.rfc4733 {
            detector.handle_timeout(now);
        }
        self.collect_event_digits();
        self.drain_jitter(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let events = self.rfc4733.as_ref().and_then(|d| d.poll_timeout());
        [events, self.jitter.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    fn codec(&self, payload_type: u8) -> Option<AudioCodec> {
        self.audio
            .iter()
            .find(|(pt, _)| *pt == payload_type)
            .map(|(_, codec)| *codec)
    }

    fn collect_event_digits(&mut self) {
        let Some(detector) = &mut self.rfc4733 else {
            return;
        };
        while let Some(d) = detector.poll_digit() {
            self.events.push_back(MediaEvent::Digit {
                digit: d.digit,
                source: DigitSource::Rfc4733,
                duration: d.duration,
            });
        }
    }

    fn drain_jitter(&mut self, now: Instant) {
        while let Some(released) = self.jitter.pop(now) {
            let packet = released.packet;
            let Some(codec) = self.codec(packet.payload_type) else {
                continue;
            };
            self.fill_gap(&packet, codec, released.after_loss);
            let Some(samples) = self.decode(codec, &packet.payload) else {
                self.stats.decode_errors += 1;
                continue;
            };
            let clock = codec.rtp_clock_rate();
            let advance = samples as u64 * clock as u64 / CODEC_RATE as u64;
            self.expected = Some((
                packet.ssrc,
                packet.timestamp.wrapping_add(advance as u32),
                clock,
            ));
            self.emit_frames();
        }
    }

    /// Appends 8 kHz PCM; returns how many samples, or `None` if the payload is corrupt.
    fn decode(&mut self, codec: AudioCodec, payload: &[u8]) -> Option<usize> {
        match codec {
            AudioCodec::G711(law) => {
                let start = self.pcm.len();
                law.decode(payload, &mut self.pcm);
                self.concealer.good_audio(&mut self.pcm[start..]);
                Some(payload.len())
            }
            #[cfg(feature = "opus")]
            AudioCodec::Opus => self.opus.as_mut()?.decode(payload, &mut self.pcm).ok(),
        }
    }

    /// Keeps the frame stream in step with the sender's clock across a jump
    /// in the timestamps: lost audio (`after_loss`) is made up as the codec
    /// or the loss concealer can; a stretch the sender sent no audio for is
    /// silence, as it was at the sender.
    fn fill_gap(&mut self, packet: &RtpPacket, codec: AudioCodec, after_loss: bool) {
        let Some((ssrc, timestamp, clock)) = self.expected else {
            return;
        };
        let gap = packet.timestamp.wrapping_sub(timestamp) as u64 * CODEC_RATE as u64
            / clock.max(1) as u64;
        if ssrc != packet.ssrc || gap == 0 || gap > MAX_CONCEALED_SAMPLES {
            return;
        }
        if !after_loss {
            let start = self.pcm.len();
            self.pcm.resize(start + gap as usize, 0);
            if matches!(codec, AudioCodec::G711(_)) {
                // The silence is what was played: a loss after it replays
                // it, not the audio before it.
                self.concealer.good_audio(&mut self.pcm[start..]);
            }
            self.stats.unsent_samples += gap;
            return;
        }
        let missing = self.codec_concealment(codec, &packet.payload, gap as usize);
        if matches!(codec, AudioCodec::G711(_)) {
            self.concealer.conceal(missing, &mut self.pcm);
        } else {
            self.pcm.resize(self.pcm.len() + missing, 0);
        }
        self.stats.concealed_samples += gap;
    }

    /// Lets the codec make up what it can of `missing` samples before the packet carrying
    /// `next_payload`; returns what is left.
    #[cfg(feature = "opus")]
    fn codec_concealment(
        &mut self,
        codec: AudioCodec,
        next_payload: &[u8],
        mut missing: usize,
    ) -> usize {
        let Some(decoder) = self.opus.as_mut().filter(|_| codec == AudioCodec::Opus) else {
            return missing;
        };
        // The next packet may carry the loss's last frame again (in-band FEC): conceal up
        // to that frame, then decode it.
        let fec = decoder
            .fec_samples(next_payload)
            .filter(|&n| n <= missing)
            .unwrap_or(0);
        // libopus conceals in 2.5 ms steps (20 samples at 8 kHz) of at most 120 ms.
        while missing.saturating_sub(fec) >= 20 {
            let step = ((missing - fec).min(960) / 20) * 20;
            match decoder.conceal(step, &mut self.pcm) {
                Ok(n) if n > 0 => missing = missing.saturating_sub(n),
                _ => break,
            }
        }
        if fec > 0 && missing == fec {
            if let Ok(n) = decoder.recover(next_payload, &mut self.pcm) {
                missing -= n.min(missing);
            }
        }
        missing
    }

    #[cfg(not(feature = "opus"))]
    fn codec_concealment(&mut self, _codec: AudioCodec, _next: &[u8], missing: usize) -> usize {
        missing
    }

    fn emit_frames(&mut self) {
        // Frames are looked at in place: most of a call is not listened to,
        // and a copy per packet would be the receive path's only allocation.
        while self.pcm.len() >= FRAME_SAMPLES {
            let frame = &self.pcm[..FRAME_SAMPLES];
            if let Some(inband) = &mut self.inband {
                inband.push_samples(frame);
                while let Some(d) = inband.poll_digit() {
                    self.events.push_back(MediaEvent::Digit {
                        digit: d.digit,
                        source: DigitSource::Inband,
                        duration: d.duration,
                    });
                }
            }
            match self.vad.push_frame(frame) {
                Some(VadEvent::SpeechStarted) => self.events.push_back(MediaEvent::SpeechStarted),
                Some(VadEvent::SpeechEnded) => {
                    self.skip_running_speech = false;
                    self.events.push_back(MediaEvent::SpeechEnded)
                }
                None => {}
            }
            if self.listening && !self.skip_running_speech {
                if self.output_rate == CODEC_RATE {
                    self.events.push_back(MediaEvent::Frame(frame.to_vec()));
                } else {
                    if self.resampler.is_none() {
                        // The shapes were checked in `new`; a failure here
                        // loses the frame only.
                        self.resampler =
                            FrameResampler::new(CODEC_RATE, self.output_rate, FRAME).ok();
                    }
                    if let Some(resampler) = &mut self.resampler {
                        if resampler.push(frame).is_ok() {
                            while let Some(out) = resampler.pop_frame() {
                                self.events.push_back(MediaEvent::Frame(out));
                            }
                        }
                    }
                }
            }
            self.pcm.drain(..FRAME_SAMPLES);
        }
    }
}

#[cfg(test)]
mod tests;
