//! Session timers (RFC 4028), the user agent server's side: what an INVITE,
//! re-INVITE or UPDATE asks for, what our 2xx agrees to, who refreshes, and
//! when a session is refreshed or over.
//!
//! A caller that supports the extension refreshes, unless it names us (§9's
//! table). When it names us, or when only a proxy asked for the interval
//! (the caller lacks the extension, so §9 makes us the refresher), we
//! refresh at half the interval: by UPDATE without a body when the
//! caller's Allow lists UPDATE, else by re-INVITE offering the session as
//! it is (our last SDP, its version unchanged). A WebRTC call gets no
//! timer: its refresh re-INVITE (a new ICE and DTLS offer) is not taken
//! mid-call.
//!
//! The `refresher` parameter names a side of the transaction it is in
//! (§4): in a refresh we send we are the UAC, so we keep the role with
//! `refresher=uac`, and a 2xx naming `uas` hands it to the caller.
//!
//! Pure: the endpoint applies the decision, keeps the deadline and sends
//! the BYE or the refresh.

use std::time::{Duration, Instant};

use crate::extensions::{self, TIMER};
use crate::message::Request;
use crate::response::Reply;

/// The smallest session interval we take, and the smallest RFC 4028 allows
/// anyone to ask for (§4, §5): a caller asking for less is answered 422.
pub(crate) const MIN_SE: u32 = 90;

/// The longest session interval we agree to: a longer one is lowered to it
/// (§9 lets the UAS lower it, not below the request's Min-SE), so a session
/// whose caller vanished ends within the half hour most stacks ask for.
pub(crate) const MAX_SE: u32 = 1800;

/// Who sends the refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    /// The caller (`refresher=uac`): we end the session it stops refreshing.
    Caller,
    /// We (`refresher=uas` in our 2xx), by UPDATE or re-INVITE.
    Us,
}

/// A session interval the 2xx agreed to, and who refreshes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    pub interval_secs: u32,
    pub refresher: Refresher,
    /// The shortest interval a side of the session refused ours for (422),
    /// which our refreshes state as their Min-SE; None before any 422.
    pub raised_min_se: Option<u32>,
}

impl SessionTimer {
    /// The header lines our 2xx carries for it (§9): the interval and who
    /// refreshes, and `Require: timer` when the caller does.
    pub fn response_headers(&self) -> Vec<String> {
        match self.refresher {
            Refresher::Caller => vec![
                format!("Session-Expires: {};refresher=uac", self.interval_secs),
                format!("Require: {TIMER}"),
            ],
            Refresher::Us => vec![format!(
                "Session-Expires: {};refresher=uas",
                self.interval_secs
            )],
        }
    }

    /// The header lines of our refreshing UPDATE or re-INVITE (§7.4): the
    /// interval, us (its UAC) as refresher, and that we support the
    /// extension. Not 100rel: we send no PRACK, so a reliable provisional
    /// response to our request is not offered. After a 422, the Min-SE it
    /// named, so that no side on the path lowers the interval below it
    /// again (§7.3, §7.4).
    pub fn refresh_headers(&self) -> Vec<String> {
        let mut lines = vec![
            format!("Session-Expires: {};refresher=uac", self.interval_secs),
            format!("Supported: {TIMER}"),
        ];
        if let Some(min) = self.raised_min_se {
            lines.push(format!("Min-SE: {min}"));
        }
        lines
    }

    /// The timer to refresh with again after a 422 to our refresh (§7.3):
    /// the interval raised to the 422's Min-SE. None when the 422 names no
    /// interval above ours, which a retry would only get refused again.
    pub fn after_too_small(&self, min_se: Option<&str>) -> Option<SessionTimer> {
        let min = delta_seconds(min_se?)?;
        (min > self.interval_secs).then_some(SessionTimer {
            interval_secs: min,
            raised_min_se: Some(min),
            ..*self
        })
    }

    /// The timer after the caller's 2xx to our refresh (§7.2, as the UAC of
    /// that transaction): the interval and refresher it states; none when
    /// it states none (the session then has no expiry). An interval we
    /// cannot read keeps ours.
    pub fn after_refresh(&self, session_expires: Option<&str>) -> Option<SessionTimer> {
        let value = session_expires?;
        let Some(secs) = delta_seconds(value) else {
            return Some(*self);
        };
        let refresher = match refresher_param(value) {
            Some(r) if r.eq_ignore_ascii_case("uas") => Refresher::Caller,
            _ => Refresher::Us,
        };
        Some(SessionTimer {
            interval_secs: secs.clamp(
                self.raised_min_se.unwrap_or(MIN_SE),
                MAX_SE.max(self.interval_secs),
            ),
            refresher,
            ..*self
        })
    }

