//! The reference peer of the signalling benchmark (P1): a bare UAS on
//! rsipstack 0.7, built like rsipstack's own `bench_ua` in server mode. It
//! answers INVITE with 200 OK and a PCMU SDP answer, BYE and OPTIONS with
//! 200, and does nothing else: no media, no call flow.
//!
//! It is the *tuned* reference, so that Passgate is compared with the best
//! this stack does rather than its defaults: mimalloc as the allocator, a
//! 4 MB UDP receive buffer (rsipstack binds with the kernel's ~208 KB, which
//! drops INVITEs in bursts of a few thousand calls/s), and the 200 OK sent
//! straight from the INVITE handler instead of through `bench_ua`'s
//! dialog-state channel (one task hop and the 100 Trying saved per call).
//!
//! `bare-uas --listen 127.0.0.1:0` prints `SIP listening on ADDR` once bound.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, DialogStateSender};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::DialogId;
use rsipstack::platform::net::UdpSocket as PlatformUdpSocket;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::{Transaction, TransactionReceiver};
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Same size Passgate's own driver asks for, so the two are compared on equal
/// terms; the kernel caps it at net.core.rmem_max.
const UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(about = "Bare rsipstack UAS: 200 OK with a PCMU answer, 200 to BYE and OPTIONS")]
struct Args {
    /// UDP address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:5060")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::ERROR)
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    let args = Args::parse();

    let token = CancellationToken::new();
    let socket =
        bind_udp(args.listen).with_context(|| format!("binding UDP on {}", args.listen))?;
    let connection = UdpConnection::from_socket(socket, None, Some(token.child_token()))
        .await
        .context("wrapping the UDP socket")?;
    let local = connection.get_addr().clone();
    let transport_layer = TransportLayer::new(token.clone());
    transport_layer.add_transport(connection.into());
    let endpoint = EndpointBuilder::new()
        .with_cancel_token(token.clone())
        .with_transport_layer(transport_layer)
        .build();

    let contact = rsipstack::sip::Uri {
        scheme: Some(rsipstack::sip::Scheme::Sip),
        auth: None,
        host_with_port: local.addr.clone(),
        params: vec![],
        headers: vec![],
    };
    let incoming = endpoint.incoming_transactions()?;
    let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let (state_tx, state_rx) = dialogs.new_dialog_state_channel();
    let answer = Answer::new(local.addr.host.to_string());

    // The P1 runner waits for this line: the port matters when it was 0.
    println!("SIP listening on {}", local.addr);

    tokio::select! {
        _ = endpoint.serve() => tracing::error!("the SIP endpoint stopped"),
        _ = serve(dialogs.clone(), incoming, state_tx, contact, answer) => {
            tracing::error!("the transaction channel closed");
        }
        _ = reap(dialogs, state_rx) => tracing::error!("the dialog state channel closed"),
        _ = tokio::signal::ctrl_c() => {}
    }
    token.cancel();
    Ok(())
}

/// The socket rsipstack would bind, plus the larger receive buffer, handed
/// to rsipstack as its platform socket (`UdpConnection::from_socket`).
fn bind_udp(listen: SocketAddr) -> anyhow::Result<Arc<dyn PlatformUdpSocket>> {
    let socket = tuned_socket(listen)?;
    // Linux reports twice what it grants (bookkeeping included); less than
    // asked means rmem_max capped it and the reference is not tuned.
    let granted = socket.recv_buffer_size()?;
    if granted < UDP_RECV_BUFFER {
        tracing::error!(
            granted,
            wanted = UDP_RECV_BUFFER,
            "UDP receive buffer capped: raise net.core.rmem_max"
        );
    }
    Ok(Arc::new(tokio::net::UdpSocket::from_std(socket.into())?))
}

fn tuned_socket(listen: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    socket.set_recv_buffer_size(UDP_RECV_BUFFER)?;
    socket.set_nonblocking(true)?;
    socket.bind(&listen.into())?;
    Ok(socket)
}

/// The SDP answer: PCMU only. No RTP socket is opened; the bare UAS is a
/// signalling reference, but each answer still names its own even port and
/// session id so it costs what a real answer costs to build.
struct Answer {
    ip: String,
    next_port: AtomicU32,
}

