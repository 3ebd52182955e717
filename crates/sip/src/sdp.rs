//! SDP offer/answer (RFC 3264) for one audio stream.
//!
//! We answer the first audio `RTP/AVP` stream with one codec chosen by our
//! preference among those offered, plus `telephone-event` at the payload type
//! and clock rate the *offer* used, and refuse every other stream (port 0).
//! With SRTP on (`MediaPolicy::srtp`), an `RTP/SAVP` stream, or an `RTP/AVP`
//! one carrying `a=crypto`, is answered with SDES keys ([`crate::sdes`]).

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use crate::sdes::{self, CryptoOffer, SrtpKey, SrtpMode, SrtpParams, SrtpSuite};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Pcmu,
    Pcma,
    Opus,
}

impl Codec {
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
        }
    }

    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48000,
        }
    }

    fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::Opus => None,
        }
    }

    fn matches(self, encoding: &str, clock: u32) -> bool {
        encoding.eq_ignore_ascii_case(self.encoding_name()) && clock == self.clock_rate()
    }
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pcmu" => Ok(Codec::Pcmu),
            "pcma" => Ok(Codec::Pcma),
            "opus" => Ok(Codec::Opus),
            other => Err(format!(
                "unknown codec {other:?} (expected pcmu, pcma or opus)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes for an offer in this direction (§6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether we may send media in an answer with this direction.
    pub fn we_send(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    fn parse(attr: &str) -> Option<Direction> {
        Some(match attr {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub kind: String,
    pub port: u16,
    pub protocol: String,
    pub formats: Vec<String>,
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    pub ptime: Option<u32>,
    pub direction: Option<Direction>,
    /// `a=rtcp` (RFC 3605): the RTCP port, and address when it is not the stream's.
    pub rtcp: Option<(u16, Option<IpAddr>)>,
    /// `a=rtcp-mux` (RFC 5761): RTCP shares the RTP port.
    pub rtcp_mux: bool,
    /// The `a=crypto` lines we could use, in the offer's order of preference.
    pub crypto: Vec<CryptoOffer>,
    /// `a=fingerprint` (RFC 8122): the stream's keys come from DTLS.
    pub fingerprint: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub connection: Option<IpAddr>,
    /// A session-level `a=fingerprint`, for every stream.
    pub fingerprint: bool,
    pub direction: Option<Direction>,
    pub media: Vec<MediaDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP line {line}: {problem}")]
    Syntax { line: usize, problem: String },
    #[error("SDP has no v= line")]
    NoVersion,
    #[error("no audio stream over RTP/AVP in the offer")]
    NoAudio,
    #[error("none of the offered codecs ({offered}) is enabled here")]
    NoCommonCodec { offered: String },
    #[error("the audio stream has no connection address")]
    NoConnection,
    #[error("SRTP is required here and the offer is plain RTP")]
    SrtpRequired,
    #[error("no usable a=crypto in the RTP/SAVP offer (AES_CM_128_HMAC_SHA1_80 or _32, AES_256_CM_HMAC_SHA1_80 or _32, one key, no MKI)")]
    NoUsableCrypto,
    #[error("SRTP is off here (rtp.srtp) and the offer has only RTP/SAVP")]
    SrtpOff,
}

impl SdpError {
    /// The SIP status this failure answers an INVITE with.
    pub fn status(&self) -> u16 {
        match self {
            SdpError::Syntax { .. } | SdpError::NoVersion => 400,
            _ => 488,
        }
    }
}

pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut session = SessionDescription {
        connection: None,
        fingerprint: false,
        direction: None,
        media: Vec::new(),
    };
    let mut saw_version = false;
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let syntax = |problem: &str| SdpError::Syntax {
            line: idx + 1,
            problem: problem.to_string(),
        };
        let (kind, value) = line
            .split_once('=')
            .filter(|(k, _)| k.len() == 1)
            .ok_or_else(|| syntax("expected <type>=<value>"))?;
        match kind {
            "v" => saw_version = true,
            "c" => {
                let addr = parse_connection(value).ok_or_else(|| syntax("bad c= line"))?;
                match session.media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => session.connection = Some(addr),
                }
            }
            "m" => {
                let mut it = value.split_whitespace();
                let kind = it.next().ok_or_else(|| syntax("m= without media"))?;
                let port = it
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| syntax("m= port"))?;
                let protocol = it.next().ok_or_else(|| syntax("m= protocol"))?;
                session.media.push(MediaDescription {
                    kind: kind.to_string(),
                    port,
                    protocol: protocol.to_string(),
                    formats: it.map(str::to_string).collect(),
                    connection: None,
                    rtpmaps: Vec::new(),
                    ptime: None,
                    direction: None,
                    rtcp: None,
                    rtcp_mux: false,
                    crypto: Vec::new(),
                    fingerprint: false,
                });
            }
            "a" => {
                let (name, arg) = match value.split_once(':') {
                    Some((n, a)) => (n, Some(a)),
                    None => (value, None),
                };
                if let Some(dir) = Direction::parse(name) {
                    match session.media.last_mut() {
                        Some(m) => m.direction = Some(dir),
                        None => session.direction = Some(dir),
                    }
                    continue;
                }
                let Some(m) = session.media.last_mut() else {
                    session.fingerprint |= name == "fingerprint";
                    continue;
                };
                match (name, arg) {
                    // An rtpmap we cannot read ("a=rtpmap:31 LPC" in RFC 4475)
                    // leaves its format unknown; the rest of the offer stands.
                    ("rtpmap", Some(arg)) => m.rtpmaps.extend(parse_rtpmap(arg)),
                    ("ptime", Some(arg)) => m.ptime = arg.trim().parse().ok(),
                    // An a=rtcp we cannot read leaves RTCP on RTP + 1.
                    ("rtcp", Some(arg)) => m.rtcp = parse_rtcp(arg),
                    ("rtcp-mux", None) => m.rtcp_mux = true,
                    ("crypto", Some(arg)) => m.crypto.extend(sdes::parse_crypto(arg)),
                    ("fingerprint", Some(_)) => m.fingerprint = true,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err(SdpError::NoVersion);
    }
    Ok(session)
}

fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut it = value.split_whitespace();
    let (_net, _family, addr) = (it.next()?, it.next()?, it.next()?);
    // Multicast forms carry /ttl; unicast telephony never does, but tolerate it.
    addr.split('/').next()?.parse().ok()
}

/// `a=rtcp:<port> [IN IP4|IP6 <address>]` (RFC 3605 §2.1).
fn parse_rtcp(arg: &str) -> Option<(u16, Option<IpAddr>)> {
    let arg = arg.trim();
    let (port, rest) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
    let port = port.parse().ok()?;
    if rest.trim().is_empty() {
        return Some((port, None));
    }
    Some((port, Some(parse_connection(rest)?)))
}

fn parse_rtpmap(arg: &str) -> Option<RtpMap> {
    let (pt, rest) = arg.trim().split_once(char::is_whitespace)?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.to_string();
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = parts.next().and_then(|c| c.trim().parse().ok());
    Some(RtpMap {
        payload_type: pt.parse().ok()?,
        encoding,
        clock_rate,
        channels,
    })
}

/// What offer/answer settled on for the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    /// `telephone-event` payload type, as the offer numbered it.
    pub telephone_event: Option<u8>,
    pub ptime_ms: u32,
    /// Where the caller asked for RTP (before symmetric-RTP learning).
    pub remote_rtp: SocketAddr,
    /// Where the caller takes RTCP: its `a=rtcp` (RFC 3605), else RTP + 1
    /// (RFC 3550 §11); with `rtcp_mux`, the RTP address itself.
    pub remote_rtcp: SocketAddr,
    /// The offer asked for RTCP on the RTP port (RFC 5761) and the answer
    /// agrees: RTCP then goes both ways on the RTP ports.
    pub rtcp_mux: bool,
    /// Our direction in the answer.
    pub direction: Direction,
    /// SDES keys when the stream is SRTP; a fresh local key for each answer.
    pub srtp: Option<SrtpParams>,
    /// The offer is WebRTC's (ICE, DTLS-SRTP, rtcp-mux): its answer comes
    /// from the WebRTC stack, which is handed the offer as it came.
    pub webrtc: Option<WebRtcOffer>,
    /// The answered stream's transport, `RTP/AVP` or `RTP/SAVP`, as offered.
    protocol: String,
    /// Index of the answered stream among the offer's m= lines.
    stream: usize,
    /// The offer's m= lines, refused in the answer except `stream`.
    refused: Vec<(String, String, String)>,
}

impl Negotiated {
    /// Whether the answered stream is WebRTC's (ICE and DTLS-SRTP).
    pub fn is_webrtc_stream(&self) -> bool {
        is_webrtc_protocol(&self.protocol)
    }
}

/// A WebRTC offer's SDP text, for the WebRTC stack to answer.
#[derive(Clone, PartialEq, Eq)]
pub struct WebRtcOffer(pub String);

impl std::fmt::Debug for WebRtcOffer {
    // The offer carries ICE passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebRtcOffer(..)")
    }
}

/// The transports of WebRTC media (RFC 8827, RFC 5764).
fn is_webrtc_protocol(protocol: &str) -> bool {
    protocol.eq_ignore_ascii_case("UDP/TLS/RTP/SAVPF")
        || protocol.eq_ignore_ascii_case("UDP/TLS/RTP/SAVP")
}

/// Local preferences for negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPolicy {
    /// Enabled codecs, most preferred first.
    pub codecs: Vec<Codec>,
    pub ptime_ms: u32,
    pub srtp: SrtpMode,
}

