//! The audit trail's one writer. Every call's rows go through a single
//! queue to the node's local spool ([`crate::audit_spool`]): appended and
//! fsync'd a batch at a time, after which the call counts as finished
//! (metrics, its last log line). A second task moves spooled rows to the
//! store in batches, in order, retrying until the store takes them: an
//! outage of the store costs time, never rows, and finished calls do not
//! pile up behind it. Each row carries an id the store keeps unique, so a
//! batch sent again (a retry whose answer was lost, a replay after a crash)
//! is stored once.
//!
//! When the spool cannot be written (a full disk), the rows still go to
//! the store from memory, the error is logged and counted, and the node
//! says it is not ready (so a dispatcher sends its calls elsewhere); rows
//! of that moment are lost only if the process also dies before the store
//! takes them.
//!
//! On start, rows a previous run spooled and did not store are sent, and
//! its calls that have no end row get one: `call_ended` with the outcome
//! `interrupted`.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use auth::flow::AuditEvent;
use auth::phone::E164;
use auth::store::{FailedFactor, NewAuditRow, Store, Timestamp};
use media::SessionStats;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::audit_spool::{Spool, SpooledRow, CALL_ENDED};
use crate::health::Health;
use crate::metrics::Metrics;

/// Rows waiting for the writer; a call that finds it full waits.
pub(crate) const QUEUE_DEPTH: usize = 16_384;
/// Rows per spool write and per store batch at most.
const BATCH: usize = 512;
/// How long the writer lets rows gather after the first: a little latency at
/// the end of a call buys batches of tens of rows at thousands of calls/s.
const LINGER: Duration = Duration::from_millis(5);
/// A failed store batch is tried again after this, doubling up to
/// [`RETRY_MAX`], for as long as it takes.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// The outcome of a call a previous run left open.
pub const INTERRUPTED: &str = "interrupted";

enum Item {
    Row(Box<(NewAuditRow, Timestamp)>),
    /// Answered once every row queued before it is in the store.
    Flush(oneshot::Sender<()>),
    /// A call over, finished (counted and logged) once its rows are spooled.
    Finished(Box<Finished>),
}

/// A call whose flow and media are gone, to be counted as ended once its
/// rows are safe.
pub struct Finished {
    /// How the call ended, by name (`CallOutcome::label`).
    pub outcome: String,
    pub stats: SessionStats,
    /// The call's span, for its last log line.
    pub span: tracing::Span,
}

impl Finished {
    fn complete(self, metrics: &Metrics) {
        let _in_call = self.span.enter();
        metrics.rtp_finished(&self.stats);
        tracing::info!(
            outcome = %self.outcome,
            rtp_in = self.stats.receiver.datagrams,
            lost = self.stats.receiver.jitter.lost,
            "call finished"
        );
        metrics.call_ended(&self.outcome);
    }
}

/// Rows spooled and not yet stored, shared by the writer and the mover.
#[derive(Default)]
struct Pending {
    rows: VecDeque<SpooledRow>,
    /// Flushes waiting for the store to have every row up to a sequence.
    flushes: Vec<(u64, oneshot::Sender<()>)>,
    stored_upto: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
    spool: Mutex<Spool>,
}

#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Item>,
    metrics: Arc<Metrics>,
    store: Store,
}

