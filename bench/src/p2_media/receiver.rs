//! One thread receives every call's RTP from the agent: every 2 ms it asks
//! epoll (mio) which sockets have data and drains them. Each packet carries
//! the kernel's receive time, taken inside the agent's send on loopback, so
//! the inter-arrival times are the agent's pacing and not this thread's.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::{RtpPacket, Srtp};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::kernel_time;
use super::sender::PERIOD;
use super::stats::Histogram;

/// How often the sockets are drained: a tenth of a packet interval.
const DRAIN_EVERY: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
    /// When the thread stops reading.
    pub stop: Instant,
}

#[derive(Debug, Default, Clone)]
pub struct ReceiveReport {
    /// |inter-arrival − 20 ms| of consecutive packets inside the window (µs).
    pub jitter: Histogram,
    /// RTP packets that arrived inside the window.
    pub received: u64,
    /// Sequence numbers the window's packets span, per call, summed: what
    /// the agent sent in it, lost or not.
    pub sequence_span: u64,
    /// Calls that got at least 90 % of a window's worth of packets.
    pub calls_streaming: usize,
    pub calls: usize,
    /// RTCP and anything else that is not RTP.
    pub other: u64,
    /// Packets without a kernel timestamp (timed when read instead).
    pub unstamped: u64,
    /// SRTP calls: packets that failed the check (authentication, replay)
    /// and were dropped uncounted.
    pub srtp_dropped: u64,
}

/// One call's socket and, for an SRTP call, the context that checks and
/// decrypts what the agent sends.
pub struct Incoming {
    pub socket: Arc<UdpSocket>,
    pub srtp: Option<Srtp>,
}

#[derive(Default)]
struct Track {
    /// Sequence number and kernel time of the last packet.
    last: Option<(u16, Duration)>,
    received: u64,
    first_sequence: Option<u16>,
    /// Highest sequence number after the first, as an offset from it.
    highest_offset: u16,
}

pub fn spawn(
    mut incoming: Vec<Incoming>,
    window: Window,
) -> JoinHandle<anyhow::Result<ReceiveReport>> {
    std::thread::Builder::new()
        .name("p2-receive".into())
        .spawn(move || run(&mut incoming, window))
        .unwrap_or_else(|e| panic!("cannot start the receiving thread: {e}"))
}

