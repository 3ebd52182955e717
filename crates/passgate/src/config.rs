//! Configuration: `config/passgate.toml` (or `--config FILE`), then
//! `PASSGATE_SECTION__KEY=value` environment overrides. Every key has a
//! default; an unknown key or a bad value is an error that names the key.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

mod decoys;
mod filler;
mod phone;
pub mod printed;
mod recognizer;
mod shell_env;
mod sip_tls;
pub use decoys::DecoysConfig;
pub use filler::FillerConfig;
pub use phone::{PhoneConfig, SipWsConfig};
pub use recognizer::AsrConfig;
use shell_env::ShellEnv;
pub use sip_tls::SipTlsConfig;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    pub rtp: RtpConfig,
    pub call: CallConfig,
    pub runtime: RuntimeConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub asr: AsrConfig,
    /// `[passphrase]`: how the recognizer's scored alternatives are decided.
    pub passphrase: auth::passphrase::MatchRule,
    pub transfer: TransferConfig,
    pub prompts: PromptsConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    /// `[sms]`: gateway (console, webhook, twilio), message, HTTP policy.
    #[serde(skip_serializing)]
    pub sms: auth::sms::SmsConfig,
    /// `[flow]`: every prompt, count and timeout of the call flow.
    #[serde(skip_serializing)]
    pub flow: auth::flow::FlowConfig,
    /// `[lockout]`: failed factors per account or calling number before calls
    /// go straight to a person.
    #[serde(skip_serializing)]
    pub lockout: auth::store::LockoutPolicy,
    /// `[sms_cap]`: codes sent per account per hour.
    #[serde(skip_serializing)]
    pub sms_cap: auth::store::SmsCap,
    /// `[crm]`: optional web calls for lookup and passphrase verification.
    #[serde(skip_serializing)]
    pub crm: auth::crm::CrmConfig,
    /// `[phone]`: the browser test phone's page.
    pub phone: PhoneConfig,
}

/// The shortest `sip.digest_nonce_secret` taken.
pub const MIN_NONCE_SECRET_CHARS: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP and TCP listen address.
    pub listen: SocketAddr,
    /// Address written in Via, Contact and SDP; empty means the listen address
    /// (or 127.0.0.1 when listening on every interface).
    pub public_address: String,
    /// Address written for IPv6 callers and IPv6 media when `public_address`
    /// is IPv4; empty means ::1 when listening on `[::]` (which takes IPv4
    /// and IPv6), else none: IPv6 offers are then refused with 488.
    pub public_address_v6: String,
    /// User part of our Contact URI.
    pub user: String,
    /// Enabled codecs, most preferred first: pcmu, pcma, opus.
    pub codecs: Vec<String>,
    /// Packet time we prefer when the offer names none.
    pub ptime_ms: u32,
    /// Calls in progress beyond which INVITEs get 503.
    pub max_calls: usize,
    /// Send 180 Ringing and wait this long before answering (0 answers at once).
    pub answer_delay_ms: u64,
    /// How long an INVITE waits for its first response before 100 Trying is
    /// sent (0: at once; at most 200, RFC 3261 §17.2.1).
    pub trying_after_ms: u64,
    /// RFC 3261 T1, the round-trip estimate every retransmission timer
    /// starts from; 64·T1 is how long a 200 waits for its ACK.
    pub timer_t1_ms: u64,
    /// Addresses or CIDR blocks allowed to send SIP; empty allows everyone.
    pub allow_from: Vec<String>,
    /// The trust domain (RFC 3325): addresses or CIDR blocks whose
    /// P-Asserted-Identity, Remote-Party-ID and STIR/SHAKEN `verstat` are
    /// believed. Empty believes nobody's: the caller's number is From's.
    pub trusted_identity_sources: Vec<String>,
    /// New calls per second accepted from one source address (0: no limit).
    #[serde(deserialize_with = "shell_env::f64_as_written")]
    pub calls_per_second_per_source: f64,
    /// New calls per second accepted in all (0: no limit).
    #[serde(deserialize_with = "shell_env::f64_as_written")]
    pub max_calls_per_second: f64,
    /// Digest authentication of INVITEs: the realm (empty turns it off).
    pub digest_realm: String,
    /// Who may call when `digest_realm` is set: user = password.
    #[serde(skip_serializing)]
    pub digest_users: std::collections::HashMap<String, String>,
    /// Wrong Digest answers from one source within the window before that
    /// source is refused for `digest_lockout_secs` (0: no limit).
    pub digest_max_failures_per_source: u32,
    /// Wrong Digest answers for one user name, from anywhere, within the
    /// window before that name is refused (0: no limit).
    pub digest_max_failures_per_user: u32,
    pub digest_failure_window_secs: u64,
    pub digest_lockout_secs: u64,
    /// Key of the Digest nonces (at least 32 characters), the same on every
    /// node behind one load balancer so that a challenge one node gave may
    /// be answered to another; empty: a random key per process.
    pub digest_nonce_secret: String,
    /// How long a Digest nonce stays good.
    pub digest_nonce_lifetime_secs: u64,
    /// Server header of responses and User-Agent of requests; empty leaves
    /// them out. Never sent to sources refused by `allow_from`.
    pub server_header: String,
    /// `[sip.tcp]`: limits on TCP connections (TLS ones too).
    pub tcp: SipTcpConfig,
    /// `[sip.tls]`: SIP over TLS.
    pub tls: SipTlsConfig,
    /// `[sip.ws]`: SIP over WebSocket, for browsers.
    pub ws: SipWsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTcpConfig {
    /// Connections open at once from every source together.
    pub max_connections: usize,
    /// Connections open at once from one source address.
    pub max_connections_per_source: usize,
    /// Seconds a connection may stay silent (no call using it) before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds a message may take from its first byte to its last.
    pub message_timeout_secs: u64,
}