impl AuditLog {
    /// Opens the spool at `spool_path`, closes what a previous run left
    /// open, and starts the writer and the mover.
    pub fn start(
        store: Store,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        spool_path: &Path,
    ) -> anyhow::Result<AuditLog> {
        let (mut spool, recovered) = Spool::open(spool_path)
            .with_context(|| format!("opening the audit spool {}", spool_path.display()))?;
        let run = format!("{:016x}", rand::random::<u64>());
        let mut seq = recovered.last_seq;
        let now = Timestamp::now();
        let interrupted: Vec<SpooledRow> = recovered
            .open_calls
            .iter()
            .map(|call_id| {
                seq += 1;
                end_row(&run, seq, call_id, INTERRUPTED, now)
            })
            .collect();
        spool
            .append(&interrupted)
            .with_context(|| format!("writing to the audit spool {}", spool_path.display()))?;
        if !recovered.pending.is_empty() || !interrupted.is_empty() {
            tracing::info!(
                rows = recovered.pending.len(),
                interrupted = interrupted.len(),
                "audit rows from the last run to store; its calls left open are closed as interrupted"
            );
        }
        metrics.calls_closed_as(INTERRUPTED, interrupted.len() as u64);
        let mut pending = Pending::default();
        pending.rows.extend(recovered.pending);
        pending.rows.extend(interrupted);
        pending.stored_upto = pending.rows.front().map_or(seq, |r| r.seq - 1);
        let shared = Arc::new(Shared {
            pending: Mutex::new(pending),
            wake: Notify::new(),
            spool: Mutex::new(spool),
        });
        let (queue, items) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(
            shared.clone(),
            metrics.clone(),
            health,
            run,
            seq,
            items,
        ));
        tokio::spawn(move_to_store(store.clone(), shared, metrics.clone()));
        Ok(AuditLog {
            queue,
            metrics,
            store,
        })
    }

    pub async fn append(&self, call_id: &Arc<str>, event: AuditEvent, caller: Option<&E164>) {
        let at = Timestamp::now();
        if let Some((account, factor)) = failed_factor(&event) {
            // Off the writer: the lock-out's counters are the store's, and
            // the spool must not wait for the store.
            let (store, metrics, caller) =
                (self.store.clone(), self.metrics.clone(), caller.cloned());
            tokio::spawn(async move {
                if let Err(e) = store
                    .record_failure(account.as_ref(), caller.as_ref(), factor, at)
                    .await
                {
                    tracing::error!(error = %e, cause = %e.failure(), "could not record a failed factor");
                    metrics.store_error();
                }
            });
        }
        let row = NewAuditRow::from_flow(call_id, &event);
        self.send_row(row, at).await;
    }

    /// The row that ends every answered call: how it ended, by name
    /// (`CallOutcome::label`).
    pub async fn end(&self, call_id: &str, outcome: &str) {
        let row = NewAuditRow {
            call_id: call_id.to_string(),
            event: CALL_ENDED.to_string(),
            outcome: Some(outcome.to_string()),
            account: None,
            detail: json!({ "event": CALL_ENDED, "outcome": outcome }),
        };
        self.send_row(row, Timestamp::now()).await;
    }

    async fn send_row(&self, row: NewAuditRow, at: Timestamp) {
        if self
            .queue
            .send(Item::Row(Box::new((row, at))))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped; row lost");
        }
    }

    /// Counts the call as ended, and logs it, once every row appended
    /// before is spooled; only a full queue makes this wait.
    pub async fn finish(&self, call: Finished) {
        if let Err(mpsc::error::SendError(Item::Finished(call))) =
            self.queue.send(Item::Finished(Box::new(call))).await
        {
            tracing::error!("the audit writer has stopped; finishing the call without it");
            call.complete(&self.metrics);
        }
    }

    /// Waits until every row appended before this call is in the store.
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.queue.send(Item::Flush(done)).await.is_ok() {
            let _ = stored.await;
        }
    }
}

fn end_row(run: &str, seq: u64, call_id: &str, outcome: &str, at: Timestamp) -> SpooledRow {
    SpooledRow {
        seq,
        id: format!("{run}-{seq}"),
        call_id: call_id.to_string(),
        event: CALL_ENDED.to_string(),
        outcome: Some(outcome.to_string()),
        account: None,
        detail: json!({ "event": CALL_ENDED, "outcome": outcome }),
        at: at.unix_millis(),
    }
}

