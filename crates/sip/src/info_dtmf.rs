//! DTMF carried in SIP INFO bodies, as trunks without RFC 4733 send it:
//! `application/dtmf-relay` ("Signal=5\r\nDuration=160") and
//! `application/dtmf` (just "5").

use std::time::Duration;

/// A digit from an INFO request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDigit {
    pub digit: char,
    pub duration: Option<Duration>,
}

pub fn parse(content_type: Option<&str>, body: &[u8]) -> Option<InfoDigit> {
    let kind = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    let text = std::str::from_utf8(body).ok()?;
    match kind.as_str() {
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration = None;
            for line in text.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                match key.trim().to_ascii_lowercase().as_str() {
                    "signal" => digit = to_digit(value.trim()),
                    "duration" => {
                        duration = value.trim().parse::<u64>().ok().map(Duration::from_millis)
                    }
                    _ => {}
                }
            }
            digit.map(|digit| InfoDigit { digit, duration })
        }
        "application/dtmf" => to_digit(text.trim()).map(|digit| InfoDigit {
            digit,
            duration: None,
        }),
        _ => None,
    }
}

/// A digit named as a character or as its RFC 4733 event number (10 = *, 11 = #).
fn to_digit(s: &str) -> Option<char> {
    match s {
        "10" => Some('*'),
        "11" => Some('#'),
        "12" => Some('A'),
        "13" => Some('B'),
        "14" => Some('C'),
        "15" => Some('D'),
        _ => {
            let mut chars = s.chars();
            let c = chars.next()?.to_ascii_uppercase();
            (chars.next().is_none() && (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')))
                .then_some(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_with_duration() {
        let d = parse(
            Some("application/dtmf-relay"),
            b"Signal=5\r\nDuration=160\r\n",
        )
        .unwrap();
        assert_eq!(
            d,
            InfoDigit {
                digit: '5',
                duration: Some(Duration::from_millis(160))
            }
        );
        let d = parse(
            Some("Application/DTMF-Relay; charset=x"),
            b"Signal= #\nDuration= 100\n",
        )
        .unwrap();
        assert_eq!(d.digit, '#');
        assert_eq!(
            parse(Some("application/dtmf-relay"), b"Signal=11\r\n")
                .unwrap()
                .digit,
            '#'
        );
    }

    #[test]
    fn plain_dtmf_and_rubbish() {
        assert_eq!(
            parse(Some("application/dtmf"), b"7\r\n").unwrap().digit,
            '7'
        );
        assert_eq!(parse(Some("application/dtmf"), b"*").unwrap().digit, '*');
        assert_eq!(parse(Some("application/dtmf"), b"77"), None);
        assert_eq!(parse(Some("application/dtmf-relay"), b"Signal=X\r\n"), None);
        assert_eq!(parse(Some("text/plain"), b"5"), None);
        assert_eq!(parse(None, b"5"), None);
        assert_eq!(parse(Some("application/dtmf"), &[0xff, 0xfe]), None);
    }
}
