//! Start-up and the main loop: loads the model, opens the account store,
//! starts SIP and the admin HTTP, gives each incoming call its own task, and
//! on SIGTERM drains (new calls 503, calls in progress finish) before exiting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use asr::{Recognizer, SpeechModel, Vocabulary};
use auth::store::{redact_url, Store};
use sip::{driver, EndpointConfig};

use crate::audit_log::AuditLog;
use crate::call;
use crate::config::{Config, LearnSource};
use crate::health::Health;
use crate::media_engine::MediaEngine;
use crate::media_formats::MediaFormats;
use crate::metrics::Metrics;
use crate::recognizer_admission::Refusal;
use crate::rtp_ports::RtpPorts;
use crate::services::{AccountChecks, CallPolicy, MediaResources, Services, Speech, PROMPT_RATE};
use crate::tts::Tts;

/// How long a query waits for a connection to the database server: a
/// caller whose lookup meets an outage is moved on after this.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// How long stopping waits for the store to take the spooled audit rows.
const FLUSH_ON_EXIT: Duration = Duration::from_secs(5);

/// While draining, how often SIP is asked whether calls remain.
const DRAIN_CHECK: Duration = Duration::from_millis(50);

/// Runs the node; `demo` is set by `passgate demo`, whose console shows
/// the demo account and the texts sent.
pub async fn run(mut config: Config, demo: Option<crate::console::Demo>) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let recognizer = load_recognizer(&mut config)?;
    let sms = auth::sms::Gateway::from_config(&config.sms).context("sms")?;
    let crm = (config.crm.lookup_url.is_some() || config.crm.verify_url.is_some())
        .then(|| auth::crm::CrmClient::new(&config.crm))
        .transpose()
        .context("crm")?;

    let mut endpoint = EndpointConfig::new(SocketAddr::new(
        config.public_ip(),
        config.sip.listen.port(),
    ));
    endpoint.public_ipv6 = config.public_ipv6();
    endpoint.user = config.sip.user.clone();
    endpoint.media.codecs = config.codecs();
    endpoint.media.ptime_ms = config.sip.ptime_ms;
    endpoint.media.srtp = config.rtp.srtp;
    endpoint.max_calls = config.sip.max_calls;
    endpoint.trying_after = Duration::from_millis(config.sip.trying_after_ms);
    endpoint.timers.t1 = Duration::from_millis(config.sip.timer_t1_ms);
    endpoint.allow_from = config.allow_from();
    endpoint.auth_limits = sip::AuthLimits {
        per_source: config.sip.digest_max_failures_per_source,
        per_user: config.sip.digest_max_failures_per_user,
        window: Duration::from_secs(config.sip.digest_failure_window_secs),
        cooldown: Duration::from_secs(config.sip.digest_lockout_secs),
    };
    endpoint.server_header =
        (!config.sip.server_header.is_empty()).then(|| config.sip.server_header.clone());
    endpoint.trusted_identity_sources = config.trusted_identity_sources();
    let rate = config.sip.calls_per_second_per_source;
    endpoint.calls_per_source = (rate > 0.0).then(|| sip::RateLimit {
        per_second: rate,
        burst: rate.max(1.0),
    });
    let total = config.sip.max_calls_per_second;
    endpoint.calls_per_second = (total > 0.0).then(|| sip::RateLimit {
        per_second: total,
        burst: total.max(1.0),
    });
    if !config.sip.digest_realm.is_empty() {
        endpoint.digest = Some(digest_auth(&config));
    }
    let mut tcp_limits = config.sip.tcp.limits();
    let (open_files, raise_error) = crate::fd_budget::raise_open_file_limit();
    let needed =
        crate::fd_budget::reserved(config.sip.max_calls) + tcp_limits.max_connections as u64;
    if let Some(e) = raise_error {
        tracing::warn!(limit = open_files, needed, error = %e, "could not raise the open-file limit (RLIMIT_NOFILE)");
    }
    tcp_limits.max_connections =
        crate::fd_budget::tcp_cap(open_files, config.sip.max_calls, tcp_limits.max_connections);
    if open_files < needed {
        tracing::warn!(
            limit = open_files,
            needed,
            tcp_connections = tcp_limits.max_connections,
            "the open-file limit is below what sip.max_calls and sip.tcp.max_connections need; TCP connections capped lower so calls keep their media sockets"
        );
    } else {
        tracing::info!(limit = open_files, needed, "open-file limit");
    }
    let tls = crate::secure_trunk::tls_listener(&config)?;
    if let Some(t) = &tls {
        crate::secure_trunk::reload_on_sighup(t.config.clone())?;
        let s = &config.sip.tls;
        crate::secure_trunk::reload_on_change(
            t.config.clone(),
            [&s.cert, &s.key, &s.client_ca]
                .into_iter()
                .filter(|f| !f.is_empty())
                .map(std::path::PathBuf::from)
                .collect(),
            Duration::from_secs(s.reload_check_secs),
        );
    }
    let ws = config
        .sip
        .ws
        .listen_addr()
        .map_err(anyhow::Error::msg)?
        .map(|listen| driver::WsListen {
            listen,
            token: Some(config.http.token.clone()),
        });
    let mut server = driver::start_with_listeners(config.sip.listen, endpoint, tcp_limits, tls, ws)
        .await
        .with_context(|| {
            format!(
                "binding SIP (UDP, TCP, TLS, WebSocket) on {}",
                config.sip.listen
            )
        })?;
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let learnt_file = Some(config.asr.admit_learnt_file.clone())
        .filter(|path| !path.as_os_str().is_empty() && recognizer.is_some());
    let tts = Tts::new(
        &config.prompts.voice,
        &config.prompts.cache_dir,
        config.prompts.dir.as_deref(),
        PROMPT_RATE,
    );
    let mut measured_at_start = None;
    if let Some(recognizer) = &recognizer {
        let turn_cost = crate::turn_cost::find_floor(&config, recognizer, &tts).await;
        measured_at_start = turn_cost.measured;
        metrics.admission_turn_cost_floor(turn_cost.floor);
        let window = Duration::from_secs(config.asr.admit_window_secs);
        let learnt = match &learnt_file {
            Some(path) => match crate::recognizer_admission::LearntFile::load(path, window) {
                Ok(learnt) => learnt,
                Err(e) => {
                    tracing::warn!(error = %e, "admission starts from its priors (asr.admit_learnt_file)");
                    None
                }
            },
            None => None,
        };
        if learnt.is_some() {
            tracing::info!(path = %config.asr.admit_learnt_file.display(), "admission resumes from what it learnt before");
        }
        health.admit_by_recognizer_load(
            recognizer.clone(),
            crate::recognizer_admission::AdmissionLimits {
                max_lag: Duration::from_millis(config.asr.admit_max_lag_ms),
                max_load: config.asr.admit_max_load,
                window,
                min_turn_cost: turn_cost.floor,
            },
            learnt,
        );
    }
    if store.backend() == auth::store::Backend::Sqlite {
        // Opened and migrated above.
        health.store_ok();
    } else {
        // Not ready until the watcher has reached and migrated the store.
        server.handle.set_ready(false).await;
    }
    let audit_log = AuditLog::start(
        store.clone(),
        metrics.clone(),
        health.clone(),
        &config.database.audit_spool,
    )?;
    let media = MediaEngine::start(
        config.rtp.media_threads,
        config.rtp.realtime_priority,
        config.rtp.io_uring,
        metrics.media.clone(),
    )
    .with_context(|| format!("starting {} media threads", config.rtp.media_threads))?;
    let live = Arc::new(crate::console::LiveCalls::default());
    let demo = demo.map(Arc::new);
    let console = crate::console::Console {
        store: store.clone(),
        live: live.clone(),
        series: crate::console::series::start(metrics.clone()),
        numbering: Arc::new(config.flow.numbering.clone()),
        demo: demo.clone(),
        assets: config.http.assets.clone(),
    };
    let http = crate::admin_http::start(
        config.http.listen,
        &config.http.token,
        metrics.clone(),
        server.handle.clone(),
        crate::admin_http::Readiness {
            health: health.clone(),
            caps: crate::health::CallCaps {
                max_calls: config.sip.max_calls,
                max_settling: crate::audit_log::QUEUE_DEPTH,
            },
        },
        console,
        crate::phone_page::routes(
            config.http.assets.clone(),
            crate::phone_page::PhoneInfo {
                ws: server.ws_addr,
                demo: crate::demo::shown_account(&config),
            },
            &config.http.token,
        ),
    )
    .await
    .with_context(|| format!("binding the admin HTTP on {}", config.http.listen))?;
    // Scripts and tests wait for these lines (the ports matter when they were 0).
    println!("HTTP listening on {http}");
    println!("SIP listening on {} (UDP and TCP)", server.local_addr);
    if let Some(tls) = server.tls_addr {
        println!("SIP over TLS listening on {tls}");
    }
    if let Some(ws) = server.ws_addr {
        println!("SIP over WebSocket listening on {ws}");
    }
    tracing::info!(sip = %server.local_addr, public = %config.public_ip(), public_v6 = ?config.public_ipv6(), %http, "passgate ready");

    let recognizer_rate = recognizer
        .as_ref()
        .map_or(16000, |r: &asr::Recognizer| r.model().sample_rate());
    let services = Arc::new(Services {
        sip: server.handle.clone(),
        media: MediaResources {
            ports: RtpPorts::new(config.sip.listen.ip(), config.rtp.port_range),
            engine: media,
            media_ip: config.public_ip(),
            formats: MediaFormats {
                recognizer_rate,
                strict_source: config.rtp.strict_source,
                learn_source: match config.rtp.learn_source {
                    LearnSource::SdpAddress => media::SourceLearning::SdpAddress,
                    LearnSource::Any => media::SourceLearning::Any,
                },
            },
        },
        speech: Speech {
            tts,
            recognizer,
            listen: config.asr.listen.options(),
        },
        accounts: AccountChecks {
            store,
            crm,
            sms,
            sms_message: config.sms.message.clone(),
            sms_cap: config.sms_cap,
            lockout: config.lockout,
            match_rule: config.passphrase,
            metrics: metrics.clone(),
            demo_sms: demo.as_ref().map(|d| d.sms.clone()),
        },
        policy: CallPolicy {
            max_duration: Duration::from_secs(config.call.max_duration_secs),
            max_calls: config.sip.max_calls,
            answer_delay: Duration::from_millis(config.sip.answer_delay_ms),
            admit_queue: Duration::from_millis(config.asr.admit_queue_ms),
            require_verstat: config.auth.require_verstat,
            flow: Arc::new(config.flow.clone()),
            no_barge_in: config.prompts.no_barge_in.clone(),
            transfer: config.transfer.clone(),
        },
        audit_log,
        metrics,
        live,
    });

    tokio::spawn(prerender_prompts(services.clone()));
    let ports = services.clone();
    tokio::spawn(crate::health::watch(
        health.clone(),
        services.accounts.store.clone(),
        services.sip.clone(),
        services.metrics.clone(),
        move || ports.media.ports.probe(),
    ));

    tokio::spawn(crate::turn_cost::remeasure(
        Arc::new(config.clone()),
        services.clone(),
        health.clone(),
        measured_at_start,
    ));

    if let Some(path) = &learnt_file {
        tokio::spawn(crate::health::keep_admission_learnt(
            health.clone(),
            path.clone(),
        ));
    }

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
    loop {
        tokio::select! {
            new_call = server.calls.recv() => {
                let Some(new_call) = new_call else { break };
                start_call(&services, &health, new_call).await;
            }
            _ = &mut shutdown, if drain_deadline.is_none() => {
                let grace = Duration::from_secs(config.call.drain_timeout_secs);
                tracing::info!(calls = services.metrics.live_calls(), grace_secs = grace.as_secs(), "stopping: refusing new calls, letting calls in progress finish");
                health.draining();
                server.handle.drain().await;
                drain_deadline = Some(tokio::time::Instant::now() + grace);
            }
            _ = tokio::time::sleep(DRAIN_CHECK), if drain_deadline.is_some() => {
                let sip_calls = server.handle.stats().await.map_or(0, |s| s.active_calls);
                if sip_calls == 0 {
                    tracing::info!("all calls finished; exiting");
                    break;
                }
            }
            _ = tokio::time::sleep_until(drain_deadline.unwrap_or(far)) => {
                tracing::warn!(calls = services.metrics.live_calls(), "drain deadline reached; exiting with calls in progress");
                break;
            }
        }
    }
    if let Some(path) = &learnt_file {
        if let Err(e) = crate::health::save_admission_learnt(&health, path) {
            tracing::warn!(error = %e, "could not keep what admission learnt (asr.admit_learnt_file)");
        }
    }
    // SIP has forgotten the calls; their tasks may still be writing the
    // last rows. Then rows the store has not taken yet stay in the spool
    // for the next start; a store that answers gets them now.
    let exit_deadline = tokio::time::Instant::now() + FLUSH_ON_EXIT;
    while services.metrics.live_calls() + services.metrics.settling_calls() > 0
        && tokio::time::Instant::now() < exit_deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if tokio::time::timeout_at(exit_deadline, services.audit_log.flush())
        .await
        .is_err()
    {
        tracing::warn!("the account store did not take every audit row in time; they stay in the spool and are stored at the next start");
    }
    services.accounts.store.close().await;
    Ok(())
}

