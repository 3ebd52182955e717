//! The audit trail's one writer: every call's rows go through a single queue
//! and are stored in batches, one transaction each. A transaction per row
//! (what each call did on its own before) ran the store out of connections
//! at about 1,500 calls/s and rows were lost; batches keep up with many times
//! that. Rows keep their order, and a call counts as ended (metrics, its
//! last log line) only once its rows are committed ([`AuditLog::finish`]);
//! its task does not wait for that.

use std::sync::Arc;
use std::time::Duration;

use auth::flow::AuditEvent;
use auth::phone::E164;
use auth::store::{FailedFactor, NewAuditRow, Store, Timestamp};
use media::SessionStats;
use tokio::sync::{mpsc, oneshot};

use crate::call::CallOutcome;
use crate::metrics::Metrics;

/// Rows waiting for the writer; a call that finds it full waits.
pub(crate) const QUEUE_DEPTH: usize = 16_384;
/// Rows per statement at most.
const BATCH: usize = 512;
/// How long the writer lets rows gather after the first: a little latency at
/// the end of a call buys batches of tens of rows at thousands of calls/s.
const LINGER: Duration = Duration::from_millis(5);
/// A failed batch is tried again this many times before its rows are given
/// up (logged and counted), so a short outage loses nothing.
const ATTEMPTS: u32 = 3;
const RETRY_AFTER: Duration = Duration::from_millis(200);

enum Item {
    Row {
        call_id: Arc<str>,
        event: AuditEvent,
        caller: Option<E164>,
        at: Timestamp,
    },
    /// Answered once every row queued before it is stored (or given up).
    Flush(oneshot::Sender<()>),
    /// A call over, finished (counted and logged) at the same point.
    Finished(Finished),
}

/// A call whose flow and media are gone, to be counted as ended once its
/// rows are stored.
pub struct Finished {
    pub outcome: CallOutcome,
    pub stats: SessionStats,
    /// The call's span, for its last log line.
    pub span: tracing::Span,
}

impl Finished {
    fn complete(self, metrics: &Metrics) {
        let _in_call = self.span.enter();
        metrics.rtp_finished(&self.stats);
        tracing::info!(
            outcome = ?self.outcome,
            rtp_in = self.stats.receiver.datagrams,
            lost = self.stats.receiver.jitter.lost,
            "call finished"
        );
        metrics.call_ended(self.outcome);
    }
}

#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Item>,
    metrics: Arc<Metrics>,
}

impl AuditLog {
    pub fn start(store: Store, metrics: Arc<Metrics>) -> AuditLog {
        let (queue, items) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(store, metrics.clone(), items));
        AuditLog { queue, metrics }
    }

    pub async fn append(&self, call_id: &Arc<str>, event: AuditEvent, caller: Option<&E164>) {
        let item = Item::Row {
            call_id: call_id.clone(),
            event,
            caller: caller.cloned(),
            at: Timestamp::now(),
        };
        if self.queue.send(item).await.is_err() {
            tracing::error!("the audit writer has stopped; row lost");
        }
    }

    /// Counts the call as ended, and logs it, once every row appended
    /// before is stored (or given up); only a full queue makes this wait.
    pub async fn finish(&self, call: Finished) {
        if let Err(mpsc::error::SendError(Item::Finished(call))) =
            self.queue.send(Item::Finished(call)).await
        {
            tracing::error!("the audit writer has stopped; finishing the call without it");
            call.complete(&self.metrics);
        }
    }

    /// Waits until every row appended before this call is stored.
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.queue.send(Item::Flush(done)).await.is_ok() {
            let _ = stored.await;
        }
    }
}

async fn write(store: Store, metrics: Arc<Metrics>, mut items: mpsc::Receiver<Item>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    let mut finished = Vec::new();
    while let Some(first) = items.recv().await {
        tokio::time::sleep(LINGER).await;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Item::Row {
                    call_id,
                    event,
                    caller,
                    at,
                } => {
                    record_failed_factor(&store, &metrics, &event, caller.as_ref(), at).await;
                    batch.push((NewAuditRow::from_flow(&call_id, &event), at));
                }
                Item::Flush(done) => flushes.push(done),
                Item::Finished(call) => finished.push(call),
            }
            if batch.len() < BATCH {
                next = items.try_recv().ok();
            }
        }
        store_batch(&store, &metrics, &batch).await;
        batch.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
        for call in finished.drain(..) {
            call.complete(&metrics);
        }
    }
}

