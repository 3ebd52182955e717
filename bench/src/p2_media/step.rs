//! One step of the benchmark: N calls set up, media both ways through a
//! warm-up and a measured window, then BYE to all and a check that the agent
//! has let every call go.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::Agent;
use crate::proc_stats::{self, Sample};

use super::receiver::{self, Incoming, ReceiveReport, Window};
use super::rtp_out::{noise_frames, KeyPlan, Outgoing};
use super::sender::{self, SendReport, Stream};
use super::srtp_keys;
use super::uac::{State, Uac};

/// Digits the agent counted from RFC 4733 (the metric added for this benchmark).
pub const DIGITS_METRIC: &str = "passgate_dtmf_digits_total{source=\"rfc4733\"}";
const ACTIVE_METRIC: &str = "passgate_calls_active";
/// SRTP and SRTCP packets the agent dropped, counted as each call ends.
const SRTP_DROPPED_METRICS: [&str; 3] = [
    "passgate_srtp_dropped_total{why=\"auth_failed\"}",
    "passgate_srtp_dropped_total{why=\"replayed\"}",
    "passgate_srtp_dropped_total{why=\"malformed\"}",
];

#[derive(Debug, Clone)]
pub struct StepConfig {
    pub calls: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub setup_rate: f64,
    pub teardown_rate: f64,
    /// Seconds between key presses on one call.
    pub key_every: Duration,
    /// Every call offers SRTP (SDES) and the generator encrypts what it
    /// sends and checks and decrypts what it receives.
    pub srtp: bool,
}

#[derive(Debug, Default, Clone)]
pub struct StepResult {
    pub calls: usize,
    pub answered: usize,
    pub setup_failures: Vec<String>,
    pub setup: Duration,
    pub agent_cores: f64,
    pub agent_rss: u64,
    pub generator_cores: f64,
    pub received: Option<ReceiveReport>,
    pub sent: Option<SendReport>,
    pub window: Duration,
    pub digits_detected: u64,
    pub ended_by_agent: usize,
    pub bye_failures: usize,
    /// passgate_calls_active once the BYEs were answered (and settled).
    pub active_after: Option<f64>,
    /// SRTP packets the agent dropped during the step (its calls ended).
    pub agent_srtp_dropped: u64,
}

/// When the first key goes, after media starts: after the agent's lookup of
/// the caller's number, which decides whether "press 1" is on offer.
const FIRST_KEY: Duration = Duration::from_millis(200);
/// First keys spread over this, so the calls do not all press at once.
const KEY_SPREAD: Duration = Duration::from_secs(1);

