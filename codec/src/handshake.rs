//! The opening handshake ([RFC 6455 §4](https://www.rfc-editor.org/rfc/rfc6455#section-4)).
//!
//! Sans-IO like the rest: the server side parses a request head from bytes
//! ([`parse_request`]), checks it ([`Request::validate`]) and builds the 101 response
//! ([`response`]); the client side builds a request from a nonce the caller supplies
//! ([`ClientRequest`]) and checks the response ([`ClientRequest::parse_response`]).
//! Parsers report how many bytes the head used: whatever follows belongs to the frame
//! decoder and must be handed to it.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::error::HandshakeError;

/// The GUID of §1.3, appended to the key before hashing.
///
/// ```
/// assert_eq!(wisp_codec::handshake::GUID.len(), 36);
/// ```
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The default bound on a request or response head, in bytes.
///
/// ```
/// use wisp_codec::handshake::{parse_request, DEFAULT_MAX_HEAD};
/// let huge = vec![b'a'; DEFAULT_MAX_HEAD];
/// assert_eq!(parse_request(&huge, DEFAULT_MAX_HEAD).unwrap_err().status(), 431);
/// ```
pub const DEFAULT_MAX_HEAD: usize = 8 * 1024;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)), §1.3.
///
/// ```
/// use wisp_codec::handshake::accept_key;
/// // RFC 6455 §1.3
/// assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    let digest = sha.finalize();
    let mut out = [0u8; 28];
    let n = BASE64
        .encode_slice(digest, &mut out)
        .expect("20 bytes encode to exactly 28");
    debug_assert_eq!(n, 28);
    out
}

/// The reason phrase for the statuses the handshake uses.
///
/// ```
/// assert_eq!(wisp_codec::handshake::status_text(101), "Switching Protocols");
/// ```
pub fn status_text(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A parsed HTTP head: the start line's parts and the header fields in order.
///
/// ```
/// let (head, n) = wisp_codec::handshake::parse_request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 1024).unwrap().unwrap();
/// assert_eq!((head.first.as_str(), head.second.as_str(), head.third.as_str(), n), ("GET", "/x", "HTTP/1.1", 28));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request: method. Response: the HTTP version (`HTTP/1.1`).
    pub first: String,
    /// Request: target (path and query). Response: status code.
    pub second: String,
    /// Request: HTTP version. Response: reason phrase.
    pub third: String,
    /// Header fields (name, value) in order, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header, by case-insensitive name.
    ///
    /// ```
    /// let (req, _) = wisp_codec::handshake::parse_request(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n", 1024).unwrap().unwrap();
    /// assert_eq!(req.header("Host"), Some("a"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, by case-insensitive name.
    ///
    /// ```
    /// let (req, _) = wisp_codec::handshake::parse_request(b"GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n", 1024).unwrap().unwrap();
    /// assert_eq!(req.headers_named("a").collect::<Vec<_>>(), ["1", "2"]);
    /// ```
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The comma-separated tokens of every header with this name, trimmed, empty ones
    /// skipped (`Connection: keep-alive, Upgrade`).
    ///
    /// ```
    /// let (req, _) = wisp_codec::handshake::parse_request(b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n", 1024).unwrap().unwrap();
    /// assert!(req.tokens("connection").any(|t| t.eq_ignore_ascii_case("upgrade")));
    /// ```
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers_named(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }
}

/// A request head as the server received it.
///
/// ```
/// let req: wisp_codec::handshake::Request = wisp_codec::handshake::parse_request(b"GET / HTTP/1.1\r\n\r\n", 64).unwrap().unwrap().0;
/// assert_eq!(req.validate().unwrap_err().status(), 400); // no Host
/// ```
pub type Request = Head;

/// What a valid client request offers, ready for the server to decide on.
///
/// ```
/// use wisp_codec::handshake::{parse_request, ClientRequest};
/// let bytes = ClientRequest::new("h", "/chat", [7; 16]).protocol("chat").to_bytes();
/// let offer = parse_request(&bytes, 1024).unwrap().unwrap().0.validate().unwrap();
/// assert_eq!((offer.path.as_str(), offer.protocols.as_slice()), ("/chat", &["chat".to_string()][..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The request target (path and query).
    pub path: String,
    /// The Host header.
    pub host: String,
    /// The `Sec-WebSocket-Key` as sent.
    pub key: String,
    /// The Origin header, if any (browsers always send one; a file:// page sends `null`).
    pub origin: Option<String>,
    /// The subprotocols offered, in the client's order of preference.
    pub protocols: Vec<String>,
}

