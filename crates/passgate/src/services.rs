//! What every call shares, in groups with one job each: SIP, the media
//! (ports, media threads, how a negotiation maps to media settings), speech
//! (prompts and the recognizer), the checks against accounts, the call
//! policy from configuration, the audit log and the metrics.

mod account_checks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asr::{ListenOptions, Recognizer};
use auth::flow::FlowConfig;
use media::MediaSession;
use sip::driver::SipHandle;
use sip::Negotiated;

pub use self::account_checks::AccountChecks;
use crate::audit_log::AuditLog;
use crate::config::TransferConfig;
use crate::media_engine::MediaEngine;
use crate::media_formats::MediaFormats;
use crate::metrics::Metrics;
use crate::rtp_ports::RtpPorts;
use crate::tts::Tts;

pub struct Services {
    pub sip: SipHandle,
    pub media: MediaResources,
    pub speech: Speech,
    pub accounts: AccountChecks,
    pub policy: CallPolicy,
    pub audit_log: AuditLog,
    pub metrics: Arc<Metrics>,
    /// The calls as the console shows them; each call's driver publishes there.
    pub live: Arc<crate::console::LiveCalls>,
}

/// Where a call's media runs: its RTP port pair, the media threads, and what
/// a negotiation means for this node's media.
pub struct MediaResources {
    pub ports: RtpPorts,
    pub engine: MediaEngine,
    pub formats: MediaFormats,
    /// The address our SDP gives callers (a WebRTC answer's host candidate).
    pub media_ip: std::net::IpAddr,
}

/// What a call says and hears: rendered prompts and the recognizer (none
/// when no model is configured), and how listening is tuned.
pub struct Speech {
    pub tts: Tts,
    pub recognizer: Option<Recognizer>,
    pub listen: ListenOptions,
}

/// The rules every call follows, from configuration.
pub struct CallPolicy {
    pub max_duration: Duration,
    /// `sip.max_calls`: also the most call tasks alive at once.
    pub max_calls: usize,
    pub answer_delay: Duration,
    /// `asr.admit_queue_ms`: how long a call refused by recognizer load
    /// rings while admission looks again.
    pub admit_queue: Duration,
    /// `auth.require_verstat`.
    pub require_verstat: bool,
    pub flow: Arc<FlowConfig>,
    /// Prompts (by name) that play to the end whatever the caller does.
    pub no_barge_in: Vec<String>,
    pub transfer: TransferConfig,
}

/// The codec rate prompts are rendered at (G.711).
pub const PROMPT_RATE: u32 = 8000;

impl MediaResources {
    /// The call's media: receive path at the recognizer's rate, prompts in
    /// the negotiated codec and packet time.
    pub fn session(
        &self,
        neg: &Negotiated,
        local: Option<SocketAddr>,
    ) -> anyhow::Result<MediaSession> {
        Ok(MediaSession::new(
            Instant::now(),
            self.formats.session_config(neg, local),
        )?)
    }
}
