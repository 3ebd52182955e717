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

/// One clip of audio handed to the pacer: which one started, finished or
/// was stopped. Not the flow's prompt (that is `auth::flow::PromptId`): the
/// same prompt played twice is two clips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClipId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPacket {
    pub packet: RtpPacket,
    /// The instant the packet was due; the driver sends it as soon as it polls it.
    pub due: Instant,
    /// `None` for silence between prompts.
    pub prompt: Option<ClipId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacerEvent {
    Started(ClipId),
    Finished(ClipId),
    /// Removed by [`Pacer::stop`], whether it had started or was still queued.
    Stopped(ClipId),
}

#[derive(Debug)]
struct Playing {
    id: ClipId,
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
    queue: VecDeque<(ClipId, Arc<[i16]>)>,
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
    pub fn enqueue(&mut self, now: Instant, pcm: impl Into<Arc<[i16]>>) -> ClipId {
        let id = ClipId(self.next_id);
        self.next_id += 1;
        self.enqueue_as(now, id, pcm);
        id
    }

    /// [`Pacer::enqueue`] under an id the caller chose, for a driver that
    /// names its prompts before they reach the pacer (a command queue). One
    /// pacer's prompts are named one way or the other, never both, so an
    /// id names one prompt.
    pub fn enqueue_as(&mut self, now: Instant, id: ClipId, pcm: impl Into<Arc<[i16]>>) {
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
        let (payload, prompt) = if self.silence_packets_left > 0 {
            self.silence_packets_left -= 1;
            (self.encode(&[], spp), None)
        } else {
            let Some(mut playing) = self.take_current_or_next() else {
                self.next_due = None;
                self.in_spurt = false;
                return;
            };
            let start = playing.offset;
            let end = (start + spp).min(playing.pcm.len());
            playing.offset = end;
            let payload = self.encode(&playing.pcm[start..end], spp);
            let id = playing.id;
            self.current = Some(playing);
            (payload, Some(id))
        };
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
            IdleFill::Silence => (
                self.config.payload_type,
                self.encode(&[], self.samples_per_packet),
                due + ptime,
            ),
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

    /// One packet's payload from `pcm`, at most one packet's worth of 8 kHz
    /// samples, padded with silence to `samples` (a prompt's last packet,
    /// or silence alone).
    fn encode(&mut self, pcm: &[i16], samples: usize) -> Vec<u8> {
        #[cfg(feature = "opus")]
        if let Some(encoder) = self.opus.as_mut() {
            let mut frame = vec![0i16; samples];
            frame[..pcm.len()].copy_from_slice(pcm);
            // A frame the encoder refuses is sent as an empty packet (a gap
            // the receiver conceals) rather than stopping the prompt.
            return encoder.encode(&frame).unwrap_or_default();
        }
        // G.711 codes each sample alone: the prompt is encoded where it
        // lies, with no zeroed frame copied first.
        let mut payload = Vec::with_capacity(samples);
        self.config.codec.encode(pcm, &mut payload);
        payload.resize(samples, self.config.codec.silence());
        payload
    }

    /// The prompt playing, or the next one queued, taken out of `current`
    /// to be put back once its packet is made: taken, not cloned, because
    /// the clip's count of owners is shared by every call playing it, on
    /// every thread.
    fn take_current_or_next(&mut self) -> Option<Playing> {
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
        self.current.take()
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
mod tests;
