//! The driver's WebSocket listener (RFC 7118) with a real WebSocket client
//! (tokio-tungstenite): OPTIONS and a call answered over the connection
//! they came on, `Via: SIP/2.0/WS`; and the refusals: no `sip`
//! subprotocol, no token off loopback, a frame that is not SIP, an
//! oversized frame, and TCP's per-source cap.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sip::driver::{start_with_listeners, SipServer, WsListen};
use sip::{EndpointConfig, TcpLimits};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const TOKEN: &str = "ws-test-token";

async fn start(listen_ip: &str, limits: TcpLimits) -> SipServer {
    start_with_listeners(
        "127.0.0.1:0".parse().unwrap(),
        EndpointConfig::new("127.0.0.1:0".parse().unwrap()),
        limits,
        None,
        Some(WsListen {
            listen: format!("{listen_ip}:0").parse().unwrap(),
            token: Some(TOKEN.into()),
        }),
    )
    .await
    .unwrap()
}

type Ws = WebSocketStream<TcpStream>;

/// Connects from `from` (an address of this machine) to `to` with the given
/// subprotocols and query; the handshake's error when refused.
async fn connect(
    from: IpAddr,
    to: SocketAddr,
    protocols: &str,
    query: &str,
) -> Result<Ws, WsError> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let stream = socket.connect(to).await.unwrap();
    let mut request = format!("ws://{to}/{query}").into_client_request().unwrap();
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(protocols).unwrap(),
        );
    }
    tokio_tungstenite::client_async(request, stream)
        .await
        .map(|(ws, _)| ws)
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

async fn next_text(ws: &mut Ws) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the connection stays open")
            .expect("a frame");
        match message {
            Message::Text(t) => return t.to_string(),
            Message::Binary(b) => return String::from_utf8_lossy(&b).into_owned(),
            _ => continue,
        }
    }
}

