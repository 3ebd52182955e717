//! One caller's outgoing RTP, one packet per 20 ms tick: PCMU low-level
//! noise, replaced now and then by an RFC 4733 key press (updates every
//! 20 ms, the end packet three times with one sequence number and the
//! event's timestamp), after which the audio resumes where the clock is.

use std::sync::Arc;

use bytes::Bytes;
use media::dtmf_rfc4733::TelephoneEvent;
use media::{Digit, RtpPacket, G711};

pub const SAMPLES_PER_PACKET: u32 = 160;
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// Ticks of tone (100 ms), then two more for the repeated end packet.
const TONE_TICKS: u32 = 5;
const END_REPEATS: u32 = 3;
const VOLUME: u8 = 10;

/// µ-law frames of quiet noise (about -50 dBFS): not digital silence, not
/// loud enough for a voice-activity detector.
pub fn noise_frames(count: usize, seed: u32) -> Arc<[Bytes]> {
    let mut state = seed | 1;
    (0..count)
        .map(|_| {
            let pcm: Vec<i16> = (0..SAMPLES_PER_PACKET)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state % 201) as i16 - 100
                })
                .collect();
            let mut codes = Vec::with_capacity(pcm.len());
            G711::Ulaw.encode(&pcm, &mut codes);
            Bytes::from(codes)
        })
        .collect()
}

/// When the keys are pressed: the first at `first_tick`, then one every
/// `every_ticks`, taken in order from `keys` (the first once, the rest in a
/// cycle).
#[derive(Debug, Clone)]
pub struct KeyPlan {
    pub first: char,
    pub cycle: Vec<char>,
    pub first_tick: u64,
    pub every_ticks: u64,
}

#[derive(Debug, Clone, Copy)]
struct Press {
    code: u8,
    timestamp: u32,
    /// Ticks into the press.
    at: u32,
    end_sequence: u16,
}

pub struct Outgoing {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    tick: u64,
    noise: Arc<[Bytes]>,
    plan: KeyPlan,
    keys_started: u64,
    press: Option<Press>,
    digits_sent: u64,
}

impl Outgoing {
    pub fn new(
        ssrc: u32,
        first_sequence: u16,
        first_timestamp: u32,
        noise: Arc<[Bytes]>,
        plan: KeyPlan,
    ) -> Outgoing {
        Outgoing {
            ssrc,
            sequence: first_sequence,
            timestamp: first_timestamp,
            tick: 0,
            noise,
            plan,
            keys_started: 0,
            press: None,
            digits_sent: 0,
        }
    }

    /// A key press is under way: its end packets are still to come.
    pub fn pressing(&self) -> bool {
        self.press.is_some()
    }

    /// Key presses whose end packet has gone out.
    pub fn digits_sent(&self) -> u64 {
        self.digits_sent
    }

    fn next_key(&self) -> Option<char> {
        match self.keys_started {
            0 => Some(self.plan.first),
            n => {
                let cycle = &self.plan.cycle;
                (!cycle.is_empty()).then(|| cycle[(n as usize - 1) % cycle.len()])
            }
        }
    }

    fn key_due(&self) -> bool {
        let every = self.plan.every_ticks.max(1);
        self.tick >= self.plan.first_tick
            && (self.tick - self.plan.first_tick).is_multiple_of(every)
    }

    /// The packet for this tick. No new key press starts unless
    /// `may_press` (so that none is cut off when the stream stops).
    pub fn next_packet(&mut self, may_press: bool) -> RtpPacket {
        let ts_now = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(SAMPLES_PER_PACKET);
        let first_tick = self.tick == 0;
        if self.press.is_none() && may_press && self.key_due() {
            if let Some(code) = self
                .next_key()
                .and_then(Digit::from_char)
                .map(Digit::event_code)
            {
                self.keys_started += 1;
                self.press = Some(Press {
                    code,
                    timestamp: ts_now,
                    at: 0,
                    end_sequence: 0,
                });
            }
        }
        self.tick += 1;
        let Some(mut press) = self.press else {
            let payload = self.noise[(self.tick as usize) % self.noise.len()].clone();
            return self.packet(0, first_tick, ts_now, payload, true);
        };
        let end = press.at + 1 >= TONE_TICKS;
        let ticks = (press.at + 1).min(TONE_TICKS);
        let event = TelephoneEvent {
            event: press.code,
            end,
            volume: VOLUME,
            duration: (ticks * SAMPLES_PER_PACKET) as u16,
        };
        let payload = Bytes::copy_from_slice(&event.to_bytes());
        let repeat = press.at >= TONE_TICKS;
        let packet = if repeat {
            // The end again, as it was: same sequence number.
            let p = self.packet(TELEPHONE_EVENT_PT, false, press.timestamp, payload, false);
            RtpPacket {
                sequence_number: press.end_sequence,
                ..p
            }
        } else {
            if end {
                press.end_sequence = self.sequence;
                self.digits_sent += 1;
            }
            self.packet(
                TELEPHONE_EVENT_PT,
                press.at == 0,
                press.timestamp,
                payload,
                true,
            )
        };
        press.at += 1;
        self.press = (press.at < TONE_TICKS + END_REPEATS - 1).then_some(press);
        packet
    }

