//! A new INVITE (RFC 3261 §13.3.1): the checks that may refuse it (admission,
//! Contact, Accept, Digest, the offer), then the call offered to the
//! application with its dialog made.

use std::net::IpAddr;
use std::time::Instant;

use rand::Rng;

use crate::dialog::{self, Dialog, DialogKey, DialogState};
use crate::event::{CallHandle, Event, IncomingCall};
use crate::extensions;
use crate::identity::{all_values, AssertedIdentity};
use crate::message::Request;
use crate::multipart;
use crate::response::Reply;
use crate::sdp::{self, Negotiated, SdpOrigin};
use crate::session_timer::{self, SessionTimer};
use crate::transaction::ServerTx;

use super::{Endpoint, Inbound, TimerKey};

impl Endpoint {
    pub(super) fn on_invite(&mut self, now: Instant, at: Inbound, req: Request) {
        let (key, transport, source) = (at.key, at.transport, at.source);
        let mut tx = ServerTx::invite(
            transport,
            source,
            Some(req.echo.clone()),
            req.record_route.clone(),
        );
        // 100 Trying stops the caller retransmitting. RFC 3261 §17.2.1 needs
        // none when the answer comes within 200 ms, which it nearly always
        // does: it waits `trying_after` for one (a retransmission of the
        // INVITE gets it at once), saving a datagram each way per call.
        if self.config.trying_after.is_zero() {
            self.server_txs.insert(key.clone(), tx);
            self.send_trying(now, &key);
        } else {
            let at = now + self.config.trying_after;
            tx.defer_trying(at);
            self.server_txs.insert(key.clone(), tx);
            self.timers.schedule(at, TimerKey::Server(key.clone()));
        }
        let (media, media_ip, session_timer) = match self.admit_invite(now, source.ip(), &req) {
            Ok(admitted) => admitted,
            Err(reply) => {
                self.respond_tx(now, &key, &req.echo, reply);
                return;
            }
        };
        let handle = self.next_call;
        self.next_call += 1;
        let dialog = DialogKey {
            call_id: req.echo.call_id.clone(),
            local_tag: self.new_tag(),
            remote_tag: req.from_tag.clone(),
        };
        let origin = SdpOrigin {
            session_id: self.rng.random_range(1..=u32::MAX as u64),
            version: 1,
        };
        if let Some(tx) = self.server_txs.get_mut(&key) {
            tx.call = Some(handle);
        }
        let identity =
            AssertedIdentity::of(&req, source.ip(), &self.config.trusted_identity_sources);
        if identity.dropped {
            tracing::info!(
                call_id = req.call_id(),
                %source,
                "identity headers from a source outside sip.trusted_identity_sources ignored"
            );
        }
        let incoming = IncomingCall {
            call: CallHandle(handle),
            call_id: req.echo.call_id.clone(),
            request_uri: req.uri.clone(),
            from_uri: req.from_uri.clone(),
            from_display: req.from_display.clone(),
            to_uri: req.to_uri.clone(),
            p_asserted_identity: identity.p_asserted_identity,
            remote_party_id: identity.remote_party_id,
            identity_trusted: identity.trusted,
            verstat: identity.verstat,
            privacy: all_values(&req, "privacy"),
            user_agent: req.header("user-agent").map(str::to_string),
            source,
            transport,
            provisional_media: media
                .is_none()
                .then(|| sdp::first_choice(&self.config.media)),
            media: media.clone(),
        };
        self.dialogs.insert(dialog.clone(), handle);
        self.calls.insert(
            handle,
            Dialog {
                key: dialog,
                transport,
                remote: source,
                invite_tx: key,
                state: DialogState::Offered,
                remote_party: req.echo.from.clone(),
                local_party: req.echo.to.clone(),
                remote_target: req.contact.clone().unwrap_or_else(|| req.from_uri.clone()),
                route_set: req.record_route.clone(),
                sips: dialog::wants_sips(&req, transport),
                remote_cseq: req.cseq,
                invite_cseq: req.cseq,
                local_cseq: 0,
                media,
                local_rtp_port: 0,
                media_ip,
                origin,
                pending_2xx: None,
                awaiting_answer_in_ack: false,
                offered_srtp: None,
                bye_after_ack: false,
                refer_cseq: None,
                session_timer,
                session_due_at: None,
                session_ends_at: None,
                peer_allows_update: session_timer::allows_update(&req),
                reliable_provisionals: extensions::requires(&req, extensions::RELIABLE_PROVISIONAL),
                unacknowledged_provisional: None,
                last_rseq: None,
                // §3: the first RSeq is chosen at random below 2^31.
                next_rseq: self.rng.random_range(1..=(1u32 << 31) - 1),
                local_sdp: None,
                reinvite_cseq: None,
                reinvite_ack: None,
            },
        );
        self.events
            .push_back(Event::IncomingCall(Box::new(incoming)));
    }

