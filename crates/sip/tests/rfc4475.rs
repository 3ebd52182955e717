//! RFC 4475 (SIP torture test messages) fed to the UAS.
//!
//! Every message of §3.1.1 (valid), §3.1.2 (invalid), §3.2, §3.3 and §3.4 is
//! written out below under its section and the RFC's file name. The RFC
//! prints them with these conventions (its §2), undone here:
//! - lines end in CRLF: the messages are written with `\n` and [`crlf`]
//!   converts them, except §3.1.1.11 whose body is raw binary and is built
//!   byte by byte;
//! - `<allOneLine>` blocks are joined into one line;
//! - `<hex>..</hex>` octets are written as Rust escapes (`\x07`, `\x00`,
//!   `\x7F`) or, where they spell UTF-8 text, as that text;
//! - `<repeat count=N>..</repeat>` strings are written out in full.
//!
//! For each message the test checks: no panic; a valid request is handled as
//! a UAS would (a final response, or an `IncomingCall` for an acceptable
//! INVITE, which the application here then turns down); an invalid one is
//! answered with the 4xx/5xx the RFC suggests, or dropped when it lacks what a
//! response must echo; a response that matches no transaction of ours is
//! absorbed silently. Then every timer runs out and no transaction may be
//! left behind.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::{CallHandle, Endpoint, EndpointConfig, Event, TransportKind};

const SOURCE: &str = "192.0.2.200:5060";

/// What the endpoint did with one message.
#[derive(Debug, Default)]
struct Outcome {
    /// Status codes of the responses it sent, in order.
    codes: Vec<u16>,
    responses: Vec<String>,
    calls: Vec<CallHandle>,
    events: usize,
}

impl Outcome {
    fn final_code(&self) -> Option<u16> {
        self.codes.iter().copied().find(|c| *c >= 200)
    }

    fn silent(&self) -> bool {
        self.codes.is_empty() && self.events == 0
    }

    fn response(&self, code: u16) -> &str {
        let prefix = format!("SIP/2.0 {code} ");
        self.responses
            .iter()
            .find(|r| r.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {code} in {:?}", self.responses))
    }
}

/// The RFC's line ends: every `\n` becomes CRLF.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn collect(ep: &mut Endpoint, out: &mut Outcome) {
    while let Some(t) = ep.poll_transmit() {
        let text = String::from_utf8_lossy(&t.payload).into_owned();
        if let Some(code) = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
        {
            out.codes.push(code);
        }
        out.responses.push(text);
    }
    while let Some(ev) = ep.poll_event() {
        out.events += 1;
        if let Event::IncomingCall(call) = ev {
            out.calls.push(call.call);
        }
    }
}

/// An endpoint that sends 100 Trying at once: each message's outcome is
/// read as what was sent before any time passes.
fn endpoint(seed: u64) -> Endpoint {
    let mut config = EndpointConfig::new("192.0.2.1:5060".parse().unwrap());
    config.trying_after = Duration::ZERO;
    Endpoint::new(config, seed)
}

fn feed_on(transport: TransportKind, message: &[u8]) -> Outcome {
    let mut ep = endpoint(4475);
    let now = Instant::now();
    let source: SocketAddr = SOURCE.parse().unwrap();
    ep.handle_input(now, transport, source, message);
    let mut out = Outcome::default();
    collect(&mut ep, &mut out);
    let calls = out.calls.clone();
    for call in calls {
        ep.reject(now, call, 486)
            .expect("an offered call can be rejected");
    }
    let mut t = now;
    let end = now + Duration::from_secs(70);
    while let Some(next) = ep.poll_timeout().filter(|n| *n <= end) {
        t = t.max(next);
        ep.handle_timeout(t);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
    }
    assert_eq!(ep.transactions(), 0, "transactions left after every timer");
    assert_eq!(ep.active_calls(), 0, "calls left after every timer");
    out
}

fn feed(message: &[u8]) -> Outcome {
    feed_on(TransportKind::Udp, message)
}

