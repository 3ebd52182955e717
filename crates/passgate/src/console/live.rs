//! The calls in progress, as the console shows them: who called, where the
//! flow is, each factor's result as it comes, and how long the call has
//! lasted; and the last calls that ended, with how.
//!
//! Each call's driver publishes what its core reports (the flow's stage
//! after each wake-up, the audit events it orders); the core itself knows
//! nothing of this. Publishing is cheap: the stage is one atomic store, and
//! the rare events (a few per call) take the call's own lock, never the
//! registry's. The registry's lock is taken when a call starts or ends and
//! when the console reads.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use auth::flow::{AuditEvent, Stage};
use auth::store::{NewAuditRow, Timestamp};
use serde::Serialize;

/// Ended calls kept for the console, newest first.
pub const RECENT_CALLS: usize = 50;

/// Steps kept per call: a flow has a handful; a bound keeps a looping
/// caller from growing one without end.
const MAX_STEPS: usize = 64;

/// The stage names, by the index a call's status stores.
const STAGE_NAMES: [&str; 14] = [
    "answering",
    "awaiting_caller_id",
    "caller_lookup",
    "offer_typed_number",
    "number_entry",
    "number_lookup",
    "passphrase",
    "passphrase_check",
    "sending_code",
    "code_entry",
    "menu",
    "transferring",
    "ended",
    "refused",
];

fn stage_index(stage: Stage) -> u8 {
    match stage {
        Stage::AwaitingCallerId => 1,
        Stage::CallerLookup => 2,
        Stage::OfferTypedNumber => 3,
        Stage::NumberEntry => 4,
        Stage::NumberLookup => 5,
        Stage::Passphrase => 6,
        Stage::PassphraseCheck => 7,
        Stage::SendingCode => 8,
        Stage::CodeEntry => 9,
        Stage::Menu => 10,
        Stage::Transferring => 11,
        Stage::Ended => 12,
    }
}

/// One row of the call's story as the console shows it: the audit event's
/// name and its one-word result (never its detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub event: String,
    pub outcome: Option<String>,
    /// Milliseconds since the call started.
    pub at_ms: u64,
}

/// A transfer the flow ordered, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferView {
    /// `authenticated` (the agents' queue) or `representative`.
    pub target: String,
    /// What the transfer tells the receiving side: `verified`, `failed`, …
    pub auth: String,
    /// `referring`, `completed` or `failed`.
    pub state: &'static str,
}

/// A call as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallView {
    pub call_id: String,
    /// The number as shown: `private` when the caller asked for privacy,
    /// `withheld` when there is none.
    pub caller: String,
    pub account: Option<String>,
    pub stage: &'static str,
    pub steps: Vec<Step>,
    /// `passphrase` or `sms_code` once the caller has passed one.
    pub verified_by: Option<String>,
    pub transfer: Option<TransferView>,
    pub started_at: Timestamp,
    pub duration_ms: u64,
    /// How the call ended (`CallOutcome::label`); `None` while it goes on.
    pub outcome: Option<String>,
}

#[derive(Default)]
struct Story {
    caller: String,
    account: Option<String>,
    steps: Vec<Step>,
    verified_by: Option<String>,
    transfer: Option<TransferView>,
}

struct Status {
    call_id: String,
    started: Instant,
    started_at: Timestamp,
    stage: AtomicU8,
    story: Mutex<Story>,
}