impl Default for MediaPolicy {
    fn default() -> Self {
        MediaPolicy {
            codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::Opus],
            ptime_ms: 20,
            srtp: SrtpMode::Off,
        }
    }
}

const SUPPORTED_PTIMES: [u32; 4] = [10, 20, 30, 40];

pub fn negotiate(offer: &SessionDescription, policy: &MediaPolicy) -> Result<Negotiated, SdpError> {
    let (stream, srtp) = choose_stream(offer, policy.srtp)?;
    let m = &offer.media[stream];
    let webrtc = is_webrtc_protocol(&m.protocol);
    let lookup = |fmt: &str| -> Option<RtpMap> {
        let pt: u8 = fmt.parse().ok()?;
        m.rtpmaps
            .iter()
            .find(|r| r.payload_type == pt)
            .cloned()
            .or_else(|| static_rtpmap(pt))
    };
    let offered: Vec<RtpMap> = m.formats.iter().filter_map(|f| lookup(f)).collect();
    let (codec, payload_type) = policy
        .codecs
        .iter()
        .find_map(|c| {
            offered
                .iter()
                .find(|r| c.matches(&r.encoding, r.clock_rate))
                .map(|r| (*c, r.payload_type))
        })
        .ok_or_else(|| SdpError::NoCommonCodec {
            offered: offered
                .iter()
                .map(|r| format!("{}/{}", r.encoding, r.clock_rate))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let events: Vec<&RtpMap> = offered
        .iter()
        .filter(|r| r.encoding.eq_ignore_ascii_case("telephone-event"))
        .collect();
    let telephone_event = events
        .iter()
        .find(|r| r.clock_rate == codec.clock_rate())
        .or_else(|| events.first())
        .map(|r| r.payload_type);
    let ip = m
        .connection
        .or(offer.connection)
        .ok_or(SdpError::NoConnection)?;
    let mut direction = m
        .direction
        .or(offer.direction)
        .unwrap_or(Direction::SendRecv);
    // RFC 2543 hold: c=0.0.0.0 means "do not send to me". Not for WebRTC,
    // whose address is ICE's and whose c= line is always 0.0.0.0.
    if ip.is_unspecified() && direction == Direction::SendRecv && !webrtc {
        direction = Direction::SendOnly;
    }
    let ptime_ms = m
        .ptime
        .filter(|p| SUPPORTED_PTIMES.contains(p))
        .unwrap_or(policy.ptime_ms);
    let remote_rtp = SocketAddr::new(ip, m.port);
    let remote_rtcp = match (m.rtcp_mux, m.rtcp) {
        (true, _) => remote_rtp,
        (false, Some((port, addr))) => SocketAddr::new(addr.unwrap_or(ip), port),
        (false, None) => SocketAddr::new(ip, m.port.wrapping_add(1)),
    };
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event,
        ptime_ms,
        remote_rtp,
        remote_rtcp,
        rtcp_mux: m.rtcp_mux,
        direction: direction.answer(),
        srtp: srtp.map(SrtpParams::answering),
        // Filled in with the offer's text by whoever has it.
        webrtc: None,
        protocol: m.protocol.clone(),
        stream,
        refused: offer
            .media
            .iter()
            .map(|m| {
                (
                    m.kind.clone(),
                    m.protocol.clone(),
                    m.formats.first().cloned().unwrap_or_else(|| "0".into()),
                )
            })
            .collect(),
    })
}

