//! Secure trunks at start-up: the TLS listener's certificates, their reload
//! on SIGHUP, and the warning that SDES keys over plain signalling are not
//! secret.

use std::net::SocketAddr;
use std::sync::Arc;

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