async fn write(
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    run: String,
    mut seq: u64,
    mut items: mpsc::Receiver<Item>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    let mut finished = Vec::new();
    while let Some(first) = items.recv().await {
        tokio::time::sleep(LINGER).await;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Item::Row(row) => {
                    let (row, at) = *row;
                    seq += 1;
                    batch.push(SpooledRow {
                        seq,
                        id: format!("{run}-{seq}"),
                        call_id: row.call_id,
                        event: row.event,
                        outcome: row.outcome,
                        account: row.account.map(|a| a.0),
                        detail: row.detail,
                        at: at.unix_millis(),
                    });
                }
                Item::Flush(done) => flushes.push((seq, done)),
                Item::Finished(call) => finished.push(call),
            }
            if batch.len() < BATCH {
                next = items.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let rows = std::mem::take(&mut batch);
            let written = {
                let (shared, rows) = (shared.clone(), rows.clone());
                tokio::task::spawn_blocking(move || match shared.spool.lock() {
                    Ok(mut spool) => spool.append(&rows),
                    Err(_) => Err(std::io::Error::other("the spool's lock is poisoned")),
                })
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("the spool's writer panicked")))
            };
            match written {
                Ok(()) => health.spool_ok(true),
                Err(e) => {
                    let cause = auth::store::StoreFailure::of_io(&e);
                    tracing::error!(error = %e, %cause, rows = rows.len(), "could not write the audit spool; the rows go to the store from memory");
                    metrics.audit_spool_error();
                    health.spool_ok(false);
                }
            }
            if let Ok(mut pending) = shared.pending.lock() {
                pending.rows.extend(rows);
            }
            shared.wake.notify_one();
        }
        if let Ok(mut pending) = shared.pending.lock() {
            for (upto, done) in flushes.drain(..) {
                if upto <= pending.stored_upto {
                    let _ = done.send(());
                } else {
                    pending.flushes.push((upto, done));
                }
            }
        }
        for call in finished.drain(..) {
            call.complete(&metrics);
        }
        report_depth(&shared, &metrics);
    }
}

