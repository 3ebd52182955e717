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

// ---- 3.1.1 Valid messages -------------------------------------------------

/// §3.1.1.1 A Short Tortuous INVITE (wsinv).
fn wsinv() -> Vec<u8> {
    let mut m = String::from(
        r#"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

"#,
    );
    m.push_str(&sdp("192.0.2.3").replace("c=IN IP4 192.0.2.3", "c=IN IP4 192.0.2.4"));
    crlf(&m)
}

/// §3.1.1.2 Wide Range of Valid Characters (intmeth). The To display name
/// holds the octets 0x07, 0x00 and 0x7F, each after a backslash; the
/// fromParam value and the extension header are the UTF-8 the RFC gives in
/// hex (D180D0B0... is "работающий"; EFBBBF E5A4A7 E5819C E99BBB is a BOM
/// and "大停電").
fn intmeth() -> Vec<u8> {
    crlf(concat!(
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n",
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n",
        "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n",
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.\n",
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n",
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n",
        "Max-Forwards: 255\n",
        "extensionHeader-!.%*+_`'~:\u{FEFF}大停電\n",
        "Content-Length: 0\n",
        "\n",
    ))
}

/// §3.1.1.3 Valid Use of the % Escaping Mechanism (esc01).
fn esc01() -> Vec<u8> {
    let head = r#"INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

"#;
    crlf(&format!("{head}{}", sdp("192.0.2.1")))
}

/// §3.1.1.4 Escaped Nulls in URIs (escnull).
fn escnull() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

",
    )
}

/// §3.1.1.5 Use of % When It Is Not an Escape (esc02).
fn esc02() -> Vec<u8> {
    crlf(
        r#"RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"#,
    )
}

/// §3.1.1.6 Message with No LWS between Display Name and < (lwsdisp).
fn lwsdisp() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

",
    )
}

/// §3.1.1.7 Long Values in Header Fields (longreq). The RFC writes the long
/// values with `<repeat>`; they are spelled out here. Its top Via has no
/// branch: the request is identified the RFC 2543 way (§17.2.3 of RFC 3261).
fn longreq() -> Vec<u8> {
    let mut m = String::new();
    m.push_str("INVITE sip:user@example.com SIP/2.0\n");
    m.push_str(&format!(
        "To: \"I have a user name of {}proportion\"<sip:user@example.com:6000;unknownparam1=very{}value;longparam{}name=shortvalue;very{}ParameterNameWithNoValue>\n",
        "extreme".repeat(10),
        "long".repeat(20),
        "name".repeat(25),
        "long".repeat(25),
    ));
    m.push_str(&format!(
        "F: sip:{}@example.net;tag=12{}424;unknownheaderparam{}name=unknowheaderparam{}value;unknownValueless{}\n",
        "amazinglylongcallername".repeat(5),
        "982".repeat(50),
        "name".repeat(20),
        "value".repeat(15),
        "paramname".repeat(10),
    ));
    m.push_str(&format!(
        "Call-ID: longreq.one{}longcallid\n",
        "really".repeat(20)
    ));
    m.push_str("CSeq: 3882340 INVITE\n");
    m.push_str(&format!(
        "Unknown-{}-Name: unknown-{}-value; unknown-{}-parameter-name = unknown-{}-parameter-value\n",
        "LongLong".repeat(10),
        "longlong".repeat(10),
        "longlong".repeat(10),
        "longlong".repeat(10),
    ));
    let names = [
        "Via", "v", "V", "Via", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA", "V ", "v ", "V  ",
        "v  ", "Via ", "Via  ",
    ];
    for (i, name) in names.iter().enumerate() {
        let lws = if name.ends_with(' ') && name.len() <= 2 {
            "  "
        } else {
            " "
        };
        m.push_str(&format!(
            "{name}:{lws}SIP/2.0/TCP sip{}.example.com\n",
            33 - i
        ));
    }
    for n in (1..=16).rev() {
        m.push_str(&format!("Via: SIP/2.0/TCP sip{n}.example.com\n"));
    }
    m.push_str(&format!(
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{}branchvalue\n",
        "long".repeat(50)
    ));
    m.push_str("Max-Forwards: 70\n");
    m.push_str(&format!(
        "Contact: <sip:{}@host5.example.net>\n",
        "amazinglylongcallername".repeat(5)
    ));
    m.push_str("Content-Type: application/sdp\nl: 150\n\n");
    m.push_str(&sdp("192.0.2.1"));
    crlf(&m)
}

