//! Reorder buffer for one RTP stream, keyed by extended (wrap-free) sequence number.
//!
//! In-order packets leave at once: the consumers (decoder, DTMF, recogniser) want low
//! latency, not a fixed playout delay. A packet is held only while an earlier sequence
//! number is missing, until `depth` packets are waiting or the oldest waiting one has
//! waited `max_wait`; then the gap is declared lost and playout skips it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtp_packet::RtpPacket;

/// A jump this far ahead (or behind) is a sender restart, not loss (RFC 3550 A.1 uses 3000/100).
const MAX_DROPOUT: i64 = 3000;
const MAX_MISORDER: i64 = 100;
/// How many released sequence numbers are remembered to tell duplicates from late
/// packets; covers everything up to `MAX_MISORDER` back.
const RELEASED_MEMORY: i64 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Packets held while waiting for a missing one before giving up on it.
    pub depth: usize,
    /// Longest a packet waits behind a gap.
    pub max_wait: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            depth: 4,
            max_wait: Duration::from_millis(60),
        }
    }
}

/// Counters since the buffer was created (they survive SSRC changes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Every packet offered, duplicates and late ones included.
    pub received: u64,
    /// Copies of a packet already buffered or already released.
    pub duplicates: u64,
    /// Sequence numbers skipped at release because they never arrived in time.
    pub lost: u64,
    /// Packets that arrived after a higher sequence number but in time to be used.
    pub reordered: u64,
    /// Packets that arrived after their slot had been skipped (also counted in `lost`).
    pub late: u64,
    /// Restarts of sequence numbering: SSRC changes and large jumps.
    pub resets: u64,
}

/// A packet held behind a gap, or a slot filled by a packet that is not audio.
#[derive(Debug)]
struct Waiting {
    ext: i64,
    arrival: Instant,
    packet: Option<RtpPacket>,
}

#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    ssrc: Option<u32>,
    /// Extended sequence number expected next at release.
    next_release: i64,
    highest: i64,
    /// Packets held, sorted by extended sequence number, with their
    /// arrival; `None` marks a sequence number taken by a packet of the
    /// stream that is not audio (a telephone event, a payload type we do not
    /// decode): its slot is filled, not lost. A sorted queue, not a map: it
    /// holds a few packets (about `depth`), an in-order packet joins at the
    /// back and leaves from the front, and its one buffer is kept.
    waiting: VecDeque<Waiting>,
    /// Packets flushed from a previous stream (with arrival, and whether
    /// sequence numbers were missing before it), released before anything
    /// else.
    flushed: VecDeque<(Instant, Option<RtpPacket>, bool)>,
    /// Bit i set: `next_release - 1 - i` was released.
    released_bits: u128,
    /// Sequence numbers were skipped since the last audio packet released.
    lost_since_audio: bool,
    stats: JitterStats,
}

/// An audio packet leaving the buffer.
#[derive(Debug)]
pub struct Released {
    pub packet: RtpPacket,
    /// Whether sequence numbers were skipped since the previous audio packet
    /// of the stream: audio went missing. Without it a jump in the
    /// timestamps is a stretch the sender chose not to send audio for (a key
    /// press carried as telephone events, silence suppression), which is
    /// silence, not loss (RFC 3550 5.1: the sequence number counts packets
    /// sent, the timestamp the sampling clock).
    pub after_loss: bool,
}

