//! The user agent server, sans-IO: routing what arrives to the transaction,
//! dialog or handler it belongs to, admission of new calls, and the
//! application's commands.
//!
//! Feed it what arrives ([`Endpoint::handle_input`]) and the passing of time
//! ([`Endpoint::handle_timeout`]); act on the application's decisions
//! ([`Endpoint::answer`], [`Endpoint::reject`], [`Endpoint::hangup`],
//! [`Endpoint::refer`]); drain [`Endpoint::poll_transmit`] and
//! [`Endpoint::poll_event`]; sleep until [`Endpoint::poll_timeout`].
//! Nothing here reads a clock or touches a socket.
//!
//! The layers below it (RFC 3261 §16-18) each have their module:
//! [`crate::transport`], [`crate::transaction`], [`crate::dialog`]. A new
//! INVITE is taken in `invite`, requests inside a dialog in `in_dialog`.

mod in_dialog;
mod invite;
mod outbound;
mod timers;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::{rngs::StdRng, SeedableRng};

pub use crate::config::EndpointConfig;
pub use crate::event::{CallHandle, EndReason, Event, IncomingCall, ReferStatus};
pub use crate::transport::{Transmit, TransportKind};

use crate::dialog::{Dialog, DialogKey, DialogState};
use crate::message::{self, Incoming, MessageError, Method, Request};
use crate::reliable_provisional::ReliableProvisional;
use crate::response::{self, Reply, ResponseSpec};
use crate::salvage::salvage;
use crate::sdp;
use crate::stateless;
use crate::timer_queue::TimerQueue;
use crate::transaction::{ClientTx, ServerTx, TxKey};
use crate::transport::is_keepalive;

pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE, PRACK";
pub use crate::extensions::SUPPORTED;
pub const ACCEPT: &str =
    "application/sdp, multipart/mixed, application/dtmf-relay, application/dtmf, message/sipfrag";

/// Counters for metrics and for tests that check what was dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub messages_in: u64,
    pub malformed_answered: u64,
    pub malformed_dropped: u64,
    pub retransmissions_absorbed: u64,
    pub retransmissions_sent: u64,
    pub calls_refused_overload: u64,
    pub calls_refused_rate: u64,
    pub calls_refused_draining: u64,
    pub requests_forbidden: u64,
    pub invites_challenged: u64,
    /// Digest answers with a wrong password.
    pub auth_wrong_password: u64,
    /// Digest answers for a user name we do not have (or another realm).
    pub auth_unknown_user: u64,
    /// Digest answers missing a parameter.
    pub auth_malformed: u64,
    /// Digest answers to a nonce not issued here or expired.
    pub auth_stale_nonce: u64,
    /// Digest answers whose nonce count was used before (a replay).
    pub auth_replayed: u64,
    /// Digest answers whose `uri` is not the Request-URI.
    pub auth_uri_mismatch: u64,
    /// INVITEs refused without a challenge: source or user name locked.
    pub auth_locked: u64,
}

