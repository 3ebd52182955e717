//! Attacks on SIP itself, mounted against the real binary: key presses sent
//! by SIP INFO from outside the dialog's peer, and fingerprinting.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::Agent;

fn info_digits(agent: &Agent) -> u64 {
    agent
        .metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix("passgate_dtmf_digits_total{source=\"sip_info\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The next SIP response on `socket` whose status line starts with `status`,
/// skipping others (100 Trying, retransmissions).
fn expect(socket: &UdpSocket, status: &str) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 65_536];
    loop {
        let (n, _) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no {status}: {e}"));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with(&format!("SIP/2.0 {status}")) {
            return text;
        }
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A minimal caller over UDP: one dialog, requests built by hand.
struct Caller {
    socket: UdpSocket,
    target: SocketAddr,
    call_id: String,
    to_tag: String,
}

impl Caller {
    fn request(
        &self,
        method: &str,
        cseq: u32,
        from: SocketAddr,
        extra: &str,
        body: &str,
    ) -> String {
        let to_tag = if self.to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        format!(
            "{method} sip:passgate@{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {from};branch=z9hG4bK-{method}-{cseq}-{call_id};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Unknown Caller\" <sip:+15557654321@127.0.0.1>;tag=attack-caller\r\n\
             To: <sip:passgate@{target}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:caller@{local}>\r\n\
             {extra}Content-Length: {len}\r\n\r\n{body}",
            target = self.target,
            call_id = self.call_id,
            local = self.socket.local_addr().unwrap(),
            len = body.len(),
        )
    }

    fn call(target: SocketAddr) -> Caller {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let media = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut caller = Caller {
            socket,
            target,
            call_id: format!("info-attack-{}", std::process::id()),
            to_tag: String::new(),
        };
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
            media.local_addr().unwrap().port()
        );
        let local = caller.socket.local_addr().unwrap();
        let invite = caller.request(
            "INVITE",
            1,
            local,
            "P-Asserted-Identity: <sip:+15557654321@127.0.0.1>\r\nContent-Type: application/sdp\r\n",
            &sdp,
        );
        caller.socket.send_to(invite.as_bytes(), target).unwrap();
        let ok = expect(&caller.socket, "200");
        let to = header(&ok, "To").expect("To");
        caller.to_tag = to.split(";tag=").nth(1).expect("a To tag").to_string();
        let ack = caller.request("ACK", 1, local, "", "");
        caller.socket.send_to(ack.as_bytes(), target).unwrap();
        std::mem::forget(media);
        caller
    }

    fn info(&self, cseq: u32, from: &UdpSocket, digit: char) -> String {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        let msg = self.request(
            "INFO",
            cseq,
            from.local_addr().unwrap(),
            "Content-Type: application/dtmf-relay\r\n",
            &body,
        );
        from.send_to(msg.as_bytes(), self.target).unwrap();
        msg
    }
}

#[test]
fn a_key_press_by_info_from_a_foreign_address_is_refused_and_never_reaches_the_flow() {
    let agent = Agent::start(&[("PASSGATE_FLOW__OFFER__TIMEOUT", "30s")]);
    let caller = Caller::call(agent.sip);
    // The attacker knows the dialog's ids (Call-ID, tags) but sends from elsewhere.
    let attacker = UdpSocket::bind("127.0.0.2:0").unwrap();
    caller.info(50, &attacker, '1');
    let refused = expect(&attacker, "403");
    assert!(refused.contains("CSeq: 50 INFO"), "{refused}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        info_digits(&agent),
        0,
        "the stranger's key reached the call"
    );
    // The caller's own key press, with the next CSeq of its own, is taken.
    caller.info(2, &caller.socket, '1');
    expect(&caller.socket, "200");
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_digits(&agent) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(info_digits(&agent), 1, "the caller's key reached the call");
    let log = agent.log_text();
    assert!(
        log.contains(
            "security: in-dialog INFO refused source=127.0.0.2 reason=info_foreign_source"
        ),
        "{log}"
    );
    let local = caller.socket.local_addr().unwrap();
    let bye = caller.request("BYE", 3, local, "", "");
    caller.socket.send_to(bye.as_bytes(), agent.sip).unwrap();
    expect(&caller.socket, "200");
}

