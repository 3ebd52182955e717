//! The TLS listener: admission as for TCP, then the handshake, then the
//! driver's stream connection loop with messages marked
//! [`TransportKind::Tls`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::stream_conn::{connection, Accepted, Listening};
use crate::transport::TransportKind;

/// The TLS listener: admission as for TCP (who, how many in all and per
/// source), then the handshake within the message timeout, then the same
/// connection loop as TCP with messages marked [`TransportKind::Tls`].
pub(crate) async fn tls_accept_loop(
    listener: TcpListener,
    store: Arc<crate::tls::TlsConfigStore>,
    listening: Listening,
) {
    loop {
        let Accepted {
            stream,
            peer,
            id,
            link,
        } = listening.admit_next(&listener, "TLS").await;
        let acceptor = match store.acceptor() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "no TLS configuration; connection closed");
                continue;
            }
        };
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(link.limits.message_timeout, acceptor.accept(stream)).await;
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    link.counters
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
                    link.counters
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
                link,
                crate::stream_conn::outbox(),
            )
            .await;
        });
    }
}
