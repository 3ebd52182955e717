//! RFC 4475 §3.1.1 (valid) and §3.1.2 (invalid) messages, transcribed.

use super::{crlf, sdp};

// ---- 3.1.1 Valid messages -------------------------------------------------

/// §3.1.1.1 A Short Tortuous INVITE (wsinv).
pub fn wsinv() -> Vec<u8> {
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
pub fn intmeth() -> Vec<u8> {
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
pub fn esc01() -> Vec<u8> {
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
pub fn escnull() -> Vec<u8> {
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
pub fn esc02() -> Vec<u8> {
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
pub fn lwsdisp() -> Vec<u8> {
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
pub fn longreq() -> Vec<u8> {
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
pub fn dblreq() -> Vec<u8> {
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
pub fn semiuri() -> Vec<u8> {
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
pub fn transports() -> Vec<u8> {
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
pub fn mpart01() -> Vec<u8> {
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
pub fn unreason() -> Vec<u8> {
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
pub fn noreason() -> Vec<u8> {
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
pub fn badinv01() -> Vec<u8> {
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
pub fn clerr() -> Vec<u8> {
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
pub fn ncl() -> Vec<u8> {
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
pub fn scalar02() -> Vec<u8> {
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
pub fn scalarlg() -> Vec<u8> {
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
pub fn quotbal() -> Vec<u8> {
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
pub fn sdp_t(addr: &str) -> String {
    sdp(addr).replace("t=0 0", "t=3149328700 0")
}

/// §3.1.2.7 <> Enclosing Request-URI (ltgtruri).
pub fn ltgtruri() -> Vec<u8> {
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
pub fn lwsruri() -> Vec<u8> {
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
pub fn lwsstart() -> Vec<u8> {
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
pub fn trws() -> Vec<u8> {
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
pub fn escruri() -> Vec<u8> {
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
pub fn baddate() -> Vec<u8> {
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
pub fn regbadct() -> Vec<u8> {
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
pub fn badaspec() -> Vec<u8> {
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
pub fn baddn() -> Vec<u8> {
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
pub fn badvers() -> Vec<u8> {
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
pub fn mismatch01() -> Vec<u8> {
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
pub fn mismatch02() -> Vec<u8> {
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
pub fn bigcode() -> Vec<u8> {
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