/// The audio stream to answer and the offer's crypto line to take. Plain
/// `RTP/AVP` carrying `a=crypto` is answered with SRTP too (carriers send
/// that), unless SRTP is off.
fn choose_stream(
    offer: &SessionDescription,
    mode: SrtpMode,
) -> Result<(usize, Option<&CryptoOffer>), SdpError> {
    let mut refusal = SdpError::NoAudio;
    for (i, m) in offer.media.iter().enumerate() {
        if m.kind != "audio" || m.port == 0 {
            continue;
        }
        if is_webrtc_protocol(&m.protocol) && (m.fingerprint || offer.fingerprint) {
            // DTLS-SRTP: keys come from the handshake, whatever rtp.srtp says.
            return Ok((i, None));
        }
        let crypto = m.crypto.first();
        match (m.protocol.as_str(), mode, crypto) {
            ("RTP/AVP", SrtpMode::Off, _) => return Ok((i, None)),
            ("RTP/AVP", SrtpMode::Offer, c) => return Ok((i, c)),
            ("RTP/AVP" | "RTP/SAVP", SrtpMode::Offer | SrtpMode::Required, Some(c)) => {
                return Ok((i, Some(c)))
            }
            ("RTP/AVP", SrtpMode::Required, None) => refusal = SdpError::SrtpRequired,
            ("RTP/SAVP", SrtpMode::Offer | SrtpMode::Required, None) => {
                refusal = SdpError::NoUsableCrypto
            }
            ("RTP/SAVP", SrtpMode::Off, _) if refusal == SdpError::NoAudio => {
                refusal = SdpError::SrtpOff
            }
            _ => {}
        }
    }
    Err(refusal)
}

fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let (encoding, clock_rate) = match pt {
        0 => ("PCMU", 8000),
        8 => ("PCMA", 8000),
        _ => return None,
    };
    Some(RtpMap {
        payload_type: pt,
        encoding: encoding.to_string(),
        clock_rate,
        channels: None,
    })
}

/// Identifies our side of the session across offer/answer exchanges (o= line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpOrigin {
    pub session_id: u64,
    pub version: u64,
}

/// Writes the answer for `neg`, with our media at `local`.
pub fn answer(neg: &Negotiated, local: SocketAddr, origin: SdpOrigin) -> String {
    let mut out = header(local.ip(), origin);
    for (i, (kind, protocol, first_fmt)) in neg.refused.iter().enumerate() {
        if i == neg.stream {
            audio_media(&mut out, neg, local.port());
        } else {
            let _ = write!(out, "m={kind} 0 {protocol} {first_fmt}\r\n");
        }
    }
    out
}

/// Writes an offer of every codec in `policy` (for an INVITE without SDP).
/// What our [`offer`] settles on if the answer takes its first choice. A call
/// answered with our offer (the INVITE had none) runs its media on this
/// until the answer arrives in the ACK; nothing is sent before then, so the
/// unspecified remote address is never used.
pub fn first_choice(policy: &MediaPolicy) -> Negotiated {
    let codec = policy.codecs.first().copied().unwrap_or(Codec::Pcmu);
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    Negotiated {
        codec,
        payload_type: codec.static_payload_type().unwrap_or(111),
        telephone_event: Some(101),
        ptime_ms: policy.ptime_ms,
        remote_rtp: unspecified,
        remote_rtcp: unspecified,
        rtcp_mux: false,
        direction: Direction::SendRecv,
        srtp: None,
        webrtc: None,
        protocol: "RTP/AVP".to_string(),
        stream: 0,
        refused: Vec::new(),
    }
}

///
/// With `srtp` (our key, when `rtp.srtp` is on) the stream is `RTP/SAVP`
/// and the key goes in `a=crypto` with tag [`OFFER_CRYPTO_TAG`] and the
/// suite every carrier takes, AES_CM_128_HMAC_SHA1_80.
pub fn offer(
    policy: &MediaPolicy,
    local: SocketAddr,
    origin: SdpOrigin,
    srtp: Option<&SrtpKey>,
) -> String {
    let mut out = header(local.ip(), origin);
    let pts: Vec<(u8, Codec)> = policy
        .codecs
        .iter()
        .map(|c| (c.static_payload_type().unwrap_or(111), *c))
        .collect();
    let protocol = if srtp.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let _ = write!(out, "m=audio {} {protocol}", local.port());
    for (pt, _) in &pts {
        let _ = write!(out, " {pt}");
    }
    out.push_str(" 101\r\n");
    for (pt, c) in &pts {
        rtpmap_line(&mut out, *c, *pt);
    }
    out.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
    let _ = write!(out, "a=ptime:{}\r\na=sendrecv\r\n", policy.ptime_ms);
    if let Some(key) = srtp {
        let ours = SrtpParams {
            suite: OFFER_SUITE,
            tag: OFFER_CRYPTO_TAG,
            remote: key.clone(),
            local: key.clone(),
        };
        out.push_str(&ours.attribute());
    }
    out
}

