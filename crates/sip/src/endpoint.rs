//! The user agent server, sans-IO.
//!
//! Feed it what arrives ([`Endpoint::handle_input`]) and the passing of time
//! ([`Endpoint::handle_timeout`]); act on the application's decisions
//! ([`Endpoint::answer`], [`Endpoint::reject`], [`Endpoint::hangup`],
//! [`Endpoint::refer`]); drain [`Endpoint::poll_transmit`] and
//! [`Endpoint::poll_event`]; sleep until [`Endpoint::poll_timeout`].
//! Nothing here reads a clock or touches a socket.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::identity::AssertedIdentity;
use crate::message::{self, EchoHeaders, Incoming, MessageError, Method, Request, Response};
use crate::multipart;
use crate::response::{self, ResponseSpec};
use crate::salvage::salvage;
use crate::sdp::{self, MediaPolicy, Negotiated, SdpOrigin};
use crate::stateless;
use crate::timer_queue::TimerQueue;
use crate::timers::Timers;
use crate::transaction::{ClientTx, ServerState, ServerTx, TxKey};

pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY";
pub const ACCEPT: &str =
    "application/sdp, multipart/mixed, application/dtmf-relay, application/dtmf, message/sipfrag";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    /// A TCP connection, by the driver's id for it. Responses and in-dialog
    /// requests go back over the connection the request came in on.
    Tcp(u64),
}

