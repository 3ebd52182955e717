//! The tokio side of the user agent: one UDP socket and one TCP listener on
//! the same address, optionally a TLS listener, the clock, and
//! channels to the application. All protocol decisions are the
//! [`Endpoint`]'s; this task only moves bytes and time.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::call_events::{CallRouter, Routed};
pub use crate::call_events::{NewCall, CALL_EVENT_DEPTH};
use crate::endpoint::{CallHandle, Endpoint, EndpointConfig, Stats, TransportKind};
pub use crate::stream_conn::TcpStats;
use crate::stream_conn::{canonical, connection, outbox, Listening, TcpCounters, TcpInput};
use crate::tcp_admission::{TcpAdmission, TcpLimits};

/// The kernel's default (208 KB) drops INVITEs from a few thousand calls/s.
const UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;
/// Datagrams read per wake-up before looking at timers and commands again.
const UDP_BATCH: usize = 64;
const CHANNEL_DEPTH: usize = 4096;

#[derive(Debug)]
pub enum Command {
    Ring {
        call: CallHandle,
    },
    Answer {
        call: CallHandle,
        rtp_port: u16,
        /// The answer's SDP when the application writes it (WebRTC).
        sdp: Option<String>,
    },
    Reject {
        call: CallHandle,
        code: u16,
    },
    Hangup {
        call: CallHandle,
    },
    Refer {
        call: CallHandle,
        refer_to: String,
    },
    /// Stop taking new calls (503); calls in progress go on.
    Drain,
    /// Whether new calls are welcome: OPTIONS answer 503 when not.
    SetReady(bool),
    Stats(oneshot::Sender<DriverStats>),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DriverStats {
    pub endpoint: Stats,
    pub active_calls: usize,
    pub transactions: usize,
    pub tcp_connections: usize,
    pub tcp: TcpStats,
    pub calls: CallChannelStats,
}

/// Calls the driver ended or refused because the application did not take
/// their events: SIP never waits for a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallChannelStats {
    /// Calls whose channel was full ([`CALL_EVENT_DEPTH`] events waiting):
    /// ended with BYE (or 500) and their channel closed.
    pub stalled: u64,
    /// New calls refused with 503 while the application had not taken the
    /// ones before (its channel of new calls full).
    pub refused_backlog: u64,
}

/// Sends the application's decisions to the driver. Cheap to clone.
#[derive(Clone)]
pub struct SipHandle {
    commands: mpsc::Sender<Command>,
}

impl SipHandle {
    async fn send(&self, cmd: Command) {
        if self.commands.send(cmd).await.is_err() {
            tracing::debug!("SIP driver has stopped; command dropped");
        }
    }

    pub async fn ring(&self, call: CallHandle) {
        self.send(Command::Ring { call }).await
    }

    pub async fn answer(&self, call: CallHandle, rtp_port: u16) {
        self.send(Command::Answer {
            call,
            rtp_port,
            sdp: None,
        })
        .await
    }

    /// Answers with SDP the application wrote (a WebRTC stack's answer).
    pub async fn answer_with_sdp(&self, call: CallHandle, rtp_port: u16, sdp: String) {
        self.send(Command::Answer {
            call,
            rtp_port,
            sdp: Some(sdp),
        })
        .await
    }

    pub async fn reject(&self, call: CallHandle, code: u16) {
        self.send(Command::Reject { call, code }).await
    }

    pub async fn hangup(&self, call: CallHandle) {
        self.send(Command::Hangup { call }).await
    }

    pub async fn refer(&self, call: CallHandle, refer_to: String) {
        self.send(Command::Refer { call, refer_to }).await
    }

    pub async fn drain(&self) {
        self.send(Command::Drain).await
    }

    pub async fn set_ready(&self, ready: bool) {
        self.send(Command::SetReady(ready)).await
    }

    pub async fn stats(&self) -> Option<DriverStats> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Stats(tx)).await;
        rx.await.ok()
    }
}

pub struct SipServer {
    pub handle: SipHandle,
    /// New calls, each with the channel of its own events.
    pub calls: mpsc::Receiver<NewCall>,
    pub local_addr: SocketAddr,
    /// Where the TLS listener took connections, when there is one.
    pub tls_addr: Option<SocketAddr>,
    /// Where the WebSocket listener takes connections, when there is one.
    pub ws_addr: Option<SocketAddr>,
}

