//! Basic RTCP (RFC 3550): reception statistics for the caller's stream, sender and
//! receiver reports, and what the caller's reports say about our stream.
//!
//! Only SR, RR and a CNAME-only SDES are built; of what arrives only SR and RR are read,
//! the rest of a compound packet is skipped by its length field. The parser is written
//! here rather than taken from a crate because it reads untrusted input and must not
//! panic on any of it.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rtp_packet::RtpPacket;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
/// Seconds from 1900 (NTP era 0) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtcpError {
    #[error("RTCP packet of {0} bytes is shorter than a header")]
    TooShort(usize),
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    #[error("RTCP length field runs past the datagram")]
    BadLength,
    #[error("first packet of a compound must be SR or RR, got {0}")]
    NotAReport(u8),
}

/// One reception report block (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// 24-bit signed on the wire.
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    /// In RTP timestamp units.
    pub jitter: u32,
    pub last_sr: u32,
    /// In 1/65536 s.
    pub delay_since_last_sr: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    SenderReport {
        ssrc: u32,
        ntp: u64,
        rtp_timestamp: u32,
        packet_count: u32,
        octet_count: u32,
        reports: Vec<ReportBlock>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: Vec<ReportBlock>,
    },
    /// Any other type, skipped.
    Other(u8),
}

/// Splits a compound RTCP datagram; malformed input is an error, never a panic.
pub fn parse_compound(datagram: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut packets = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let [b0, pt, l0, l1, ..] = *rest else {
            return Err(RtcpError::TooShort(rest.len()));
        };
        if b0 >> 6 != 2 {
            return Err(RtcpError::BadVersion(b0 >> 6));
        }
        let len = (u16::from_be_bytes([l0, l1]) as usize + 1) * 4;
        let body = rest.get(4..len).ok_or(RtcpError::BadLength)?;
        let count = (b0 & 0x1F) as usize;
        if packets.is_empty() && pt != PT_SR && pt != PT_RR {
            return Err(RtcpError::NotAReport(pt));
        }
        packets.push(match pt {
            PT_SR => {
                let ssrc = be32(body, 0)?;
                let ntp = (be32(body, 4)? as u64) << 32 | be32(body, 8)? as u64;
                RtcpPacket::SenderReport {
                    ssrc,
                    ntp,
                    rtp_timestamp: be32(body, 12)?,
                    packet_count: be32(body, 16)?,
                    octet_count: be32(body, 20)?,
                    reports: report_blocks(body, 24, count)?,
                }
            }
            PT_RR => RtcpPacket::ReceiverReport {
                ssrc: be32(body, 0)?,
                reports: report_blocks(body, 4, count)?,
            },
            other => RtcpPacket::Other(other),
        });
        rest = &rest[len..];
    }
    Ok(packets)
}

fn be32(body: &[u8], at: usize) -> Result<u32, RtcpError> {
    let b = body.get(at..at + 4).ok_or(RtcpError::BadLength)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn report_blocks(body: &[u8], at: usize, count: usize) -> Result<Vec<ReportBlock>, RtcpError> {
    (0..count)
        .map(|i| {
            let o = at + 24 * i;
            let lost = be32(body, o + 4)?;
            // Sign-extend the 24-bit cumulative loss.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            Ok(ReportBlock {
                ssrc: be32(body, o)?,
                fraction_lost: (lost >> 24) as u8,
                cumulative_lost,
                extended_highest_seq: be32(body, o + 8)?,
                jitter: be32(body, o + 12)?,
                last_sr: be32(body, o + 16)?,
                delay_since_last_sr: be32(body, o + 20)?,
            })
        })
        .collect()
}

fn put_block(out: &mut Vec<u8>, b: &ReportBlock) {
    out.extend(b.ssrc.to_be_bytes());
    let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
    out.extend(((b.fraction_lost as u32) << 24 | lost).to_be_bytes());
    out.extend(b.extended_highest_seq.to_be_bytes());
    out.extend(b.jitter.to_be_bytes());
    out.extend(b.last_sr.to_be_bytes());
    out.extend(b.delay_since_last_sr.to_be_bytes());
}

