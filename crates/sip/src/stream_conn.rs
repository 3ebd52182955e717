//! What the driver's stream connections (TCP, TLS, WebSocket) share: the
//! counters of what they refused and closed, how a connection reaches the
//! driver task, who is let in (one admission for all three listeners), the
//! admission a connection holds while open, and the TCP and TLS connection
//! loop (RFC 3261 §18.3 framing).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::framing::{Frame, StreamFramer};
use crate::tcp_admission::{TcpAdmission, TcpLimits, TcpRefusal};
use crate::transport::TransportKind;

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
    /// WebSocket handshakes refused: no `sip` subprotocol, no token off
    /// loopback, not WebSocket, or too slow.
    pub ws_refused: u64,
    /// WebSocket connections closed for a frame that was not one SIP
    /// message within the size limit.
    pub ws_closed_frames: u64,
}

#[derive(Default)]
pub(crate) struct TcpCounters {
    pub(crate) refused_forbidden: AtomicU64,
    pub(crate) refused_per_source: AtomicU64,
    pub(crate) refused_total: AtomicU64,
    pub(crate) closed_idle: AtomicU64,
    pub(crate) closed_message_timeout: AtomicU64,
    pub(crate) closed_framing: AtomicU64,
    pub(crate) tls_handshake_failed: AtomicU64,
    pub(crate) ws_refused: AtomicU64,
    pub(crate) ws_closed_frames: AtomicU64,
}

impl TcpCounters {
    pub(crate) fn snapshot(&self) -> TcpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TcpStats {
            refused_forbidden: get(&self.refused_forbidden),
            refused_per_source: get(&self.refused_per_source),
            refused_total: get(&self.refused_total),
            closed_idle: get(&self.closed_idle),
            closed_message_timeout: get(&self.closed_message_timeout),
            closed_framing: get(&self.closed_framing),
            tls_handshake_failed: get(&self.tls_handshake_failed),
            ws_refused: get(&self.ws_refused),
            ws_closed_frames: get(&self.ws_closed_frames),
        }
    }

    pub(crate) fn refused(&self, why: TcpRefusal) {
        let counter = match why {
            TcpRefusal::Forbidden => &self.refused_forbidden,
            TcpRefusal::PerSource => &self.refused_per_source,
            TcpRefusal::Total => &self.refused_total,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) enum TcpInput {
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
    /// The connection has ended; `writer` is the one it was opened with,
    /// which tells its entries from those moved to a connection opened in
    /// its place.
    Closed { writer: mpsc::Sender<Vec<u8>> },
    /// The connection has been silent for the idle timeout: may it close?
    /// (Not while a call in progress uses it.)
    Idle {
        id: u64,
        may_close: oneshot::Sender<bool>,
    },
}

/// Holds a connection's admission; releases it when the connection ends.
pub(crate) struct Admitted {
    pub(crate) admission: Arc<Mutex<TcpAdmission>>,
    pub(crate) peer: SocketAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut a) = self.admission.lock() {
            a.release(self.peer.ip());
        }
    }
}

/// An IPv4 caller of a dual-stack socket, as the IPv4 address it is: the
/// endpoint answers it in IPv4 (Via, Contact, SDP).
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Why a connection's reading stopped.
enum Ending {
    PeerClosed,
    Idle,
    MessageTimeout,
    Framing(crate::framing::FramingError),
    EndpointGone,
}

/// What every stream listener shares with the driver: where connections
/// report, who may connect (counted across TCP, TLS and WebSocket
/// together), the counters, and the connection ids.
#[derive(Clone)]
pub(crate) struct Listening {
    pub(crate) to_endpoint: mpsc::Sender<TcpInput>,
    pub(crate) admission: Arc<Mutex<TcpAdmission>>,
    pub(crate) counters: Arc<TcpCounters>,
    pub(crate) ids: Arc<AtomicU64>,
}

/// A connection let in: its stream, its source, its id and its ties to the
/// driver.
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) id: u64,
    pub(crate) link: Link,
}

impl Listening {
    /// The next connection `listener` admits. One refused is counted,
    /// logged (`security: {transport} connection refused`, with its source
    /// and reason) and closed at once, so its descriptor is back before the
    /// next accept.
    pub(crate) async fn admit_next(&self, listener: &TcpListener, transport: &str) -> Accepted {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "{transport} accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Admitted by the address it is (an IPv4 caller of a dual-stack
            // socket as IPv4), as allow_from names it.
            let peer = canonical(peer);
            let admitted = match self.admission.lock() {
                Ok(mut a) => a.admit(peer.ip()).map(|()| a.limits().clone()),
                Err(_) => Err(TcpRefusal::Total),
            };
            match admitted {
                Ok(limits) => {
                    let _ = stream.set_nodelay(true);
                    return Accepted {
                        stream,
                        peer,
                        id: self.ids.fetch_add(1, Ordering::Relaxed),
                        link: Link {
                            to_endpoint: self.to_endpoint.clone(),
                            limits,
                            counters: self.counters.clone(),
                            admitted: Admitted {
                                admission: self.admission.clone(),
                                peer,
                            },
                        },
                    };
                }
                Err(why) => {
                    self.counters.refused(why);
                    drop(stream);
                    tracing::warn!(
                        source = %peer.ip(),
                        reason = %why.as_str(),
                        "security: {transport} connection refused"
                    );
                }
            }
        }
    }
}

/// What is written to a connection: the driver holds the sender.
pub(crate) type Outbox = (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

pub(crate) fn outbox() -> Outbox {
    mpsc::channel(256)
}

/// An admitted connection's ties to the driver: where what it reads goes,
/// the limits it runs under, the counters it adds to, and its admission,
/// given back when it ends.
pub(crate) struct Link {
    pub(crate) to_endpoint: mpsc::Sender<TcpInput>,
    pub(crate) limits: TcpLimits,
    pub(crate) counters: Arc<TcpCounters>,
    pub(crate) admitted: Admitted,
}

/// Reads and writes one stream connection, TCP or TLS: `transport` names it.
/// `outbox` is what the driver writes to it through (messages may already
/// wait in it when we opened the connection ourselves).
pub(crate) async fn connection<S>(
    transport: TransportKind,
    stream: S,
    peer: SocketAddr,
    link: Link,
    outbox: Outbox,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Link {
        to_endpoint,
        limits,
        counters,
        admitted: _admitted,
    } = link;
    let Some(id) = transport.connection() else {
        return;
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
    let _ = to_endpoint.send(TcpInput::Closed { writer: out_tx }).await;
    write_task.abort();
}