fn feed_tcp(message: &[u8]) -> Outcome {
    feed_on(TransportKind::Tcp(1), message)
}

/// The SDP body most of the RFC's INVITEs carry (150 octets with a
/// nine-character address).
fn sdp(addr: &str) -> String {
    format!(
        "v=0\no=mhandley 29739 7272939 IN IP4 {addr}\ns=-\nc=IN IP4 {addr}\nt=0 0\n\
         m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"
    )
}

/// The message's Content-Length must count its body exactly where the RFC
/// says it does: this checks the transcription.
fn assert_length_matches(message: &[u8]) {
    let text = String::from_utf8_lossy(message);
    let (head, _) = text.split_once("\r\n\r\n").expect("a blank line");
    let head_len = head.len() + 4;
    let declared: usize = head
        .split("\r\n")
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            (name == "content-length" || name == "l").then(|| value.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    assert_eq!(
        message.len() - head_len,
        declared,
        "transcription of the body"
    );
}

#[path = "rfc4475/semantics.rs"]
mod semantics;
#[path = "rfc4475/valid_and_invalid.rs"]
mod valid_and_invalid;

use semantics::*;
use valid_and_invalid::*;

// ---- the checks -------------------------------------------------------------

fn assert_call_offered(name: &str, out: &Outcome) {
    assert_eq!(
        out.codes,
        vec![100],
        "{name}: only 100 Trying before the application decides"
    );
    assert_eq!(out.calls.len(), 1, "{name}: one IncomingCall: {out:?}");
}

fn assert_final(name: &str, out: &Outcome, code: u16) {
    assert_eq!(out.final_code(), Some(code), "{name}: {out:?}");
    assert_eq!(
        out.codes.iter().filter(|c| **c >= 200).count(),
        1,
        "{name}: one final"
    );
    assert!(out.calls.is_empty(), "{name}: no call: {out:?}");
}

#[test]
fn transcriptions_have_the_content_length_the_rfc_gives() {
    for m in [
        wsinv(),
        esc01(),
        longreq(),
        mpart01(),
        unreason(),
        bcast(),
        badinv01(),
        quotbal(),
        ltgtruri(),
        lwsruri(),
        lwsstart(),
        escruri(),
        baddate(),
        mismatch02(),
        insuf(),
        invut(),
        multi01(),
        sdp01(),
    ] {
        assert_length_matches(&m);
    }
}

// 3.1.1 Valid messages: each is handled as a UAS would.

#[test]
fn s3_1_1_1_wsinv_short_tortuous_invite() {
    // Folded lines, LWS everywhere, and a To tag: an in-dialog INVITE for a
    // dialog we do not have, which is answered 481 (§12.2.2 of RFC 3261).
    let out = feed(&wsinv());
    assert_final("wsinv", &out, 481);
    let resp = out.response(481);
    assert!(
        resp.contains("Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"),
        "{resp}"
    );
    assert!(resp.contains(";tag=1918181833n"), "{resp}");
    assert!(resp.contains("branch=390skdjuw"), "{resp}");
}

#[test]
fn s3_1_1_2_intmeth_wide_range_of_valid_characters() {
    // A well-formed request with a method we do not implement: 501 + Allow.
    let out = feed_tcp(&intmeth());
    assert_final("intmeth", &out, 501);
    let resp = out.response(501);
    assert!(resp.contains("\r\nAllow: INVITE"), "{resp}");
    assert!(
        resp.contains("CSeq: 139122385 !interesting-Method"),
        "{resp}"
    );
}

#[test]
fn s3_1_1_3_esc01_valid_percent_escaping() {
    assert_call_offered("esc01", &feed(&esc01()));
}

#[test]
fn s3_1_1_4_escnull_escaped_nulls_in_uris() {
    // A REGISTER: we are not a registrar.
    assert_final("escnull", &feed(&escnull()), 405);
}

#[test]
fn s3_1_1_5_esc02_percent_that_is_not_an_escape() {
    // "RE%47IST%45R" is a method of its own, not REGISTER.
    assert_final("esc02", &feed_tcp(&esc02()), 501);
}

#[test]
fn s3_1_1_6_lwsdisp_no_lws_between_display_name_and_angle() {
    assert_final("lwsdisp", &feed(&lwsdisp()), 200);
}

#[test]
fn s3_1_1_7_longreq_long_values_in_header_fields() {
    // 34 Vias, the top one without a branch: keyed the RFC 2543 way.
    let out = feed_tcp(&longreq());
    assert_call_offered("longreq", &out);
    let trying = out.response(100);
    assert!(
        trying.contains("Via: SIP/2.0/TCP sip33.example.com"),
        "{trying}"
    );
    assert!(
        trying.contains("Via: SIP/2.0/TCP sip1.example.com\r\n"),
        "{trying}"
    );
}

#[test]
fn s3_1_1_8_dblreq_extra_trailing_octets_in_a_udp_datagram() {
    // The REGISTER is answered; the INVITE after its Content-Length is not
    // part of the datagram's message and is ignored (§18.3).
    let out = feed(&dblreq());
    assert_final("dblreq", &out, 405);
    assert_eq!(out.codes, vec![405]);
    assert!(out.response(405).contains("CSeq: 8 REGISTER"));
}

#[test]
fn s3_1_1_9_semiuri_semicolons_in_uri_user_part() {
    assert_final("semiuri", &feed(&semiuri()), 200);
}

#[test]
fn s3_1_1_10_transports_varied_and_unknown_transports() {
    let out = feed(&transports());
    assert_final("transports", &out, 200);
    assert!(out
        .response(200)
        .contains("Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en"));
}

#[test]
fn s3_1_1_11_mpart01_multipart_mime_message() {
    // MESSAGE outside a dialog: not a method we take.
    assert_final("mpart01", &feed(&mpart01()), 405);
}

#[test]
fn s3_1_1_12_unreason_unusual_reason_phrase() {
    // A response to nothing we sent: absorbed.
    assert!(feed(&unreason()).silent());
}

#[test]
fn s3_1_1_13_noreason_empty_reason_phrase() {
    assert!(feed(&noreason()).silent());
}

// 3.1.2 Invalid messages: 4xx/5xx, or dropped when nothing can be echoed.

#[test]
fn s3_1_2_1_badinv01_extraneous_header_field_separators() {
    assert_final("badinv01", &feed(&badinv01()), 400);
}

#[test]
fn s3_1_2_2_clerr_content_length_larger_than_message() {
    assert_final("clerr", &feed(&clerr()), 400);
}

#[test]
fn s3_1_2_3_ncl_negative_content_length() {
    assert_final("ncl", &feed(&ncl()), 400);
}

#[test]
fn s3_1_2_4_scalar02_request_scalar_fields_with_overlarge_values() {
    assert_final("scalar02", &feed_tcp(&scalar02()), 400);
}

#[test]
fn s3_1_2_5_scalarlg_response_scalar_fields_with_overlarge_values() {
    assert!(feed_tcp(&scalarlg()).silent());
}

#[test]
fn s3_1_2_6_quotbal_unterminated_quoted_string() {
    assert_final("quotbal", &feed(&quotbal()), 400);
}

#[test]
fn s3_1_2_7_ltgtruri_angle_brackets_around_request_uri() {
    assert_final("ltgtruri", &feed(&ltgtruri()), 400);
}

#[test]
fn s3_1_2_8_lwsruri_embedded_lws_in_request_uri() {
    assert_final("lwsruri", &feed(&lwsruri()), 400);
}

#[test]
fn s3_1_2_9_lwsstart_multiple_sp_in_request_line() {
    assert_final("lwsstart", &feed(&lwsstart()), 400);
}

#[test]
fn s3_1_2_10_trws_sp_at_end_of_request_line() {
    assert_final("trws", &feed_tcp(&trws()), 400);
}

#[test]
fn s3_1_2_11_escruri_escaped_headers_in_request_uri() {
    // The RFC lets an element be liberal and ignore the escaped headers; a
    // UAS has no use for them, and the call is offered.
    assert_call_offered("escruri", &feed(&escruri()));
}

#[test]
fn s3_1_2_12_baddate_invalid_time_zone_in_date() {
    // The Date header is never read by the UAS, so its odd zone is ignored.
    assert_call_offered("baddate", &feed(&baddate()));
}

#[test]
fn s3_1_2_13_regbadct_name_addr_not_in_angle_brackets() {
    // A REGISTER, which we do not take, whatever its Contact says.
    assert_final("regbadct", &feed(&regbadct()), 405);
}

#[test]
fn s3_1_2_14_badaspec_spaces_within_addr_spec() {
    // The RFC allows ignoring the spaces; OPTIONS is answered.
    assert_final("badaspec", &feed(&badaspec()), 200);
}

#[test]
fn s3_1_2_15_baddn_non_token_characters_in_display_name() {
    // The RFC allows inferring the quotes; OPTIONS is answered.
    assert_final("baddn", &feed(&baddn()), 200);
}

#[test]
fn s3_1_2_16_badvers_unknown_protocol_version() {
    let out = feed(&badvers());
    assert_final("badvers", &out, 505);
    assert!(out
        .response(505)
        .contains("Call-ID: badvers.31417@c.example.com"));
}

#[test]
fn s3_1_2_17_mismatch01_start_line_and_cseq_method_mismatch() {
    assert_final("mismatch01", &feed(&mismatch01()), 400);
}

#[test]
fn s3_1_2_18_mismatch02_unknown_method_with_cseq_mismatch() {
    assert_final("mismatch02", &feed(&mismatch02()), 501);
}

#[test]
fn s3_1_2_19_bigcode_overlarge_response_code() {
    assert!(feed(&bigcode()).silent());
}

// 3.2 Transaction layer semantics.

#[test]
fn s3_2_1_badbranch_missing_transaction_identifier() {
    assert_final("badbranch", &feed(&badbranch()), 200);
}

// 3.3 Application layer semantics.

#[test]
fn s3_3_1_insuf_missing_required_header_fields() {
    // No Call-ID, From or To: a response could not be matched, so it is
    // dropped (the RFC's 400 would itself be malformed).
    let mut ep = endpoint(1);
    ep.handle_input(
        Instant::now(),
        TransportKind::Udp,
        SOURCE.parse().unwrap(),
        &insuf(),
    );
    assert!(ep.poll_transmit().is_none());
    assert!(ep.poll_event().is_none());
    assert_eq!(ep.stats().malformed_dropped, 1);
}

#[test]
fn s3_3_2_unkscm_request_uri_with_unknown_scheme() {
    assert_final("unkscm", &feed_tcp(&unkscm()), 416);
}

#[test]
fn s3_3_3_novelsc_request_uri_with_atypical_scheme() {
    assert_final("novelsc", &feed_tcp(&novelsc()), 416);
}

#[test]
fn s3_3_4_unksm2_unknown_uri_schemes_in_header_fields() {
    // Not refused for its To/From schemes; refused as a REGISTER.
    assert_final("unksm2", &feed(&unksm2()), 405);
}

#[test]
fn s3_3_5_bext01_proxy_require_and_require() {
    let out = feed_tcp(&bext01());
    assert_final("bext01", &out, 420);
    let unsupported = out
        .response(420)
        .lines()
        .find(|l| l.starts_with("Unsupported: "))
        .expect("an Unsupported header")
        .to_string();
    assert!(
        unsupported.contains("nothingSupportsThis,"),
        "{unsupported}"
    );
    assert!(
        unsupported.contains("nothingSupportsThisEither"),
        "{unsupported}"
    );
}

#[test]
fn s3_3_6_invut_unknown_content_type() {
    let out = feed(&invut());
    assert_final("invut", &out, 415);
    let response = out.response(415);
    let accept = response
        .lines()
        .find_map(|l| l.strip_prefix("Accept: "))
        .expect("an Accept header");
    assert!(
        accept.split(", ").any(|t| t == "application/sdp"),
        "{accept}"
    );
}

#[test]
fn s3_3_7_regaut01_unknown_authorization_scheme() {
    assert_final("regaut01", &feed_tcp(&regaut01()), 405);
}

#[test]
fn s3_3_8_multi01_multiple_values_in_single_value_fields() {
    assert_final("multi01", &feed(&multi01()), 400);
}

#[test]
fn s3_3_9_mcl01_multiple_content_length_values() {
    assert_final("mcl01", &feed(&mcl01()), 400);
}

#[test]
fn s3_3_10_bcast_200_with_broadcast_via() {
    // A response matching no transaction of ours: nothing is sent anywhere,
    // least of all to 255.255.255.255.
    assert!(feed(&bcast()).silent());
}

#[test]
fn s3_3_11_zeromf_max_forwards_of_zero() {
    // Max-Forwards matters to proxies; a UAS answers as usual.
    assert_final("zeromf", &feed(&zeromf()), 200);
}

#[test]
fn s3_3_12_cparam01_register_with_contact_parameter() {
    assert_final("cparam01", &feed(&cparam01()), 405);
}

#[test]
fn s3_3_13_cparam02_register_with_url_parameter() {
    assert_final("cparam02", &feed(&cparam02()), 405);
}

#[test]
fn s3_3_14_regescrt_register_with_url_escaped_header() {
    assert_final("regescrt", &feed(&regescrt()), 405);
}

#[test]
fn s3_3_15_sdp01_unacceptable_accept_offering() {
    // Our 2xx would carry SDP, which the caller's Accept rules out: 406.
    let out = feed(&sdp01());
    assert_eq!(out.codes, vec![100, 406], "{out:?}");
    assert!(out.calls.is_empty());
    assert!(out.response(406).contains("Accept: application/sdp"));
}

// 3.4 Backward compatibility.

#[test]
fn s3_4_1_inv2543_invite_with_rfc_2543_syntax() {
    // No branch, no From tag, no Content-Length: accepted.
    assert_call_offered("inv2543", &feed(&inv2543()));
}

#[test]
fn an_rfc_2543_invite_is_cancelled_and_acknowledged_by_its_other_fields() {
    // The branchless key must tie the CANCEL, and the ACK of the 487, to the
    // INVITE of §3.4.1.
    let mut ep = endpoint(2);
    let now = Instant::now();
    let src: SocketAddr = SOURCE.parse().unwrap();
    ep.handle_input(now, TransportKind::Udp, src, &inv2543());
    let mut out = Outcome::default();
    collect(&mut ep, &mut out);
    assert_eq!(out.calls.len(), 1);
    let cancel = "CANCEL sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 CANCEL
Content-Length: 0

";
    ep.handle_input(now, TransportKind::Udp, src, &crlf(cancel));
    let mut out = Outcome::default();
    collect(&mut ep, &mut out);
    assert_eq!(out.codes, vec![200, 487], "{out:?}");
    let to = out
        .response(487)
        .lines()
        .find(|l| l.starts_with("To: "))
        .unwrap()
        .to_string();
    let ack = format!(
        "ACK sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
{to}
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 ACK
Content-Length: 0

"
    );
    ep.handle_input(now, TransportKind::Udp, src, &crlf(&ack));
    // The ACK stopped the 487's retransmissions, and Timer I (T4) ends the
    // INVITE transaction long before Timer H would have; only the CANCEL's
    // (Timer J, 32 s) is left.
    let mut later = Outcome::default();
    let end = now + Duration::from_secs(6);
    while let Some(t) = ep.poll_timeout().filter(|t| *t <= end) {
        ep.handle_timeout(t);
        collect(&mut ep, &mut later);
    }
    assert!(later.codes.is_empty(), "{later:?}");
    assert_eq!(ep.transactions(), 1);
}
