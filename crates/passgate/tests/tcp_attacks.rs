//! Attacks on the SIP TCP transport, mounted against the real binary: a
//! stream of line feeds, and connection exhaustion (many idle connections, a
//! slowloris) while calls over UDP and TCP still complete.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{offer_keys, sipp, Agent};

/// CPU time (user + system) the process has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of /proc/PID/stat (1-based), 12 and 13 here.
    let hz = 100.0; // USER_HZ on Linux
    (ticks(11) + ticks(12)) as f64 / hz
}

#[test]
fn a_line_feed_stream_is_cut_off_and_costs_little_cpu_while_a_call_completes() {
    let agent = Agent::start(&[]);
    let pid = agent.pid();
    // A first call brings in what every call uses (model pages, prompts), so
    // that memory measured next is the stream's.
    sipp(
        "basic_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    )
    .assert_ok("a call before the stream");
    let cpu_before = cpu_seconds(pid);
    let rss_before = support::rss_kib(pid);
    let started = Instant::now();
    let target = agent.sip;
    // For 3 s: line feeds as fast as the connection takes them, until
    // passgate closes it.
    let flood = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(target).expect("connect");
        stream
            .set_write_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let chunk = [b'\n'; 16 * 1024];
        let (mut sent, mut closed) = (0usize, false);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && !closed {
            match stream.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => closed = true,
            }
        }
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        (sent, closed)
    });
    let run = sipp(
        "basic_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    );
    run.assert_ok("a UDP call during the line-feed stream");
    let (sent, closed) = flood.join().unwrap();
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let rss_after = support::rss_kib(pid);
    eprintln!("line feeds: {sent} bytes sent, closed by passgate: {closed}; passgate used {cpu:.2} s CPU in {wall:.2} s; RSS {rss_before} KiB before, {rss_after} KiB after");
    // RSS is printed, not asserted: on a loaded machine the call beside the
    // stream moves it by more than the stream could. The framer's own tests
    // prove that line ends are never buffered.
    assert!(closed, "the connection was closed ({sent} bytes sent)");
    assert!(
        cpu < 0.5 * wall,
        "passgate used {cpu:.2} s CPU in {wall:.2} s"
    );
    let log = agent.wait_log(&["line ends"], Duration::from_secs(5));
    assert!(
        log.contains("security: closing TCP connection source=127.0.0.1 reason=framing"),
        "{log}"
    );
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn metric(text: &str, name: &str) -> u64 {
    support::metric_in(text, name) as u64
}

fn refused(text: &str, reason: &str) -> u64 {
    metric(
        text,
        &format!("passgate_sip_tcp_refused_total{{reason=\"{reason}\"}}"),
    )
}

/// `count` connections from `source` (a loopback address); those the
/// kernel could not even set up are left out.
fn connect_from(source: &str, target: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let source: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    (0..count)
        .filter_map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
            s.bind(&source.into()).ok()?;
            s.connect_timeout(&target.into(), Duration::from_secs(2))
                .ok()?;
            Some(s.into())
        })
        .collect()
}

/// Connections passgate still holds open (it closes refused ones at once).
fn still_open(streams: &[TcpStream]) -> usize {
    streams
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 1];
            matches!(s.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count()
}

/// Waits until passgate has taken or refused `attempts` connections (a
/// slowloris it has cut counts as taken).
fn settle(agent: &Agent, attempts: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = agent.metrics_text();
        let seen = metric(&text, "passgate_sip_tcp_connections")
            + refused(&text, "forbidden")
            + refused(&text, "per_source")
            + refused(&text, "total")
            + metric(
                &text,
                "passgate_sip_tcp_closed_total{reason=\"message_timeout\"}",
            );
        if seen >= attempts || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One byte of an OPTIONS every 200 ms, never finishing it; whether passgate
/// closed the connection within `within`.
fn slowloris(target: std::net::SocketAddr, within: Duration) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(target).expect("connect");
        let request = b"OPTIONS sip:passgate@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-slow\r\nX-Filler: ";
        let deadline = Instant::now() + within;
        let mut bytes = request.iter().chain(std::iter::repeat(&b'a'));
        while Instant::now() < deadline {
            let b = *bytes.next().unwrap();
            if s.write_all(&[b]).is_err() {
                return true;
            }
            s.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 1];
            let closed = match s.peek(&mut buf) {
                Ok(n) => n == 0,
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            };
            s.set_nonblocking(false).unwrap();
            if closed {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    })
}

fn udp_and_tcp_calls_complete(agent: &Agent, what: &str) {
    sipp(
        "basic_call",
        agent.sip,
        &offer_keys("0", "PCMU", "101", "20"),
    )
    .assert_ok(&format!("a UDP call {what}"));
    sipp(
        "basic_call",
        agent.sip,
        &[&["-t", "t1"], &offer_keys("0", "PCMU", "101", "20")[..]].concat(),
    )
    .assert_ok(&format!("a TCP call {what}"));
}

