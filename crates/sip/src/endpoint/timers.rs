//! Time (RFC 3261 §17, §13.3.1.4): each due deadline goes to the
//! transaction or dialog it belongs to, which says what to send again or
//! that it is over.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::dialog::{AckTimer, DialogState};
use crate::event::{CallHandle, EndReason, Event};
use crate::message::{Method, Response};
use crate::reliable_provisional::ProvisionalTimer;
use crate::session_timer::{Refresher, SessionTimer};
use crate::transaction::{ClientTimer, ServerTimer, ServerTx, TxKey};
use crate::transport::Transmit;

use super::{Endpoint, TimerKey};

/// How long after a passing refusal (5xx) our session refresh is tried
/// again, or a re-INVITE refresh waits for another offer to finish; well
/// inside any interval.
const REFRESH_RETRY: Duration = Duration::from_secs(2);

impl Endpoint {
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                TimerKey::Server(key) => self.server_timer(now, key),
                TimerKey::Client(branch) => self.client_timer(now, branch),
                TimerKey::Call(handle) => self.call_timer(now, handle),
                TimerKey::Provisional(handle) => self.provisional_timer(now, handle),
            }
        }
        while let Some(&(at, handle)) = self.session_deadlines.first() {
            if at > now {
                break;
            }
            self.session_deadlines.pop_first();
            self.session_timer_due(now, handle);
        }
    }

    pub(super) fn server_timer(&mut self, now: Instant, key: TxKey) {
        let Some(tx) = self.server_txs.get_mut(&key) else {
            return;
        };
        let (trying, retransmit) = match tx.on_timer(now, &self.config.timers) {
            ServerTimer::Expired => {
                self.server_txs.remove(&key);
                return;
            }
            ServerTimer::Due { trying, retransmit } => (trying, retransmit),
        };
        if let Some(payload) = retransmit {
            self.stats.retransmissions_sent += 1;
            self.transmits.push_back(Transmit {
                transport: tx.transport,
                destination: tx.source,
                payload,
                reconnect: None,
            });
        }
        if trying {
            self.send_trying(now, &key);
        }
        if let Some(at) = self.server_txs.get(&key).and_then(ServerTx::next_deadline) {
            self.timers.schedule(at, TimerKey::Server(key));
        }
    }

    pub(super) fn client_timer(&mut self, now: Instant, branch: String) {
        let Some(tx) = self.client_txs.get_mut(&branch) else {
            return;
        };
        match tx.on_timer(now, &self.config.timers) {
            ClientTimer::TimedOut => {
                if let Some(tx) = self.client_txs.remove(&branch) {
                    tracing::info!(method = %tx.method, "no response to our request (Timer F)");
                    self.client_final(now, tx, 408);
                }
            }
            ClientTimer::Wait { retransmit, next } => {
                if let Some(t) = retransmit {
                    self.stats.retransmissions_sent += 1;
                    self.transmits.push_back(t);
                }
                self.timers.schedule(next, TimerKey::Client(branch));
            }
        }
    }

    /// The 2xx of a call's INVITE, retransmitted until its ACK; without one
    /// in 64·T1 the call ends with a BYE.
    pub(super) fn call_timer(&mut self, now: Instant, handle: u64) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        match call.on_ack_timer(now, &self.config.timers) {
            AckTimer::Idle => {}
            AckTimer::GaveUp => {
                let initial = call.state == DialogState::Answered;
                tracing::info!(call_id = %call.key.call_id, "no ACK for our 2xx within 64*T1; ending the call");
                call.state = DialogState::Confirmed;
                call.bye_after_ack = false;
                self.send_bye(now, handle);
                if initial {
                    self.events.push_back(Event::CallEnded {
                        call: CallHandle(handle),
                        reason: EndReason::AckTimeout,
                    });
                }
            }
            AckTimer::Wait { retransmit, next } => {
                if let Some(t) = retransmit {
                    self.stats.retransmissions_sent += 1;
                    self.transmits.push_back(t);
                }
                self.timers.schedule(next, TimerKey::Call(handle));
            }
        }
    }

    /// Starts (or restarts, on a refresh) the session timer our 2xx agreed
    /// to at `now`; None stops it.
    pub(super) fn start_session_timer(
        &mut self,
        now: Instant,
        handle: u64,
        timer: Option<SessionTimer>,
    ) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        call.session_timer = timer;
        call.session_ends_at = timer.map(|t| t.ends_at(now));
        let due = timer.map(|t| t.next_due(now));
        self.move_session_deadline(handle, due);
    }

    /// Sets when the call's session timer is next due (None: it has no
    /// timer).
    pub(super) fn move_session_deadline(&mut self, handle: u64, due: Option<Instant>) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if let Some(old) = std::mem::replace(&mut call.session_due_at, due) {
            self.session_deadlines.remove(&(old, handle));
        }
        if let Some(at) = due {
            self.session_deadlines.insert((at, handle));
        }
    }

    /// The session timer is due: our refresh goes out (RFC 4028 §7.4), or a
    /// session the caller did not refresh in time is over: BYE, with a
    /// Reason, as §10 asks of the side that does not refresh.
    pub(super) fn session_timer_due(&mut self, now: Instant, handle: u64) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        call.session_due_at = None;
        match call.state {
            DialogState::Confirmed => {}
            // No request before the ACK (RFC 3261 §15): look again a T1
            // later; the 2xx's own timer ends a call whose ACK never comes.
            DialogState::Answered => {
                let again = now + self.config.timers.t1;
                self.move_session_deadline(handle, Some(again));
                return;
            }
            DialogState::Offered | DialogState::Ending => return,
        }
        let Some(timer) = call.session_timer else {
            return;
        };
        if timer.refresher == Refresher::Us {
            // Nothing is due until the refresh is answered.
            if call.peer_allows_update {
                tracing::debug!(call_id = %call.key.call_id, "refreshing the session by UPDATE (RFC 4028)");
                self.send_request(now, handle, Method::Update, &timer.refresh_headers());
                return;
            }
            // A re-INVITE is an offer: not while another offer or answer
            // is under way (RFC 3261 §14.1), so a little later.
            if call.pending_2xx.is_some()
                || call.awaiting_answer_in_ack
                || call.reinvite_cseq.is_some()
            {
                self.move_session_deadline(handle, Some(now + REFRESH_RETRY));
                return;
            }
            // The session in effect offered again: our last SDP when that
            // is what it says, else (the ACK answered our offer) the
            // session the answer settled, at the next version.
            let Some(neg) = call.media.clone() else {
                self.start_session_timer(now, handle, None);
                return;
            };
            let local = std::net::SocketAddr::new(call.media_ip, call.local_rtp_port);
            let sdp = call.next_sdp(|origin| crate::sdp::answer(&neg, local, origin));
            tracing::debug!(call_id = %call.key.call_id, "refreshing the session by re-INVITE (RFC 4028)");
            let mut headers = timer.refresh_headers();
            headers.push(format!("Allow: {}", super::ALLOW));
            let cseq =
                self.send_request_with_sdp(now, handle, Method::Invite, &headers, Some(&sdp));
            if let Some(call) = self.calls.get_mut(&handle) {
                call.reinvite_cseq = cseq;
            }
            return;
        }
        tracing::info!(
            call_id = %call.key.call_id,
            interval_secs = timer.interval_secs,
            "the caller did not refresh the session (RFC 4028); ending the call"
        );
        self.end_expired_session(now, handle);
    }

    /// Ends a session whose timer ran out, or whose refresh of ours went
    /// unanswered, with a BYE that says so.
    fn end_expired_session(&mut self, now: Instant, handle: u64) {
        let reason = "Reason: SIP;cause=408;text=\"session timer expired\"".to_string();
        self.end_with_bye(now, handle, &[reason]);
        self.events.push_back(Event::CallEnded {
            call: CallHandle(handle),
            reason: EndReason::SessionExpired,
        });
    }

    /// The final response to our refreshing UPDATE or re-INVITE (`resp`;
    /// None when it timed out): a 2xx sets the timer it states (§7.2); a
    /// 422 has the refresh sent again at once with the interval it asks
    /// for (§7.3); no answer (408) ends the call (§10; a 481 ended it
    /// already); 491 and 500/503/504 try again while the session lasts;
    /// anything else leaves the session without a timer, as the caller
    /// will not take our refreshes.
    pub(super) fn refresh_answered(
        &mut self,
        now: Instant,
        handle: u64,
        code: u16,
        resp: Option<&Response>,
    ) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        if call.state != DialogState::Confirmed {
            return;
        }
        match code {
            200..=299 => {
                let session_expires = resp.and_then(|r| r.session_expires.as_deref());
                let timer = call
                    .session_timer
                    .and_then(|t| t.after_refresh(session_expires));
                if timer.is_none() {
                    tracing::info!(call_id = %call.key.call_id, "the caller's 2xx to our session refresh states no interval; the session goes on without a timer");
                }
                self.start_session_timer(now, handle, timer)
            }
            422 => {
                let min_se = resp.and_then(|r| r.min_se.as_deref());
                let Some(raised) = call.session_timer.and_then(|t| t.after_too_small(min_se))
                else {
                    tracing::info!(call_id = %call.key.call_id, "422 to our session refresh without a longer Min-SE; the session goes on without a timer");
                    return self.start_session_timer(now, handle, None);
                };
                tracing::info!(call_id = %call.key.call_id, interval_secs = raised.interval_secs, "422 to our session refresh; refreshing again with the interval it asks for (RFC 4028)");
                if let Some(call) = self.calls.get_mut(&handle) {
                    call.session_timer = Some(raised);
                }
                self.move_session_deadline(handle, None);
                self.session_timer_due(now, handle);
            }
            408 => {
                tracing::info!(call_id = %call.key.call_id, "no answer to our session refresh (RFC 4028); ending the call");
                self.end_expired_session(now, handle);
            }
            // The caller was mid-offer (491), or passingly unable (5xx):
            // tried again, after a random 0-2 s for a 491 as RFC 3261
            // §14.1 asks of the side that did not make the Call-ID, while
            // the session lasts; past its end, over as if unanswered.
            491 | 500 | 503 | 504 => {
                let wait = if code == 491 {
                    Duration::from_millis(10 * self.rng.random_range(0..=200u64))
                } else {
                    REFRESH_RETRY
                };
                if call.session_ends_at.is_some_and(|end| now + wait >= end) {
                    tracing::info!(call_id = %call.key.call_id, code, "our session refresh could not be done before the session's end (RFC 4028); ending the call");
                    self.end_expired_session(now, handle);
                } else {
                    self.move_session_deadline(handle, Some(now + wait));
                }
            }
            _ => {
                tracing::info!(call_id = %call.key.call_id, code, "our session refresh was refused; the session goes on without a timer");
                self.start_session_timer(now, handle, None);
            }
        }
    }

    /// Our reliable 180 sent again until its PRACK; without one in 64·T1
    /// the INVITE is refused with a 5xx (RFC 3262 §3).
    pub(super) fn provisional_timer(&mut self, now: Instant, handle: u64) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let Some(provisional) = call.unacknowledged_provisional.as_mut() else {
            return;
        };
        match provisional.on_timer(now) {
            ProvisionalTimer::GaveUp => {
                call.unacknowledged_provisional = None;
                tracing::info!(call_id = %call.key.call_id, "no PRACK for our reliable 180 within 64*T1; refusing the call");
                let _ = self.reject(now, CallHandle(handle), 500);
            }
            ProvisionalTimer::Wait { retransmit, next } => {
                let (transport, source, key) =
                    (call.transport, call.remote, call.invite_tx.clone());
                self.timers.schedule(next, TimerKey::Provisional(handle));
                if let (Some(payload), Some(echo)) = (retransmit, self.invite_echo(&key)) {
                    self.stats.retransmissions_sent += 1;
                    self.send_response_bytes(transport, source, &echo, payload);
                }
            }
        }
    }
}
