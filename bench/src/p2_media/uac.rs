//! The calling side's SIP over one UDP socket: INVITEs at a set rate with
//! retransmission, ACKs, BYEs, and answers to whatever the agent asks in a
//! dialog. Set-up is paced so that it is not what the benchmark measures.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::sip_text::{self, Answer, Leg, Message, Start};
use super::srtp_keys::Key;

/// RFC 3261 T1: first retransmission interval, doubled each time.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// A call without a final answer by then failed.
const INVITE_TIMEOUT: Duration = Duration::from_secs(10);
const BYE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Idle,
    Inviting,
    /// A provisional came: the agent has it; no more retransmissions.
    Proceeding,
    Confirmed(Answer),
    Failed(String),
    Ending(Answer),
    /// Ended by our BYE (answered) or by the agent's BYE.
    Ended {
        by_agent: bool,
    },
}

struct Call {
    leg: Leg,
    rtp: SocketAddr,
    state: State,
    branch: String,
    sent: Option<Instant>,
    next_retransmit: Option<(Instant, Duration)>,
    text: String,
    /// Our SRTP key, offered in the INVITE, when the call is to be SRTP.
    srtp: Option<Key>,
}

pub struct Uac {
    socket: UdpSocket,
    agent: SocketAddr,
    calls: Vec<Call>,
    by_call_id: HashMap<String, usize>,
    buf: Vec<u8>,
    /// Requests from the agent inside our dialogs (its BYEs and any other).
    pub agent_requests: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub done: usize,
    pub failed: Vec<String>,
    pub elapsed: Duration,
}

