//! Starts the SIP user agent and gives each incoming call its own task.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sip::{driver, CallHandle, EndpointConfig, Event};
use tokio::sync::mpsc;

use crate::call::{self, CallContext};
use crate::config::Config;
use crate::rtp_ports::RtpPorts;

/// Events queued for one call before the SIP driver waits for that call.
const CALL_EVENT_DEPTH: usize = 64;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut endpoint = EndpointConfig::new(SocketAddr::new(
        config.public_ip(),
        config.sip.listen.port(),
    ));
    endpoint.user = config.sip.user.clone();
    endpoint.media.codecs = config.codecs();
    endpoint.media.ptime_ms = config.sip.ptime_ms;
    endpoint.max_calls = config.sip.max_calls;
    endpoint.allow_from = config.allow_from();
    let rate = config.sip.calls_per_second_per_source;
    endpoint.calls_per_source = (rate > 0.0).then(|| sip::RateLimit {
        per_second: rate,
        burst: rate.max(1.0),
    });
    let mut server = driver::start(config.sip.listen, endpoint)
        .await
        .with_context(|| format!("binding SIP (UDP and TCP) on {}", config.sip.listen))?;
    // Scripts and tests wait for this line (the port matters when it was 0).
    println!("SIP listening on {} (UDP and TCP)", server.local_addr);
    tracing::info!(listen = %server.local_addr, public = %config.public_ip(), "passgate ready");

    let context = Arc::new(CallContext {
        sip: server.handle.clone(),
        ports: RtpPorts::new(config.sip.listen.ip(), config.rtp.port_range),
        max_duration: Duration::from_secs(config.call.max_duration_secs),
        answer_delay: Duration::from_millis(config.sip.answer_delay_ms),
    });
    let mut calls: HashMap<CallHandle, mpsc::Sender<Event>> = HashMap::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
    loop {
        if drain_deadline.is_some() && calls.is_empty() {
            tracing::info!("all calls finished; exiting");
            break;
        }
        tokio::select! {
            event = server.events.recv() => {
                let Some(event) = event else { break };
                dispatch(&context, &mut calls, event).await;
            }
            _ = &mut shutdown, if drain_deadline.is_none() => {
                let grace = Duration::from_secs(config.call.drain_timeout_secs);
                tracing::info!(calls = calls.len(), grace_secs = grace.as_secs(), "stopping: refusing new calls, letting calls in progress finish");
                server.handle.drain().await;
                drain_deadline = Some(tokio::time::Instant::now() + grace);
            }
            _ = tokio::time::sleep_until(drain_deadline.unwrap_or(far)) => {
                tracing::warn!(calls = calls.len(), "drain deadline reached; exiting with calls in progress");
                break;
            }
        }
    }
    Ok(())
}

async fn dispatch(
    context: &Arc<CallContext>,
    calls: &mut HashMap<CallHandle, mpsc::Sender<Event>>,
    event: Event,
) {
    let handle = match &event {
        Event::IncomingCall(incoming) => {
            let (tx, rx) = mpsc::channel(CALL_EVENT_DEPTH);
            calls.insert(incoming.call, tx);
            tokio::spawn(call::run(context.clone(), (**incoming).clone(), rx));
            return;
        }
        Event::CallConfirmed { call }
        | Event::MediaUpdated { call, .. }
        | Event::Info { call, .. }
        | Event::InfoDigit { call, .. }
        | Event::Refer { call, .. }
        | Event::CallEnded { call, .. } => *call,
    };
    let ended = matches!(event, Event::CallEnded { .. });
    if let Some(tx) = calls.get(&handle) {
        // A call task that has already finished has dropped its receiver.
        let _ = tx.send(event).await;
    }
    if ended {
        calls.remove(&handle);
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
