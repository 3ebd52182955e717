//! Certificates for the TLS tests, made with the `openssl` command (Debian
//! `openssl`) in a test's own directory and never committed: a CA, the
//! certificates it issues (server or client, RSA or ECDSA, current or
//! expired), and a self-signed stranger. Also base64 for SDES keys.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/ensure-deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and certificates it signs, made fresh in `dir`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
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
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Passgate test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `name.pem` and `name.key` (key "rsa" or "ec"), signed by the CA for
    /// 127.0.0.1, for `usage` serverAuth or clientAuth.
    pub fn issue(&self, name: &str, key: &str, usage: &str) {
        self.issue_for_days(name, key, usage, "2");
    }

    /// As [`Pki::issue`]; "-1" days makes a certificate that has expired.
    pub fn issue_for_days(&self, name: &str, key: &str, usage: &str, days: &str) {
        let newkey = if key == "rsa" { "rsa:2048" } else { "ec" };
        let mut req = vec![
            "req",
            "-new",
            "-newkey",
            newkey,
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ];
        if key == "ec" {
            req.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
        }
        let (keyfile, csr) = (format!("{name}.key"), format!("{name}.csr"));
        req.extend(["-keyout", &keyfile, "-out", &csr]);
        openssl(&self.dir, &req);
        let ext = format!("{name}.ext");
        std::fs::write(
            self.dir.join(&ext),
            format!(
                "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n"
            ),
        )
        .unwrap();
        let pem = format!("{name}.pem");
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                days,
                "-extfile",
                &ext,
            ],
        );
    }
}

/// A self-signed client certificate no configured CA issued.
pub fn stranger(dir: &Path) {
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
            "stranger.key",
            "-out",
            "stranger.pem",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
    );
}

pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn unbase64(text: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut acc, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | A.iter().position(|&a| a == c).expect("base64") as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
