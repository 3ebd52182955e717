//! The tokio side of the user agent: one UDP socket and one TCP listener on
//! the same address, optionally a TLS listener, the clock, and
//! channels to the application. All protocol decisions are the
//! [`Endpoint`]'s; this task only moves bytes and time.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

mod tls_accept;
mod tls_dial;

use crate::call_events::{CallRouter, Routed};
pub use crate::call_events::{NewCall, CALL_EVENT_DEPTH};
use crate::endpoint::{CallHandle, Endpoint, EndpointConfig, Stats, TransportKind};
use crate::framing::{Frame, StreamFramer};
use crate::tcp_admission::{TcpAdmission, TcpLimits, TcpRefusal};

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

/// What the TCP transport refused and closed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpStats {
    pub refused_forbidden: u64,
    pub refused_per_source: u64,
    pub refused_total: u64,
    pub closed_idle: u64,
    pub closed_message_timeout: u64,
    pub closed_framing: u64,
    /// TLS connections closed before or during the handshake (a bad or
    /// refused client certificate, a stalled or non-TLS client).
    pub tls_handshake_failed: u64,
}

#[derive(Default)]
struct TcpCounters {
    refused_forbidden: AtomicU64,
    refused_per_source: AtomicU64,
    refused_total: AtomicU64,
    closed_idle: AtomicU64,
    closed_message_timeout: AtomicU64,
    closed_framing: AtomicU64,
    tls_handshake_failed: AtomicU64,
}

