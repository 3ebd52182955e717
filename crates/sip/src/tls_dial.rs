//! Connections we open. A request of ours in a dialog over TLS (BYE,
//! REFER) goes over the caller's connection; when that has closed, over a
//! new TLS connection to the dialog's next hop (its first route, else the
//! remote target), whose certificate must name that host and chain to the
//! trunk CAs (`tls::client_config`). It is admitted, capped and timed as an
//! accepted connection is, and once up it is read and written by the same
//! loop, so the peer's answers reach the endpoint.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::stream_conn::{
    canonical, connection, outbox, Admitted, Link, Listening, Outbox, TcpCounters, TcpInput,
};
use crate::tcp_admission::TcpAdmission;
use crate::tls::TlsConfigStore;
use crate::transport::{NextHop, TransportKind};

pub(crate) struct Dialer {
    pub store: Arc<TlsConfigStore>,
    /// Connections we open are admitted, counted and numbered with those
    /// the listeners accept.
    pub listening: Listening,
}

impl Dialer {
    /// Starts opening a connection to `hop` and returns at once the sender
    /// that writes to it: messages sent before the handshake ends wait in
    /// it. When the connection cannot be made, the sender reports closed.
    pub fn dial(&self, hop: NextHop) -> mpsc::Sender<Vec<u8>> {
        let (tx, rx) = outbox();
        let dial = Dial {
            store: self.store.clone(),
            to_endpoint: self.listening.to_endpoint.clone(),
            admission: self.listening.admission.clone(),
            counters: self.listening.counters.clone(),
            id: self.listening.ids.fetch_add(1, Ordering::Relaxed),
        };
        let outbox = (tx.clone(), rx);
        tokio::spawn(async move {
            let target = format!("{}:{}", hop.host, hop.port);
            if let Err(why) = dial.open(hop, outbox).await {
                tracing::warn!(target = %target, error = %why, "no TLS connection to the dialog's peer; the request is not sent");
            }
        });
        tx
    }
}

struct Dial {
    store: Arc<TlsConfigStore>,
    to_endpoint: mpsc::Sender<TcpInput>,
    admission: Arc<Mutex<TcpAdmission>>,
    counters: Arc<TcpCounters>,
    id: u64,
}

impl Dial {
    async fn open(self, hop: NextHop, outbox: Outbox) -> Result<(), String> {
        let connector = self.store.connector().map_err(|e| e.to_string())?;
        let limits = self
            .admission
            .lock()
            .map_err(|_| "admission lock poisoned".to_string())?
            .limits()
            .clone();
        // Name lookup, connect and handshake each within the time a peer
        // gets to send us a message.
        let wait = limits.message_timeout;
        let addr: SocketAddr =
            timeout(wait, tokio::net::lookup_host((hop.host.as_str(), hop.port)))
                .await
                .map_err(|_| "name lookup timed out".to_string())?
                .map_err(|e| format!("name lookup: {e}"))?
                .next()
                .ok_or_else(|| "the name has no address".to_string())?;
        let peer = canonical(addr);
        self.admission
            .lock()
            .map_err(|_| "admission lock poisoned".to_string())?
            .admit(peer.ip())
            .map_err(|why| format!("refused by the connection limits ({})", why.as_str()))?;
        let guard = Admitted {
            admission: self.admission.clone(),
            peer,
        };
        let tcp = timeout(wait, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let name =
            ServerName::try_from(hop.host.clone()).map_err(|e| format!("server name: {e}"))?;
        let tls = match timeout(wait, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => tls,
            failed => {
                self.counters
                    .tls_handshake_failed
                    .fetch_add(1, Ordering::Relaxed);
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_string(),
                };
                tracing::warn!(
                    destination = %peer,
                    reason = %"tls_handshake",
                    error = %why,
                    "security: TLS connection to the dialog's peer refused"
                );
                return Err(format!("handshake: {why}"));
            }
        };
        tracing::info!(destination = %peer, connection = self.id, "TLS connection opened to the dialog's peer");
        connection(
            TransportKind::Tls(self.id),
            tls,
            peer,
            Link {
                to_endpoint: self.to_endpoint,
                limits,
                counters: self.counters,
                admitted: guard,
            },
            outbox,
        )
        .await;
        Ok(())
    }
}
