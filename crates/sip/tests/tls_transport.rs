//! The driver's TLS listener on loopback, with certificates the test makes
//! with the `openssl` command: OPTIONS answered over TLS with our Contact on
//! `transport=tls`, RSA (PKCS#1 and PKCS#8) and ECDSA keys, a client that
//! does not speak TLS closed and counted, the TCP caps applied to TLS, and
//! reload keeping the previous certificate when the new files are bad.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sip::driver::{start_with_tls, TlsListen};
use sip::{EndpointConfig, TcpLimits, TlsConfigStore, TlsSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!(
            "passgate-tls-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `server.pem` for 127.0.0.1 with its key `server.key` in the form
/// `key` names, self-signed (the client trusts it directly).
fn server_cert(dir: &Path, key: &str) {
    match key {
        "rsa-pkcs1" => openssl(
            dir,
            &["genrsa", "-traditional", "-out", "server.key", "2048"],
        ),
        "rsa-pkcs8" => openssl(dir, &["genpkey", "-algorithm", "RSA", "-out", "server.key"]),
        "ec-sec1" => openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "server.key",
            ],
        ),
        other => panic!("{other}"),
    }
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-key",
            "server.key",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
}

fn settings(dir: &Path) -> TlsSettings {
    TlsSettings {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_ca: None,
        client_fingerprints: Vec::new(),
        tls13_only: false,
        trunk_ca: None,
    }
}

async fn tls_client(dir: &Path, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    try_tls_client(dir, addr, None).await.unwrap()
}

/// A TLS client trusting `server.pem`, presenting `client` (`NAME.pem`,
/// `NAME.key`) when given.
async fn try_tls_client(
    dir: &Path,
    addr: SocketAddr,
    client: Option<&str>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("server.pem")).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        None => config.with_no_client_auth(),
        Some(name) => config
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(dir.join(format!("{name}.pem"))).unwrap()],
                PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap(),
            )
            .unwrap(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
}

/// A self-signed client certificate `NAME.pem` with its key `NAME.key`.
fn client_cert(dir: &Path, name: &str) {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            "/CN=trunk",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
}