    /// What is due next for a session agreed (or refreshed) at `at`: our
    /// refresh at half the interval (§7.4), or, when the caller refreshes,
    /// the end of a session it did not refresh: a little before the
    /// interval runs out, the lesser of 32 s and a third of it (§10), so
    /// our BYE reaches proxies before their own timers fire.
    pub fn next_due(&self, at: Instant) -> Instant {
        match self.refresher {
            Refresher::Us => at + Duration::from_secs(u64::from(self.interval_secs) / 2),
            Refresher::Caller => self.ends_at(at),
        }
    }

    /// When a session agreed (or refreshed) at `at` is over unless
    /// refreshed again: a little before the interval runs out (§10).
    pub fn ends_at(&self, at: Instant) -> Instant {
        let interval = u64::from(self.interval_secs);
        at + Duration::from_secs(interval - (interval / 3).min(32))
    }
}

/// The delta-seconds before any parameter of a header's value.
fn delta_seconds(value: &str) -> Option<u32> {
    let digits = value.split(';').next()?.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More digits than a u32 holds is still a very long interval.
    Some(digits.parse().unwrap_or(u32::MAX))
}

/// What a request asks of the session timer: the interval and the
/// refresher it names, if any.
fn requested(req: &Request) -> Result<Option<(u32, Option<&str>)>, Reply<'static>> {
    let Some(value) = req.header("session-expires") else {
        return Ok(None);
    };
    let secs = delta_seconds(value).ok_or_else(|| {
        Reply::new(400).header("Warning: 399 passgate \"Session-Expires is not delta-seconds\"")
    })?;
    Ok(Some((secs, refresher_param(value))))
}

/// The `refresher` parameter of a Session-Expires value.
fn refresher_param(value: &str) -> Option<&str> {
    value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| value.trim())
    })
}

/// Whether the request's Allow lists UPDATE: how our refreshes are sent.
pub(crate) fn allows_update(req: &Request) -> bool {
    req.extra
        .iter()
        .filter(|(name, _)| name == "allow")
        .flat_map(|(_, v)| v.split(','))
        .any(|method| method.trim().eq_ignore_ascii_case("UPDATE"))
}