/// Renders every prompt whose words do not depend on the caller, so a call
/// never waits for espeak-ng on them.
async fn prerender_prompts(services: Arc<Services>) {
    let started = std::time::Instant::now();
    let mut rendered = 0;
    for id in auth::flow::PromptId::ALL {
        let text = services.policy.flow.prompts.template(id);
        if text.is_empty() || text.contains('{') {
            continue;
        }
        match services.speech.tts.render(id.name(), text).await {
            Ok(_) => rendered += 1,
            Err(e) => tracing::warn!(prompt = ?id, error = %e, "could not render a prompt"),
        }
    }
    tracing::info!(
        rendered,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "prompts ready"
    );
}

/// A SQLite file is opened and migrated at once (failing there is a
/// configuration error). A database server may be down when a node starts:
/// the node starts anyway, not ready, and the health watcher migrates and
/// makes it ready when the server answers.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = &config.database.url;
    let opening = || format!("opening the account store at {}", redact_url(url));
    if url.starts_with("sqlite:") {
        let store = Store::connect(url).await.with_context(opening)?;
        store
            .migrate()
            .await
            .context("migrating the account store")?;
        return Ok(store);
    }
    Store::open_lazy(&auth::store::StoreConfig {
        url: Some(url.clone()),
        connect_timeout: STORE_WAIT,
        ..auth::store::StoreConfig::default()
    })
    .with_context(opening)
}

