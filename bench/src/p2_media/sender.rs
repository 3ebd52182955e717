//! One thread sends every call's packets: the calls sit on a 20 ms ring,
//! offset evenly across it, and the thread wakes for the next ones due. A
//! thread per call (or a task per call) would cost the shared CPU more than
//! the agent being measured.

use std::net::UdpSocket;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::Srtp;

use super::rtp_out::Outgoing;
use super::stats::Histogram;

pub const PERIOD: Duration = Duration::from_millis(20);
/// Shortest sleep: waking for every call's slot (20 µs apart at 1,000
/// calls) would cost more than the lateness it saves.
const MIN_SLEEP: Duration = Duration::from_micros(250);
/// A key press takes seven packets; none starts that would not finish.
const PRESS_SPAN: Duration = Duration::from_millis(200);

pub struct Stream {
    /// Connected to the agent's RTP address.
    pub socket: Arc<UdpSocket>,
    pub out: Outgoing,
    /// An SRTP call's sending context: every packet is protected with it.
    pub srtp: Option<Srtp>,
}

#[derive(Debug, Default, Clone)]
pub struct SendReport {
    pub packets: u64,
    pub errors: u64,
    pub digits: u64,
    /// How late each packet left after its slot (µs): the generator's own
    /// scheduling, which the agent sees as input jitter.
    pub lateness: Histogram,
}

pub fn spawn(mut streams: Vec<Stream>, start: Instant, stop: Instant) -> JoinHandle<SendReport> {
    std::thread::Builder::new()
        .name("p2-send".into())
        .spawn(move || run(&mut streams, start, stop))
        .unwrap_or_else(|e| panic!("cannot start the sending thread: {e}"))
}

fn run(streams: &mut [Stream], start: Instant, stop: Instant) -> SendReport {
    let mut report = SendReport::default();
    let n = streams.len();
    if n == 0 {
        return report;
    }
    let mut due: Vec<Instant> = (0..n)
        .map(|i| start + PERIOD * i as u32 / n as u32)
        .collect();
    let mut cursor = 0;
    loop {
        let now = Instant::now();
        // After `stop` only key presses under way go on, to their end
        // packets: a press cut short would still be detected (by timeout)
        // but not counted as sent.
        let stopping = now >= stop;
        if stopping && !streams.iter().any(|s| s.out.pressing()) {
            break;
        }
        while due[cursor] <= now {
            let slot = due[cursor];
            let stream = &mut streams[cursor];
            if !stopping || stream.out.pressing() {
                report
                    .lateness
                    .record(now.duration_since(slot).as_micros() as u64);
                let packet = stream.out.next_packet(slot + PRESS_SPAN < stop);
                let wire = packet.to_bytes().ok().and_then(|b| match &mut stream.srtp {
                    Some(srtp) => srtp.protect_rtp(&b),
                    None => Some(b),
                });
                match wire.map(|b| stream.socket.send(&b)) {
                    Some(Ok(_)) => report.packets += 1,
                    _ => report.errors += 1,
                }
            }
            due[cursor] = slot + PERIOD;
            cursor = (cursor + 1) % n;
        }
        let mut wait = due[cursor]
            .saturating_duration_since(Instant::now())
            .max(MIN_SLEEP);
        if !stopping {
            wait = wait.min(stop.saturating_duration_since(Instant::now()));
        }
        std::thread::sleep(wait);
    }
    report.digits = streams.iter().map(|s| s.out.digits_sent()).sum();
    report
}
