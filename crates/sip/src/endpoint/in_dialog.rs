//! Requests inside a dialog (RFC 3261 §12.2.2): the ACK, CANCEL, BYE,
//! re-INVITE, INFO, NOTIFY and the rest; and the responses to our own
//! requests in it (a REFER's outcome, a 481 that means the dialog is gone).

use std::net::SocketAddr;
use std::time::Instant;

use crate::dialog::{DialogKey, DialogState};
use crate::event::{CallHandle, EndReason, Event, ReferStatus};
use crate::message::{Method, Request, Response};
use crate::reliable_provisional::rack_names;
use crate::response::Reply;
use crate::sdp::{self, Negotiated};
use crate::session_timer;
use crate::transaction::{ClientTx, ServerTx, TxKey};

use super::invite::offer_in;
use super::{Endpoint, Inbound, TimerKey, ALLOW};

impl Endpoint {
    pub(super) fn on_ack(&mut self, now: Instant, key: TxKey, req: Request) {
        // ACK of a non-2xx final: same branch as the INVITE (§17.2.1).
        if let Some(tx) = self.server_txs.get_mut(&key) {
            if let Some(at) = tx.on_ack(now, &self.config.timers) {
                self.timers.schedule(at, TimerKey::Server(key));
                return;
            }
        }
        // ACK of a 2xx: a new transaction, matched to the dialog (§13.3.1.4).
        let Some(handle) = self.find_dialog(&req) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if !call.ack_2xx(req.cseq) {
            return;
        }
        let first_ack = call.state == DialogState::Answered;
        if first_ack {
            call.state = DialogState::Confirmed;
        }
        let mut media_update = None;
        if call.awaiting_answer_in_ack {
            call.awaiting_answer_in_ack = false;
            let offered = call.offered_srtp.take();
            match offer_in(&req)
                .ok()
                .flatten()
                .map(|a| sdp::accept_answer(&a, &self.config.media, offered.as_ref()))
            {
                Some(Ok(neg)) => {
                    call.media = Some(neg.clone());
                    media_update = Some(neg);
                }
                failed => {
                    // Our offer went unanswered: no media can flow, so the
                    // call ends with a BYE that says why (RFC 3326).
                    let why = match failed {
                        Some(Err(sdp::SdpError::SrtpRequired)) => {
                            "SRTP is required here and the answer is plain RTP"
                        }
                        _ => "no acceptable SDP answer in the ACK",
                    };
                    tracing::warn!(call_id = %call.key.call_id, why, "the ACK carried no acceptable answer to our offer; ending the call");
                    call.bye_after_ack = false;
                    return self.end_unanswered(now, handle, why);
                }
            }
        }
        let bye = std::mem::take(&mut call.bye_after_ack);
        // The media first: what the call does on confirmation (play) must
        // already use the answer's codec and address.
        if let Some(media) = media_update {
            self.events.push_back(Event::MediaUpdated {
                call: CallHandle(handle),
                media: Box::new(media),
            });
        }
        if first_ack {
            self.events.push_back(Event::CallConfirmed {
                call: CallHandle(handle),
            });
        }
        if bye {
            self.send_bye(now, handle);
        }
    }

    pub(super) fn on_cancel(&mut self, now: Instant, at: Inbound, req: &Request) {
        let invite_key = TxKey {
            method: Method::Invite,
            ..at.key.clone()
        };
        let Some(invite) = self.server_txs.get(&invite_key) else {
            return self.respond_new(now, &at, req, Reply::new(481));
        };
        let (pending, call) = (!invite.is_final(), invite.call);
        self.respond_new(now, &at, req, Reply::new(200));
        if !pending {
            return;
        }
        let local_tag = call
            .and_then(|h| self.calls.get(&h))
            .map(|c| c.key.local_tag.clone());
        // The 487 echoes the INVITE's headers, which match the CANCEL's but for CSeq.
        let mut echo = req.echo.clone();
        echo.cseq = format!("{} INVITE", req.cseq);
        let reply = Reply::new(487).tag(local_tag.as_deref());
        self.respond_tx(now, &invite_key, &echo, reply);
        if let Some(handle) = call {
            self.forget_call(handle);
            self.events.push_back(Event::CallEnded {
                call: CallHandle(handle),
                reason: EndReason::Cancelled,
            });
        }
    }