async fn store_batch(store: &Store, metrics: &Metrics, batch: &[(NewAuditRow, Timestamp)]) {
    if batch.is_empty() {
        return;
    }
    for attempt in 1..=ATTEMPTS {
        match store.append_audit_rows(batch).await {
            Ok(()) => return,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, rows = batch.len(), attempt, "could not write audit rows; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(e) => {
                tracing::error!(error = %e, rows = batch.len(), "could not write audit rows; they are lost");
                metrics.store_error();
            }
        }
    }
}

/// A passphrase that did not match, a code never entered right or a typed
/// number that matched nothing counts towards the lock-out, in the same order
/// as the rows.
async fn record_failed_factor(
    store: &Store,
    metrics: &Metrics,
    event: &AuditEvent,
    caller: Option<&E164>,
    at: Timestamp,
) {
    use auth::flow::{CodeResult, LookupSummary, PassphraseResult};
    let (account, factor) = match event {
        AuditEvent::PassphraseChecked {
            account,
            result: PassphraseResult::NoMatch,
        } => (Some(account), FailedFactor::Passphrase),
        AuditEvent::CodeChecked {
            account,
            result: CodeResult::Exhausted,
        } => (Some(account), FailedFactor::SmsCode),
        AuditEvent::NumberLookup {
            result: LookupSummary::NotFound,
            ..
        } => (None, FailedFactor::TypedNumber),
        _ => return,
    };
    if let Err(e) = store.record_failure(account, caller, factor, at).await {
        tracing::error!(error = %e, "could not record a failed factor");
        metrics.store_error();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn settled(metrics: &Metrics) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while metrics.settling_calls() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "never finished");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A call as `call::run` ends one: started, its row queued, over, finished.
    async fn one_call(log: &AuditLog, metrics: &Metrics, call_id: &str) {
        metrics.call_started();
        let call_id: Arc<str> = Arc::from(call_id);
        log.append(&call_id, AuditEvent::CallStarted { caller: None }, None)
            .await;
        metrics.call_over();
        log.finish(Finished {
            outcome: CallOutcome::CallerHungUp,
            stats: SessionStats::default(),
            span: tracing::Span::none(),
        })
        .await;
        assert_eq!(metrics.live_calls(), 0, "an over call is not live");
    }

    #[tokio::test]
    async fn a_call_ends_once_its_rows_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let metrics = Arc::new(Metrics::default());
        let log = AuditLog::start(store.clone(), metrics.clone());
        one_call(&log, &metrics, "stored-1").await;
        settled(&metrics).await;
        assert!(metrics.render(None).contains("passgate_calls_active 0\n"));
        let rows = store.audit(10).await.unwrap();
        assert!(
            rows.iter().any(|r| r.call_id == "stored-1"),
            "counted as ended before its row was stored: {rows:?}"
        );
    }

    #[tokio::test]
    async fn a_store_that_fails_holds_the_call_until_its_rows_are_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        // Not migrated: every insert fails, and is tried again after RETRY_AFTER.
        let store = Store::connect(&url).await.unwrap();
        let metrics = Arc::new(Metrics::default());
        let log = AuditLog::start(store, metrics.clone());
        one_call(&log, &metrics, "lost-1").await;
        tokio::time::sleep(RETRY_AFTER / 2).await;
        assert_eq!(
            metrics.settling_calls(),
            1,
            "finished before the store answered"
        );
        assert!(metrics.render(None).contains("passgate_calls_active 1\n"));
        settled(&metrics).await;
        assert!(metrics.render(None).contains("passgate_calls_active 0\n"));
        assert!(
            metrics
                .render(None)
                .contains("passgate_store_errors_total 1\n"),
            "{}",
            metrics.render(None)
        );
    }
}