impl Uac {
    /// One call per RTP address in `rtp`, not yet started; with `srtp`,
    /// each offers `RTP/SAVP` with a key of its own.
    pub fn new(
        agent: SocketAddr,
        rtp: &[SocketAddr],
        run: &str,
        srtp: bool,
    ) -> anyhow::Result<Uac> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(2)))?;
        let local = socket.local_addr()?;
        let calls: Vec<Call> = rtp
            .iter()
            .enumerate()
            .map(|(i, &rtp)| Call {
                leg: Leg {
                    call_id: format!("p2-{run}-{i}@bench"),
                    // Unknown numbers: the agent looks each up, then offers
                    // "press 1 if you have an account".
                    from_user: format!("+1555{:07}", 9_000_000 + i),
                    from_tag: format!("t{i}"),
                    local,
                    agent,
                },
                rtp,
                state: State::Idle,
                branch: String::new(),
                sent: None,
                next_retransmit: None,
                text: String::new(),
                srtp: srtp.then(Key::generate),
            })
            .collect();
        let by_call_id = calls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.leg.call_id.clone(), i))
            .collect();
        Ok(Uac {
            socket,
            agent,
            calls,
            by_call_id,
            buf: vec![0; 65536],
            agent_requests: 0,
        })
    }

    pub fn state(&self, i: usize) -> &State {
        &self.calls[i].state
    }

    /// The SRTP key call `i` offered, if it is an SRTP call.
    pub fn srtp_key(&self, i: usize) -> Option<&Key> {
        self.calls[i].srtp.as_ref()
    }

    /// Sends every INVITE, `rate` per second, and waits for each to be
    /// answered or to fail.
    pub fn set_up(&mut self, rate: f64) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let gap = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let mut next = 0;
        loop {
            let now = Instant::now();
            while next < self.calls.len() && started + gap * next as u32 <= now {
                self.send_invite(next, now)?;
                next += 1;
            }
            self.retransmit(now, INVITE_TIMEOUT)?;
            let pending = self
                .calls
                .iter()
                .any(|c| matches!(c.state, State::Idle | State::Inviting | State::Proceeding));
            if !pending {
                break;
            }
            self.receive_once()?;
        }
        Ok(self.outcome(started, |s| matches!(s, State::Confirmed(_))))
    }

    /// Answers the agent's requests for `period`.
    pub fn serve_for(&mut self, period: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + period;
        while Instant::now() < until {
            self.receive_once()?;
        }
        Ok(())
    }

    /// BYE to every confirmed call, `rate` per second, until each is answered.
    pub fn tear_down(&mut self, rate: f64) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let gap = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let targets: Vec<usize> = (0..self.calls.len())
            .filter(|&i| matches!(self.calls[i].state, State::Confirmed(_)))
            .collect();
        let mut next = 0;
        loop {
            let now = Instant::now();
            while next < targets.len() && started + gap * next as u32 <= now {
                self.send_bye(targets[next], now)?;
                next += 1;
            }
            self.retransmit(now, BYE_TIMEOUT)?;
            let pending = next < targets.len()
                || targets
                    .iter()
                    .any(|&i| matches!(self.calls[i].state, State::Ending(_)));
            if !pending {
                break;
            }
            self.receive_once()?;
        }
        Ok(self.outcome(started, |s| matches!(s, State::Ended { .. })))
    }

    fn outcome(&self, started: Instant, done: impl Fn(&State) -> bool) -> Outcome {
        let mut out = Outcome {
            elapsed: started.elapsed(),
            ..Outcome::default()
        };
        for c in &self.calls {
            match &c.state {
                s if done(s) => out.done += 1,
                State::Failed(why) => out.failed.push(why.clone()),
                _ => {}
            }
        }
        out
    }

    fn send(&self, text: &str) -> anyhow::Result<()> {
        self.socket.send_to(text.as_bytes(), self.agent)?;
        Ok(())
    }

    fn send_invite(&mut self, i: usize, now: Instant) -> anyhow::Result<()> {
        let c = &mut self.calls[i];
        c.branch = format!("z9hG4bK-{}-inv", c.leg.call_id.replace('@', "-"));
        c.text = sip_text::invite(&c.leg, &c.branch, c.rtp, c.srtp.as_ref());
        c.state = State::Inviting;
        c.sent = Some(now);
        c.next_retransmit = Some((now + T1, T1));
        self.send(&self.calls[i].text)
    }

    fn send_bye(&mut self, i: usize, now: Instant) -> anyhow::Result<()> {
        let c = &mut self.calls[i];
        let State::Confirmed(answer) = c.state.clone() else {
            return Ok(());
        };
        c.branch = format!("z9hG4bK-{}-bye", c.leg.call_id.replace('@', "-"));
        c.text = sip_text::bye(&c.leg, &c.branch, &answer);
        c.state = State::Ending(answer);
        c.sent = Some(now);
        c.next_retransmit = Some((now + T1, T1));
        self.send(&self.calls[i].text)
    }

    fn retransmit(&mut self, now: Instant, timeout: Duration) -> anyhow::Result<()> {
        for i in 0..self.calls.len() {
            let c = &mut self.calls[i];
            let waiting = matches!(
                c.state,
                State::Inviting | State::Proceeding | State::Ending(_)
            );
            if !waiting {
                continue;
            }
            if c.sent.is_some_and(|s| now >= s + timeout) {
                c.next_retransmit = None;
                c.state = match &c.state {
                    State::Ending(_) => State::Failed("BYE unanswered".into()),
                    _ => State::Failed("INVITE unanswered".into()),
                };
                continue;
            }
            if let Some((_, interval)) = c.next_retransmit.filter(|(due, _)| now >= *due) {
                let interval = (interval * 2).min(T2);
                c.next_retransmit = Some((now + interval, interval));
                self.send(&self.calls[i].text)?;
            }
        }
        Ok(())
    }

    /// Waits up to the socket's read timeout for one datagram and handles it.
    fn receive_once(&mut self) -> anyhow::Result<()> {
        let n = match self.socket.recv_from(&mut self.buf) {
            Ok((n, _)) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e.into()),
        };
        let Some(msg) = Message::parse(&self.buf[..n]) else {
            return Ok(());
        };
        let Some(i) = msg
            .call_id()
            .and_then(|id| self.by_call_id.get(id))
            .copied()
        else {
            if matches!(msg.start, Start::Request { .. }) {
                self.send(&msg.response(481, "Call/Transaction Does Not Exist"))?;
            }
            return Ok(());
        };
        match &msg.start {
            Start::Response { code } => self.on_response(i, *code, &msg),
            Start::Request { method } => self.on_request(i, method.clone(), &msg),
        }
    }

    fn on_response(&mut self, i: usize, code: u16, msg: &Message) -> anyhow::Result<()> {
        let c = &mut self.calls[i];
        match (msg.cseq_method(), &c.state, code) {
            (Some("INVITE"), State::Inviting | State::Proceeding, 100..=199) => {
                c.state = State::Proceeding;
                c.next_retransmit = None;
            }
            (Some("INVITE"), State::Inviting | State::Proceeding, 200..=299) => {
                c.next_retransmit = None;
                match msg.answer() {
                    Some(answer) => {
                        let text = sip_text::ack(&c.leg, &format!("{}-ack", c.branch), &answer);
                        c.state = State::Confirmed(answer);
                        self.send(&text)?;
                    }
                    None => c.state = State::Failed("200 OK without tag, Contact or audio".into()),
                }
            }
            // A 2xx retransmitted: our ACK was lost.
            (Some("INVITE"), State::Confirmed(answer), 200..=299) => {
                let text = sip_text::ack(&c.leg, &format!("{}-ack", c.branch), answer);
                self.send(&text)?;
            }
            (Some("INVITE"), State::Inviting | State::Proceeding, 300..) => {
                let text = sip_text::ack_error(&c.leg, &c.branch, msg.to_tag().as_deref());
                c.next_retransmit = None;
                c.state = State::Failed(format!("INVITE answered {code}"));
                self.send(&text)?;
            }
            (Some("BYE"), State::Ending(_), 200..) => {
                c.next_retransmit = None;
                c.state = State::Ended { by_agent: false };
            }
            _ => {}
        }
        Ok(())
    }

    fn on_request(&mut self, i: usize, method: String, msg: &Message) -> anyhow::Result<()> {
        self.agent_requests += 1;
        let reply = match method.as_str() {
            "BYE" => {
                let c = &mut self.calls[i];
                c.next_retransmit = None;
                c.state = State::Ended { by_agent: true };
                msg.response(200, "OK")
            }
            "ACK" => return Ok(()),
            // The key-driven path never transfers; refusing keeps the call honest.
            _ => msg.response(501, "Not Implemented"),
        };
        self.send(&reply)
    }
}
