//! A browser's call: its offer is answered by the WebRTC transport (str0m,
//! ICE-lite with one host candidate on the call's RTP port), and its media
//! session sends and receives through that transport. Everything above the
//! media (the flow, prompts, the recognizer, keys by INFO) is a trunk
//! call's.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use media::{MediaSession, WebRtcCodec, WebRtcTransport};
use sip::{Codec, Negotiated};

use crate::services::MediaResources;

/// The call's media session and, for a WebRTC offer, the answer's SDP
/// (else the endpoint writes the answer). `rtp_local` is the RTP socket's
/// address; the answer's candidate is its port at `media.media_ip`.
pub fn media_for(
    media: &MediaResources,
    neg: &Negotiated,
    rtp_local: Option<SocketAddr>,
) -> anyhow::Result<(MediaSession, Option<String>)> {
    let session = media.session(neg, rtp_local)?;
    let Some(offer) = &neg.webrtc else {
        return Ok((session, None));
    };
    let port = rtp_local.map_or(0, |a| a.port());
    let candidate = SocketAddr::new(media.media_ip, port);
    let codec = match neg.codec {
        Codec::Pcmu => WebRtcCodec::Pcmu,
        Codec::Pcma => WebRtcCodec::Pcma,
        Codec::Opus => WebRtcCodec::Opus,
    };
    // The events' clock the negotiation preferred: the codec's.
    let events = neg.telephone_event.map(|pt| (pt, neg.codec.clock_rate()));
    let (transport, answer) =
        WebRtcTransport::accept(Instant::now(), &offer.0, candidate, codec, events)
            .context("answering the WebRTC offer")?;
    Ok((session.with_webrtc(transport), Some(answer)))
}
