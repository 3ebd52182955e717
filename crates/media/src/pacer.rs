//! Prompt playback paced by the caller's clock: one RTP packet per ptime, at the instant
//! it is due, never as a burst.
//!
//! The driver asks [`Pacer::poll_timeout`] when the next packet is due, calls
//! [`Pacer::handle_timeout`] at that instant and sends what [`Pacer::poll_packet`] gives.
//! Packet k of a talk spurt is due at `start + k * ptime` (no drift from late wake-ups),
//! its RTP timestamp is `samples_per_packet` more than the previous one, sequence numbers
//! run on across prompts, and the first packet of a talk spurt carries the marker bit.
//! Between talk spurts the timestamp advances by the time that passed, as RFC 3550
//! requires, so a receiver's playout clock stays in step.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Prompts are handed to the pacer as 8 kHz PCM whatever the codec.
const PCM_RATE: u32 = 8000;

use crate::g711::G711;
use crate::rtp_packet::RtpPacket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ptime {
    Ms10,
    Ms20,
    Ms30,
}

impl Ptime {
    pub fn from_millis(ms: u32) -> Option<Ptime> {
        match ms {
            10 => Some(Ptime::Ms10),
            20 => Some(Ptime::Ms20),
            30 => Some(Ptime::Ms30),
            _ => None,
        }
    }

    pub fn duration(self) -> Duration {
        Duration::from_millis(match self {
            Ptime::Ms10 => 10,
            Ptime::Ms20 => 20,
            Ptime::Ms30 => 30,
        })
    }
}

/// What happens between two prompts that are queued one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetweenPrompts {
    /// The next prompt follows in the next packet, same talk spurt.
    Nothing,
    /// Silence packets for (at least) this long; the talk spurt goes on.
    Silence(Duration),
    /// No packets for this long; the next prompt starts a new talk spurt.
    Pause(Duration),
}

/// What the stream carries between prompts, once the first prompt has started.
///
/// A call waiting for keys may send nothing for a minute; SBCs' media-inactivity
/// timers and NAT bindings take that for a dead call. Filling keeps the stream
/// alive without a sound the caller would notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleFill {
    /// Nothing: the stream pauses between prompts.
    Nothing,
    /// Encoded silence every ptime: one unbroken talk spurt.
    Silence,
    /// An RFC 3389 comfort-noise packet with this payload type when a pause
    /// starts and every [`COMFORT_NOISE_INTERVAL`] after; the next prompt
    /// starts a new talk spurt.
    ComfortNoise(u8),
}

/// How often a comfort-noise packet repeats during a pause: well inside the
/// shortest media-inactivity and NAT timers met in practice (seconds), rare
/// enough to cost nothing.
pub const COMFORT_NOISE_INTERVAL: Duration = Duration::from_millis(200);

/// The noise level sent in comfort-noise packets: −dBov (RFC 3389 §3), a
/// quiet room.
const COMFORT_NOISE_LEVEL: u8 = 70;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacerConfig {
    /// G.711 (the default), or Opus: see [`PacerConfig::opus`].
    pub codec: G711,
    /// Send Opus instead of `codec`; the PCM handed in stays at 8 kHz.
    pub opus: bool,
    /// Usually `codec.payload_type()`; kept separate for peers that remap it.
    pub payload_type: u8,
    pub clock_rate: u32,
    pub ptime: Ptime,
    pub ssrc: u32,
    pub first_sequence: u16,
    pub first_timestamp: u32,
    pub between_prompts: BetweenPrompts,
    pub idle: IdleFill,
}

impl PacerConfig {
    /// 8 kHz G.711 at 20 ms, nothing between prompts.
    pub fn g711(codec: G711, ssrc: u32, first_sequence: u16, first_timestamp: u32) -> Self {
        PacerConfig {
            codec,
            opus: false,
            payload_type: codec.payload_type(),
            clock_rate: 8000,
            ptime: Ptime::Ms20,
            ssrc,
            first_sequence,
            first_timestamp,
            between_prompts: BetweenPrompts::Nothing,
            idle: IdleFill::Nothing,
        }
    }

