//! A browser's media (WebRTC): ICE-lite, DTLS-SRTP and rtcp-mux on one UDP
//! port, by str0m, which is sans-IO like the rest of this crate. It answers
//! the offer and then turns the datagrams the call's socket receives into
//! plain RTP packets for [`crate::MediaSession`]'s receive path, and the
//! session's RTP packets into protected datagrams with their destination.
//!
//! str0m runs in RTP mode: it does ICE, DTLS, SRTP and RTCP, and the session
//! keeps the codecs, the jitter buffer, DTMF, the recogniser's frames and the
//! prompt pacer, exactly as for a trunk's call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::config::CryptoProvider;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

/// The codec the call's SDP negotiation chose; the answer offers only it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebRtcCodec {
    Pcmu,
    Pcma,
    Opus,
}

#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    #[error("the WebRTC offer does not parse: {0}")]
    Offer(String),
    #[error("the WebRTC offer cannot be answered: {0}")]
    Answer(String),
    #[error("no usable local candidate at {0}")]
    Candidate(SocketAddr),
}

/// What the WebRTC layer counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebRtcStats {
    pub datagrams_in: u64,
    pub rtp_in: u64,
    pub rtp_out: u64,
    /// Datagrams str0m refused (not STUN, DTLS or SRTP of this session).
    pub refused: u64,
    pub connected: bool,
}

/// One call's WebRTC transport.
pub struct WebRtcTransport {
    rtc: Rtc,
    local: SocketAddr,
    mid: Option<Mid>,
    /// The browser's address, once ICE has picked it.
    remote: Option<SocketAddr>,
    received: VecDeque<Vec<u8>>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    timeout: Option<Instant>,
    /// Our extended RTP sequence number (str0m takes 64 bits), from the
    /// pacer's first (random) one.
    next_seq: Option<u64>,
    stats: WebRtcStats,
}

impl std::fmt::Debug for WebRtcTransport {
    // Keys and ICE passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcTransport")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn crypto() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(str0m::crypto::from_feature_flags()))
        .clone()
}

impl WebRtcTransport {
    /// Answers `offer` (SDP text) with ICE-lite, one host candidate at
    /// `local` (the call's UDP port at our media address) and `codec`
    /// only, and `telephone_event` (payload type and clock rate, as the
    /// offer numbered it) for RFC 4733 keys. Returns the transport and the
    /// answer's SDP text.
    pub fn accept(
        now: Instant,
        offer: &str,
        local: SocketAddr,
        codec: WebRtcCodec,
        telephone_event: Option<(u8, u32)>,
    ) -> Result<(WebRtcTransport, String), WebRtcError> {
        let config = RtcConfig::new()
            .set_crypto_provider(crypto())
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs();
        let config = match codec {
            WebRtcCodec::Pcmu => config.enable_pcmu(true, false),
            WebRtcCodec::Pcma => config.enable_pcma(true, false),
            WebRtcCodec::Opus => config.enable_opus(true, false),
        };
        let mut config = config;
        if let Some((pt, rate)) = telephone_event {
            if let Some(rate) = Frequency::new(rate) {
                config.codec_config().add_config(
                    pt.into(),
                    None,
                    Codec::Tele,
                    rate,
                    None,
                    FormatParams::parse_line("0-16"),
                );
            }
        }
        let mut rtc = config.build(now);
        let candidate = Candidate::host(local, "udp").map_err(|_| WebRtcError::Candidate(local))?;
        if rtc.add_local_candidate(candidate).is_none() {
            return Err(WebRtcError::Candidate(local));
        }
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| WebRtcError::Offer(e.to_string()))?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WebRtcError::Answer(e.to_string()))?;
        let mut transport = WebRtcTransport {
            rtc,
            local,
            mid: None,
            remote: None,
            received: VecDeque::new(),
            out: VecDeque::new(),
            timeout: None,
            next_seq: None,
            stats: WebRtcStats::default(),
        };
        transport.drain();
        Ok((transport, answer.to_sdp_string()))
    }

    /// A datagram the call's socket received from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_in += 1;
        let Ok(receive) = Receive::new(Protocol::Udp, from, self.local, datagram) else {
            self.stats.refused += 1;
            return;
        };
        let input = Input::Receive(now, receive);
        if !self.rtc.accepts(&input) {
            self.stats.refused += 1;
            return;
        }
        if self.rtc.handle_input(input).is_err() {
            self.stats.refused += 1;
        }
        self.drain();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timeout.is_some_and(|t| t <= now) {
            let _ = self.rtc.handle_input(Input::Timeout(now));
            self.drain();
        }
    }

    /// One RTP packet of ours (plain, as the pacer made it) to send. Before
    /// the media is connected it is dropped, as a trunk call's would be
    /// before the caller's address is known.
    pub fn send_rtp(&mut self, wallclock: Instant, packet: &[u8]) {
        let Some(mid) = self.mid else { return };
        if packet.len() < 12 || !self.stats.connected {
            return;
        }
        let marker = packet[1] & 0x80 != 0;
        let pt = packet[1] & 0x7f;
        let time = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let csrc = usize::from(packet[0] & 0x0f) * 4;
        let Some(payload) = packet.get(12 + csrc..) else {
            return;
        };
        let first = u64::from(u16::from_be_bytes([packet[2], packet[3]]));
        let seq = *self.next_seq.get_or_insert(first);
        self.next_seq = Some(seq + 1);
        let seq: SeqNo = seq.into();
        let write = RtpWrite::new(pt.into(), seq, time, wallclock, payload.to_vec()).marker(marker);
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        stream.write_rtp(write);
        self.stats.rtp_out += 1;
        self.drain();
    }

    /// The next plain RTP packet received.
    pub fn poll_rtp(&mut self) -> Option<Vec<u8>> {
        self.received.pop_front()
    }

    /// The next datagram to send, and where.
    pub fn poll_datagram(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timeout
    }

    /// The browser's address, once ICE has seen it.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    pub fn stats(&self) -> WebRtcStats {
        self.stats
    }

    /// Takes everything str0m has to say until it asks for time.
    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => {
                    self.timeout = Some(at);
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    self.remote = Some(t.destination);
                    self.out.push_back((t.destination, t.contents.into()));
                }
                Ok(Output::Event(event)) => self.on_event(event),
                Err(_) => {
                    // A session str0m cannot go on with stays silent; the
                    // call ends by SIP or its own limits.
                    self.timeout = None;
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::MediaAdded(added) => self.mid = Some(added.mid),
            Event::Connected => self.stats.connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.stats.connected = false
            }
            Event::RtpPacket(packet) => {
                self.stats.rtp_in += 1;
                let h = &packet.header;
                let mut rtp = Vec::with_capacity(12 + packet.payload.len());
                rtp.push(0x80);
                rtp.push(*h.payload_type | if h.marker { 0x80 } else { 0 });
                rtp.extend_from_slice(&h.sequence_number.to_be_bytes());
                rtp.extend_from_slice(&h.timestamp.to_be_bytes());
                rtp.extend_from_slice(&h.ssrc.to_be_bytes());
                rtp.extend_from_slice(&packet.payload);
                self.received.push_back(rtp);
            }
            _ => {}
        }
    }
}