/// Finds the end of a head (`\r\n\r\n`), or errors once `max_head` bytes show none.
fn head_end(buf: &[u8], max_head: usize) -> Result<Option<usize>, HandshakeError> {
    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) if p + 4 > max_head => Err(HandshakeError::HeadTooLarge),
        Some(p) => Ok(Some(p + 4)),
        None if buf.len() >= max_head => Err(HandshakeError::HeadTooLarge),
        None => Ok(None),
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a head; `Ok(None)` while the blank line that ends it has not arrived.
fn parse_head(buf: &[u8], max_head: usize) -> Result<Option<(Head, usize)>, HandshakeError> {
    let Some(end) = head_end(buf, max_head)? else {
        return Ok(None);
    };
    let text = core::str::from_utf8(&buf[..end - 4]).map_err(|_| HandshakeError::MalformedHead)?;
    let mut lines = text.split("\r\n");
    let start = lines.next().ok_or(HandshakeError::MalformedHead)?;
    // RFC 9112 §3, §4: no control characters in the start line (a reason phrase may hold
    // HTAB): a bare LF or CR in a request target would otherwise reach the application.
    if start.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HandshakeError::MalformedHead);
    }
    let mut parts = start.splitn(3, ' ');
    let (Some(first), Some(second), Some(third)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HandshakeError::MalformedHead);
    };
    if first.is_empty() || second.is_empty() || first.contains('\t') || second.contains('\t') {
        return Err(HandshakeError::MalformedHead);
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HandshakeError::MalformedHead)?;
        // Obsolete line folding and whitespace before the colon are rejected (RFC 9112 §5).
        if !is_token(name) || value.contains(['\r', '\n']) {
            return Err(HandshakeError::MalformedHead);
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(Some((
        Head {
            first: first.to_string(),
            second: second.to_string(),
            third: third.to_string(),
            headers,
        },
        end,
    )))
}

/// Parses an HTTP request head from the front of `buf`.
///
/// `Ok(None)`: the head is not complete yet. `Ok(Some((request, n)))`: the head used
/// `n` bytes; bytes after them are WebSocket frames. A head over `max_head` bytes is
/// [`HandshakeError::HeadTooLarge`] (431) as soon as that is certain.
///
/// ```
/// use wisp_codec::handshake::parse_request;
/// let buf = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\r\n\x81\x00";
/// let (req, n) = parse_request(buf, 1024).unwrap().unwrap();
/// assert_eq!(req.second, "/chat");
/// assert_eq!(&buf[n..], b"\x81\x00"); // left for the frame decoder
/// assert_eq!(parse_request(b"GET / HTTP/1.1\r\n", 1024), Ok(None));
/// ```
pub fn parse_request(
    buf: &[u8],
    max_head: usize,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    parse_head(buf, max_head)
}

fn http_version_at_least_1_1(v: &str) -> Result<bool, HandshakeError> {
    let rest = v
        .strip_prefix("HTTP/")
        .ok_or(HandshakeError::MalformedHead)?;
    let (major, minor) = rest.split_once('.').unwrap_or((rest, "0"));
    let major: u32 = major.parse().map_err(|_| HandshakeError::MalformedHead)?;
    let minor: u32 = minor.parse().map_err(|_| HandshakeError::MalformedHead)?;
    Ok((major, minor) >= (1, 1))
}

