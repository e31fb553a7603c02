//! Plain HTTP: requests that are not WebSocket upgrades, and the server's own error
//! responses. One request per TCP connection (`Connection: close`).
//!
//! The server answers plain requests through handlers of the application's
//! ([`Server::serve_http`](crate::Server::serve_http)); the first one that answers
//! wins, and a request none answers gets 404. A response's body may be a file, read a
//! chunk at a time as the socket drains, so that no worker waits on a large file.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;

use wisp_codec::handshake::{http_response, Request};

/// A plain HTTP request (not a WebSocket upgrade), for
/// [`Server::serve_http`](crate::Server::serve_http)'s handlers.
pub struct HttpRequest<'a> {
    pub(crate) request: &'a Request,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) proxy_peer: Option<SocketAddr>,
}

impl fmt::Debug for HttpRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.request.method)
            .field("target", &self.request.target)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<'a> HttpRequest<'a> {
    /// The method (`GET`).
    pub fn method(&self) -> &'a str {
        &self.request.method
    }

    /// The whole request target: path and query, as sent.
    pub fn target(&self) -> &'a str {
        &self.request.target
    }

    /// The path of the target (`/a` of `/a?b`).
    pub fn path(&self) -> &'a str {
        self.request.target.split('?').next().unwrap_or("")
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.request.header(name)
    }

    /// The client's address (`None` if the OS no longer knows it); behind a trusted
    /// proxy, the one it named.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The trusted proxy's own address when [`peer`](Self::peer) came from it.
    pub fn proxy_peer(&self) -> Option<SocketAddr> {
        self.proxy_peer
    }
}

/// The answer to a plain HTTP request: a head (with any bytes of body), then possibly
/// a file's bytes.
///
/// ```
/// use wisp_server::HttpResponse;
/// let r = HttpResponse::text(404, "not found\n");
/// assert_eq!(r.status(), 404);
/// let j = HttpResponse::json("{}", false);
/// assert_eq!(j.status(), 200);
/// ```
pub struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) head: Vec<u8>,
    pub(crate) body: Option<(File, u64)>,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("head_len", &self.head.len())
            .field("file_len", &self.body.as_ref().map(|b| b.1))
            .finish()
    }
}

impl HttpResponse {
    /// A response of `status` whose `head` is written as it is (status line, headers,
    /// blank line, and any body bytes), followed by `len` bytes of `file`, if given.
    /// The head must say `Connection: close` and the body's length.
    pub fn new(status: u16, head: Vec<u8>, file: Option<(File, u64)>) -> HttpResponse {
        HttpResponse {
            status,
            head,
            body: file,
        }
    }

    /// A complete response with a plain-text body and `Connection: close`.
    pub fn text(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, simple_response(status, body, ""), None)
    }

    /// A `200` with a JSON body (only the head, for a `HEAD`), never cached.
    pub fn json(body: &str, head_only: bool) -> HttpResponse {
        HttpResponse::fresh("application/json", body, head_only)
    }

    /// [`json`](HttpResponse::json) with `extra_headers` (each line ending in CRLF).
    pub(crate) fn json_with(body: &str, head_only: bool, extra_headers: &str) -> HttpResponse {
        HttpResponse::fresh_with("application/json", body, head_only, extra_headers)
    }

    /// A `200` with a body of `content_type` (only the head, for a `HEAD`), never cached.
    ///
    /// ```
    /// let r = wisp_server::HttpResponse::fresh("text/plain; version=0.0.4", "up 1\n", false);
    /// assert_eq!(r.status(), 200);
    /// ```
    pub fn fresh(content_type: &str, body: &str, head_only: bool) -> HttpResponse {
        HttpResponse::fresh_with(content_type, body, head_only, "")
    }

    /// [`fresh`](HttpResponse::fresh) with `extra_headers` (each line ending in CRLF).
    fn fresh_with(
        content_type: &str,
        body: &str,
        head_only: bool,
        extra_headers: &str,
    ) -> HttpResponse {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if !head_only {
            r.extend_from_slice(body.as_bytes());
        }
        HttpResponse::new(200, r, None)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// A handler of plain HTTP requests: `Some` answers the request, `None` passes it to
/// the next handler. A handler that panics costs that request a 500.
pub type HttpHandler = Arc<dyn Fn(&HttpRequest<'_>) -> Option<HttpResponse> + Send + Sync>;

/// A complete response with a plain-text body and `Connection: close`.
pub(crate) fn simple_response(status: u16, body: &str, extra_headers: &str) -> Vec<u8> {
    http_response(status, extra_headers, body)
}

/// The 503 sent when the server is at `--max-connections`.
pub(crate) fn service_unavailable() -> Vec<u8> {
    simple_response(
        503,
        "too many connections, try again later\n",
        "Retry-After: 1\r\n",
    )
}

/// Appends up to `max` more bytes of `file` (of which `left` remain) to `out`.
/// A file that ends early (truncated while served) ends the body there.
pub(crate) fn read_chunk(
    file: &mut File,
    left: &mut u64,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<()> {
    let want = (*left).min(max as u64) as usize;
    let start = out.len();
    out.resize(start + want, 0);
    let mut got = 0;
    while got < want {
        match file.read(&mut out[start + got..])? {
            0 => {
                *left = 0;
                break;
            }
            n => got += n,
        }
    }
    out.truncate(start + got);
    *left = left.saturating_sub(got as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_response_is_complete() {
        let r = simple_response(404, "not found\n", "");
        assert!(r.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(r.ends_with(b"\r\n\r\nnot found\n"));
    }
}