/// §3.1.1.8 Extra Trailing Octets in a UDP Datagram (dblreq).
fn dblreq() -> Vec<u8> {
    let head = "REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0

INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

";
    let body = sdp("192.0.2.15").replace("m=video", "m =video");
    crlf(&format!("{head}{body}"))
}

/// §3.1.1.9 Semicolon-Separated Parameters in URI User Part (semiuri).
fn semiuri() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

",
    )
}

/// §3.1.1.10 Varied and Unknown Transport Types (transports).
fn transports() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

",
    )
}

/// §3.1.1.11 Multipart MIME Message (mpart01). The body's second part is a
/// binary CMS blob that the RFC prints in `<hex>` blocks; it is reproduced
/// octet for octet in [`MPART01_BLOB`] (its lone 0x0D and 0x0A octets are
/// data, not line ends), and the 553 octets of Content-Length hold.
fn mpart01() -> Vec<u8> {
    let mut m = crlf(
        "MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Transfer-Encoding: binary
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Date: Sat, 15 Oct 2005 04:44:56 GMT
User-Agent: SIPimp.org/0.2.5 (curses)
Content-Length: 553

--7a9cbec02ceef655
Content-Type: text/plain
Content-Transfer-Encoding: binary

Hello
--7a9cbec02ceef655
Content-Type: application/octet-stream
Content-Transfer-Encoding: binary

",
    );
    m.extend_from_slice(MPART01_BLOB);
    m.extend_from_slice(b"\r\n--7a9cbec02ceef655--\r\n");
    m
}

const MPART01_BLOB: &[u8] = b"\x30\x82\x01\x52\x06\x09\x2A\x86\x48\x86\xF7\x0D\x01\x07\x02\xA0\
\x82\x01\x43\x30\x82\x01\x3F\x02\x01\x01\x31\x09\x30\x07\x06\x05\x2B\x0E\x03\x02\x1A\x30\x0B\
\x06\x09\x2A\x86\x48\x86\xF7\x0D\x01\x07\x01\x31\x82\x01\x20\x30\x82\x01\x1C\x02\x01\x01\x30\
\x7C\x30\x70\x31\x0B\x30\x09\x06\x03\x55\x04\x06\x13\x02\x55\x53\x31\x13\x30\x11\x06\x03\x55\
\x04\x08\x13\x0A\x43\x61\x6C\x69\x66\x6F\x72\x6E\x69\x61\x31\x11\x30\x0F\x06\x03\x55\x04\x07\
\x13\x08\x53\x61\x6E\x20\x4A\x6F\x73\x65\x31\x0E\x30\x0C\x06\x03\x55\x04\x0A\x13\x05\x73\x69\
\x70\x69\x74\x31\x29\x30\x27\x06\x03\x55\x04\x0B\x13\x20\x53\x69\x70\x69\x74\x20\x54\x65\x73\
\x74\x20\x43\x65\x72\x74\x69\x66\x69\x63\x61\x74\x65\x20\x41\x75\x74\x68\x6F\x72\x69\x74\x79\
\x02\x08\x01\x95\x00\x71\x02\x33\x01\x13\x30\x07\x06\x05\x2B\x0E\x03\x02\x1A\x30\x0D\x06\x09\
\x2A\x86\x48\x86\xF7\x0D\x01\x01\x01\x05\x00\x04\x81\x80\x8E\xF4\x66\xF9\x48\xF0\x52\x2D\xD2\
\xE5\x97\x8E\x9D\x95\xAA\xE9\xF2\xFE\x15\xA0\x66\x59\x71\x62\x92\xE8\xDA\x2A\xA8\xD8\x35\x0A\
\x68\xCE\xFF\xAE\x3C\xBD\x2B\xFF\x16\x75\xDD\xD5\x64\x8E\x59\x3D\xD6\x47\x28\xF2\x62\x20\xF7\
\xE9\x41\x74\x9E\x33\x0D\x9A\x15\xED\xAB\xDB\x93\xD1\x0C\x42\x10\x2E\x7B\x72\x89\xD2\x9C\xC0\
\xC9\xAE\x2E\xFB\xC7\xC0\xCF\xF9\x17\x2F\x3B\x02\x7E\x4F\xC0\x27\xE1\x54\x6D\xE4\xB6\xAA\x3A\
\xBB\x3E\x66\xCC\xCB\x5D\xD6\xC6\x4B\x83\x83\x14\x9C\xB8\xE6\xFF\x18\x2D\x94\x4F\xE5\x7B\x65\
\xBC\x99\xD0\x05";