/// Why a new call is answered 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Draining,
    /// `max_calls` or the total call rate.
    Overload,
    /// The caller's own call rate.
    Rate,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Server(TxKey),
    Client(String),
    Call(u64),
    /// A call's reliable provisional response (RFC 3262).
    Provisional(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no such call")]
    NoSuchCall,
    #[error("the call is not in a state to {0}")]
    WrongState(&'static str),
}

pub struct Endpoint {
    config: EndpointConfig,
    rng: StdRng,
    /// Keys the To tags of stateless 503s.
    stateless_tags: std::hash::RandomState,
    next_call: u64,
    server_txs: HashMap<TxKey, ServerTx>,
    client_txs: HashMap<String, ClientTx>,
    calls: HashMap<u64, Dialog>,
    dialogs: HashMap<DialogKey, u64>,
    timers: TimerQueue<TimerKey>,
    /// When each call with a session timer (RFC 4028) ends unless its
    /// caller refreshes it: exact, one entry per live call, so a long
    /// interval leaves nothing behind once its call is over.
    session_deadlines: BTreeSet<(Instant, u64)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    rate: crate::admission::CallRateLimiter,
    total_rate: crate::admission::TotalRateLimiter,
    draining: bool,
    /// Whether the application can take calls (see [`Endpoint::set_ready`]).
    ready: bool,
    auth_throttle: crate::auth_throttle::AuthThrottle,
}

/// Where a request came from, and the transaction it opens.
pub(crate) struct Inbound {
    pub key: TxKey,
    pub transport: TransportKind,
    pub source: SocketAddr,
}

impl Endpoint {
    pub fn new(config: EndpointConfig, seed: u64) -> Self {
        Endpoint {
            rng: StdRng::seed_from_u64(seed),
            stateless_tags: std::hash::RandomState::new(),
            next_call: 1,
            server_txs: HashMap::new(),
            client_txs: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            timers: TimerQueue::new(),
            session_deadlines: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            rate: crate::admission::CallRateLimiter::new(config.calls_per_source),
            total_rate: crate::admission::TotalRateLimiter::new(config.calls_per_second),
            draining: false,
            ready: true,
            auth_throttle: crate::auth_throttle::AuthThrottle::new(config.auth_limits),
            config,
        }
    }

    /// Stops taking new calls (503) while calls in progress go on: for a
    /// graceful shutdown.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// Whether the application can take new calls (its store reachable, under
    /// its caps). Out-of-dialog OPTIONS answer 503 while it cannot or while
    /// draining, so a dispatcher probing with OPTIONS stops sending new calls
    /// at once and resumes when the node is ready again.
    pub fn set_ready(&mut self, ready: bool) {
        self.ready = ready;
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Calls not yet forgotten (offered, answered, confirmed or ending).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Whether a call in progress sends over TCP connection `id` (such a
    /// connection is kept however long it stays silent).
    pub fn uses_connection(&self, id: u64) -> bool {
        self.calls
            .values()
            .any(|c| c.transport.connection() == Some(id))
    }

    /// Transactions still held (for memory accounting and drain checks).
    pub fn transactions(&self) -> usize {
        self.server_txs.len() + self.client_txs.len()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let session = self.session_deadlines.first().map(|(at, _)| *at);
        match (self.timers.next_deadline(), session) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The Call-ID of a call, for logging.
    pub fn call_id(&self, call: CallHandle) -> Option<&str> {
        self.calls.get(&call.0).map(|c| c.key.call_id.as_str())
    }

    // ---- input -------------------------------------------------------------

    /// One datagram (UDP) or one framed message (TCP) from `source`.
    pub fn handle_input(
        &mut self,
        now: Instant,
        transport: TransportKind,
        source: SocketAddr,
        data: &[u8],
    ) {
        if is_keepalive(data) {
            // CRLF keep-alives (RFC 5626 §3.5.1 style, sent by phones and
            // trunks over UDP to hold NAT bindings open) are no message: no
            // answer, nothing counted. Over TCP the framer answers them.
            tracing::trace!(%source, "keep-alive");
            return;
        }
        self.stats.messages_in += 1;
        if self.refused_statelessly(now, transport, source, data) {
            return;
        }
        match message::parse(data) {
            Ok(Incoming::Request(req)) => self.on_request(now, transport, source, *req),
            Ok(Incoming::Response(resp)) if self.allowed(source.ip()) => {
                self.on_response(now, *resp)
            }
            Ok(Incoming::Response(_)) => self.stats.requests_forbidden += 1,
            Err(err) => self.on_malformed(transport, source, data, err),
        }
    }

    /// A new INVITE the admission limits refuse, or the ACK of such a
    /// refusal, handled without the parser or a transaction (see `stateless`).
    fn refused_statelessly(
        &mut self,
        now: Instant,
        transport: TransportKind,
        source: SocketAddr,
        data: &[u8],
    ) -> bool {
        if stateless::acks_a_refusal(data) {
            return true;
        }
        if !data.starts_with(b"INVITE ") || !self.allowed(source.ip()) {
            return false;
        }
        let Some(refusal) = self.refusal(now, source.ip(), false) else {
            return false;
        };
        let Some(invite) = stateless::new_invite(data) else {
            return false;
        };
        if self.server_txs.contains_key(&invite.key) {
            // A retransmission of a call already taken: its transaction answers.
            return false;
        }
        self.count_refusal(refusal, source.ip());
        // The same request gets the same tag (§8.2.6.2), with no state kept.
        let tag = format!(
            "{}{:x}",
            stateless::TAG_PREFIX,
            self.stateless_tags.hash_one((
                &invite.key.branch,
                &invite.echo.call_id,
                &invite.echo.from
            ))
        );
        let payload = response::build(&ResponseSpec {
            code: 503,
            echo: &invite.echo,
            to_tag: Some(&tag),
            source,
            headers: &[self.retry_after()],
            body: None,
            server: self.config.server_header.as_deref(),
        });
        self.send_response_bytes(transport, source, &invite.echo, payload);
        true
    }

    /// Why a new call from `source` must be refused now, if it must. With
    /// `take`, an admitted call takes its rate tokens; without, nothing changes.
    fn refusal(&mut self, now: Instant, source: IpAddr, take: bool) -> Option<Refusal> {
        if self.draining {
            Some(Refusal::Draining)
        } else if self.calls.len() >= self.config.max_calls {
            Some(Refusal::Overload)
        } else if !(if take {
            self.rate.admit(now, source)
        } else {
            self.rate.would_admit(now, source)
        }) {
            Some(Refusal::Rate)
        } else if !(if take {
            self.total_rate.admit(now)
        } else {
            self.total_rate.would_admit(now)
        }) {
            Some(Refusal::Overload)
        } else {
            None
        }
    }

    /// Counts a refused call. One source over its own rate is logged (a
    /// line per INVITE, for fail2ban); refusals for the node's capacity are
    /// only counted, being no one source's doing.
    fn count_refusal(&mut self, refusal: Refusal, source: IpAddr) {
        let counter = match refusal {
            Refusal::Draining => &mut self.stats.calls_refused_draining,
            Refusal::Overload => &mut self.stats.calls_refused_overload,
            Refusal::Rate => {
                tracing::warn!(%source, reason = %"rate", "security: call refused");
                &mut self.stats.calls_refused_rate
            }
        };
        *counter += 1;
    }

    fn on_malformed(
        &mut self,
        transport: TransportKind,
        source: SocketAddr,
        data: &[u8],
        err: MessageError,
    ) {
        let found = salvage(data);
        let answerable = found.is_request && found.method.as_deref() != Some("ACK");
        match (answerable, found.echo) {
            (true, Some(echo)) => {
                let code = match err {
                    MessageError::UnknownMethod(_) => 501,
                    MessageError::Version(_) => 505,
                    MessageError::UnsupportedScheme(_) => 416,
                    _ => 400,
                };
                tracing::debug!(%source, %err, code, "answering a message we cannot use");
                self.stats.malformed_answered += 1;
                let headers = if code == 501 {
                    vec![format!("Allow: {ALLOW}")]
                } else {
                    vec![]
                };
                let tag = self.new_tag();
                let payload = response::build(&ResponseSpec {
                    code,
                    echo: &echo,
                    to_tag: Some(&tag),
                    source,
                    headers: &headers,
                    body: None,
                    server: self.config.server_header.as_deref(),
                });
                self.send_response_bytes(transport, source, &echo, payload);
            }
            _ => {
                tracing::debug!(%source, %err, "dropping a message that cannot be answered");
                self.stats.malformed_dropped += 1;
            }
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        transport: TransportKind,
        source: SocketAddr,
        req: Request,
    ) {
        if !self.allowed(source.ip()) {
            self.stats.requests_forbidden += 1;
            tracing::warn!(
                source = %source.ip(),
                reason = %"not_allowed",
                method = %req.method.as_str(),
                "security: request refused"
            );
            if req.method != Method::Ack {
                let tag = self.new_tag();
                let payload = response::build(&ResponseSpec {
                    code: 403,
                    echo: &req.echo,
                    to_tag: Some(&tag),
                    source,
                    headers: &[],
                    body: None,
                    // A refused source learns nothing of what refused it.
                    server: None,
                });
                self.send_response_bytes(transport, source, &req.echo, payload);
            }
            return;
        }
        let at = Inbound {
            key: TxKey {
                branch: req.top_via.branch.clone(),
                sent_by: req.top_via.sent_by.clone(),
                method: if req.method == Method::Ack {
                    Method::Invite
                } else {
                    req.method
                },
            },
            transport,
            source,
        };
        if req.method == Method::Ack {
            return self.on_ack(now, at.key, req);
        }
        if let Some(tx) = self.server_txs.get(&at.key) {
            self.stats.retransmissions_absorbed += 1;
            if let Some(payload) = tx.last_response() {
                self.transmits.push_back(Transmit {
                    transport: tx.transport,
                    destination: tx.source,
                    payload: payload.to_vec(),
                    reconnect: None,
                });
            } else if tx.trying_pending() {
                // The caller is waiting long enough to retransmit.
                self.send_trying(now, &at.key);
            }
            return;
        }
        if let Some(unsupported) =
            crate::extensions::unsupported_required(&req).filter(|_| req.method != Method::Cancel)
        {
            let reply = Reply::new(420).header(format!("Unsupported: {unsupported}"));
            return self.respond_new(now, &at, &req, reply);
        }
        if req.method == Method::Cancel {
            return self.on_cancel(now, at, &req);
        }
        if req.to_tag.is_some() {
            return self.on_in_dialog(now, at, req);
        }
        let reply = match req.method {
            Method::Invite => return self.on_invite(now, at, req),
            // Out of dialog, OPTIONS is how trunks and load balancers ask
            // whether calls may be sent here: 503 while none can be taken.
            Method::Options
                if !self.ready || self.draining || self.calls.len() >= self.config.max_calls =>
            {
                Reply::new(503).header(self.retry_after())
            }
            Method::Options => {
                Reply::new(200).headers(self.capability_headers(transport, source.ip()))
            }
            Method::Bye
            | Method::Info
            | Method::Notify
            | Method::Refer
            | Method::Update
            | Method::Prack => Reply::new(481),
            _ => Reply::new(405).header(format!("Allow: {ALLOW}")),
        };
        self.respond_new(now, &at, &req, reply)
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.config.allow_from.is_empty() || self.config.allow_from.iter().any(|c| c.contains(ip))
    }

    // ---- the application's decisions ----------------------------------------

    /// Answers an offered call with 200 and our SDP, media on `local_rtp_port`
    /// of the public address.
    pub fn answer(
        &mut self,
        now: Instant,
        call: CallHandle,
        local_rtp_port: u16,
    ) -> Result<(), CommandError> {
        self.answer_with_sdp(now, call, local_rtp_port, None)
    }

    /// [`Endpoint::answer`] with the answer's SDP written by the application:
    /// a WebRTC offer ([`sdp::Negotiated::webrtc`]) is answered by the
    /// WebRTC stack, which owns its ICE and DTLS parameters.
    pub fn answer_with_sdp(
        &mut self,
        now: Instant,
        call: CallHandle,
        local_rtp_port: u16,
        answer_sdp: Option<String>,
    ) -> Result<(), CommandError> {
        let c = offered(&mut self.calls, call, "answer")?;
        // The final response ends our 180's retransmissions (RFC 3262 §3).
        c.unacknowledged_provisional = None;
        c.local_rtp_port = local_rtp_port;
        let local = SocketAddr::new(c.media_ip, local_rtp_port);
        let body = match (&c.media, answer_sdp) {
            (Some(_), Some(written)) => written,
            (Some(neg), None) => sdp::answer(neg, local, c.origin),
            (None, _) => {
                c.awaiting_answer_in_ack = true;
                c.offered_srtp = offer_key(&self.config.media);
                sdp::offer(&self.config.media, local, c.origin, c.offered_srtp.as_ref())
            }
        };
        c.state = DialogState::Answered;
        let (key, tag, transport) = (c.invite_tx.clone(), c.key.local_tag.clone(), c.transport);
        let (peer, cseq, sips) = (c.remote.ip(), c.invite_cseq, c.sips);
        let session_timer = c.session_timer;
        let echo = self
            .invite_echo(&key)
            .ok_or(CommandError::WrongState("answer"))?;
        let reply = Reply::new(200)
            .tag(Some(&tag))
            .headers(self.answer_headers(transport, peer, sips, session_timer))
            .sdp(body.as_bytes());
        let payload = self.respond_tx(now, &key, &echo, reply);
        if let Some(c) = self.calls.get_mut(&call.0) {
            c.local_sdp = Some(body);
        }
        self.track_2xx(now, call.0, cseq, payload);
        self.start_session_timer(now, call.0, session_timer);
        Ok(())
    }

    /// Sends 180 Ringing on an offered call (the application answers later):
    /// reliably (RFC 3262) when the INVITE requires it, and then not again
    /// while the first waits for its PRACK (§3).
    pub fn ring(&mut self, now: Instant, call: CallHandle) -> Result<(), CommandError> {
        let c = offered(&mut self.calls, call, "ring")?;
        // A second reliable 180 waits for the first's PRACK (§3). Without an
        // offer in the INVITE, the first reliable response would have to
        // carry ours (§5), and ours goes in the 200: no 180 then.
        if c.unacknowledged_provisional.is_some() || (c.reliable_provisionals && c.media.is_none())
        {
            return Ok(());
        }
        let (key, tag) = (c.invite_tx.clone(), c.key.local_tag.clone());
        let (peer, transport, sips) = (c.remote.ip(), c.transport, c.sips);
        let reliable = c.reliable_provisionals.then_some(c.next_rseq);
        let contact = self.contact(peer, transport, sips);
        let echo = self
            .invite_echo(&key)
            .ok_or(CommandError::WrongState("ring"))?;
        let mut reply = Reply::new(180).tag(Some(&tag)).header(contact);
        if let Some(rseq) = reliable {
            reply = reply
                .header(format!(
                    "Require: {}",
                    crate::extensions::RELIABLE_PROVISIONAL
                ))
                .header(format!("RSeq: {rseq}"));
        }
        let payload = self.respond_tx(now, &key, &echo, reply);
        if let (Some(rseq), Some(c)) = (reliable, self.calls.get_mut(&call.0)) {
            let (sent, next) =
                ReliableProvisional::sent(now, &self.config.timers, payload, !transport.reliable());
            c.last_rseq = Some(rseq);
            c.next_rseq = c.next_rseq.wrapping_add(1);
            c.unacknowledged_provisional = Some(sent);
            self.timers.schedule(next, TimerKey::Provisional(call.0));
        }
        Ok(())
    }

    /// Rejects an offered call with a final response (4xx–6xx).
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallHandle,
        code: u16,
    ) -> Result<(), CommandError> {
        let c = offered(&mut self.calls, call, "reject")?;
        let (key, tag) = (c.invite_tx.clone(), c.key.local_tag.clone());
        let echo = self
            .invite_echo(&key)
            .ok_or(CommandError::WrongState("reject"))?;
        let mut reply = Reply::new(code.clamp(300, 699)).tag(Some(&tag));
        // A 503 says when to come back, as the endpoint's own refusals do.
        if code == 503 {
            reply = reply.header(self.retry_after());
        }
        self.respond_tx(now, &key, &echo, reply);
        self.forget_call(call.0);
        self.events.push_back(Event::CallEnded {
            call,
            reason: EndReason::Rejected(code),
        });
        Ok(())
    }

    /// Ends a call from our side: BYE once the dialog is confirmed, 480 before
    /// it is answered, BYE right after the ACK when it is answered but not yet
    /// acknowledged (§15).
    pub fn hangup(&mut self, now: Instant, call: CallHandle) -> Result<(), CommandError> {
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CommandError::NoSuchCall)?;
        match c.state {
            DialogState::Offered => return self.reject(now, call, 480),
            DialogState::Answered => c.bye_after_ack = true,
            DialogState::Confirmed => self.send_bye(now, call.0),
            DialogState::Ending => return Ok(()),
        }
        self.events.push_back(Event::CallEnded {
            call,
            reason: EndReason::LocalBye,
        });
        Ok(())
    }

    /// Ends a call the application has stopped serving (its task no longer
    /// takes its events): BYE with a Reason once the dialog is confirmed,
    /// 500 before it is answered, BYE right after the ACK in between.
    pub fn end_stalled(&mut self, now: Instant, call: CallHandle) -> Result<(), CommandError> {
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CommandError::NoSuchCall)?;
        match c.state {
            DialogState::Offered => return self.reject(now, call, 500),
            DialogState::Answered => c.bye_after_ack = true,
            DialogState::Confirmed => {
                let reason = "Reason: SIP;cause=500;text=\"call not responding\"";
                self.end_with_bye(now, call.0, &[reason.to_string()]);
            }
            DialogState::Ending => return Ok(()),
        }
        self.events.push_back(Event::CallEnded {
            call,
            reason: EndReason::LocalBye,
        });
        Ok(())
    }

    /// Sends REFER (RFC 3515) asking the caller to call `refer_to` (a SIP URI,
    /// which may carry `?header=value` parts for the new INVITE).
    pub fn refer(
        &mut self,
        now: Instant,
        call: CallHandle,
        refer_to: &str,
    ) -> Result<(), CommandError> {
        let c = self.calls.get(&call.0).ok_or(CommandError::NoSuchCall)?;
        if c.state != DialogState::Confirmed {
            return Err(CommandError::WrongState("refer"));
        }
        let referred_by = format!(
            "Referred-By: <sip:{}@{}>",
            self.config.user,
            self.host_port(c.remote.ip(), c.transport)
        );
        let headers = [format!("Refer-To: <{refer_to}>"), referred_by];
        let cseq = self.send_request(now, call.0, Method::Refer, &headers);
        if let Some(c) = self.calls.get_mut(&call.0) {
            c.refer_cseq = cseq;
        }
        Ok(())
    }
}

/// A fresh key for an offer of ours, when SRTP is on (`offer` or
/// `required`): our offers then ask for SRTP.
fn offer_key(policy: &sdp::MediaPolicy) -> Option<crate::sdes::SrtpKey> {
    (policy.srtp != crate::sdes::SrtpMode::Off)
        .then(|| crate::sdes::SrtpKey::generate(sdp::OFFER_SUITE))
}

/// The key of our offer in a call whose media is `current`: the key we
/// encrypt with now when it is of the suite we offer, so that the caller
/// keeps reading our packets while the answer is on its way and a refresh
/// changes nothing; a fresh one otherwise.
fn reoffer_key(
    policy: &sdp::MediaPolicy,
    current: Option<&sdp::Negotiated>,
) -> Option<crate::sdes::SrtpKey> {
    match current.and_then(|m| m.srtp.as_ref()) {
        Some(keys)
            if keys.suite == sdp::OFFER_SUITE && policy.srtp != crate::sdes::SrtpMode::Off =>
        {
            Some(keys.local.clone())
        }
        _ => offer_key(policy),
    }
}

/// The call, when the application may still decide on its INVITE.
fn offered<'a>(
    calls: &'a mut HashMap<u64, Dialog>,
    call: CallHandle,
    command: &'static str,
) -> Result<&'a mut Dialog, CommandError> {
    let c = calls.get_mut(&call.0).ok_or(CommandError::NoSuchCall)?;
    if c.state != DialogState::Offered {
        return Err(CommandError::WrongState(command));
    }
    Ok(c)
}

#[cfg(test)]
mod tests;
