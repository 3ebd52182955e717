//! What the endpoint tells the application: a new call, and what happens to
//! each call after, by its [`CallHandle`].

use std::net::SocketAddr;

use crate::sdp::Negotiated;
use crate::transport::TransportKind;

/// Identifies one call to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub call: CallHandle,
    pub call_id: String,
    pub request_uri: String,
    pub from_uri: String,
    pub from_display: Option<String>,
    pub to_uri: String,
    /// Kept only from `trusted_identity_sources` (RFC 3325).
    pub p_asserted_identity: Option<String>,
    /// Kept only from `trusted_identity_sources`.
    pub remote_party_id: Option<String>,
    /// Whether the source is in `trusted_identity_sources`: when not, the
    /// caller's number is From's, which anyone may write.
    pub identity_trusted: bool,
    /// The STIR/SHAKEN verification result a trusted source gave
    /// (`verstat`), e.g. `TN-Validation-Passed`.
    pub verstat: Option<String>,
    pub privacy: Option<String>,
    pub user_agent: Option<String>,
    pub source: SocketAddr,
    pub transport: TransportKind,
    /// What we will answer with; None when the INVITE carried no offer (we
    /// then offer in the 200 and learn the codec from the ACK).
    pub media: Option<Negotiated>,
    /// Without an offer in the INVITE: our offer's first choice, for the
    /// call's media until the ACK's answer arrives as
    /// [`Event::MediaUpdated`] (always before [`Event::CallConfirmed`]).
    pub provisional_media: Option<Negotiated>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferStatus {
    /// 202 to our REFER.
    Accepted,
    /// The REFER itself was refused (or timed out: 408).
    Rejected(u16),
    /// A NOTIFY reported a provisional response from the transfer target.
    Progress(u16),
    /// A NOTIFY reported the final response of the transfer target.
    Completed(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    RemoteBye,
    LocalBye,
    Cancelled,
    /// Our 2xx was never acknowledged (64·T1); we sent BYE.
    AckTimeout,
    /// The peer answered 481 to a request of ours in the dialog (RFC 5057):
    /// the dialog no longer exists there; no BYE is sent.
    DialogGone,
    /// The application (or negotiation) rejected the INVITE with this code.
    Rejected(u16),
    /// We offered in our 2xx (the INVITE had no SDP) and the ACK carried no
    /// acceptable answer; we sent BYE (RFC 3261 §13.2.1, RFC 3264 §5).
    NoAcceptableAnswer,
    /// The caller did not refresh the session within the interval our 2xx
    /// agreed to (RFC 4028); we sent BYE.
    SessionExpired,
}

#[derive(Debug, Clone)]
pub enum Event {
    IncomingCall(Box<IncomingCall>),
    /// The ACK for our 2xx arrived: media may flow both ways.
    CallConfirmed {
        call: CallHandle,
    },
    /// A re-INVITE or UPDATE (or the ACK of a late offer) changed the
    /// media.
    MediaUpdated {
        call: CallHandle,
        media: Box<Negotiated>,
    },
    /// A DTMF digit sent in an INFO request.
    InfoDigit {
        call: CallHandle,
        digit: crate::info_dtmf::InfoDigit,
    },
    /// An INFO request with any other body.
    Info {
        call: CallHandle,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    Refer {
        call: CallHandle,
        status: ReferStatus,
    },
    CallEnded {
        call: CallHandle,
        reason: EndReason,
    },
}
