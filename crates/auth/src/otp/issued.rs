use std::fmt;
use std::time::Instant;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::code::{generate_code, OtpCode, OtpError, SecretSource};
use super::policy::OtpPolicy;

pub(crate) const SALT_LEN: usize = 16;

/// What checking an entered code concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    Rejected {
        tries_left: u32,
    },
    /// That was the last try: the code is void.
    Exhausted,
    Expired,
    /// Already accepted or exhausted once: single use.
    Spent,
}

/// A code that has been issued, remembered only as SHA-256(salt ‖ code).
/// With a per-code random salt, the digest of one code says nothing about
/// another; the short lifetime and try limit are what protect the small
/// code space, not the hash.
#[derive(Clone)]
pub struct IssuedCode {
    salt: [u8; SALT_LEN],
    digest: [u8; 32],
    expires_at: Instant,
    tries_left: u32,
    spent: bool,
}

impl IssuedCode {
    /// Generates a code and the record to check it against. The clear code
    /// goes to the SMS gateway; only the record is kept.
    pub fn issue(
        source: &mut dyn SecretSource,
        policy: &OtpPolicy,
        now: Instant,
    ) -> Result<(OtpCode, IssuedCode), OtpError> {
        policy.validate()?;
        let code = generate_code(source, policy.length)?;
        let mut salt = [0u8; SALT_LEN];
        source.fill(&mut salt)?;
        let issued = IssuedCode {
            salt,
            digest: salted_digest(&salt, code.expose()),
            expires_at: now + policy.lifetime,
            tries_left: policy.max_tries,
            spent: false,
        };
        Ok((code, issued))
    }

    /// Checks what the caller entered. Every wrong entry uses a try; an
    /// expired code is refused without using one.
    pub fn check(&mut self, now: Instant, entered: &str) -> CodeCheck {
        if self.spent {
            return CodeCheck::Spent;
        }
        if self.is_expired(now) {
            return CodeCheck::Expired;
        }
        let entered_digest = salted_digest(&self.salt, entered);
        if bool::from(entered_digest.ct_eq(&self.digest)) {
            self.spent = true;
            return CodeCheck::Accepted;
        }
        self.tries_left = self.tries_left.saturating_sub(1);
        if self.tries_left == 0 {
            self.spent = true;
            CodeCheck::Exhausted
        } else {
            CodeCheck::Rejected {
                tries_left: self.tries_left,
            }
        }
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }

    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    pub fn tries_left(&self) -> u32 {
        self.tries_left
    }
}

pub(crate) fn salted_digest(salt: &[u8], code: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(code.as_bytes());
    hasher.finalize().into()
}

/// Salt and digest together give the code away in at most 10^length
/// hashes, so neither is shown.
impl fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCode")
            .field("expires_at", &self.expires_at)
            .field("tries_left", &self.tries_left)
            .field("spent", &self.spent)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::code::test_sources::{Broken, Seeded};
    use super::*;

    fn issue(now: Instant) -> (String, IssuedCode) {
        let (code, issued) = IssuedCode::issue(&mut Seeded(7), &OtpPolicy::default(), now).unwrap();
        (code.expose().to_string(), issued)
    }

    fn wrong(code: &str) -> String {
        code.chars()
            .map(|c| {
                if c == '9' {
                    '0'
                } else {
                    char::from(c as u8 + 1)
                }
            })
            .collect()
    }

    #[test]
    fn right_code_is_accepted_once() {
        let t0 = Instant::now();
        let (code, mut issued) = issue(t0);
        assert_eq!(
            issued.check(t0 + Duration::from_secs(5), &code),
            CodeCheck::Accepted
        );
        assert_eq!(
            issued.check(t0 + Duration::from_secs(6), &code),
            CodeCheck::Spent
        );
    }

    #[test]
    fn wrong_codes_use_tries_until_exhausted() {
        let t0 = Instant::now();
        let (code, mut issued) = issue(t0);
        let bad = wrong(&code);
        assert_eq!(
            issued.check(t0, &bad),
            CodeCheck::Rejected { tries_left: 2 }
        );
        assert_eq!(issued.check(t0, ""), CodeCheck::Rejected { tries_left: 1 });
        assert_eq!(issued.check(t0, &bad), CodeCheck::Exhausted);
        assert_eq!(issued.check(t0, &code), CodeCheck::Spent);
    }

    #[test]
    fn a_wrong_try_then_the_right_code_is_accepted() {
        let t0 = Instant::now();
        let (code, mut issued) = issue(t0);
        assert_eq!(
            issued.check(t0, &wrong(&code)),
            CodeCheck::Rejected { tries_left: 2 }
        );
        assert_eq!(issued.check(t0, &code), CodeCheck::Accepted);
    }

    #[test]
    fn code_expires_after_its_lifetime_without_using_tries() {
        let t0 = Instant::now();
        let (code, mut issued) = issue(t0);
        assert!(!issued.is_expired(t0 + Duration::from_millis(59_999)));
        assert_eq!(issued.expires_at(), t0 + Duration::from_secs(60));
        assert_eq!(
            issued.check(t0 + Duration::from_secs(60), &code),
            CodeCheck::Expired
        );
        assert_eq!(issued.tries_left(), 3);
        let (code, mut fresh) = issue(t0);
        assert_eq!(
            fresh.check(t0 + Duration::from_millis(59_999), &code),
            CodeCheck::Accepted
        );
    }

    #[test]
    fn codes_are_stored_salted() {
        let t0 = Instant::now();
        let (code, issued) = issue(t0);
        assert_ne!(issued.digest, salted_digest(&[0; SALT_LEN], &code));
        assert_eq!(issued.digest, salted_digest(&issued.salt, &code));
    }

    #[test]
    fn debug_shows_neither_code_nor_digest() {
        let (code, issued) = issue(Instant::now());
        let shown = format!("{issued:?}");
        assert!(!shown.contains(&code), "{shown}");
        assert!(
            !shown.contains("digest") && !shown.contains("salt"),
            "{shown}"
        );
    }

    #[test]
    fn issue_fails_cleanly_without_entropy_or_with_a_bad_policy() {
        let now = Instant::now();
        assert!(matches!(
            IssuedCode::issue(&mut Broken, &OtpPolicy::default(), now),
            Err(OtpError::Random(_))
        ));
        let bad = OtpPolicy {
            length: 2,
            ..OtpPolicy::default()
        };
        assert!(matches!(
            IssuedCode::issue(&mut Seeded(1), &bad, now),
            Err(OtpError::Length(2))
        ));
    }
}