    /// Whether a new INVITE from `source` may become a call: its media (None
    /// without an offer), our media address and the session timer our 2xx
    /// will agree to, or the response refusing it.
    fn admit_invite(
        &mut self,
        now: Instant,
        source: IpAddr,
        req: &Request,
    ) -> Result<(Option<Negotiated>, IpAddr, Option<SessionTimer>), Reply<'static>> {
        if let Some(refusal) = self.refusal(now, source, true) {
            self.count_refusal(refusal, source);
            return Err(Reply::new(503).header(self.retry_after()));
        }
        let admitted = self.check_invite(now, source, req);
        // A challenge (401), or 422 naming the interval the INVITE must
        // ask for, is answered by sending the INVITE again at once: that
        // retry is the same call, so it finds the rate tokens this one
        // took. (A 420 is sent before admission and takes none.)
        if let Err(reply) = &admitted {
            if matches!(reply.code, 401 | 422) {
                self.rate.refund(source);
                self.total_rate.refund();
            }
        }
        admitted
    }

    /// The checks after admission that may refuse a new INVITE: Contact,
    /// Accept, Digest, the offer, our media address, the session timer.
    fn check_invite(
        &mut self,
        now: Instant,
        source: IpAddr,
        req: &Request,
    ) -> Result<(Option<Negotiated>, IpAddr, Option<SessionTimer>), Reply<'static>> {
        if req.contact.is_none() && req.top_via.branch.starts_with("z9hG4bK") {
            // Without a Contact there is no remote target for the dialog
            // (RFC 3261 §8.1.1.8, §12.1.1): our BYE or REFER would have
            // nowhere to go. RFC 2543 made it optional, so a request from
            // such an element (no magic-cookie branch, RFC 4475 §3.4.1) is
            // still taken, its From URI as the target.
            return Err(Reply::new(400).header("Warning: 399 passgate \"Contact header missing\""));
        }
        if !accepts_sdp(req) {
            // Our 200 must carry SDP, which the caller says it cannot take
            // (RFC 4475 §3.3.15).
            return Err(Reply::new(406)
                .header("Accept: application/sdp")
                .header("Warning: 399 passgate \"responses carry application/sdp\""));
        }
        self.authenticate(now, source, req)?;
        let media = match offer_in(req) {
            Ok(None) => None,
            Ok(Some(offer)) => match sdp::negotiate(&offer, &self.config.media) {
                Ok(mut neg) => {
                    if neg.is_webrtc_stream() {
                        neg.webrtc = webrtc_offer_text(req);
                    }
                    Some(neg)
                }
                Err(err) => {
                    tracing::info!(call_id = req.call_id(), %err, "refusing the offer");
                    return Err(
                        Reply::new(err.status()).header(format!("Warning: 304 passgate \"{err}\""))
                    );
                }
            },
            // A 415 lists what we do take (§21.4.13).
            Err(415) => {
                return Err(Reply::new(415).header("Accept: application/sdp, multipart/mixed"))
            }
            Err(code) => return Err(Reply::new(code)),
        };
        // Media goes in the family the offer asks for; without an offer, in
        // the family the INVITE came in on.
        let media_family = media.as_ref().map_or(source, |m| m.remote_rtp.ip());
        let Some(media_ip) = self.config.local_ip_for(media_family) else {
            tracing::info!(call_id = req.call_id(), %media_family, "no local address of the offer's family");
            let family = if media_family.to_canonical().is_ipv4() {
                "IPv4"
            } else {
                "IPv6"
            };
            return Err(Reply::new(488).header(format!(
                "Warning: 301 passgate \"no {family} address for media here\""
            )));
        };
        let webrtc = media.as_ref().is_some_and(Negotiated::is_webrtc_stream);
        let session_timer = session_timer::negotiate(req, webrtc)?;
        Ok((media, media_ip, session_timer))
    }

    /// With Digest configured, an INVITE must carry right credentials: else
    /// it is challenged (401), or refused (403) while its source or user
    /// name is locked out.
    fn authenticate(
        &mut self,
        now: Instant,
        source: IpAddr,
        req: &Request,
    ) -> Result<(), Reply<'static>> {
        let Some(digest) = &mut self.config.digest else {
            return Ok(());
        };
        let now_secs = digest.clock_secs(now);
        let authorization = req.header("authorization");
        let user = authorization.and_then(crate::digest::claimed_user);
        let realm = digest.realm();
        // One line per refusal and per wrong answer, for fail2ban; the
        // user name is quoted and escaped (it comes from anyone).
        if let Some(locked) = self.auth_throttle.locked(now, source, user.as_deref()) {
            self.stats.auth_locked += 1;
            tracing::warn!(
                source = %source,
                user = ?user.as_deref().unwrap_or(""),
                realm = ?realm,
                reason = %locked.as_str(),
                "security: digest authentication refused"
            );
            return Err(Reply::new(403));
        }
        let verified = digest.verify("INVITE", &req.uri, authorization, now_secs, source);
        let challenge = verified.is_err().then(|| {
            let salt: u64 = self.rng.random();
            let stale = verified == Err(crate::digest::DigestError::StaleNonce);
            let challenge = digest.challenge(now_secs, salt, source, stale);
            format!("WWW-Authenticate: {challenge}")
        });
        match &verified {
            Ok(user) => self.auth_throttle.succeeded(now, source, user),
            Err(err) => self.auth_failed(now, source, user.as_deref(), err),
        }
        if let (Err(err), Some(challenge)) = (verified, challenge) {
            tracing::debug!(call_id = req.call_id(), %err, "challenging the INVITE");
            self.stats.invites_challenged += 1;
            return Err(Reply::new(401).header(challenge));
        }
        Ok(())
    }

    /// Counts and logs a wrong Digest answer: one line for fail2ban, the
    /// user name quoted and escaped (it comes from anyone).
    fn auth_failed(
        &mut self,
        now: Instant,
        source: IpAddr,
        user: Option<&str>,
        err: &crate::digest::DigestError,
    ) {
        use crate::digest::DigestError as E;
        let reason = match err {
            E::Missing => return,
            // What an honest client answering an old challenge sends: it is
            // challenged again, and this counts toward no lock.
            E::StaleNonce => {
                self.stats.auth_stale_nonce += 1;
                tracing::info!(%source, user = ?user.unwrap_or(""), "digest nonce stale or not ours; challenging again");
                return;
            }
            E::WrongResponse => {
                self.stats.auth_wrong_password += 1;
                "wrong_password"
            }
            E::UnknownUser => {
                self.stats.auth_unknown_user += 1;
                "unknown_user"
            }
            E::Incomplete(_) => {
                self.stats.auth_malformed += 1;
                "malformed"
            }
            E::UriMismatch => {
                self.stats.auth_uri_mismatch += 1;
                "uri_mismatch"
            }
            E::Replayed => {
                self.stats.auth_replayed += 1;
                "replayed"
            }
        };
        let realm = self.config.digest.as_ref().map_or("", |d| d.realm());
        tracing::warn!(
            %source,
            user = ?user.unwrap_or(""),
            realm = ?realm,
            reason = %reason,
            "security: digest authentication failed"
        );
        if let Some(locked) = self.auth_throttle.failed(now, source, user) {
            tracing::warn!(
                %source,
                user = ?user.unwrap_or(""),
                realm = ?realm,
                reason = %locked.as_str(),
                cooldown_secs = self.config.auth_limits.cooldown.as_secs(),
                "security: digest authentication locked"
            );
        }
    }
}

