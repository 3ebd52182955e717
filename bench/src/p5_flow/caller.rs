//! One caller walking a branch of the seed's flow as a person would: it
//! listens for the prompts to end and for the beep, speaks, types keys and
//! the code from its SMS, and takes the transfer. Each step has a deadline;
//! a call that misses one fails with the step's name.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::audio::{Ears, Mouth};
use super::sms::SmsInbox;
use crate::p2_media::sip_text::{self, Answer, Leg, Message, Start};

/// A prompt is over after this much quiet.
const PROMPT_END_QUIET: Duration = Duration::from_millis(900);
/// The longest any one step may take.
const STEP_DEADLINE: Duration = Duration::from_secs(40);
const T1: Duration = Duration::from_millis(500);

/// What a caller does, in order.
#[derive(Debug, Clone)]
pub enum Act {
    /// Wait for a prompt to start and end.
    WaitPromptEnd,
    WaitBeep,
    /// Speak these frames; the decision is timed from their end.
    Speak(Arc<[Arc<[u8]>]>),
    /// Wait for the agent's answer to what was said: its next prompt.
    TimeDecision,
    Press(String),
    /// Type the code the SMS gateway received for this caller's account.
    PressSmsCode,
    /// Take the REFER, report its result, answer the BYE.
    TakeTransfer,
}

pub struct Plan {
    pub branch: &'static str,
    pub from_user: String,
    /// The account's phone, where its SMS goes.
    pub account_phone: String,
    pub acts: Vec<Act>,
}

#[derive(Debug, Clone, Default)]
pub struct Result {
    pub branch: &'static str,
    /// The REFER's X-Passgate-Auth, `None` when there was none.
    pub auth: Option<String>,
    pub sms_received: bool,
    pub decision: Option<Duration>,
    pub failure: Option<String>,
    pub jitter_us: Vec<u32>,
}

pub struct Line {
    pub sip: Arc<UdpSocket>,
    pub local_sip: SocketAddr,
    pub agent: SocketAddr,
    pub inbox: mpsc::UnboundedReceiver<Message>,
    pub sms: SmsInbox,
}

/// Places one call on `line` and walks the plan. Messages on the line for
/// another Call-ID (a retransmission of a call it made before) are
/// answered and otherwise ignored.
pub async fn call(call_id: String, plan: Plan, line: &mut Line) -> Result {
    let mut result = Result {
        branch: plan.branch,
        ..Result::default()
    };
    match walk(&call_id, &plan, line, &mut result).await {
        Ok(()) => {}
        Err(e) => result.failure = Some(e),
    }
    result
}

struct Dialog {
    leg: Leg,
    answer: Answer,
    rtp: UdpSocket,
    ears: Ears,
    mouth: Mouth,
    next_send: tokio::time::Instant,
    /// When the last spoken frame went.
    spoke_until: Option<Instant>,
}