fn options_from(source: &str, target: SocketAddr) -> String {
    let socket = UdpSocket::bind(format!("{source}:0")).unwrap();
    let local = socket.local_addr().unwrap();
    let msg = format!(
        "OPTIONS sip:passgate@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-scan-{port};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:scanner@{local}>;tag=scan\r\n\
         To: <sip:passgate@{target}>\r\n\
         Call-ID: scan-{port}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port()
    );
    socket.send_to(msg.as_bytes(), target).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 65_536];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer to OPTIONS");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn no_server_header_by_default_the_configured_one_when_set_and_none_to_a_refused_source() {
    let quiet = Agent::start(&[]);
    let answer = options_from("127.0.0.1", quiet.sip);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert_eq!(header(&answer, "Server"), None, "{answer}");
    assert!(!answer.contains("passgate/"), "{answer}");

    let named = Agent::start(&[
        ("PASSGATE_SIP__SERVER_HEADER", "ExampleSBC"),
        ("PASSGATE_SIP__ALLOW_FROM", "[\"127.0.0.1/32\"]"),
    ]);
    let answer = options_from("127.0.0.1", named.sip);
    assert_eq!(header(&answer, "Server"), Some("ExampleSBC"), "{answer}");
    let refused = options_from("127.0.0.2", named.sip);
    assert!(refused.starts_with("SIP/2.0 403"), "{refused}");
    assert_eq!(header(&refused, "Server"), None, "{refused}");
    let log = named.wait_log(&["security: request refused"], Duration::from_secs(5));
    assert!(
        log.contains(
            "security: request refused source=127.0.0.2 reason=not_allowed method=OPTIONS"
        ),
        "{log}"
    );
}

#[test]
fn digest_nonces_do_not_tell_how_long_the_process_has_run() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
        ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
    ]);
    let nonce = || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let caller = Caller {
            socket,
            target: agent.sip,
            call_id: format!("nonce-{}", rand_suffix()),
            to_tag: String::new(),
        };
        let local = caller.socket.local_addr().unwrap();
        let invite = caller.request("INVITE", 1, local, "", "");
        caller.socket.send_to(invite.as_bytes(), agent.sip).unwrap();
        let challenge = expect(&caller.socket, "401");
        let value = header(&challenge, "WWW-Authenticate").expect("a challenge");
        value
            .split("nonce=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .expect("a nonce")
            .to_string()
    };
    let first = nonce();
    std::thread::sleep(Duration::from_millis(1100));
    let second = nonce();
    for n in [&first, &second] {
        assert_eq!(n.len(), 64, "{n}");
        assert!(n.bytes().all(|b| b.is_ascii_hexdigit()), "{n}");
    }
    // No field counts up with the clock: the issued time is hidden under a
    // pad that changes with every nonce.
    for field in 0..4 {
        let (a, b) = (
            &first[field * 16..field * 16 + 16],
            &second[field * 16..field * 16 + 16],
        );
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        assert!(b.abs_diff(a) > 1 << 20, "{first} then {second}");
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The next final (or 1xx) answer for `call_id` whose status is one of `codes`.
fn answer_for(socket: &UdpSocket, call_id: &str, codes: &[&str]) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 65_536];
    loop {
        let (n, _) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no answer {codes:?} for {call_id}: {e}"));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if header(&text, "Call-ID") == Some(call_id)
            && codes
                .iter()
                .any(|c| text.starts_with(&format!("SIP/2.0 {c}")))
        {
            return text;
        }
    }
}

/// Sends `request` and returns the answer for `call_id` to its CSeq whose
/// status is one of `codes`, sending the request again as a UDP client does
/// (RFC 3261 Timer A: after 500 ms, doubling) while none has come, for up to
/// 10 s. A datagram lost on a loaded machine is then a retransmission, not
/// a failed test.
fn exchange(socket: &UdpSocket, target: SocketAddr, request: &str, codes: &[&str]) -> String {
    let call_id = header(request, "Call-ID").expect("a Call-ID").to_string();
    let cseq = header(request, "CSeq").expect("a CSeq").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut interval = Duration::from_millis(500);
    let mut buf = [0u8; 65_536];
    loop {
        socket.send_to(request.as_bytes(), target).unwrap();
        let resend_at = Instant::now() + interval;
        while Instant::now() < resend_at {
            assert!(
                Instant::now() < deadline,
                "no answer {codes:?} for {call_id} ({cseq}) in 10 s"
            );
            socket
                .set_read_timeout(Some(
                    resend_at
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1)),
                ))
                .unwrap();
            let Ok((n, _)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if header(&text, "Call-ID") == Some(call_id.as_str())
                && header(&text, "CSeq") == Some(cseq.as_str())
                && codes
                    .iter()
                    .any(|c| text.starts_with(&format!("SIP/2.0 {c}")))
            {
                return text;
            }
        }
        interval = (interval * 2).min(Duration::from_secs(4));
    }
}