/// The TLS listener: its address (port 0 picks one) and its certificates.
pub struct TlsListen {
    pub listen: SocketAddr,
    pub config: Arc<crate::tls::TlsConfigStore>,
}

/// The WebSocket listener (RFC 7118): its address (port 0 picks one) and
/// the token a connection off loopback must carry ([`crate::ws`]).
pub struct WsListen {
    pub listen: SocketAddr,
    pub token: Option<String>,
}

/// Binds UDP and TCP on `listen` (port 0 picks one free for both) and starts
/// the driver task, with the default TCP limits.
pub async fn start(listen: SocketAddr, config: EndpointConfig) -> io::Result<SipServer> {
    start_with_limits(listen, config, TcpLimits::default()).await
}

/// [`start`] with the given TCP limits (sources outside the endpoint's
/// `allow_from` are refused TCP connections too).
pub async fn start_with_limits(
    listen: SocketAddr,
    config: EndpointConfig,
    limits: TcpLimits,
) -> io::Result<SipServer> {
    start_with_tls(listen, config, limits, None).await
}

/// [`start_with_limits`] with a TLS listener beside UDP and TCP, under the
/// same connection limits (counted together with TCP).
pub async fn start_with_tls(
    listen: SocketAddr,
    config: EndpointConfig,
    limits: TcpLimits,
    tls: Option<TlsListen>,
) -> io::Result<SipServer> {
    start_with_listeners(listen, config, limits, tls, None).await
}

