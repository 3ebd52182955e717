//! The TLS listener: admission as for TCP, then the handshake, then the
//! driver's stream connection loop with messages marked
//! [`TransportKind::Tls`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::stream_conn::{canonical, connection, Admitted, Link, TcpCounters, TcpInput};
use crate::tcp_admission::{TcpAdmission, TcpRefusal};
use crate::transport::TransportKind;

/// The TLS listener: admission as for TCP (who, how many in all and per
/// source), then the handshake within the message timeout, then the same
/// connection loop as TCP with messages marked [`TransportKind::Tls`].
pub(crate) async fn tls_accept_loop(
    listener: TcpListener,
    store: Arc<crate::tls::TlsConfigStore>,
    to_endpoint: mpsc::Sender<TcpInput>,
    admission: Arc<Mutex<TcpAdmission>>,
    counters: Arc<TcpCounters>,
    ids: Arc<AtomicU64>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "TLS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = canonical(peer);
        let admitted = match admission.lock() {
            Ok(mut a) => a.admit(peer.ip()).map(|()| a.limits().clone()),
            Err(_) => Err(TcpRefusal::Total),
        };
        let limits = match admitted {
            Ok(limits) => limits,
            Err(why) => {
                counters.refused(why);
                drop(stream);
                tracing::warn!(
                    source = %peer.ip(),
                    reason = %why.as_str(),
                    "security: TLS connection refused"
                );
                continue;
            }
        };
        let guard = Admitted {
            admission: admission.clone(),
            peer,
        };
        let acceptor = match store.acceptor() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "no TLS configuration; connection closed");
                continue;
            }
        };
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let to_endpoint = to_endpoint.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let handshake =
                tokio::time::timeout(limits.message_timeout, acceptor.accept(stream)).await;
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    counters
                        .tls_handshake_failed
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        source = %peer.ip(),
                        reason = %"tls_handshake",
                        error = %e,
                        "security: closing TLS connection"
                    );
                    return;
                }
                Err(_) => {
                    counters
                        .tls_handshake_failed
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        source = %peer.ip(),
                        reason = %"tls_handshake_timeout",
                        "security: closing TLS connection"
                    );
                    return;
                }
            };
            connection(
                TransportKind::Tls(id),
                tls,
                peer,
                Link {
                    to_endpoint,
                    limits,
                    counters,
                    admitted: guard,
                },
                crate::stream_conn::outbox(),
            )
            .await;
        });
    }
}
