//! `multipart/mixed` bodies (RFC 2046 §5.1, RFC 5621): carriers' SIP-I and
//! SIP-T gateways send the SDP offer next to an ISUP part
//! (`application/ISUP`, RFC 3204). The SDP part is what a call needs; other
//! parts are ignored unless their Content-Disposition says `handling=required`
//! (RFC 5621 §9.1: a required part the UAS cannot process is refused).

/// Nested multiparts deeper than this are not looked into.
const MAX_DEPTH: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// No `boundary` parameter, or no part delimited by it.
    Malformed,
    /// A part we cannot process is marked `handling=required`.
    RequiredPart(String),
}

/// Whether a Content-Type value (parameters allowed) names a multipart type.
pub fn is_multipart(content_type: &str) -> bool {
    media_type(content_type).starts_with("multipart/")
}

/// The first `application/sdp` part of a multipart body, `Ok(None)` when it
/// has none.
pub fn sdp_part<'a>(
    content_type: &str,
    body: &'a [u8],
) -> Result<Option<&'a [u8]>, MultipartError> {
    find_sdp(content_type, body, 0)
}

fn find_sdp<'a>(
    content_type: &str,
    body: &'a [u8],
    depth: usize,
) -> Result<Option<&'a [u8]>, MultipartError> {
    let boundary = parameter(content_type, "boundary").ok_or(MultipartError::Malformed)?;
    let parts = split(body, boundary.as_bytes()).ok_or(MultipartError::Malformed)?;
    let mut found = None;
    for part in parts {
        let (headers, content) = headers_and_content(part);
        // RFC 2046 §5.1: a part without Content-Type is text/plain.
        let part_type = header(headers, "content-type")
            .or_else(|| header(headers, "c"))
            .unwrap_or("text/plain");
        let kind = media_type(part_type);
        if found.is_none() && kind == "application/sdp" {
            found = Some(content);
            continue;
        }
        if kind.starts_with("multipart/") && depth < MAX_DEPTH && found.is_none() {
            if let Ok(Some(inner)) = find_sdp(part_type, content, depth + 1) {
                found = Some(inner);
                continue;
            }
        }
        let disposition = header(headers, "content-disposition").unwrap_or("");
        if parameter(disposition, "handling").is_some_and(|h| h.eq_ignore_ascii_case("required")) {
            return Err(MultipartError::RequiredPart(kind));
        }
    }
    Ok(found)
}

/// The type/subtype of a Content-Type value, lower case.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A parameter of a header value (`; name=value` or `; name="value"`).
fn parameter(value: &str, name: &str) -> Option<String> {
    let mut rest = value.split_once(';')?.1;
    loop {
        let trimmed = rest.trim_start();
        let (key, after) = trimmed.split_once('=')?;
        let after = after.trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            let next = quoted[end + 1..]
                .split_once(';')
                .map(|(_, n)| n)
                .unwrap_or("");
            (&quoted[..end], next)
        } else {
            match after.split_once(';') {
                Some((v, n)) => (v.trim(), n),
                None => (after.trim(), ""),
            }
        };
        if key.trim().eq_ignore_ascii_case(name) {
            return Some(val.to_string());
        }
        if next.is_empty() {
            return None;
        }
        rest = next;
    }
}

/// The parts between `--boundary` delimiter lines, up to the closing
/// `--boundary--` (RFC 2046 §5.1.1). Delimiters start a line; the CRLF before
/// a delimiter belongs to it, not to the part.
fn split<'a>(body: &'a [u8], boundary: &[u8]) -> Option<Vec<&'a [u8]>> {
    if boundary.is_empty() {
        return None;
    }
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(found) = find(&body[at..], &delimiter) {
        let pos = at + found;
        at = pos + delimiter.len();
        let at_line_start = pos == 0 || body[..pos].ends_with(b"\n");
        if at_line_start {
            starts.push(pos);
        }
    }
    let mut parts = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let after = start + delimiter.len();
        if body[after..].starts_with(b"--") {
            return Some(parts);
        }
        let Some(next) = starts.get(i + 1) else {
            break;
        };
        // The rest of the delimiter line (transport padding) and its line end.
        let line_end = find(&body[after..*next], b"\n").map(|n| after + n + 1)?;
        let mut end = *next;
        if body[..end].ends_with(b"\r\n") {
            end -= 2;
        } else if body[..end].ends_with(b"\n") {
            end -= 1;
        }
        parts.push(body.get(line_end..end.max(line_end))?);
    }
    // No closing delimiter: take what was delimited, if anything.
    (!parts.is_empty()).then_some(parts)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A part's header block (text) and its content (bytes, possibly binary).
