//! The caller's ears and mouth: what the agent's audio is doing (a prompt
//! playing, silence, the 1 kHz beep) read from its RTP, and the caller's
//! own packets (speech frames, RFC 4733 key presses, silence).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use media::g711::{ulaw_decode, ulaw_encode};

/// Samples in one 20 ms packet at 8 kHz.
pub const FRAME: usize = 160;
/// µ-law code of digital silence.
const ULAW_SILENCE: u8 = 0xFF;
/// A frame at least this loud (RMS) is the agent talking.
const LOUD_RMS: f64 = 200.0;
/// Frames of tone in a row that make the beep (it lasts 400 ms).
const BEEP_FRAMES: u32 = 8;
/// Telephone-event payload type we offer.
pub const EVENT_PT: u8 = 101;

/// What one call has heard from the agent.
#[derive(Debug, Default)]
pub struct Ears {
    tone_run: u32,
    /// When the last beep ended.
    pub beep_ended: Option<Instant>,
    /// When the agent's audio was last loud (and not the beep).
    pub last_loud: Option<Instant>,
    /// When loud audio started after a stretch of quiet.
    pub onset: Option<Instant>,
    quiet_since: Option<Instant>,
    last_arrival: Option<Instant>,
    /// Armed by [`Ears::listen_from`]: the first loud frame at or after it.
    watch_from: Option<Instant>,
    pub heard_after: Option<Instant>,
    /// |inter-arrival − 20 ms| of every audio packet, in µs.
    pub jitter_us: Vec<u32>,
}

impl Ears {
    /// One RTP payload of PCMU from the agent, arrived at `now`.
    pub fn hear(&mut self, now: Instant, payload: &[u8]) {
        if let Some(prev) = self.last_arrival {
            let gap = now.saturating_duration_since(prev).as_micros() as i64;
            self.jitter_us.push((gap - 20_000).unsigned_abs() as u32);
        }
        self.last_arrival = Some(now);
        let pcm: Vec<f64> = payload.iter().map(|&c| ulaw_decode(c) as f64).collect();
        if pcm.is_empty() {
            return;
        }
        let energy: f64 = pcm.iter().map(|s| s * s).sum::<f64>() / pcm.len() as f64;
        let rms = energy.sqrt();
        let tone = rms >= LOUD_RMS && goertzel_share(&pcm, 1000.0) > 0.8;
        if tone {
            self.tone_run += 1;
            return;
        }
        if self.tone_run >= BEEP_FRAMES {
            self.beep_ended = Some(now);
        }
        self.tone_run = 0;
        if rms >= LOUD_RMS {
            if self.heard_after.is_none() && self.watch_from.is_some_and(|w| now >= w) {
                self.heard_after = Some(now);
            }
            if self.quiet_since.is_some() || self.last_loud.is_none() {
                self.onset = Some(now);
            }
            self.quiet_since = None;
            self.last_loud = Some(now);
        } else if self.quiet_since.is_none() {
            self.quiet_since = Some(now);
        }
    }
}

impl Ears {
    /// Notes the first loud frame from `from` on in [`Ears::heard_after`].
    pub fn listen_from(&mut self, from: Instant) {
        self.watch_from = Some(from);
        self.heard_after = None;
    }
}