/// Loads the model once; the flow's passphrase turn listens for the words of
/// `asr.vocabulary` when one is configured.
/// Digest authentication as configured: nonces keyed by
/// `sip.digest_nonce_secret` (else a per-process key, good only on this node)
/// and stamped with wall-clock time, so nodes sharing the key take each
/// other's nonces.
fn digest_auth(config: &Config) -> sip::DigestAuth {
    let secret = if config.sip.digest_nonce_secret.is_empty() {
        if config.database.url.starts_with("postgres") {
            tracing::warn!(
                "sip.digest_nonce_secret is not set: a Digest challenge from this node cannot be answered to another node sharing the database"
            );
        }
        format!("{:032x}", rand::random::<u128>())
    } else {
        config.sip.digest_nonce_secret.clone()
    };
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    sip::DigestAuth::new(
        &config.sip.digest_realm,
        config.sip.digest_users.clone(),
        &secret,
    )
    .with_wall_clock(std::time::Instant::now(), since_epoch)
    .with_lifetime(config.sip.digest_nonce_lifetime_secs)
}

fn load_recognizer(config: &mut Config) -> anyhow::Result<Option<Recognizer>> {
    let model = SpeechModel::load_with(&config.asr.model, &config.asr.decoder())
        .with_context(|| format!("asr.model = {}", config.asr.model.display()))?;
    if let Some(path) = &config.asr.vocabulary {
        let vocabulary = Vocabulary::from_file(path)
            .with_context(|| format!("asr.vocabulary = {}", path.display()))?;
        if config.flow.passphrase.vocabulary.is_none() {
            config.flow.passphrase.vocabulary = Some(vocabulary.words().to_vec());
        }
    }
    // The passphrase turn's words, however they were given, get the decoys.
    if let Some(words) = config.flow.passphrase.vocabulary.take() {
        let listened = crate::filler::passphrase_vocabulary(
            &config.asr.model,
            Vocabulary::from_words(&words),
            &config.asr.decoys,
        )?;
        config.flow.passphrase.vocabulary = Some(listened.words().to_vec());
    }
    // The passphrase turn's words, however they were given, get the filler.
    let filler = match &config.flow.passphrase.vocabulary {
        Some(words) => crate::filler::passphrase_filler(
            &config.asr.model,
            &Vocabulary::from_words(words),
            &config.asr.filler,
        )?,
        None => None,
    };
    tracing::info!(model = %config.asr.model.display(), rate = model.sample_rate(), "speech model loaded");
    // Before the workers start: a panic in a turn is logged without a
    // backtrace's stall (panic_hook.rs).
    crate::panic_hook::install();
    let recognizer = Recognizer::new(model, config.asr.pool());
    Ok(Some(match filler {
        Some(filler) => recognizer.with_filler(filler),
        None => recognizer,
    }))
}