/// One guess of `password` for user "trunk": an INVITE, and when challenged,
/// the INVITE again with the answer. The status line of the last answer.
fn guess(target: SocketAddr, source: &str, n: u32, password: &str) -> String {
    let socket = UdpSocket::bind(format!("{source}:0")).unwrap();
    let local = socket.local_addr().unwrap();
    let caller = Caller {
        socket,
        target,
        call_id: format!("guess-{n}-{}", local.port()),
        to_tag: String::new(),
    };
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";
    let ct = "Content-Type: application/sdp\r\n";
    let first = caller.request("INVITE", 1, local, ct, sdp);
    let answer = exchange(&caller.socket, target, &first, &["401", "403"]);
    if answer.starts_with("SIP/2.0 403") {
        return "SIP/2.0 403 (no challenge)".into();
    }
    let challenge = header(&answer, "WWW-Authenticate").expect("a challenge");
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("a nonce");
    let uri = format!("sip:passgate@{target}");
    let ha1 = md5_hex(&format!("trunk:passgate:{password}"));
    let ha2 = md5_hex(&format!("INVITE:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:00000001:c{n}:auth:{ha2}"));
    let authorization = format!(
        "Authorization: Digest username=\"trunk\", realm=\"passgate\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c{n}\"\r\n"
    );
    let second = caller.request("INVITE", 2, local, &format!("{authorization}{ct}"), sdp);
    let last = exchange(&caller.socket, target, &second, &["200", "401", "403"]);
    last.lines().next().unwrap_or("").to_string()
}

#[test]
fn a_digest_brute_force_is_stopped_at_the_limit_with_one_security_line_per_failure() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
        ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
        ("PASSGATE_SIP__DIGEST_MAX_FAILURES_PER_SOURCE", "5"),
    ]);
    let started = Instant::now();
    let mut answers = Vec::new();
    for n in 1..=30 {
        answers.push(guess(agent.sip, "127.0.0.2", n, &format!("guess{n}")));
    }
    // The right password, from the guesser: refused all the same.
    let right = guess(agent.sip, "127.0.0.2", 31, "s3cret");
    eprintln!("31 guesses in {:?}: {answers:?}", started.elapsed());
    assert!(
        answers[..5].iter().all(|a| a.starts_with("SIP/2.0 401")),
        "{answers:?}"
    );
    assert!(
        answers[5..]
            .iter()
            .all(|a| a == "SIP/2.0 403 (no challenge)"),
        "{answers:?}"
    );
    assert_eq!(right, "SIP/2.0 403 (no challenge)");
    // The trunk itself, from its own address, still gets in.
    let trunk = guess(agent.sip, "127.0.0.1", 32, "s3cret");
    assert!(trunk.starts_with("SIP/2.0 200"), "{trunk}");
    let log = agent.log_text();
    let failed = "security: digest authentication failed source=127.0.0.2 user=\"trunk\" realm=\"passgate\" reason=wrong_password";
    assert_eq!(log.matches(failed).count(), 5, "{log}");
    let refused = "security: digest authentication refused source=127.0.0.2 user=\"\" realm=\"passgate\" reason=locked_source";
    assert_eq!(log.matches(refused).count(), 26, "{log}");
    assert!(!log.contains("guess1"), "a guessed password in the log");
    let text = agent.metrics_text();
    assert!(
        text.contains("passgate_sip_auth_failures_total{reason=\"wrong_password\"} 5\n"),
        "{text}"
    );
    assert!(
        text.contains("passgate_sip_auth_locked_total 26\n"),
        "{text}"
    );
}

#[test]
fn a_trunk_answering_its_challenge_is_not_refused_by_its_own_call_rate() {
    // One new call a second from a source: the challenged INVITE and its
    // answered retry are one call, so the retry is let in, not 503.
    let agent = Agent::start(&[
        ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
        ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
        ("PASSGATE_SIP__CALLS_PER_SECOND_PER_SOURCE", "1"),
    ]);
    let answered = guess(agent.sip, "127.0.0.1", 1, "s3cret");
    assert!(answered.starts_with("SIP/2.0 200"), "{answered}");
    assert_eq!(
        agent.metric("passgate_sip_refused_total{reason=\"rate\"}"),
        0.0
    );
}