impl TcpCounters {
    fn snapshot(&self) -> TcpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TcpStats {
            refused_forbidden: get(&self.refused_forbidden),
            refused_per_source: get(&self.refused_per_source),
            refused_total: get(&self.refused_total),
            closed_idle: get(&self.closed_idle),
            closed_message_timeout: get(&self.closed_message_timeout),
            closed_framing: get(&self.closed_framing),
            tls_handshake_failed: get(&self.tls_handshake_failed),
        }
    }

    fn refused(&self, why: TcpRefusal) {
        let counter = match why {
            TcpRefusal::Forbidden => &self.refused_forbidden,
            TcpRefusal::PerSource => &self.refused_per_source,
            TcpRefusal::Total => &self.refused_total,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
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
        self.send(Command::Answer { call, rtp_port }).await
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
}

/// The TLS listener: its address (port 0 picks one) and its certificates.
pub struct TlsListen {
    pub listen: SocketAddr,
    pub config: Arc<crate::tls::TlsConfigStore>,
}

enum TcpInput {
    Opened {
        id: u64,
        peer: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    Message {
        transport: TransportKind,
        peer: SocketAddr,
        data: Vec<u8>,
    },
    Closed {
        id: u64,
    },
    /// The connection has been silent for the idle timeout: may it close?
    /// (Not while a call in progress uses it.)
    Idle {
        id: u64,
        may_close: oneshot::Sender<bool>,
    },
}

/// Holds a connection's admission; releases it when the connection ends.
struct Admitted {
    admission: Arc<Mutex<TcpAdmission>>,
    peer: SocketAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut a) = self.admission.lock() {
            a.release(self.peer.ip());
        }
    }
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
    let (cmd_tx, cmd_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (calls_tx, calls_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (tcp_tx, tcp_rx) = mpsc::channel(CHANNEL_DEPTH);
    let admission = Arc::new(Mutex::new(TcpAdmission::new(
        limits,
        config.allow_from.clone(),
    )));
    let counters = Arc::new(TcpCounters::default());
    let ids = Arc::new(AtomicU64::new(1));
    let mut dialer = None;
    if let Some((listener, store, _)) = tls {
        dialer = Some(tls_dial::Dialer {
            store: store.clone(),
            to_endpoint: tcp_tx.clone(),
            admission: admission.clone(),
            counters: counters.clone(),
            ids: ids.clone(),
        });
        tokio::spawn(tls_accept::tls_accept_loop(
            listener,
            store,
            tcp_tx.clone(),
            admission.clone(),
            counters.clone(),
            ids.clone(),
        ));
    }
    tokio::spawn(accept_loop(tcp, tcp_tx, admission, counters.clone(), ids));
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
    dialer: Option<tls_dial::Dialer>,
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
                TransportKind::Tcp(id) | TransportKind::Tls(id) => {
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
                    TcpInput::Closed { id } => {
                        // Its entries go, under its own id and the ids of
                        // closed connections it stood in for; an id already
                        // moved to a connection we opened keeps that one.
                        if let Some((_, writer)) = connections.get(&id).filter(|(_, w)| w.is_closed()).cloned() {
                            connections.retain(|_, (_, w)| !w.same_channel(&writer));
                        }
                    }
                    TcpInput::Idle { id, may_close } => { let _ = may_close.send(!ep.uses_connection(id)); }
                }
            }
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return };
                let now = Instant::now();
                let result = match cmd {
                    Command::Ring { call } => ep.ring(now, call),
                    Command::Answer { call, rtp_port } => ep.answer(now, call, rtp_port),
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

/// An IPv4 caller of a dual-stack socket, as the IPv4 address it is: the
/// endpoint answers it in IPv4 (Via, Contact, SDP).
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
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

async fn accept_loop(
    listener: TcpListener,
    to_endpoint: mpsc::Sender<TcpInput>,
    admission: Arc<Mutex<TcpAdmission>>,
    counters: Arc<TcpCounters>,
    ids: Arc<AtomicU64>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Admitted by the address it is (an IPv4 caller of a
                // dual-stack socket as IPv4), as allow_from names it.
                let peer = canonical(peer);
                let admitted = match admission.lock() {
                    Ok(mut a) => a.admit(peer.ip()).map(|()| a.limits().clone()),
                    Err(_) => Err(TcpRefusal::Total),
                };
                match admitted {
                    Ok(limits) => {
                        let id = ids.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.set_nodelay(true);
                        let guard = Admitted {
                            admission: admission.clone(),
                            peer,
                        };
                        tokio::spawn(connection(
                            TransportKind::Tcp(id),
                            stream,
                            peer,
                            to_endpoint.clone(),
                            limits,
                            counters.clone(),
                            guard,
                            outbox(),
                        ));
                    }
                    Err(why) => {
                        counters.refused(why);
                        // Closed at once: the descriptor is back before the next accept.
                        drop(stream);
                        tracing::warn!(
                            source = %peer.ip(),
                            reason = %why.as_str(),
                            "security: TCP connection refused"
                        );
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Why a connection's reading stopped.
enum Ending {
    PeerClosed,
    Idle,
    MessageTimeout,
    Framing(crate::framing::FramingError),
    EndpointGone,
}

/// What is written to a connection: the driver holds the sender.
type Outbox = (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

fn outbox() -> Outbox {
    mpsc::channel(256)
}

/// Reads and writes one stream connection, TCP or TLS: `transport` names it.
/// `outbox` is what the driver writes to it through (messages may already
/// wait in it when we opened the connection ourselves).
#[allow(clippy::too_many_arguments)]
async fn connection<S>(
    transport: TransportKind,
    stream: S,
    peer: SocketAddr,
    to_endpoint: mpsc::Sender<TcpInput>,
    limits: TcpLimits,
    counters: Arc<TcpCounters>,
    _admitted: Admitted,
    outbox: Outbox,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let id = match transport {
        TransportKind::Tcp(id) | TransportKind::Tls(id) => id,
        TransportKind::Udp => return,
    };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (out_tx, mut out_rx) = outbox;
    if to_endpoint
        .send(TcpInput::Opened {
            id,
            peer,
            writer: out_tx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            // TLS holds records until flushed; for TCP flushing costs nothing.
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
    });
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut last_read = tokio::time::Instant::now();
    // When the first byte of the message now being received arrived.
    let mut message_started: Option<tokio::time::Instant> = None;
    let ending = 'read: loop {
        let (deadline, on_expiry) = match message_started {
            Some(t) => (t + limits.message_timeout, Ending::MessageTimeout),
            None => (last_read + limits.idle_timeout, Ending::Idle),
        };
        let n = match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break Ending::PeerClosed,
            Ok(Ok(n)) => n,
            Err(_) => {
                if matches!(on_expiry, Ending::Idle) {
                    let (tx, rx) = oneshot::channel();
                    let asked = to_endpoint.send(TcpInput::Idle { id, may_close: tx }).await;
                    if asked.is_ok() && rx.await == Ok(false) {
                        last_read = tokio::time::Instant::now();
                        continue;
                    }
                }
                break on_expiry;
            }
        };
        last_read = tokio::time::Instant::now();
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(data))) => {
                    message_started = None;
                    if to_endpoint
                        .send(TcpInput::Message {
                            transport,
                            peer,
                            data,
                        })
                        .await
                        .is_err()
                    {
                        break 'read Ending::EndpointGone;
                    }
                }
                Ok(Some(Frame::Ping)) => {
                    let _ = out_tx.try_send(b"\r\n".to_vec());
                }
                Ok(None) => break,
                Err(e) => break 'read Ending::Framing(e),
            }
        }
        if framer.buffered() > 0 {
            message_started.get_or_insert(last_read);
        } else {
            message_started = None;
        }
    };
    match ending {
        Ending::PeerClosed | Ending::EndpointGone => {}
        Ending::Idle => {
            counters.closed_idle.fetch_add(1, Ordering::Relaxed);
            tracing::info!(source = %peer.ip(), reason = %"idle", "closing TCP connection");
        }
        Ending::MessageTimeout => {
            counters
                .closed_message_timeout
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                source = %peer.ip(),
                reason = %"message_timeout",
                "security: closing TCP connection"
            );
        }
        Ending::Framing(e) => {
            counters.closed_framing.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                source = %peer.ip(),
                reason = %"framing",
                error = %e,
                "security: closing TCP connection"
            );
        }
    }
    drop(out_tx);
    // The writer's channel is closed before the driver hears of it, so the
    // driver can tell this connection's entries from those already moved
    // to a connection it opened in its place.
    write_task.abort();
    let _ = write_task.await;
    let _ = to_endpoint.send(TcpInput::Closed { id }).await;
}
