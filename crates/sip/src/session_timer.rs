//! Session timers (RFC 4028), the user agent server's side: what an INVITE
//! (or re-INVITE) asks for, what our 2xx agrees to, and when a session
//! nobody refreshed is over.
//!
//! The refresher is always the caller's side: a caller that supports the
//! extension is made the refresher unless it asked us to be. An interval
//! that only a proxy asked for (the caller does not support the extension)
//! or that names us as the refresher is declined by leaving Session-Expires
//! out of the 2xx, as a UAS without the extension would (§7.2: the caller
//! then has no expiry), since we send no refreshes of our own. So is one for
//! a WebRTC call, whose refresh re-INVITE (a new ICE and DTLS offer) is not
//! taken mid-call.
//!
//! Pure: the endpoint applies the decision and keeps the deadline.

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

/// A session interval the 2xx agreed to, with the caller as refresher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    pub interval_secs: u32,
}

impl SessionTimer {
    /// The header lines our 2xx carries for it (§9): the interval, who
    /// refreshes, and `Require: timer` since the caller is the refresher.
    pub fn response_headers(&self) -> [String; 2] {
        [
            format!("Session-Expires: {};refresher=uac", self.interval_secs),
            format!("Require: {TIMER}"),
        ]
    }

    /// When a session agreed at `at` is over without a refresh: a little
    /// before the interval runs out, the lesser of 32 s and a third of it
    /// (§10), so our BYE reaches proxies before their own timers fire.
    pub fn expires(&self, at: Instant) -> Instant {
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
    let refresher = value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| value.trim())
    });
    Ok(Some((secs, refresher)))
}

/// The session timer our 2xx to this INVITE or re-INVITE agrees to (None:
/// no timer), or the response refusing the request.
pub(crate) fn negotiate(req: &Request) -> Result<Option<SessionTimer>, Reply<'static>> {
    let Some((secs, refresher)) = requested(req)? else {
        return Ok(None);
    };
    if !extensions::supports(req, TIMER) {
        // Only a proxy asked: it would need us to refresh (§9). Declined.
        return Ok(None);
    }
    if secs < MIN_SE {
        return Err(Reply::new(422).header(format!("Min-SE: {MIN_SE}")));
    }
    if refresher.is_some_and(|r| r.eq_ignore_ascii_case("uas")) {
        return Ok(None);
    }
    let min_se = req.header("min-se").and_then(delta_seconds).unwrap_or(0);
    Ok(Some(SessionTimer {
        interval_secs: secs.min(MAX_SE.max(min_se)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, Incoming};

    fn invite(headers: &str) -> Request {
        let text = format!(
            "INVITE sip:passgate@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-st\r\n\
             From: <sip:+15551234567@127.0.0.1>;tag=a\r\n\
             To: <sip:passgate@127.0.0.1>\r\n\
             Call-ID: st@127.0.0.1\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:caller@127.0.0.1:5070>\r\n\
             Max-Forwards: 70\r\n\
             {headers}\
             Content-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Incoming::Request(req)) => *req,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn agreed(headers: &str) -> Option<u32> {
        negotiate(&invite(headers))
            .map(|t| t.map(|t| t.interval_secs))
            .unwrap_or_else(|reply| panic!("refused: {}", reply.code))
    }

    fn refused(headers: &str) -> u16 {
        match negotiate(&invite(headers)) {
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
    fn no_interval_asked_or_only_a_proxy_asked_means_no_timer() {
        assert_eq!(agreed(""), None);
        assert_eq!(agreed("Supported: timer\r\n"), None);
        // A proxy inserted it: the caller would not refresh.
        assert_eq!(agreed("Session-Expires: 1800\r\n"), None);
        assert_eq!(
            agreed("Supported: replaces\r\nSession-Expires: 60\r\n"),
            None
        );
    }

    #[test]
    fn an_interval_below_ninety_seconds_is_answered_422_with_our_min_se() {
        assert_eq!(refused("Supported: timer\r\nSession-Expires: 89\r\n"), 422);
        let reply =
            negotiate(&invite("Supported: timer\r\nSession-Expires: 30\r\n")).expect_err("422");
        assert_eq!(reply.headers, ["Min-SE: 90"]);
    }

    #[test]
    fn asked_to_refresh_ourselves_we_decline_even_when_it_is_required() {
        assert_eq!(
            agreed("Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n"),
            None
        );
        assert_eq!(
            agreed("Require: timer\r\nSession-Expires: 1800;refresher=uas\r\n"),
            None
        );
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
    fn an_unrefreshed_session_ends_a_little_before_its_interval() {
        let at = Instant::now();
        let ends = |secs| {
            SessionTimer {
                interval_secs: secs,
            }
            .expires(at)
                - at
        };
        assert_eq!(ends(90), Duration::from_secs(60));
        assert_eq!(ends(1800), Duration::from_secs(1768));
    }
}
