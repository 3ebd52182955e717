//! The two-factor call flow and the pieces it is made of: caller numbers,
//! passphrases, one-time codes. Everything here is sans-IO: no sockets, no
//! clock, no database; time and results come in as inputs.

pub mod flow;
pub mod otp;
pub mod passphrase;
pub mod phone;
pub mod secret;