/// An INVITE to `challenger`, then the INVITE again with the right answer
/// for "trunk" sent to `answerer` (the same node or another), `wait` after
/// the challenge. The final answer's text.
fn challenged_by_then_answered_to(
    challenger: SocketAddr,
    answerer: SocketAddr,
    wait: Duration,
    n: u32,
) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let call_id = format!("node-change-{n}-{}", local.port());
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";
    let ct = "Content-Type: application/sdp\r\n";
    let first = Caller {
        socket,
        target: challenger,
        call_id: call_id.clone(),
        to_tag: String::new(),
    };
    let invite = first.request("INVITE", 1, local, ct, sdp);
    first.socket.send_to(invite.as_bytes(), challenger).unwrap();
    let answer = answer_for(&first.socket, &call_id, &["401"]);
    let challenge = header(&answer, "WWW-Authenticate").expect("a challenge");
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("a nonce")
        .to_string();
    std::thread::sleep(wait);
    let second = Caller {
        socket: first.socket,
        target: answerer,
        call_id,
        to_tag: String::new(),
    };
    let uri = format!("sip:passgate@{answerer}");
    let ha1 = md5_hex("trunk:passgate:s3cret");
    let ha2 = md5_hex(&format!("INVITE:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:00000001:c{n}:auth:{ha2}"));
    let authorization = format!(
        "Authorization: Digest username=\"trunk\", realm=\"passgate\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c{n}\"\r\n"
    );
    let invite = second.request("INVITE", 2, local, &format!("{authorization}{ct}"), sdp);
    second.socket.send_to(invite.as_bytes(), answerer).unwrap();
    // The first 401 is retransmitted until acknowledged: skip it.
    loop {
        let answer = answer_for(&second.socket, &second.call_id, &["200", "401", "403"]);
        if header(&answer, "CSeq") == Some("2 INVITE") {
            return answer;
        }
    }
}

#[test]
fn a_challenge_from_one_node_is_answered_to_another_sharing_the_nonce_secret() {
    const SECRET: &str = "shared-nonce-secret-7c1d0e4b9a2f83561d0e";
    const OTHER: &str = "another-nonce-secret-0a9b8c7d6e5f40312233";
    let node = |secret: &str| {
        Agent::start(&[
            ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
            ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
            ("PASSGATE_SIP__DIGEST_NONCE_SECRET", secret),
            ("PASSGATE_SIP__DIGEST_NONCE_LIFETIME_SECS", "2"),
        ])
    };
    let (a, b, c) = (node(SECRET), node(SECRET), node(OTHER));
    let status = |text: &str| text.lines().next().unwrap_or("").to_string();

    let moved = challenged_by_then_answered_to(a.sip, b.sip, Duration::ZERO, 1);
    assert!(status(&moved).starts_with("SIP/2.0 200"), "{moved}");

    // Another key: refused, and challenged again as stale (the password was right).
    let foreign = challenged_by_then_answered_to(a.sip, c.sip, Duration::ZERO, 2);
    assert!(status(&foreign).starts_with("SIP/2.0 401"), "{foreign}");
    let again = header(&foreign, "WWW-Authenticate").unwrap_or("");
    assert!(again.contains("stale=true"), "{foreign}");

    // Older than its lifetime (2 s): a fresh challenge, stale=true.
    let expired = challenged_by_then_answered_to(a.sip, b.sip, Duration::from_millis(3500), 3);
    assert!(status(&expired).starts_with("SIP/2.0 401"), "{expired}");
    assert!(
        header(&expired, "WWW-Authenticate")
            .unwrap_or("")
            .contains("stale=true"),
        "{expired}"
    );
    let stale = b.metrics_text();
    assert!(
        stale.contains("passgate_sip_auth_failures_total{reason=\"stale_nonce\"} 1\n"),
        "{stale}"
    );

    for node in [&a, &b, &c] {
        let log = node.log_text();
        assert!(!log.contains(SECRET) && !log.contains(OTHER), "{log}");
    }
}

#[test]
fn nodes_sharing_postgresql_without_a_nonce_secret_are_warned_naming_the_key() {
    // Nothing listens there: the node starts, not ready, and says what it lacks.
    let database = format!(
        "postgres://passgate@127.0.0.1:{}/passgate",
        support::free_port()
    );
    let agent = Agent::start(&[
        ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
        ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
        ("PASSGATE_DATABASE__URL", database.as_str()),
    ]);
    let log = agent.wait_log(
        &["sip.digest_nonce_secret is not set"],
        Duration::from_secs(5),
    );
    assert!(log.contains("sip.digest_nonce_secret is not set"), "{log}");
    let shared = Agent::start(&[
        ("PASSGATE_SIP__DIGEST_REALM", "passgate"),
        ("PASSGATE_SIP__DIGEST_USERS", "{trunk = \"s3cret\"}"),
        (
            "PASSGATE_SIP__DIGEST_NONCE_SECRET",
            "shared-nonce-secret-7c1d0e4b9a2f83561d0e",
        ),
        ("PASSGATE_DATABASE__URL", database.as_str()),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let log = shared.log_text();
    assert!(!log.contains("digest_nonce_secret"), "{log}");
}
