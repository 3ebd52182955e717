use std::fmt;

use rand::rngs::OsRng;
use rand::TryRngCore;
use thiserror::Error;

use crate::secret::SecretString;

#[derive(Debug, Error)]
pub enum OtpError {
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("a one-time code must have 4 to 10 digits, not {0}")]
    Length(usize),
    #[error("a one-time code must allow at least one try")]
    NoTries,
}

/// Where unpredictable bytes come from. Production uses the OS CSPRNG;
/// tests substitute a seeded or failing source.
pub trait SecretSource {
    fn fill(&mut self, bytes: &mut [u8]) -> Result<(), OtpError>;
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsSecretSource;

impl SecretSource for OsSecretSource {
    fn fill(&mut self, bytes: &mut [u8]) -> Result<(), OtpError> {
        OsRng
            .try_fill_bytes(bytes)
            .map_err(|e| OtpError::Random(e.to_string()))
    }
}

/// A one-time code in clear: it exists only between generation and the SMS
/// gateway. `Debug` is redacted.
#[derive(Clone)]
pub struct OtpCode(SecretString);

impl OtpCode {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

/// A code of `length` uniformly random decimal digits.
pub fn generate_code(source: &mut dyn SecretSource, length: usize) -> Result<OtpCode, OtpError> {
    // Bytes of 250 and above are dropped so that `byte % 10` is uniform.
    const UNBIASED_LIMIT: u8 = 250;
    let mut code = String::with_capacity(length);
    let mut bytes = [0u8; 16];
    while code.len() < length {
        source.fill(&mut bytes)?;
        for byte in bytes {
            if byte < UNBIASED_LIMIT && code.len() < length {
                code.push(char::from(b'0' + byte % 10));
            }
        }
    }
    Ok(OtpCode(SecretString::new(code)))
}

#[cfg(test)]
pub(crate) mod test_sources {
    use super::*;

    /// Deterministic bytes from a small xorshift: not secure, reproducible.
    pub struct Seeded(pub u64);

    impl SecretSource for Seeded {
        fn fill(&mut self, bytes: &mut [u8]) -> Result<(), OtpError> {
            for byte in bytes {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *byte = self.0 as u8;
            }
            Ok(())
        }
    }

    /// Always fails, as a broken entropy source would.
    pub struct Broken;

    impl SecretSource for Broken {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), OtpError> {
            Err(OtpError::Random("entropy source unavailable".to_string()))
        }
    }

    /// Replays fixed bytes, to exercise the bias rejection.
    pub struct Fixed(pub Vec<u8>);

    impl SecretSource for Fixed {
        fn fill(&mut self, bytes: &mut [u8]) -> Result<(), OtpError> {
            for byte in bytes {
                *byte = self.0[0];
                self.0.rotate_left(1);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_sources::{Broken, Fixed};
    use super::*;

    #[test]
    fn codes_have_the_requested_number_of_digits() {
        for length in [4, 6, 10] {
            let code = generate_code(&mut OsSecretSource, length).unwrap();
            assert_eq!(code.expose().len(), length);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn bytes_that_would_bias_digits_are_skipped() {
        let mut source = Fixed(vec![255, 250, 3, 251, 14, 99, 200]);
        let code = generate_code(&mut source, 4).unwrap();
        assert_eq!(code.expose(), "3490");
    }

    #[test]
    fn digits_are_roughly_uniform() {
        let mut counts = [0u32; 10];
        for _ in 0..2_000 {
            let code = generate_code(&mut OsSecretSource, 10).unwrap();
            for b in code.expose().bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        // 20,000 digits: each expected 2,000; 5 sigma is about 210.
        for (digit, count) in counts.iter().enumerate() {
            assert!((1_750..=2_250).contains(count), "digit {digit}: {count}");
        }
    }

    #[test]
    fn a_failing_source_is_an_error_not_a_weak_code() {
        assert!(matches!(
            generate_code(&mut Broken, 4),
            Err(OtpError::Random(_))
        ));
    }

    #[test]
    fn debug_hides_the_code() {
        let code = generate_code(&mut Fixed(vec![1, 2, 3, 4]), 4).unwrap();
        assert_eq!(code.expose(), "1234");
        assert_eq!(format!("{code:?}"), "OtpCode(<redacted>)");
    }
}
