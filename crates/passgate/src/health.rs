//! Whether this node can take calls, as one notion read by `/readyz` and by
//! the SIP endpoint's answer to OPTIONS: its store reachable (and migrated),
//! its audit spool writable, an RTP port pair free for a new call (the range
//! not exhausted, the open-file limit not reached), under its caps and not
//! draining. A watcher checks the store and the ports and pushes every
//! change to the endpoint
//! ([`sip::driver::SipHandle::set_ready`]), so a dispatcher probing with
//! OPTIONS sees what `/readyz` says; the endpoint applies `sip.max_calls` and
//! the drain itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use asr::Recognizer;
use auth::store::Store;
use sip::driver::SipHandle;

use crate::metrics::Metrics;
use crate::recognizer_admission::{
    AdmissionLimits, AdmissionTicket, LearntFile, PoolReading, RecognizerAdmission, Refusal,
};

/// How often the watcher asks the store whether it answers.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// A store that takes longer than this to answer a ping is not ready
/// (longer than the pool's wait for a connection, so that the ping can
/// name why there is none).
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// How many calls a node carries at most: `sip.max_calls` in progress, and
/// calls over but waiting for their audit rows (the audit queue's depth).
#[derive(Debug, Clone, Copy)]
pub struct CallCaps {
    pub max_calls: usize,
    pub max_settling: usize,
}

pub struct Health {
    /// `Ok` while the store answers; else why not.
    store: Mutex<Result<(), String>>,
    spool_ok: AtomicBool,
    /// `Ok` while a new call could bind its RTP pair; else why not.
    media: Mutex<Result<(), String>>,
    draining: AtomicBool,
    /// The recognizer and the rule admitting calls by its load.
    recognizer: OnceLock<RecognizerGate>,
}

struct RecognizerGate {
    recognizer: Recognizer,
    admission: Arc<Mutex<RecognizerAdmission>>,
}

impl RecognizerGate {
    fn reading(&self) -> PoolReading {
        PoolReading {
            lag: self.recognizer.lag(),
            turn_cost: self.recognizer.load().turn_cost,
            workers: self.recognizer.workers(),
        }
    }

    fn admission(&self) -> std::sync::MutexGuard<'_, RecognizerAdmission> {
        crate::recognizer_admission::lock(&self.admission)
    }
}

impl Default for Health {
    fn default() -> Self {
        Health {
            store: Mutex::new(Err("not connected yet".to_string())),
            spool_ok: AtomicBool::new(true),
            media: Mutex::new(Ok(())),
            draining: AtomicBool::new(false),
            recognizer: OnceLock::new(),
        }
    }
}

impl Health {
    pub fn store_ok(&self) {
        if let Ok(mut s) = self.store.lock() {
            *s = Ok(());
        }
    }

    pub fn store_failed(&self, why: &str) {
        if let Ok(mut s) = self.store.lock() {
            *s = Err(why.to_string());
        }
    }

    pub fn spool_ok(&self, ok: bool) {
        self.spool_ok.store(ok, Ordering::Relaxed);
    }

    pub fn media_ports(&self, bindable: Result<(), String>) {
        if let Ok(mut m) = self.media.lock() {
            *m = bindable;
        }
    }

    pub fn draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the node is draining: no new call is let in.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// New calls wait while the recognizer is behind, or would be with
    /// them (`crate::recognizer_admission`): past capacity every caller's
    /// decision would come late.
    /// Starts from what admission `learnt` before a restart, if anything.
    pub fn admit_by_recognizer_load(
        &self,
        recognizer: Recognizer,
        limits: AdmissionLimits,
        learnt: Option<LearntFile>,
    ) {
        let admission = RecognizerAdmission::resume(limits, learnt, Instant::now());
        let _ = self.recognizer.set(RecognizerGate {
            recognizer,
            admission: Arc::new(Mutex::new(admission)),
        });
    }