impl Default for SipTcpConfig {
    fn default() -> Self {
        let d = sip::TcpLimits::default();
        SipTcpConfig {
            max_connections: d.max_connections,
            max_connections_per_source: d.max_per_source,
            idle_timeout_secs: d.idle_timeout.as_secs(),
            message_timeout_secs: d.message_timeout.as_secs(),
        }
    }
}

impl SipTcpConfig {
    pub fn limits(&self) -> sip::TcpLimits {
        sip::TcpLimits {
            max_connections: self.max_connections,
            max_per_source: self.max_connections_per_source,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            message_timeout: Duration::from_secs(self.message_timeout_secs),
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            public_address: String::new(),
            public_address_v6: String::new(),
            user: "passgate".into(),
            codecs: vec!["pcmu".into(), "pcma".into(), "opus".into()],
            ptime_ms: 20,
            max_calls: 1000,
            answer_delay_ms: 0,
            trying_after_ms: 100,
            timer_t1_ms: 500,
            allow_from: Vec::new(),
            trusted_identity_sources: Vec::new(),
            calls_per_second_per_source: 0.0,
            max_calls_per_second: 0.0,
            digest_realm: String::new(),
            digest_users: std::collections::HashMap::new(),
            digest_max_failures_per_source: 5,
            digest_max_failures_per_user: 20,
            digest_failure_window_secs: 60,
            digest_lockout_secs: 300,
            digest_nonce_secret: String::new(),
            digest_nonce_lifetime_secs: sip::digest::NONCE_LIFETIME_SECS,
            server_header: String::new(),
            tcp: SipTcpConfig::default(),
            tls: SipTlsConfig::default(),
            ws: SipWsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a range like \"20000-30000\""))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<u16>()
                .map_err(|_| format!("{v:?} is not a port number"))
        };
        let (first, last) = (parse(a)?, parse(b)?);
        if first == 0 || first > last || last - first < 1 {
            return Err(format!(
                "{s:?} must be two ports, low to high, at least two apart"
            ));
        }
        Ok(PortRange { first, last })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpConfig {
    /// Local UDP ports for RTP, "first-last".
    pub port_range: PortRange,
    /// Threads carrying every call's RTP (1 to 64). One thread per core is
    /// enough; `make bench` (P2) measures what one carries.
    pub media_threads: usize,
    /// Real-time (SCHED_RR) priority of the media threads, 1 to 99, so that
    /// prompts keep their 20 ms pace on a busy machine; 0 leaves them at the
    /// normal priority. Needs root, CAP_SYS_NICE or RLIMIT_RTPRIO; without, a
    /// warning is logged and the threads run at the normal priority.
    pub realtime_priority: u8,
    /// Read a media thread's sockets through io_uring (one multishot read
    /// armed per socket, collected once per wake-up) and send the RTP it has
    /// due in one submission per wake-up, instead of a readiness poll and a
    /// system call per socket and per packet. Where the kernel (before 6.1)
    /// or a seccomp profile refuses it, a warning is logged and the thread
    /// uses epoll, `recvmmsg` and `send`.
    pub io_uring: bool,
    /// Once a call's RTP source is learnt from its first good packet, drop
    /// packets from anywhere else ("strict RTP"; a re-INVITE moving the
    /// media learns again). Off: follow whichever source sent last, which
    /// lets anyone who reaches the port inject key presses.
    pub strict_source: bool,
    /// Which source a call's RTP is learnt from: only the IP the SDP gave
    /// (from any port), or, for callers behind NAT that advertise a private
    /// address, also another when none from that IP came first.
    pub learn_source: LearnSource,
    /// SRTP with SDES keys (RFC 4568): "off" (plain RTP only), "offer"
    /// (SRTP when the caller's offer has a usable a=crypto), "required"
    /// (an offer without one gets 488). The keys travel in the SDP, so they
    /// are secret only when SIP runs over TLS.
    pub srtp: sip::SrtpMode,
}