impl Status {
    fn view(&self, now: Instant, outcome: Option<String>) -> CallView {
        let story = self.story.lock().map(|s| {
            (
                s.caller.clone(),
                s.account.clone(),
                s.steps.clone(),
                s.verified_by.clone(),
                s.transfer.clone(),
            )
        });
        let (caller, account, steps, verified_by, transfer) =
            story.unwrap_or_else(|_| ("?".into(), None, Vec::new(), None, None));
        let stage = STAGE_NAMES
            .get(usize::from(self.stage.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or("answering");
        CallView {
            call_id: self.call_id.clone(),
            caller,
            account,
            stage,
            steps,
            verified_by,
            transfer,
            started_at: self.started_at,
            duration_ms: now.saturating_duration_since(self.started).as_millis() as u64,
            outcome,
        }
    }
}

/// Every call's status; one per process, shared by the calls and the console.
#[derive(Default)]
pub struct LiveCalls {
    calls: Mutex<BTreeMap<u64, Arc<Status>>>,
    recent: Mutex<VecDeque<CallView>>,
    next: AtomicU64,
}

impl LiveCalls {
    /// A call has arrived: it is shown from now until [`LiveCall::finish`]
    /// (or until its handle is dropped).
    pub fn open(self: &Arc<Self>, call_id: &str, now: Instant) -> LiveCall {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let status = Arc::new(Status {
            call_id: call_id.to_string(),
            started: now,
            started_at: Timestamp::now(),
            stage: AtomicU8::new(0),
            story: Mutex::new(Story {
                caller: "withheld".into(),
                ..Story::default()
            }),
        });
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(id, status.clone());
        }
        LiveCall {
            registry: self.clone(),
            id,
            status,
            finished: false,
        }
    }

    /// The calls in progress, oldest first, as of `now`.
    pub fn live(&self, now: Instant) -> Vec<CallView> {
        let statuses: Vec<Arc<Status>> = match self.calls.lock() {
            Ok(calls) => calls.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        statuses.iter().map(|s| s.view(now, None)).collect()
    }

    /// The last [`RECENT_CALLS`] calls that ended, newest first.
    pub fn recent(&self) -> Vec<CallView> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn close(&self, id: u64, view: CallView) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(&id);
        }
        if let Ok(mut recent) = self.recent.lock() {
            recent.push_front(view);
            recent.truncate(RECENT_CALLS);
        }
    }
}

/// A call's handle on its status, held by its driver.
pub struct LiveCall {
    registry: Arc<LiveCalls>,
    id: u64,
    status: Arc<Status>,
    finished: bool,
}

impl LiveCall {
    /// The number as it may be shown (`private` or `withheld` otherwise).
    pub fn set_caller(&self, shown: &str) {
        if let Ok(mut story) = self.status.story.lock() {
            story.caller = shown.to_string();
        }
    }

    /// Where the flow is now; called after every wake-up, so one store.
    pub fn set_stage(&self, stage: Stage) {
        self.status
            .stage
            .store(stage_index(stage), Ordering::Relaxed);
    }

    /// A row of the call's story as the core ordered it stored: its name and
    /// result become a step, and the account, a passed factor or a transfer
    /// are pulled out. Only names and one-word results are kept; a flow
    /// event carries no secret, and its numbers stay out of the view.
    pub fn record(&self, event: &AuditEvent, now: Instant) {
        let row = NewAuditRow::from_flow(&self.status.call_id, event);
        let Ok(mut story) = self.status.story.lock() else {
            return;
        };
        if let Some(account) = &row.account {
            story.account = Some(account.0.clone());
        }
        match event {
            AuditEvent::Authenticated { .. } => {
                story.verified_by = row
                    .detail
                    .get("factor")
                    .and_then(|f| f.as_str())
                    .map(str::to_string);
            }
            AuditEvent::Transferred { target, outcome }
            | AuditEvent::TransferFailed { target, outcome } => {
                let failed = matches!(event, AuditEvent::TransferFailed { .. });
                story.transfer = Some(TransferView {
                    target: serde_json::to_value(target)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    auth: outcome.label().to_string(),
                    state: if failed { "failed" } else { "referring" },
                });
            }
            _ => {}
        }
        if story.steps.len() < MAX_STEPS {
            let at_ms = now
                .saturating_duration_since(self.status.started)
                .as_millis() as u64;
            story.steps.push(Step {
                event: row.event,
                outcome: row.outcome,
                at_ms,
            });
        }
    }

    /// The call is over: it moves to the recent calls with its outcome (a
    /// transfer whose call ended as transferred is marked completed).
    pub fn finish(mut self, outcome: &str, now: Instant) {
        self.finished = true;
        if outcome == "refused" {
            self.status
                .stage
                .store(STAGE_NAMES.len() as u8 - 1, Ordering::Relaxed);
        } else {
            self.set_stage(Stage::Ended);
        }
        if let Ok(mut story) = self.status.story.lock() {
            if let Some(t) = &mut story.transfer {
                if outcome.starts_with("transferred_") {
                    t.state = "completed";
                } else if t.state == "referring" {
                    t.state = "failed";
                }
            }
        }
        let view = self.status.view(now, Some(outcome.to_string()));
        self.registry.close(self.id, view);
    }
}

