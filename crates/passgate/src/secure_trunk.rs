//! Secure trunks at start-up: the TLS listener's certificates, their reload
//! on SIGHUP or when the files change, and the warning that SDES keys over
//! plain signalling are not secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use sip::driver::TlsListen;

use crate::config::Config;

/// The TLS listener `sip.tls` asks for, with its certificates loaded, or
/// None when TLS is off. Warns when SRTP is on without TLS: the SDP (and the
/// keys in it) then crosses the network in the clear.
pub fn tls_listener(config: &Config) -> anyhow::Result<Option<TlsListen>> {
    let tls = &config.sip.tls;
    if !tls.enabled() {
        if config.rtp.srtp != sip::SrtpMode::Off {
            tracing::warn!(
                "rtp.srtp is on but sip.tls is not: SDES keys travel in the SDP over plain SIP, readable by anyone on the signalling path"
            );
        }
        return Ok(None);
    }
    let store = sip::TlsConfigStore::load(tls.settings()).context("sip.tls")?;
    Ok(Some(TlsListen {
        listen: SocketAddr::new(config.sip.listen.ip(), tls.port),
        config: Arc::new(store),
    }))
}

/// Reloads the certificates on every SIGHUP. A file that does not load
/// leaves the previous certificate in use (and says why).
pub fn reload_on_sighup(store: Arc<sip::TlsConfigStore>) -> anyhow::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match store.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays")
                }
            }
        }
    });
    Ok(())
}

/// Reloads the certificates when their files change (modification time or
/// size), checked every `every`. A change that does not load yet (the key
/// written before the certificate) is tried again at the next check.
pub fn reload_on_change(store: Arc<sip::TlsConfigStore>, files: Vec<PathBuf>, every: Duration) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut loaded = stamps(&files);
        let mut failing = false;
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = stamps(&files);
            if now == loaded {
                continue;
            }
            match store.reload() {
                Ok(()) => {
                    loaded = now;
                    failing = false;
                    tracing::info!("TLS certificate reloaded (the files changed)");
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays");
                }
                Err(_) => {}
            }
        }
    });
}

fn stamps(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}
