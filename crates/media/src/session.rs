//! One call's media as a single sans-IO state machine: the receive path, prompt
//! playback and RTCP, with barge-in joining them. The driver that owns the socket
//! (a media thread in Passgate, carrying many calls) only moves bytes and wakes
//! by [`MediaSession::poll_timeout`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::pacer::{ClipId, Pacer, PacerConfig, PacerEvent};
use crate::receiver::{
    MediaEvent, ReceiverConfig, ReceiverError, ReceiverStats, Routed, RtpReceiver,
};
use crate::rtcp::{CallMediaStats, RtcpConfig, RtcpSession};
use crate::rtp_packet::{RtpError, RtpPacket};
use crate::srtp::{self, Srtp, SrtpConfig, SrtpError, SrtpStats};
use crate::webrtc::{WebRtcStats, WebRtcTransport};

#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub receiver: ReceiverConfig,
    /// Its `ssrc` is also the SSRC of our RTCP reports.
    pub pacer: PacerConfig,
    pub cname: String,
    pub rtcp_interval: std::time::Duration,
    /// SDES keys when the call's media is SRTP: every packet both ways is
    /// protected, and one that fails its check never reaches the receiver.
    pub srtp: Option<SrtpConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    Rtp(Bytes),
    Rtcp(Vec<u8>),
    /// A datagram with its own destination: a WebRTC session's STUN, DTLS,
    /// SRTP and SRTCP, all from the RTP port.
    To(SocketAddr, Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    Media(MediaEvent),
    Prompt(PacerEvent),
}

/// A change to a call's media, by name, for the session's one driver to
/// apply with its own `now` ([`MediaSession::apply`]). Whoever decides what
/// the call does (Passgate's call task) sends these and never touches the
/// session, so the session has one clock and its time only moves forward.
#[derive(Debug, Clone)]
pub enum Command {
    /// Queue a prompt (PCM at the codec rate) under the sender's id; it
    /// starts at once if nothing plays. Its [`PacerEvent`]s carry the id.
    Play {
        id: ClipId,
        pcm: std::sync::Arc<[i16]>,
    },
    /// Barge-in: the prompt playing stops and those queued are dropped.
    Stop,
    SetBargeIn(BargeIn),
    /// Produce frames of the caller's audio (for a recognizer), or stop.
    Listen(bool),
    /// The caller holds the call (`true`) or resumes it.
    Hold(bool),
    /// The SDP moved the caller's media (a re-INVITE): see
    /// [`RtpReceiver::remote_moved`].
    RemoteMoved(SocketAddr),
    /// The formats of a renegotiation: see [`MediaSession::renegotiate`].
    Renegotiated(Box<SessionConfig>),
}