const RTP_PORTS: (u32, u32) = (20000, 30000);

impl Answer {
    fn new(ip: String) -> Answer {
        Answer {
            ip,
            next_port: AtomicU32::new(0),
        }
    }

    fn sdp(&self) -> Vec<u8> {
        let span = (RTP_PORTS.1 - RTP_PORTS.0) / 2;
        let port = RTP_PORTS.0 + 2 * (self.next_port.fetch_add(1, Ordering::Relaxed) % span);
        let session: u32 = rand::random();
        format!(
            "v=0\r\n\
             o=- {session} {session} IN IP4 {ip}\r\n\
             s=bare-uas\r\n\
             c=IN IP4 {ip}\r\n\
             t=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n",
            ip = self.ip
        )
        .into_bytes()
    }
}

async fn serve(
    dialogs: Arc<DialogLayer>,
    mut incoming: TransactionReceiver,
    state_tx: DialogStateSender,
    contact: rsipstack::sip::Uri,
    answer: Answer,
) {
    while let Some(mut tx) = incoming.recv().await {
        match tx.original.method {
            Method::Invite => invite(&dialogs, tx, &state_tx, &contact, &answer),
            Method::Bye => {
                if let Ok(id) = DialogId::try_from(&tx) {
                    dialogs.remove_dialog(&id);
                }
                reply(&mut tx, StatusCode::OK).await;
            }
            Method::Options => reply(&mut tx, StatusCode::OK).await,
            // Answered so the transaction ends now instead of at Timer J.
            _ => reply(&mut tx, StatusCode::MethodNotAllowed).await,
        }
    }
}

fn invite(
    dialogs: &DialogLayer,
    mut tx: Transaction,
    state_tx: &DialogStateSender,
    contact: &rsipstack::sip::Uri,
    answer: &Answer,
) {
    let mut dialog = match dialogs.get_or_create_server_invite(
        &tx,
        state_tx.clone(),
        None,
        Some(contact.clone()),
    ) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "INVITE refused");
            tokio::spawn(async move { reply(&mut tx, StatusCode::BadRequest).await });
            return;
        }
    };
    let headers = vec![Header::ContentType("application/sdp".into())];
    if let Err(e) = dialog.accept(Some(headers), Some(answer.sdp())) {
        tracing::error!(error = %e, "could not answer an INVITE");
        return;
    }
    // The transaction sends the queued 200 and absorbs the ACK; the dialog
    // task ends with it.
    tokio::spawn(async move {
        if let Err(e) = dialog.handle(&mut tx).await {
            tracing::error!(error = %e, "INVITE transaction failed");
        }
    });
}

async fn reply(tx: &mut Transaction, status: StatusCode) {
    if let Err(e) = tx.reply(status).await {
        tracing::error!(error = %e, method = %tx.original.method, "could not reply");
    }
}

/// Dialogs end by BYE (removed in `serve`) or by a missing ACK; the latter
/// only show up here, and the state channel is unbounded, so drain it.
async fn reap(dialogs: Arc<DialogLayer>, mut states: DialogStateReceiver) {
    while let Some(state) = states.recv().await {
        if let DialogState::Terminated(id, _) = state {
            dialogs.remove_dialog(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_offer_pcmu_on_rotating_even_ports() {
        let answer = Answer::new("127.0.0.1".into());
        let first = String::from_utf8(answer.sdp()).unwrap();
        let second = String::from_utf8(answer.sdp()).unwrap();
        assert!(first.contains("m=audio 20000 RTP/AVP 0\r\n"), "{first}");
        assert!(second.contains("m=audio 20002 RTP/AVP 0\r\n"), "{second}");
        assert!(first.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(first.contains("a=rtpmap:0 PCMU/8000\r\n"));
        assert!(first.ends_with("\r\n"));
    }

    #[test]
    fn the_receive_buffer_is_what_rmem_max_allows_of_4_mb() {
        let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let socket = tuned_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let granted = socket.recv_buffer_size().unwrap();
        assert!(
            granted >= UDP_RECV_BUFFER.min(rmem_max),
            "granted {granted}, rmem_max {rmem_max}"
        );
        assert!(granted > 256 * 1024, "still the kernel default: {granted}");
    }
}