    /// Opus at its 48 kHz RTP clock (RFC 7587), from 8 kHz prompt PCM.
    pub fn opus(payload_type: u8, ssrc: u32, first_sequence: u16, first_timestamp: u32) -> Self {
        PacerConfig {
            opus: true,
            payload_type,
            clock_rate: 48000,
            ..Self::g711(G711::Ulaw, ssrc, first_sequence, first_timestamp)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromptId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPacket {
    pub packet: RtpPacket,
    /// The instant the packet was due; the driver sends it as soon as it polls it.
    pub due: Instant,
    /// `None` for silence between prompts.
    pub prompt: Option<PromptId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacerEvent {
    Started(PromptId),
    Finished(PromptId),
    /// Removed by [`Pacer::stop`], whether it had started or was still queued.
    Stopped(PromptId),
}

#[derive(Debug)]
struct Playing {
    id: PromptId,
    pcm: Arc<[i16]>,
    offset: usize,
}

#[derive(Debug)]
pub struct Pacer {
    config: PacerConfig,
    /// PCM samples (at 8 kHz) in one packet.
    samples_per_packet: usize,
    /// RTP clock ticks one packet advances the timestamp by.
    ticks_per_packet: u32,
    #[cfg(feature = "opus")]
    opus: Option<crate::opus::OpusEncoder>,
    next_id: u64,
    queue: VecDeque<(PromptId, Arc<[i16]>)>,
    current: Option<Playing>,
    silence_packets_left: usize,
    /// When the next prompt packet is due; `Some` exactly while a prompt plays.
    next_due: Option<Instant>,
    /// When the next idle-fill packet is due, while no prompt plays.
    idle_due: Option<Instant>,
    /// On hold: nothing is sent and the schedule stands still.
    held: bool,
    /// The last prompt ended or was stopped: the next prompt packet starts
    /// a talk spurt (marker bit) even where silence kept the stream going.
    prompt_ended: bool,
    in_spurt: bool,
    next_sequence: u16,
    /// Due instant and timestamp of the last packet produced.
    last: Option<(Instant, u32)>,
    /// The same for the last packet handed to the driver.
    last_polled: Option<(Instant, u32)>,
    out: VecDeque<OutgoingPacket>,
    events: VecDeque<PacerEvent>,
}

impl Pacer {
    pub fn new(config: PacerConfig) -> Self {
        let ms = config.ptime.duration().as_millis() as u64;
        let samples_per_packet = (u64::from(PCM_RATE) * ms / 1000) as usize;
        let ticks_per_packet = (u64::from(config.clock_rate) * ms / 1000) as u32;
        Pacer {
            config,
            samples_per_packet: samples_per_packet.max(1),
            ticks_per_packet: ticks_per_packet.max(1),
            #[cfg(feature = "opus")]
            opus: config
                .opus
                .then(|| crate::opus::OpusEncoder::new(PCM_RATE).ok())
                .flatten(),
            next_id: 0,
            queue: VecDeque::new(),
            current: None,
            silence_packets_left: 0,
            next_due: None,
            idle_due: None,
            held: false,
            prompt_ended: false,
            in_spurt: false,
            next_sequence: config.first_sequence,
            last: None,
            last_polled: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn samples_per_packet(&self) -> usize {
        self.samples_per_packet
    }

    /// Queues PCM at the codec's clock rate; if nothing is playing it starts at `now`.
    /// Prompts are shared, not copied: every call plays the same few.
    pub fn enqueue(&mut self, now: Instant, pcm: impl Into<Arc<[i16]>>) -> PromptId {
        let id = PromptId(self.next_id);
        self.next_id += 1;
        self.queue.push_back((id, pcm.into()));
        if self.next_due.is_none() {
            // Never closer to the previous packet than one ptime.
            let earliest = self.last.map(|(due, _)| due + self.config.ptime.duration());
            let idle_slot = self.idle_due.take();
            self.next_due = Some(match (self.config.idle, idle_slot) {
                // Silence is sent on the stream's grid: the prompt takes the
                // next slot, in the same talk spurt.
                (IdleFill::Silence, Some(slot)) if !self.held => slot,
                _ => earliest.map_or(now, |e| e.max(now)),
            });
        }
        id
    }

    /// Takes a renegotiated format (a re-INVITE or the answer in an ACK):
    /// codec, payload type, clock, ptime and idle fill change from the next
    /// packet on; the SSRC, the sequence numbers and the prompt in progress
    /// carry on.
    pub fn renegotiate(&mut self, config: PacerConfig) {
        let (ms, rate) = (config.ptime.duration().as_millis() as u64, PCM_RATE);
        self.samples_per_packet = ((u64::from(rate) * ms / 1000) as usize).max(1);
        self.ticks_per_packet = ((u64::from(config.clock_rate) * ms / 1000) as u32).max(1);
        #[cfg(feature = "opus")]
        {
            if !config.opus {
                self.opus = None;
            } else if self.opus.is_none() {
                self.opus = crate::opus::OpusEncoder::new(PCM_RATE).ok();
            }
        }
        let idle_changed = config.idle != self.config.idle;
        self.config = PacerConfig {
            ssrc: self.config.ssrc,
            first_sequence: self.config.first_sequence,
            first_timestamp: self.config.first_timestamp,
            ..config
        };
        if idle_changed && self.next_due.is_none() {
            self.in_spurt = false;
            self.idle_due = self.idle_after(self.last.map(|(due, _)| due));
        }
    }

    /// Holds or resumes the stream. While held nothing is sent and a prompt
    /// in progress waits where it is; on resuming it goes on from there at
    /// `now`, as a new talk spurt whose timestamp covers the time held.
    pub fn set_held(&mut self, now: Instant, held: bool) {
        if held == self.held {
            return;
        }
        self.held = held;
        if !held {
            self.in_spurt = false;
            self.next_due = self.next_due.map(|due| due.max(now));
            self.idle_due = self.idle_due.map(|due| due.max(now));
        }
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Barge-in: drops the current and queued prompts and any packet not yet polled.
    pub fn stop(&mut self) {
        if let Some(playing) = self.current.take() {
            self.events.push_back(PacerEvent::Stopped(playing.id));
        }
        for (id, _) in self.queue.drain(..) {
            self.events.push_back(PacerEvent::Stopped(id));
        }
        // Packets never handed out must not leave a hole in the sequence numbers.
        if let Some(unsent) = self.out.front() {
            self.next_sequence = unsent.packet.sequence_number;
            self.last = self.last_polled;
        }
        self.out.clear();
        self.silence_packets_left = 0;
        self.next_due = None;
        self.prompt_ended = true;
        self.in_spurt = self.config.idle == IdleFill::Silence && self.last.is_some();
        self.idle_due = self.idle_after(self.last.map(|(due, _)| due));
    }

    pub fn is_playing(&self) -> bool {
        self.next_due.is_some()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.held {
            return None;
        }
        self.next_due.or(self.idle_due)
    }

    /// Produces every packet due at or before `now`: one, when the driver is on time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.held {
            return;
        }
        loop {
            if let Some(due) = self.next_due.filter(|&due| due <= now) {
                self.produce(due);
            } else if let Some(due) = self.idle_due.filter(|&due| due <= now) {
                self.produce_idle(due);
            } else {
                break;
            }
        }
    }

    pub fn poll_packet(&mut self) -> Option<OutgoingPacket> {
        let out = self.out.pop_front()?;
        self.last_polled = Some((out.due, out.packet.timestamp));
        Some(out)
    }

    pub fn poll_event(&mut self) -> Option<PacerEvent> {
        self.events.pop_front()
    }

    fn produce(&mut self, due: Instant) {
        let ptime = self.config.ptime.duration();
        let spp = self.samples_per_packet;
        let mut frame = vec![0i16; spp];
        let prompt = if self.silence_packets_left > 0 {
            self.silence_packets_left -= 1;
            None
        } else {
            let Some(playing) = self.current_or_next() else {
                self.next_due = None;
                self.in_spurt = false;
                return;
            };
            let end = (playing.offset + spp).min(playing.pcm.len());
            frame[..end - playing.offset].copy_from_slice(&playing.pcm[playing.offset..end]);
            playing.offset = end;
            Some(playing.id)
        };
        let payload = self.encode(&frame);
        let timestamp = self.timestamp_at(due);
        self.out.push_back(OutgoingPacket {
            packet: RtpPacket {
                payload_type: self.config.payload_type,
                marker: !self.in_spurt || self.prompt_ended,
                sequence_number: self.next_sequence,
                timestamp,
                ssrc: self.config.ssrc,
                payload: Bytes::from(payload),
            },
            due,
            prompt,
        });
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.last = Some((due, timestamp));
        self.in_spurt = true;
        self.prompt_ended = false;
        self.next_due = Some(due + ptime);
        self.after_packet(due);
    }

    /// When the first idle-fill packet after a packet due at `last` is due.
    fn idle_after(&self, last: Option<Instant>) -> Option<Instant> {
        let last = last?;
        match self.config.idle {
            IdleFill::Nothing => None,
            IdleFill::Silence | IdleFill::ComfortNoise(_) => {
                Some(last + self.config.ptime.duration())
            }
        }
    }

    /// One idle-fill packet: silence continuing the talk spurt, or a
    /// comfort-noise packet whose timestamp covers the pause so far.
    fn produce_idle(&mut self, due: Instant) {
        let ptime = self.config.ptime.duration();
        let (payload_type, payload, next) = match self.config.idle {
            IdleFill::Nothing => {
                self.idle_due = None;
                return;
            }
            IdleFill::Silence => {
                let frame = vec![0i16; self.samples_per_packet];
                (self.config.payload_type, self.encode(&frame), due + ptime)
            }
            IdleFill::ComfortNoise(pt) => {
                (pt, vec![COMFORT_NOISE_LEVEL], due + COMFORT_NOISE_INTERVAL)
            }
        };
        let timestamp = self.timestamp_at(due);
        // Silence after a pause (a hold) starts a talk spurt like a prompt would.
        let marker = self.config.idle == IdleFill::Silence && !self.in_spurt;
        self.out.push_back(OutgoingPacket {
            packet: RtpPacket {
                payload_type,
                marker,
                sequence_number: self.next_sequence,
                timestamp,
                ssrc: self.config.ssrc,
                payload: Bytes::from(payload),
            },
            due,
            prompt: None,
        });
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.last = Some((due, timestamp));
        self.in_spurt = self.config.idle == IdleFill::Silence;
        self.idle_due = Some(next);
    }

    /// The RTP timestamp of a packet due at `due`: one packet on within a
    /// talk spurt; after a pause, also the time that passed.
    fn timestamp_at(&self, due: Instant) -> u32 {
        let ptime = self.config.ptime.duration();
        let ticks = self.ticks_per_packet;
        match self.last {
            Some((_, ts)) if self.in_spurt => ts.wrapping_add(ticks),
            Some((last_due, ts)) => {
                let idle = due.saturating_duration_since(last_due + ptime);
                let idle_samples = idle.as_nanos() * self.config.clock_rate as u128 / 1_000_000_000;
                ts.wrapping_add(ticks).wrapping_add(idle_samples as u32)
            }
            None => self.config.first_timestamp,
        }
    }

    /// One packet's payload from one packet's worth of 8 kHz PCM.
    fn encode(&mut self, frame: &[i16]) -> Vec<u8> {
        #[cfg(feature = "opus")]
        if let Some(encoder) = self.opus.as_mut() {
            // A frame the encoder refuses is sent as an empty packet (a gap
            // the receiver conceals) rather than stopping the prompt.
            return encoder.encode(frame).unwrap_or_default();
        }
        let mut payload = Vec::with_capacity(frame.len());
        self.config.codec.encode(frame, &mut payload);
        payload
    }

    fn current_or_next(&mut self) -> Option<&mut Playing> {
        while self.current.is_none() {
            let (id, pcm) = self.queue.pop_front()?;
            self.events.push_back(PacerEvent::Started(id));
            if pcm.is_empty() {
                // Nothing to send; an empty prompt must not become a packet of silence.
                self.events.push_back(PacerEvent::Finished(id));
                continue;
            }
            self.current = Some(Playing { id, pcm, offset: 0 });
        }
        self.current.as_mut()
    }

    /// Decides what follows a finished prompt.
    fn after_packet(&mut self, due: Instant) {
        let finished = self
            .current
            .as_ref()
            .is_some_and(|p| p.offset >= p.pcm.len());
        if !finished {
            return;
        }
        if let Some(playing) = self.current.take() {
            self.events.push_back(PacerEvent::Finished(playing.id));
        }
        let ptime = self.config.ptime.duration();
        if self.queue.is_empty() {
            self.next_due = None;
            self.prompt_ended = true;
            self.in_spurt = self.config.idle == IdleFill::Silence;
            self.idle_due = self.idle_after(Some(due));
            return;
        }
        match self.config.between_prompts {
            BetweenPrompts::Nothing => {}
            BetweenPrompts::Silence(gap) => {
                self.silence_packets_left = gap.as_nanos().div_ceil(ptime.as_nanos()) as usize;
            }
            BetweenPrompts::Pause(gap) => {
                self.next_due = Some(due + ptime + gap);
                self.in_spurt = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(ptime: Ptime, between: BetweenPrompts) -> Pacer {
        Pacer::new(PacerConfig {
            ptime,
            between_prompts: between,
            ..PacerConfig::g711(G711::Ulaw, 0x1234, 1000, 50_000)
        })
    }

    fn prompt(samples: usize) -> Vec<i16> {
        (0..samples).map(|i| ((i % 50) as i16 - 25) * 400).collect()
    }

    /// Drives the pacer exactly as a driver would: wake at each deadline, collect packets.
    fn run(p: &mut Pacer, until: Instant) -> Vec<OutgoingPacket> {
        let mut sent = Vec::new();
        while let Some(due) = p.poll_timeout().filter(|&d| d <= until) {
            p.handle_timeout(due);
            let batch: Vec<_> = std::iter::from_fn(|| p.poll_packet()).collect();
            assert!(
                batch.len() <= 1,
                "burst of {} packets at one instant",
                batch.len()
            );
            sent.extend(batch);
        }
        sent
    }

    #[test]
    fn three_second_prompt_gives_150_packets_paced_every_20_ms() {
        let t0 = Instant::now();
        let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
        let id = p.enqueue(t0, prompt(24_000));
        let sent = run(&mut p, t0 + Duration::from_secs(10));
        assert_eq!(sent.len(), 150);
        for (k, out) in sent.iter().enumerate() {
            assert_eq!(out.due, t0 + Duration::from_millis(20 * k as u64));
            assert_eq!(out.packet.timestamp, 50_000 + 160 * k as u32);
            assert_eq!(out.packet.sequence_number, 1000 + k as u16);
            assert_eq!(out.packet.marker, k == 0);
            assert_eq!(out.packet.payload.len(), 160);
            assert_eq!(out.prompt, Some(id));
        }
        assert_eq!(p.poll_timeout(), None);
        assert_eq!(p.poll_event(), Some(PacerEvent::Started(id)));
        assert_eq!(p.poll_event(), Some(PacerEvent::Finished(id)));
    }

    #[cfg(feature = "opus")]
    #[test]
    fn opus_packets_carry_the_prompt_on_a_48_khz_clock() {
        let t0 = Instant::now();
        let mut p = Pacer::new(PacerConfig::opus(111, 7, 1, 0));
        let tone: Vec<i16> = (0..8000)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16
            })
            .collect();
        p.enqueue(t0, tone);
        let sent = run(&mut p, t0 + Duration::from_secs(2));
        assert_eq!(sent.len(), 50, "one second in 20 ms packets");
        let mut decoder = crate::opus::OpusDecoder::new(8000).unwrap();
        let mut pcm = Vec::new();
        for (k, out) in sent.iter().enumerate() {
            assert_eq!(out.packet.payload_type, 111);
            assert_eq!(
                out.packet.timestamp,
                960 * k as u32,
                "RFC 7587: 48 kHz clock"
            );
            assert!(!out.packet.payload.is_empty() && out.packet.payload.len() < 160);
            decoder.decode(&out.packet.payload, &mut pcm).unwrap();
        }
        assert_eq!(pcm.len(), 8000);
        let rms = (pcm[2000..]
            .iter()
            .map(|&s| f64::from(s).powi(2))
            .sum::<f64>()
            / 6000.0)
            .sqrt();
        assert!(rms > 3000.0, "the tone came through: rms {rms}");
    }

    #[test]
    fn nothing_is_sent_before_it_is_due() {
        let t0 = Instant::now();
        let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
        p.enqueue(t0, prompt(1600));
        p.handle_timeout(t0);
        assert!(p.poll_packet().is_some());
        p.handle_timeout(t0 + Duration::from_millis(19));
        assert!(p.poll_packet().is_none());
        p.handle_timeout(t0 + Duration::from_millis(20));
        assert!(p.poll_packet().is_some());
    }

    #[test]
    fn ptime_sets_packet_size_and_spacing_and_the_tail_is_padded() {
        for (ptime, spp, ms) in [(Ptime::Ms10, 80, 10), (Ptime::Ms30, 240, 30)] {
            let t0 = Instant::now();
            let mut p = pacer(ptime, BetweenPrompts::Nothing);
            p.enqueue(t0, prompt(1000));
            let sent = run(&mut p, t0 + Duration::from_secs(1));
            assert_eq!(sent.len(), 1000usize.div_ceil(spp));
            assert_eq!(sent[1].due - sent[0].due, Duration::from_millis(ms));
            assert_eq!(
                sent[1].packet.timestamp - sent[0].packet.timestamp,
                spp as u32
            );
            let last = &sent.last().unwrap().packet.payload;
            assert_eq!(last.len(), spp);
            assert_eq!(*last.last().unwrap(), G711::Ulaw.silence());
        }
    }

    #[test]
    fn queued_prompts_continue_the_spurt_and_the_sequence() {
        let t0 = Instant::now();
        let mut p = Pacer::new(PacerConfig::g711(G711::Alaw, 1, 65534, u32::MAX - 100));
        let a = p.enqueue(t0, prompt(320));
        let b = p.enqueue(t0, prompt(480));
        let sent = run(&mut p, t0 + Duration::from_secs(1));
        let seqs: Vec<u16> = sent.iter().map(|o| o.packet.sequence_number).collect();
        assert_eq!(seqs, vec![65534, 65535, 0, 1, 2]);
        let markers: Vec<bool> = sent.iter().map(|o| o.packet.marker).collect();
        assert_eq!(markers, vec![true, false, false, false, false]);
        assert_eq!(sent[2].packet.timestamp, (u32::MAX - 100).wrapping_add(320));
        assert_eq!(sent[2].prompt, Some(b));
        assert_eq!(sent[0].packet.payload_type, 8);
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        use PacerEvent::*;
        assert_eq!(
            events,
            vec![Started(a), Finished(a), Started(b), Finished(b)]
        );
    }

    #[test]
    fn silence_packets_fill_the_gap_between_prompts() {
        let t0 = Instant::now();
        let mut p = pacer(
            Ptime::Ms20,
            BetweenPrompts::Silence(Duration::from_millis(100)),
        );
        p.enqueue(t0, prompt(320));
        p.enqueue(t0, prompt(320));
        let sent = run(&mut p, t0 + Duration::from_secs(1));
        assert_eq!(sent.len(), 2 + 5 + 2);
        for s in &sent[2..7] {
            assert_eq!(s.prompt, None);
            assert!(s.packet.payload.iter().all(|&b| b == 0xFF));
        }
        assert!(sent[1..].iter().all(|o| !o.packet.marker));
        for (k, s) in sent.iter().enumerate() {
            assert_eq!(s.due, t0 + Duration::from_millis(20 * k as u64));
            assert_eq!(s.packet.timestamp, 50_000 + 160 * k as u32);
        }
    }

    #[test]
    fn a_pause_between_prompts_starts_a_new_spurt_with_timestamps_for_the_gap() {
        let t0 = Instant::now();
        let mut p = pacer(
            Ptime::Ms20,
            BetweenPrompts::Pause(Duration::from_millis(100)),
        );
        p.enqueue(t0, prompt(320));
        p.enqueue(t0, prompt(320));
        let sent = run(&mut p, t0 + Duration::from_secs(1));
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[2].due, t0 + Duration::from_millis(20 + 20 + 100));
        assert!(sent[2].packet.marker);
        assert_eq!(
            sent[2].packet.timestamp,
            sent[1].packet.timestamp + 160 + 800
        );
        assert_eq!(
            sent[2].packet.sequence_number,
            sent[1].packet.sequence_number + 1
        );
    }

    #[test]
    fn stop_takes_effect_for_the_next_packet() {
        let t0 = Instant::now();
        let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
        let a = p.enqueue(t0, prompt(8000));
        let b = p.enqueue(t0, prompt(8000));
        let sent = run(&mut p, t0 + Duration::from_millis(100));
        assert_eq!(sent.len(), 6);
        p.handle_timeout(t0 + Duration::from_millis(120)); // produced but not yet polled
        p.stop();
        assert_eq!(p.poll_packet(), None);
        assert_eq!(p.poll_timeout(), None);
        assert!(!p.is_playing());
        p.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(p.poll_packet(), None);
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        use PacerEvent::*;
        assert_eq!(events, vec![Started(a), Stopped(a), Stopped(b)]);

        // The next prompt starts a new spurt; the timestamp covers the silence.
        let t1 = t0 + Duration::from_millis(1000);
        p.enqueue(t1, prompt(160));
        let next = run(&mut p, t1 + Duration::from_secs(1));
        assert_eq!(next.len(), 1);
        assert!(next[0].packet.marker);
        assert_eq!(next[0].due, t1);
        // The packet produced for 120 ms was never polled, so its number is reused.
        assert_eq!(next[0].packet.sequence_number, 1006);
        assert_eq!(next[0].packet.timestamp, 50_000 + 8 * 1000);
    }

    #[test]
    fn an_empty_prompt_sends_nothing_but_still_finishes() {
        let t0 = Instant::now();
        let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
        let empty = p.enqueue(t0, Vec::new());
        let real = p.enqueue(t0, prompt(160));
        let sent = run(&mut p, t0 + Duration::from_secs(1));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].prompt, Some(real));
        assert!(sent[0].packet.marker);
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        use PacerEvent::*;
        assert_eq!(
            events,
            vec![
                Started(empty),
                Finished(empty),
                Started(real),
                Finished(real)
            ]
        );
    }

    #[test]
    fn a_prompt_queued_right_after_another_ends_is_not_sent_early() {
        let t0 = Instant::now();
        let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
        p.enqueue(t0, prompt(160));
        let first = run(&mut p, t0 + Duration::from_secs(1));
        assert_eq!(first.len(), 1);
        p.enqueue(t0 + Duration::from_millis(5), prompt(160));
        assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_millis(20)));
    }

    fn with_idle(idle: IdleFill) -> Pacer {
        Pacer::new(PacerConfig {
            idle,
            ..PacerConfig::g711(G711::Ulaw, 0x1234, 1000, 50_000)
        })
    }

    #[test]
    fn silence_keeps_the_stream_alive_between_prompts_on_one_grid() {
        let t0 = Instant::now();
        let mut p = with_idle(IdleFill::Silence);
        assert_eq!(p.poll_timeout(), None, "nothing before the first prompt");
        p.enqueue(t0, prompt(1600));
        let sent = run(&mut p, t0 + Duration::from_millis(1000));
        assert_eq!(
            sent.len(),
            51,
            "10 prompt packets, then silence every 20 ms"
        );
        assert!(!p.is_playing(), "silence is not a prompt");
        for w in sent.windows(2) {
            assert_eq!(w[1].due - w[0].due, Duration::from_millis(20));
            assert_eq!(w[1].packet.sequence_number, w[0].packet.sequence_number + 1);
            assert_eq!(w[1].packet.timestamp, w[0].packet.timestamp + 160);
            assert!(!w[1].packet.marker, "one unbroken stream");
        }
        assert!(sent[10..].iter().all(|o| o.prompt.is_none()
            && o.packet.payload_type == 0
            && o.packet.payload.iter().all(|&b| b == 0xFF)));
        // The next prompt takes the next slot of the grid.
        let at = t0 + Duration::from_millis(1005);
        p.enqueue(at, prompt(160));
        let next = run(&mut p, t0 + Duration::from_millis(1020));
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].due, t0 + Duration::from_millis(1020));
        assert!(next[0].prompt.is_some());
        assert!(
            next[0].packet.marker,
            "a prompt after silence starts a talk spurt"
        );
        assert_eq!(next[0].packet.timestamp, sent[50].packet.timestamp + 160);
    }

    #[test]
    fn comfort_noise_marks_the_pause_and_repeats_until_the_next_prompt() {
        let t0 = Instant::now();
        let mut p = with_idle(IdleFill::ComfortNoise(13));
        p.enqueue(t0, prompt(160));
        let sent = run(&mut p, t0 + Duration::from_millis(1000));
        let noise: Vec<_> = sent
            .iter()
            .filter(|o| o.packet.payload_type == 13)
            .collect();
        assert_eq!(sent.len(), 1 + noise.len());
        assert_eq!(noise.len(), 5, "at 20, 220, 420, 620 and 820 ms");
        assert_eq!(noise[0].due, t0 + Duration::from_millis(20));
        assert!(noise.iter().all(|o| o.packet.payload.len() == 1));
        assert_eq!(noise[1].packet.timestamp - noise[0].packet.timestamp, 1600);
        p.enqueue(t0 + Duration::from_millis(1000), prompt(160));
        let next = run(&mut p, t0 + Duration::from_millis(1000));
        assert!(
            next[0].packet.marker,
            "a prompt after comfort noise is a new talk spurt"
        );
        assert_eq!(
            next[0].packet.timestamp - noise[4].packet.timestamp,
            180 * 8,
            "the timestamp covers the pause"
        );
    }

    #[test]
    fn a_held_stream_sends_nothing_and_the_prompt_resumes_where_it_stopped() {
        let t0 = Instant::now();
        let mut p = with_idle(IdleFill::Silence);
        let id = p.enqueue(t0, prompt(1600));
        let before = run(&mut p, t0 + Duration::from_millis(90));
        assert_eq!(before.len(), 5);
        p.set_held(t0 + Duration::from_millis(95), true);
        assert_eq!(p.poll_timeout(), None);
        p.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(p.poll_packet(), None, "nothing while held");
        assert!(p.is_playing(), "the prompt is paused, not over");
        let resumed_at = t0 + Duration::from_secs(5);
        p.set_held(resumed_at, false);
        let after = run(&mut p, resumed_at + Duration::from_millis(90));
        let prompt_packets = after.iter().filter(|o| o.prompt == Some(id)).count();
        assert_eq!(prompt_packets, 5, "the other half of the prompt");
        assert_eq!(after[0].due, resumed_at);
        assert!(after[0].packet.marker, "a new talk spurt after the hold");
        assert_eq!(
            after[0].packet.sequence_number,
            before[4].packet.sequence_number + 1
        );
        let gap = after[0].packet.timestamp - before[4].packet.timestamp;
        assert!(gap >= 8 * 4900, "timestamp covers the hold: {gap}");
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        assert_eq!(
            events,
            vec![PacerEvent::Started(id), PacerEvent::Finished(id)]
        );
    }

    #[test]
    fn a_renegotiated_codec_and_ptime_take_over_from_the_next_packet() {
        let t0 = Instant::now();
        let mut p = pacer(Ptime::Ms20, BetweenPrompts::Nothing);
        p.enqueue(t0, prompt(1600));
        let before = run(&mut p, t0 + Duration::from_millis(80));
        assert!(before.iter().all(|o| o.packet.payload_type == 0));
        p.renegotiate(PacerConfig {
            ptime: Ptime::Ms30,
            ..PacerConfig::g711(G711::Alaw, 0x9999, 1, 1)
        });
        let after = run(&mut p, t0 + Duration::from_secs(2));
        assert!(after
            .iter()
            .all(|o| o.packet.payload_type == 8 && o.packet.ssrc == 0x1234));
        assert_eq!(
            after[0].packet.sequence_number,
            before[4].packet.sequence_number + 1
        );
        assert_eq!(after[0].packet.payload.len(), 240, "30 ms of A-law");
        assert_eq!(after[1].due - after[0].due, Duration::from_millis(30));
        let mut expected = Vec::new();
        G711::Alaw.encode(&prompt(1600)[800..1040], &mut expected);
        assert_eq!(
            after[0].packet.payload[..],
            expected[..],
            "the prompt goes on, in A-law"
        );
        // 1600 samples: 800 sent at 20 ms, 800 left in 30 ms packets (the last padded).
        assert_eq!(after.len(), 4);
    }
}