/// The tag and suite of the one `a=crypto` line in our own offer.
pub const OFFER_CRYPTO_TAG: u32 = 1;
pub(crate) const OFFER_SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

/// Reads the answer to our [`offer`] (it comes in the ACK). Codec, address
/// and direction are read as from an offer; the SRTP keys are our offered
/// `srtp` and the one the answer's `a=crypto` carries, which must answer
/// our line (same tag and suite). A plain answer is taken unless SRTP is
/// required, as an offer would be.
pub fn accept_answer(
    answer: &SessionDescription,
    policy: &MediaPolicy,
    srtp: Option<&SrtpKey>,
) -> Result<Negotiated, SdpError> {
    accept_answer_to(
        answer,
        policy,
        srtp.map(|key| (key, OFFER_CRYPTO_TAG, OFFER_SUITE)),
    )
}

/// Reads the answer to our offer of the session as it is (a refreshing
/// re-INVITE re-offers our last SDP): as [`accept_answer`], our `a=crypto`
/// line being the current one, `current`'s key, tag and suite.
pub fn accept_reoffer_answer(
    answer: &SessionDescription,
    policy: &MediaPolicy,
    current: Option<&SrtpParams>,
) -> Result<Negotiated, SdpError> {
    accept_answer_to(answer, policy, current.map(|p| (&p.local, p.tag, p.suite)))
}

fn accept_answer_to(
    answer: &SessionDescription,
    policy: &MediaPolicy,
    offered: Option<(&SrtpKey, u32, SrtpSuite)>,
) -> Result<Negotiated, SdpError> {
    let mut neg = negotiate(answer, policy)?;
    neg.srtp = match (offered, neg.srtp.take()) {
        (Some((ours, tag, suite)), Some(theirs)) => {
            if theirs.tag != tag || theirs.suite != suite {
                return Err(SdpError::NoUsableCrypto);
            }
            Some(SrtpParams {
                local: ours.clone(),
                ..theirs
            })
        }
        // Keys in an answer to a plain offer answer nothing of ours.
        (None, _) | (Some(_), None) => None,
    };
    Ok(neg)
}

fn header(ip: IpAddr, origin: SdpOrigin) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut out = String::with_capacity(320);
    let _ = write!(
        out,
        "v=0\r\no=passgate {} {} IN {family} {ip}\r\ns=passgate\r\nc=IN {family} {ip}\r\nt=0 0\r\n",
        origin.session_id, origin.version
    );
    out
}

fn audio_media(out: &mut String, neg: &Negotiated, port: u16) {
    let _ = write!(out, "m=audio {port} {} {}", neg.protocol, neg.payload_type);
    if let Some(te) = neg.telephone_event {
        let _ = write!(out, " {te}");
    }
    out.push_str("\r\n");
    rtpmap_line(out, neg.codec, neg.payload_type);
    if let Some(te) = neg.telephone_event {
        let clock = if neg.codec.clock_rate() == 48000 {
            48000
        } else {
            8000
        };
        let _ = write!(
            out,
            "a=rtpmap:{te} telephone-event/{clock}\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(
        out,
        "a=ptime:{}\r\na={}\r\n",
        neg.ptime_ms,
        neg.direction.attribute()
    );
    if neg.rtcp_mux {
        out.push_str("a=rtcp-mux\r\n");
    }
    if let Some(srtp) = &neg.srtp {
        out.push_str(&srtp.attribute());
    }
}

fn rtpmap_line(out: &mut String, codec: Codec, pt: u8) {
    match codec {
        Codec::Opus => {
            let _ = write!(
                out,
                "a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} useinbandfec=1\r\n"
            );
        }
        c => {
            let _ = write!(out, "a=rtpmap:{pt} {}/8000\r\n", c.encoding_name());
        }
    }
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