/// §3.1.1.12 Unusual Reason Phrase (unreason). The reason phrase ends in the
/// UTF-8 the RFC gives in hex ("но сто девяносто девять - простое").
fn unreason() -> Vec<u8> {
    let head = "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

";
    crlf(&format!("{head}{}", sdp("192.0.2.198")))
}

/// §3.1.1.13 Empty Reason Phrase (noreason): "SIP/2.0 100 " then CRLF.
fn noreason() -> Vec<u8> {
    crlf(
        "SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

",
    )
}

// ---- 3.1.2 Invalid messages -----------------------------------------------

/// §3.1.2.1 Extraneous Header Field Separators (badinv01).
fn badinv01() -> Vec<u8> {
    let head = r#"INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

"#;
    crlf(&format!("{head}{}", sdp("192.0.2.15")))
}

/// §3.1.2.2 Content Length Larger Than Message (clerr).
fn clerr() -> Vec<u8> {
    let head = "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

";
    crlf(&format!("{head}{}", sdp("192.0.2.155")))
}

/// §3.1.2.3 Negative Content-Length (ncl).
fn ncl() -> Vec<u8> {
    let head = "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

";
    crlf(&format!("{head}{}", sdp("192.0.2.53")))
}

/// §3.1.2.4 Request Scalar Fields with Overlarge Values (scalar02).
fn scalar02() -> Vec<u8> {
    crlf(&format!(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1{}
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

",
        "0".repeat(100)
    ))
}

/// §3.1.2.5 Response Scalar Fields with Overlarge Values (scalarlg).
fn scalarlg() -> Vec<u8> {
    crlf(
        r#"SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

"#,
    )
}

/// §3.1.2.6 Unterminated Quoted String in Display Name (quotbal).
fn quotbal() -> Vec<u8> {
    let head = r#"INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 152

"#;
    crlf(&format!("{head}{}", sdp("192.0.2.15")))
}

/// The 159-octet body of §3.1.2.7 and §3.1.2.8 (t=3149328700 0).
fn sdp_t(addr: &str) -> String {
    sdp(addr).replace("t=0 0", "t=3149328700 0")
}

/// §3.1.2.7 <> Enclosing Request-URI (ltgtruri).
fn ltgtruri() -> Vec<u8> {
    let head = "INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 159

";
    crlf(&format!("{head}{}", sdp_t("192.0.2.5")))
}

/// §3.1.2.8 Malformed SIP Request-URI (embedded LWS) (lwsruri).
fn lwsruri() -> Vec<u8> {
    let head = "INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 159

";
    crlf(&format!("{head}{}", sdp_t("192.0.2.1")))
}

/// §3.1.2.9 Multiple SP Separating Request-Line Elements (lwsstart).
fn lwsstart() -> Vec<u8> {
    let head = "INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 150

";
    crlf(&format!("{head}{}", sdp("192.0.2.1")))
}

/// §3.1.2.10 SP Characters at End of Request-Line (trws): two SP after
/// "SIP/2.0".
fn trws() -> Vec<u8> {
    crlf(
        "OPTIONS sip:remote-target@example.com SIP/2.0  \nVia: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

",
    )
}

/// §3.1.2.11 Escaped Headers in SIP Request-URI (escruri).
fn escruri() -> Vec<u8> {
    let head = "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
Content-Type: application/sdp
Content-Length: 150

";
    crlf(&format!("{head}{}", sdp("192.0.2.1")))
}

/// §3.1.2.12 Invalid Time Zone in Date Header Field (baddate).
fn baddate() -> Vec<u8> {
    let head = "INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 150

";
    crlf(&format!("{head}{}", sdp("192.0.2.5")))
}

/// §3.1.2.13 Failure to Enclose name-addr URI in <> (regbadct).
fn regbadct() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

",
    )
}

/// §3.1.2.14 Spaces within addr-spec (badaspec).
fn badaspec() -> Vec<u8> {
    crlf(
        r#"OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

"#,
    )
}

/// §3.1.2.15 Non-token Characters in Display Name (baddn).
fn baddn() -> Vec<u8> {
    crlf(
        "OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

",
    )
}

/// §3.1.2.16 Unknown Protocol Version (badvers).
fn badvers() -> Vec<u8> {
    crlf(
        "OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

",
    )
}

