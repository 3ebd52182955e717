//! The tokio side of the user agent: one UDP socket and one TCP listener on
//! the same address, the clock, and channels to the application. All protocol
//! decisions are the [`Endpoint`]'s; this task only moves bytes and time.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::endpoint::{CallHandle, Endpoint, EndpointConfig, Event, Stats, TransportKind};
use crate::framing::{Frame, StreamFramer};

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
    Stats(oneshot::Sender<DriverStats>),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DriverStats {
    pub endpoint: Stats,
    pub active_calls: usize,
    pub transactions: usize,
    pub tcp_connections: usize,
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

    pub async fn stats(&self) -> Option<DriverStats> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Stats(tx)).await;
        rx.await.ok()
    }
}

pub struct SipServer {
    pub handle: SipHandle,
    pub events: mpsc::Receiver<Event>,
    pub local_addr: SocketAddr,
}

enum TcpInput {
    Opened {
        id: u64,
        peer: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    Message {
        id: u64,
        peer: SocketAddr,
        data: Vec<u8>,
    },
    Closed {
        id: u64,
    },
}

/// Binds UDP and TCP on `listen` (port 0 picks one free for both) and starts
/// the driver task.
pub async fn start(listen: SocketAddr, config: EndpointConfig) -> io::Result<SipServer> {
    let (udp, tcp) = bind_both(listen)?;
    let local_addr = udp.local_addr()?;
    let mut config = config;
    if config.public_port == 0 {
        config.public_port = local_addr.port();
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (ev_tx, ev_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (tcp_tx, tcp_rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(accept_loop(tcp, tcp_tx));
    let endpoint = Endpoint::new(config, rand::random());
    tokio::spawn(run(endpoint, udp, cmd_rx, ev_tx, tcp_rx));
    Ok(SipServer {
        handle: SipHandle { commands: cmd_tx },
        events: ev_rx,
        local_addr,
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

async fn run(
    mut ep: Endpoint,
    udp: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    mut tcp_in: mpsc::Receiver<TcpInput>,
) {
    let mut connections: HashMap<u64, (SocketAddr, mpsc::Sender<Vec<u8>>)> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let udp_v6 = udp.local_addr().is_ok_and(|a| a.is_ipv6());
    loop {
        while let Some(t) = ep.poll_transmit() {
            match t.transport {
                TransportKind::Udp => {
                    let destination = on_socket(t.destination, udp_v6);
                    if let Err(e) = udp.send_to(&t.payload, destination).await {
                        tracing::warn!(destination = %t.destination, error = %e, "UDP send failed");
                    }
                }
                TransportKind::Tcp(id) => match connections.get(&id) {
                    Some((_, writer)) => {
                        if writer.try_send(t.payload).is_err() {
                            tracing::warn!(
                                connection = id,
                                "TCP connection backed up; message dropped"
                            );
                        }
                    }
                    None => {
                        tracing::debug!(connection = id, "TCP connection gone; message dropped")
                    }
                },
            }
        }
        while let Some(ev) = ep.poll_event() {
            if events.send(ev).await.is_err() {
                return;
            }
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
                    TcpInput::Message { id, peer, data } => ep.handle_input(now, TransportKind::Tcp(id), canonical(peer), &data),
                    TcpInput::Closed { id } => { connections.remove(&id); }
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
                    Command::Stats(reply) => {
                        let _ = reply.send(DriverStats {
                            endpoint: ep.stats(),
                            active_calls: ep.active_calls(),
                            transactions: ep.transactions(),
                            tcp_connections: connections.len(),
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

async fn accept_loop(listener: TcpListener, to_endpoint: mpsc::Sender<TcpInput>) {
    let mut next_id = 1u64;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let id = next_id;
                next_id += 1;
                tokio::spawn(connection(id, stream, peer, to_endpoint.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    to_endpoint: mpsc::Sender<TcpInput>,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
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
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(data))) => {
                    if to_endpoint
                        .send(TcpInput::Message { id, peer, data })
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Ok(Some(Frame::Ping)) => {
                    let _ = out_tx.try_send(b"\r\n".to_vec());
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "closing TCP connection");
                    break 'read;
                }
            }
        }
    }
    drop(out_tx);
    let _ = to_endpoint.send(TcpInput::Closed { id }).await;
    write_task.abort();
}