impl Drop for LiveCall {
    fn drop(&mut self) {
        if !self.finished {
            if let Ok(mut calls) = self.registry.calls.lock() {
                calls.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::flow::{
        AccountId, AuthOutcome, Factor, IdentifiedBy, LookupSummary, PassphraseResult,
        TransferTarget,
    };
    use auth::phone::E164;
    use std::time::Duration;

    fn nelson() -> AccountId {
        AccountId("nelson".into())
    }

    #[test]
    fn a_call_shows_its_stage_and_factors_then_moves_to_the_recent_calls() {
        let calls = Arc::new(LiveCalls::default());
        let t0 = Instant::now();
        let call = calls.open("c-1", t0);
        call.set_caller("+15550100001");
        call.set_stage(Stage::Passphrase);
        call.record(
            &AuditEvent::CallerLookup {
                number: E164::parse("+15550100001").unwrap(),
                result: LookupSummary::Found { account: nelson() },
            },
            t0 + Duration::from_millis(5),
        );
        call.record(
            &AuditEvent::PassphraseChecked {
                account: nelson(),
                result: PassphraseResult::Match,
            },
            t0 + Duration::from_millis(3000),
        );
        call.record(
            &AuditEvent::Authenticated {
                account: nelson(),
                factor: Factor::Passphrase,
                identified_by: IdentifiedBy::CallerId,
            },
            t0 + Duration::from_millis(3001),
        );
        let live = calls.live(t0 + Duration::from_secs(4));
        assert_eq!(live.len(), 1);
        let view = &live[0];
        assert_eq!(view.stage, "passphrase");
        assert_eq!(view.caller, "+15550100001");
        assert_eq!(view.account.as_deref(), Some("nelson"));
        assert_eq!(view.verified_by.as_deref(), Some("passphrase"));
        assert_eq!(view.duration_ms, 4000);
        let steps: Vec<(&str, Option<&str>)> = view
            .steps
            .iter()
            .map(|s| (s.event.as_str(), s.outcome.as_deref()))
            .collect();
        assert_eq!(
            steps,
            [
                ("caller_lookup", Some("found")),
                ("passphrase_checked", Some("match")),
                ("authenticated", Some("authenticated")),
            ]
        );
        // The view holds names and results only: no number from a detail.
        let json = serde_json::to_string(&view.steps).unwrap();
        assert!(!json.contains("+1555"), "{json}");

        call.record(
            &AuditEvent::Transferred {
                target: TransferTarget::Authenticated,
                outcome: AuthOutcome::Verified {
                    account: nelson(),
                    factor: Factor::Passphrase,
                },
            },
            t0 + Duration::from_secs(5),
        );
        let referring = calls.live(t0 + Duration::from_secs(5));
        let transfer = referring[0].transfer.clone().unwrap();
        assert_eq!(
            (
                transfer.target.as_str(),
                transfer.auth.as_str(),
                transfer.state
            ),
            ("authenticated", "verified", "referring")
        );
        call.finish("transferred_verified", t0 + Duration::from_secs(6));
        assert!(calls.live(t0 + Duration::from_secs(7)).is_empty());
        let recent = calls.recent();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].outcome.as_deref(), Some("transferred_verified"));
        assert_eq!(recent[0].stage, "ended");
        assert_eq!(recent[0].duration_ms, 6000);
        assert_eq!(recent[0].transfer.as_ref().unwrap().state, "completed");
    }

    #[test]
    fn recent_calls_are_bounded_and_a_dropped_handle_leaves_no_live_call() {
        let calls = Arc::new(LiveCalls::default());
        let now = Instant::now();
        for i in 0..RECENT_CALLS + 10 {
            calls
                .open(&format!("c-{i}"), now)
                .finish("caller_hung_up", now);
        }
        let recent = calls.recent();
        assert_eq!(recent.len(), RECENT_CALLS);
        assert_eq!(recent[0].call_id, format!("c-{}", RECENT_CALLS + 9));
        drop(calls.open("gone", now));
        assert!(calls.live(now).is_empty());
        let refused = calls.open("r", now);
        refused.finish("refused", now);
        assert_eq!(calls.recent()[0].stage, "refused");
    }
}