async fn walk(
    call_id: &str,
    plan: &Plan,
    line: &mut Line,
    result: &mut Result,
) -> std::result::Result<(), String> {
    let rtp = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("rtp bind: {e}"))?;
    let rtp_addr = rtp.local_addr().map_err(|e| e.to_string())?;
    let leg = Leg {
        call_id: call_id.to_string(),
        from_user: plan.from_user.clone(),
        from_tag: format!("t{}", &call_id[call_id.len().saturating_sub(8)..]),
        local: line.local_sip,
        agent: line.agent,
    };
    let answer = invite(&leg, rtp_addr, line).await?;
    let ssrc = call_id
        .bytes()
        .fold(0x9e37_79b9u32, |h, b| h.rotate_left(5) ^ b as u32);
    let mut d = Dialog {
        leg,
        answer,
        rtp,
        ears: Ears::default(),
        mouth: Mouth::new(ssrc),
        next_send: tokio::time::Instant::now(),
        spoke_until: None,
    };
    for act in &plan.acts {
        let started = Instant::now();
        match act {
            Act::WaitPromptEnd => {
                let from = started;
                step(&mut d, line, "a prompt to end", |d| {
                    d.ears.onset.is_some_and(|o| o >= from)
                        && d.ears
                            .last_loud
                            .is_some_and(|l| l >= from && l.elapsed() >= PROMPT_END_QUIET)
                })
                .await?;
            }
            Act::WaitBeep => {
                step(&mut d, line, "the beep", |d| {
                    d.ears.beep_ended.is_some_and(|b| b >= started)
                })
                .await?;
            }
            Act::Speak(frames) => {
                d.mouth.say(frames);
                step(&mut d, line, "speaking", |d| d.mouth.idle()).await?;
                // The last speech frame has just gone: the decision's clock starts.
                let now = Instant::now();
                d.spoke_until = Some(now);
                d.ears.listen_from(now);
            }
            Act::TimeDecision => {
                step(&mut d, line, "the decision", |d| {
                    d.ears.heard_after.is_some()
                })
                .await?;
                result.decision = d
                    .ears
                    .heard_after
                    .zip(d.spoke_until)
                    .map(|(heard, spoke)| heard.saturating_duration_since(spoke));
            }
            Act::Press(digits) => {
                d.mouth.press(digits);
                step(&mut d, line, "pressing keys", |d| d.mouth.idle()).await?;
            }
            Act::PressSmsCode => {
                let sms = line.sms.clone();
                let phone = plan.account_phone.clone();
                step(&mut d, line, "the SMS", |_| sms.has(&phone)).await?;
                result.sms_received = true;
                let code = line.sms.take(&plan.account_phone).unwrap_or_default();
                d.mouth.press(&code);
                step(&mut d, line, "typing the code", |d| d.mouth.idle()).await?;
            }
            Act::TakeTransfer => {
                let refer = wait_request(&mut d, line, "REFER").await?;
                reply(line, &refer, 202, "Accepted").await;
                result.auth = refer
                    .header("refer-to")
                    .and_then(|r| r.split("X-Passgate-Auth=").nth(1))
                    .map(|v| v.split(['&', '>', ';']).next().unwrap_or("").to_string());
                let notify = sip_text::notify(
                    &d.leg,
                    &format!("z9hG4bKn{call_id}"),
                    &d.answer,
                    2,
                    "200 OK",
                );
                send(line, notify.as_bytes()).await;
                wait_request(&mut d, line, "BYE").await?;
            }
        }
    }
    result.jitter_us = std::mem::take(&mut d.ears.jitter_us);
    // A code this caller did not type: the passphrase was refused anyway.
    if line.sms.take(&plan.account_phone).is_some() {
        result.sms_received = true;
    }
    Ok(())
}

/// Sends the INVITE (retransmitted on T1 until answered) and ACKs the 200.
async fn invite(
    leg: &Leg,
    rtp: SocketAddr,
    line: &mut Line,
) -> std::result::Result<Answer, String> {
    let branch = format!("z9hG4bKi{}", leg.call_id);
    let text = sip_text::invite(leg, &branch, rtp, None);
    let deadline = Instant::now() + Duration::from_secs(32);
    let mut retransmit = T1;
    let mut provisional = false;
    send(line, text.as_bytes()).await;
    loop {
        let wait = if provisional {
            Duration::from_secs(1)
        } else {
            retransmit
        };
        match tokio::time::timeout(wait, line.inbox.recv()).await {
            Ok(Some(m)) if m.call_id() != Some(leg.call_id.as_str()) => stray(line, &m).await,
            Ok(Some(m)) => match m.start {
                Start::Response { code } if m.cseq_method() == Some("INVITE") => {
                    if code < 200 {
                        provisional = true;
                    } else if code < 300 {
                        let answer = m.answer().ok_or("a 200 without tag, Contact or SDP")?;
                        let ack = sip_text::ack(leg, &format!("z9hG4bKa{}", leg.call_id), &answer);
                        send(line, ack.as_bytes()).await;
                        return Ok(answer);
                    } else {
                        let ack = sip_text::ack_error(leg, &branch, m.to_tag().as_deref());
                        send(line, ack.as_bytes()).await;
                        return Err(format!("INVITE answered {code}"));
                    }
                }
                _ => {}
            },
            Ok(None) => return Err("SIP closed".into()),
            Err(_) => {
                if Instant::now() > deadline {
                    return Err("INVITE unanswered".into());
                }
                if !provisional {
                    send(line, text.as_bytes()).await;
                    retransmit = (retransmit * 2).min(Duration::from_secs(4));
                }
            }
        }
    }
}

