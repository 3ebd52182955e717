//! The WebSocket listener (RFC 7118): connections admitted as TCP ones are
//! (allow-list, caps in all and per source, counted together with TCP and
//! TLS), the handshake within the message timeout, then one SIP message per
//! frame to the endpoint, which answers and sends in-dialog requests back
//! over the same connection ([`TransportKind::Ws`]). What may connect and
//! which frames are SIP is decided in [`crate::ws`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::stream_conn::{Link, Listening, TcpInput};
use crate::transport::TransportKind;
use crate::ws::{self, WsFrame, WsRefusal};

/// How often a connection looks whether a message has begun arriving.
const PARTIAL_CHECK: Duration = Duration::from_millis(250);

/// A stream that counts the bytes read from it: how a connection tells a
/// message begun from a silent line while the WebSocket layer buffers it.
struct Counted<S> {
    inner: S,
    received: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.received.fetch_add(read, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts WebSocket connections until the endpoint goes away.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    token: Option<Arc<str>>,
    listening: Listening,
) {
    loop {
        let accepted = listening.admit_next(&listener, "WebSocket").await;
        tokio::spawn(serve(
            accepted.stream,
            accepted.peer,
            accepted.id,
            token.clone(),
            accepted.link,
        ));
    }
}

/// Why a connection's reading stopped.
enum Ending {
    PeerClosed,
    Idle,
    MessageTimeout,
    Refused(WsRefusal),
    Protocol(WsError),
    EndpointGone,
}

async fn serve(stream: TcpStream, peer: SocketAddr, id: u64, token: Option<Arc<str>>, link: Link) {
    let Link {
        to_endpoint,
        limits,
        counters,
        admitted: _admitted,
    } = link;
    let _ = stream.set_nodelay(true);
    let received = Arc::new(AtomicU64::new(0));
    let stream = Counted {
        inner: stream,
        received: received.clone(),
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(ws::MAX_MESSAGE))
        .max_frame_size(Some(ws::MAX_MESSAGE));
    let mut refusal = None;
    // The handshake library's callback type, large error and all.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, mut response: Response| {
        let protocols: Vec<&str> = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        match ws::admit_handshake(
            peer.ip(),
            request.uri().query(),
            &protocols,
            token.as_deref(),
        ) {
            Ok(()) => {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("sip"));
                Ok(response)
            }
            Err(why) => {
                refusal = Some(why);
                let mut refused = ErrorResponse::new(Some(format!("{}\n", why.as_str())));
                *refused.status_mut() = match why {
                    WsRefusal::Unauthenticated => StatusCode::UNAUTHORIZED,
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(refused)
            }
        }
    };
    let handshake = tokio::time::timeout(
        limits.message_timeout,
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)),
    )
    .await;
    let socket = match handshake {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => {
            counters.ws_refused.fetch_add(1, Ordering::Relaxed);
            let reason = refusal.map_or("handshake", WsRefusal::as_str);
            tracing::warn!(source = %peer.ip(), reason = %reason, error = %e, "security: WebSocket handshake refused");
            return;
        }
        Err(_) => {
            counters.ws_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %peer.ip(), reason = %"handshake_timeout", "security: WebSocket handshake refused");
            return;
        }
    };
    let (mut sink, mut frames) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
    let opened = TcpInput::Opened {
        id,
        peer,
        writer: out_tx.clone(),
    };
    if to_endpoint.send(opened).await.is_err() {
        return;
    }
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            let message = match String::from_utf8(bytes) {
                Ok(text) => Message::text(text),
                Err(e) => Message::binary(e.into_bytes()),
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let transport = TransportKind::Ws(id);
    // As over TCP: a connection silent for the idle timeout closes (unless a
    // call uses it), and a message must be whole within the message timeout
    // of its first byte (a frame sent a byte at a time).
    let mut last_read = tokio::time::Instant::now();
    let mut seen = received.load(Ordering::Relaxed);
    let mut started: Option<tokio::time::Instant> = None;
    let ending = loop {
        let deadline = match started {
            Some(t) => t + limits.message_timeout,
            None => last_read + limits.idle_timeout,
        };
        let look = (tokio::time::Instant::now() + PARTIAL_CHECK).min(deadline);
        let message = match tokio::time::timeout_at(look, frames.next()).await {
            Err(_) => {
                let now = tokio::time::Instant::now();
                if started.is_none() && received.load(Ordering::Relaxed) != seen {
                    started = Some(now);
                    continue;
                }
                if now < deadline {
                    continue;
                }
                if started.is_some() {
                    break Ending::MessageTimeout;
                }
                let (tx, rx) = oneshot::channel();
                let asked = to_endpoint.send(TcpInput::Idle { id, may_close: tx }).await;
                if asked.is_ok() && rx.await == Ok(false) {
                    last_read = tokio::time::Instant::now();
                    continue;
                }
                break Ending::Idle;
            }
            Ok(None) => break Ending::PeerClosed,
            Ok(Some(Err(WsError::Capacity(_)))) => break Ending::Refused(WsRefusal::Oversized),
            Ok(Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed))) => {
                break Ending::PeerClosed
            }
            Ok(Some(Err(e))) => break Ending::Protocol(e),
            Ok(Some(Ok(message))) => message,
        };
        last_read = tokio::time::Instant::now();
        seen = received.load(Ordering::Relaxed);
        started = None;
        let data = match message {
            Message::Text(text) => text.as_bytes().to_vec(),
            Message::Binary(bytes) => bytes.to_vec(),
            Message::Close(_) => break Ending::PeerClosed,
            // Pings are answered by the WebSocket layer; pongs keep it alive.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        match ws::classify_frame(&data) {
            Ok(WsFrame::KeepAlive) => continue,
            Ok(WsFrame::Message) => {}
            Err(why) => break Ending::Refused(why),
        }
        let input = TcpInput::Message {
            transport,
            peer,
            data,
        };
        if to_endpoint.send(input).await.is_err() {
            break Ending::EndpointGone;
        }
    };
    match ending {
        Ending::PeerClosed | Ending::EndpointGone => {}
        Ending::Idle => {
            counters.closed_idle.fetch_add(1, Ordering::Relaxed);
            tracing::info!(source = %peer.ip(), reason = %"idle", "closing WebSocket connection");
        }
        Ending::MessageTimeout => {
            counters
                .closed_message_timeout
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %peer.ip(), reason = %"message_timeout", "security: closing WebSocket connection");
        }
        Ending::Refused(why) => {
            counters.ws_closed_frames.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %peer.ip(), reason = %why.as_str(), "security: closing WebSocket connection");
        }
        Ending::Protocol(e) => {
            counters.closed_framing.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %peer.ip(), reason = %"framing", error = %e, "security: closing WebSocket connection");
        }
    }
    let _ = to_endpoint.send(TcpInput::Closed { writer: out_tx }).await;
    // Let a close frame go out; the connection's admission goes with the guard.
    let _ = tokio::time::timeout(Duration::from_millis(200), write_task).await;
}
