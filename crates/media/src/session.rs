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
        })
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
        while let Some(report) = self.rtcp.poll_transmit() {
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
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
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
        self.receiver.remote()
    }

    /// The caller's source once learnt, when packets from elsewhere are dropped.
    pub fn strict_remote(&self) -> Option<SocketAddr> {
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
mod tests {
    use super::*;
    use crate::g711::G711;
    use crate::rtcp::parse_compound;
    use std::time::Duration;

    fn config() -> SessionConfig {
        SessionConfig {
            receiver: ReceiverConfig::g711(G711::Ulaw, Some(101), 16000),
            pacer: PacerConfig::g711(G711::Ulaw, 0xBEEF, 1, 0),
            cname: "passgate@test".into(),
            rtcp_interval: Duration::from_secs(5),
            srtp: None,
        }
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:41000".parse().unwrap()
    }

    fn event_packet(seq: u16, end: bool, duration: u16) -> Vec<u8> {
        crate::dtmf_rfc4733::event_datagram(101, seq, 8000, 1, end, duration).to_vec()
    }

    /// Runs the session like its driver would, returning what it transmitted.
    fn run(s: &mut MediaSession, until: Instant) -> Vec<Transmit> {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut sent: Vec<Transmit> = std::iter::from_fn(|| s.poll_transmit()).collect();
        while let Some(due) = s.poll_timeout().filter(|&d| d <= until) {
            s.handle_timeout(due, wall);
            sent.extend(std::iter::from_fn(|| s.poll_transmit()));
        }
        sent
    }

    #[test]
    fn a_key_press_barges_in_on_the_prompt() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config()).unwrap();
        s.set_barge_in(BargeIn::Digits);
        let prompt = s.play(t0, vec![1000; 8000]);
        let before = run(&mut s, t0 + Duration::from_millis(200));
        assert_eq!(before.len(), 11, "packets at 0, 20, ... 200 ms");
        let t1 = t0 + Duration::from_millis(210);
        s.handle_rtp(t1, peer(), &event_packet(1, true, 800));
        assert!(!s.is_playing());
        let after = run(&mut s, t0 + Duration::from_millis(1000));
        assert!(
            after.iter().all(|t| matches!(t, Transmit::Rtcp(_))),
            "no RTP after barge-in"
        );
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Stopped(prompt))));
        assert!(events
            .iter()
            .any(|e| matches!(e, SessionEvent::Media(MediaEvent::Digit { .. }))));
        assert_eq!(s.remote(), Some(peer()));
    }

    /// Loud µ-law audio: a 400 Hz tone, packet `seq` of a 20 ms stream.
    fn loud_audio(seq: u16) -> Vec<u8> {
        let pcm: Vec<i16> = (0..160)
            .map(|i| {
                let t = (u32::from(seq) * 160 + i) as f32 / 8000.0;
                (12000.0 * (2.0 * std::f32::consts::PI * 400.0 * t).sin()) as i16
            })
            .collect();
        let mut payload = Vec::new();
        G711::Ulaw.encode(&pcm, &mut payload);
        RtpPacket {
            payload_type: 0,
            marker: seq == 0,
            sequence_number: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 9,
            payload: Bytes::from(payload),
        }
        .to_bytes()
        .unwrap()
        .to_vec()
    }

    #[test]
    fn speech_interrupts_only_where_speech_is_an_answer() {
        for (mode, stopped) in [(BargeIn::Digits, false), (BargeIn::DigitsAndSpeech, true)] {
            let t0 = Instant::now();
            let mut s = MediaSession::new(t0, config()).unwrap();
            s.set_barge_in(mode);
            s.play(t0, vec![1000; 16000]);
            for seq in 0..40u16 {
                let at = t0 + Duration::from_millis(20 * u64::from(seq));
                run(&mut s, at);
                s.handle_rtp(at, peer(), &loud_audio(seq));
            }
            assert_eq!(!s.is_playing(), stopped, "{mode:?}");
        }
    }

    fn keys(local: u8, remote: u8) -> crate::srtp::SrtpConfig {
        let master = |b: u8| crate::srtp::SrtpMaster {
            key: [b; 16],
            salt: [b; 14],
        };
        crate::srtp::SrtpConfig {
            profile: crate::srtp::SrtpProfile::Aes128CmSha1_80,
            local: master(local),
            remote: master(remote),
        }
    }

    #[test]
    fn with_srtp_only_authentic_packets_are_heard_and_every_packet_sent_is_protected() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(
            t0,
            SessionConfig {
                srtp: Some(keys(1, 2)),
                ..config()
            },
        )
        .unwrap();
        assert!(s.is_secure());
        let mut caller = Srtp::new(keys(2, 1)).unwrap();
        s.set_barge_in(BargeIn::Digits);
        s.play(t0, vec![1000; 8000]);
        let sent = run(&mut s, t0 + Duration::from_millis(100));
        for t in &sent {
            let Transmit::Rtp(b) = t else { continue };
            assert_eq!(b.len(), 12 + 160 + 10);
            assert!(caller.unprotect_rtp(b).is_some(), "opens with our key");
        }
        // A key press in plain RTP, then one with a flipped bit: neither is heard.
        let t1 = t0 + Duration::from_millis(110);
        s.handle_rtp(t1, peer(), &event_packet(1, true, 800));
        let mut tampered = caller
            .protect_rtp(&event_packet(2, true, 800))
            .unwrap()
            .to_vec();
        tampered[14] ^= 0x80;
        s.handle_rtp(t1, peer(), &tampered);
        assert!(s.is_playing(), "no barge-in from an unauthentic key");
        assert_eq!(s.remote(), None, "nothing unauthentic latches the source");
        let good = caller.protect_rtp(&event_packet(3, true, 800)).unwrap();
        s.handle_rtp(t1, peer(), &good);
        s.handle_rtp(t1, peer(), &good);
        assert!(!s.is_playing(), "the authentic key barges in");
        let stats = s.stats().srtp;
        // The plain packet is too short to carry a tag: malformed.
        assert_eq!(
            (
                stats.unprotected,
                stats.auth_failures,
                stats.replayed,
                stats.malformed
            ),
            (1, 1, 1, 1)
        );
        // A re-INVITE rekeys our side: the old key no longer opens what we send.
        s.renegotiate(SessionConfig {
            srtp: Some(keys(5, 2)),
            ..config()
        })
        .unwrap();
        s.play(t1, vec![1000; 800]);
        let after = run(&mut s, t1 + Duration::from_millis(60));
        let rtp: Vec<_> = after
            .iter()
            .filter_map(|t| match t {
                Transmit::Rtp(b) => Some(b),
                _ => None,
            })
            .collect();
        assert!(!rtp.is_empty());
        assert!(rtp.iter().all(|b| caller.unprotect_rtp(b).is_none()));
        assert_eq!(s.stats().srtp.auth_failures, 1, "counts survive a rekey");
    }

    #[test]
    fn a_key_from_sip_info_barges_in_like_one_in_rtp() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config()).unwrap();
        s.play(t0, vec![1000; 8000]);
        s.external_digit();
        assert!(s.is_playing(), "barge-in is off");
        s.set_barge_in(BargeIn::Digits);
        s.external_digit();
        assert!(!s.is_playing());
    }

    #[test]
    fn without_barge_in_the_prompt_plays_to_the_end() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config()).unwrap();
        let prompt = s.play(t0, vec![1000; 1600]);
        s.handle_rtp(
            t0 + Duration::from_millis(50),
            peer(),
            &event_packet(1, true, 800),
        );
        let sent = run(&mut s, t0 + Duration::from_secs(1));
        let rtp = sent
            .iter()
            .filter(|t| matches!(t, Transmit::Rtp(_)))
            .count();
        assert_eq!(rtp, 10, "1600 samples are ten packets, none cut short");
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Finished(prompt))));
    }

    #[test]
    fn rtcp_reports_go_out_every_interval_and_count_what_was_sent() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config()).unwrap();
        s.play(t0, vec![0; 8000]);
        for i in 0..100u16 {
            let audio = RtpPacket {
                payload_type: 0,
                marker: false,
                sequence_number: i,
                timestamp: 160 * i as u32,
                ssrc: 3,
                payload: Bytes::from(vec![0xFF; 160]),
            };
            s.handle_rtp(
                t0 + Duration::from_millis(20 * i as u64),
                peer(),
                &audio.to_bytes().unwrap(),
            );
        }
        let sent = run(&mut s, t0 + Duration::from_secs(11));
        let reports: Vec<_> = sent
            .iter()
            .filter_map(|t| match t {
                Transmit::Rtcp(r) => Some(parse_compound(r).unwrap()),
                _ => None,
            })
            .collect();
        assert_eq!(reports.len(), 2, "at 5 s and 10 s");
        let stats = s.stats();
        assert_eq!(stats.rtcp.sent_packets, 50);
        assert_eq!(stats.rtcp.received_packets, 100);
        assert_eq!(stats.receiver.datagrams, 100);
        // RTCP multiplexed on the RTP port reaches the RTCP session, not the audio path.
        s.handle_rtp(
            t0 + Duration::from_secs(11),
            peer(),
            &[0x80, 201, 0, 1, 0, 0, 0, 3],
        );
        assert_eq!(s.stats().receiver.malformed, 0);
    }

    fn rtp_of(sent: &[Transmit]) -> Vec<RtpPacket> {
        sent.iter()
            .filter_map(|t| match t {
                Transmit::Rtp(b) => Some(RtpPacket::parse(b).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_renegotiated_codec_is_sent_and_read_from_then_on() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config()).unwrap();
        s.play(t0, vec![1000; 8000]);
        let before = rtp_of(&run(&mut s, t0 + Duration::from_millis(100)));
        assert!(before.iter().all(|p| p.payload_type == 0));
        s.renegotiate(SessionConfig {
            receiver: ReceiverConfig::g711(G711::Alaw, Some(120), 16000),
            pacer: PacerConfig::g711(G711::Alaw, 1, 1, 1),
            cname: "ignored".into(),
            rtcp_interval: Duration::from_secs(5),
            srtp: None,
        })
        .unwrap();
        let after = rtp_of(&run(&mut s, t0 + Duration::from_millis(300)));
        assert!(
            !after.is_empty()
                && after
                    .iter()
                    .all(|p| p.payload_type == 8 && p.ssrc == 0xBEEF)
        );
        // The caller's A-law is audio now, its PCMU a stray payload type, and
        // its key presses come as PT 120.
        s.set_listening(true);
        let mut alaw = loud_audio(0);
        alaw[1] = 8;
        s.handle_rtp(t0 + Duration::from_millis(300), peer(), &alaw);
        s.handle_rtp(t0 + Duration::from_millis(300), peer(), &loud_audio(1));
        let mut key = crate::dtmf_rfc4733::event_datagram(120, 2, 8000, 1, true, 800).to_vec();
        key[8..12].copy_from_slice(&9u32.to_be_bytes());
        s.handle_rtp(t0 + Duration::from_millis(320), peer(), &key);
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events
            .iter()
            .any(|e| matches!(e, SessionEvent::Media(MediaEvent::Frame(_)))));
        assert!(events
            .iter()
            .any(|e| matches!(e, SessionEvent::Media(MediaEvent::Digit { .. }))));
        assert_eq!(s.stats().receiver.unknown_payload_type, 1);
    }

    #[test]
    fn commands_name_the_prompt_and_a_move_relearns_the_source_but_a_hold_does_not() {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.receiver.strict_source = true;
        cfg.receiver.sdp_source = Some(peer());
        let mut s = MediaSession::new(t0, cfg).unwrap();
        let clip = ClipId(7);
        s.apply(
            t0,
            Command::Play {
                id: clip,
                pcm: vec![1000; 800].into(),
            },
        )
        .unwrap();
        s.handle_rtp(t0, peer(), &loud_audio(0));
        assert_eq!(s.remote(), Some(peer()));
        // A hold's unspecified address moves nothing.
        s.apply(t0, Command::RemoteMoved("0.0.0.0:41000".parse().unwrap()))
            .unwrap();
        assert_eq!(s.remote(), Some(peer()));
        // A new address: the old source is foreign now, the new one is learnt.
        let moved: SocketAddr = "127.0.0.2:42000".parse().unwrap();
        s.apply(t0, Command::RemoteMoved(moved)).unwrap();
        assert_eq!(s.remote(), None);
        s.handle_rtp(t0 + Duration::from_millis(20), peer(), &loud_audio(1));
        assert_eq!(s.remote(), None, "the old address is not heard");
        s.handle_rtp(t0 + Duration::from_millis(40), moved, &loud_audio(2));
        assert_eq!(s.remote(), Some(moved));
        run(&mut s, t0 + Duration::from_secs(1));
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Started(clip))));
        assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Finished(clip))));
    }

    #[test]
    fn a_held_call_sends_no_rtp_and_takes_no_keys_until_resumed() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config()).unwrap();
        s.set_barge_in(BargeIn::Digits);
        let prompt = s.play(t0, vec![1000; 8000]);
        run(&mut s, t0 + Duration::from_millis(100));
        s.set_held(t0 + Duration::from_millis(110), true);
        s.handle_rtp(
            t0 + Duration::from_millis(200),
            peer(),
            &event_packet(1, true, 800),
        );
        let held = run(&mut s, t0 + Duration::from_secs(6));
        assert!(rtp_of(&held).is_empty(), "no RTP while held");
        assert!(
            held.iter().any(|t| matches!(t, Transmit::Rtcp(_))),
            "RTCP goes on"
        );
        assert!(s.is_playing(), "the key did not cut the prompt");
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(
            !events.iter().any(|e| matches!(e, SessionEvent::Media(_))),
            "{events:?}"
        );
        let resumed = t0 + Duration::from_secs(6);
        s.set_held(resumed, false);
        let after = rtp_of(&run(&mut s, resumed + Duration::from_secs(1)));
        assert_eq!(
            after.len(),
            50 - 6,
            "the rest of the prompt: {}",
            after.len()
        );
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events.contains(&SessionEvent::Prompt(PacerEvent::Finished(prompt))));
    }
}