fn options(from: SocketAddr) -> String {
    format!(
        "OPTIONS sip:passgate@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TLS {from};branch=z9hG4bK-tls-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sips:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:passgate@127.0.0.1>\r\n\
         Call-ID: tls-options-1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

async fn read_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut buf = vec![0u8; 4096];
    let mut text = String::new();
    while !text.contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(n > 0, "closed before a response: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}

async fn start(dir: &Path, limits: TcpLimits) -> (sip::driver::SipServer, Arc<TlsConfigStore>) {
    start_with(settings(dir), limits).await
}

async fn start_with(
    settings: TlsSettings,
    limits: TcpLimits,
) -> (sip::driver::SipServer, Arc<TlsConfigStore>) {
    let store = Arc::new(TlsConfigStore::load(settings).unwrap());
    let server = start_with_tls(
        "127.0.0.1:0".parse().unwrap(),
        EndpointConfig::new("127.0.0.1:0".parse().unwrap()),
        limits,
        Some(TlsListen {
            listen: "127.0.0.1:0".parse().unwrap(),
            config: store.clone(),
        }),
    )
    .await
    .unwrap();
    (server, store)
}

#[tokio::test]
async fn options_over_tls_with_each_key_form() {
    for key in ["rsa-pkcs1", "rsa-pkcs8", "ec-sec1"] {
        let dir = Dir::new(key);
        server_cert(&dir.0, key);
        let (server, _) = start(&dir.0, TcpLimits::default()).await;
        let tls_addr = server.tls_addr.unwrap();
        assert_ne!(tls_addr.port(), server.local_addr.port());
        let mut client = tls_client(&dir.0, tls_addr).await;
        let me = client.get_ref().0.local_addr().unwrap();
        client.write_all(options(me).as_bytes()).await.unwrap();
        let response = read_response(&mut client).await;
        assert!(response.starts_with("SIP/2.0 200"), "{key}: {response}");
        assert!(response.contains("Via: SIP/2.0/TLS"), "{response}");
        assert!(
            response.contains(&format!(
                "Contact: <sip:passgate@127.0.0.1:{};transport=tls>",
                tls_addr.port()
            )),
            "{key}: {response}"
        );
    }
}

#[tokio::test]
async fn plain_sip_on_the_tls_port_is_closed_and_counted_and_tcp_caps_apply() {
    let dir = Dir::new("caps");
    server_cert(&dir.0, "ec-sec1");
    let limits = TcpLimits {
        max_per_source: 1,
        ..TcpLimits::default()
    };
    let (server, _) = start(&dir.0, limits).await;
    let tls_addr = server.tls_addr.unwrap();
    let mut plain = TcpStream::connect(tls_addr).await.unwrap();
    let me = plain.local_addr().unwrap();
    plain.write_all(options(me).as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read(&mut buf)).await;
    let text = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        _ => String::new(),
    };
    assert!(!text.contains("SIP/2.0"), "plain SIP answered: {text}");
    drop(plain);
    let stats = loop {
        let s = server.handle.stats().await.unwrap();
        if s.tcp.tls_handshake_failed > 0 {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stats.tcp.tls_handshake_failed, 1);
    // One connection per source: a second one is refused at once.
    let _first = tls_client(&dir.0, tls_addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(tls_addr).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the second connection was closed");
    let stats = server.handle.stats().await.unwrap();
    assert_eq!(stats.tcp.refused_per_source, 1);
}

#[tokio::test]
async fn a_reload_takes_new_files_and_keeps_the_old_ones_when_the_new_are_bad() {
    let dir = Dir::new("reload");
    server_cert(&dir.0, "rsa-pkcs8");
    let (server, store) = start(&dir.0, TcpLimits::default()).await;
    let tls_addr = server.tls_addr.unwrap();
    // A key file that is not a key: the reload fails, names the file and
    // not its contents, and the previous certificate goes on serving.
    let good_key = std::fs::read(dir.0.join("server.key")).unwrap();
    std::fs::write(dir.0.join("server.key"), b"not a key: s3cr3t-material").unwrap();
    let err = store.reload().unwrap_err().to_string();
    assert!(
        err.contains("server.key") && !err.contains("s3cr3t"),
        "{err}"
    );
    let mut client = tls_client(&dir.0, tls_addr).await;
    let me = client.get_ref().0.local_addr().unwrap();
    client.write_all(options(me).as_bytes()).await.unwrap();
    assert!(read_response(&mut client).await.starts_with("SIP/2.0 200"));
    // New files: new connections get the new certificate; the connection
    // already up keeps working.
    std::fs::write(dir.0.join("server.key"), good_key).unwrap();
    server_cert(&dir.0, "ec-sec1");
    store.reload().unwrap();
    let mut fresh = tls_client(&dir.0, tls_addr).await;
    let me = fresh.get_ref().0.local_addr().unwrap();
    fresh.write_all(options(me).as_bytes()).await.unwrap();
    assert!(read_response(&mut fresh).await.starts_with("SIP/2.0 200"));
    let served = fresh.get_ref().1.peer_certificates().unwrap()[0].clone();
    let expected = CertificateDer::from_pem_file(dir.0.join("server.pem")).unwrap();
    assert_eq!(served, expected);
    let me = client.get_ref().0.local_addr().unwrap();
    client
        .write_all(
            options(me)
                .replace("tls-options-1", "tls-options-2")
                .replace("-tls-1", "-tls-2")
                .as_bytes(),
        )
        .await
        .unwrap();
    assert!(read_response(&mut client).await.starts_with("SIP/2.0 200"));
}

#[tokio::test]
async fn a_pinned_self_signed_client_certificate_is_taken_and_another_is_refused() {
    let dir = Dir::new("pinned");
    server_cert(&dir.0, "ec-sec1");
    client_cert(&dir.0, "trunk");
    client_cert(&dir.0, "other");
    let pinned = sip::tls_client_auth::fingerprint(
        &CertificateDer::from_pem_file(dir.0.join("trunk.pem")).unwrap(),
    );
    let settings = TlsSettings {
        client_fingerprints: vec![pinned],
        ..settings(&dir.0)
    };
    let (server, _) = start_with(settings, TcpLimits::default()).await;
    let tls_addr = server.tls_addr.unwrap();
    let mut trunk = try_tls_client(&dir.0, tls_addr, Some("trunk"))
        .await
        .unwrap();
    let me = trunk.get_ref().0.local_addr().unwrap();
    trunk.write_all(options(me).as_bytes()).await.unwrap();
    assert!(read_response(&mut trunk).await.starts_with("SIP/2.0 200"));
    for client in [Some("other"), None] {
        // TLS 1.3 clients finish first; the server's refusal shows on use.
        let answered = match try_tls_client(&dir.0, tls_addr, client).await {
            Err(_) => false,
            Ok(mut stream) => {
                let _ = stream.write_all(options(me).as_bytes()).await;
                let mut buf = [0u8; 64];
                matches!(
                    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await,
                    Ok(Ok(n)) if n > 0
                )
            }
        };
        assert!(!answered, "{client:?} was answered");
    }
    let mut failed = 0;
    for _ in 0..100 {
        failed = server
            .handle
            .stats()
            .await
            .unwrap()
            .tcp
            .tls_handshake_failed;
        if failed >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(failed, 2);
}
