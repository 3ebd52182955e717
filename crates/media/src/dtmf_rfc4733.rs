//! RFC 4733 telephone-event DTMF: payload parsing and a detector that reports each key
//! press once.
//!
//! A press is identified by (SSRC, event timestamp): every packet of one event carries
//! the timestamp of its start, the duration grows, and the end packet is usually sent
//! three times with the same sequence number. A digit is reported when its first end
//! packet arrives, when a packet of a different event arrives (the end was lost), or
//! `end_timeout` after the last packet of the event (all end packets lost).
//!
//! The SIPp trap: `play_pcap_audio` replays a capture verbatim, so pressing the same
//! key twice with the same pcap produces a second event with the *same* SSRC and
//! timestamp (and, with stock SIPp, the same sequence numbers too). A packet for an
//! already reported key is taken as a new press only if its duration is shorter than
//! the reported one (durations only grow within one event) **and** either its sequence
//! number is newer than any seen for that press, or at least `replay_after` has passed
//! since it was reported. Everything else for a reported key (end retransmissions, late
//! reordered updates) is a duplicate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::digit::Digit;
use crate::rtp_packet::RtpPacket;

/// How many reported presses are remembered for de-duplication.
const REPORTED_MEMORY: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TelephoneEventError {
    #[error("telephone-event payload of {0} bytes, need at least 4")]
    TooShort(usize),
}

/// One RFC 4733 event block (the first one, if a packet carries several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    /// Power level in -dBm0 (0-63).
    pub volume: u8,
    /// In RTP timestamp units since the event's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, TelephoneEventError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(TelephoneEventError::TooShort(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let flags = (self.end as u8) << 7 | (self.volume & 0x3F);
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, flags, d0, d1]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc4733Config {
    /// The telephone-event payload type negotiated in the SDP (96, 101, 120, …).
    pub payload_type: u8,
    /// The telephone-event clock rate from the SDP, normally 8000.
    pub clock_rate: u32,
    /// Report a press whose end packets were all lost this long after its last packet.
    pub end_timeout: Duration,
    /// A replayed press with an old sequence number counts only after this long.
    pub replay_after: Duration,
}

impl Default for Rfc4733Config {
    fn default() -> Self {
        Rfc4733Config {
            payload_type: 101,
            clock_rate: 8000,
            end_timeout: Duration::from_millis(250),
            replay_after: Duration::from_millis(500),
        }
    }
}

/// A key press seen as telephone-events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventDigit {
    pub digit: Digit,
    /// Longest duration seen in the event's packets.
    pub duration: Duration,
    pub ssrc: u32,
    pub timestamp: u32,
    /// False when the press was closed by the next event or the timeout.
    pub end_seen: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rfc4733Stats {
    pub packets: u64,
    pub digits: u64,
    pub duplicates: u64,
    pub malformed: u64,
    /// Valid events that are not keys (flash, tones): ignored.
    pub non_digit_events: u64,
}

#[derive(Debug, Clone, Copy)]
struct Press {
    ssrc: u32,
    timestamp: u32,
    digit: Digit,
    max_duration: u16,
    highest_seq: u16,
    last_seen: Instant,
    end_seen: bool,
}

#[derive(Debug)]
pub struct Rfc4733Detector {
    config: Rfc4733Config,
    current: Option<Press>,
    reported: VecDeque<(Press, Instant)>,
    out: VecDeque<EventDigit>,
    stats: Rfc4733Stats,
}

impl Rfc4733Detector {
    pub fn new(config: Rfc4733Config) -> Self {
        Rfc4733Detector {
            config: Rfc4733Config {
                clock_rate: config.clock_rate.max(1),
                ..config
            },
            current: None,
            reported: VecDeque::new(),
            out: VecDeque::new(),
            stats: Rfc4733Stats::default(),
        }
    }

    pub fn payload_type(&self) -> u8 {
        self.config.payload_type
    }

    pub fn stats(&self) -> Rfc4733Stats {
        self.stats
    }

