use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::error::SmsError;

/// The header a webhook receiver checks to know the request is ours.
pub const SIGNATURE_HEADER: &str = "X-Passgate-Signature";

/// `sha256=` and the hex HMAC-SHA256 of exactly the bytes sent, so the
/// receiver verifies the raw body before parsing it.
pub fn sign(secret: &[u8], body: &[u8]) -> Result<String, SmsError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|_| SmsError::Config("the webhook signing secret is unusable".to_string()))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        crate::hex::encode(&mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        let signature = sign(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            signature,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