    fn packet(
        &mut self,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: Bytes,
        new_sequence: bool,
    ) -> RtpPacket {
        let sequence_number = self.sequence;
        if new_sequence {
            self.sequence = self.sequence.wrapping_add(1);
        }
        RtpPacket {
            payload_type,
            marker,
            sequence_number,
            timestamp,
            ssrc: self.ssrc,
            payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::{Rfc4733Config, Rfc4733Detector};
    use std::time::{Duration, Instant};

    fn plan() -> KeyPlan {
        KeyPlan {
            first: '1',
            cycle: vec!['2', '3', '4', '*'],
            first_tick: 3,
            every_ticks: 20,
        }
    }

    /// Every packet serialised and parsed back, as the agent would see it.
    fn stream(ticks: usize, may_press: impl Fn(usize) -> bool) -> (Vec<RtpPacket>, Outgoing) {
        let mut out = Outgoing::new(7, 65530, 1000, noise_frames(4, 1), plan());
        let packets = (0..ticks)
            .map(|i| RtpPacket::parse(&out.next_packet(may_press(i)).to_bytes().unwrap()).unwrap())
            .collect();
        (packets, out)
    }

    #[test]
    fn key_presses_decode_with_the_agents_detector() {
        let (packets, out) = stream(120, |_| true);
        let mut detector = Rfc4733Detector::new(Rfc4733Config::default());
        let t0 = Instant::now();
        let mut keys = String::new();
        for (i, p) in packets.iter().enumerate() {
            detector.handle_packet(t0 + Duration::from_millis(20 * i as u64), p);
            while let Some(d) = detector.poll_digit() {
                assert!(d.end_seen);
                assert_eq!(d.duration, Duration::from_millis(100));
                keys.push(d.digit.as_char());
            }
        }
        assert_eq!(keys, "1234*2");
        assert_eq!(out.digits_sent(), 6);
    }

    #[test]
    fn audio_keeps_the_clock_and_sequence_across_a_press() {
        let (p, _) = stream(12, |_| true);
        assert!(p[0].marker && p[0].payload_type == 0 && p[0].payload.len() == 160);
        assert!(
            p[0].payload.iter().any(|&b| b != 0xFF),
            "not digital silence"
        );
        // Ticks 3..=9 are the press: 5 updates/end, then the end twice more.
        let event: Vec<&RtpPacket> = p[3..10].iter().collect();
        assert!(event
            .iter()
            .all(|e| e.payload_type == TELEPHONE_EVENT_PT && e.timestamp == p[3].timestamp));
        assert!(event[0].marker && !event[1].marker);
        assert_eq!(event[4].sequence_number, event[5].sequence_number);
        assert_eq!(event[4].sequence_number, event[6].sequence_number);
        assert_eq!(p[3].timestamp, 1000 + 3 * 160);
        assert_eq!(p[10].payload_type, 0);
        assert_eq!(p[10].timestamp, 1000 + 10 * 160);
        assert_eq!(
            p[10].sequence_number,
            event[4].sequence_number.wrapping_add(1)
        );
        // Sequence numbers wrap without a hole.
        assert_eq!(p[5].sequence_number, 65535);
        assert_eq!(p[6].sequence_number, 0);
    }

    #[test]
    fn no_press_starts_when_not_allowed_but_one_under_way_finishes() {
        let (_, out) = stream(60, |i| i < 4);
        assert_eq!(out.digits_sent(), 1, "the press begun at tick 3 ends");
        let (packets, _) = stream(60, |i| i < 3);
        assert!(packets.iter().all(|p| p.payload_type == 0));
    }
}