    pub(super) fn on_in_dialog(&mut self, now: Instant, at: Inbound, req: Request) {
        let source = at.source;
        let Some(call) = self
            .find_dialog(&req)
            .and_then(|handle| Some((handle, self.calls.get_mut(&handle)?)))
        else {
            return self.respond_new(now, &at, &req, Reply::new(481));
        };
        let (handle, call) = call;
        // Key presses by INFO count only from the caller's side of the
        // dialog: with the dialog's ids alone anyone could type into an
        // authentication (and a forged CSeq would put the caller's own
        // requests out of order), so the source is checked first.
        if req.method == Method::Info && !call.is_peer(source.ip()) {
            self.stats.requests_forbidden += 1;
            tracing::warn!(
                source = %source.ip(),
                reason = %"info_foreign_source",
                "security: in-dialog INFO refused"
            );
            return self.respond_new(now, &at, &req, Reply::new(403));
        }
        if !call.take_remote_cseq(req.cseq) {
            let reply = Reply::new(500).header("Warning: 399 passgate \"CSeq out of order\"");
            return self.respond_new(now, &at, &req, reply);
        }
        let local_tag = call.key.local_tag.clone();
        let tag = Some(local_tag.as_str());
        let call_handle = CallHandle(handle);
        match req.method {
            Method::Bye => {
                self.respond_new(now, &at, &req, Reply::new(200).tag(tag));
                let (was_ending, unanswered) = self.calls.get(&handle).map_or((false, None), |c| {
                    let unanswered = (c.state == DialogState::Offered).then(|| c.invite_tx.clone());
                    (c.state == DialogState::Ending, unanswered)
                });
                // A BYE in the early dialog ends the INVITE too: 487 to it
                // (RFC 3261 §15.1.2).
                if let Some(key) = unanswered {
                    if let Some(echo) = self.invite_echo(&key) {
                        let reply = Reply::new(487).tag(Some(&local_tag));
                        self.respond_tx(now, &key, &echo, reply);
                    }
                }
                self.forget_call(handle);
                if !was_ending {
                    self.events.push_back(Event::CallEnded {
                        call: call_handle,
                        reason: EndReason::RemoteBye,
                    });
                }
            }
            Method::Invite => self.on_reinvite(now, at, handle, req),
            Method::Update => self.on_update(now, at, handle, req),
            Method::Info => {
                self.respond_new(now, &at, &req, Reply::new(200).tag(tag));
                let event = match crate::info_dtmf::parse(req.content_type.as_deref(), &req.body) {
                    Some(digit) => Event::InfoDigit {
                        call: call_handle,
                        digit,
                    },
                    None => Event::Info {
                        call: call_handle,
                        content_type: req.content_type.clone(),
                        body: req.body,
                    },
                };
                self.events.push_back(event);
            }
            Method::Notify => {
                let is_refer = req.header("event").is_some_and(|e| {
                    e.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case("refer")
                });
                if !is_refer {
                    return self.respond_new(now, &at, &req, Reply::new(489).tag(tag));
                }
                self.respond_new(now, &at, &req, Reply::new(200).tag(tag));
                if let Some(code) = sipfrag_status(&req.body) {
                    let status = if code >= 200 {
                        ReferStatus::Completed(code)
                    } else {
                        ReferStatus::Progress(code)
                    };
                    self.events.push_back(Event::Refer {
                        call: call_handle,
                        status,
                    });
                }
            }
            Method::Options => {
                let headers = self.capability_headers(at.transport, source.ip());
                self.respond_new(now, &at, &req, Reply::new(200).tag(tag).headers(headers))
            }
            // We hand calls on; we do not take transfers from the caller.
            Method::Refer => self.respond_new(now, &at, &req, Reply::new(403).tag(tag)),
            // RFC 3262 §3: a PRACK that names our reliable provisional
            // response stops its retransmissions and gets 200, also when it
            // crossed our final response or repeats; any other is 481.
            Method::Prack => {
                let acknowledged = self.calls.get_mut(&handle).is_some_and(|c| {
                    let named = c
                        .last_rseq
                        .is_some_and(|rseq| rack_names(req.header("rack"), rseq, c.invite_cseq));
                    if named {
                        c.unacknowledged_provisional = None;
                    }
                    named
                });
                let code = if acknowledged { 200 } else { 481 };
                self.respond_new(now, &at, &req, Reply::new(code).tag(tag))
            }
            _ => {
                let reply = Reply::new(405).tag(tag).header(format!("Allow: {ALLOW}"));
                self.respond_new(now, &at, &req, reply)
            }
        }
    }