fn put_header(out: &mut Vec<u8>, count: usize, pt: u8, body_len: usize) {
    out.push(0x80 | count as u8);
    out.push(pt);
    out.extend(((body_len / 4) as u16).to_be_bytes());
}

/// Serialises an SR or RR followed by an SDES chunk carrying `cname`.
pub fn build_compound(packet: &RtcpPacket, cname: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + cname.len());
    let sender = match packet {
        RtcpPacket::SenderReport {
            ssrc,
            ntp,
            rtp_timestamp,
            packet_count,
            octet_count,
            reports,
        } => {
            let reports = &reports[..reports.len().min(31)];
            put_header(&mut out, reports.len(), PT_SR, 24 + 24 * reports.len());
            out.extend(ssrc.to_be_bytes());
            out.extend(ntp.to_be_bytes());
            out.extend(rtp_timestamp.to_be_bytes());
            out.extend(packet_count.to_be_bytes());
            out.extend(octet_count.to_be_bytes());
            reports.iter().for_each(|b| put_block(&mut out, b));
            *ssrc
        }
        RtcpPacket::ReceiverReport { ssrc, reports } => {
            let reports = &reports[..reports.len().min(31)];
            put_header(&mut out, reports.len(), PT_RR, 4 + 24 * reports.len());
            out.extend(ssrc.to_be_bytes());
            reports.iter().for_each(|b| put_block(&mut out, b));
            *ssrc
        }
        RtcpPacket::Other(_) => return out,
    };
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    // SSRC, CNAME item (type, length, text), end item, padded to 32 bits.
    let chunk_len = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    put_header(&mut out, 1, PT_SDES, chunk_len);
    let start = out.len();
    out.extend(sender.to_be_bytes());
    out.push(1);
    out.push(cname.len() as u8);
    out.extend(cname);
    out.resize(start + chunk_len, 0);
    out
}