    /// Feeds one received RTP packet. Returns false (and does nothing) if it is not a
    /// telephone-event packet, so the caller can route it to the audio path instead.
    pub fn handle_packet(&mut self, now: Instant, packet: &RtpPacket) -> bool {
        if packet.payload_type != self.config.payload_type {
            return false;
        }
        self.stats.packets += 1;
        let Ok(event) = TelephoneEvent::parse(&packet.payload) else {
            self.stats.malformed += 1;
            return true;
        };
        let Some(digit) = Digit::from_event_code(event.event) else {
            self.stats.non_digit_events += 1;
            return true;
        };
        let seq = packet.sequence_number;
        if let Some(index) = self.reported_index(packet.ssrc, packet.timestamp) {
            let (press, reported_at) = &mut self.reported[index];
            let shorter = event.duration < press.max_duration;
            let replayed = seq_newer(seq, press.highest_seq)
                || now.saturating_duration_since(*reported_at) >= self.config.replay_after;
            if !(shorter && replayed) {
                self.stats.duplicates += 1;
                if seq_newer(seq, press.highest_seq) {
                    press.highest_seq = seq;
                }
                return true;
            }
            self.reported.remove(index);
        }
        match &mut self.current {
            Some(press) if press.ssrc == packet.ssrc && press.timestamp == packet.timestamp => {
                press.max_duration = press.max_duration.max(event.duration);
                if seq_newer(seq, press.highest_seq) {
                    press.highest_seq = seq;
                }
                press.last_seen = now;
                if event.end {
                    press.end_seen = true;
                    self.finish_current(now);
                }
                return true;
            }
            Some(_) => {
                // A different event started: the current one lost its end packets.
                self.finish_current(now);
            }
            None => {}
        }
        self.current = Some(Press {
            ssrc: packet.ssrc,
            timestamp: packet.timestamp,
            digit,
            max_duration: event.duration,
            highest_seq: seq,
            last_seen: now,
            end_seen: event.end,
        });
        if event.end {
            self.finish_current(now);
        }
        true
    }

