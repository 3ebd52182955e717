//! One call, from the INVITE to its end. Everything that happens to a call is
//! logged inside its `call` span (with the Call-ID).
//!
//! Until the media and flow issues land, an answered call holds its RTP port,
//! counts what arrives, and ends when the caller hangs up or after
//! `call.max_duration_secs`.

use std::sync::Arc;
use std::time::Duration;

use sip::driver::SipHandle;
use sip::{EndReason, Event, IncomingCall};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::rtp_ports::RtpPorts;

pub struct CallContext {
    pub sip: SipHandle,
    pub ports: RtpPorts,
    pub max_duration: Duration,
    pub answer_delay: Duration,
}

pub async fn run(ctx: Arc<CallContext>, incoming: IncomingCall, events: mpsc::Receiver<Event>) {
    let span = tracing::info_span!("call", call_id = %incoming.call_id);
    drive(ctx, incoming, events).instrument(span).await
}

async fn drive(ctx: Arc<CallContext>, incoming: IncomingCall, mut events: mpsc::Receiver<Event>) {
    let call = incoming.call;
    tracing::info!(
        from = %incoming.from_uri,
        p_asserted_identity = incoming.p_asserted_identity.as_deref().unwrap_or("-"),
        source = %incoming.source,
        codec = ?incoming.media.as_ref().map(|m| m.codec),
        telephone_event = ?incoming.media.as_ref().and_then(|m| m.telephone_event),
        "incoming call"
    );
    if !ctx.answer_delay.is_zero() {
        ctx.sip.ring(call).await;
        let ring_until = Instant::now() + ctx.answer_delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(ring_until) => break,
                ev = events.recv() => match ev {
                    Some(Event::CallEnded { reason, .. }) => {
                        tracing::info!(?reason, "call ended before it was answered");
                        return;
                    }
                    None => return,
                    Some(_) => {}
                },
            }
        }
    }
    let rtp = match ctx.ports.bind().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "no RTP port available; refusing the call");
            ctx.sip.reject(call, 503).await;
            return;
        }
    };
    let port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
    ctx.sip.answer(call, port).await;
    tracing::info!(rtp_port = port, "answered");

    let deadline = Instant::now() + ctx.max_duration;
    let mut hung_up = false;
    let mut packets = 0u64;
    let mut buf = [0u8; 2048];
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Event::CallConfirmed { .. }) => tracing::info!("call confirmed (ACK)"),
                Some(Event::MediaUpdated { media, .. }) => {
                    tracing::info!(codec = ?media.codec, direction = ?media.direction, remote = %media.remote_rtp, "media updated");
                }
                Some(Event::Info { content_type, .. }) => tracing::info!(?content_type, "INFO received"),
                Some(Event::InfoDigit { digit, .. }) => tracing::info!(digit = %digit.digit, "digit by SIP INFO"),
                Some(Event::Refer { status, .. }) => tracing::info!(?status, "transfer progress"),
                Some(Event::CallEnded { reason, .. }) => {
                    log_end(reason, packets);
                    return;
                }
                Some(Event::IncomingCall(_)) => {}
                None => return,
            },
            received = rtp.recv_from(&mut buf) => {
                if received.is_ok() {
                    packets += 1;
                }
            }
            _ = tokio::time::sleep_until(deadline), if !hung_up => {
                tracing::info!(limit_secs = ctx.max_duration.as_secs(), "maximum call duration reached; hanging up");
                hung_up = true;
                ctx.sip.hangup(call).await;
            }
        }
    }
}

fn log_end(reason: EndReason, rtp_packets: u64) {
    tracing::info!(?reason, rtp_packets, "call ended");
}