impl JitterBuffer {
    pub fn new(config: JitterConfig) -> Self {
        JitterBuffer {
            config: JitterConfig {
                depth: config.depth.max(1),
                ..config
            },
            ssrc: None,
            next_release: 0,
            highest: 0,
            waiting: VecDeque::new(),
            flushed: VecDeque::new(),
            released_bits: 0,
            lost_since_audio: false,
            stats: JitterStats::default(),
        }
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Offers one received packet; call [`JitterBuffer::pop`] afterwards until it returns `None`.
    pub fn push(&mut self, now: Instant, packet: RtpPacket) {
        let (ssrc, seq) = (packet.ssrc, packet.sequence_number);
        self.insert(now, ssrc, seq, Some(packet));
    }

    /// A packet of the audio's stream (same SSRC) that carries no audio: a
    /// telephone event or an unknown payload type. It takes its sequence
    /// number, so loss is counted over every packet of the stream (RFC 3550
    /// A.3) and playout does not wait for it. Packets of another SSRC (some
    /// phones send events from one of their own) are not part of this stream
    /// and are ignored.
    pub fn fill_slot(&mut self, now: Instant, ssrc: u32, sequence_number: u16) {
        if self.ssrc == Some(ssrc) {
            self.insert(now, ssrc, sequence_number, None);
        }
    }

    fn insert(&mut self, now: Instant, ssrc: u32, sequence_number: u16, packet: Option<RtpPacket>) {
        self.stats.received += 1;
        if self.ssrc != Some(ssrc) {
            let first = self.ssrc.is_none();
            self.restart(ssrc, sequence_number as i64, !first);
        }
        let mut ext = extend(self.highest, sequence_number);
        if ext - self.next_release > MAX_DROPOUT || self.next_release - ext > MAX_MISORDER {
            // Same SSRC, unrelated numbering: a sender restart or a replayed capture.
            self.restart(ssrc, ext, true);
            ext = self.next_release;
        }
        if ext < self.next_release {
            if self.was_released(ext) {
                self.stats.duplicates += 1;
            } else {
                self.stats.late += 1;
            }
            return;
        }
        let at = match self.waiting.binary_search_by_key(&ext, |w| w.ext) {
            Ok(_) => {
                self.stats.duplicates += 1;
                return;
            }
            Err(at) => at,
        };
        if ext < self.highest {
            self.stats.reordered += 1;
        }
        self.highest = self.highest.max(ext);
        self.waiting.insert(
            at,
            Waiting {
                ext,
                arrival: now,
                packet,
            },
        );
    }

    /// The next audio packet in sequence order, if one may leave at `now`.
    pub fn pop(&mut self, now: Instant) -> Option<Released> {
        loop {
            if let Some((_, p, gap_before)) = self.flushed.pop_front() {
                self.lost_since_audio |= gap_before;
                if let Some(packet) = p {
                    let after_loss = std::mem::take(&mut self.lost_since_audio);
                    return Some(Released { packet, after_loss });
                }
                continue;
            }
            let ext = self.waiting.front()?.ext;
            let gap_expired = self
                .oldest_arrival()
                .is_some_and(|t| now >= t + self.config.max_wait);
            if ext != self.next_release && self.waiting.len() < self.config.depth && !gap_expired {
                return None;
            }
            let packet = self.waiting.pop_front()?.packet;
            let skipped = (ext - self.next_release) as u64;
            self.stats.lost += skipped;
            self.lost_since_audio |= skipped > 0;
            self.mark_released(ext);
            if let Some(packet) = packet {
                let after_loss = std::mem::take(&mut self.lost_since_audio);
                return Some(Released { packet, after_loss });
            }
        }
    }

    /// When a packet held behind a gap will be released even if the gap is not filled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some((arrival, _, _)) = self.flushed.front() {
            return Some(*arrival);
        }
        let ext = self.waiting.front()?.ext;
        if ext == self.next_release {
            return self.oldest_arrival();
        }
        self.oldest_arrival().map(|t| t + self.config.max_wait)
    }

    fn oldest_arrival(&self) -> Option<Instant> {
        self.waiting.iter().map(|w| w.arrival).min()
    }

    fn restart(&mut self, ssrc: u32, first_ext: i64, counts_as_reset: bool) {
        // What was waiting is still good audio from the old stream: release it in order.
        let mut expected = self.next_release;
        for w in self.waiting.drain(..) {
            self.flushed
                .push_back((w.arrival, w.packet, w.ext != expected));
            expected = w.ext + 1;
        }
        if counts_as_reset {
            self.stats.resets += 1;
        }
        self.ssrc = Some(ssrc);
        // Start one cycle up so that early reordering below the first packet stays positive.
        let ext = (1 << 16) + (first_ext & 0xFFFF);
        self.next_release = ext;
        self.highest = ext;
        self.released_bits = 0;
    }

    fn mark_released(&mut self, ext: i64) {
        let advance = ext + 1 - self.next_release;
        self.released_bits = if advance >= RELEASED_MEMORY {
            0
        } else {
            self.released_bits << advance
        };
        self.released_bits |= 1;
        self.next_release = ext + 1;
    }

    fn was_released(&self, ext: i64) -> bool {
        let back = self.next_release - 1 - ext;
        (0..RELEASED_MEMORY).contains(&back) && self.released_bits & (1 << back) != 0
    }
}

