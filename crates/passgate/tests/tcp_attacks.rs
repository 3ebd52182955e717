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
    let cpu_before = cpu_seconds(pid);
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
    eprintln!("line feeds: {sent} bytes sent, closed by passgate: {closed}; passgate used {cpu:.2} s CPU in {wall:.2} s");
    assert!(closed, "the connection was closed ({sent} bytes sent)");
    assert!(
        cpu < 0.5 * wall,
        "passgate used {cpu:.2} s CPU in {wall:.2} s"
    );
    let log = agent.wait_log(&["line ends"], Duration::from_secs(5));
    assert!(
        log.contains("closing TCP connection") && log.contains("peer=127.0.0.1"),
        "{log}"
    );
}
