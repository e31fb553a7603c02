//! The HTTP/1.1 that the opening handshake needs
//! ([RFC 9112](https://www.rfc-editor.org/rfc/rfc9112)): a head parser, header lookups,
//! and the text of a response. Knows nothing of WebSocket rules or errors.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Why a head could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Not a well-formed HTTP/1.1 head.
    Malformed,
    /// No end of the head within the bound.
    TooLarge,
}

/// A parsed head: the three parts of the start line, the header fields in order.
pub(crate) struct Head {
    pub(crate) start: [String; 3],
    pub(crate) headers: Vec<(String, String)>,
}

/// Finds the end of a head (`\r\n\r\n`), or errors once `max_head` bytes show none.
fn head_end(buf: &[u8], max_head: usize) -> Result<Option<usize>, HeadError> {
    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) if p + 4 > max_head => Err(HeadError::TooLarge),
        Some(p) => Ok(Some(p + 4)),
        None if buf.len() >= max_head => Err(HeadError::TooLarge),
        None => Ok(None),
    }
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a head from the front of `buf`; `Ok(None)` while the blank line that ends it
/// has not arrived. Also returns the bytes the head used.
pub(crate) fn parse_head(buf: &[u8], max_head: usize) -> Result<Option<(Head, usize)>, HeadError> {
    let Some(end) = head_end(buf, max_head)? else {
        return Ok(None);
    };
    let text = core::str::from_utf8(&buf[..end - 4]).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split("\r\n");
    let start = lines.next().ok_or(HeadError::Malformed)?;
    // RFC 9112 §3, §4: no control characters in the start line (a reason phrase may hold
    // HTAB): a bare LF or CR in a request target would otherwise reach the application.
    if start.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeadError::Malformed);
    }
    let mut parts = start.splitn(3, ' ');
    let (Some(first), Some(second), Some(third)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    if first.is_empty() || second.is_empty() || first.contains('\t') || second.contains('\t') {
        return Err(HeadError::Malformed);
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HeadError::Malformed)?;
        // Obsolete line folding and whitespace before the colon are rejected (RFC 9112 §5).
        if !is_token(name) || value.contains(['\r', '\n']) {
            return Err(HeadError::Malformed);
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    let start = [first.to_string(), second.to_string(), third.to_string()];
    Ok(Some((Head { start, headers }, end)))
}

/// Every value of a header, by case-insensitive name.
pub(crate) fn values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The comma-separated tokens of every header with this name, trimmed, empty ones
/// skipped (`Connection: keep-alive, Upgrade`).
pub(crate) fn tokens<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    values(headers, name)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// True when a header with this name holds `token` (case-insensitive).
pub(crate) fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// The reason phrase for the statuses a WebSocket server answers with.
pub(crate) fn status_text(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A complete response with a plain-text body and `Connection: close`.
pub(crate) fn response(status: u16, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        status_text(status),
        body.len()
    )
    .into_bytes()
}
