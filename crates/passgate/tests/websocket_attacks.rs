//! The real binary's SIP WebSocket listener (`sip.ws.listen`) against a
//! real WebSocket client (tungstenite): a frame that is not SIP and an
//! oversized one close the connection; off loopback a handshake without the
//! token (or with a wrong one) is refused 401, with it the connection works;
//! and WebSocket connections count under the `[sip.tcp]` caps together with
//! TCP ones. Every refusal is counted in `/metrics` and logged as a
//! `security:` line.
//!
//! A source off loopback needs an address of this machine that is not
//! loopback (`hostname -I`): the listener takes every address, and the
//! client connects from and to that one.

mod support;

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::http::get;
use support::{free_port, metric_in, Agent};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Error as WsError, Message, WebSocket};

const TOKEN: &str = "ws-binary-t0ken";

type Ws = WebSocket<TcpStream>;

/// An IPv4 address of this machine off loopback, from `hostname -I`.
fn off_loopback_address() -> Option<IpAddr> {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback() && !ip.is_unspecified())
}

/// Opens a WebSocket from `from` to `to`, offering `protocols`, with
/// `query` after the path; the handshake's error when refused.
fn connect(from: IpAddr, to: SocketAddr, protocols: &str, query: &str) -> Result<Ws, WsError> {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .expect("bind the client's source");
    socket
        .connect_timeout(&to.into(), Duration::from_secs(5))
        .expect("TCP connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut request = format!("ws://{to}/{query}")
        .into_client_request()
        .expect("request");
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(protocols).expect("header"),
        );
    }
    tungstenite::client(request, stream)
        .map(|(ws, _)| ws)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => WsError::ConnectionClosed,
        })
}

fn refused_with(result: Result<Ws, WsError>, status: u16) -> bool {
    matches!(&result, Err(WsError::Http(r)) if r.status() == status)
}