impl Head {
    /// Checks a request against §4.2.1 and returns what it offers.
    ///
    /// Origin policy is the server's: check [`Offer::origin`] and answer
    /// [`HandshakeError::OriginRefused`] (403) yourself.
    ///
    /// ```
    /// use wisp_codec::handshake::parse_request;
    /// let buf = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///     Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
    ///     Sec-WebSocket-Version: 13\r\n\r\n"; // RFC 6455 §1.2
    /// let (req, _) = parse_request(buf, 1024).unwrap().unwrap();
    /// let offer = req.validate().unwrap();
    /// assert_eq!(offer.protocols, ["chat", "superchat"]);
    /// ```
    pub fn validate(&self) -> Result<Offer, HandshakeError> {
        // §4.2.1 1: "An HTTP/1.1 or higher GET request"
        if self.first != "GET" {
            return Err(HandshakeError::MethodNotGet);
        }
        if !http_version_at_least_1_1(&self.third)? {
            return Err(HandshakeError::HttpVersion);
        }
        // 2: "A |Host| header field"
        let host = match self.header("host") {
            Some(h) if !h.is_empty() => h,
            _ => return Err(HandshakeError::MissingHost),
        };
        // 3: "An |Upgrade| header field containing the value "websocket""
        if !self.has_token("upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        // 4: "A |Connection| header field that includes the token "Upgrade""
        if !self.has_token("connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        // 6: "A |Sec-WebSocket-Version| header field, with a value of 13." §4.4: otherwise
        // answer with the versions we support.
        match self.header("sec-websocket-version") {
            None => return Err(HandshakeError::MissingVersion),
            Some("13") => {}
            Some(_) => return Err(HandshakeError::UnsupportedVersion),
        }
        // 5: "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when
        // decoded, is 16 bytes in length."
        let mut keys = self.headers_named("sec-websocket-key");
        let key = keys.next().ok_or(HandshakeError::InvalidKey)?;
        if keys.next().is_some() {
            return Err(HandshakeError::InvalidKey);
        }
        let mut decoded = [0u8; 18];
        match BASE64.decode_slice(key, &mut decoded) {
            Ok(16) if key.len() == 24 => {}
            _ => return Err(HandshakeError::InvalidKey),
        }
        let protocols = self
            .tokens("sec-websocket-protocol")
            .map(String::from)
            .collect();
        Ok(Offer {
            path: self.second.clone(),
            host: host.to_string(),
            key: key.to_string(),
            origin: self.header("origin").map(String::from),
            protocols,
        })
    }
}

/// The server's 101 response for a validated offer (§4.2.2), with the chosen
/// subprotocol if any.
///
/// ```
/// let r = wisp_codec::handshake::response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"));
/// assert_eq!(r, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
/// ```
pub fn response(key: &str, protocol: Option<&str>) -> Vec<u8> {
    let accept = accept_key(key.as_bytes());
    let accept = core::str::from_utf8(&accept).unwrap_or_default();
    let protocol = protocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
    )
    .into_bytes()
}

/// A client's opening handshake request (§4.1). The 16-byte nonce is an input: the
/// codec never draws random numbers.
///
/// ```
/// use wisp_codec::handshake::ClientRequest;
/// let req = ClientRequest::new("server.example.com", "/chat", *b"the sample nonce");
/// assert_eq!(req.key(), "dGhlIHNhbXBsZSBub25jZQ=="); // RFC 6455 §1.3
/// let bytes = req.to_bytes();
/// assert!(bytes.starts_with(b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    host: String,
    path: String,
    key: String,
    protocols: Vec<String>,
    origin: Option<String>,
}

/// The server's accepted response, as the client saw it.
///
/// ```
/// use wisp_codec::handshake::{response, ClientRequest};
/// let req = ClientRequest::new("h", "/", [1; 16]).protocol("chat");
/// let (accepted, _) = req.parse_response(&response(req.key(), Some("chat")), 1024).unwrap().unwrap();
/// assert_eq!(accepted.protocol.as_deref(), Some("chat"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The whole response head.
    pub head: Head,
}