fn run(sockets: &mut [Incoming], window: Window) -> anyhow::Result<ReceiveReport> {
    let mut poll = Poll::new()?;
    for (i, s) in sockets.iter().enumerate() {
        s.socket.set_nonblocking(true)?;
        kernel_time::enable(s.socket.as_ref())?;
        poll.registry().register(
            &mut SourceFd(&s.socket.as_raw_fd()),
            Token(i),
            Interest::READABLE,
        )?;
    }
    let mut tracks: Vec<Track> = sockets.iter().map(|_| Track::default()).collect();
    let mut report = ReceiveReport {
        calls: sockets.len(),
        ..ReceiveReport::default()
    };
    let mut events = Events::with_capacity(4096);
    let mut buf = [0u8; 2048];
    // Kernel times are wall-clock; this maps one onto the other for packets
    // the kernel did not stamp.
    let epoch = (
        Instant::now(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    while Instant::now() < window.stop {
        if let Err(e) = poll.poll(&mut events, Some(Duration::ZERO)) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for event in events.iter() {
            let i = event.token().0;
            let (Some(incoming), Some(track)) = (sockets.get_mut(i), tracks.get_mut(i)) else {
                continue;
            };
            let socket = &incoming.socket;
            // Edge-triggered: read until the socket is empty. Other errors
            // (an ICMP report queued on the socket) are consumed by reading.
            let mut errors = 0;
            loop {
                match kernel_time::recv(socket.as_ref(), &mut buf) {
                    Ok((n, stamp)) => {
                        let read_at = Instant::now();
                        let stamp = stamp.unwrap_or_else(|| {
                            report.unstamped += 1;
                            epoch.1 + read_at.duration_since(epoch.0)
                        });
                        let inside = read_at >= window.start && read_at < window.end;
                        let datagram = &buf[..n];
                        let decrypted = match &mut incoming.srtp {
                            Some(srtp) if media::srtp::is_rtcp(datagram) => {
                                Some(srtp.unprotect_rtcp(datagram))
                            }
                            Some(srtp) => Some(srtp.unprotect_rtp(datagram)),
                            None => None,
                        };
                        let plain: &[u8] = match &decrypted {
                            None => datagram,
                            Some(Some(plain)) => plain,
                            Some(None) => {
                                report.srtp_dropped += 1;
                                continue;
                            }
                        };
                        match RtpPacket::parse(plain) {
                            Ok(p) => track.on_packet(&p, stamp, inside, &mut report),
                            Err(_) => report.other += 1,
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) if errors < 4 => errors += 1,
                    Err(_) => break,
                }
            }
        }
        std::thread::sleep(DRAIN_EVERY);
    }
    let needed = window.end.duration_since(window.start).as_millis() / PERIOD.as_millis();
    for t in &tracks {
        if t.first_sequence.is_some() {
            report.sequence_span += u64::from(t.highest_offset) + 1;
        }
        if u128::from(t.received) * 10 >= needed * 9 {
            report.calls_streaming += 1;
        }
    }
    Ok(report)
}

impl Track {
    /// `inside`: read during the window (to within a drain interval).
    fn on_packet(
        &mut self,
        p: &RtpPacket,
        stamp: Duration,
        inside: bool,
        report: &mut ReceiveReport,
    ) {
        if inside {
            report.received += 1;
            self.received += 1;
            let first = *self.first_sequence.get_or_insert(p.sequence_number);
            let offset = p.sequence_number.wrapping_sub(first);
            if offset < 0x8000 {
                self.highest_offset = self.highest_offset.max(offset);
            }
            if let Some((seq, last)) = self.last {
                // Only back-to-back packets of one talk spurt say anything
                // about pacing; a marker starts a new spurt after a pause.
                if p.sequence_number == seq.wrapping_add(1) && !p.marker && self.received > 1 {
                    let gap = stamp.saturating_sub(last);
                    let deviation = gap.abs_diff(PERIOD);
                    report.jitter.record(deviation.as_micros() as u64);
                }
            }
        }
        self.last = Some((p.sequence_number, stamp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn packet(seq: u16, marker: bool) -> RtpPacket {
        RtpPacket {
            payload_type: 0,
            marker,
            sequence_number: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 1,
            payload: Bytes::from_static(&[0xFF; 160]),
        }
    }

    #[test]
    fn jitter_counts_back_to_back_packets_and_loss_is_the_sequence_gap() {
        let mut report = ReceiveReport::default();
        let mut t = Track::default();
        let ms = Duration::from_millis;
        // Before the window: sets `last` but counts nothing.
        t.on_packet(&packet(9, false), ms(0), false, &mut report);
        for (seq, at, marker) in [
            (10, 20, false),
            (11, 41, false),
            (12, 59, false),
            (14, 100, false), // 13 lost: no jitter sample across the gap
            (15, 500, true),  // a new talk spurt after a pause
            (16, 520, false),
        ] {
            t.on_packet(&packet(seq, marker), ms(at), true, &mut report);
        }
        let mut samples: Vec<u64> = Vec::new();
        for p in [0.0, 50.0, 100.0] {
            samples.push(report.jitter.percentile(p).unwrap());
        }
        // 11: 21 ms (1 ms off), 12: 18 ms (2 ms off), 16: 20 ms (0).
        assert_eq!(samples, vec![0, 1000, 2000]);
        assert_eq!(report.received, 6);
        assert_eq!(u64::from(t.highest_offset) + 1 - t.received, 1, "one lost");
    }
}