/// Whether the server closes the connection within 5 s (a close frame, an
/// error or the end of the stream).
async fn closed(ws: &mut Ws) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn stats_until(server: &SipServer, done: impl Fn(&sip::driver::DriverStats) -> bool) {
    for _ in 0..250 {
        let s = server.handle.stats().await.unwrap();
        if done(&s) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("stats never got there: {:?}", server.handle.stats().await);
}

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[tokio::test]
async fn options_over_websocket_is_answered_on_the_same_connection() {
    let server = start("127.0.0.1", TcpLimits::default()).await;
    let ws_addr = server.ws_addr.expect("a WebSocket listener");
    let mut ws = connect(LOOPBACK, ws_addr, "sip", "").await.unwrap();
    ws.send(Message::text(options("ws-options-1")))
        .await
        .unwrap();
    let response = next_text(&mut ws).await;
    assert!(response.starts_with("SIP/2.0 200"), "{response}");
    assert!(
        response.contains("Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-ws-options-1"),
        "{response}"
    );
    // A keep-alive frame is no message and closes nothing.
    ws.send(Message::text("\r\n\r\n")).await.unwrap();
    ws.send(Message::binary(options("ws-options-2").into_bytes()))
        .await
        .unwrap();
    let response = next_text(&mut ws).await;
    assert!(response.contains("Call-ID: ws-options-2"), "{response}");
}

#[tokio::test]
async fn a_call_over_websocket_gets_its_answer_and_our_bye_on_that_connection() {
    let mut server = start("127.0.0.1", TcpLimits::default()).await;
    let ws_addr = server.ws_addr.unwrap();
    let mut ws = connect(LOOPBACK, ws_addr, "sip", "").await.unwrap();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = format!(
        "INVITE sip:passgate@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-ws-inv\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+15550100001@passgate.invalid>;tag=b2\r\n\
         To: <sip:passgate@127.0.0.1>\r\n\
         Call-ID: ws-call-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:abc@df7jal23ls0d.invalid;transport=ws>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    ws.send(Message::text(invite)).await.unwrap();
    let call = tokio::time::timeout(Duration::from_secs(5), server.calls.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(call.incoming.transport, sip::TransportKind::Ws(_)));
    server.handle.answer(call.incoming.call, 41000).await;
    let ok = loop {
        let m = next_text(&mut ws).await;
        if m.starts_with("SIP/2.0 200") {
            break m;
        }
    };
    assert!(ok.contains(";transport=ws>"), "our Contact names WS: {ok}");
    let to_tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .unwrap()
        .trim()
        .to_string();
    let ack = format!(
        "ACK sip:passgate@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-ws-ack\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+15550100001@passgate.invalid>;tag=b2\r\n\
         To: <sip:passgate@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: ws-call-1\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    ws.send(Message::text(ack)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.handle.hangup(call.incoming.call).await;
    let bye = next_text(&mut ws).await;
    assert!(
        bye.starts_with("BYE sip:abc@df7jal23ls0d.invalid;transport=ws SIP/2.0"),
        "{bye}"
    );
    assert!(bye.contains("Via: SIP/2.0/WS "), "{bye}");
}

#[tokio::test]
async fn frames_that_are_not_one_sip_message_within_the_limit_close_the_connection() {
    let server = start("127.0.0.1", TcpLimits::default()).await;
    let ws_addr = server.ws_addr.unwrap();
    let mut ws = connect(LOOPBACK, ws_addr, "sip", "").await.unwrap();
    ws.send(Message::text("{\"not\":\"sip\"}\n")).await.unwrap();
    assert!(closed(&mut ws).await, "a JSON frame was taken");
    stats_until(&server, |s| s.tcp.ws_closed_frames == 1).await;

    let mut ws = connect(LOOPBACK, ws_addr, "sip", "").await.unwrap();
    let mut big = options("ws-big");
    big.push_str(&"x".repeat(sip::ws::MAX_MESSAGE));
    // The client may see the connection go before its frame is all out.
    let _ = ws.send(Message::text(big)).await;
    assert!(closed(&mut ws).await, "an oversized frame was taken");
    stats_until(&server, |s| s.tcp.ws_closed_frames == 2).await;
    // Nothing of either reached the endpoint.
    let stats = server.handle.stats().await.unwrap();
    assert_eq!(stats.endpoint.messages_in, 0, "{stats:?}");
}

#[tokio::test]
async fn a_handshake_without_the_sip_subprotocol_is_refused() {
    let server = start("127.0.0.1", TcpLimits::default()).await;
    let ws_addr = server.ws_addr.unwrap();
    let refused = connect(LOOPBACK, ws_addr, "chat", "").await;
    assert!(
        matches!(&refused, Err(WsError::Http(r)) if r.status() == 400),
        "{refused:?}"
    );
    stats_until(&server, |s| s.tcp.ws_refused == 1).await;
}

/// An address of this machine that is not loopback, if it has one.
fn off_loopback_address() -> Option<IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn off_loopback_a_connection_needs_the_token() {
    let Some(me) = off_loopback_address() else {
        panic!("this test needs an address other than loopback (a network interface)");
    };
    let server = start("0.0.0.0", TcpLimits::default()).await;
    let ws_addr = SocketAddr::new(me, server.ws_addr.unwrap().port());
    let refused = connect(me, ws_addr, "sip", "").await;
    assert!(
        matches!(&refused, Err(WsError::Http(r)) if r.status() == 401),
        "{refused:?}"
    );
    let refused = connect(me, ws_addr, "sip", "?token=wrong").await;
    assert!(
        matches!(&refused, Err(WsError::Http(r)) if r.status() == 401),
        "{refused:?}"
    );
    stats_until(&server, |s| s.tcp.ws_refused == 2).await;
    // The token as a query parameter, or as a subprotocol.
    let mut ws = connect(me, ws_addr, "sip", &format!("?token={TOKEN}"))
        .await
        .unwrap();
    ws.send(Message::text(options("ws-token-1"))).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("SIP/2.0 200"));
    let protocols = format!("sip, passgate-token.{TOKEN}");
    let mut ws = connect(me, ws_addr, &protocols, "").await.unwrap();
    ws.send(Message::text(options("ws-token-2"))).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("SIP/2.0 200"));
}

#[tokio::test]
async fn the_tcp_caps_apply_to_websocket_connections() {
    let limits = TcpLimits {
        max_per_source: 1,
        ..TcpLimits::default()
    };
    let server = start("127.0.0.1", limits).await;
    let ws_addr = server.ws_addr.unwrap();
    let _first = connect(LOOPBACK, ws_addr, "sip", "").await.unwrap();
    let second = connect(LOOPBACK, ws_addr, "sip", "").await;
    assert!(second.is_err(), "a second connection from one source");
    stats_until(&server, |s| s.tcp.refused_per_source == 1).await;
}

#[tokio::test]
async fn a_frame_trickled_past_the_message_timeout_closes_the_connection() {
    use tokio::io::AsyncWriteExt;
    let limits = TcpLimits {
        message_timeout: Duration::from_secs(1),
        ..TcpLimits::default()
    };
    let server = start("127.0.0.1", limits).await;
    let ws_addr = server.ws_addr.unwrap();
    let mut ws = connect(LOOPBACK, ws_addr, "sip", "").await.unwrap();
    // A masked text frame announcing 300 bytes, of which 10 ever come.
    let mut partial = vec![0x81, 0xFE, 0x01, 0x2C, 1, 2, 3, 4];
    partial.extend_from_slice(b"OPTIONS si");
    ws.get_mut().write_all(&partial).await.unwrap();
    let began = std::time::Instant::now();
    assert!(closed(&mut ws).await, "a frame cut short was waited for");
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "{:?}",
        began.elapsed()
    );
    stats_until(&server, |s| s.tcp.closed_message_timeout == 1).await;
}
