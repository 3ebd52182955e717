//! `[sip.ws]`: SIP over WebSocket for browsers; `[phone]`: the test phone
//! page the admin HTTP serves.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipWsConfig {
    /// WebSocket listen address (RFC 7118), e.g. "127.0.0.1:8088"; empty:
    /// no WebSocket listener. Off loopback a connection must carry
    /// `http.token`.
    pub listen: String,
}

impl SipWsConfig {
    /// The listen address, None when off.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, String> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        self.listen
            .parse()
            .map(Some)
            .map_err(|_| format!("sip.ws.listen: {:?} is not an address:port", self.listen))
    }
}

/// The page's files (`phone.html`, `phone.js` and the browser SIP library
/// bundle `dist/jssip.min.js`, made by `make deps`) are under `http.assets`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneConfig {
    /// Show the demo account, its passphrase included, on the page: only
    /// `passgate demo` sets it.
    pub show_demo_account: bool,
}
