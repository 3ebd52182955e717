//! What the endpoint sends: responses on server transactions, requests in a
//! dialog on client transactions, and the headers that say who we are.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::Rng;

use crate::config::EndpointConfig;
use crate::dialog::{DialogState, OutRequest};
use crate::message::{EchoHeaders, Method, Request};
use crate::response::{self, Reply, ResponseSpec};
use crate::transaction::{ClientTx, ServerTx, TxKey};
use crate::transport::{response_destination, Transmit, TransportKind};

use crate::session_timer::SessionTimer;

use super::{Endpoint, Inbound, TimerKey, ACCEPT, ALLOW, SUPPORTED};

impl Endpoint {
    pub(super) fn send_bye(&mut self, now: Instant, handle: u64) {
        self.end_with_bye(now, handle, &[]);
    }

    /// Sends BYE with these extra headers (a Reason) and marks the call ending.
    pub(super) fn end_with_bye(&mut self, now: Instant, handle: u64, headers: &[String]) {
        if let Some(call) = self.calls.get_mut(&handle) {
            call.state = DialogState::Ending;
            call.pending_2xx = None;
        }
        if self
            .send_request(now, handle, Method::Bye, headers)
            .is_none()
        {
            self.forget_call(handle);
        }
    }

    /// Sends a request in the call's dialog, in a new client transaction;
    /// returns its CSeq.
    pub(super) fn send_request(
        &mut self,
        now: Instant,
        handle: u64,
        method: Method,
        headers: &[String],
    ) -> Option<u32> {
        self.send_request_with_sdp(now, handle, method, headers, None)
    }

    /// [`Endpoint::send_request`] with an SDP body.
    pub(super) fn send_request_with_sdp(
        &mut self,
        now: Instant,
        handle: u64,
        method: Method,
        headers: &[String],
        sdp: Option<&str>,
    ) -> Option<u32> {
        let branch = format!("z9hG4bK{}", self.random_token(16));
        let call = self.calls.get(&handle)?;
        let host = self.host_port(call.remote.ip(), call.transport);
        let contact = contact_header(&self.config, &host, call.transport, call.sips);
        let call = self.calls.get_mut(&handle)?;
        let (cseq, transmit) = call.request(&OutRequest {
            method,
            branch: &branch,
            host: &host,
            contact: &contact,
            headers,
            user_agent: self.config.server_header.as_deref(),
            sdp,
        });
        let tx = ClientTx::new(
            now,
            &self.config.timers,
            (handle, method, cseq),
            transmit.transport,
            transmit.destination,
            transmit.payload.clone(),
        );
        self.timers
            .schedule(tx.next_deadline(), TimerKey::Client(branch.clone()));
        self.client_txs.insert(branch, tx);
        self.transmits.push_back(transmit);
        Some(cseq)
    }

    /// Sends the ACK for the final response to our re-INVITE with `cseq`
    /// (`branch`: the INVITE's for a non-2xx, None for a 2xx, which takes a
    /// new one), and keeps it to send again for each retransmission of
    /// that response.
    pub(super) fn send_reinvite_ack(&mut self, handle: u64, cseq: u32, branch: Option<String>) {
        let branch = branch.unwrap_or_else(|| format!("z9hG4bK{}", self.random_token(16)));
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let host = self.host_port(call.remote.ip(), call.transport);
        let contact = contact_header(&self.config, &host, call.transport, call.sips);
        let ack = call.ack(
            cseq,
            &OutRequest {
                method: Method::Ack,
                branch: &branch,
                host: &host,
                contact: &contact,
                headers: &[],
                user_agent: self.config.server_header.as_deref(),
                sdp: None,
            },
        );
        if let Some(call) = self.calls.get_mut(&handle) {
            call.reinvite_ack = Some((cseq, ack.clone()));
        }
        self.transmits.push_back(ack);
    }

    /// Creates a server transaction for a request and answers it at once.
    pub(super) fn respond_new(
        &mut self,
        now: Instant,
        at: &Inbound,
        req: &Request,
        reply: Reply<'_>,
    ) {
        self.server_txs.insert(
            at.key.clone(),
            ServerTx::new(req.method, at.transport, at.source),
        );
        self.respond_tx(now, &at.key, &req.echo, reply);
    }

    /// An INVITE's 100 Trying, unless a response already went out.
    pub(super) fn send_trying(&mut self, now: Instant, key: &TxKey) {
        let Some(tx) = self.server_txs.get_mut(key) else {
            return;
        };
        let Some(echo) = tx.trying_echo() else {
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
        let _ = tx.sent(now, 100, trying.clone(), &self.config.timers);
        let (transport, source) = (tx.transport, tx.source);
        self.send_response_bytes(transport, source, &echo, trying);
    }

    /// Sends a response on an existing server transaction and moves it
    /// along; returns the response as sent.
    pub(super) fn respond_tx(
        &mut self,
        now: Instant,
        key: &TxKey,
        echo: &EchoHeaders,
        reply: Reply<'_>,
    ) -> Vec<u8> {
        let generated;
        let to_tag = match reply.to_tag {
            Some(t) => Some(t),
            None if reply.code > 100 => {
                generated = self.new_tag();
                Some(generated.as_str())
            }
            None => None,
        };
        let Some(tx) = self.server_txs.get_mut(key) else {
            return Vec::new();
        };
        let headers: Vec<String> = tx
            .record_route_for(reply.code)
            .chain(reply.headers)
            .collect();
        let payload = response::build(&ResponseSpec {
            code: reply.code,
            echo,
            to_tag,
            source: tx.source,
            headers: &headers,
            body: reply.body.map(|b| ("application/sdp", b)),
            server: self.config.server_header.as_deref(),
        });
        if let Some(at) = tx.sent(now, reply.code, payload.clone(), &self.config.timers) {
            self.timers.schedule(at, TimerKey::Server(key.clone()));
        }
        let (transport, source) = (tx.transport, tx.source);
        self.send_response_bytes(transport, source, echo, payload.clone());
        payload
    }

    pub(super) fn track_2xx(&mut self, now: Instant, handle: u64, cseq: u32, payload: Vec<u8>) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let at = call.track_2xx(now, &self.config.timers, cseq, payload);
        self.timers.schedule(at, TimerKey::Call(handle));
    }