impl TransportKind {
    fn via_name(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp(_) => "TCP",
        }
    }

    fn reliable(self) -> bool {
        matches!(self, TransportKind::Tcp(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: TransportKind,
    pub destination: SocketAddr,
    pub payload: Vec<u8>,
}

/// Identifies one call to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub call: CallHandle,
    pub call_id: String,
    pub request_uri: String,
    pub from_uri: String,
    pub from_display: Option<String>,
    pub to_uri: String,
    /// Kept only from `trusted_identity_sources` (RFC 3325).
    pub p_asserted_identity: Option<String>,
    /// Kept only from `trusted_identity_sources`.
    pub remote_party_id: Option<String>,
    /// Whether the source is in `trusted_identity_sources`: when not, the
    /// caller's number is From's, which anyone may write.
    pub identity_trusted: bool,
    /// The STIR/SHAKEN verification result a trusted source gave
    /// (`verstat`), e.g. `TN-Validation-Passed`.
    pub verstat: Option<String>,
    pub privacy: Option<String>,
    pub user_agent: Option<String>,
    pub source: SocketAddr,
    pub transport: TransportKind,
    /// What we will answer with; None when the INVITE carried no offer (we
    /// then offer in the 200 and learn the codec from the ACK).
    pub media: Option<Negotiated>,
    /// Without an offer in the INVITE: our offer's first choice, for the
    /// call's media until the ACK's answer arrives as
    /// [`Event::MediaUpdated`] (always before [`Event::CallConfirmed`]).
    pub provisional_media: Option<Negotiated>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferStatus {
    /// 202 to our REFER.
    Accepted,
    /// The REFER itself was refused (or timed out: 408).
    Rejected(u16),
    /// A NOTIFY reported a provisional response from the transfer target.
    Progress(u16),
    /// A NOTIFY reported the final response of the transfer target.
    Completed(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    RemoteBye,
    LocalBye,
    Cancelled,
    /// Our 2xx was never acknowledged (64·T1); we sent BYE.
    AckTimeout,
    /// The peer answered 481 to a request of ours in the dialog (RFC 5057):
    /// the dialog no longer exists there; no BYE is sent.
    DialogGone,
    /// The application (or negotiation) rejected the INVITE with this code.
    Rejected(u16),
    /// We offered in our 2xx (the INVITE had no SDP) and the ACK carried no
    /// acceptable answer; we sent BYE (RFC 3261 §13.2.1, RFC 3264 §5).
    NoAcceptableAnswer,
}

#[derive(Debug, Clone)]
pub enum Event {
    IncomingCall(Box<IncomingCall>),
    /// The ACK for our 2xx arrived: media may flow both ways.
    CallConfirmed {
        call: CallHandle,
    },
    /// A re-INVITE (or the ACK of a late offer) changed the media.
    MediaUpdated {
        call: CallHandle,
        media: Negotiated,
    },
    /// A DTMF digit sent in an INFO request.
    InfoDigit {
        call: CallHandle,
        digit: crate::info_dtmf::InfoDigit,
    },
    /// An INFO request with any other body.
    Info {
        call: CallHandle,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    Refer {
        call: CallHandle,
        status: ReferStatus,
    },
    CallEnded {
        call: CallHandle,
        reason: EndReason,
    },
}

#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Address put in Via, Contact and the SDP (the public one behind NAT)
    /// for peers of its family.
    pub public_ip: IpAddr,
    /// The address for IPv6 peers and IPv6 media when `public_ip` is IPv4
    /// (a dual-stack listener). Without an address of the offer's family a
    /// call is refused with 488.
    pub public_ipv6: Option<Ipv6Addr>,
    pub public_port: u16,
    /// User part of our Contact.
    pub user: String,
    pub media: MediaPolicy,
    pub timers: Timers,
    /// INVITEs beyond this many calls in progress get 503.
    pub max_calls: usize,
    /// Seconds suggested in Retry-After of a 503.
    pub retry_after_secs: u32,
    /// Sources allowed to send requests; empty allows everyone. Others get 403.
    pub allow_from: Vec<crate::admission::Cidr>,
    /// New calls per second per source address; beyond it INVITEs get 503.
    pub calls_per_source: Option<crate::admission::RateLimit>,
    /// New calls per second accepted in all (503 with Retry-After beyond).
    pub calls_per_second: Option<crate::admission::RateLimit>,
    /// When set, INVITEs must carry Digest credentials (else 401).
    pub digest: Option<crate::digest::DigestAuth>,
    /// The trust domain (RFC 3325): sources whose `P-Asserted-Identity`,
    /// `Remote-Party-ID` and `verstat` are believed. Empty: nobody's.
    pub trusted_identity_sources: Vec<crate::admission::Cidr>,
    /// How long an INVITE waits for its first response before 100 Trying
    /// goes out; zero sends it at once. At most 200 ms (RFC 3261 §17.2.1).
    pub trying_after: Duration,
    /// Server header of our responses and User-Agent of our requests; None
    /// leaves them out (nothing tells a scanner what answers). Never sent to
    /// sources refused for not being in `allow_from`.
    pub server_header: Option<String>,
    /// Limits on wrong Digest answers per source and per user name.
    pub auth_limits: crate::auth_throttle::AuthLimits,
}

impl EndpointConfig {
    /// Our address in the family of `peer` (an IPv4-mapped IPv6 address
    /// counts as IPv4), if we have one.
    pub fn local_ip_for(&self, peer: IpAddr) -> Option<IpAddr> {
        match (peer.to_canonical(), self.public_ip) {
            (IpAddr::V4(_), ip @ IpAddr::V4(_)) => Some(ip),
            (IpAddr::V4(_), IpAddr::V6(_)) => None,
            (IpAddr::V6(_), ip @ IpAddr::V6(_)) => Some(self.public_ipv6.map_or(ip, IpAddr::V6)),
            (IpAddr::V6(_), IpAddr::V4(_)) => self.public_ipv6.map(IpAddr::V6),
        }
    }

    pub fn new(public: SocketAddr) -> Self {
        EndpointConfig {
            public_ip: public.ip(),
            public_ipv6: None,
            public_port: public.port(),
            user: "passgate".into(),
            media: MediaPolicy::default(),
            timers: Timers::default(),
            max_calls: 10_000,
            retry_after_secs: 5,
            allow_from: Vec::new(),
            calls_per_source: None,
            calls_per_second: None,
            digest: None,
            trusted_identity_sources: Vec::new(),
            trying_after: Duration::from_millis(100),
            server_header: None,
            auth_limits: crate::auth_throttle::AuthLimits::default(),
        }
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// INVITE received, the application has not answered.
    Offered,
    /// 2xx sent, waiting for the ACK.
    Answered,
    Confirmed,
    /// We sent BYE; waiting for its response before forgetting the call.
    Ending,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DialogKey {
    call_id: String,
    local_tag: String,
    remote_tag: String,
}

/// A 2xx to an INVITE, retransmitted by the dialog until ACKed (§13.3.1.4).
struct Pending2xx {
    cseq: u32,
    payload: Vec<u8>,
    next_at: Option<Instant>,
    interval: Duration,
    give_up_at: Instant,
}

struct Call {
    dialog: DialogKey,
    transport: TransportKind,
    /// Where the INVITE came from; in-dialog requests go back there.
    remote: SocketAddr,
    invite_tx: TxKey,
    state: CallState,
    /// The From of the INVITE, with its tag: the To of our requests.
    remote_party: String,
    /// The To of the INVITE, without our tag: the From of our requests.
    local_party: String,
    remote_target: String,
    route_set: Vec<String>,
    remote_cseq: u32,
    local_cseq: u32,
    media: Option<Negotiated>,
    local_rtp_port: u16,
    /// Our address in the SDP: of the offer's family.
    media_ip: IpAddr,
    origin: SdpOrigin,
    pending_2xx: Option<Pending2xx>,
    /// The last 2xx carried our offer; the ACK carries the answer.
    awaiting_answer_in_ack: bool,
    /// The application hung up before the ACK; send BYE once it comes.
    bye_after_ack: bool,
    refer_cseq: Option<u32>,
}

impl Call {
    /// Whether `ip` is the caller's side of the dialog: the source of the
    /// INVITE, or the next hop toward the caller (the first route of the
    /// route set, else the remote target) when it is an IP address.
    fn is_peer(&self, ip: IpAddr) -> bool {
        if self.remote.ip() == ip {
            return true;
        }
        let next_hop = self.route_set.first().unwrap_or(&self.remote_target);
        uri_host_ip(next_hop) == Some(ip)
    }
}

/// The host of a SIP URI (bare or in a name-addr) when it is an IP address.
fn uri_host_ip(uri: &str) -> Option<IpAddr> {
    let start = uri
        .find("sip:")
        .map(|i| i + 4)
        .or_else(|| uri.find("sips:").map(|i| i + 5))?;
    let rest = &uri[start..];
    let end = rest.find([';', '>', '?']).unwrap_or(rest.len());
    let hostport = &rest[..end];
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split_once(']')?.0.parse().ok();
    }
    hostport.split(':').next()?.parse().ok()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Server(TxKey),
    Client(String),
    Call(u64),
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
    calls: HashMap<u64, Call>,
    dialogs: HashMap<DialogKey, u64>,
    timers: TimerQueue<TimerKey>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    rate: crate::admission::CallRateLimiter,
    total_rate: crate::admission::TotalRateLimiter,
    draining: bool,
    /// Whether the application can take calls (see [`Endpoint::set_ready`]).
    ready: bool,
    /// Zero of the clock digest nonces are stamped with.
    epoch: Option<Instant>,
    auth_throttle: crate::auth_throttle::AuthThrottle,
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
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            rate: crate::admission::CallRateLimiter::new(config.calls_per_source),
            total_rate: crate::admission::TotalRateLimiter::new(config.calls_per_second),
            draining: false,
            ready: true,
            epoch: None,
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
            .any(|c| c.transport == TransportKind::Tcp(id))
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
        self.timers.next_deadline()
    }

    /// The Call-ID of a call, for logging.
    pub fn call_id(&self, call: CallHandle) -> Option<&str> {
        self.calls.get(&call.0).map(|c| c.dialog.call_id.as_str())
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
                self.on_response(now, resp)
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
        let retry = format!("Retry-After: {}", self.config.retry_after_secs);
        let payload = response::build(&ResponseSpec {
            code: 503,
            echo: &invite.echo,
            to_tag: Some(&tag),
            source,
            headers: &[retry],
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
        let key = TxKey {
            branch: req.top_via.branch.clone(),
            sent_by: req.top_via.sent_by.clone(),
            method: if req.method == Method::Ack {
                Method::Invite
            } else {
                req.method
            },
        };
        if req.method == Method::Ack {
            return self.on_ack(now, key, req);
        }
        if let Some(tx) = self.server_txs.get(&key) {
            self.stats.retransmissions_absorbed += 1;
            if let Some(payload) = tx.last_response.clone() {
                self.transmits.push_back(Transmit {
                    transport: tx.transport,
                    destination: tx.source,
                    payload,
                });
            } else if tx.trying_at.is_some() {
                // The caller is waiting long enough to retransmit.
                self.send_trying(&key);
            }
            return;
        }
        if let Some(required) = req
            .header("require")
            .filter(|_| req.method != Method::Cancel)
        {
            let unsupported = format!("Unsupported: {required}");
            return self.respond_new(
                now,
                key,
                transport,
                source,
                &req,
                420,
                &[unsupported],
                None,
                None,
            );
        }
        if req.method == Method::Cancel {
            return self.on_cancel(now, key, transport, source, &req);
        }
        if req.to_tag.is_some() {
            return self.on_in_dialog(now, key, transport, source, req);
        }
        match req.method {
            Method::Invite => self.on_invite(now, key, transport, source, req),
            // Out of dialog, OPTIONS is how trunks and load balancers ask
            // whether calls may be sent here: 503 while none can be taken.
            Method::Options
                if !self.ready || self.draining || self.calls.len() >= self.config.max_calls =>
            {
                let retry = format!("Retry-After: {}", self.config.retry_after_secs);
                self.respond_new(now, key, transport, source, &req, 503, &[retry], None, None)
            }
            Method::Options => {
                let headers = self.capability_headers(transport, source.ip());
                self.respond_new(now, key, transport, source, &req, 200, &headers, None, None)
            }
            Method::Bye
            | Method::Info
            | Method::Notify
            | Method::Refer
            | Method::Update
            | Method::Prack => {
                self.respond_new(now, key, transport, source, &req, 481, &[], None, None)
            }
            _ => {
                let allow = format!("Allow: {ALLOW}");
                self.respond_new(now, key, transport, source, &req, 405, &[allow], None, None)
            }
        }
    }

    fn on_invite(
        &mut self,
        now: Instant,
        key: TxKey,
        transport: TransportKind,
        source: SocketAddr,
        req: Request,
    ) {
        let mut tx = ServerTx::new(Method::Invite, transport, source, None);
        tx.echo = Some(req.echo.clone());
        tx.record_route = req.record_route.clone();
        // 100 Trying stops the caller retransmitting. RFC 3261 §17.2.1 needs
        // none when the answer comes within 200 ms, which it nearly always
        // does: it waits `trying_after` for one (a retransmission of the
        // INVITE gets it at once), saving a datagram each way per call.
        if self.config.trying_after.is_zero() {
            self.server_txs.insert(key.clone(), tx);
            self.send_trying(&key);
        } else {
            let at = now + self.config.trying_after;
            tx.trying_at = Some(at);
            self.server_txs.insert(key.clone(), tx);
            self.timers.schedule(at, TimerKey::Server(key.clone()));
        }

        if let Some(refusal) = self.refusal(now, source.ip(), true) {
            self.count_refusal(refusal, source.ip());
            let retry = format!("Retry-After: {}", self.config.retry_after_secs);
            self.respond_tx(now, &key, &req.echo, 503, None, &[retry], None);
            return;
        }
        if req.contact.is_none() && req.top_via.branch.starts_with("z9hG4bK") {
            // Without a Contact there is no remote target for the dialog
            // (RFC 3261 §8.1.1.8, §12.1.1): our BYE or REFER would have
            // nowhere to go. RFC 2543 made it optional, so a request from
            // such an element (no magic-cookie branch, RFC 4475 §3.4.1) is
            // still taken, its From URI as the target.
            let warning = "Warning: 399 passgate \"Contact header missing\"".to_string();
            self.respond_tx(now, &key, &req.echo, 400, None, &[warning], None);
            return;
        }
        if !accepts_sdp(&req) {
            // Our 200 must carry SDP, which the caller says it cannot take
            // (RFC 4475 §3.3.15).
            let accept = "Accept: application/sdp".to_string();
            let warning = "Warning: 399 passgate \"responses carry application/sdp\"".to_string();
            self.respond_tx(now, &key, &req.echo, 406, None, &[accept, warning], None);
            return;
        }
        if let Some(digest) = &mut self.config.digest {
            let epoch = *self.epoch.get_or_insert(now);
            // +1: a nonce stamped 0 would read as "issued before the epoch".
            let now_secs = now.saturating_duration_since(epoch).as_secs() + 1;
            let authorization = req.header("authorization");
            let user = authorization.and_then(crate::digest::claimed_user);
            let realm = digest.realm();
            // One line per refusal and per wrong answer, for fail2ban; the
            // user name is quoted and escaped (it comes from anyone).
            if let Some(locked) = self.auth_throttle.locked(now, source.ip(), user.as_deref()) {
                self.stats.auth_locked += 1;
                tracing::warn!(
                    source = %source.ip(),
                    user = ?user.as_deref().unwrap_or(""),
                    realm = ?realm,
                    reason = %locked.as_str(),
                    "security: digest authentication refused"
                );
                self.respond_tx(now, &key, &req.echo, 403, None, &[], None);
                return;
            }
            let verified = digest.verify("INVITE", &req.uri, authorization, now_secs, source.ip());
            let challenge = verified.is_err().then(|| {
                let salt: u64 = self.rng.random();
                let challenge = digest.challenge(now_secs, salt, source.ip());
                format!("WWW-Authenticate: {challenge}")
            });
            match &verified {
                Ok(user) => self.auth_throttle.succeeded(now, source.ip(), user),
                Err(err) => self.auth_failed(now, source.ip(), user.as_deref(), err),
            }
            if let (Err(err), Some(challenge)) = (verified, challenge) {
                tracing::debug!(call_id = req.call_id(), %err, "challenging the INVITE");
                self.stats.invites_challenged += 1;
                self.respond_tx(now, &key, &req.echo, 401, None, &[challenge], None);
                return;
            }
        }
        let media = match offer_in(&req) {
            Ok(None) => None,
            Ok(Some(offer)) => match sdp::negotiate(&offer, &self.config.media) {
                Ok(neg) => Some(neg),
                Err(err) => {
                    tracing::info!(call_id = req.call_id(), %err, "refusing the offer");
                    let warning = format!("Warning: 304 passgate \"{err}\"");
                    self.respond_tx(now, &key, &req.echo, err.status(), None, &[warning], None);
                    return;
                }
            },
            Err(code) => {
                // A 415 lists what we do take (§21.4.13).
                let headers = if code == 415 {
                    vec!["Accept: application/sdp, multipart/mixed".to_string()]
                } else {
                    vec![]
                };
                self.respond_tx(now, &key, &req.echo, code, None, &headers, None);
                return;
            }
        };
        // Media goes in the family the offer asks for; without an offer, in
        // the family the INVITE came in on.
        let media_family = media.as_ref().map_or(source.ip(), |m| m.remote_rtp.ip());
        let Some(media_ip) = self.config.local_ip_for(media_family) else {
            tracing::info!(call_id = req.call_id(), %media_family, "no local address of the offer's family");
            let warning = format!(
                "Warning: 301 passgate \"no {} address for media here\"",
                if media_family.to_canonical().is_ipv4() {
                    "IPv4"
                } else {
                    "IPv6"
                }
            );
            self.respond_tx(now, &key, &req.echo, 488, None, &[warning], None);
            return;
        };
        let handle = self.next_call;
        self.next_call += 1;
        let dialog = DialogKey {
            call_id: req.echo.call_id.clone(),
            local_tag: self.new_tag(),
            remote_tag: req.from_tag.clone(),
        };
        let origin = SdpOrigin {
            session_id: self.rng.random_range(1..=u32::MAX as u64),
            version: 1,
        };
        if let Some(tx) = self.server_txs.get_mut(&key) {
            tx.call = Some(handle);
        }
        let identity =
            AssertedIdentity::of(&req, source.ip(), &self.config.trusted_identity_sources);
        if identity.dropped {
            tracing::info!(
                call_id = req.call_id(),
                %source,
                "identity headers from a source outside sip.trusted_identity_sources ignored"
            );
        }
        let incoming = IncomingCall {
            call: CallHandle(handle),
            call_id: req.echo.call_id.clone(),
            request_uri: req.uri.clone(),
            from_uri: req.from_uri.clone(),
            from_display: req.from_display.clone(),
            to_uri: req.to_uri.clone(),
            p_asserted_identity: identity.p_asserted_identity,
            remote_party_id: identity.remote_party_id,
            identity_trusted: identity.trusted,
            verstat: identity.verstat,
            privacy: all_values(&req, "privacy"),
            user_agent: req.header("user-agent").map(str::to_string),
            source,
            transport,
            provisional_media: media
                .is_none()
                .then(|| sdp::first_choice(&self.config.media)),
            media: media.clone(),
        };
        self.dialogs.insert(dialog.clone(), handle);
        self.calls.insert(
            handle,
            Call {
                dialog,
                transport,
                remote: source,
                invite_tx: key,
                state: CallState::Offered,
                remote_party: req.echo.from.clone(),
                local_party: req.echo.to.clone(),
                remote_target: req.contact.clone().unwrap_or_else(|| req.from_uri.clone()),
                route_set: req.record_route.clone(),
                remote_cseq: req.cseq,
                local_cseq: 0,
                media,
                local_rtp_port: 0,
                media_ip,
                origin,
                pending_2xx: None,
                awaiting_answer_in_ack: false,
                bye_after_ack: false,
                refer_cseq: None,
            },
        );
        self.events
            .push_back(Event::IncomingCall(Box::new(incoming)));
    }

    fn on_ack(&mut self, now: Instant, key: TxKey, req: Request) {
        // ACK of a non-2xx final: same branch as the INVITE (§17.2.1).
        if let Some(tx) = self.server_txs.get_mut(&key) {
            if tx.state == ServerState::Completed {
                tx.state = ServerState::Confirmed;
                tx.retransmit_at = None;
                let linger = if tx.transport.reliable() {
                    Duration::ZERO
                } else {
                    self.config.timers.t4
                };
                tx.expires_at = Some(now + linger);
                self.timers.schedule(now + linger, TimerKey::Server(key));
                return;
            }
        }
        // ACK of a 2xx: a new transaction, matched to the dialog (§13.3.1.4).
        let Some(handle) = self.find_dialog(&req) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if call.pending_2xx.as_ref().is_none_or(|p| p.cseq != req.cseq) {
            return;
        }
        call.pending_2xx = None;
        let first_ack = call.state == CallState::Answered;
        if first_ack {
            call.state = CallState::Confirmed;
        }
        let mut media_update = None;
        if call.awaiting_answer_in_ack {
            call.awaiting_answer_in_ack = false;
            match offer_in(&req)
                .ok()
                .flatten()
                .map(|a| sdp::negotiate(&a, &self.config.media))
            {
                Some(Ok(neg)) => {
                    call.media = Some(neg.clone());
                    media_update = Some(neg);
                }
                _ => {
                    // Our offer went unanswered: no media can flow, so the
                    // call ends with a BYE that says why (RFC 3326).
                    tracing::warn!(call_id = %call.dialog.call_id, "the ACK carried no acceptable answer to our offer; ending the call");
                    call.bye_after_ack = false;
                    let reason =
                        "Reason: SIP;cause=488;text=\"no acceptable SDP answer in the ACK\"";
                    self.end_with_bye(now, handle, &[reason.to_string()]);
                    self.events.push_back(Event::CallEnded {
                        call: CallHandle(handle),
                        reason: EndReason::NoAcceptableAnswer,
                    });
                    return;
                }
            }
        }
        let bye = std::mem::take(&mut call.bye_after_ack);
        // The media first: what the call does on confirmation (play) must
        // already use the answer's codec and address.
        if let Some(media) = media_update {
            self.events.push_back(Event::MediaUpdated {
                call: CallHandle(handle),
                media,
            });
        }
        if first_ack {
            self.events.push_back(Event::CallConfirmed {
                call: CallHandle(handle),
            });
        }
        if bye {
            self.send_bye(now, handle);
        }
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        key: TxKey,
        transport: TransportKind,
        source: SocketAddr,
        req: &Request,
    ) {
        let invite_key = TxKey {
            method: Method::Invite,
            ..key.clone()
        };
        let Some(invite) = self.server_txs.get(&invite_key) else {
            return self.respond_new(now, key, transport, source, req, 481, &[], None, None);
        };
        let (pending, call) = (!invite.is_final(), invite.call);
        self.respond_new(now, key, transport, source, req, 200, &[], None, None);
        if !pending {
            return;
        }
        let local_tag = call
            .and_then(|h| self.calls.get(&h))
            .map(|c| c.dialog.local_tag.clone());
        // The 487 echoes the INVITE's headers, which match the CANCEL's but for CSeq.
        let mut echo = req.echo.clone();
        echo.cseq = format!("{} INVITE", req.cseq);
        self.respond_tx(
            now,
            &invite_key,
            &echo,
            487,
            local_tag.as_deref(),
            &[],
            None,
        );
        if let Some(handle) = call {
            self.forget_call(handle);
            self.events.push_back(Event::CallEnded {
                call: CallHandle(handle),
                reason: EndReason::Cancelled,
            });
        }
    }

    fn on_in_dialog(
        &mut self,
        now: Instant,
        key: TxKey,
        transport: TransportKind,
        source: SocketAddr,
        req: Request,
    ) {
        let Some(handle) = self.find_dialog(&req) else {
            return self.respond_new(now, key, transport, source, &req, 481, &[], None, None);
        };
        let Some(call) = self.calls.get_mut(&handle) else {
            return self.respond_new(now, key, transport, source, &req, 481, &[], None, None);
        };
        // Key presses by INFO count only from the caller's side of the
        // dialog: with the dialog's ids alone anyone could type into an
        // authentication (and a forged CSeq would put the caller's own
        // requests out of order), so the source is checked first.
        if req.method == Method::Info && !call.is_peer(source.ip()) {
            self.stats.requests_forbidden += 1;
            tracing::warn!(
                source = %source.ip(),
                reason = %"info_foreign_source",
                "security: in-dialog INFO refused"
            );
            return self.respond_new(now, key, transport, source, &req, 403, &[], None, None);
        }
        if req.cseq <= call.remote_cseq {
            let reason = "Warning: 399 passgate \"CSeq out of order\"".to_string();
            return self.respond_new(
                now,
                key,
                transport,
                source,
                &req,
                500,
                &[reason],
                None,
                None,
            );
        }
        call.remote_cseq = req.cseq;
        let local_tag = call.dialog.local_tag.clone();
        let tag = Some(local_tag.as_str());
        let call_handle = CallHandle(handle);
        match req.method {
            Method::Bye => {
                self.respond_new(now, key, transport, source, &req, 200, &[], tag, None);
                let was_ending = self
                    .calls
                    .get(&handle)
                    .is_some_and(|c| c.state == CallState::Ending);
                self.forget_call(handle);
                if !was_ending {
                    self.events.push_back(Event::CallEnded {
                        call: call_handle,
                        reason: EndReason::RemoteBye,
                    });
                }
            }
            Method::Invite => self.on_reinvite(now, key, transport, source, handle, req),
            Method::Info => {
                self.respond_new(now, key, transport, source, &req, 200, &[], tag, None);
                let event = match crate::info_dtmf::parse(req.content_type.as_deref(), &req.body) {
                    Some(digit) => Event::InfoDigit {
                        call: call_handle,
                        digit,
                    },
                    None => Event::Info {
                        call: call_handle,
                        content_type: req.content_type.clone(),
                        body: req.body,
                    },
                };
                self.events.push_back(event);
            }
            Method::Notify => {
                let is_refer = req.header("event").is_some_and(|e| {
                    e.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case("refer")
                });
                if !is_refer {
                    return self.respond_new(
                        now,
                        key,
                        transport,
                        source,
                        &req,
                        489,
                        &[],
                        tag,
                        None,
                    );
                }
                self.respond_new(now, key, transport, source, &req, 200, &[], tag, None);
                if let Some(code) = sipfrag_status(&req.body) {
                    let status = if code >= 200 {
                        ReferStatus::Completed(code)
                    } else {
                        ReferStatus::Progress(code)
                    };
                    self.events.push_back(Event::Refer {
                        call: call_handle,
                        status,
                    });
                }
            }
            Method::Options => {
                let headers = self.capability_headers(transport, source.ip());
                self.respond_new(now, key, transport, source, &req, 200, &headers, tag, None)
            }
            // We hand calls on; we do not take transfers from the caller.
            Method::Refer => {
                self.respond_new(now, key, transport, source, &req, 403, &[], tag, None)
            }
            _ => {
                let allow = format!("Allow: {ALLOW}");
                self.respond_new(now, key, transport, source, &req, 405, &[allow], tag, None)
            }
        }
    }

    fn on_reinvite(
        &mut self,
        now: Instant,
        key: TxKey,
        transport: TransportKind,
        source: SocketAddr,
        handle: u64,
        req: Request,
    ) {
        let mut tx = ServerTx::new(Method::Invite, transport, source, Some(handle));
        tx.record_route = req.record_route.clone();
        self.server_txs.insert(key.clone(), tx);
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let tag = call.dialog.local_tag.clone();
        if call.state == CallState::Offered || call.state == CallState::Ending {
            self.respond_tx(now, &key, &req.echo, 491, Some(&tag), &[], None);
            return;
        }
        let local = SocketAddr::new(call.media_ip, call.local_rtp_port);
        let (body, media) = match offer_in(&req) {
            Ok(None) => {
                call.origin.version += 1;
                (sdp::offer(&self.config.media, local, call.origin), None)
            }
            Ok(Some(offer)) => match sdp::negotiate(&offer, &self.config.media) {
                // The call's RTP socket is of one family; hold's 0.0.0.0 is
                // not an address to send to, whatever its family.
                Ok(neg)
                    if !neg.remote_rtp.ip().is_unspecified()
                        && neg.remote_rtp.ip().to_canonical().is_ipv4()
                            != call.media_ip.is_ipv4() =>
                {
                    let warning =
                        "Warning: 301 passgate \"the media cannot change address family\""
                            .to_string();
                    self.respond_tx(now, &key, &req.echo, 488, Some(&tag), &[warning], None);
                    return;
                }
                Ok(neg) => {
                    call.origin.version += 1;
                    (sdp::answer(&neg, local, call.origin), Some(neg))
                }
                Err(err) => {
                    let warning = format!("Warning: 304 passgate \"{err}\"");
                    self.respond_tx(
                        now,
                        &key,
                        &req.echo,
                        err.status(),
                        Some(&tag),
                        &[warning],
                        None,
                    );
                    return;
                }
            },
            Err(code) => {
                self.respond_tx(now, &key, &req.echo, code, Some(&tag), &[], None);
                return;
            }
        };
        call.awaiting_answer_in_ack = media.is_none();
        if let Some(neg) = &media {
            call.media = Some(neg.clone());
        }
        // A re-INVITE is a target refresh (RFC 3261 §12.2.2): our BYE and
        // REFER go to its Contact from now on. Taken only when we accept it,
        // so a refused re-INVITE leaves the dialog as it was.
        if let Some(contact) = &req.contact {
            call.remote_target = contact.clone();
        }
        let headers = self.answer_headers(transport, source.ip());
        let payload = self.respond_tx(
            now,
            &key,
            &req.echo,
            200,
            Some(&tag),
            &headers,
            Some(body.as_bytes()),
        );
        self.track_2xx(now, handle, req.cseq, payload);
        if let Some(media) = media {
            self.events.push_back(Event::MediaUpdated {
                call: CallHandle(handle),
                media,
            });
        }
    }

    /// Counts and logs a wrong Digest answer: one line for fail2ban, the
    /// user name quoted and escaped (it comes from anyone).
    fn auth_failed(
        &mut self,
        now: Instant,
        source: IpAddr,
        user: Option<&str>,
        err: &crate::digest::DigestError,
    ) {
        use crate::digest::DigestError as E;
        let reason = match err {
            E::Missing => return,
            // What an honest client answering an old challenge sends: it is
            // challenged again, and this counts toward no lock.
            E::StaleNonce => {
                self.stats.auth_stale_nonce += 1;
                tracing::info!(%source, user = ?user.unwrap_or(""), "digest nonce stale or not ours; challenging again");
                return;
            }
            E::WrongResponse => {
                self.stats.auth_wrong_password += 1;
                "wrong_password"
            }
            E::UnknownUser => {
                self.stats.auth_unknown_user += 1;
                "unknown_user"
            }
            E::Incomplete(_) => {
                self.stats.auth_malformed += 1;
                "malformed"
            }
            E::UriMismatch => {
                self.stats.auth_uri_mismatch += 1;
                "uri_mismatch"
            }
            E::Replayed => {
                self.stats.auth_replayed += 1;
                "replayed"
            }
        };
        let realm = self.config.digest.as_ref().map_or("", |d| d.realm());
        tracing::warn!(
            %source,
            user = ?user.unwrap_or(""),
            realm = ?realm,
            reason = %reason,
            "security: digest authentication failed"
        );
        if let Some(locked) = self.auth_throttle.failed(now, source, user) {
            tracing::warn!(
                %source,
                user = ?user.unwrap_or(""),
                realm = ?realm,
                reason = %locked.as_str(),
                cooldown_secs = self.config.auth_limits.cooldown.as_secs(),
                "security: digest authentication locked"
            );
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.config.allow_from.is_empty() || self.config.allow_from.iter().any(|c| c.contains(ip))
    }

    fn on_response(&mut self, now: Instant, resp: Response) {
        let Some(tx) = self.client_txs.get_mut(&resp.branch) else {
            return;
        };
        if tx.method.as_str() != resp.cseq_method || tx.cseq != resp.cseq {
            return;
        }
        if resp.code < 200 {
            // §17.1.2.2: once a provisional arrives, retransmit at T2.
            if tx.retransmit_at.is_some() {
                tx.interval = self.config.timers.t2;
                tx.retransmit_at = Some(now + tx.interval);
                self.timers
                    .schedule(now + tx.interval, TimerKey::Client(resp.branch));
            }
            return;
        }
        if let Some(tx) = self.client_txs.remove(&resp.branch) {
            self.client_final(tx, resp.code);
        }
    }

    fn client_final(&mut self, tx: ClientTx, code: u16) {
        if code == 481 && tx.method != Method::Bye {
            // The peer has no such dialog (RFC 5057 §5.1): it is gone, and
            // with it the call. End it here, without a BYE the peer would
            // only answer 481 again.
            self.dialog_gone(tx.call, tx.method);
            return;
        }
        match tx.method {
            Method::Bye => self.forget_call(tx.call),
            Method::Refer => {
                let status = if (200..300).contains(&code) {
                    ReferStatus::Accepted
                } else {
                    ReferStatus::Rejected(code)
                };
                if let Some(call) = self.calls.get_mut(&tx.call) {
                    if code >= 300 {
                        call.refer_cseq = None;
                    }
                    self.events.push_back(Event::Refer {
                        call: CallHandle(tx.call),
                        status,
                    });
                }
            }
            _ => {}
        }
    }

    // ---- time --------------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                TimerKey::Server(key) => self.server_timer(now, key),
                TimerKey::Client(branch) => self.client_timer(now, branch),
                TimerKey::Call(handle) => self.call_timer(now, handle),
            }
        }
    }

    fn server_timer(&mut self, now: Instant, key: TxKey) {
        let Some(tx) = self.server_txs.get_mut(&key) else {
            return;
        };
        if tx.expires_at.is_some_and(|t| t <= now) {
            self.server_txs.remove(&key);
            return;
        }
        if tx.trying_at.is_some_and(|t| t <= now) {
            self.send_trying(&key);
        }
        let Some(tx) = self.server_txs.get_mut(&key) else {
            return;
        };
        if tx.retransmit_at.is_some_and(|t| t <= now) {
            if let Some(payload) = tx.last_response.clone() {
                self.stats.retransmissions_sent += 1;
                self.transmits.push_back(Transmit {
                    transport: tx.transport,
                    destination: tx.source,
                    payload,
                });
            }
            tx.interval = self.config.timers.backoff(tx.interval);
            tx.retransmit_at = Some(now + tx.interval);
        }
        if let Some(at) = tx.next_deadline() {
            self.timers.schedule(at, TimerKey::Server(key));
        }
    }

    fn client_timer(&mut self, now: Instant, branch: String) {
        let Some(tx) = self.client_txs.get_mut(&branch) else {
            return;
        };
        if tx.expires_at <= now {
            if let Some(tx) = self.client_txs.remove(&branch) {
                tracing::info!(method = %tx.method, "no response to our request (Timer F)");
                self.client_final(tx, 408);
            }
            return;
        }
        if tx.retransmit_at.is_some_and(|t| t <= now) {
            self.stats.retransmissions_sent += 1;
            self.transmits.push_back(Transmit {
                transport: tx.transport,
                destination: tx.destination,
                payload: tx.payload.clone(),
            });
            tx.interval = self.config.timers.backoff(tx.interval);
            tx.retransmit_at = Some(now + tx.interval);
        }
        let at = tx.next_deadline();
        self.timers.schedule(at, TimerKey::Client(branch));
    }

    fn call_timer(&mut self, now: Instant, handle: u64) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let Some(pending) = call.pending_2xx.as_mut() else {
            return;
        };
        if pending.give_up_at <= now {
            call.pending_2xx = None;
            let initial = call.state == CallState::Answered;
            tracing::info!(call_id = %call.dialog.call_id, "no ACK for our 2xx within 64*T1; ending the call");
            call.state = CallState::Confirmed;
            call.bye_after_ack = false;
            self.send_bye(now, handle);
            if initial {
                self.events.push_back(Event::CallEnded {
                    call: CallHandle(handle),
                    reason: EndReason::AckTimeout,
                });
            }
            return;
        }
        if pending.next_at.is_some_and(|t| t <= now) {
            self.stats.retransmissions_sent += 1;
            self.transmits.push_back(Transmit {
                transport: call.transport,
                destination: call.remote,
                payload: pending.payload.clone(),
            });
            pending.interval = self.config.timers.backoff(pending.interval);
            pending.next_at = Some(now + pending.interval);
        }
        let at = pending
            .next_at
            .map_or(pending.give_up_at, |n| n.min(pending.give_up_at));
        self.timers.schedule(at, TimerKey::Call(handle));
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
        let c = self
            .calls
            .get_mut(&call.0)
            .ok_or(CommandError::NoSuchCall)?;
        if c.state != CallState::Offered {
            return Err(CommandError::WrongState("answer"));
        }
        c.local_rtp_port = local_rtp_port;
        let local = SocketAddr::new(c.media_ip, local_rtp_port);
        let body = match &c.media {
            Some(neg) => sdp::answer(neg, local, c.origin),
            None => {
                c.awaiting_answer_in_ack = true;
                sdp::offer(&self.config.media, local, c.origin)
            }
        };
        c.state = CallState::Answered;
        let (key, tag, transport) = (c.invite_tx.clone(), c.dialog.local_tag.clone(), c.transport);
        let peer = c.remote.ip();
        let echo = self
            .invite_echo(&key)
            .ok_or(CommandError::WrongState("answer"))?;
        let headers = self.answer_headers(transport, peer);
        let cseq = self.calls.get(&call.0).map_or(0, |c| c.remote_cseq);
        let payload = self.respond_tx(
            now,
            &key,
            &echo,
            200,
            Some(&tag),
            &headers,
            Some(body.as_bytes()),
        );
        self.track_2xx(now, call.0, cseq, payload);
        Ok(())
    }

    /// Sends 180 Ringing on an offered call (the application answers later).
    pub fn ring(&mut self, now: Instant, call: CallHandle) -> Result<(), CommandError> {
        let c = self.calls.get(&call.0).ok_or(CommandError::NoSuchCall)?;
        if c.state != CallState::Offered {
            return Err(CommandError::WrongState("ring"));
        }
        let (key, tag) = (c.invite_tx.clone(), c.dialog.local_tag.clone());
        let echo = self
            .invite_echo(&key)
            .ok_or(CommandError::WrongState("ring"))?;
        let contact = contact_header(&self.config, &self.host_port(c.remote.ip()), c.transport);
        self.respond_tx(now, &key, &echo, 180, Some(&tag), &[contact], None);
        Ok(())
    }

    /// Rejects an offered call with a final response (4xx–6xx).
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallHandle,
        code: u16,
    ) -> Result<(), CommandError> {
        let c = self.calls.get(&call.0).ok_or(CommandError::NoSuchCall)?;
        if c.state != CallState::Offered {
            return Err(CommandError::WrongState("reject"));
        }
        let (key, tag) = (c.invite_tx.clone(), c.dialog.local_tag.clone());
        let echo = self
            .invite_echo(&key)
            .ok_or(CommandError::WrongState("reject"))?;
        // A 503 says when to come back, as the endpoint's own refusals do.
        let retry: Vec<String> = if code == 503 {
            vec![format!("Retry-After: {}", self.config.retry_after_secs)]
        } else {
            Vec::new()
        };
        self.respond_tx(
            now,
            &key,
            &echo,
            code.clamp(300, 699),
            Some(&tag),
            &retry,
            None,
        );
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
            CallState::Offered => return self.reject(now, call, 480),
            CallState::Answered => c.bye_after_ack = true,
            CallState::Confirmed => self.send_bye(now, call.0),
            CallState::Ending => return Ok(()),
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
        if c.state != CallState::Confirmed {
            return Err(CommandError::WrongState("refer"));
        }
        let referred_by = format!(
            "Referred-By: <sip:{}@{}>",
            self.config.user,
            self.host_port(c.remote.ip())
        );
        let headers = [format!("Refer-To: <{refer_to}>"), referred_by];
        let cseq = self.send_request(now, call.0, Method::Refer, &headers);
        if let Some(c) = self.calls.get_mut(&call.0) {
            c.refer_cseq = cseq;
        }
        Ok(())
    }

    // ---- building and sending ------------------------------------------------

    fn send_bye(&mut self, now: Instant, handle: u64) {
        self.end_with_bye(now, handle, &[]);
    }

    /// Sends BYE with these extra headers (a Reason) and marks the call ending.
    fn end_with_bye(&mut self, now: Instant, handle: u64, headers: &[String]) {
        if let Some(call) = self.calls.get_mut(&handle) {
            call.state = CallState::Ending;
            call.pending_2xx = None;
        }
        if self
            .send_request(now, handle, Method::Bye, headers)
            .is_none()
        {
            self.forget_call(handle);
        }
    }

    /// Sends an in-dialog request; returns its CSeq.
    fn send_request(
        &mut self,
        now: Instant,
        handle: u64,
        method: Method,
        headers: &[String],
    ) -> Option<u32> {
        let branch = format!("z9hG4bK{}", self.random_token(16));
        let peer = self.calls.get(&handle)?.remote.ip();
        let host = self.host_port(peer);
        let call = self.calls.get_mut(&handle)?;
        call.local_cseq += 1;
        let cseq = call.local_cseq;
        // Sent to where the INVITE came from: the nearest proxy of the route
        // set, or the caller when there is none.
        let target = crate::route::in_dialog_target(&call.remote_target, &call.route_set);
        let mut out = String::with_capacity(600);
        let _ = write!(out, "{method} {} SIP/2.0\r\n", target.request_uri);
        let _ = write!(
            out,
            "Via: SIP/2.0/{} {host};branch={branch};rport\r\n",
            call.transport.via_name()
        );
        out.push_str("Max-Forwards: 70\r\n");
        for route in &target.routes {
            let _ = write!(out, "Route: {route}\r\n");
        }
        let _ = write!(
            out,
            "From: {};tag={}\r\n",
            call.local_party, call.dialog.local_tag
        );
        let _ = write!(out, "To: {}\r\n", call.remote_party);
        let _ = write!(out, "Call-ID: {}\r\n", call.dialog.call_id);
        let _ = write!(out, "CSeq: {cseq} {method}\r\n");
        let _ = write!(
            out,
            "{}\r\n",
            contact_header(&self.config, host.as_str(), call.transport)
        );
        for h in headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        if let Some(agent) = &self.config.server_header {
            let _ = write!(out, "User-Agent: {agent}\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        let payload = out.into_bytes();
        let (transport, destination) = (call.transport, call.remote);
        let timers = self.config.timers;
        let retransmit_at = (!transport.reliable()).then_some(now + timers.t1);
        let tx = ClientTx {
            call: handle,
            method,
            cseq,
            payload: payload.clone(),
            transport,
            destination,
            retransmit_at,
            interval: timers.t1,
            expires_at: now + timers.transaction_timeout(),
        };
        self.timers
            .schedule(tx.next_deadline(), TimerKey::Client(branch.clone()));
        self.client_txs.insert(branch, tx);
        self.transmits.push_back(Transmit {
            transport,
            destination,
            payload,
        });
        Some(cseq)
    }

    /// Creates a server transaction for `req` and answers it at once.
    #[allow(clippy::too_many_arguments)]
    fn respond_new(
        &mut self,
        now: Instant,
        key: TxKey,
        transport: TransportKind,
        source: SocketAddr,
        req: &Request,
        code: u16,
        headers: &[String],
        to_tag: Option<&str>,
        body: Option<&[u8]>,
    ) {
        let generated;
        let tag = match to_tag {
            Some(t) => Some(t),
            None => {
                generated = self.new_tag();
                Some(generated.as_str())
            }
        };
        self.server_txs.insert(
            key.clone(),
            ServerTx::new(req.method, transport, source, None),
        );
        self.respond_tx(now, &key, &req.echo, code, tag, headers, body);
    }

    /// An INVITE's 100 Trying, unless a response already went out.
    fn send_trying(&mut self, key: &TxKey) {
        let Some(tx) = self.server_txs.get_mut(key) else {
            return;
        };
        tx.trying_at = None;
        let Some(echo) = tx.echo.clone().filter(|_| tx.last_code == 0) else {
            return;
        };
        let trying = response::build(&ResponseSpec {
            code: 100,
            echo: &echo,
            to_tag: None,
            source: tx.source,
            headers: &[],
            body: None,
            server: self.config.server_header.as_deref(),
        });
        tx.last_response = Some(trying.clone());
        tx.last_code = 100;
        let (transport, source) = (tx.transport, tx.source);
        self.send_response_bytes(transport, source, &echo, trying);
    }

    /// Sends a response on an existing server transaction and moves it along.
    #[allow(clippy::too_many_arguments)]
    fn respond_tx(
        &mut self,
        now: Instant,
        key: &TxKey,
        echo: &EchoHeaders,
        code: u16,
        to_tag: Option<&str>,
        headers: &[String],
        body: Option<&[u8]>,
    ) -> Vec<u8> {
        let generated;
        let to_tag = match to_tag {
            Some(t) => Some(t),
            None if code > 100 => {
                generated = self.new_tag();
                Some(generated.as_str())
            }
            None => None,
        };
        let Some(tx) = self.server_txs.get_mut(key) else {
            return Vec::new();
        };
        // Every 18x and 2xx to an INVITE, initial or re-INVITE, carries the
        // request's Record-Route values in order and unchanged (RFC 3261
        // §12.1.1): the caller builds its route set, and the route of its ACK,
        // from them. Responses to other requests carry none: they create no
        // dialog, and a dialog's route set is fixed when it is made (§12.2),
        // so a Record-Route there would tell the caller nothing.
        let with_record_route;
        let headers = if tx.method == Method::Invite
            && (101..300).contains(&code)
            && !tx.record_route.is_empty()
        {
            with_record_route = tx
                .record_route
                .iter()
                .map(|rr| format!("Record-Route: {rr}"))
                .chain(headers.iter().cloned())
                .collect::<Vec<_>>();
            with_record_route.as_slice()
        } else {
            headers
        };
        let payload = response::build(&ResponseSpec {
            code,
            echo,
            to_tag,
            source: tx.source,
            headers,
            body: body.map(|b| ("application/sdp", b)),
            server: self.config.server_header.as_deref(),
        });
        tx.last_response = Some(payload.clone());
        tx.last_code = code;
        tx.trying_at = None;
        let timers = self.config.timers;
        let reliable = tx.transport.reliable();
        if code >= 200 {
            if tx.method == Method::Invite && code < 300 {
                tx.state = ServerState::Accepted;
                tx.expires_at = Some(now + timers.transaction_timeout());
            } else if tx.method == Method::Invite {
                tx.state = ServerState::Completed;
                if !reliable {
                    tx.interval = timers.t1;
                    tx.retransmit_at = Some(now + timers.t1);
                }
                tx.expires_at = Some(now + timers.transaction_timeout());
            } else {
                tx.state = ServerState::Completed;
                let linger = if reliable {
                    Duration::ZERO
                } else {
                    timers.transaction_timeout()
                };
                tx.expires_at = Some(now + linger);
            }
            if let Some(at) = tx.next_deadline() {
                self.timers.schedule(at, TimerKey::Server(key.clone()));
            }
        }
        let (transport, source) = (tx.transport, tx.source);
        self.send_response_bytes(transport, source, echo, payload.clone());
        payload
    }

    fn track_2xx(&mut self, now: Instant, handle: u64, cseq: u32, payload: Vec<u8>) {
        let timers = self.config.timers;
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let next_at = (!call.transport.reliable()).then_some(now + timers.t1);
        let give_up_at = now + timers.transaction_timeout();
        call.pending_2xx = Some(Pending2xx {
            cseq,
            payload,
            next_at,
            interval: timers.t1,
            give_up_at,
        });
        self.timers
            .schedule(next_at.unwrap_or(give_up_at), TimerKey::Call(handle));
    }

    /// Where a response goes (§18.2.2, RFC 3581): back over the connection for
    /// TCP; over UDP to the source address, and to the source port when the
    /// client asked with `rport` (or named no port), else to its Via port.
    fn send_response_bytes(
        &mut self,
        transport: TransportKind,
        source: SocketAddr,
        echo: &EchoHeaders,
        payload: Vec<u8>,
    ) {
        let destination = match transport {
            TransportKind::Tcp(_) => source,
            TransportKind::Udp => {
                let via = echo.vias.first().map(String::as_str).unwrap_or("");
                match via_port_unless_rport(via) {
                    Some(port) => SocketAddr::new(source.ip(), port),
                    None => source,
                }
            }
        };
        self.transmits.push_back(Transmit {
            transport,
            destination,
            payload,
        });
    }

    fn invite_echo(&self, key: &TxKey) -> Option<EchoHeaders> {
        self.server_txs.get(key)?.echo.clone()
    }

    // No Supported header: we implement no option tags (RFC 3261 §20.37),
    // and an empty one has been read as malformed.
    fn capability_headers(&self, transport: TransportKind, peer: IpAddr) -> Vec<String> {
        vec![
            format!("Allow: {ALLOW}"),
            format!("Accept: {ACCEPT}"),
            "Accept-Language: en".to_string(),
            contact_header(&self.config, &self.host_port(peer), transport),
        ]
    }

    fn answer_headers(&self, transport: TransportKind, peer: IpAddr) -> Vec<String> {
        vec![
            contact_header(&self.config, &self.host_port(peer), transport),
            format!("Allow: {ALLOW}"),
        ]
    }

    fn find_dialog(&self, req: &Request) -> Option<u64> {
        let key = DialogKey {
            call_id: req.echo.call_id.clone(),
            local_tag: req.to_tag.clone()?,
            remote_tag: req.from_tag.clone(),
        };
        self.dialogs.get(&key).copied()
    }

    /// The peer answered 481 to a request in the call's dialog.
    fn dialog_gone(&mut self, handle: u64, method: Method) {
        let Some(call) = self.calls.remove(&handle) else {
            return;
        };
        tracing::info!(call_id = %call.dialog.call_id, method = method.as_str(), "481 to our request: the dialog is gone");
        self.dialogs.remove(&call.dialog);
        if call.state != CallState::Ending {
            self.events.push_back(Event::CallEnded {
                call: CallHandle(handle),
                reason: EndReason::DialogGone,
            });
        }
    }

    /// Drops the call unless a BYE of ours is still waiting for its response.
    fn forget_call(&mut self, handle: u64) {
        let bye_pending = self
            .client_txs
            .values()
            .any(|tx| tx.call == handle && tx.method == Method::Bye);
        if bye_pending {
            return;
        }
        if let Some(call) = self.calls.remove(&handle) {
            self.dialogs.remove(&call.dialog);
        }
    }

    /// Our host:port in Via and Contact for a peer at `peer`: in its family
    /// when we have an address of it.
    fn host_port(&self, peer: IpAddr) -> String {
        match self
            .config
            .local_ip_for(peer)
            .unwrap_or(self.config.public_ip)
        {
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.config.public_port),
            IpAddr::V4(ip) => format!("{ip}:{}", self.config.public_port),
        }
    }

    fn new_tag(&mut self) -> String {
        self.random_token(10)
    }

    fn random_token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }
}

fn contact_header(config: &EndpointConfig, host: &str, transport: TransportKind) -> String {
    match transport {
        TransportKind::Udp => format!("Contact: <sip:{}@{host}>", config.user),
        TransportKind::Tcp(_) => format!("Contact: <sip:{}@{host};transport=tcp>", config.user),
    }
}

/// The offer in a request body: Ok(None) without a body, Err(415) for a body
/// that is neither SDP nor a multipart with an SDP part (other parts, such as
/// SIP-I's ISUP, are ignored), Err(400) for SDP or a multipart that does not
/// parse.
fn offer_in(req: &Request) -> Result<Option<sdp::SessionDescription>, u16> {
    if req.body.is_empty() {
        return Ok(None);
    }
    let content_type = req.content_type.as_deref().unwrap_or("application/sdp");
    let sdp_body = if multipart::is_multipart(content_type) {
        match multipart::sdp_part(content_type, &req.body) {
            Ok(Some(part)) => part,
            Ok(None) | Err(multipart::MultipartError::RequiredPart(_)) => return Err(415),
            Err(multipart::MultipartError::Malformed) => return Err(400),
        }
    } else if content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/sdp")
    {
        &req.body
    } else {
        return Err(415);
    };
    let text = std::str::from_utf8(sdp_body).map_err(|_| 400u16)?;
    sdp::parse(text).map(Some).map_err(|e| e.status())
}

/// Every occurrence of a header, comma-joined (RFC 3261 §7.3.1): identity
/// headers come one per entry (a sip: and a tel: P-Asserted-Identity, a
/// Remote-Party-ID per party).
pub(crate) fn all_values(req: &Request, name: &str) -> Option<String> {
    let mut values = req
        .extra
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str());
    let first = values.next()?;
    Some(values.fold(first.to_string(), |mut all, v| {
        all.push_str(", ");
        all.push_str(v);
        all
    }))
}