/// The extended sequence number closest to `reference` whose low 16 bits are `seq`.
fn extend(reference: i64, seq: u16) -> i64 {
    let candidate = (reference & !0xFFFF) | seq as i64;
    [candidate - 0x10000, candidate, candidate + 0x10000]
        .into_iter()
        .min_by_key(|c| (c - reference).abs())
        .unwrap_or(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn pkt(ssrc: u32, seq: u16) -> RtpPacket {
        RtpPacket {
            payload_type: 0,
            marker: false,
            sequence_number: seq,
            timestamp: seq as u32 * 160,
            ssrc,
            payload: Bytes::new(),
        }
    }

    fn buffer(depth: usize) -> JitterBuffer {
        JitterBuffer::new(JitterConfig {
            depth,
            max_wait: Duration::from_millis(60),
        })
    }

    fn drain(jb: &mut JitterBuffer, now: Instant) -> Vec<u16> {
        std::iter::from_fn(|| jb.pop(now))
            .map(|p| p.packet.sequence_number)
            .collect()
    }

    #[test]
    fn an_audio_packet_says_whether_audio_was_lost_before_it() {
        let t = Instant::now();
        let mut jb = buffer(1);
        let mut released = Vec::new();
        let mut pop_all = |jb: &mut JitterBuffer| {
            while let Some(r) = jb.pop(t) {
                released.push((r.packet.sequence_number, r.after_loss));
            }
        };
        jb.push(t, pkt(1, 1));
        // 2 and 3 are key presses: taken, not lost.
        jb.fill_slot(t, 1, 2);
        jb.fill_slot(t, 1, 3);
        jb.push(t, pkt(1, 4));
        pop_all(&mut jb);
        // 5 never comes; 6 is a key press and 7 audio.
        jb.fill_slot(t, 1, 6);
        jb.push(t, pkt(1, 7));
        jb.push(t, pkt(1, 8));
        pop_all(&mut jb);
        // 10 waits behind the missing 9 when the stream changes: still
        // released, and after a loss.
        let mut deep = buffer(10);
        deep.push(t, pkt(1, 8));
        deep.push(t, pkt(1, 10));
        deep.push(t, pkt(2, 100));
        pop_all(&mut deep);
        assert_eq!(
            released,
            [
                (1, false),
                (4, false),
                (7, true),
                (8, false),
                (8, false),
                (10, true),
                (100, false)
            ]
        );
    }

    #[test]
    fn slots_filled_by_other_packets_of_the_stream_are_not_lost() {
        let t = Instant::now();
        let mut jb = buffer(4);
        let mut out = Vec::new();
        jb.push(t, pkt(1, 10));
        out.extend(drain(&mut jb, t));
        // A key press: seven event packets take 11..=17 (the end packet twice).
        for seq in [11u16, 12, 13, 14, 15, 16, 17, 17] {
            jb.fill_slot(t, 1, seq);
        }
        jb.push(t, pkt(1, 18));
        out.extend(drain(&mut jb, t));
        assert_eq!(out, vec![10, 18], "audio leaves at once, nothing waits");
        assert_eq!(jb.stats().lost, 0);
        assert_eq!(jb.stats().duplicates, 1);
        // A gap that nothing filled is still loss.
        jb.push(t, pkt(1, 20));
        let later = t + Duration::from_millis(100);
        assert_eq!(drain(&mut jb, later), vec![20]);
        assert_eq!(jb.stats().lost, 1);
        // Events from another SSRC are another stream's, not this one's.
        jb.fill_slot(later, 2, 21);
        jb.push(later, pkt(1, 21));
        assert_eq!(drain(&mut jb, later), vec![21]);
        assert_eq!(jb.stats().resets, 0);
    }

    #[test]
    fn in_order_packets_leave_at_once_across_wraparound() {
        let t = Instant::now();
        let mut jb = buffer(4);
        let mut out = Vec::new();
        for seq in [65533u16, 65534, 65535, 0, 1, 2] {
            jb.push(t, pkt(1, seq));
            out.extend(drain(&mut jb, t));
        }
        assert_eq!(out, vec![65533, 65534, 65535, 0, 1, 2]);
        assert_eq!(jb.stats().lost, 0);
        assert_eq!(jb.stats().received, 6);
        assert_eq!(jb.poll_timeout(), None);
    }

    #[test]
    fn reordered_packets_are_put_back_in_order() {
        let t = Instant::now();
        let mut jb = buffer(4);
        let mut out = Vec::new();
        for seq in [10u16, 12, 11, 14, 13] {
            jb.push(t, pkt(1, seq));
            out.extend(drain(&mut jb, t));
        }
        assert_eq!(out, vec![10, 11, 12, 13, 14]);
        let s = jb.stats();
        assert_eq!((s.reordered, s.lost, s.late), (2, 0, 0));
    }

    #[test]
    fn reordering_across_wraparound() {
        let t = Instant::now();
        let mut jb = buffer(4);
        let mut out = Vec::new();
        for seq in [65534u16, 0, 65535, 1] {
            jb.push(t, pkt(1, seq));
            out.extend(drain(&mut jb, t));
        }
        assert_eq!(out, vec![65534, 65535, 0, 1]);
    }

    #[test]
    fn duplicates_are_dropped_and_counted_whether_waiting_or_released() {
        let t = Instant::now();
        let mut jb = buffer(4);
        jb.push(t, pkt(1, 1));
        assert_eq!(drain(&mut jb, t), vec![1]);
        jb.push(t, pkt(1, 1)); // already released
        jb.push(t, pkt(1, 3));
        jb.push(t, pkt(1, 3)); // already waiting
        jb.push(t, pkt(1, 2));
        assert_eq!(drain(&mut jb, t), vec![2, 3]);
        let s = jb.stats();
        assert_eq!((s.received, s.duplicates, s.lost), (5, 2, 0));
    }

    #[test]
    fn gap_is_skipped_once_depth_packets_wait() {
        let t = Instant::now();
        let mut jb = buffer(3);
        jb.push(t, pkt(1, 1));
        assert_eq!(drain(&mut jb, t), vec![1]);
        jb.push(t, pkt(1, 3));
        jb.push(t, pkt(1, 4));
        assert_eq!(drain(&mut jb, t), Vec::<u16>::new(), "still waiting for 2");
        jb.push(t, pkt(1, 5));
        assert_eq!(drain(&mut jb, t), vec![3, 4, 5]);
        assert_eq!(jb.stats().lost, 1);
        jb.push(t, pkt(1, 2));
        assert_eq!(drain(&mut jb, t), Vec::<u16>::new());
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn gap_is_skipped_after_max_wait() {
        let t0 = Instant::now();
        let mut jb = buffer(10);
        jb.push(t0, pkt(1, 1));
        drain(&mut jb, t0);
        let t1 = t0 + Duration::from_millis(20);
        jb.push(t1, pkt(1, 4));
        assert_eq!(drain(&mut jb, t1), Vec::<u16>::new());
        let deadline = jb.poll_timeout().unwrap();
        assert_eq!(deadline, t1 + Duration::from_millis(60));
        assert!(jb.pop(deadline - Duration::from_millis(1)).is_none());
        assert_eq!(drain(&mut jb, deadline), vec![4]);
        assert_eq!(jb.stats().lost, 2);
    }

    #[test]
    fn ssrc_change_flushes_old_stream_then_restarts_numbering() {
        let t = Instant::now();
        let mut jb = buffer(4);
        jb.push(t, pkt(1, 100));
        drain(&mut jb, t);
        jb.push(t, pkt(1, 102)); // waiting for 101
        jb.push(t, pkt(2, 7000));
        jb.push(t, pkt(2, 7001));
        assert_eq!(drain(&mut jb, t), vec![102, 7000, 7001]);
        assert_eq!(jb.stats().resets, 1);
        assert_eq!(
            jb.stats().lost,
            0,
            "a new stream does not inherit the old gap"
        );
    }

    /// SIPp's `play_pcap_audio` replays a capture with its original sequence numbers. A
    /// replay that jumps back further than any plausible reordering is a new run; a short
    /// one cannot be told from duplicates, which is why telephone-events bypass this buffer.
    #[test]
    fn replayed_capture_with_old_sequence_numbers_restarts() {
        let t = Instant::now();
        let mut jb = buffer(4);
        let mut out = Vec::new();
        for seq in (1000u16..1200).chain(1000..1010) {
            jb.push(t, pkt(1, seq));
            out.extend(drain(&mut jb, t));
        }
        assert_eq!(out.len(), 210, "second run must not be dropped as late");
        assert_eq!(out[200..], (1000..1010).collect::<Vec<u16>>()[..]);
        assert_eq!(jb.stats().resets, 1);
        assert_eq!(jb.stats().duplicates, 0);

        let mut short = buffer(4);
        for seq in (7984u16..7992).chain(7984..7986) {
            short.push(t, pkt(1, seq));
            drain(&mut short, t);
        }
        assert_eq!(short.stats().duplicates, 2);
    }

    #[test]
    fn large_jump_ahead_restarts_instead_of_counting_loss() {
        let t = Instant::now();
        let mut jb = buffer(4);
        jb.push(t, pkt(1, 65000));
        jb.push(t, pkt(1, 20000));
        jb.push(t, pkt(1, 20001));
        assert_eq!(drain(&mut jb, t), vec![65000, 20000, 20001]);
        assert_eq!(jb.stats().lost, 0);
        assert_eq!(jb.stats().resets, 1);
    }

    #[test]
    fn a_copy_from_far_back_is_a_duplicate_not_late() {
        let t = Instant::now();
        let mut jb = buffer(4);
        for seq in 0..100u16 {
            jb.push(t, pkt(1, seq));
            drain(&mut jb, t);
        }
        jb.push(t, pkt(1, 5));
        assert_eq!((jb.stats().duplicates, jb.stats().late), (1, 0));
    }

    #[test]
    fn flushed_packets_are_due_at_once() {
        let t = Instant::now();
        let mut jb = buffer(4);
        jb.push(t, pkt(1, 10));
        jb.push(t, pkt(2, 500));
        assert_eq!(jb.poll_timeout(), Some(t));
        assert_eq!(drain(&mut jb, t), vec![10, 500]);
    }

    #[test]
    fn a_shuffled_stream_with_copies_leaves_once_each_in_order_across_a_wrap() {
        let t = Instant::now();
        let mut jb = buffer(8);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Blocks of 6 shuffled after the first (the first packet to arrive
        // starts the stream), never more than 6 held, under the depth of 8;
        // one packet in five sent twice.
        let seqs: Vec<u16> = (0..2000u32).map(|n| (65_000 + n) as u16).collect();
        let (mut sent, mut copies) = (Vec::new(), 0);
        for (n, block) in seqs.chunks(6).enumerate() {
            let mut block = block.to_vec();
            for i in (1..block.len()).rev().filter(|_| n > 0) {
                block.swap(i, (random() % (i as u64 + 1)) as usize);
            }
            for seq in block {
                sent.push(seq);
                if random() % 5 == 0 {
                    sent.push(seq);
                    copies += 1;
                }
            }
        }
        let mut out = Vec::new();
        for &seq in &sent {
            jb.push(t, pkt(1, seq));
            out.extend(drain(&mut jb, t));
        }
        out.extend(drain(&mut jb, t + Duration::from_secs(1)));
        assert_eq!(out, seqs);
        let stats = jb.stats();
        assert_eq!(stats.received, sent.len() as u64);
        assert_eq!(stats.duplicates, copies);
        assert_eq!((stats.lost, stats.late, stats.resets), (0, 0, 0));
        assert!(stats.reordered > 0);
    }

    #[test]
    fn extension_picks_nearest_cycle() {
        assert_eq!(extend(0x1_FFFF, 0), 0x2_0000);
        assert_eq!(extend(0x2_0000, 0xFFFF), 0x1_FFFF);
        assert_eq!(extend(0x1_0005, 3), 0x1_0003);
    }
}