/// Starts a call's task, unless the node is past its capacity: then the
/// call is refused with 503.
async fn start_call(services: &Arc<Services>, health: &Arc<Health>, new_call: driver::NewCall) {
    let driver::NewCall { incoming, events } = new_call;
    // sip.max_calls counts calls SIP still knows; calls that SIP has
    // ended but whose tasks are behind (a saturated machine) count
    // too, or a backlog of them grows without bound. Calls waiting
    // only for their audit rows are bounded by the audit queue: a
    // stalled store turns new calls away once it is full.
    // A recognizer behind the calls it has would make every caller
    // already in wait longer for their decision.
    let metrics = &services.metrics;
    if metrics.live_calls() >= services.policy.max_calls as u64
        || metrics.settling_calls() >= crate::audit_log::QUEUE_DEPTH as u64
    {
        services.metrics.call_shed();
        services.sip.reject(incoming.call, 503).await;
        return;
    }
    // Checked last: a call admitted here counts in the recognizer's
    // predicted load.
    match health.admit_call() {
        Ok(admitted) => run_call(services.clone(), incoming, events, admitted),
        // Refused for the turns predicted to crowd a second: rings for
        // admission on a task of its own (the calls arriving meanwhile are
        // looked at as they come). A recognizer already behind (the lag)
        // refuses at once: the callers in are late now.
        Err(refusal @ Refusal::Load { .. }) if !services.policy.admit_queue.is_zero() => {
            let (services, health) = (services.clone(), health.clone());
            tokio::spawn(async move {
                let mut events = events;
                let call = incoming.call;
                if let Some(admitted) =
                    queue_for_admission(&services, &health, call, &mut events, refusal).await
                {
                    run_call(services, incoming, events, admitted);
                }
            });
        }
        Err(refusal) => refuse_for_load(services, incoming.call, refusal).await,
    }
}