/// A datagram of line ends and blanks only: a keep-alive, not a message.
fn is_keepalive(data: &[u8]) -> bool {
    !data.is_empty()
        && data
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
}

/// Whether the request's Accept headers (if any) admit `application/sdp`.
fn accepts_sdp(req: &Request) -> bool {
    let mut accepts = req
        .extra
        .iter()
        .filter(|(name, _)| name == "accept")
        .peekable();
    if accepts.peek().is_none() {
        return true;
    }
    accepts.any(|(_, value)| {
        value.split(',').any(|range| {
            let range = range.split(';').next().unwrap_or("").trim();
            ["application/sdp", "application/*", "*/*"]
                .iter()
                .any(|ok| ok.eq_ignore_ascii_case(range))
        })
    })
}

/// The status code in a `message/sipfrag` body ("SIP/2.0 200 OK").
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    line.strip_prefix("SIP/2.0 ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The Via port to answer to over UDP, or None to answer to the source port
/// (`rport` present, §4 of RFC 3581).
fn via_port_unless_rport(via: &str) -> Option<u16> {
    let mut parts = via.split(';');
    let sent_by = parts.next()?.split_whitespace().nth(1)?;
    if parts.any(|p| {
        p.trim().eq_ignore_ascii_case("rport")
            || p.trim().to_ascii_lowercase().starts_with("rport=")
    }) {
        return None;
    }
    let port = match sent_by.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || sent_by.starts_with('[') => port.parse().ok(),
        _ => None,
    };
    Some(port.unwrap_or(5060))
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
