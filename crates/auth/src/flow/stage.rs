use serde::Serialize;

/// Where a call is in the flow, without the data the state carries: for
/// audit rows ("hung up during passphrase") and for the driver's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    AwaitingCallerId,
    CallerLookup,
    OfferTypedNumber,
    NumberEntry,
    NumberLookup,
    Passphrase,
    PassphraseCheck,
    SendingCode,
    CodeEntry,
    Menu,
    Transferring,
    Ended,
}