/// The session timer our 2xx to this INVITE, re-INVITE or UPDATE agrees to
/// (None: no timer), or the response refusing the request. `webrtc`: the
/// call's media is a WebRTC stream.
pub(crate) fn negotiate(
    req: &Request,
    webrtc: bool,
) -> Result<Option<SessionTimer>, Reply<'static>> {
    let Some((secs, named)) = requested(req)? else {
        return Ok(None);
    };
    if webrtc {
        return Ok(None);
    }
    let caller_supports = extensions::supports(req, TIMER);
    if secs < MIN_SE && caller_supports {
        return Err(Reply::new(422).header(format!("Min-SE: {MIN_SE}")));
    }
    let refresher = if caller_supports && !named.is_some_and(|r| r.eq_ignore_ascii_case("uas")) {
        Refresher::Caller
    } else {
        Refresher::Us
    };
    let min_se = req.header("min-se").and_then(delta_seconds).unwrap_or(0);
    // A proxy's interval under the minimum, for a caller that cannot be
    // refused usefully (it lacks the extension), is raised to it (§8.1, and
    // the RFC's errata 1687 for the UAS).
    let secs = secs.max(MIN_SE).max(min_se.min(MAX_SE));
    Ok(Some(SessionTimer {
        interval_secs: secs.min(MAX_SE.max(min_se)),
        refresher,
        raised_min_se: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_request;

    fn invite(headers: &str) -> Request {
        test_request("INVITE", headers)
    }

    fn agreed(headers: &str) -> Option<u32> {
        agreed_timer(headers).map(|t| t.interval_secs)
    }

    fn agreed_timer(headers: &str) -> Option<SessionTimer> {
        negotiate(&invite(headers), false).unwrap_or_else(|reply| panic!("refused: {}", reply.code))
    }

    fn refused(headers: &str) -> u16 {
        match negotiate(&invite(headers), false) {
            Err(reply) => reply.code,
            Ok(t) => panic!("not refused: {t:?}"),
        }
    }

    #[test]
    fn a_caller_that_supports_timers_refreshes_the_interval_it_asked_for() {
        assert_eq!(
            agreed("Supported: timer, replaces\r\nSession-Expires: 1800\r\n"),
            Some(1800)
        );
        assert_eq!(
            agreed("k: 100rel,timer\r\nx: 90;refresher=uac\r\n"),
            Some(90)
        );
        assert_eq!(
            agreed("Require: timer\r\nSession-Expires: 600\r\nMin-SE: 90\r\n"),
            Some(600)
        );
    }

    #[test]
    fn no_interval_asked_means_no_timer() {
        assert_eq!(agreed(""), None);
        assert_eq!(agreed("Supported: timer\r\n"), None);
    }

    #[test]
    fn an_interval_below_ninety_seconds_is_answered_422_with_our_min_se() {
        assert_eq!(refused("Supported: timer\r\nSession-Expires: 89\r\n"), 422);
        let reply = negotiate(
            &invite("Supported: timer\r\nSession-Expires: 30\r\n"),
            false,
        )
        .expect_err("422");
        assert_eq!(reply.headers, ["Min-SE: 90"]);
    }

    #[test]
    fn an_interval_that_is_not_a_number_is_a_bad_request() {
        assert_eq!(
            refused("Supported: timer\r\nSession-Expires: soon\r\n"),
            400
        );
        assert_eq!(refused("Supported: timer\r\nSession-Expires: -5\r\n"), 400);
        assert_eq!(refused("Supported: timer\r\nSession-Expires: +90\r\n"), 400);
    }

    #[test]
    fn a_webrtc_call_gets_no_timer() {
        let req = invite("Supported: timer\r\nSession-Expires: 90\r\n");
        assert_eq!(negotiate(&req, true).map_err(|r| r.code), Ok(None));
    }

    #[test]
    fn a_long_interval_is_lowered_to_half_an_hour_but_not_below_the_callers_min_se() {
        assert_eq!(
            agreed("Supported: timer\r\nSession-Expires: 7200\r\n"),
            Some(1800)
        );
        assert_eq!(
            agreed("Supported: timer\r\nSession-Expires: 99999999999999\r\n"),
            Some(1800)
        );
        assert_eq!(
            agreed("Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 3600\r\n"),
            Some(3600)
        );
    }

    #[test]
    fn a_session_is_refreshed_at_half_or_ended_a_little_before_its_interval() {
        let at = Instant::now();
        let due = |interval_secs, refresher| {
            SessionTimer {
                interval_secs,
                refresher,
                raised_min_se: None,
            }
            .next_due(at)
                - at
        };
        assert_eq!(due(90, Refresher::Caller), Duration::from_secs(60));
        assert_eq!(due(1800, Refresher::Caller), Duration::from_secs(1768));
        assert_eq!(due(90, Refresher::Us), Duration::from_secs(45));
    }

    #[test]
    fn we_refresh_when_named_or_when_only_a_proxy_asked() {
        let us = |secs| {
            Some(SessionTimer {
                interval_secs: secs,
                refresher: Refresher::Us,
                raised_min_se: None,
            })
        };
        let named = "Supported: timer\r\nSession-Expires: 90;refresher=uas\r\n";
        assert_eq!(agreed_timer(named), us(90));
        let required = "Require: timer\r\nSession-Expires: 1800;refresher=uas\r\n";
        assert_eq!(agreed_timer(required), us(1800));
        // Only a proxy asked, below the minimum: raised to it, not refused.
        assert_eq!(agreed_timer("Session-Expires: 60\r\n"), us(90));
        assert_eq!(agreed_timer("Session-Expires: 600\r\n"), us(600));
        let ours = SessionTimer {
            interval_secs: 90,
            refresher: Refresher::Us,
            raised_min_se: None,
        };
        assert_eq!(
            ours.response_headers(),
            ["Session-Expires: 90;refresher=uas"]
        );
        // In our refresh we are its UAC.
        assert_eq!(
            ours.refresh_headers()[0],
            "Session-Expires: 90;refresher=uac"
        );
    }

    #[test]
    fn the_callers_2xx_to_our_refresh_keeps_hands_over_or_ends_the_timer() {
        let ours = SessionTimer {
            interval_secs: 90,
            refresher: Refresher::Us,
            raised_min_se: None,
        };
        let after = |se| ours.after_refresh(se);
        assert_eq!(after(Some("90;refresher=uac")), Some(ours));
        assert_eq!(
            after(Some("120;refresher=uas")),
            Some(SessionTimer {
                interval_secs: 120,
                refresher: Refresher::Caller,
                raised_min_se: None,
            })
        );
        // No Session-Expires: no expiry any more (§7.2).
        assert_eq!(after(None), None);
        // Unreadable: ours goes on; too short: raised to the minimum.
        assert_eq!(after(Some("soon")), Some(ours));
        assert_eq!(after(Some("10;refresher=uac")), Some(ours));
    }

    #[test]
    fn a_422_to_our_refresh_raises_the_interval_and_later_refreshes_state_its_min_se() {
        let ours = SessionTimer {
            interval_secs: 90,
            refresher: Refresher::Us,
            raised_min_se: None,
        };
        assert_eq!(ours.refresh_headers().len(), 2, "no Min-SE before a 422");
        let raised = ours.after_too_small(Some("600")).expect("raised");
        assert_eq!(raised.interval_secs, 600);
        assert_eq!(
            raised.refresh_headers(),
            [
                "Session-Expires: 600;refresher=uac",
                "Supported: timer",
                "Min-SE: 600"
            ]
        );
        // A 2xx naming less than that Min-SE does not lower it again.
        let after = raised.after_refresh(Some("300;refresher=uac"));
        assert_eq!(after.map(|t| t.interval_secs), Some(600));
        // A 422 naming nothing above ours, or nothing readable: no retry.
        assert_eq!(ours.after_too_small(Some("90")), None);
        assert_eq!(ours.after_too_small(Some("soon")), None);
        assert_eq!(ours.after_too_small(None), None);
    }
}