pub fn run(agent: &Agent, config: &StepConfig, run_id: &str) -> anyhow::Result<StepResult> {
    if config.calls == 0 {
        return idle(agent, config);
    }
    let digits_before = agent.metric(DIGITS_METRIC).unwrap_or(0.0);
    let srtp_dropped_before = srtp_dropped(agent);
    let sockets = (0..config.calls)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let addresses = sockets
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<std::io::Result<Vec<SocketAddr>>>()?;
    let mut uac = Uac::new(agent.sip, &addresses, run_id, config.srtp)?;
    let setup = uac.set_up(config.setup_rate)?;
    eprintln!(
        "p2: {} calls answered of {} in {:.1} s",
        setup.done,
        config.calls,
        setup.elapsed.as_secs_f64()
    );
    if let Some(why) = setup.failed.first() {
        eprintln!("p2: {} calls failed, the first: {why}", setup.failed.len());
    }

    let noise = noise_frames(50, 0x5EED);
    let tick = sender::PERIOD.as_millis() as u64;
    let mut streams = Vec::new();
    let mut receiving = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let State::Confirmed(answer) = uac.state(i) else {
            continue;
        };
        let (send_srtp, receive_srtp) = match (uac.srtp_key(i), &answer.srtp) {
            (None, _) => (None, None),
            (Some(ours), Some(theirs)) => {
                let (send, receive) = srtp_keys::contexts(ours, theirs)?;
                (Some(send), Some(receive))
            }
            (Some(_), None) => anyhow::bail!("the agent answered an SRTP offer without a key"),
        };
        socket.connect(answer.rtp)?;
        socket.set_nonblocking(true)?;
        let socket = Arc::new(socket);
        let spread = KEY_SPREAD.as_millis() as u64 * i as u64 / config.calls as u64;
        let plan = KeyPlan {
            first: '1',
            // Number entry: three digits, then '*' starts it again, so the
            // entry never completes and the prompt plays on.
            cycle: vec!['2', '3', '4', '*'],
            first_tick: (FIRST_KEY.as_millis() as u64 + spread) / tick,
            every_ticks: config.key_every.as_millis() as u64 / tick,
        };
        let seed = i as u32;
        let out = Outgoing::new(
            0x5000_0000 | seed,
            seed.wrapping_mul(7919) as u16,
            seed.wrapping_mul(104_729),
            noise.clone(),
            plan,
        );
        receiving.push(Incoming {
            socket: socket.clone(),
            srtp: receive_srtp,
        });
        streams.push(Stream {
            socket,
            out,
            srtp: send_srtp,
        });
    }

    let media_start = Instant::now() + Duration::from_millis(20);
    let window = Window {
        start: media_start + config.warmup,
        end: media_start + config.warmup + config.window,
        stop: media_start + config.warmup + config.window + Duration::from_millis(300),
    };
    let receive = receiver::spawn(receiving, window);
    let send = sender::spawn(
        streams,
        media_start,
        window.end + Duration::from_millis(200),
    );

    uac.serve_for(window.start.saturating_duration_since(Instant::now()))?;
    let (agent_0, self_0) = samples(agent)?;
    uac.serve_for(window.end.saturating_duration_since(Instant::now()))?;
    let (agent_1, self_1) = samples(agent)?;
    let sent = send
        .join()
        .map_err(|_| anyhow::anyhow!("the sending thread panicked"))?;
    let received = receive
        .join()
        .map_err(|_| anyhow::anyhow!("the receiving thread panicked"))??;
    // The last key's end packets are a few milliseconds old: let them land.
    uac.serve_for(Duration::from_millis(500))?;
    let digits_detected = agent.metric(DIGITS_METRIC).unwrap_or(0.0) - digits_before;

    let ended_by_agent = (0..addresses.len())
        .filter(|&i| matches!(uac.state(i), State::Ended { by_agent: true }))
        .count();
    let down = uac.tear_down(config.teardown_rate)?;
    let active_after = settle_active(agent);
    let agent_srtp_dropped = (srtp_dropped(agent) - srtp_dropped_before).max(0.0) as u64;
    Ok(StepResult {
        calls: config.calls,
        answered: setup.done,
        setup_failures: setup.failed,
        setup: setup.elapsed,
        agent_cores: proc_stats::cores_used(&agent_0, &agent_1),
        agent_rss: agent_1.rss_bytes,
        generator_cores: proc_stats::cores_used(&self_0, &self_1),
        received: Some(received),
        sent: Some(sent),
        window: agent_1.at.duration_since(agent_0.at),
        digits_detected: digits_detected.max(0.0) as u64,
        ended_by_agent,
        bye_failures: down.failed.len(),
        active_after,
        agent_srtp_dropped,
    })
}

fn srtp_dropped(agent: &Agent) -> f64 {
    SRTP_DROPPED_METRICS
        .iter()
        .filter_map(|m| agent.metric(m))
        .sum()
}

/// The baseline: the agent with no calls, over the same window.
fn idle(agent: &Agent, config: &StepConfig) -> anyhow::Result<StepResult> {
    let (agent_0, self_0) = samples(agent)?;
    std::thread::sleep(config.window);
    let (agent_1, self_1) = samples(agent)?;
    Ok(StepResult {
        agent_cores: proc_stats::cores_used(&agent_0, &agent_1),
        agent_rss: agent_1.rss_bytes,
        generator_cores: proc_stats::cores_used(&self_0, &self_1),
        window: agent_1.at.duration_since(agent_0.at),
        active_after: agent.metric(ACTIVE_METRIC),
        ..StepResult::default()
    })
}

fn samples(agent: &Agent) -> anyhow::Result<(Sample, Sample)> {
    Ok((
        proc_stats::sample(agent.pid())?,
        proc_stats::sample(std::process::id())?,
    ))
}

/// The agent's count of calls in progress once it reaches 0, or what it is
/// after 10 s.
fn settle_active(agent: &Agent) -> Option<f64> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let active = agent.metric(ACTIVE_METRIC);
        if active == Some(0.0) || Instant::now() >= until {
            return active;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
