//! Optional web calls to the operator's CRM (the seed's "external web
//! call"): find the account for a number, and check a spoken passphrase
//! where the CRM, not our store, holds it.
//!
//! Behaviour on failure: no retries (the caller is waiting and the flow
//! has its own deadline). A timeout, a refused connection, an unexpected
//! status or an unreadable answer is a [`CrmError`]; the `*_for_flow`
//! methods turn it into `LookupResult::Failed` or
//! `PassphraseCheck::Error`, which send the caller to a representative.

mod client;
mod config;
mod error;
mod wire;

pub use client::CrmClient;
pub use config::CrmConfig;
pub use error::CrmError;