fn options(call_id: &str) -> String {
    format!(
        "OPTIONS sip:passgate@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:browser@passgate.invalid>;tag=b1\r\n\
         To: <sip:passgate@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends OPTIONS and returns the answer's text.
fn ask_options(ws: &mut Ws, call_id: &str) -> String {
    ws.send(Message::text(options(call_id))).expect("send");
    loop {
        match ws.read().expect("an answer") {
            Message::Text(t) => return t.to_string(),
            Message::Binary(b) => return String::from_utf8_lossy(&b).into_owned(),
            _ => continue,
        }
    }
}

/// Whether the server ends the connection within 5 s.
fn closed(ws: &mut Ws) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Close(_)) => return true,
            Ok(_) => continue,
            Err(WsError::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
    false
}

/// Whether the server ends a plain TCP connection at once, unread.
fn tcp_closed_at_once(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

struct Node {
    agent: Agent,
}

impl Node {
    fn metrics(&self) -> String {
        let reply = get(self.agent.http, "/metrics", Some(TOKEN));
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// Waits until the sample `name` reaches `value`; its last value.
    fn wait_metric(&self, name: &str, value: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = metric_in(&self.metrics(), name);
            if now == value || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn expect_metric(&self, name: &str, value: f64) {
        assert_eq!(
            self.wait_metric(name, value),
            value,
            "{name}\n{}",
            self.metrics()
        );
    }

    fn expect_log(&self, line: &str) {
        let log = self.agent.wait_log(&[line], Duration::from_secs(10));
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
}

const FRAME_CLOSED: &str = "passgate_sip_tcp_closed_total{reason=\"ws_frame\"}";
const HANDSHAKE_REFUSED: &str = "passgate_sip_tcp_closed_total{reason=\"ws_handshake\"}";
const PER_SOURCE: &str = "passgate_sip_tcp_refused_total{reason=\"per_source\"}";
const OPEN: &str = "passgate_sip_tcp_connections";

#[test]
fn the_websocket_listener_refuses_bad_frames_strangers_without_the_token_and_connections_over_the_caps(
) {
    let me = off_loopback_address();
    let port = free_port();
    // Every address, so that a client can come from loopback and from `me`.
    let node = Node {
        agent: Agent::start(&[
            ("PASSGATE_SIP__WS__LISTEN", &format!("0.0.0.0:{port}")),
            ("PASSGATE_HTTP__TOKEN", TOKEN),
            ("PASSGATE_SIP__TCP__MAX_CONNECTIONS_PER_SOURCE", "2"),
        ]),
    };
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let local = SocketAddr::new(loopback, port);
    // The refused ones come from other loopback sources, so that none is
    // still counted against 127.0.0.1's cap when the caps are tried.
    let (json_source, big_source, chat_source) = (
        IpAddr::from([127, 0, 0, 2]),
        IpAddr::from([127, 0, 0, 3]),
        IpAddr::from([127, 0, 0, 4]),
    );

    // A SIP message in a frame is answered on its connection.
    let mut first = connect(loopback, local, "sip", "").expect("loopback needs no token");
    let answer = ask_options(&mut first, "ws-ok-1");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(
        answer.contains("Via: SIP/2.0/WS df7jal23ls0d.invalid"),
        "{answer}"
    );

    // A frame that is not SIP closes its connection, and nothing else.
    let mut json = connect(json_source, local, "sip", "").unwrap();
    json.send(Message::text("{\"not\":\"sip\"}\n")).unwrap();
    assert!(closed(&mut json), "a JSON frame was taken");
    node.expect_metric(FRAME_CLOSED, 1.0);
    node.expect_log("security: closing WebSocket connection source=127.0.0.2 reason=not_sip");

    // So does a frame over the 64 KiB limit.
    let mut big = connect(big_source, local, "sip", "").unwrap();
    let mut oversized = options("ws-big");
    oversized.push_str(&"x".repeat(70 * 1024));
    // The server may close before the whole frame is out.
    let _ = big.send(Message::text(oversized));
    assert!(closed(&mut big), "an oversized frame was taken");
    node.expect_metric(FRAME_CLOSED, 2.0);
    node.expect_log("security: closing WebSocket connection source=127.0.0.3 reason=oversized");
    assert!(
        ask_options(&mut first, "ws-ok-2").starts_with("SIP/2.0 200"),
        "the good connection suffered"
    );

    // Without the sip subprotocol, even from loopback: 400.
    assert!(refused_with(connect(chat_source, local, "chat", ""), 400));
    node.expect_metric(HANDSHAKE_REFUSED, 1.0);
    node.expect_log(
        "security: WebSocket handshake refused source=127.0.0.4 reason=no_sip_subprotocol",
    );

    // Off loopback: no token, or a wrong one, is refused 401; the token works.
    match me {
        Some(me) => {
            let outside = SocketAddr::new(me, port);
            assert!(
                refused_with(connect(me, outside, "sip", ""), 401),
                "a stranger without the token was let in"
            );
            assert!(
                refused_with(connect(me, outside, "sip", "?token=wrong"), 401),
                "a wrong token was taken"
            );
            node.expect_metric(HANDSHAKE_REFUSED, 3.0);
            node.expect_log(&format!(
                "security: WebSocket handshake refused source={me} reason=unauthenticated"
            ));
            let log = node.agent.log_text();
            assert!(!log.contains("token=wrong"), "a given token was logged");
            let mut with_token = connect(me, outside, "sip", &format!("?token={TOKEN}"))
                .expect("the token lets a stranger in");
            assert!(ask_options(&mut with_token, "ws-token").starts_with("SIP/2.0 200"));
            let protocols = format!("sip, passgate-token.{TOKEN}");
            let mut by_protocol =
                connect(me, outside, &protocols, "").expect("the token as a subprotocol");
            assert!(ask_options(&mut by_protocol, "ws-token-2").starts_with("SIP/2.0 200"));
        }
        None => eprintln!(
            "SKIPPED the off-loopback refusals: this machine has no address off \
             loopback (`hostname -I` names none)"
        ),
    }
    assert!(
        !node.agent.log_text().contains(TOKEN),
        "the token was logged"
    );

    // The caps: two connections a source, WebSocket and TCP counted together.
    // Only `first` is open now (the others closed or were refused).
    node.expect_metric(OPEN, 1.0);
    assert_eq!(metric_in(&node.metrics(), PER_SOURCE), 0.0);
    let mut second = connect(loopback, local, "sip", "").expect("the second of two");
    assert!(ask_options(&mut second, "ws-second").starts_with("SIP/2.0 200"));
    let third = connect(loopback, local, "sip", "");
    assert!(third.is_err(), "a third WebSocket from one source");
    node.expect_metric(PER_SOURCE, 1.0);
    node.expect_log("security: WebSocket connection refused source=127.0.0.1 reason=per_source");
    let mut tcp = TcpStream::connect(node.agent.sip).expect("TCP connect");
    assert!(
        tcp_closed_at_once(&mut tcp),
        "a TCP connection past the cap the WebSockets fill"
    );
    node.expect_metric(PER_SOURCE, 2.0);
    node.expect_log("security: TCP connection refused source=127.0.0.1 reason=per_source");
    // Closing one makes room again.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    let again = loop {
        std::thread::sleep(Duration::from_millis(100));
        match connect(loopback, local, "sip", "") {
            Ok(ws) => break Some(ws),
            Err(_) if Instant::now() < deadline => continue,
            Err(_) => break None,
        }
    };
    let mut again = again.expect("room again once a connection closed");
    assert!(ask_options(&mut again, "ws-again").starts_with("SIP/2.0 200"));
}