/// NTP timestamp (RFC 5905 64-bit format) for a wall-clock instant.
pub fn ntp_timestamp(wallclock: SystemTime) -> u64 {
    let since = wallclock.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs() + NTP_UNIX_OFFSET;
    let fraction = ((since.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// Statistics of one incoming stream, RFC 3550 appendix A.3 (loss) and A.8 (jitter).
#[derive(Debug, Clone)]
struct Reception {
    ssrc: u32,
    clock_rate: u32,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Arrival time origin for converting `now` into RTP units.
    origin: Instant,
    last_transit: Option<i64>,
    /// Scaled by 16 as in A.8.
    jitter_q4: u64,
    last_sr: Option<(u32, Instant)>,
}

impl Reception {
    fn new(now: Instant, packet: &RtpPacket, clock_rate: u32) -> Self {
        Reception {
            ssrc: packet.ssrc,
            clock_rate: clock_rate.max(1),
            base_seq: packet.sequence_number as u32,
            max_seq: packet.sequence_number,
            cycles: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            origin: now,
            last_transit: None,
            jitter_q4: 0,
            last_sr: None,
        }
    }

    fn on_packet(&mut self, now: Instant, packet: &RtpPacket, timing: bool) {
        let seq = packet.sequence_number;
        let delta = seq.wrapping_sub(self.max_seq);
        if delta != 0 && delta < 0x8000 {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            self.max_seq = seq;
        }
        self.received += 1;
        if !timing {
            return;
        }
        let arrival = (now.saturating_duration_since(self.origin).as_nanos()
            * self.clock_rate as u128
            / 1_000_000_000) as i64;
        let transit = arrival - packet.timestamp as i64;
        if let Some(last) = self.last_transit {
            // Timestamps wrap at 2^32: take the difference modulo that.
            let d = ((transit - last) as i32).unsigned_abs() as u64;
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    fn extended_max(&self) -> u32 {
        self.cycles + self.max_seq as u32
    }

    fn expected(&self) -> u64 {
        (self.extended_max() as i64 - self.base_seq as i64 + 1).max(0) as u64
    }

    fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior.min(expected);
        let received_interval = self.received - self.received_prior.min(self.received);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((middle, at)) => {
                let delay = now.saturating_duration_since(at);
                (middle, (delay.as_secs_f64() * 65536.0) as u32)
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_seq: self.extended_max(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// What the call record keeps about the media, both directions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallMediaStats {
    pub received_packets: u64,
    pub received_lost: i64,
    pub received_jitter: Duration,
    pub sent_packets: u32,
    pub sent_octets: u32,
    /// From the caller's latest report about our stream.
    pub remote_fraction_lost: Option<f32>,
    pub remote_cumulative_lost: Option<i32>,
    pub remote_jitter: Option<Duration>,
    pub round_trip: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpConfig {
    pub local_ssrc: u32,
    pub cname: String,
    /// RTP clock of the audio we send and receive.
    pub clock_rate: u32,
    /// RFC 3550 recommends 5 s as the minimum for a two-party session.
    pub interval: Duration,
}

/// Schedules and builds our reports and reads the peer's, sans-IO.
#[derive(Debug)]
pub struct RtcpSession {
    config: RtcpConfig,
    reception: Option<Reception>,
    sent_packets: u32,
    sent_octets: u32,
    /// Our last sent RTP timestamp and when it was due, to extrapolate the SR timestamp.
    last_sent: Option<(u32, Instant)>,
    /// Middle 32 bits of our recent SRs' NTP times and when they were sent, for RTT.
    sent_reports: VecDeque<(u32, Instant)>,
    next_report: Option<Instant>,
    remote_view: Option<ReportBlock>,
    round_trip: Option<Duration>,
    out: VecDeque<Vec<u8>>,
}

impl RtcpSession {
    pub fn new(config: RtcpConfig) -> Self {
        RtcpSession {
            config,
            reception: None,
            sent_packets: 0,
            sent_octets: 0,
            last_sent: None,
            sent_reports: VecDeque::new(),
            next_report: None,
            remote_view: None,
            round_trip: None,
            out: VecDeque::new(),
        }
    }

    /// The RTP clock of a renegotiated codec, for the reports from now on.
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        self.config.clock_rate = clock_rate;
    }

    /// Starts the report timer; the first report goes out after one interval.
    pub fn start(&mut self, now: Instant) {
        self.next_report.get_or_insert(now + self.config.interval);
    }

    /// Every audio packet received from the caller (after parsing, before the jitter buffer).
    pub fn on_rtp_received(&mut self, now: Instant, packet: &RtpPacket) {
        let clock = self.config.clock_rate;
        match &mut self.reception {
            Some(r) if r.ssrc == packet.ssrc => r.on_packet(now, packet, true),
            _ => {
                let mut r = Reception::new(now, packet, clock);
                r.on_packet(now, packet, true);
                self.reception = Some(r);
            }
        }
    }

    /// A telephone-event packet: it fills its slot in the sequence of the audio stream it
    /// shares an SSRC with, but its timestamp is the event's start, useless for jitter.
    pub fn on_event_received(&mut self, now: Instant, packet: &RtpPacket) {
        if let Some(r) = self.reception.as_mut().filter(|r| r.ssrc == packet.ssrc) {
            r.on_packet(now, packet, false);
        }
    }

    /// Every RTP packet we send.
    pub fn on_rtp_sent(&mut self, now: Instant, packet: &RtpPacket) {
        self.sent_packets = self.sent_packets.wrapping_add(1);
        self.sent_octets = self.sent_octets.wrapping_add(packet.payload.len() as u32);
        self.last_sent = Some((packet.timestamp, now));
    }

    /// An RTCP datagram from the caller; returns false if it could not be parsed.
    pub fn handle_rtcp(&mut self, now: Instant, datagram: &[u8]) -> bool {
        let Ok(packets) = parse_compound(datagram) else {
            return false;
        };
        let local = self.config.local_ssrc;
        for packet in packets {
            let reports = match packet {
                RtcpPacket::SenderReport {
                    ssrc, ntp, reports, ..
                } => {
                    if let Some(r) = self.reception.as_mut().filter(|r| r.ssrc == ssrc) {
                        r.last_sr = Some(((ntp >> 16) as u32, now));
                    }
                    reports
                }
                RtcpPacket::ReceiverReport { reports, .. } => reports,
                RtcpPacket::Other(_) => continue,
            };
            for block in reports.into_iter().filter(|b| b.ssrc == local) {
                self.note_remote_view(now, block);
            }
        }
        true
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_report
    }

    /// Builds the periodic report; `wallclock` is the current time of day for the SR.
    pub fn handle_timeout(&mut self, now: Instant, wallclock: SystemTime) {
        let Some(due) = self.next_report.filter(|&due| due <= now) else {
            return;
        };
        self.next_report = Some(due + self.config.interval);
        let reports: Vec<ReportBlock> = self
            .reception
            .as_mut()
            .map(|r| r.report_block(now))
            .into_iter()
            .collect();
        let packet = match self.last_sent {
            Some((timestamp, sent_at)) => {
                let ntp = ntp_timestamp(wallclock);
                let elapsed = now.saturating_duration_since(sent_at);
                let rtp_timestamp = timestamp.wrapping_add(
                    (elapsed.as_nanos() * self.config.clock_rate as u128 / 1_000_000_000) as u32,
                );
                if self.sent_reports.len() == 8 {
                    self.sent_reports.pop_front();
                }
                self.sent_reports.push_back(((ntp >> 16) as u32, now));
                RtcpPacket::SenderReport {
                    ssrc: self.config.local_ssrc,
                    ntp,
                    rtp_timestamp,
                    packet_count: self.sent_packets,
                    octet_count: self.sent_octets,
                    reports,
                }
            }
            None => RtcpPacket::ReceiverReport {
                ssrc: self.config.local_ssrc,
                reports,
            },
        };
        self.out
            .push_back(build_compound(&packet, &self.config.cname));
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn stats(&self) -> CallMediaStats {
        let rate = self.config.clock_rate.max(1) as f64;
        let units = |u: u32| Duration::from_secs_f64(u as f64 / rate);
        CallMediaStats {
            received_packets: self.reception.as_ref().map_or(0, |r| r.received),
            received_lost: self.reception.as_ref().map_or(0, |r| r.lost()),
            received_jitter: self
                .reception
                .as_ref()
                .map_or(Duration::ZERO, |r| units(r.jitter())),
            sent_packets: self.sent_packets,
            sent_octets: self.sent_octets,
            remote_fraction_lost: self.remote_view.map(|b| b.fraction_lost as f32 / 256.0),
            remote_cumulative_lost: self.remote_view.map(|b| b.cumulative_lost),
            remote_jitter: self.remote_view.map(|b| units(b.jitter)),
            round_trip: self.round_trip,
        }
    }

    fn note_remote_view(&mut self, now: Instant, block: ReportBlock) {
        self.remote_view = Some(block);
        if block.last_sr == 0 {
            return;
        }
        let Some(&(_, sent_at)) = self.sent_reports.iter().find(|(m, _)| *m == block.last_sr)
        else {
            return;
        };
        let delay = Duration::from_secs_f64(block.delay_since_last_sr as f64 / 65536.0);
        self.round_trip = now.saturating_duration_since(sent_at).checked_sub(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rtp(ssrc: u32, seq: u16, ts: u32) -> RtpPacket {
        RtpPacket {
            payload_type: 0,
            marker: false,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            payload: Bytes::from_static(&[0xFF; 160]),
        }
    }

    fn session(ssrc: u32) -> RtcpSession {
        RtcpSession::new(RtcpConfig {
            local_ssrc: ssrc,
            cname: "passgate@127.0.0.1".into(),
            clock_rate: 8000,
            interval: Duration::from_secs(5),
        })
    }

    #[test]
    fn sender_report_round_trips_with_sdes() {
        let block = ReportBlock {
            ssrc: 9,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest_seq: 70_000,
            jitter: 44,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        };
        let sr = RtcpPacket::SenderReport {
            ssrc: 1,
            ntp: 0xAABB_CCDD_EEFF_0011,
            rtp_timestamp: 160,
            packet_count: 50,
            octet_count: 8000,
            reports: vec![block],
        };
        let bytes = build_compound(&sr, "me@example");
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(
            parse_compound(&bytes).unwrap(),
            vec![sr, RtcpPacket::Other(202)]
        );
    }

    #[test]
    fn malformed_rtcp_is_an_error_and_never_panics() {
        assert_eq!(parse_compound(&[0x80, 201]), Err(RtcpError::TooShort(2)));
        assert_eq!(
            parse_compound(&[0x40, 201, 0, 1, 0, 0, 0, 0]),
            Err(RtcpError::BadVersion(1))
        );
        assert_eq!(
            parse_compound(&[0x80, 201, 0, 9, 0, 0, 0, 0]),
            Err(RtcpError::BadLength)
        );
        assert_eq!(
            parse_compound(&[0x80, 202, 0, 0]),
            Err(RtcpError::NotAReport(202))
        );
        // RR claiming one report block but carrying none.
        assert_eq!(
            parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 7]),
            Err(RtcpError::BadLength)
        );
        let good = build_compound(
            &RtcpPacket::ReceiverReport {
                ssrc: 3,
                reports: vec![ReportBlock::default()],
            },
            "x",
        );
        let mut state = 5u32;
        let mut ok = 0;
        for len in 0..=good.len() {
            ok += parse_compound(&good[..len]).is_ok() as usize;
        }
        for _ in 0..20_000 {
            let mut d = good.clone();
            for _ in 0..3 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let i = (state >> 8) as usize % d.len();
                d[i] ^= 1 << (state >> 29);
            }
            ok += parse_compound(&d).is_ok() as usize;
        }
        assert!(ok > 0);
    }

    #[test]
    fn loss_and_fraction_lost_follow_appendix_a3() {
        let t = Instant::now();
        let mut s = session(1);
        s.start(t);
        // 65530..65535 then 0..=13 with 3 lost, across the wrap.
        let seqs: Vec<u16> = (65530..=65535)
            .chain(0..=13)
            .filter(|&q| q != 2 && q != 3 && q != 9)
            .collect();
        for (i, &q) in seqs.iter().enumerate() {
            s.on_rtp_received(
                t + Duration::from_millis(20 * i as u64),
                &rtp(7, q, 160 * i as u32),
            );
        }
        s.handle_timeout(t + Duration::from_secs(5), SystemTime::now());
        let report = parse_compound(&s.poll_transmit().unwrap()).unwrap();
        let RtcpPacket::ReceiverReport { ssrc, reports } = &report[0] else {
            panic!("no RTP sent yet, so a receiver report: {report:?}");
        };
        assert_eq!(*ssrc, 1);
        assert_eq!(reports[0].ssrc, 7);
        assert_eq!(reports[0].cumulative_lost, 3);
        assert_eq!(reports[0].extended_highest_seq, 65536 + 13);
        assert_eq!(reports[0].fraction_lost, (3 * 256 / 20) as u8);
        assert_eq!(s.stats().received_lost, 3);
        assert_eq!(s.stats().received_packets, 17);
    }

    #[test]
    fn steady_arrivals_have_no_jitter_and_irregular_ones_do() {
        let t = Instant::now();
        let mut steady = session(1);
        let mut shaky = session(1);
        for i in 0..200u32 {
            let on_time = t + Duration::from_millis(20 * i as u64);
            steady.on_rtp_received(on_time, &rtp(7, i as u16, 160 * i));
            let wobble = Duration::from_millis(if i % 2 == 0 { 0 } else { 10 });
            shaky.on_rtp_received(on_time + wobble, &rtp(7, i as u16, 160 * i));
        }
        assert_eq!(steady.stats().received_jitter, Duration::ZERO);
        // |D| is 80 units every packet, so J converges to 80 units = 10 ms.
        let j = shaky.stats().received_jitter.as_secs_f64() * 1000.0;
        assert!((9.0..=10.0).contains(&j), "jitter {j} ms");
    }

    #[test]
    fn sender_report_counts_what_we_sent_and_the_peer_report_gives_rtt() {
        let t = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut s = session(0xCAFE);
        s.start(t);
        for i in 0..250u32 {
            s.on_rtp_sent(
                t + Duration::from_millis(20 * i as u64),
                &rtp(0xCAFE, i as u16, 160 * i),
            );
        }
        s.handle_timeout(t + Duration::from_secs(5), wall);
        assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(10)));
        let sr = parse_compound(&s.poll_transmit().unwrap()).unwrap();
        let RtcpPacket::SenderReport {
            ntp,
            rtp_timestamp,
            packet_count,
            octet_count,
            ..
        } = sr[0]
        else {
            panic!("expected SR: {sr:?}");
        };
        assert_eq!((packet_count, octet_count), (250, 250 * 160));
        assert_eq!(rtp_timestamp, 249 * 160 + 160); // extrapolated 20 ms past the last packet
        assert_eq!(ntp >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);

        // The caller answers 80 ms later, having held our SR for 30 ms: RTT 50 ms.
        let rr = build_compound(
            &RtcpPacket::ReceiverReport {
                ssrc: 7,
                reports: vec![ReportBlock {
                    ssrc: 0xCAFE,
                    fraction_lost: 64,
                    cumulative_lost: 12,
                    jitter: 160,
                    last_sr: (ntp >> 16) as u32,
                    delay_since_last_sr: (0.030 * 65536.0) as u32,
                    ..ReportBlock::default()
                }],
            },
            "peer",
        );
        assert!(s.handle_rtcp(t + Duration::from_millis(5080), &rr));
        let stats = s.stats();
        let rtt = stats.round_trip.unwrap().as_secs_f64() * 1000.0;
        assert!((49.0..=51.0).contains(&rtt), "rtt {rtt} ms");
        assert_eq!(stats.remote_fraction_lost, Some(0.25));
        assert_eq!(stats.remote_cumulative_lost, Some(12));
        assert_eq!(stats.remote_jitter, Some(Duration::from_millis(20)));
        assert!(!s.handle_rtcp(t, b"junk"));
    }

    #[test]
    fn telephone_events_fill_sequence_slots_without_adding_jitter() {
        let t = Instant::now();
        let mut s = session(1);
        for i in 0..30u32 {
            let at = t + Duration::from_millis(20 * i as u64);
            if (10..15).contains(&i) {
                // Event packets all carry the event's start timestamp.
                s.on_event_received(at, &rtp(7, i as u16, 1600));
            } else {
                s.on_rtp_received(at, &rtp(7, i as u16, 160 * i));
            }
        }
        s.on_event_received(t, &rtp(99, 30, 0)); // another SSRC: ignored
        let stats = s.stats();
        assert_eq!((stats.received_packets, stats.received_lost), (30, 0));
        assert_eq!(stats.received_jitter, Duration::ZERO);
    }

    #[test]
    fn nothing_is_sent_before_the_interval() {
        let t = Instant::now();
        let mut s = session(1);
        assert_eq!(s.poll_timeout(), None);
        s.start(t);
        s.handle_timeout(t + Duration::from_millis(4999), SystemTime::now());
        assert_eq!(s.poll_transmit(), None);
    }
}