/// Moves spooled rows to the store, oldest first, until none are left;
/// waits for more. A batch the store refuses is sent again until taken.
async fn move_to_store(store: Store, shared: Arc<Shared>, metrics: Arc<Metrics>) {
    let mut retry = RETRY_FIRST;
    let mut failing: Option<auth::store::StoreFailure> = None;
    loop {
        let batch: Vec<SpooledRow> = match shared.pending.lock() {
            Ok(p) => p.rows.iter().take(BATCH).cloned().collect(),
            Err(_) => return,
        };
        let Some(upto) = batch.last().map(|r| r.seq) else {
            shared.wake.notified().await;
            continue;
        };
        let rows: Vec<(String, NewAuditRow, Timestamp)> = batch
            .into_iter()
            .map(|r| {
                let at = Timestamp::from_unix_millis(r.at);
                let row = NewAuditRow {
                    call_id: r.call_id,
                    event: r.event,
                    outcome: r.outcome,
                    account: r.account.map(auth::flow::AccountId),
                    detail: r.detail,
                };
                (r.id, row, at)
            })
            .collect();
        match store.append_audit_rows_once(&rows).await {
            Ok(_) => {
                if failing.take().is_some() {
                    tracing::info!("the account store takes audit rows again");
                }
                retry = RETRY_FIRST;
                if let Ok(mut p) = shared.pending.lock() {
                    let n = rows.len().min(p.rows.len());
                    p.rows.drain(..n);
                    p.stored_upto = upto;
                    let (due, waiting) = std::mem::take(&mut p.flushes)
                        .into_iter()
                        .partition::<Vec<_>, _>(|(at, _)| *at <= upto);
                    p.flushes = waiting;
                    for (_, done) in due {
                        let _ = done.send(());
                    }
                }
                let shared = shared.clone();
                let marked = tokio::task::spawn_blocking(move || {
                    let rest: Vec<SpooledRow> = match shared.pending.lock() {
                        Ok(p) => p.rows.iter().cloned().collect(),
                        Err(_) => Vec::new(),
                    };
                    match shared.spool.lock() {
                        Ok(mut spool) => spool.mark_stored(upto, &rest),
                        Err(_) => Err(std::io::Error::other("the spool's lock is poisoned")),
                    }
                })
                .await;
                if let Ok(Err(e)) = marked {
                    // The rows are stored; they may be sent again after a
                    // restart, and the store keeps them once.
                    tracing::warn!(error = %e, "could not mark audit rows as stored in the spool");
                }
            }
            Err(e) => {
                let mut cause = e.failure();
                if cause == auth::store::StoreFailure::Timeout {
                    // The pool only says it had no connection; ask why.
                    if let Some(why) = store.why_unreachable().await {
                        cause = why.failure();
                    }
                }
                if failing != Some(cause) {
                    tracing::warn!(error = %e, %cause, rows = rows.len(), "could not store audit rows; they wait in the spool and are retried");
                    failing = Some(cause);
                }
                metrics.store_error();
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
        report_depth(&shared, &metrics);
    }
}

fn report_depth(shared: &Shared, metrics: &Metrics) {
    let Ok(p) = shared.pending.lock() else {
        return;
    };
    let age = p.rows.front().map_or(Duration::ZERO, |r| {
        let waited = Timestamp::now().unix_millis() - r.at;
        Duration::from_millis(waited.max(0) as u64)
    });
    metrics.audit_spool(p.rows.len(), age);
}

/// A passphrase that did not match, a code never entered right or a typed
/// number that matched nothing counts towards the lock-out.
fn failed_factor(event: &AuditEvent) -> Option<(Option<auth::flow::AccountId>, FailedFactor)> {
    use auth::flow::{CodeResult, LookupSummary, PassphraseResult};
    match event {
        AuditEvent::PassphraseChecked {
            account,
            result: PassphraseResult::NoMatch,
        } => Some((Some(account.clone()), FailedFactor::Passphrase)),
        AuditEvent::CodeChecked {
            account,
            result: CodeResult::Exhausted,
        } => Some((Some(account.clone()), FailedFactor::SmsCode)),
        AuditEvent::NumberLookup {
            result: LookupSummary::NotFound,
            ..
        } => Some((None, FailedFactor::TypedNumber)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A call as `call::run` ends one: started, its rows queued, over, finished.
    async fn one_call(log: &AuditLog, metrics: &Metrics, call_id: &str) {
        metrics.call_started();
        let call_id: Arc<str> = Arc::from(call_id);
        log.append(&call_id, AuditEvent::CallStarted { caller: None }, None)
            .await;
        metrics.call_over();
        log.end(&call_id, "no_ack").await;
        log.finish(Finished {
            outcome: "no_ack".to_string(),
            stats: SessionStats::default(),
            span: tracing::Span::none(),
        })
        .await;
        assert_eq!(metrics.live_calls(), 0, "an over call is not live");
    }

    async fn sqlite(dir: &Path, migrated: bool) -> Store {
        let url = format!("sqlite://{}", dir.join("a.db").display());
        let store = Store::connect(&url).await.unwrap();
        if migrated {
            store.migrate().await.unwrap();
        }
        store
    }

    fn rows_of(rows: &[auth::store::AuditRow], call: &str) -> Vec<(String, Option<String>)> {
        rows.iter()
            .filter(|r| r.call_id == call)
            .map(|r| (r.event.clone(), r.outcome.clone()))
            .collect()
    }

    #[tokio::test]
    async fn a_call_ends_with_an_end_row_once_its_rows_are_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite(dir.path(), true).await;
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(Health::default());
        let log = AuditLog::start(
            store.clone(),
            metrics.clone(),
            health,
            &dir.path().join("s"),
        )
        .unwrap();
        one_call(&log, &metrics, "stored-1").await;
        until("settled", || metrics.settling_calls() == 0).await;
        log.flush().await;
        let text = metrics.render(None);
        assert!(text.contains("passgate_calls_active 0\n"), "{text}");
        assert!(
            text.contains("passgate_call_outcomes_total{outcome=\"no_ack\"} 1\n"),
            "{text}"
        );
        until("spool drained", || {
            metrics
                .render(None)
                .contains("passgate_audit_spool_rows 0\n")
        })
        .await;
        let rows = store.audit(10).await.unwrap();
        assert_eq!(
            rows_of(&rows, "stored-1"),
            [
                ("call_started".to_string(), Some("withheld".to_string())),
                ("call_ended".to_string(), Some("no_ack".to_string()))
            ]
        );
    }

    #[tokio::test]
    async fn a_store_outage_holds_rows_in_the_spool_not_the_calls_and_loses_none() {
        let dir = tempfile::tempdir().unwrap();
        // Not migrated: every insert fails until it is.
        let store = sqlite(dir.path(), false).await;
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(Health::default());
        let log = AuditLog::start(
            store.clone(),
            metrics.clone(),
            health,
            &dir.path().join("s"),
        )
        .unwrap();
        for i in 0..20 {
            one_call(&log, &metrics, &format!("outage-{i}")).await;
        }
        until("calls finished during the outage", || {
            metrics.settling_calls() == 0
        })
        .await;
        until("spool depth reported", || {
            metrics
                .render(None)
                .contains("passgate_audit_spool_rows 40\n")
        })
        .await;
        until("the store's refusals counted", || {
            metrics.render(None).contains("passgate_store_errors_total")
        })
        .await;
        store.migrate().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), log.flush())
            .await
            .unwrap();
        let rows = store.audit(1000).await.unwrap();
        assert_eq!(rows.len(), 40, "every row exactly once: {rows:?}");
        for i in 0..20 {
            assert_eq!(rows_of(&rows, &format!("outage-{i}")).len(), 2);
        }
        until("spool drained", || {
            metrics
                .render(None)
                .contains("passgate_audit_spool_rows 0\n")
        })
        .await;
    }

    #[tokio::test]
    async fn a_restart_replays_the_spool_once_and_closes_open_calls_as_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let spool_path = dir.path().join("audit.spool");
        let store = sqlite(dir.path(), true).await;
        {
            // A previous run: one call stored and ended, one stored and
            // left open, one spooled and never stored (the store was down).
            let (mut spool, _) = Spool::open(&spool_path).unwrap();
            let started = |seq, call: &str| SpooledRow {
                seq,
                id: format!("old-{seq}"),
                call_id: call.to_string(),
                event: "call_started".to_string(),
                outcome: Some("withheld".to_string()),
                account: None,
                detail: json!({"event": "call_started", "caller": null}),
                at: 1_800_000_000_000,
            };
            let done = end_row(
                "old",
                3,
                "done",
                "caller_hung_up",
                Timestamp::from_unix_millis(1_800_000_000_001),
            );
            spool
                .append(&[started(1, "open"), started(2, "done"), done.clone()])
                .unwrap();
            // The store took rows 1-3 but the marker is lost: they are sent again.
            store
                .append_audit_rows_once(&[1u64, 2, 3].map(|s| {
                    let r = if s == 3 {
                        done.clone()
                    } else {
                        started(s, if s == 1 { "open" } else { "done" })
                    };
                    (
                        r.id,
                        NewAuditRow {
                            call_id: r.call_id,
                            event: r.event,
                            outcome: r.outcome,
                            account: None,
                            detail: r.detail,
                        },
                        Timestamp::from_unix_millis(r.at),
                    )
                }))
                .await
                .unwrap();
            spool.append(&[started(4, "unstored")]).unwrap();
        }
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(Health::default());
        let log = AuditLog::start(store.clone(), metrics.clone(), health, &spool_path).unwrap();
        log.flush().await;
        let rows = store.audit(100).await.unwrap();
        assert_eq!(rows.len(), 6, "{rows:?}");
        assert_eq!(rows_of(&rows, "done").len(), 2, "replayed rows stored once");
        assert_eq!(
            rows_of(&rows, "open"),
            [
                ("call_started".to_string(), Some("withheld".to_string())),
                ("call_ended".to_string(), Some("interrupted".to_string()))
            ]
        );
        assert_eq!(
            rows_of(&rows, "unstored"),
            [
                ("call_started".to_string(), Some("withheld".to_string())),
                ("call_ended".to_string(), Some("interrupted".to_string()))
            ]
        );
        assert!(metrics
            .render(None)
            .contains("passgate_call_outcomes_total{outcome=\"interrupted\"} 2\n"));
        // A second restart finds nothing left open and sends nothing new.
        drop(log);
        let log = AuditLog::start(
            store.clone(),
            Arc::new(Metrics::default()),
            Arc::new(Health::default()),
            &spool_path,
        )
        .unwrap();
        log.flush().await;
        assert_eq!(store.audit(100).await.unwrap().len(), 6);
    }
}
