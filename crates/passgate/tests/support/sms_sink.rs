//! A webhook SMS gateway standing in for the provider, for tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};

/// The Call-ID SIPp gives its call with `-cid_str passgate-seed-%u`, so the SMS
/// sink can address the code to it.
pub const SIPP_CALL_ID: &str = "passgate-seed-1";

/// A webhook SMS gateway standing in for the provider: checks the request and
/// its signature, keeps the message, and relays the code to SIPp's call as a
/// SIP MESSAGE ("code=NNNN"), the only way a scripted caller can learn it.
pub struct SmsSink {
    url: String,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
}

pub const SMS_SECRET: &str = "sink-secret";

impl SmsSink {
    pub fn start(sipp_port: u16) -> SmsSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                if let Some(message) = serve_one(stream) {
                    let body = message["body"].as_str().unwrap_or_default().to_string();
                    store.lock().unwrap().push(message);
                    if let Some(code) = first_code(&body) {
                        relay_code(sipp_port, &code);
                    }
                }
            }
        });
        SmsSink { url, received }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PASSGATE_SMS__GATEWAY", "webhook".into()),
            ("PASSGATE_SMS__WEBHOOK__URL", self.url.clone()),
            // figment reads env values as TOML: quoted, the number stays a string.
            ("PASSGATE_SMS__WEBHOOK__FROM", "\"+15550009999\"".into()),
            ("PASSGATE_SMS__WEBHOOK__SECRET", SMS_SECRET.into()),
        ]
    }

    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one HTTP request; answers 200 when it is a correctly signed POST /sms.
fn serve_one(mut stream: TcpStream) -> Option<serde_json::Value> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let length: usize = header("content-length")?.parse().ok()?;
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let signed = auth::sms::sign(SMS_SECRET.as_bytes(), &body).ok()?;
    let good =
        request_line.starts_with("POST /sms ") && header("x-passgate-signature") == Some(signed);
    let status = if good { "200 OK" } else { "403 Forbidden" };
    let reply = "{\"id\":\"sink-1\"}";
    let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len());
    good.then(|| serde_json::from_slice(&body).ok()).flatten()
}

pub fn first_code(text: &str) -> Option<String> {
    let bytes: Vec<char> = text.chars().collect();
    bytes
        .windows(4)
        .find(|w| w.iter().all(char::is_ascii_digit))
        .map(|w| w.iter().collect())
}

/// Sends the code to SIPp's call as the SMS would reach the caller.
pub fn relay_code(sipp_port: u16, code: &str) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let body = format!("code={code}");
    let message = format!(
        "MESSAGE sip:sipp@127.0.0.1:{sipp_port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-sink-{code}\r\n\
         From: <sip:sms@127.0.0.1>;tag=sink\r\nTo: <sip:sipp@127.0.0.1>\r\nCall-ID: {SIPP_CALL_ID}\r\n\
         CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket
        .send_to(message.as_bytes(), ("127.0.0.1", sipp_port))
        .unwrap();
}