#[test]
fn tcp_connections_are_capped_per_source_and_in_all_and_a_slowloris_is_cut_while_calls_complete() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__TCP__MAX_CONNECTIONS", "100"),
        ("PASSGATE_SIP__TCP__MAX_CONNECTIONS_PER_SOURCE", "40"),
        ("PASSGATE_SIP__TCP__MESSAGE_TIMEOUT_SECS", "2"),
        // 127.0.0.1-7 may send SIP; 127.0.0.9 may not.
        ("PASSGATE_SIP__ALLOW_FROM", "[\"127.0.0.0/29\"]"),
    ]);
    let pid = agent.pid();
    let baseline = open_files(pid);
    let slow = slowloris(agent.sip, Duration::from_secs(8));
    // Two sources at their cap, a third that fills the total, a stranger.
    let two = connect_from("127.0.0.2", agent.sip, 300);
    let three = connect_from("127.0.0.3", agent.sip, 300);
    settle(&agent, 600 + 1);
    let four = connect_from("127.0.0.4", agent.sip, 300);
    let stranger = connect_from("127.0.0.9", agent.sip, 50);
    let attempts = (two.len() + three.len() + four.len() + stranger.len()) as u64 + 1;
    let text = settle(&agent, attempts);
    let files = open_files(pid);
    let held = [&two, &three, &four, &stranger].map(|s| still_open(s));
    eprintln!("connections held per source {held:?}; open files {baseline} before, {files} during");
    assert_eq!(held[0], 40, "per-source cap");
    assert_eq!(held[1], 40, "per-source cap");
    // The slowloris may hold one of the 100 until it is cut.
    assert!((19..=20).contains(&held[2]), "total cap: {}", held[2]);
    assert_eq!(held[3], 0, "a source outside allow_from is closed at once");
    assert!(files <= baseline + 100 + 10, "{files} open files");
    assert!(refused(&text, "per_source") >= 520, "{text}");
    assert!(refused(&text, "total") >= 280, "{text}");
    assert_eq!(refused(&text, "forbidden"), 50, "{text}");
    // Room again for a TCP call: the third source goes away.
    drop(four);
    assert!(slow.join().unwrap(), "the slowloris was cut off");
    udp_and_tcp_calls_complete(&agent, "while 80 connections are held");
    assert_eq!(still_open(&two) + still_open(&three), 80);
    let text = agent.metrics_text();
    assert_eq!(
        metric(
            &text,
            "passgate_sip_tcp_closed_total{reason=\"message_timeout\"}"
        ),
        1,
        "{text}"
    );
    let log = agent.log_text();
    for line in [
        "security: TCP connection refused source=127.0.0.2 reason=per_source",
        "security: TCP connection refused source=127.0.0.4 reason=total",
        "security: TCP connection refused source=127.0.0.9 reason=forbidden",
        "security: closing TCP connection source=127.0.0.1 reason=message_timeout",
    ] {
        assert!(log.contains(line), "no line {line:?} in the log");
    }
}

#[test]
fn ten_thousand_connections_with_the_default_caps_leave_calls_and_open_files_alone() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__TCP__MESSAGE_TIMEOUT_SECS", "2"),
        // The trunk (127.0.0.1) and 16 more addresses may send SIP.
        (
            "PASSGATE_SIP__ALLOW_FROM",
            "[\"127.0.0.1/32\", \"127.0.0.16/28\"]",
        ),
        ("PASSGATE_LOG__LEVEL", "info"),
    ]);
    let pid = agent.pid();
    let baseline = open_files(pid);
    let slow = slowloris(agent.sip, Duration::from_secs(8));
    let started = Instant::now();
    let cpu_before = cpu_seconds(pid);
    // 250 connections from each of 127.0.0.2 to 127.0.0.41.
    let mut streams = Vec::new();
    for host in 2..42 {
        streams.push(connect_from(&format!("127.0.0.{host}"), agent.sip, 250));
    }
    let attempts: usize = streams.iter().map(Vec::len).sum();
    let text = settle(&agent, attempts as u64 + 1);
    let took = started.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    let files = open_files(pid);
    let held: usize = streams.iter().map(|s| still_open(s)).sum();
    eprintln!(
        "{attempts} connections in {took:?} (passgate CPU {cpu:.2} s): {held} held; open files {baseline} before, {files} during"
    );
    assert_eq!(attempts, 10_000);
    // 16 allowed sources at the default 50 each.
    assert_eq!(held, 16 * 50);
    assert_eq!(refused(&text, "forbidden"), 24 * 250, "{text}");
    assert_eq!(refused(&text, "per_source"), 16 * 200, "{text}");
    assert!(files <= baseline + 1000 + 10, "{files} open files");
    udp_and_tcp_calls_complete(&agent, "while 800 connections are held");
    assert!(slow.join().unwrap(), "the slowloris was cut off");
    assert_eq!(streams.iter().map(|s| still_open(s)).sum::<usize>(), 800);
}

#[test]
fn an_idle_connection_is_closed_but_one_carrying_a_call_is_kept() {
    let agent = Agent::start(&[
        ("PASSGATE_SIP__TCP__IDLE_TIMEOUT_SECS", "1"),
        ("PASSGATE_CALL__MAX_DURATION_SECS", "4"),
    ]);
    let idle = TcpStream::connect(agent.sip).unwrap();
    // A call whose connection is silent for 4 s, then the agent's BYE goes over it.
    let run = sipp("agent_hangup", agent.sip, &["-t", "t1"]);
    run.assert_ok("a TCP call silent for longer than the idle timeout");
    idle.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut b = [0u8; 1];
    assert!(
        matches!(idle.peek(&mut b), Ok(0)),
        "the idle connection was closed"
    );
    let text = agent.metrics_text();
    assert!(
        metric(&text, "passgate_sip_tcp_closed_total{reason=\"idle\"}") >= 1,
        "{text}"
    );
}
