//! The two-factor call flow and the pieces it is made of: caller numbers,
//! passphrases, one-time codes. The flow and those pieces are sans-IO: no
//! sockets, no clock, no database; time and results come in as inputs.
//!
//! The I/O the flow's actions call for lives beside it: the account store
//! ([`store`]), SMS gateways ([`sms`]) and optional CRM web calls ([`crm`]).

pub mod crm;
pub mod flow;
mod hex;
pub mod otp;
pub mod passphrase;
pub mod phone;
pub mod secret;
pub mod sms;
pub mod store;