    /// Admission by recognizer load, when it is on, takes a turn to cost
    /// at least `floor` from now on.
    pub fn set_turn_cost_floor(&self, floor: std::time::Duration) {
        if let Some(gate) = self.recognizer.get() {
            gate.admission().set_min_turn_cost(floor);
        }
    }

    /// What admission has learnt so far, to keep across a restart.
    pub fn admission_learnt(&self) -> Option<LearntFile> {
        Some(self.recognizer.get()?.admission().learnt(Instant::now()))
    }

    /// How far behind the recognizer is, and its predicted load, when it
    /// is watched.
    pub fn recognizer_load(&self) -> Option<(Duration, f64)> {
        let gate = self.recognizer.get()?;
        let reading = gate.reading();
        let predicted = gate.admission().predicted_load(Instant::now(), &reading, 0);
        Some((reading.lag, predicted))
    }

    /// Why a call arriving now would be refused by recognizer load, if it
    /// would; nothing is admitted.
    fn recognizer_refusal(&self) -> Option<Refusal> {
        let gate = self.recognizer.get()?;
        let reading = gate.reading();
        gate.admission().check(Instant::now(), &reading).err()
    }

    /// Lets a new call in by recognizer load, or says why not. The call
    /// counts in the prediction while it holds the ticket.
    pub fn admit_call(&self) -> Result<Option<AdmissionTicket>, Refusal> {
        let Some(gate) = self.recognizer.get() else {
            return Ok(None);
        };
        let reading = gate.reading();
        AdmissionTicket::admit(&gate.admission, Instant::now(), &reading).map(Some)
    }
}

impl Health {
    /// `Ok` when new calls are welcome, else the reasons they are not.
    pub fn readiness(&self, metrics: &Metrics, caps: CallCaps) -> Result<(), String> {
        let mut why = match self.node_readiness() {
            Ok(()) => Vec::new(),
            Err(why) => vec![why],
        };
        if metrics.live_calls() >= caps.max_calls as u64 {
            why.push("at sip.max_calls".to_string());
        }
        if metrics.settling_calls() >= caps.max_settling as u64 {
            why.push("audit queue full".to_string());
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }

    /// Readiness without the call caps: what the SIP endpoint is told. It
    /// judges `sip.max_calls` itself, call by call, where a watcher polling
    /// twice a second would lag behind.
    fn node_readiness(&self) -> Result<(), String> {
        let mut why = Vec::new();
        if self.draining.load(Ordering::Relaxed) {
            why.push("draining".to_string());
        }
        match self.store.lock().as_deref() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => why.push(format!("store: {e}")),
            Err(_) => why.push("store: unknown".to_string()),
        }
        if !self.spool_ok.load(Ordering::Relaxed) {
            why.push("audit spool: cannot write".to_string());
        }
        match self.media.lock().as_deref() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => why.push(format!("rtp ports: {e}")),
            Err(_) => why.push("rtp ports: unknown".to_string()),
        }
        if let Some(refusal) = self.recognizer_refusal() {
            why.push(refusal.to_string());
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }
}

/// How often what admission has learnt is written to its file.
const KEEP_LEARNT_EVERY: Duration = Duration::from_secs(10);

/// Writes what admission has learnt to `path` every `KEEP_LEARNT_EVERY`
/// (the server writes it once more on the way out). A failed write is
/// logged once per kind of failure and retried.
pub async fn keep_admission_learnt(health: Arc<Health>, path: std::path::PathBuf) {
    let mut last_error = String::new();
    loop {
        tokio::time::sleep(KEEP_LEARNT_EVERY).await;
        match save_admission_learnt(&health, &path) {
            Ok(()) => last_error.clear(),
            Err(e) if e != last_error => {
                tracing::warn!(error = %e, "could not keep what admission learnt (asr.admit_learnt_file)");
                last_error = e;
            }
            Err(_) => {}
        }
    }
}