    /// Closes a press whose end packets never came.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self
            .current
            .is_some_and(|p| now >= p.last_seen + self.config.end_timeout)
        {
            self.finish_current(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.map(|p| p.last_seen + self.config.end_timeout)
    }

    pub fn poll_digit(&mut self) -> Option<EventDigit> {
        self.out.pop_front()
    }

    fn reported_index(&self, ssrc: u32, timestamp: u32) -> Option<usize> {
        self.reported
            .iter()
            .position(|(p, _)| p.ssrc == ssrc && p.timestamp == timestamp)
    }

    fn finish_current(&mut self, now: Instant) {
        let Some(press) = self.current.take() else {
            return;
        };
        let micros = press.max_duration as u64 * 1_000_000 / self.config.clock_rate as u64;
        self.out.push_back(EventDigit {
            digit: press.digit,
            duration: Duration::from_micros(micros),
            ssrc: press.ssrc,
            timestamp: press.timestamp,
            end_seen: press.end_seen,
        });
        self.stats.digits += 1;
        if self.reported.len() == REPORTED_MEMORY {
            self.reported.pop_front();
        }
        self.reported.push_back((press, now));
    }
}

/// RFC 1982 serial-number comparison on 16 bits: is `a` after `b`?
fn seq_newer(a: u16, b: u16) -> bool {
    let diff = a.wrapping_sub(b);
    diff != 0 && diff < 0x8000
}

/// An RFC 4733 packet of `event` for tests in this crate, as bytes.
#[cfg(test)]
pub(crate) fn event_datagram(
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    event: u8,
    end: bool,
    duration: u16,
) -> bytes::Bytes {
    RtpPacket {
        payload_type,
        marker: false,
        sequence_number: seq,
        timestamp,
        ssrc: 7,
        payload: bytes::Bytes::copy_from_slice(
            &TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            }
            .to_bytes(),
        ),
    }
    .to_bytes()
    .expect("a well-formed test packet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const SSRC: u32 = 0x0E05_384E;

    fn ev_packet(
        pt: u8,
        ssrc: u32,
        seq: u16,
        ts: u32,
        event: u8,
        end: bool,
        dur: u16,
    ) -> RtpPacket {
        let payload = TelephoneEvent {
            event,
            end,
            volume: 10,
            duration: dur,
        }
        .to_bytes();
        RtpPacket {
            payload_type: pt,
            marker: dur == 0,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            payload: Bytes::copy_from_slice(&payload),
        }
    }

    /// The packets of one press as SIPp's dtmf_2833 pcaps carry them: updates every
    /// 20 ms (160 units) and the end packet three times with one sequence number.
    fn press(pt: u8, ssrc: u32, first_seq: u16, ts: u32, event: u8) -> Vec<RtpPacket> {
        let mut v: Vec<RtpPacket> = (0..7u16)
            .map(|i| {
                ev_packet(
                    pt,
                    ssrc,
                    first_seq.wrapping_add(i),
                    ts,
                    event,
                    false,
                    320 * i,
                )
            })
            .collect();
        for _ in 0..3 {
            v.push(ev_packet(
                pt,
                ssrc,
                first_seq.wrapping_add(7),
                ts,
                event,
                true,
                2240,
            ));
        }
        v
    }

    fn detector(pt: u8) -> Rfc4733Detector {
        Rfc4733Detector::new(Rfc4733Config {
            payload_type: pt,
            ..Rfc4733Config::default()
        })
    }

    fn feed(d: &mut Rfc4733Detector, start: Instant, packets: &[RtpPacket]) -> Vec<EventDigit> {
        for (i, p) in packets.iter().enumerate() {
            let now = start + Duration::from_millis(20 * i as u64);
            d.handle_timeout(now);
            d.handle_packet(now, p);
        }
        std::iter::from_fn(|| d.poll_digit()).collect()
    }

    fn chars(digits: &[EventDigit]) -> String {
        digits.iter().map(|d| d.digit.as_char()).collect()
    }

    #[test]
    fn payload_parses_and_round_trips() {
        let e = TelephoneEvent::parse(&[0x01, 0x8A, 0x08, 0xC0]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 1,
                end: true,
                volume: 10,
                duration: 2240
            }
        );
        assert_eq!(e.to_bytes(), [0x01, 0x8A, 0x08, 0xC0]);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(TelephoneEventError::TooShort(3))
        );
    }

    #[test]
    fn end_packet_sent_three_times_gives_one_digit_with_duration() {
        let t = Instant::now();
        let mut d = detector(101);
        let digits = feed(&mut d, t, &press(101, SSRC, 7984, 13280, 1));
        assert_eq!(chars(&digits), "1");
        assert_eq!(digits[0].duration, Duration::from_millis(280));
        assert!(digits[0].end_seen);
        assert_eq!((digits[0].ssrc, digits[0].timestamp), (SSRC, 13280));
        assert_eq!(d.stats().duplicates, 2);
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn payload_type_is_configurable_and_others_are_left_alone() {
        for pt in [96u8, 101, 120] {
            let t = Instant::now();
            let mut d = detector(pt);
            let digits = feed(&mut d, t, &press(pt, SSRC, 1, 800, 11));
            assert_eq!(chars(&digits), "#", "pt {pt}");
            let other = press(if pt == 96 { 101 } else { 96 }, SSRC, 50, 9000, 5);
            assert!(!d.handle_packet(t, &other[0]));
            assert_eq!(d.stats().packets, 10);
        }
    }

    #[test]
    fn lost_end_packets_reported_when_next_event_starts() {
        let t = Instant::now();
        let mut d = detector(101);
        let mut packets = press(101, SSRC, 100, 1000, 4);
        packets.truncate(7); // no end packets
        packets.extend(press(101, SSRC, 108, 4000, 2));
        let digits = feed(&mut d, t, &packets);
        assert_eq!(chars(&digits), "42");
        assert!(!digits[0].end_seen);
        assert_eq!(digits[0].duration, Duration::from_millis(240)); // 6 * 320 units
    }

    #[test]
    fn lost_end_packets_reported_on_timeout() {
        let t = Instant::now();
        let mut d = detector(101);
        let mut packets = press(101, SSRC, 100, 1000, 9);
        packets.truncate(5);
        assert!(feed(&mut d, t, &packets).is_empty());
        let last = t + Duration::from_millis(80);
        let deadline = d.poll_timeout().unwrap();
        assert_eq!(deadline, last + Duration::from_millis(250));
        d.handle_timeout(deadline - Duration::from_millis(1));
        assert_eq!(d.poll_digit(), None);
        d.handle_timeout(deadline);
        let digit = d.poll_digit().unwrap();
        assert_eq!(digit.digit.as_char(), '9');
        assert!(!digit.end_seen);
        // A late end packet after the timeout does not report it again.
        d.handle_packet(deadline, &press(101, SSRC, 100, 1000, 9)[8]);
        assert_eq!(d.poll_digit(), None);
    }

    #[test]
    fn reordered_packets_give_one_digit() {
        let t = Instant::now();
        let mut d = detector(101);
        let p = press(101, SSRC, 65533, 5000, 7); // sequence wraps inside the press
        let order = [0usize, 2, 1, 3, 5, 4, 7, 6, 8, 9];
        let shuffled: Vec<RtpPacket> = order.iter().map(|&i| p[i].clone()).collect();
        let digits = feed(&mut d, t, &shuffled);
        assert_eq!(chars(&digits), "7");
        assert_eq!(digits[0].duration, Duration::from_millis(280));
    }

    #[test]
    fn ten_percent_loss_still_reports_every_digit_once() {
        let t = Instant::now();
        let mut d = detector(101);
        let keys = "0123456789*#ABCD0123456789*#ABCD0123456789";
        let mut packets = Vec::new();
        let mut seq = 1000u16;
        for (i, key) in keys.chars().enumerate() {
            let code = Digit::from_char(key).unwrap().event_code();
            packets.extend(press(101, SSRC, seq, 160 * 20 * i as u32, code));
            seq = seq.wrapping_add(8);
        }
        let mut state = 42u32;
        let mut dropped = 0;
        packets.retain(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let keep = !(state >> 16).is_multiple_of(10);
            dropped += !keep as usize;
            keep
        });
        assert!(dropped > packets.len() / 20, "loss was actually applied");
        let mut digits = feed(&mut d, t, &packets);
        d.handle_timeout(t + Duration::from_secs(3600));
        digits.extend(d.poll_digit());
        assert_eq!(chars(&digits), keys);
    }

    #[test]
    fn same_timestamp_from_another_ssrc_is_another_press() {
        let t = Instant::now();
        let mut d = detector(101);
        let mut packets = press(101, 1, 10, 8000, 3);
        packets.extend(press(101, 2, 10, 8000, 3));
        assert_eq!(chars(&feed(&mut d, t, &packets)), "33");
    }

    #[test]
    fn sipp_replay_with_identical_packets_counts_after_replay_after() {
        let t = Instant::now();
        let mut d = detector(101);
        let p = press(101, SSRC, 7984, 13280, 1);
        assert_eq!(chars(&feed(&mut d, t, &p)), "1");
        // The same capture again, one second later: same SSRC, timestamp and sequence numbers.
        assert_eq!(chars(&feed(&mut d, t + Duration::from_secs(1), &p)), "1");
        assert_eq!(d.stats().digits, 2);
    }

    #[test]
    fn sipp_replay_with_a_new_sequence_run_counts_at_once() {
        let t = Instant::now();
        let mut d = detector(101);
        let mut packets = press(101, SSRC, 7984, 13280, 1);
        packets.extend(press(101, SSRC, 7992, 13280, 1));
        assert_eq!(chars(&feed(&mut d, t, &packets)), "11");
    }

    #[test]
    fn late_retransmissions_inside_replay_after_are_duplicates() {
        let t = Instant::now();
        let mut d = detector(101);
        let p = press(101, SSRC, 7984, 13280, 1);
        assert_eq!(chars(&feed(&mut d, t, &p)), "1");
        let later = t + Duration::from_millis(300);
        d.handle_packet(later, &p[9]); // end packet again
        d.handle_packet(later, &p[3]); // a delayed update: shorter, but old sequence number
        assert_eq!(d.poll_digit(), None);
        assert_eq!(d.stats().duplicates, 4);
    }

    #[test]
    fn malformed_and_non_digit_events_are_counted_not_reported() {
        let t = Instant::now();
        let mut d = detector(101);
        let mut short = ev_packet(101, SSRC, 1, 0, 1, false, 0);
        short.payload = Bytes::from_static(&[1, 2]);
        assert!(d.handle_packet(t, &short));
        assert!(d.handle_packet(t, &ev_packet(101, SSRC, 2, 0, 16, true, 800))); // flash
        assert_eq!(d.poll_digit(), None);
        assert_eq!((d.stats().malformed, d.stats().non_digit_events), (1, 1));
    }

    #[test]
    fn duration_follows_the_clock_rate() {
        let t = Instant::now();
        let mut d = Rfc4733Detector::new(Rfc4733Config {
            payload_type: 101,
            clock_rate: 16000,
            ..Rfc4733Config::default()
        });
        d.handle_packet(t, &ev_packet(101, SSRC, 1, 0, 0, true, 1600));
        assert_eq!(d.poll_digit().unwrap().duration, Duration::from_millis(100));
    }

    /// Minimal libpcap reader: Ethernet/IPv4/UDP frames to RTP payload bytes.
    fn read_pcap_rtp(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut off = 24;
        while off + 16 <= bytes.len() {
            let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
            off += 16;
            let frame = &bytes[off..off + incl];
            off += incl;
            let ip = &frame[14..];
            let ihl = (ip[0] & 0x0F) as usize * 4;
            out.push(ip[ihl + 8..].to_vec());
        }
        out
    }

    /// Replays each of SIPp's bundled captures twice, one second apart.
    #[test]
    fn sipp_bundled_pcaps_give_their_digit_once_per_replay() {
        let dir = std::path::Path::new("/usr/share/sip-tester");
        for key in 0..=6u8 {
            let path = dir.join(format!("dtmf_2833_{key}.pcap"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; install sip-tester (scripts/ensure-deps.sh)",
                    path.display()
                )
            });
            let packets: Vec<RtpPacket> = read_pcap_rtp(&bytes)
                .iter()
                .map(|d| RtpPacket::parse(d).unwrap())
                .collect();
            assert_eq!(packets.len(), 10);
            let t = Instant::now();
            let mut d = detector(101);
            let mut digits = feed(&mut d, t, &packets);
            digits.extend(feed(&mut d, t + Duration::from_secs(1), &packets));
            let expected: String = [(b'0' + key) as char; 2].iter().collect();
            assert_eq!(chars(&digits), expected, "pcap {key}");
            assert!(digits
                .iter()
                .all(|x| x.end_seen && x.duration.as_millis() > 0));
        }
    }
}