/// [`start_with_tls`] with a WebSocket listener too, under the same
/// connection limits (counted together with TCP and TLS).
pub async fn start_with_listeners(
    listen: SocketAddr,
    config: EndpointConfig,
    limits: TcpLimits,
    tls: Option<TlsListen>,
    ws: Option<WsListen>,
) -> io::Result<SipServer> {
    let (udp, tcp) = bind_both(listen)?;
    let local_addr = udp.local_addr()?;
    let mut config = config;
    if config.public_port == 0 {
        config.public_port = local_addr.port();
    }
    let tls = match tls {
        Some(t) => {
            let listener = TcpListener::bind(t.listen).await?;
            let addr = listener.local_addr()?;
            if config.tls_port.is_none_or(|p| p == 0) {
                config.tls_port = Some(addr.port());
            }
            Some((listener, t.config, addr))
        }
        None => None,
    };
    let tls_addr = tls.as_ref().map(|t| t.2);
    let ws = match ws {
        Some(w) => {
            let listener = TcpListener::bind(w.listen).await?;
            let addr = listener.local_addr()?;
            config.ws_port.get_or_insert(addr.port());
            let token: Option<Arc<str>> = w.token.filter(|t| !t.is_empty()).map(Arc::from);
            Some((listener, token, addr))
        }
        None => None,
    };
    let ws_addr = ws.as_ref().map(|w| w.2);
    let (cmd_tx, cmd_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (calls_tx, calls_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (tcp_tx, tcp_rx) = mpsc::channel(CHANNEL_DEPTH);
    let admission = Arc::new(Mutex::new(TcpAdmission::new(
        limits,
        config.allow_from.clone(),
    )));
    let counters = Arc::new(TcpCounters::default());
    let ids = Arc::new(AtomicU64::new(1));
    let listening = Listening {
        to_endpoint: tcp_tx,
        admission,
        counters: counters.clone(),
        ids,
    };
    let mut dialer = None;
    if let Some((listener, store, _)) = tls {
        dialer = Some(crate::tls_dial::Dialer {
            store: store.clone(),
            listening: listening.clone(),
        });
        tokio::spawn(crate::tls_accept::tls_accept_loop(
            listener,
            store,
            listening.clone(),
        ));
    }
    if let Some((listener, token, _)) = ws {
        tokio::spawn(crate::ws_driver::accept_loop(
            listener,
            token,
            listening.clone(),
        ));
    }
    tokio::spawn(accept_loop(tcp, listening));
    let endpoint = Endpoint::new(config, rand::random());
    let router = CallRouter::new(calls_tx, CALL_EVENT_DEPTH);
    let streams = Streams {
        input: tcp_rx,
        counters,
        dialer,
    };
    tokio::spawn(run(endpoint, udp, cmd_rx, router, streams));
    Ok(SipServer {
        handle: SipHandle { commands: cmd_tx },
        calls: calls_rx,
        local_addr,
        tls_addr,
        ws_addr,
    })
}

fn bind_both(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    // With port 0, retry until a port is free for both protocols.
    for _ in 0..20 {
        let udp = Socket::new(
            Domain::for_address(listen),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if listen.is_ipv6() {
            // `[::]` takes IPv4 callers too (as IPv4-mapped addresses).
            udp.set_only_v6(false)?;
        }
        if let Err(e) = udp.set_recv_buffer_size(UDP_RECV_BUFFER) {
            tracing::warn!(error = %e, "could not enlarge the UDP receive buffer");
        }
        udp.set_nonblocking(true)?;
        udp.bind(&listen.into())?;
        let bound = udp.local_addr()?.as_socket().unwrap_or(listen);
        let tcp = Socket::new(
            Domain::for_address(listen),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if listen.is_ipv6() {
            tcp.set_only_v6(false)?;
        }
        tcp.set_reuse_address(true)?;
        tcp.set_nonblocking(true)?;
        match tcp.bind(&bound.into()) {
            Ok(()) => {
                tcp.listen(1024)?;
                let udp = UdpSocket::from_std(udp.into())?;
                let tcp = TcpListener::from_std(tcp.into())?;
                return Ok((udp, tcp));
            }
            Err(e) if listen.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no port free for both UDP and TCP",
    ))
}

/// The stream transports as the driver task sees them: what their
/// connections report, their counters, and how it opens a TLS connection.
struct Streams {
    input: mpsc::Receiver<TcpInput>,
    counters: Arc<TcpCounters>,
    dialer: Option<crate::tls_dial::Dialer>,
}

async fn run(
    mut ep: Endpoint,
    udp: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    mut router: CallRouter,
    streams: Streams,
) {
    let Streams {
        input: mut tcp_in,
        counters: tcp_counters,
        dialer,
    } = streams;
    let mut connections: HashMap<u64, (SocketAddr, mpsc::Sender<Vec<u8>>)> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let udp_v6 = udp.local_addr().is_ok_and(|a| a.is_ipv6());
    let mut call_stats = CallChannelStats::default();
    loop {
        while let Some(t) = ep.poll_transmit() {
            match t.transport {
                TransportKind::Udp => {
                    let destination = on_socket(t.destination, udp_v6);
                    if let Err(e) = udp.send_to(&t.payload, destination).await {
                        tracing::warn!(destination = %t.destination, error = %e, "UDP send failed");
                    }
                }
                TransportKind::Tcp(id) | TransportKind::Tls(id) | TransportKind::Ws(id) => {
                    let open = connections
                        .get(&id)
                        .filter(|(_, w)| !w.is_closed())
                        .map(|(_, w)| w.clone());
                    match (open, &t.reconnect, &dialer) {
                        (Some(writer), _, _) => {
                            if writer.try_send(t.payload).is_err() {
                                tracing::warn!(
                                    connection = id,
                                    "TCP connection backed up; message dropped"
                                );
                            }
                        }
                        // The caller's TLS connection has closed: a new one
                        // to the dialog's next hop, which later messages for
                        // the old one take too.
                        (None, Some(hop), Some(dialer)) => {
                            tracing::info!(connection = id, host = %hop.host, port = hop.port, "TLS connection gone; opening one to the dialog's peer");
                            let writer = dialer.dial(hop.clone());
                            let _ = writer.try_send(t.payload);
                            connections.insert(id, (t.destination, writer));
                        }
                        (None, _, _) => {
                            tracing::debug!(connection = id, "TCP connection gone; message dropped")
                        }
                    }
                }
            }
        }
        // Never awaited: a call that does not take its events is ended,
        // and a new call the application has no room for refused.
        let mut acted = false;
        while let Some(ev) = ep.poll_event() {
            let (call, result) = match router.route(ev) {
                Routed::Done => continue,
                Routed::AppGone => return,
                Routed::Refused(call) => {
                    call_stats.refused_backlog += 1;
                    tracing::warn!(
                        call = call.0,
                        "the application has not taken the calls before; refusing a new one"
                    );
                    (call, ep.reject(Instant::now(), call, 503))
                }
                Routed::Stalled(call) => {
                    call_stats.stalled += 1;
                    tracing::warn!(
                        call = call.0,
                        call_id = ep.call_id(call).unwrap_or(""),
                        "call not taking its events; ending it"
                    );
                    (call, ep.end_stalled(Instant::now(), call))
                }
            };
            if let Err(e) = result {
                tracing::debug!(call = call.0, error = %e, "call already ending");
            }
            acted = true;
        }
        if acted {
            // What ending those calls sent is still to go out.
            continue;
        }
        let sleep_until = ep
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            received = udp.recv_from(&mut buf) => {
                let now = Instant::now();
                match received {
                    Ok((n, source)) => {
                        ep.handle_input(now, TransportKind::Udp, canonical(source), &buf[..n]);
                        for _ in 1..UDP_BATCH {
                            match udp.try_recv_from(&mut buf) {
                                Ok((n, source)) => ep.handle_input(now, TransportKind::Udp, canonical(source), &buf[..n]),
                                Err(_) => break,
                            }
                        }
                    }
                    // ICMP port unreachable from an earlier send shows up here on Linux.
                    Err(e) => tracing::debug!(error = %e, "UDP receive error"),
                }
                ep.handle_timeout(now);
            }
            Some(input) = tcp_in.recv() => {
                let now = Instant::now();
                match input {
                    TcpInput::Opened { id, peer, writer } => { connections.insert(id, (canonical(peer), writer)); }
                    TcpInput::Message { transport, peer, data } => ep.handle_input(now, transport, canonical(peer), &data),
                    // Its entries go: under its own id and the ids of closed
                    // connections it stood in for. An id already moved to a
                    // connection we opened in its place keeps that one.
                    TcpInput::Closed { writer } => connections.retain(|_, (_, w)| !w.same_channel(&writer)),
                    TcpInput::Idle { id, may_close } => { let _ = may_close.send(!ep.uses_connection(id)); }
                }
            }
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                let now = Instant::now();
                let result = match cmd {
                    Command::Ring { call } => ep.ring(now, call),
                    Command::Answer { call, rtp_port, sdp } => ep.answer_with_sdp(now, call, rtp_port, sdp),
                    Command::Reject { call, code } => ep.reject(now, call, code),
                    Command::Hangup { call } => ep.hangup(now, call),
                    Command::Refer { call, refer_to } => ep.refer(now, call, &refer_to),
                    Command::Drain => {
                        ep.set_draining(true);
                        Ok(())
                    }
                    Command::SetReady(ready) => {
                        ep.set_ready(ready);
                        Ok(())
                    }
                    Command::Stats(reply) => {
                        let _ = reply.send(DriverStats {
                            endpoint: ep.stats(),
                            active_calls: ep.active_calls(),
                            transactions: ep.transactions(),
                            tcp_connections: connections.len(),
                            tcp: tcp_counters.snapshot(),
                            calls: call_stats,
                        });
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "command not applied");
                }
            }
            _ = tokio::time::sleep_until(sleep_until.into()) => ep.handle_timeout(Instant::now()),
        }
    }
}

/// `to` as the socket takes it: IPv4 as IPv4-mapped on an IPv6 socket.
fn on_socket(to: SocketAddr, socket_v6: bool) -> SocketAddr {
    match to {
        SocketAddr::V4(v4) if socket_v6 => {
            SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        other => other,
    }
}

/// Accepts TCP connections until the endpoint goes away.
async fn accept_loop(listener: TcpListener, listening: Listening) {
    loop {
        let accepted = listening.admit_next(&listener, "TCP").await;
        tokio::spawn(connection(
            TransportKind::Tcp(accepted.id),
            accepted.stream,
            accepted.peer,
            accepted.link,
            outbox(),
        ));
    }
}
