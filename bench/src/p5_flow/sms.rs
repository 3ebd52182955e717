//! The SMS gateway the agent sends one-time codes to (its `webhook`
//! gateway): keeps the latest code per phone number for the caller who owns
//! the phone to read, as a person reads their messages.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct SmsInbox {
    codes: Arc<Mutex<HashMap<String, String>>>,
}

impl SmsInbox {
    pub fn has(&self, phone: &str) -> bool {
        self.codes
            .lock()
            .map(|c| c.contains_key(phone))
            .unwrap_or(false)
    }

    pub fn take(&self, phone: &str) -> Option<String> {
        self.codes.lock().ok()?.remove(phone)
    }
}

/// Listens on loopback; returns the URL to configure and the inbox.
pub fn start() -> anyhow::Result<(String, SmsInbox)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/sms", listener.local_addr()?);
    let inbox = SmsInbox::default();
    let codes = inbox.codes.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let codes = codes.clone();
            std::thread::spawn(move || {
                if let Some((to, code)) = serve(stream) {
                    if let Ok(mut c) = codes.lock() {
                        c.insert(to, code);
                    }
                }
            });
        }
    });
    Ok((url, inbox))
}

/// One POST: answers 200 and returns the number and the code in the text.
fn serve(mut stream: TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length.min(64 * 1024)];
    reader.read_exact(&mut body).ok()?;
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    let body = String::from_utf8(body).ok()?;
    Some((
        json_field(&body, "to")?,
        first_code(&json_field(&body, "body")?)?,
    ))
}

/// The string value of `"name"` in a flat JSON object without escapes in it.
fn json_field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let after = &json[json.find(&key)? + key.len()..];
    let after = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(after[..after.find('"')?].to_string())
}

/// The first run of four or more digits: the code in the message.
fn first_code(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() >= 4)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_and_number_are_read_from_the_webhook_body() {
        let body = r#"{"to": "+15552000001","from":"+15550009999","body":"Your verification code is 0427. It expires in one minute."}"#;
        assert_eq!(json_field(body, "to").as_deref(), Some("+15552000001"));
        assert_eq!(
            first_code(&json_field(body, "body").unwrap()).as_deref(),
            Some("0427")
        );
    }
}
