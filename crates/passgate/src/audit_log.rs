//! The audit trail's one writer: every call's rows go through a single queue
//! and are stored in batches, one transaction each. A transaction per row
//! (what each call did on its own before) ran the store out of connections
//! at about 1,500 calls/s and rows were lost; batches keep up with many times
//! that. Rows keep their order, and a call ends only once its rows are
//! committed ([`AuditLog::flush`]).

use std::sync::Arc;
use std::time::Duration;

use auth::flow::AuditEvent;
use auth::phone::E164;
use auth::store::{FailedFactor, NewAuditRow, Store, Timestamp};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// Rows waiting for the writer; a call that finds it full waits.
const QUEUE_DEPTH: usize = 16_384;
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
}

#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Item>,
}

impl AuditLog {
    pub fn start(store: Store, metrics: Arc<Metrics>) -> AuditLog {
        let (queue, items) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(store, metrics, items));
        AuditLog { queue }
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