/// Writes what admission has learnt to `path` now.
pub fn save_admission_learnt(health: &Health, path: &std::path::Path) -> Result<(), String> {
    match health.admission_learnt() {
        Some(learnt) => learnt.save(path).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// Brings the store's schema up (retrying until the store answers), then
/// keeps checking it and whether a new call could bind its RTP ports
/// (`rtp_ports`), and tells the SIP endpoint whenever readiness changes.
pub async fn watch(
    health: Arc<Health>,
    store: Store,
    sip: SipHandle,
    metrics: Arc<Metrics>,
    rtp_ports: impl Fn() -> std::io::Result<()>,
) {
    let mut migrated = false;
    let mut ready = None;
    let mut last_error = String::new();
    let mut last_media_error = String::new();
    loop {
        let mut checked = ping(&store).await;
        if checked.is_ok() && !migrated {
            checked = match store.migrate().await {
                Ok(()) => {
                    tracing::info!("account store reachable and migrated");
                    migrated = true;
                    Ok(())
                }
                Err(e) => Err(format!("{} ({e})", e.failure())),
            };
        }
        match checked {
            Ok(()) => {
                health.store_ok();
                last_error.clear();
            }
            Err(e) => {
                if e != last_error {
                    tracing::warn!(error = %e, "account store unreachable; not ready");
                    last_error = e.clone();
                }
                health.store_failed(&e);
            }
        }
        if let Some((lag, predicted)) = health.recognizer_load() {
            metrics.recognizer_lag(lag);
            metrics.recognizer_predicted_load(predicted);
        }
        let media = rtp_ports().map_err(|e| format!("no pair can be bound ({e})"));
        if let Err(e) = &media {
            if e != &last_media_error {
                tracing::warn!(error = %e, "no RTP port pair for a new call; not ready");
                last_media_error = e.clone();
            }
        } else {
            last_media_error.clear();
        }
        health.media_ports(media);
        let readiness = health.node_readiness();
        let now_ready = readiness.is_ok();
        if ready != Some(now_ready) {
            match &readiness {
                Ok(()) => tracing::info!(ready = true, "readiness changed"),
                Err(why) => {
                    tracing::warn!(ready = false, why = %why, "readiness changed; new calls refused")
                }
            }
            sip.set_ready(now_ready).await;
            ready = Some(now_ready);
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

async fn ping(store: &Store) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{} ({e})", e.failure())),
        Err(_) => Err("timeout (no answer to a ping)".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_the_store_up_the_spool_writable_and_not_draining() {
        let health = Health::default();
        let metrics = Metrics::default();
        let caps = |max_calls| CallCaps {
            max_calls,
            max_settling: 16,
        };
        let not = health.readiness(&metrics, caps(10)).unwrap_err();
        assert!(not.contains("not connected"), "{not}");
        health.store_ok();
        assert_eq!(health.readiness(&metrics, caps(10)), Ok(()));
        health.store_failed("refused (connection refused)");
        assert!(health
            .readiness(&metrics, caps(10))
            .unwrap_err()
            .contains("store: refused"));
        health.store_ok();
        health.spool_ok(false);
        assert!(health.readiness(&metrics, caps(10)).is_err());
        health.spool_ok(true);
        health.media_ports(Err("no pair can be bound (address in use)".into()));
        assert!(health
            .readiness(&metrics, caps(10))
            .unwrap_err()
            .contains("rtp ports: no pair"));
        health.media_ports(Ok(()));
        assert_eq!(health.readiness(&metrics, caps(10)), Ok(()));
        metrics.call_started();
        assert!(health
            .readiness(&metrics, caps(1))
            .unwrap_err()
            .contains("max_calls"));
        assert_eq!(health.readiness(&metrics, caps(2)), Ok(()));
        health.draining();
        assert_eq!(
            health.readiness(&metrics, caps(2)),
            Err("draining".to_string())
        );
    }
}