impl ClientRequest {
    /// A request for `path` on `host` (with `:port` when it is not the default), keyed by
    /// a 16-byte `nonce` that the caller draws from a good random source (§4.1:
    /// "randomly selected").
    ///
    /// ```
    /// let r = wisp_codec::handshake::ClientRequest::new("h", "/", [0; 16]);
    /// assert_eq!(r.key(), "AAAAAAAAAAAAAAAAAAAAAA==");
    /// ```
    pub fn new(host: &str, path: &str, nonce: [u8; 16]) -> Self {
        ClientRequest {
            host: host.to_string(),
            path: if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            },
            key: BASE64.encode(nonce),
            protocols: Vec::new(),
            origin: None,
        }
    }

    /// Offers a subprotocol (§4.1 `Sec-WebSocket-Protocol`); call once per protocol.
    ///
    /// ```
    /// let r = wisp_codec::handshake::ClientRequest::new("h", "/", [0; 16]).protocol("chat");
    /// assert!(String::from_utf8(r.to_bytes()).unwrap().contains("Sec-WebSocket-Protocol: chat\r\n"));
    /// ```
    pub fn protocol(mut self, name: &str) -> Self {
        self.protocols.push(name.to_string());
        self
    }

    /// Sends an `Origin` header.
    ///
    /// ```
    /// let r = wisp_codec::handshake::ClientRequest::new("h", "/", [0; 16]).origin("http://h");
    /// assert!(String::from_utf8(r.to_bytes()).unwrap().contains("Origin: http://h\r\n"));
    /// ```
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_string());
        self
    }

    /// The `Sec-WebSocket-Key`: base64 of the nonce.
    ///
    /// ```
    /// assert_eq!(wisp_codec::handshake::ClientRequest::new("h", "/", [0; 16]).key().len(), 24);
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The request head, ready to write.
    ///
    /// ```
    /// let b = wisp_codec::handshake::ClientRequest::new("h", "/x", [0; 16]).to_bytes();
    /// assert!(b.ends_with(b"Sec-WebSocket-Version: 13\r\n\r\n"));
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\n",
            self.path, self.host, self.key
        );
        if let Some(origin) = &self.origin {
            s.push_str(&format!("Origin: {origin}\r\n"));
        }
        if !self.protocols.is_empty() {
            s.push_str(&format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                self.protocols.join(", ")
            ));
        }
        s.push_str("Sec-WebSocket-Version: 13\r\n\r\n");
        s.into_bytes()
    }

    /// Parses and checks the server's response from the front of `buf` (§4.1): status
    /// 101, `Upgrade: websocket`, `Connection: upgrade`, the accept value for our key, and
    /// no subprotocol or extension we did not offer. `Ok(None)` while the head is partial;
    /// bytes after the `n` it used are frames.
    ///
    /// ```
    /// use wisp_codec::handshake::{response, ClientRequest};
    /// let req = ClientRequest::new("h", "/", *b"the sample nonce");
    /// let (ok, n) = req.parse_response(&response(req.key(), None), 1024).unwrap().unwrap();
    /// assert_eq!(ok.protocol, None);
    /// let wrong = response("AAAAAAAAAAAAAAAAAAAAAA==", None);
    /// assert!(req.parse_response(&wrong, 1024).is_err());
    /// ```
    pub fn parse_response(
        &self,
        buf: &[u8],
        max_head: usize,
    ) -> Result<Option<(Accepted, usize)>, HandshakeError> {
        let Some((head, n)) = parse_head(buf, max_head)? else {
            return Ok(None);
        };
        let status: u16 = head
            .second
            .parse()
            .map_err(|_| HandshakeError::MalformedHead)?;
        if !head.first.starts_with("HTTP/") {
            return Err(HandshakeError::MalformedHead);
        }
        if status != 101 {
            return Err(HandshakeError::NotSwitchingProtocols(status));
        }
        if !head.has_token("upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !head.has_token("connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        if head.header("sec-websocket-accept").map(str::as_bytes) != Some(&expected[..]) {
            return Err(HandshakeError::AcceptMismatch);
        }
        if head.tokens("sec-websocket-extensions").next().is_some() {
            return Err(HandshakeError::UnexpectedExtension);
        }
        let protocol = {
            let mut chosen = head.tokens("sec-websocket-protocol");
            let first = chosen.next().map(String::from);
            if chosen.next().is_some() {
                return Err(HandshakeError::UnexpectedSubprotocol);
            }
            first
        };
        if let Some(p) = &protocol {
            if !self.protocols.iter().any(|o| o == p) {
                return Err(HandshakeError::UnexpectedSubprotocol);
            }
        }
        Ok(Some((Accepted { protocol, head }, n)))
    }
}