/// The offer in a request body: Ok(None) without a body, Err(415) for a body
/// that is neither SDP nor a multipart with an SDP part (other parts, such as
/// SIP-I's ISUP, are ignored), Err(400) for SDP or a multipart that does not
/// parse.
pub(super) fn offer_in(req: &Request) -> Result<Option<sdp::SessionDescription>, u16> {
    if req.body.is_empty() {
        return Ok(None);
    }
    let content_type = req.content_type.as_deref().unwrap_or("application/sdp");
    let sdp_body = if multipart::is_multipart(content_type) {
        match multipart::sdp_part(content_type, &req.body) {
            Ok(Some(part)) => part,
            Ok(None) | Err(multipart::MultipartError::RequiredPart(_)) => return Err(415),
            Err(multipart::MultipartError::Malformed) => return Err(400),
        }
    } else if content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/sdp")
    {
        &req.body
    } else {
        return Err(415);
    };
    let text = std::str::from_utf8(sdp_body).map_err(|_| 400u16)?;
    sdp::parse(text).map(Some).map_err(|e| e.status())
}

/// The SDP text of a request's offer (its SDP part, if multipart).
fn webrtc_offer_text(req: &Request) -> Option<sdp::WebRtcOffer> {
    let content_type = req.content_type.as_deref().unwrap_or("application/sdp");
    let body = if multipart::is_multipart(content_type) {
        multipart::sdp_part(content_type, &req.body).ok()??
    } else {
        &req.body
    };
    let text = std::str::from_utf8(body).ok()?;
    Some(sdp::WebRtcOffer(text.to_string()))
}

/// Whether the request's Accept headers (if any) admit `application/sdp`.
fn accepts_sdp(req: &Request) -> bool {
    let mut accepts = req
        .extra
        .iter()
        .filter(|(name, _)| name == "accept")
        .peekable();
    if accepts.peek().is_none() {
        return true;
    }
    accepts.any(|(_, value)| {
        value.split(',').any(|range| {
            let range = range.split(';').next().unwrap_or("").trim();
            ["application/sdp", "application/*", "*/*"]
                .iter()
                .any(|ok| ok.eq_ignore_ascii_case(range))
        })
    })
}