/// One turn of the call's media and signalling: the next packet out when it
/// is due (one every 20 ms), any packet in heard, or a SIP message returned.
async fn pump(d: &mut Dialog, line: &mut Line) -> std::result::Result<Option<Message>, String> {
    let mut buf = [0u8; 2048];
    tokio::select! {
        _ = tokio::time::sleep_until(d.next_send) => {
            let packet = d.mouth.next_packet();
            let _ = d.rtp.send_to(&packet, d.answer.rtp).await;
            d.next_send += Duration::from_millis(20);
            // Behind by more than a packet (the generator stalled): no burst
            // to catch up, as a phone would not.
            let now = tokio::time::Instant::now();
            if d.next_send + Duration::from_millis(20) < now {
                d.next_send = now;
            }
            Ok(None)
        }
        got = d.rtp.recv_from(&mut buf) => {
            if let Ok((n, _)) = got {
                // PCMU only: the agent's key-press echoes and comfort noise are not heard.
                if n > 12 && buf[1] & 0x7f == 0 {
                    let start = 12 + 4 * (buf[0] & 0x0f) as usize;
                    if n > start {
                        d.ears.hear(Instant::now(), &buf[start..n]);
                    }
                }
            }
            Ok(None)
        }
        m = line.inbox.recv() => match m {
            Some(m) if m.call_id() != Some(d.leg.call_id.as_str()) => {
                stray(line, &m).await;
                Ok(None)
            }
            Some(m) => Ok(Some(m)),
            None => Err("SIP closed".to_string()),
        },
    }
}

/// A message for an earlier call on the line: a request gets its 200 (a
/// BYE retransmitted because the first 200 was lost), anything else is
/// dropped.
async fn stray(line: &Line, m: &Message) {
    if matches!(&m.start, Start::Request { method } if method != "ACK") {
        reply(line, m, 200, "OK").await;
    }
}

/// Runs the call until `done` holds or the step's deadline passes. A BYE or
/// REFER meanwhile fails the step; other requests get 200.
async fn step(
    d: &mut Dialog,
    line: &mut Line,
    what: &str,
    mut done: impl FnMut(&Dialog) -> bool,
) -> std::result::Result<(), String> {
    let deadline = Instant::now() + STEP_DEADLINE;
    while !done(d) {
        if Instant::now() > deadline {
            return Err(format!("no {what} within {STEP_DEADLINE:?}"));
        }
        let Some(m) = pump(d, line).await? else {
            continue;
        };
        if let Start::Request { method } = &m.start {
            match method.as_str() {
                "BYE" => {
                    reply(line, &m, 200, "OK").await;
                    return Err(format!("the agent hung up while waiting for {what}"));
                }
                "REFER" => {
                    reply(line, &m, 202, "Accepted").await;
                    return Err(format!(
                        "a REFER while waiting for {what}: {}",
                        m.header("refer-to").unwrap_or("")
                    ));
                }
                _ => reply(line, &m, 200, "OK").await,
            }
        }
    }
    Ok(())
}

/// Runs the call until the agent sends `method`. A BYE is answered 200 (and
/// fails the wait unless it was awaited); the caller answers the rest.
async fn wait_request(
    d: &mut Dialog,
    line: &mut Line,
    method: &str,
) -> std::result::Result<Message, String> {
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        if Instant::now() > deadline {
            return Err(format!("no {method} within {STEP_DEADLINE:?}"));
        }
        let Some(m) = pump(d, line).await? else {
            continue;
        };
        let Start::Request { method: got } = &m.start else {
            continue;
        };
        if got == "BYE" {
            reply(line, &m, 200, "OK").await;
            if method != "BYE" {
                return Err(format!("the agent hung up while waiting for {method}"));
            }
        } else if got != method {
            reply(line, &m, 200, "OK").await;
            continue;
        }
        return Ok(m);
    }
}

async fn reply(line: &Line, request: &Message, code: u16, reason: &str) {
    send(line, request.response(code, reason).as_bytes()).await;
}

async fn send(line: &Line, datagram: &[u8]) {
    let _ = line.sip.send_to(datagram, line.agent).await;
}