/// `rtp.learn_source`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnSource {
    #[default]
    SdpAddress,
    Any,
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            port_range: PortRange {
                first: 20000,
                last: 30000,
            },
            media_threads: 1,
            realtime_priority: 10,
            io_uring: true,
            strict_source: true,
            learn_source: LearnSource::SdpAddress,
            srtp: sip::SrtpMode::Off,
        }
    }
}

/// `[auth]`: what the caller's number is worth.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Count the caller-ID match only for calls the trunk attested
    /// (`verstat` TN-Validation-Passed from a trusted identity source);
    /// other callers are asked for their account number.
    pub require_verstat: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallConfig {
    /// Hard limit on a call's length; the agent hangs up after it.
    pub max_duration_secs: u64,
    /// On SIGTERM, how long calls in progress may go on before the process exits.
    pub drain_timeout_secs: u64,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            max_duration_secs: 600,
            drain_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Threads running SIP, calls and media; 0: one per core. Speech
    /// recognition and the database have threads of their own.
    pub worker_threads: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Admin HTTP (health, metrics, the operator console).
    pub listen: SocketAddr,
    /// Bearer token the admin HTTP requires; mandatory when not on loopback.
    pub token: String,
    /// Directory of the web pages; the operator console is `console/` under it.
    pub assets: PathBuf,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: String::new(),
            assets: PathBuf::from("web"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// sqlite://PATH or postgres://…
    pub url: String,
    /// The node's own append-only file that audit rows reach before the
    /// store: one per node, on a local disk.
    pub audit_spool: PathBuf,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/passgate.db".into(),
            audit_spool: PathBuf::from("data/audit.spool"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    /// Where unauthenticated callers are referred.
    pub representative: String,
    /// Where verified callers who ask for an agent are referred.
    pub authenticated: String,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            representative: "sip:representative@127.0.0.1".into(),
            authenticated: "sip:agents@127.0.0.1".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptsConfig {
    /// espeak-ng voice the prompts are spoken in.
    pub voice: String,
    /// Where synthesised prompts are kept between calls and restarts.
    pub cache_dir: PathBuf,
    /// Optional directory of recordings: `<prompt_id>.wav` replaces that prompt.
    pub dir: Option<PathBuf>,
    /// Prompts that play to the end: a key press during them is still taken
    /// as input but does not cut them short (elsewhere keys barge in wherever
    /// keys are expected).
    pub no_barge_in: Vec<String>,
}

impl Default for PromptsConfig {
    fn default() -> Self {
        PromptsConfig {
            voice: "en-us".into(),
            cache_dir: PathBuf::from("data/prompts"),
            dir: None,
            no_barge_in: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// tracing filter, e.g. "info" or "passgate=debug,sip=debug"; RUST_LOG wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if it exists, or always when `required`),
    /// then the environment.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        if required && !path.exists() {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        let config: Config = Config::layers(path)
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults, the file and the environment, in that order.
    fn layers(path: &Path) -> Figment {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(path))
            .merge(ShellEnv {
                env: Env::prefixed("PASSGATE_").split("__"),
                prefix: "PASSGATE_",
            })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| ConfigError::Invalid(format!("{key}: {problem}"));
        self.asr.listen.validate().map_err(ConfigError::Invalid)?;
        if !(self.asr.lattice_beam >= 0.0 && self.asr.lattice_beam <= 30.0) {
            return Err(bad(
                "asr.lattice_beam",
                format!(
                    "{} is not between 0 (the model's own) and 30",
                    self.asr.lattice_beam
                ),
            ));
        }
        if !(0..=19).contains(&self.asr.worker_nice) {
            return Err(bad(
                "asr.worker_nice",
                format!("{} is not between 0 and 19", self.asr.worker_nice),
            ));
        }
        if !(0.0..=1.0).contains(&self.asr.admit_max_load) {
            return Err(ConfigError::Invalid(format!(
                "asr.admit_max_load: {} is not between 0 and 1",
                self.asr.admit_max_load
            )));
        }
        let factor = self.asr.admit_crowding_factor;
        if !(1.0..=10.0).contains(&factor) {
            return Err(bad(
                "asr.admit_crowding_factor",
                format!("{factor} is not between 1 and 10"),
            ));
        }
        if self.asr.admit_queue_ms > 10_000 {
            return Err(bad(
                "asr.admit_queue_ms",
                format!(
                    "{} is more than 10000: a caller would ring that long for a 503",
                    self.asr.admit_queue_ms
                ),
            ));
        }
        if self.asr.admit_max_load > 0.0 && self.asr.admit_window_secs == 0 {
            return Err(ConfigError::Invalid(
                "asr.admit_window_secs: must be more than 0 while asr.admit_max_load is set".into(),
            ));
        }
        self.sip.tls.validate().map_err(ConfigError::Invalid)?;
        self.sip.ws.listen_addr().map_err(ConfigError::Invalid)?;
        let rule = &self.passphrase;
        for (key, value) in [
            ("passphrase.margin", rule.margin),
            ("passphrase.extra_word_cost", rule.extra_word_cost),
            ("passphrase.trailing_word_cost", rule.trailing_word_cost),
            ("passphrase.repeat_max_gap", rule.repeat_max_gap),
            ("passphrase.inside_lead", rule.inside_lead),
            ("passphrase.syllable_slack", rule.syllable_slack),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(bad(key, format!("{value} is not a number of 0 or more")));
            }
        }
        if rule.max_candidates == 0 {
            return Err(bad(
                "passphrase.max_candidates",
                "at least 1 candidate must be checked".into(),
            ));
        }
        if self.sip.codecs.is_empty() {
            return Err(bad(
                "sip.codecs",
                "at least one codec must be enabled".into(),
            ));
        }
        for c in &self.sip.codecs {
            c.parse::<sip::Codec>().map_err(|e| bad("sip.codecs", e))?;
        }
        if !self.sip.public_address.is_empty() {
            self.sip.public_address.parse::<IpAddr>().map_err(|_| {
                bad(
                    "sip.public_address",
                    format!("{:?} is not an IP address", self.sip.public_address),
                )
            })?;
        }
        if !self.sip.public_address_v6.is_empty() {
            self.sip
                .public_address_v6
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| {
                    bad(
                        "sip.public_address_v6",
                        format!("{:?} is not an IPv6 address", self.sip.public_address_v6),
                    )
                })?;
        }
        if ![10, 20, 30, 40].contains(&self.sip.ptime_ms) {
            return Err(bad(
                "sip.ptime_ms",
                format!("{} is not one of 10, 20, 30, 40", self.sip.ptime_ms),
            ));
        }
        for name in &self.prompts.no_barge_in {
            if auth::flow::PromptId::from_name(name).is_none() {
                let names: Vec<&str> = auth::flow::PromptId::ALL.iter().map(|p| p.name()).collect();
                return Err(bad(
                    "prompts.no_barge_in",
                    format!("{name:?} is not a prompt (one of {})", names.join(", ")),
                ));
            }
        }
        if !self.sip.digest_realm.is_empty() && self.sip.digest_users.is_empty() {
            return Err(bad(
                "sip.digest_users",
                "at least one user = password is needed when sip.digest_realm is set".into(),
            ));
        }
        let secret = &self.sip.digest_nonce_secret;
        if !secret.is_empty() && secret.chars().count() < MIN_NONCE_SECRET_CHARS {
            // The value is a secret: only its length is told.
            return Err(bad(
                "sip.digest_nonce_secret",
                format!(
                    "{} characters is too short; at least {MIN_NONCE_SECRET_CHARS} (e.g. `openssl rand -hex 32`)",
                    secret.chars().count()
                ),
            ));
        }
        for (key, list) in [
            ("sip.allow_from", &self.sip.allow_from),
            (
                "sip.trusted_identity_sources",
                &self.sip.trusted_identity_sources,
            ),
        ] {
            for entry in list {
                entry.parse::<sip::Cidr>().map_err(|e| bad(key, e))?;
            }
        }
        for (key, rate) in [
            (
                "sip.calls_per_second_per_source",
                self.sip.calls_per_second_per_source,
            ),
            ("sip.max_calls_per_second", self.sip.max_calls_per_second),
        ] {
            if rate.is_nan() || rate < 0.0 {
                return Err(bad(key, "must be 0 (no limit) or more".into()));
            }
        }
        for (key, value) in [
            (
                "sip.tcp.max_connections",
                self.sip.tcp.max_connections as u64,
            ),
            (
                "sip.tcp.max_connections_per_source",
                self.sip.tcp.max_connections_per_source as u64,
            ),
            ("sip.tcp.idle_timeout_secs", self.sip.tcp.idle_timeout_secs),
            (
                "sip.digest_failure_window_secs",
                self.sip.digest_failure_window_secs,
            ),
            ("sip.digest_lockout_secs", self.sip.digest_lockout_secs),
            (
                "sip.digest_nonce_lifetime_secs",
                self.sip.digest_nonce_lifetime_secs,
            ),
            (
                "sip.tcp.message_timeout_secs",
                self.sip.tcp.message_timeout_secs,
            ),
        ] {
            if value == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        if self.sip.max_calls == 0 {
            return Err(bad("sip.max_calls", "must be at least 1".into()));
        }
        if self.sip.timer_t1_ms == 0 {
            return Err(bad(
                "sip.timer_t1_ms",
                "must be at least 1 (RFC 3261 T1, 500 by default)".into(),
            ));
        }
        if self.sip.trying_after_ms > 200 {
            return Err(bad(
                "sip.trying_after_ms",
                format!(
                    "{} is over 200: a UAS that may take longer than 200 ms must send 100 Trying by then (RFC 3261 §17.2.1)",
                    self.sip.trying_after_ms
                ),
            ));
        }
        if !(1..=64).contains(&self.rtp.media_threads) {
            return Err(bad(
                "rtp.media_threads",
                format!("{} is not between 1 and 64", self.rtp.media_threads),
            ));
        }
        if self.rtp.realtime_priority > 99 {
            return Err(bad(
                "rtp.realtime_priority",
                format!(
                    "{} is not between 0 (off) and 99",
                    self.rtp.realtime_priority
                ),
            ));
        }
        for (key, uri) in [
            ("transfer.representative", &self.transfer.representative),
            ("transfer.authenticated", &self.transfer.authenticated),
        ] {
            if !(uri.starts_with("sip:") || uri.starts_with("sips:")) || !uri.contains('@') {
                return Err(bad(
                    key,
                    format!("{uri:?} is not a SIP URI like sip:queue@pbx.example"),
                ));
            }
        }
        auth::sms::Gateway::from_config(&self.sms).map_err(|e| bad("sms", e.to_string()))?;
        self.flow
            .validate()
            .map_err(|e| bad("flow", e.to_string()))?;
        if !self.http.listen.ip().is_loopback() && self.http.token.is_empty() {
            return Err(bad(
                "http.token",
                format!(
                    "required when http.listen ({}) is not on loopback",
                    self.http.listen
                ),
            ));
        }
        if !(self.database.url.starts_with("sqlite:") || self.database.url.starts_with("postgres"))
        {
            return Err(bad(
                "database.url",
                format!(
                    "{:?} is neither sqlite://… nor postgres://…",
                    self.database.url
                ),
            ));
        }
        Ok(())
    }

    pub fn allow_from(&self) -> Vec<sip::Cidr> {
        self.sip
            .allow_from
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect()
    }

    pub fn trusted_identity_sources(&self) -> Vec<sip::Cidr> {
        self.sip
            .trusted_identity_sources
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect()
    }

    pub fn codecs(&self) -> Vec<sip::Codec> {
        self.sip
            .codecs
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect()
    }

    /// The address we advertise: the configured public one, else the listen
    /// address, else loopback when listening on every interface.
    pub fn public_ip(&self) -> IpAddr {
        if let Ok(ip) = self.sip.public_address.parse() {
            return ip;
        }
        let ip = self.sip.listen.ip();
        if ip.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            ip
        }
    }

    /// The address for IPv6 callers when [`Config::public_ip`] is IPv4.
    pub fn public_ipv6(&self) -> Option<Ipv6Addr> {
        if let Ok(ip) = self.sip.public_address_v6.parse() {
            return Some(ip);
        }
        match (self.public_ip(), self.sip.listen.ip()) {
            (IpAddr::V4(_), IpAddr::V6(listen)) if listen.is_unspecified() => {
                Some(Ipv6Addr::LOCALHOST)
            }
            _ => None,
        }
    }
}

/// figment names the key and the source; drop its "default." profile prefix.
fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| e.to_string().replace("key \"default.", "key \""))
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} not found")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests;