/// §3.1.2.17 Start Line and CSeq Method Mismatch (mismatch01).
fn mismatch01() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

",
    )
}

/// §3.1.2.18 Unknown Method with CSeq Method Mismatch (mismatch02).
fn mismatch02() -> Vec<u8> {
    crlf(
        "NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: 138

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
c=IN IP4 192.0.2.1
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
",
    )
}

/// §3.1.2.19 Overlarge Response Code (bigcode).
fn bigcode() -> Vec<u8> {
    crlf(
        "SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

",
    )
}

// ---- 3.2 Transaction layer semantics --------------------------------------

/// §3.2.1 Missing Transaction Identifier (badbranch): the branch is the
/// magic cookie alone.
fn badbranch() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

",
    )
}

// ---- 3.3 Application layer semantics --------------------------------------

/// §3.3.1 Missing Required Header Fields (insuf): no Call-ID, From or To.
fn insuf() -> Vec<u8> {
    let head = "INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 152

";
    crlf(&format!("{head}{}", sdp("192.0.2.95")))
}

/// §3.3.2 Request-URI with Unknown Scheme (unkscm).
fn unkscm() -> Vec<u8> {
    crlf(
        "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

",
    )
}

/// §3.3.3 Request-URI with Known but Atypical Scheme (novelsc).
fn novelsc() -> Vec<u8> {
    crlf(
        "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

",
    )
}

/// §3.3.4 Unknown URI Schemes in Header Fields (unksm2).
fn unksm2() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

",
    )
}

/// §3.3.5 Proxy-Require and Require (bext01).
fn bext01() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0

",
    )
}

/// §3.3.6 Unknown Content-Type (invut).
fn invut() -> Vec<u8> {
    crlf(
        r#"INVITE sip:user@example.com SIP/2.0
Contact: <sip:caller@host5.example.net>
To: sip:j.user@example.com
From: sip:caller@example.net;tag=8392034
Max-Forwards: 70
Call-ID: invut.0ha0isndaksdjadsfij34n23d
CSeq: 235448 INVITE
Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw
Content-Type: application/unknownformat
Content-Length: 40

<audio>
 <pcmu port="443"/>
</audio>
"#,
    )
}

/// §3.3.7 Unknown Authorization Scheme (regaut01).
fn regaut01() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

",
    )
}

/// §3.3.8 Multiple Values in Single Value Required Fields (multi01). Its body
/// ends in an empty line, which Content-Length (154) counts.
fn multi01() -> Vec<u8> {
    let head = "INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 154
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5

";
    crlf(&format!("{head}{}\n", sdp("192.0.2.25")))
}

/// §3.3.9 Multiple Content-Length Values (mcl01).
fn mcl01() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
",
    )
}

/// §3.3.10 200 OK Response with Broadcast Via Header Field Value (bcast).
fn bcast() -> Vec<u8> {
    let head = "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host28.example.com>

";
    crlf(&format!("{head}{}", sdp("192.0.2.198")))
}

/// §3.3.11 Max-Forwards of Zero (zeromf).
fn zeromf() -> Vec<u8> {
    crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

",
    )
}

/// §3.3.12 REGISTER with a Contact Header Parameter (cparam01).
fn cparam01() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

",
    )
}

/// §3.3.13 REGISTER with a url-parameter (cparam02).
fn cparam02() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0

",
    )
}

/// §3.3.14 REGISTER with a URL Escaped Header (regescrt).
fn regescrt() -> Vec<u8> {
    crlf(
        "REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

",
    )
}

/// §3.3.15 Unacceptable Accept Offering (sdp01).
fn sdp01() -> Vec<u8> {
    let head = "INVITE sip:user@example.com SIP/2.0
To: sip:j_user@example.com
Contact: <sip:caller@host15.example.net>
From: sip:caller@example.net;tag=234
Max-Forwards: 5
Call-ID: sdp01.ndaksdj9342dasdd
Accept: text/nobodyKnowsThis
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw
Content-Length: 150
Content-Type: application/sdp

";
    crlf(&format!("{head}{}", sdp("192.0.2.5")))
}

// ---- 3.4 Backward compatibility -------------------------------------------

/// §3.4.1 INVITE with RFC 2543 Syntax (inv2543): no branch, no From tag, no
/// Content-Length (the body runs to the end of the datagram).
fn inv2543() -> Vec<u8> {
    crlf(
        "INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
",
    )
}

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