    fn on_reinvite(&mut self, now: Instant, at: Inbound, handle: u64, req: Request) {
        let Inbound {
            key,
            transport,
            source,
        } = at;
        let mut tx = ServerTx::invite(transport, source, None, req.record_route.clone());
        tx.call = Some(handle);
        self.server_txs.insert(key.clone(), tx);
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let (tag, sips) = (call.key.local_tag.clone(), call.sips);
        // A re-INVITE refreshes the session timer, asks for another, or,
        // without Session-Expires, ends it (RFC 4028 §9).
        let answer = self
            .negotiate_session_timer(handle, &req)
            .and_then(|timer| Ok((self.reinvite_answer(handle, &req)?, timer)));
        let ((body, media), timer) = match answer {
            Ok(answer) => answer,
            Err(reply) => {
                self.respond_tx(now, &key, &req.echo, reply.tag(Some(&tag)));
                return;
            }
        };
        let headers = self.answer_headers(transport, source.ip(), sips, timer);
        let reply = Reply::new(200)
            .tag(Some(&tag))
            .headers(headers)
            .sdp(body.as_bytes());
        let payload = self.respond_tx(now, &key, &req.echo, reply);
        self.track_2xx(now, handle, req.cseq, payload);
        self.start_session_timer(now, handle, timer);
        if let Some(media) = media {
            self.events.push_back(Event::MediaUpdated {
                call: CallHandle(handle),
                media: Box::new(media),
            });
        }
    }

