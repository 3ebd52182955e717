//! One-time codes for the SMS factor: generated from the OS CSPRNG, kept
//! only as a salted hash, valid once, for a limited time and a limited
//! number of tries. Time is an input; the store that persists codes across
//! nodes comes later and keeps the same [`IssuedCode`] fields.

mod code;
mod issued;
mod policy;

pub use code::{generate_code, OsSecretSource, OtpCode, OtpError, SecretSource};
pub use issued::{CodeCheck, IssuedCode};
pub use policy::OtpPolicy;

#[cfg(test)]
pub(crate) use code::test_sources;

pub(crate) use issued::{salted_digest, SALT_LEN};
