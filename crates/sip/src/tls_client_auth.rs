//! Which client certificates a TLS listener takes: those issued by the
//! trunks' CAs (`client_ca`, checked by webpki: chain, dates, usage), and
//! those whose SHA-256 fingerprint is pinned (`client_fingerprints`), for
//! trunks that present a self-signed certificate. A pinned certificate is
//! trusted as the exact bytes the operator named; its dates are not checked.
//! Either way the client must prove it holds the certificate's key.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use sha2::{Digest, Sha256};

/// A SHA-256 certificate fingerprint.
pub type Fingerprint = [u8; 32];

/// Reads `AB:CD:…` or `abcd…` (64 hex digits, colons optional).
pub fn parse_fingerprint(text: &str) -> Option<Fingerprint> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

pub fn fingerprint(cert: &CertificateDer<'_>) -> Fingerprint {
    Sha256::digest(cert.as_ref()).into()
}

#[derive(Debug)]
pub struct PinnedOrIssued {
    pub issued: Option<Arc<dyn ClientCertVerifier>>,
    pub pins: Vec<Fingerprint>,
    pub algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedOrIssued {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.issued.as_ref().map_or(&[], |v| v.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if self.pins.contains(&fingerprint(end_entity)) {
            return Ok(ClientCertVerified::assertion());
        }
        match &self.issued {
            Some(v) => v.verify_client_cert(end_entity, intermediates, now),
            None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_with_or_without_colons() {
        let plain = "00".repeat(31) + "ff";
        let colons = plain
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        let a = parse_fingerprint(&plain).unwrap();
        assert_eq!(a[31], 0xff);
        assert_eq!(parse_fingerprint(&colons), Some(a));
        assert_eq!(parse_fingerprint(&plain[2..]), None);
        assert_eq!(parse_fingerprint(&("zz".to_string() + &plain[2..])), None);
    }
}