    /// The session timer a re-INVITE or UPDATE in the call asks for, with
    /// what the caller takes as its request's Allow says now (a target
    /// refresh may carry a new one) or its INVITE's said.
    fn negotiate_session_timer(
        &mut self,
        handle: u64,
        req: &Request,
    ) -> Result<Option<session_timer::SessionTimer>, Reply<'static>> {
        let Some(call) = self.calls.get_mut(&handle) else {
            return Ok(None);
        };
        if req.header("allow").is_some() {
            call.peer_allows_update = session_timer::allows_update(req);
        }
        let webrtc = call
            .media
            .as_ref()
            .is_some_and(Negotiated::is_webrtc_stream);
        session_timer::negotiate(req, webrtc)
    }

    /// UPDATE (RFC 3311) in a confirmed dialog: a session refresh (RFC
    /// 4028) when it carries no body, a new offer answered in the 200 when
    /// it carries one; either way a target refresh.
    fn on_update(&mut self, now: Instant, at: Inbound, handle: u64, req: Request) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let (tag, sips) = (call.key.local_tag.clone(), call.sips);
        // Before our answer the INVITE's offer is not answered yet, and
        // while our own offer waits for the ACK's answer a new one crosses
        // it: 491 either way (§5.2), as while we hang up.
        let pending = matches!(call.state, DialogState::Offered | DialogState::Ending)
            || call.awaiting_answer_in_ack;
        let answer = if pending {
            Err(Reply::new(491))
        } else {
            self.negotiate_session_timer(handle, &req)
                .and_then(|timer| {
                    let media = match offer_in(&req) {
                        Ok(None) => {
                            if let Some(call) = self.calls.get_mut(&handle) {
                                call.refresh_target(req.contact.as_deref());
                            }
                            None
                        }
                        Ok(Some(_)) => Some(self.reinvite_answer(handle, &req)?),
                        Err(code) => return Err(Reply::new(code)),
                    };
                    Ok((media, timer))
                })
        };
        let (media, timer) = match answer {
            Ok(answer) => answer,
            Err(reply) => return self.respond_new(now, &at, &req, reply.tag(Some(&tag))),
        };
        let headers = self.answer_headers(at.transport, at.source.ip(), sips, timer);
        let mut reply = Reply::new(200).tag(Some(&tag)).headers(headers);
        if let Some((body, _)) = &media {
            reply = reply.sdp(body.as_bytes());
        }
        self.respond_new(now, &at, &req, reply);
        self.start_session_timer(now, handle, timer);
        if let Some((_, Some(media))) = media {
            self.events.push_back(Event::MediaUpdated {
                call: CallHandle(handle),
                media: Box::new(media),
            });
        }
    }

    /// Our SDP for a re-INVITE, and the media it changes to (None when it
    /// carried no offer: ours goes in the 200, the answer comes in the ACK);
    /// or the response refusing it, which leaves the dialog as it was.
    fn reinvite_answer(
        &mut self,
        handle: u64,
        req: &Request,
    ) -> Result<(String, Option<Negotiated>), Reply<'static>> {
        let Some(call) = self.calls.get_mut(&handle) else {
            return Err(Reply::new(481));
        };
        // Our own re-INVITE's offer is out: the two cross (RFC 3261 §14.2).
        if call.state == DialogState::Offered
            || call.state == DialogState::Ending
            || call.reinvite_cseq.is_some()
        {
            return Err(Reply::new(491));
        }
        let local = SocketAddr::new(call.media_ip, call.local_rtp_port);
        let media = match offer_in(req) {
            Ok(None) => None,
            Ok(Some(offer)) => match sdp::negotiate(&offer, &self.config.media) {
                // A WebRTC session's ICE and DTLS state lives in the media
                // thread; a new offer for it is not taken mid-call.
                Ok(neg) if neg.is_webrtc_stream() => {
                    return Err(Reply::new(488).header(
                        "Warning: 304 passgate \"WebRTC media is not renegotiated mid-call\"",
                    ));
                }
                // The call's RTP socket is of one family; hold's 0.0.0.0 is
                // not an address to send to, whatever its family.
                Ok(neg)
                    if !neg.remote_rtp.ip().is_unspecified()
                        && neg.remote_rtp.ip().to_canonical().is_ipv4()
                            != call.media_ip.is_ipv4() =>
                {
                    return Err(Reply::new(488).header(
                        "Warning: 301 passgate \"the media cannot change address family\"",
                    ));
                }
                Ok(mut neg) => {
                    keep_srtp_key(&mut neg, call.media.as_ref());
                    Some(neg)
                }
                Err(err) => {
                    return Err(
                        Reply::new(err.status()).header(format!("Warning: 304 passgate \"{err}\""))
                    )
                }
            },
            Err(code) => return Err(Reply::new(code)),
        };
        let body = match &media {
            Some(neg) => call.next_sdp(|origin| sdp::answer(neg, local, origin)),
            None => {
                call.offered_srtp = super::reoffer_key(&self.config.media, call.media.as_ref());
                let key = call.offered_srtp.clone();
                let policy = &self.config.media;
                call.next_sdp(|origin| sdp::offer(policy, local, origin, key.as_ref()))
            }
        };
        call.awaiting_answer_in_ack = media.is_none();
        if let Some(neg) = &media {
            call.media = Some(neg.clone());
        }
        // A re-INVITE is a target refresh (RFC 3261 §12.2.2): our BYE and
        // REFER go to its Contact from now on. Taken only when we accept it,
        // so a refused re-INVITE leaves the dialog as it was.
        call.refresh_target(req.contact.as_deref());
        Ok((body, media))
    }

    pub(super) fn on_response(&mut self, now: Instant, resp: Response) {
        let Some(tx) = self.client_txs.get_mut(&resp.branch) else {
            return self.final_response_again(&resp);
        };
        if !tx.answered_by(&resp) {
            return;
        }
        if resp.code < 200 {
            if let Some(at) = tx.on_provisional(now, &self.config.timers) {
                self.timers.schedule(at, TimerKey::Client(resp.branch));
            }
            return;
        }
        let Some(tx) = self.client_txs.remove(&resp.branch) else {
            return;
        };
        match tx.method {
            Method::Invite => self.reinvite_answered(now, tx, resp),
            Method::Update if resp.code < 300 || resp.code == 422 => {
                if resp.code < 300 {
                    if let Some(call) = self.calls.get_mut(&tx.call) {
                        call.refresh_target(resp.contact.as_deref());
                    }
                }
                self.refresh_answered(now, tx.call, resp.code, Some(&resp))
            }
            _ => self.client_final(now, tx, resp.code),
        }
    }

    /// A final response to our re-INVITE once its transaction is over: a
    /// retransmission (the caller did not get our ACK), acknowledged again
    /// (RFC 3261 §13.2.2.4, §17.1.1.2).
    fn final_response_again(&mut self, resp: &Response) {
        if resp.code < 200 || resp.cseq_method != "INVITE" {
            return;
        }
        let (Some(local_tag), Some(remote_tag)) = (&resp.from_tag, &resp.to_tag) else {
            return;
        };
        let key = DialogKey {
            call_id: resp.call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: remote_tag.clone(),
        };
        let ack = self
            .dialogs
            .get(&key)
            .and_then(|handle| self.calls.get(handle))
            .and_then(|c| c.reinvite_ack.as_ref())
            .filter(|(cseq, _)| *cseq == resp.cseq)
            .map(|(_, ack)| ack.clone());
        if let Some(ack) = ack {
            self.stats.retransmissions_sent += 1;
            self.transmits.push_back(ack);
        }
    }

    /// The final response to our refreshing re-INVITE: ACKed, its SDP
    /// answer taken, and the refresh's outcome applied. A call ended while
    /// it was pending (kept for this by `forget_call`) is only ACKed.
    fn reinvite_answered(&mut self, now: Instant, tx: ClientTx, resp: Response) {
        let handle = tx.call;
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        call.reinvite_cseq = None;
        // A 2xx to a re-INVITE is a target refresh (§12.2.1.2), which its
        // ACK already goes to.
        if resp.code < 300 {
            call.refresh_target(resp.contact.as_deref());
        }
        let confirmed = call.state == DialogState::Confirmed;
        // A 2xx's ACK is a transaction of its own; any other final
        // response's is part of the INVITE's (§17.1.1.3). Over TCP too.
        let ack_branch = (resp.code >= 300).then(|| resp.branch.clone());
        self.send_reinvite_ack(handle, tx.cseq, ack_branch);
        if resp.code == 422 && confirmed {
            return self.refresh_answered(now, handle, resp.code, Some(&resp));
        }
        if resp.code >= 300 || !confirmed {
            return self.client_final(now, tx, resp.code);
        }
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let answer = answer_in(&resp).map(|a| {
            let current = call.media.as_ref().and_then(|m| m.srtp.as_ref());
            sdp::accept_reoffer_answer(&a, &self.config.media, current)
        });
        let failed = match &answer {
            Some(Ok(neg))
                if !neg.remote_rtp.ip().is_unspecified()
                    && neg.remote_rtp.ip().to_canonical().is_ipv4() != call.media_ip.is_ipv4() =>
            {
                Some("the answer to our re-INVITE moves the media to another address family")
            }
            Some(Ok(_)) => None,
            Some(Err(sdp::SdpError::SrtpRequired)) => {
                Some("SRTP is required here and the answer is plain RTP")
            }
            _ => Some("no acceptable SDP answer to our re-INVITE"),
        };
        if let Some(why) = failed {
            // The media can no longer be trusted to flow, so the call ends
            // saying why (RFC 3326).
            tracing::warn!(call_id = %call.key.call_id, why, "ending the call");
            return self.end_unanswered(now, handle, why);
        }
        let media = match answer {
            Some(Ok(neg)) => (call.media.as_ref() != Some(&neg)).then_some(neg),
            _ => None,
        };
        if let Some(neg) = &media {
            call.media = Some(neg.clone());
        }
        self.refresh_answered(now, handle, resp.code, Some(&resp));
        if let Some(media) = media {
            self.events.push_back(Event::MediaUpdated {
                call: CallHandle(handle),
                media: Box::new(media),
            });
        }
    }

    /// Ends a call whose offer of ours got no usable answer: BYE with a
    /// Reason saying `why` (RFC 3326).
    fn end_unanswered(&mut self, now: Instant, handle: u64, why: &str) {
        let reason = format!("Reason: SIP;cause=488;text=\"{why}\"");
        self.end_with_bye(now, handle, &[reason]);
        self.events.push_back(Event::CallEnded {
            call: CallHandle(handle),
            reason: EndReason::NoAcceptableAnswer,
        });
    }

    pub(super) fn client_final(&mut self, now: Instant, tx: ClientTx, code: u16) {
        if tx.method == Method::Invite {
            let Some(call) = self.calls.get_mut(&tx.call) else {
                return;
            };
            call.reinvite_cseq = None;
            // The call ended while our re-INVITE was pending: now it can go.
            if call.state == DialogState::Ending {
                return self.forget_call(tx.call);
            }
        }
        if code == 481 && tx.method != Method::Bye {
            // The peer has no such dialog (RFC 5057 §5.1): it is gone, and
            // with it the call. End it here, without a BYE the peer would
            // only answer 481 again.
            self.dialog_gone(tx.call, tx.method);
            return;
        }
        match tx.method {
            Method::Bye => self.forget_call(tx.call),
            Method::Refer => {
                let status = if (200..300).contains(&code) {
                    ReferStatus::Accepted
                } else {
                    ReferStatus::Rejected(code)
                };
                if let Some(call) = self.calls.get_mut(&tx.call) {
                    if code >= 300 {
                        call.refer_cseq = None;
                    }
                    self.events.push_back(Event::Refer {
                        call: CallHandle(tx.call),
                        status,
                    });
                }
            }
            // A refresh's 2xx is taken with its headers in `on_response`;
            // here its refusals and time-outs.
            Method::Update | Method::Invite => self.refresh_answered(now, tx.call, code, None),
            _ => {}
        }
    }

    pub(super) fn find_dialog(&self, req: &Request) -> Option<u64> {
        let key = DialogKey {
            call_id: req.echo.call_id.clone(),
            local_tag: req.to_tag.clone()?,
            remote_tag: req.from_tag.clone(),
        };
        self.dialogs.get(&key).copied()
    }

    /// The peer answered 481 to a request in the call's dialog.
    pub(super) fn dialog_gone(&mut self, handle: u64, method: Method) {
        let Some(call) = self.calls.remove(&handle) else {
            return;
        };
        tracing::info!(call_id = %call.key.call_id, method = method.as_str(), "481 to our request: the dialog is gone");
        self.dialogs.remove(&call.key);
        if let Some(at) = call.session_due_at {
            self.session_deadlines.remove(&(at, handle));
        }
        if call.state != DialogState::Ending {
            self.events.push_back(Event::CallEnded {
                call: CallHandle(handle),
                reason: EndReason::DialogGone,
            });
        }
    }
}

/// The SDP answer in a response's body (its SDP part, if multipart).
fn answer_in(resp: &Response) -> Option<sdp::SessionDescription> {
    if resp.body.is_empty() {
        return None;
    }
    let content_type = resp.content_type.as_deref().unwrap_or("application/sdp");
    let body = if crate::multipart::is_multipart(content_type) {
        crate::multipart::sdp_part(content_type, &resp.body).ok()??
    } else {
        &resp.body
    };
    sdp::parse(std::str::from_utf8(body).ok()?).ok()
}

/// The status code in a `message/sipfrag` body ("SIP/2.0 200 OK").
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().next()?.trim();
    line.strip_prefix("SIP/2.0 ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A re-offer of the caller's key as it was (a session refresh, a hold)
/// keeps ours too: a new key of ours would leave the caller unable to open
/// our packets until it has read the answer, every refresh.
fn keep_srtp_key(neg: &mut Negotiated, current: Option<&Negotiated>) {
    let (Some(new), Some(old)) = (neg.srtp.as_mut(), current.and_then(|m| m.srtp.as_ref())) else {
        return;
    };
    if new.remote == old.remote && new.tag == old.tag && new.suite == old.suite {
        new.local = old.local.clone();
    }
}