/// Which input from the caller cuts a prompt short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BargeIn {
    Off,
    /// Where only keys are expected: background noise must not cut the prompt.
    Digits,
    DigitsAndSpeech,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SessionStats {
    pub receiver: ReceiverStats,
    pub rtcp: CallMediaStats,
    pub srtp: SrtpStats,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    #[error(transparent)]
    Srtp(#[from] SrtpError),
}

#[derive(Debug)]
pub struct MediaSession {
    receiver: RtpReceiver,
    pacer: Pacer,
    rtcp: RtcpSession,
    srtp: Option<Srtp>,
    /// What an SRTP session of an earlier offer/answer counted.
    srtp_before: SrtpStats,
    barge_in: BargeIn,
    /// The caller holds the call: it hears nothing and what it sends is
    /// not input (music on hold is not an answer).
    held: bool,
    events: VecDeque<SessionEvent>,
    out: VecDeque<Transmit>,
    /// A browser's call: every datagram goes through WebRTC's transport,
    /// which also keeps the RTCP.
    webrtc: Option<Box<WebRtcTransport>>,
}

impl MediaSession {
    /// `now` starts the RTCP report timer.
    pub fn new(now: Instant, config: SessionConfig) -> Result<Self, SessionError> {
        let mut rtcp = RtcpSession::new(RtcpConfig {
            local_ssrc: config.pacer.ssrc,
            cname: config.cname,
            clock_rate: config.pacer.clock_rate,
            interval: config.rtcp_interval,
        });
        rtcp.start(now);
        Ok(MediaSession {
            receiver: RtpReceiver::new(config.receiver)?,
            pacer: Pacer::new(config.pacer),
            rtcp,
            srtp: config.srtp.map(Srtp::new).transpose()?,
            srtp_before: SrtpStats::default(),
            barge_in: BargeIn::Off,
            held: false,
            events: VecDeque::new(),
            out: VecDeque::new(),
            webrtc: None,
        })
    }

    /// A session whose datagrams go through `transport` (a browser's call;
    /// the config has no SDES keys and no SDP source).
    pub fn with_webrtc(mut self, transport: WebRtcTransport) -> Self {
        self.webrtc = Some(Box::new(transport));
        self
    }

    /// What the WebRTC transport counted, for a browser's call.
    pub fn webrtc_stats(&self) -> Option<WebRtcStats> {
        self.webrtc.as_ref().map(|w| w.stats())
    }

    /// A datagram for the WebRTC transport; the RTP in it joins the
    /// receive path as plain RTP from the browser's address.
    fn handle_webrtc(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Some(w) = self.webrtc.as_mut() else {
            return;
        };
        w.handle_datagram(now, from, datagram);
        let mut plain = Vec::new();
        while let Some(packet) = w.poll_rtp() {
            plain.push(packet);
        }
        for packet in plain {
            match RtpPacket::parse(&packet) {
                Ok(packet) => {
                    self.receiver.count_datagram(false);
                    self.receiver.handle_packet(now, from, packet);
                }
                Err(_) => self.receiver.count_datagram(true),
            }
        }
        self.pump_receiver();
    }

    /// Carries out a [`Command`] at the driver's `now`. Only a renegotiation
    /// can fail (a codec or SRTP keys that cannot be set up); the previous
    /// formats stay.
    pub fn apply(&mut self, now: Instant, command: Command) -> Result<(), SessionError> {
        match command {
            Command::Play { id, pcm } => {
                self.pacer.enqueue_as(now, id, pcm);
                self.pacer.handle_timeout(now);
                self.pump_pacer();
            }
            Command::Stop => self.stop_playback(),
            Command::SetBargeIn(mode) => self.set_barge_in(mode),
            Command::Listen(listening) => self.set_listening(listening),
            Command::Hold(held) => self.set_held(now, held),
            Command::RemoteMoved(sdp) => self.receiver.remote_moved(sdp),
            Command::Renegotiated(config) => return self.renegotiate(*config),
        }
        Ok(())
    }

    /// A datagram from the RTP socket (RTCP multiplexed on it, RFC 5761, is accepted too).
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if self.webrtc.is_some() {
            return self.handle_webrtc(now, from, datagram);
        }
        if !self.receiver.accepts_source(from) {
            return;
        }
        let plain;
        let datagram = match self.srtp.as_mut() {
            None => datagram,
            Some(ctx) => {
                plain = if srtp::is_rtcp(datagram) {
                    ctx.unprotect_rtcp(datagram)
                } else {
                    ctx.unprotect_rtp(datagram)
                };
                match &plain {
                    Some(p) => &p[..],
                    None => return,
                }
            }
        };
        match RtpPacket::parse(datagram) {
            Ok(packet) => {
                self.receiver.count_datagram(false);
                let rtcp_view = packet.clone();
                match self.receiver.handle_packet(now, from, packet) {
                    Routed::Audio => self.rtcp.on_rtp_received(now, &rtcp_view),
                    Routed::TelephoneEvent => self.rtcp.on_event_received(now, &rtcp_view),
                    Routed::Unknown => {}
                }
            }
            Err(RtpError::Rtcp(_)) => {
                self.rtcp.handle_rtcp(now, datagram);
            }
            Err(_) => self.receiver.count_datagram(true),
        }
        self.pump_receiver();
    }

    /// A datagram from the RTCP socket.
    pub fn handle_rtcp(&mut self, now: Instant, datagram: &[u8]) {
        match self.srtp.as_mut() {
            None => {
                self.rtcp.handle_rtcp(now, datagram);
            }
            Some(ctx) => {
                if let Some(plain) = ctx.unprotect_rtcp(datagram) {
                    self.rtcp.handle_rtcp(now, &plain);
                }
            }
        }
    }

    /// `wallclock` is the time of day, needed only for RTCP sender reports.
    pub fn handle_timeout(&mut self, now: Instant, wallclock: SystemTime) {
        self.receiver.handle_timeout(now);
        self.pump_receiver();
        self.pacer.handle_timeout(now);
        self.pump_pacer();
        self.rtcp.handle_timeout(now, wallclock);
        if let Some(w) = self.webrtc.as_mut() {
            w.handle_timeout(now);
        }
        while let Some(report) = self.rtcp.poll_transmit() {
            if self.webrtc.is_some() {
                // str0m sends its own reports.
                continue;
            }
            match self.srtp.as_mut() {
                None => self.out.push_back(Transmit::Rtcp(report)),
                Some(ctx) => {
                    if let Some(wire) = ctx.protect_rtcp(&report) {
                        self.out.push_back(Transmit::Rtcp(wire.to_vec()));
                    }
                }
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.receiver.poll_timeout(),
            self.pacer.poll_timeout(),
            self.rtcp.poll_timeout(),
            self.webrtc.as_ref().and_then(|w| w.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some((to, datagram)) = self.webrtc.as_mut().and_then(|w| w.poll_datagram()) {
            return Some(Transmit::To(to, datagram));
        }
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Whether [`MediaSession::poll_event`] has something, without taking it.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Queues a prompt (PCM at the codec rate); it starts at once if nothing is playing.
    pub fn play(&mut self, now: Instant, pcm: impl Into<std::sync::Arc<[i16]>>) -> ClipId {
        let id = self.pacer.enqueue(now, pcm);
        self.pacer.handle_timeout(now);
        self.pump_pacer();
        id
    }

    pub fn stop_playback(&mut self) {
        self.pacer.stop();
        self.pump_pacer();
    }

    /// Takes the formats of a renegotiation (a re-INVITE, or the answer in an
    /// ACK to our offer): both directions use them from now on. `config`'s
    /// SSRC, first sequence number and timestamp are ignored: the stream
    /// carries on.
    /// New SDES keys apply at once; an answer without them makes the media
    /// plain again.
    pub fn renegotiate(&mut self, config: SessionConfig) -> Result<(), SessionError> {
        self.receiver.renegotiate(config.receiver)?;
        match (self.srtp.as_mut(), config.srtp) {
            (Some(ctx), Some(keys)) => ctx.rekey(keys)?,
            (None, Some(keys)) => self.srtp = Some(Srtp::new(keys)?),
            (Some(ctx), None) => {
                self.srtp_before = add_srtp(self.srtp_before, ctx.stats());
                self.srtp = None;
            }
            (None, None) => {}
        }
        self.rtcp.set_clock_rate(config.pacer.clock_rate);
        self.pacer.renegotiate(config.pacer);
        Ok(())
    }

    /// Holds or resumes the call (the direction of the caller's latest
    /// offer). While held nothing is sent, a prompt in progress waits where
    /// it is, and nothing the caller sends becomes an event; RTCP goes on.
    pub fn set_held(&mut self, now: Instant, held: bool) {
        self.held = held;
        self.pacer.set_held(now, held);
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    /// What from the caller stops the prompts at once.
    pub fn set_barge_in(&mut self, mode: BargeIn) {
        self.barge_in = mode;
    }

    /// A key press that arrived outside RTP (SIP INFO): interrupts like an
    /// RTP one would.
    pub fn external_digit(&mut self) {
        if self.barge_in != BargeIn::Off && self.pacer.is_playing() {
            self.pacer.stop();
            self.pump_pacer();
        }
    }

    /// Frames are produced only while listening.
    pub fn set_listening(&mut self, listening: bool) {
        self.receiver.set_listening(listening);
    }

    pub fn is_playing(&self) -> bool {
        self.pacer.is_playing()
    }

    /// Where to send: the caller's observed RTP source, once known (symmetric RTP).
    pub fn remote(&self) -> Option<SocketAddr> {
        match &self.webrtc {
            Some(w) => w.remote(),
            None => self.receiver.remote(),
        }
    }

    /// The caller's source once learnt, when packets from elsewhere are dropped.
    pub fn strict_remote(&self) -> Option<SocketAddr> {
        // ICE may move a browser's address; its checks keep others out.
        if self.webrtc.is_some() {
            return None;
        }
        self.receiver.strict_remote()
    }

    /// The caller's media moved (a re-INVITE): learn its source again.
    pub fn forget_remote(&mut self) {
        self.receiver.forget_remote();
    }

    pub fn stats(&self) -> SessionStats {
        SessionStats {
            receiver: self.receiver.stats(),
            rtcp: self.rtcp.stats(),
            srtp: self
                .srtp
                .as_ref()
                .map_or(self.srtp_before, |c| add_srtp(self.srtp_before, c.stats())),
        }
    }

    /// Whether the call's media is SRTP now.
    pub fn is_secure(&self) -> bool {
        self.srtp.is_some()
    }

    fn pump_receiver(&mut self) {
        while let Some(event) = self.receiver.poll_event() {
            if self.held {
                continue;
            }
            let interrupts = match (self.barge_in, &event) {
                (BargeIn::Off, _) => false,
                (_, MediaEvent::Digit { .. }) => true,
                (BargeIn::DigitsAndSpeech, MediaEvent::SpeechStarted) => true,
                _ => false,
            };
            if interrupts && self.pacer.is_playing() {
                self.pacer.stop();
                self.pump_pacer();
            }
            self.events.push_back(SessionEvent::Media(event));
        }
    }

    fn pump_pacer(&mut self) {
        while let Some(out) = self.pacer.poll_packet() {
            self.rtcp.on_rtp_sent(out.due, &out.packet);
            // The pacer builds only well-formed headers, so serialising cannot fail.
            if let Ok(bytes) = out.packet.to_bytes() {
                if let Some(w) = self.webrtc.as_mut() {
                    w.send_rtp(out.due, &bytes);
                    continue;
                }
                match self.srtp.as_mut() {
                    None => self.out.push_back(Transmit::Rtp(bytes)),
                    Some(ctx) => {
                        if let Some(wire) = ctx.protect_rtp(&bytes) {
                            self.out.push_back(Transmit::Rtp(wire));
                        }
                    }
                }
            }
        }
        while let Some(event) = self.pacer.poll_event() {
            self.events.push_back(SessionEvent::Prompt(event));
        }
    }
}

fn add_srtp(a: SrtpStats, b: SrtpStats) -> SrtpStats {
    SrtpStats {
        unprotected: a.unprotected + b.unprotected,
        auth_failures: a.auth_failures + b.auth_failures,
        replayed: a.replayed + b.replayed,
        malformed: a.malformed + b.malformed,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
