//! SIP over TLS (RFC 3261 §26, RFC 5630) on rustls: the server's
//! certificate and key, optional client certificates (mutual TLS with the
//! trunks' CAs), and reloading both without touching connections already up.
//!
//! A TLS connection is admitted, capped and timed exactly like a TCP one
//! (`tcp_admission`); the handshake must finish within the message timeout.
//! When a caller's connection has closed, a request of ours in its dialog
//! goes over a new connection we open (`tls_dial`), and the trunk's
//! certificate must then chain to the trunk CAs ([`client_config`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Where the certificates come from and whom we accept (`sip.tls.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (ECDSA).
    pub key: PathBuf,
    /// PEM CA certificates of the trunks allowed to connect. When set, a
    /// client must present a valid, unexpired certificate issued by one.
    pub client_ca: Option<PathBuf>,
    /// SHA-256 fingerprints of client certificates taken as they are
    /// (self-signed trunk certificates). With `client_ca` or these, every
    /// client must present a certificate.
    pub client_fingerprints: Vec<crate::tls_client_auth::Fingerprint>,
    /// Refuse TLS 1.2 (only 1.3 is offered).
    pub tls13_only: bool,
    /// PEM CA certificates a trunk's certificate must chain to when we open
    /// the connection. None: `client_ca`, and without that the public CAs
    /// of Mozilla's list (webpki-roots).
    pub trunk_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_error(path: &Path, problem: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e))? {
        let ca = ca.map_err(|e| file_error(path, e))?;
        roots.add(ca).map_err(|e| file_error(path, e))?;
    }
    if roots.is_empty() {
        return Err(file_error(path, "no CA certificate in the file"));
    }
    Ok(roots)
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
static TLS13_AND_12: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn versions(settings: &TlsSettings) -> &'static [&'static rustls::SupportedProtocolVersion] {
    if settings.tls13_only {
        TLS13_ONLY
    } else {
        TLS13_AND_12
    }
}

/// The rustls client configuration of the connections we open: the peer's
/// certificate must be valid for the host we dial and chain to the trunk
/// CAs (`trunk_ca`, else `client_ca`, else Mozilla's public roots). No
/// client certificate is presented.
pub fn client_config(settings: &TlsSettings) -> Result<ClientConfig, TlsError> {
    let roots = match settings.trunk_ca.as_ref().or(settings.client_ca.as_ref()) {
        Some(path) => read_roots(path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(settings))
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Builds the rustls server configuration `settings` describe.
pub fn server_config(settings: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&settings.cert)
        .map_err(|e| file_error(&settings.cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(&settings.cert, e))?;
    if certs.is_empty() {
        return Err(file_error(&settings.cert, "no certificate in the file"));
    }
    // The key's own error could quote what it read: name the file only.
    let key = PrivateKeyDer::from_pem_file(&settings.key)
        .map_err(|_| file_error(&settings.key, "no PEM private key could be read"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(settings))
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let issued = match &settings.client_ca {
        None => None,
        Some(path) => {
            let roots = read_roots(path)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
            Some(verifier)
        }
    };
    let builder = if issued.is_none() && settings.client_fingerprints.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_verifier(Arc::new(crate::tls_client_auth::PinnedOrIssued {
            issued,
            pins: settings.client_fingerprints.clone(),
            algorithms: provider.signature_verification_algorithms,
        }))
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(format!("certificate and key: {e}")))
}

/// The configuration new connections get. [`TlsConfigStore::reload`]
/// swaps it; connections already up keep the session they negotiated, so
/// calls on them go on.
pub struct TlsConfigStore {
    settings: TlsSettings,
    current: RwLock<(Arc<ServerConfig>, Arc<ClientConfig>)>,
}

impl TlsConfigStore {
    pub fn load(settings: TlsSettings) -> Result<TlsConfigStore, TlsError> {
        let server = Arc::new(server_config(&settings)?);
        let client = Arc::new(client_config(&settings)?);
        Ok(TlsConfigStore {
            settings,
            current: RwLock::new((server, client)),
        })
    }

    /// Reads the files again. On error the previous configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let server = Arc::new(server_config(&self.settings)?);
        let client = Arc::new(client_config(&self.settings)?);
        let mut current = self
            .current
            .write()
            .map_err(|_| TlsError::Config("configuration lock poisoned".into()))?;
        *current = (server, client);
        Ok(())
    }

    /// What a connection we open checks the peer with.
    pub fn connector(&self) -> io::Result<tokio_rustls::TlsConnector> {
        let current = self
            .current
            .read()
            .map_err(|_| io::Error::other("TLS configuration lock poisoned"))?;
        Ok(tokio_rustls::TlsConnector::from(current.1.clone()))
    }

    pub fn acceptor(&self) -> io::Result<tokio_rustls::TlsAcceptor> {
        let current = self
            .current
            .read()
            .map_err(|_| io::Error::other("TLS configuration lock poisoned"))?;
        Ok(tokio_rustls::TlsAcceptor::from(current.0.clone()))
    }
}