    pub(super) fn send_response_bytes(
        &mut self,
        transport: TransportKind,
        source: SocketAddr,
        echo: &EchoHeaders,
        payload: Vec<u8>,
    ) {
        self.transmits.push_back(Transmit {
            transport,
            destination: response_destination(transport, source, echo),
            payload,
            reconnect: None,
        });
    }

    pub(super) fn invite_echo(&self, key: &TxKey) -> Option<EchoHeaders> {
        self.server_txs.get(key)?.echo.clone()
    }

    pub(super) fn retry_after(&self) -> String {
        format!("Retry-After: {}", self.config.retry_after_secs)
    }

    pub(super) fn capability_headers(&self, transport: TransportKind, peer: IpAddr) -> Vec<String> {
        vec![
            format!("Allow: {ALLOW}"),
            format!("Accept: {ACCEPT}"),
            format!("Supported: {SUPPORTED}"),
            "Accept-Language: en".to_string(),
            self.contact(peer, transport, false),
        ]
    }

    /// Our Contact header line for a peer at `peer` over `transport`; a
    /// `sips:` URI when the dialog asks for one.
    pub(super) fn contact(&self, peer: IpAddr, transport: TransportKind, sips: bool) -> String {
        contact_header(
            &self.config,
            &self.host_port(peer, transport),
            transport,
            sips,
        )
    }

    /// The header lines of our 2xx to an INVITE or re-INVITE, with the
    /// session timer it agrees to.
    pub(super) fn answer_headers(
        &self,
        transport: TransportKind,
        peer: IpAddr,
        sips: bool,
        session_timer: Option<SessionTimer>,
    ) -> Vec<String> {
        let mut headers = vec![
            self.contact(peer, transport, sips),
            format!("Allow: {ALLOW}"),
            format!("Supported: {SUPPORTED}"),
        ];
        if let Some(timer) = session_timer {
            headers.extend(timer.response_headers());
        }
        headers
    }

    /// Drops the call unless a BYE of ours is still waiting for its
    /// response, or our re-INVITE is, whose final response must still be
    /// ACKed with the dialog's route (RFC 3261 §17.1.1.3, §13.2.2.4): the
    /// call is then kept as ending, with no session timer, until it is.
    pub(super) fn forget_call(&mut self, handle: u64) {
        let bye_pending = self
            .client_txs
            .values()
            .any(|tx| tx.call == handle && tx.method == Method::Bye);
        if bye_pending {
            return;
        }
        if let Some(call) = self.calls.get_mut(&handle) {
            if call.reinvite_cseq.is_some() {
                call.state = DialogState::Ending;
                call.session_timer = None;
                call.session_ends_at = None;
                self.move_session_deadline(handle, None);
                return;
            }
        }
        if let Some(call) = self.calls.remove(&handle) {
            self.dialogs.remove(&call.key);
            if let Some(at) = call.session_due_at {
                self.session_deadlines.remove(&(at, handle));
            }
        }
    }

    /// Our host:port in Via and Contact for a peer at `peer`: in its family
    /// when we have an address of it, on the TLS (WebSocket) listener's port over TLS (WebSocket).
    pub(super) fn host_port(&self, peer: IpAddr, transport: TransportKind) -> String {
        let port = match transport {
            TransportKind::Tls(_) => self.config.tls_port.unwrap_or(self.config.public_port),
            TransportKind::Ws(_) => self.config.ws_port.unwrap_or(self.config.public_port),
            _ => self.config.public_port,
        };
        match self
            .config
            .local_ip_for(peer)
            .unwrap_or(self.config.public_ip)
        {
            IpAddr::V6(ip) => format!("[{ip}]:{port}"),
            IpAddr::V4(ip) => format!("{ip}:{port}"),
        }
    }

    pub(super) fn new_tag(&mut self) -> String {
        self.random_token(10)
    }

    pub(super) fn random_token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }
}

/// A `sips:` Contact carries no `transport` parameter: the scheme already
/// asks for TLS, and RFC 5630 §3.2 deprecates `transport=tls`. A `sip:`
/// Contact over TLS keeps it, so that the peer reaches us over TLS again.
fn contact_header(
    config: &EndpointConfig,
    host: &str,
    transport: TransportKind,
    sips: bool,
) -> String {
    if sips {
        return format!("Contact: <sips:{}@{host}>", config.user);
    }
    format!(
        "Contact: <sip:{}@{host}{}>",
        config.user,
        transport.uri_param()
    )
}