fn headers_and_content(part: &[u8]) -> (&str, &[u8]) {
    // A part may have no headers at all: it then starts with its blank line.
    if part.starts_with(b"\r\n") {
        return ("", &part[2..]);
    }
    if part.starts_with(b"\n") {
        return ("", &part[1..]);
    }
    let (head, content) = match find(part, b"\r\n\r\n") {
        Some(n) => (&part[..n], &part[n + 4..]),
        None => match find(part, b"\n\n") {
            Some(n) => (&part[..n], &part[n + 2..]),
            None => (part, &part[part.len()..]),
        },
    };
    (std::str::from_utf8(head).unwrap_or(""), content)
}

/// A header's value in a part's header block (case-insensitive, unfolded
/// lines only).
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";

    fn sip_i(boundary: &str, isup_disposition: &str) -> Vec<u8> {
        let mut body = format!(
            "preamble\r\n--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--{boundary}\r\nContent-Type: application/ISUP;version=itu-t92+\r\n{isup_disposition}\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&[0x01, 0x00, 0x0d, 0x0a, 0x2d, 0x2d, 0xff, 0x00]);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\nepilogue").as_bytes());
        body
    }

    #[test]
    fn takes_the_sdp_part_next_to_a_binary_isup_part() {
        let body = sip_i(
            "unique-boundary-1",
            "Content-Disposition: signal;handling=optional\r\n",
        );
        let part = sdp_part("multipart/mixed;boundary=unique-boundary-1", &body).unwrap();
        assert_eq!(part, Some(SDP.as_bytes()));
    }

    #[test]
    fn a_quoted_boundary_with_spaces_is_understood() {
        let body = sip_i("b1 x:y", "");
        let part = sdp_part("Multipart/Mixed; charset=x; boundary=\"b1 x:y\"", &body).unwrap();
        assert_eq!(part, Some(SDP.as_bytes()));
    }

    #[test]
    fn no_sdp_part_is_none_and_no_boundary_is_malformed() {
        let body = b"--b\r\nContent-Type: application/ISUP\r\n\r\n\x01\x02\r\n--b--\r\n";
        assert_eq!(sdp_part("multipart/mixed; boundary=b", body), Ok(None));
        assert_eq!(
            sdp_part("multipart/mixed", body),
            Err(MultipartError::Malformed)
        );
        assert_eq!(
            sdp_part("multipart/mixed; boundary=other", body),
            Err(MultipartError::Malformed)
        );
    }

    #[test]
    fn a_required_part_we_cannot_process_is_refused() {
        let body = sip_i("b", "Content-Disposition: signal;handling=required\r\n");
        assert_eq!(
            sdp_part("multipart/mixed;boundary=b", &body),
            Err(MultipartError::RequiredPart("application/isup".into()))
        );
    }

    #[test]
    fn an_sdp_part_inside_a_nested_multipart_is_found() {
        let inner = format!("--in\r\nContent-Type: application/sdp\r\n\r\n{SDP}\r\n--in--");
        let body = format!(
            "--out\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n{inner}\r\n--out--\r\n"
        );
        let part = sdp_part("multipart/mixed;boundary=out", body.as_bytes()).unwrap();
        assert_eq!(part, Some(SDP.as_bytes()));
    }

    #[test]
    fn the_boundary_text_inside_a_line_is_not_a_delimiter() {
        let body =
            format!("--b\r\nContent-Type: application/sdp\r\n\r\n{SDP}a=x:--b\r\n\r\n--b--\r\n");
        let part = sdp_part("multipart/mixed;boundary=b", body.as_bytes()).unwrap();
        assert_eq!(part, Some(format!("{SDP}a=x:--b\r\n").as_bytes()));
    }
}