/// Share of the frame's energy at `freq` (Goertzel), 0 to 1.
fn goertzel_share(pcm: &[f64], freq: f64) -> f64 {
    let n = pcm.len() as f64;
    let k = (0.5 + n * freq / 8000.0).floor();
    let w = 2.0 * std::f64::consts::PI * k / n;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in pcm {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let total: f64 = pcm.iter().map(|x| x * x).sum();
    if total <= 0.0 {
        0.0
    } else {
        (2.0 * power / (n * total)).min(1.0)
    }
}

/// One 20 ms packet's worth of what the caller sends.
#[derive(Debug, Clone)]
pub enum Out {
    Audio(Arc<[u8]>),
    /// A telephone-event packet: digit, duration so far (samples), end bit.
    Event {
        event: u8,
        duration: u16,
        end: bool,
    },
}

/// The caller's mouth: a queue of packets, silence when empty.
#[derive(Debug)]
pub struct Mouth {
    queue: VecDeque<Out>,
    silence: Arc<[u8]>,
    seq: u16,
    ts: u32,
    ssrc: u32,
    event_ts: Option<u32>,
    /// Whether the last packet sent was speech (not silence or a key).
    pub voiced: bool,
}

impl Mouth {
    pub fn new(ssrc: u32) -> Mouth {
        Mouth {
            queue: VecDeque::new(),
            silence: vec![ULAW_SILENCE; FRAME].into(),
            seq: (ssrc & 0x7fff) as u16,
            ts: ssrc.rotate_left(7),
            ssrc,
            event_ts: None,
            voiced: false,
        }
    }

    pub fn idle(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn say(&mut self, frames: &[Arc<[u8]>]) {
        self.queue
            .extend(frames.iter().map(|f| Out::Audio(f.clone())));
    }

    /// Key presses as RFC 4733 events: 100 ms of tone then 80 ms of gap each.
    pub fn press(&mut self, digits: &str) {
        for d in digits.chars() {
            let event = match d {
                '0'..='9' => d as u8 - b'0',
                '*' => 10,
                '#' => 11,
                _ => continue,
            };
            for i in 1..=5u16 {
                self.queue.push_back(Out::Event {
                    event,
                    duration: i * FRAME as u16,
                    end: i == 5,
                });
            }
            // RFC 4733 §2.5.1.4: the end packet is sent three times.
            for _ in 0..2 {
                self.queue.push_back(Out::Event {
                    event,
                    duration: 5 * FRAME as u16,
                    end: true,
                });
            }
            for _ in 0..2 {
                self.queue.push_back(Out::Audio(self.silence.clone()));
            }
        }
    }

    /// The next RTP datagram, one per 20 ms.
    pub fn next_packet(&mut self) -> Vec<u8> {
        let out = self
            .queue
            .pop_front()
            .unwrap_or_else(|| Out::Audio(self.silence.clone()));
        let mut p = Vec::with_capacity(12 + FRAME);
        let (pt, marker, ts, payload): (u8, bool, u32, Vec<u8>) = match out {
            Out::Audio(frame) => {
                self.voiced = !Arc::ptr_eq(&frame, &self.silence);
                self.event_ts = None;
                (0, false, self.ts, frame.to_vec())
            }
            Out::Event {
                event,
                duration,
                end,
            } => {
                self.voiced = false;
                let first = self.event_ts.is_none();
                let ts = *self.event_ts.get_or_insert(self.ts);
                let flags = if end { 0x80 } else { 0 } | 10;
                let d = duration.to_be_bytes();
                (EVENT_PT, first, ts, vec![event, flags, d[0], d[1]])
            }
        };
        p.push(0x80);
        p.push(pt | if marker { 0x80 } else { 0 });
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(&payload);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(FRAME as u32);
        // A repeated end packet keeps the event's timestamp; the next event
        // starts afresh after the gap's audio.
        p
    }
}

/// 8 kHz PCM as 20 ms µ-law frames, the last padded with silence.
pub fn ulaw_frames(pcm: &[i16]) -> Vec<Arc<[u8]>> {
    pcm.chunks(FRAME)
        .map(|c| {
            let mut f: Vec<u8> = c.iter().map(|&s| ulaw_encode(s)).collect();
            f.resize(FRAME, ULAW_SILENCE);
            f.into()
        })
        .collect()
}

/// The PCM without its quiet head and tail, so the last frame sent is the
/// end of speech.
pub fn trim_quiet(pcm: &[i16]) -> &[i16] {
    let loud = |s: &&i16| s.unsigned_abs() > 500;
    let start = pcm.iter().position(|s| loud(&s)).unwrap_or(0);
    let end = pcm
        .iter()
        .rposition(|s| loud(&s))
        .map_or(pcm.len(), |e| e + 1);
    &pcm[start.min(end)..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, amplitude: f64, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                let t = i as f64 / 8000.0;
                ulaw_encode((amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16)
            })
            .collect()
    }

    #[test]
    fn the_beep_is_told_from_speech_and_silence() {
        let mut ears = Ears::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + std::time::Duration::from_millis(n);
        for i in 0..10 {
            ears.hear(ms(i * 20), &tone(300.0, 6000.0, FRAME));
        }
        assert!(ears.beep_ended.is_none());
        assert_eq!(ears.onset, Some(ms(0)));
        for i in 10..30 {
            ears.hear(ms(i * 20), &tone(1000.0, 8000.0, FRAME));
        }
        ears.hear(ms(600), &[ULAW_SILENCE; FRAME]);
        assert_eq!(ears.beep_ended, Some(ms(600)));
        assert_eq!(ears.last_loud, Some(ms(180)));
        ears.hear(ms(620), &tone(300.0, 6000.0, FRAME));
        assert_eq!(ears.onset, Some(ms(620)), "speech after quiet is an onset");
    }

    #[test]
    fn a_key_press_is_events_with_one_marker_and_three_ends() {
        let mut mouth = Mouth::new(7);
        mouth.press("5");
        let packets: Vec<Vec<u8>> = (0..9).map(|_| mouth.next_packet()).collect();
        let events: Vec<&Vec<u8>> = packets.iter().filter(|p| p[1] & 0x7f == EVENT_PT).collect();
        assert_eq!(events.len(), 7);
        assert_eq!(events.iter().filter(|p| p[1] & 0x80 != 0).count(), 1);
        assert_eq!(events.iter().filter(|p| p[13] & 0x80 != 0).count(), 3);
        assert!(events
            .iter()
            .all(|p| p[12] == 5 && p[4..8] == events[0][4..8]));
        assert!(mouth.idle());
    }
}