/// Starts the call's task.
fn run_call(
    services: Arc<Services>,
    incoming: sip::IncomingCall,
    events: tokio::sync::mpsc::Receiver<sip::Event>,
    admitted: Option<crate::recognizer_admission::AdmissionTicket>,
) {
    // Boxed: the call's future is large, and tokio copies a task's
    // future into its cell at spawn and its stage again at the end.
    tokio::spawn(Box::pin(call::run(services, incoming, events, admitted)));
}

/// Answers a new call 503 (with Retry-After) because of the recognizer's
/// load, `refusal` saying why.
async fn refuse_for_load(services: &Arc<Services>, call: sip::CallHandle, refusal: Refusal) {
    tracing::debug!(why = %refusal, "new call refused by recognizer load");
    services.metrics.call_shed();
    services.metrics.call_refused(refusal.label());
    services.sip.reject(call, 503).await;
}

/// How often a call ringing for admission is looked at again.
const ADMIT_RETRY: Duration = Duration::from_millis(100);

/// A call the recognizer's predicted load refused rings while admission
/// looks again, for at most `asr.admit_queue_ms`: turns predicted to crowd
/// one second are usually clear of the next, and a caller ringing a second
/// longer is better served than one refused. The recognizer falling behind
/// meanwhile (the lag) or the node draining refuses it at once. Returns the call's ticket once
/// let in; `None` once it was refused 503 (on the last reason) or the
/// caller hung up meanwhile.
async fn queue_for_admission(
    services: &Arc<Services>,
    health: &Arc<Health>,
    call: sip::CallHandle,
    events: &mut tokio::sync::mpsc::Receiver<sip::Event>,
    refusal: Refusal,
) -> Option<Option<crate::recognizer_admission::AdmissionTicket>> {
    let metrics = &services.metrics;
    metrics.call_queued();
    services.sip.ring(call).await;
    let started = tokio::time::Instant::now();
    let deadline = started + services.policy.admit_queue;
    let mut last = refusal;
    while tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = tokio::time::sleep(ADMIT_RETRY) => {}
            event = events.recv() => match event {
                Some(sip::Event::CallEnded { reason, .. }) => {
                    tracing::info!(?reason, "caller hung up while ringing for admission");
                    metrics.queue_wait(started.elapsed(), false);
                    return None;
                }
                None => {
                    metrics.queue_wait(started.elapsed(), false);
                    return None;
                }
                Some(_) => {}
            },
        }
        // A node stopping lets no new call in, however long it rang.
        if health.is_draining() {
            tracing::debug!("new call ringing for admission refused: draining");
            metrics.queue_wait(started.elapsed(), false);
            metrics.call_shed();
            services.sip.reject(call, 503).await;
            return None;
        }
        match health.admit_call() {
            Ok(admitted) => {
                tracing::debug!(
                    waited_ms = started.elapsed().as_millis() as u64,
                    "new call let in after ringing for admission"
                );
                metrics.queue_wait(started.elapsed(), true);
                return Some(admitted);
            }
            Err(refusal @ Refusal::Lag { .. }) => {
                last = refusal;
                break;
            }
            Err(refusal) => last = refusal,
        }
    }
    metrics.queue_wait(started.elapsed(), false);
    refuse_for_load(services, call, last).await;
    None
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
