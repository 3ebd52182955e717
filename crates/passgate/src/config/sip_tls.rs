//! `[sip.tls]`: SIP over TLS beside UDP and TCP.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTlsConfig {
    /// PEM certificate chain (leaf first). Empty: no TLS listener.
    pub cert: String,
    /// PEM private key of the certificate (RSA or ECDSA).
    pub key: String,
    /// TLS listen port on `sip.listen`'s address (0 picks a free one).
    pub port: u16,
    /// PEM CA certificates of the trunks allowed to connect: when set, a
    /// client must present an unexpired certificate issued by one of them.
    pub client_ca: String,
    /// SHA-256 fingerprints ("AB:CD:…") of client certificates taken as they
    /// are, for trunks with self-signed certificates; with these or
    /// `client_ca`, every client must present a certificate.
    pub client_fingerprints: Vec<String>,
    /// PEM CA certificates a trunk's certificate must chain to when
    /// Passgate opens the connection (a BYE or REFER whose caller's
    /// connection has closed). Empty: `client_ca`, and without that the
    /// public CAs of Mozilla's list.
    pub trunk_ca: String,
    /// Lowest TLS version accepted: "1.2" or "1.3".
    pub min_version: String,
    /// Seconds between checks of the certificate and key files: a change
    /// reloads them (0: only on SIGHUP).
    pub reload_check_secs: u64,
}

impl Default for SipTlsConfig {
    fn default() -> Self {
        SipTlsConfig {
            cert: String::new(),
            key: String::new(),
            port: 5061,
            client_ca: String::new(),
            client_fingerprints: Vec::new(),
            trunk_ca: String::new(),
            min_version: "1.2".into(),
            reload_check_secs: 10,
        }
    }
}

impl SipTlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !["1.2", "1.3"].contains(&self.min_version.as_str()) {
            return Err(format!(
                "sip.tls.min_version: {:?} (expected \"1.2\" or \"1.3\")",
                self.min_version
            ));
        }
        if self.cert.is_empty() != self.key.is_empty() {
            return Err("sip.tls.cert and sip.tls.key: set both or neither".into());
        }
        if !self.client_ca.is_empty() && !self.enabled() {
            return Err("sip.tls.client_ca: needs sip.tls.cert and sip.tls.key".into());
        }
        if !self.trunk_ca.is_empty() && !self.enabled() {
            return Err("sip.tls.trunk_ca: needs sip.tls.cert and sip.tls.key".into());
        }
        for f in &self.client_fingerprints {
            if sip::tls_client_auth::parse_fingerprint(f).is_none() {
                return Err(format!(
                    "sip.tls.client_fingerprints: {f:?} is not a SHA-256 fingerprint (64 hex digits)"
                ));
            }
        }
        Ok(())
    }

    pub fn settings(&self) -> sip::TlsSettings {
        sip::TlsSettings {
            cert: PathBuf::from(&self.cert),
            key: PathBuf::from(&self.key),
            client_ca: (!self.client_ca.is_empty()).then(|| PathBuf::from(&self.client_ca)),
            client_fingerprints: self
                .client_fingerprints
                .iter()
                .filter_map(|f| sip::tls_client_auth::parse_fingerprint(f))
                .collect(),
            tls13_only: self.min_version == "1.3",
            trunk_ca: (!self.trunk_ca.is_empty()).then(|| PathBuf::from(&self.trunk_ca)),
        }
    }
}
