//! Who is calling: the caller's number from SIP identity headers, and numbers
//! typed on the keypad, both in E.164 form so that one account lookup serves
//! every way a number can reach us.

mod caller_id;
mod e164;
mod plan;

pub use caller_id::{caller_identity, caller_number, CallerHeaders, CallerIdentity};
pub use e164::{PhoneError, E164};
pub use plan::{CountryCode, NumberingPlan};
