//! The opening handshake ([RFC 6455 §4](https://www.rfc-editor.org/rfc/rfc6455#section-4)).
//!
//! Sans-IO like the rest: the server side parses a request head from bytes
//! ([`parse_request`]), checks it ([`Request::validate`]) and builds the 101 response
//! ([`Response`]) or the refusal ([`RequestError::response`]); the client side builds a
//! request from a nonce the caller supplies ([`ClientRequest`]) and checks the response
//! ([`ClientRequest::parse_response`]). Parsers report how many bytes the head used:
//! whatever follows belongs to the frame decoder and must be handed to it.
//!
//! The two sides fail differently, so they have their own errors: a server refuses a
//! request with an HTTP status ([`RequestError::status`], one exhaustive map), a client
//! gives up on a response ([`ResponseError`]).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use core::fmt;

use crate::extension::{
    parse_extensions, DeflateOffer, DeflateParams, ParamError, PERMESSAGE_DEFLATE,
};
use crate::http::{self, HeadError};

/// The GUID of §1.3, appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

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

/// A complete HTTP response with a plain-text body and `Connection: close`, for the
/// answers a WebSocket server gives besides the handshake's (404, 503...).
///
/// ```
/// let r = wisp_codec::handshake::http_response(404, "", "not found\n");
/// assert!(r.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
/// assert!(r.ends_with(b"\r\n\r\nnot found\n"));
/// ```
pub fn http_response(status: u16, extra_headers: &str, body: &str) -> Vec<u8> {
    http::response(status, extra_headers, body)
}

/// A request head as the server received it.
///
/// ```
/// let (req, n) = wisp_codec::handshake::parse_request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 1024).unwrap().unwrap();
/// assert_eq!((req.method.as_str(), req.target.as_str(), req.version.as_str(), n), ("GET", "/x", "HTTP/1.1", 28));
/// assert_eq!(req.header("host"), Some("h"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`).
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// The HTTP version (`HTTP/1.1`).
    pub version: String,
    /// Header fields (name, value) in order, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl Request {
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

    /// True when a header with this name holds `token` among its comma-separated values
    /// (case-insensitive), as `Connection: keep-alive, Upgrade` holds `upgrade`.
    ///
    /// ```
    /// let (req, _) = wisp_codec::handshake::parse_request(b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n", 1024).unwrap().unwrap();
    /// assert!(req.has_token("connection", "upgrade"));
    /// ```
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        http::has_token(&self.headers, name, token)
    }

    /// Checks a request against §4.2.1 and returns what it offers.
    ///
    /// Origin policy is the server's: check [`Offer::origin`] and answer
    /// [`RequestError::OriginRefused`] (403) yourself.
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
    pub fn validate(&self) -> Result<Offer, RequestError> {
        // §4.2.1 1: "An HTTP/1.1 or higher GET request"
        if self.method != "GET" {
            return Err(RequestError::MethodNotGet);
        }
        if !http_version_at_least_1_1(&self.version)? {
            return Err(RequestError::HttpVersion);
        }
        // 2: "A |Host| header field"
        let host = match self.header("host") {
            Some(h) if !h.is_empty() => h,
            _ => return Err(RequestError::MissingHost),
        };
        // 3: "An |Upgrade| header field containing the value "websocket""
        if !self.has_token("upgrade", "websocket") {
            return Err(RequestError::MissingUpgrade);
        }
        // 4: "A |Connection| header field that includes the token "Upgrade""
        if !self.has_token("connection", "upgrade") {
            return Err(RequestError::MissingConnectionUpgrade);
        }
        // 6: "A |Sec-WebSocket-Version| header field, with a value of 13." §4.4: otherwise
        // answer with the versions we support.
        match self.header("sec-websocket-version") {
            None => return Err(RequestError::MissingVersion),
            Some("13") => {}
            Some(_) => return Err(RequestError::UnsupportedVersion),
        }
        // 5: "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when
        // decoded, is 16 bytes in length."
        let mut keys = http::values(&self.headers, "sec-websocket-key");
        let key = keys.next().ok_or(RequestError::InvalidKey)?;
        if keys.next().is_some() {
            return Err(RequestError::InvalidKey);
        }
        let mut decoded = [0u8; 18];
        match BASE64.decode_slice(key, &mut decoded) {
            Ok(16) if key.len() == 24 => {}
            _ => return Err(RequestError::InvalidKey),
        }
        Ok(self.offer(host, key.to_string()))
    }
}

impl Request {
    /// Checks an HTTP/2 extended CONNECT that opens a WebSocket
    /// ([RFC 8441 §4-5](https://www.rfc-editor.org/rfc/rfc8441#section-5)) and returns
    /// what it offers. HTTP/2 carries `:protocol` as a pseudo-header, so it comes apart
    /// (`protocol`, `None` when the request had none); the `:authority` goes in as the
    /// `host` header and the `:path` as the [`target`](Request::target).
    ///
    /// What §4-5 ask of it: the method is CONNECT, `:protocol` is there and is
    /// `websocket`, and `Sec-WebSocket-Version` is 13 as in RFC 6455. There is no
    /// `Sec-WebSocket-Key` (the `:protocol` pseudo-header replaces what it guarded), so
    /// the offer's [`key`](Offer::key) is empty. Subprotocols and extensions are offered
    /// as over HTTP/1.1.
    ///
    /// ```
    /// use wisp_codec::handshake::{Request, RequestError};
    /// let req = Request {
    ///     method: "CONNECT".into(), target: "/chat".into(), version: "HTTP/2".into(),
    ///     headers: vec![("host".into(), "server.example.com".into()),
    ///         ("sec-websocket-version".into(), "13".into()),
    ///         ("sec-websocket-protocol".into(), "chat, superchat".into())],
    /// }; // RFC 8441 §5.1
    /// let offer = req.validate_extended_connect(Some("websocket")).unwrap();
    /// assert_eq!((offer.target.as_str(), offer.key.as_str()), ("/chat", ""));
    /// assert_eq!(offer.protocols, ["chat", "superchat"]);
    /// assert_eq!(req.validate_extended_connect(None), Err(RequestError::NotExtendedConnect));
    /// assert_eq!(req.validate_extended_connect(Some("webtransport")).unwrap_err().status(), 501);
    /// ```
    pub fn validate_extended_connect(&self, protocol: Option<&str>) -> Result<Offer, RequestError> {
        // §4: an extended CONNECT is a CONNECT that bears `:protocol`.
        let protocol = match protocol {
            Some(p) if self.method == "CONNECT" => p,
            _ => return Err(RequestError::NotExtendedConnect),
        };
        // §5: the tunnel's protocol is `websocket` (an upgrade token: compared as
        // RFC 9110 §7.8 compares them, case-insensitively).
        if !protocol.eq_ignore_ascii_case("websocket") {
            return Err(RequestError::UnknownProtocol);
        }
        let host = match self.header("host") {
            Some(h) if !h.is_empty() => h,
            _ => return Err(RequestError::MissingHost),
        };
        match self.header("sec-websocket-version") {
            None => return Err(RequestError::MissingVersion),
            Some("13") => {}
            Some(_) => return Err(RequestError::UnsupportedVersion),
        }
        Ok(self.offer(host, String::new()))
    }

    /// The offer of a checked request: what both handshakes share.
    fn offer(&self, host: &str, key: String) -> Offer {
        let protocols = http::tokens(&self.headers, "sec-websocket-protocol")
            .map(String::from)
            .collect();
        let extensions = http::values(&self.headers, "sec-websocket-extensions")
            .collect::<Vec<_>>()
            .join(", ");
        Offer {
            extensions,
            target: self.target.clone(),
            host: host.to_string(),
            key,
            origin: self.header("origin").map(String::from),
            protocols,
        }
    }
}

/// What a valid client request offers, ready for the server to decide on.
///
/// ```
/// use wisp_codec::handshake::{parse_request, ClientRequest};
/// let bytes = ClientRequest::new("h", "/chat", [7; 16]).protocol("chat").to_bytes();
/// let offer = parse_request(&bytes, 1024).unwrap().unwrap().0.validate().unwrap();
/// assert_eq!((offer.target.as_str(), offer.protocols.as_slice()), ("/chat", &["chat".to_string()][..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The request target: the path and the query, as sent (`/chat?room=a`).
    pub target: String,
    /// The Host header.
    pub host: String,
    /// The `Sec-WebSocket-Key` as sent (empty for an HTTP/2 extended CONNECT, which has
    /// none: RFC 8441 §5).
    pub key: String,
    /// The Origin header, if any (browsers always send one; a file:// page sends `null`).
    pub origin: Option<String>,
    /// The subprotocols offered, in the client's order of preference.
    pub protocols: Vec<String>,
    /// Every `Sec-WebSocket-Extensions` line joined with `, ` (empty without one): give
    /// it to [`ServerDeflate::negotiate`](crate::extension::ServerDeflate::negotiate).
    pub extensions: String,
}

/// Parses an HTTP request head from the front of `buf`.
///
/// `Ok(None)`: the head is not complete yet. `Ok(Some((request, n)))`: the head used
/// `n` bytes; bytes after them are WebSocket frames. A head over `max_head` bytes is
/// [`RequestError::HeadTooLarge`] (431) as soon as that is certain.
///
/// ```
/// use wisp_codec::handshake::parse_request;
/// let buf = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\r\n\x81\x00";
/// let (req, n) = parse_request(buf, 1024).unwrap().unwrap();
/// assert_eq!(req.target, "/chat");
/// assert_eq!(&buf[n..], b"\x81\x00"); // left for the frame decoder
/// assert_eq!(parse_request(b"GET / HTTP/1.1\r\n", 1024), Ok(None));
/// ```
pub fn parse_request(
    buf: &[u8],
    max_head: usize,
) -> Result<Option<(Request, usize)>, RequestError> {
    let Some((head, n)) = http::parse_head(buf, max_head).map_err(RequestError::from)? else {
        return Ok(None);
    };
    let [method, target, version] = head.start;
    Ok(Some((
        Request {
            method,
            target,
            version,
            headers: head.headers,
        },
        n,
    )))
}

fn http_version_at_least_1_1(v: &str) -> Result<bool, RequestError> {
    let rest = v.strip_prefix("HTTP/").ok_or(RequestError::MalformedHead)?;
    let (major, minor) = rest.split_once('.').unwrap_or((rest, "0"));
    let major: u32 = major.parse().map_err(|_| RequestError::MalformedHead)?;
    let minor: u32 = minor.parse().map_err(|_| RequestError::MalformedHead)?;
    Ok((major, minor) >= (1, 1))
}

/// Header names the opening handshake itself sets on the server's 101 response.
const RESPONSE_RESERVED: [&str; 5] = [
    "upgrade",
    "connection",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// Header names the opening handshake itself sets on the client's request (the
/// subprotocols, the origin and the extensions have their own methods).
const REQUEST_RESERVED: [&str; 8] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "origin",
];

/// Why a header cannot be added to a handshake head.
///
/// ```
/// use wisp_codec::handshake::{check_header, HeaderError};
/// assert_eq!(check_header("X-Token", "abc"), Ok(()));
/// assert_eq!(check_header("Bad Name", "x"), Err(HeaderError::InvalidName));
/// assert_eq!(check_header("X-Split", "a\r\nInjected: 1"), Err(HeaderError::InvalidValue));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is not an HTTP token (RFC 9110 §5.1): empty, or with a space, a colon,
    /// a control character...
    InvalidName,
    /// The value holds a CR, an LF, a NUL or another control character other than
    /// HTAB (RFC 9110 §5.5): it could split the head.
    InvalidValue,
    /// The opening handshake sets this header itself (`Upgrade`, `Connection`, the
    /// `Sec-WebSocket-*` fields, and on a request `Host` and `Origin`).
    Reserved,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderError::InvalidName => "a header name must be an HTTP token (RFC 9110 §5.1)",
            HeaderError::InvalidValue => {
                "a header value may not hold CR, LF or other control characters (RFC 9110 §5.5)"
            }
            HeaderError::Reserved => "the opening handshake sets this header itself",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HeaderError {}

/// Checks that `name: value` can go into a head as it is: the name an HTTP token, the
/// value free of control characters (HTAB allowed). Nothing is escaped, so nothing
/// that fails here is ever written.
///
/// ```
/// assert!(wisp_codec::handshake::check_header("Authorization", "Bearer t0k3n").is_ok());
/// ```
pub fn check_header(name: &str, value: &str) -> Result<(), HeaderError> {
    if !http::is_token(name) {
        return Err(HeaderError::InvalidName);
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeaderError::InvalidValue);
    }
    Ok(())
}

fn checked_header(
    name: &str,
    value: &str,
    reserved: &[&str],
) -> Result<(String, String), HeaderError> {
    check_header(name, value)?;
    if reserved.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(HeaderError::Reserved);
    }
    Ok((
        name.to_string(),
        value.trim_matches([' ', '\t']).to_string(),
    ))
}

/// The server's 101 response (§4.2.2), built up: the accept value for the client's
/// key, the chosen subprotocol and extensions, and headers of the application's own
/// (a cookie, a server name...).
///
/// ```
/// use wisp_codec::handshake::{HeaderError, Response};
/// let r = Response::new("dGhlIHNhbXBsZSBub25jZQ==")
///     .protocol("chat")
///     .header("Set-Cookie", "session=1")?
///     .to_bytes();
/// let text = String::from_utf8(r).unwrap();
/// assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
/// assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
/// assert!(text.ends_with("Sec-WebSocket-Protocol: chat\r\nSet-Cookie: session=1\r\n\r\n"));
/// // RFC 6455 §1.3, byte for byte.
/// assert_eq!(Response::new("dGhlIHNhbXBsZSBub25jZQ==").protocol("chat").to_bytes(),
///     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
/// let taken = Response::new("dGhlIHNhbXBsZSBub25jZQ==").header("Upgrade", "h2c");
/// assert_eq!(taken.unwrap_err(), HeaderError::Reserved);
/// # Ok::<(), HeaderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    key: String,
    protocol: Option<String>,
    extensions: Option<String>,
    headers: Vec<(String, String)>,
}

impl Response {
    /// The response to a request with this `Sec-WebSocket-Key` ([`Offer::key`]).
    pub fn new(key: &str) -> Self {
        Response {
            key: key.to_string(),
            protocol: None,
            extensions: None,
            headers: Vec::new(),
        }
    }

    /// The subprotocol the server chose among the offered ones.
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.protocol = Some(protocol.to_string());
        self
    }

    /// The agreed extensions: a `Sec-WebSocket-Extensions` value such as
    /// [`DeflateParams::to_header`](crate::extension::DeflateParams::to_header).
    pub fn extensions(mut self, extensions: &str) -> Self {
        self.extensions = Some(extensions.to_string());
        self
    }

    /// Adds a header of the application's own, after the handshake's. Refused: a name
    /// or value that is not safe to write ([`check_header`]) and the headers the
    /// handshake sets itself ([`HeaderError::Reserved`]).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, HeaderError> {
        self.headers
            .push(checked_header(name, value, &RESPONSE_RESERVED)?);
        Ok(self)
    }

    /// The headers added with [`header`](Response::header), in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The response head, ready to write.
    pub fn to_bytes(&self) -> Vec<u8> {
        let accept = accept_key(self.key.as_bytes());
        let accept = core::str::from_utf8(&accept).unwrap_or_default();
        let mut s = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
        );
        if let Some(p) = &self.protocol {
            s.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        if let Some(e) = &self.extensions {
            s.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
        }
        for (name, value) in &self.headers {
            s.push_str(&format!("{name}: {value}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
}

/// An application's refusal of an opening handshake: an HTTP status other than 101
/// (401, 403, 404...), a reason for the plain-text body, and headers (a
/// `WWW-Authenticate`, a `Retry-After`...).
///
/// ```
/// use wisp_codec::handshake::Refusal;
/// let r = Refusal::new(401, "a token is needed").header("WWW-Authenticate", "Bearer")?;
/// let text = String::from_utf8(r.to_bytes()).unwrap();
/// assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n"));
/// assert!(text.ends_with("\r\n\r\na token is needed\n"));
/// # Ok::<(), wisp_codec::handshake::HeaderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status; one outside 300-599 is sent as 400 (see
    /// [`sent_status`](Refusal::sent_status)).
    pub status: u16,
    /// The body, one line (a newline is added).
    pub reason: String,
    headers: Vec<(String, String)>,
}

impl Refusal {
    /// A refusal with this status and reason.
    pub fn new(status: u16, reason: &str) -> Self {
        Refusal {
            status,
            reason: reason.to_string(),
            headers: Vec::new(),
        }
    }

    /// Adds a header (checked as in [`check_header`]; the body's `Content-Type`,
    /// `Content-Length` and `Connection` are the refusal's own).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, HeaderError> {
        self.headers.push(checked_header(
            name,
            value,
            &["content-type", "content-length", "connection"],
        )?);
        Ok(self)
    }

    /// The headers added with [`header`](Refusal::header).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The status actually sent: [`status`](Refusal::status), unless that is not a
    /// refusal (1xx, 2xx or over 599), then 400.
    pub fn sent_status(&self) -> u16 {
        match self.status {
            300..=599 => self.status,
            _ => 400,
        }
    }

    /// The whole response, ready to write (`Connection: close`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut extra = String::new();
        for (name, value) in &self.headers {
            extra.push_str(&format!("{name}: {value}\r\n"));
        }
        let reason: String = self.reason.chars().filter(|c| !c.is_control()).collect();
        http::response(self.sent_status(), &extra, &format!("{reason}\n"))
    }
}

/// Why a server refuses an opening handshake request (§4.2.1, §4.2.2). Each maps to an
/// HTTP status in [`RequestError::status`]; [`RequestError::response`] is the answer.
///
/// ```
/// use wisp_codec::handshake::RequestError;
/// assert_eq!(RequestError::UnsupportedVersion.status(), 426);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The head is not a well-formed HTTP/1.1 request.
    MalformedHead,
    /// The head is larger than the configured bound (431).
    HeadTooLarge,
    /// The method is not GET (§4.2.1 item 1).
    MethodNotGet,
    /// The HTTP version is below 1.1 (§4.2.1 item 1).
    HttpVersion,
    /// No Host header (§4.2.1 item 2).
    MissingHost,
    /// No `Upgrade: websocket` (§4.2.1 item 3).
    MissingUpgrade,
    /// No `upgrade` token in Connection (§4.2.1 item 4).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or does not decode to 16 bytes (§4.2.1 item 5).
    InvalidKey,
    /// No `Sec-WebSocket-Version` header (§4.2.1 item 6).
    MissingVersion,
    /// `Sec-WebSocket-Version` is not 13 (§4.4): 426 with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// The Origin is not accepted by the server (§4.2.2, 403).
    OriginRefused,
    /// Over HTTP/2, a request that is not an extended CONNECT: another method, or a
    /// CONNECT without `:protocol` (RFC 8441 §4, 400).
    NotExtendedConnect,
    /// An extended CONNECT for a protocol other than `websocket` (RFC 8441 §5, 501).
    UnknownProtocol,
}

impl From<HeadError> for RequestError {
    fn from(e: HeadError) -> Self {
        match e {
            HeadError::Malformed => RequestError::MalformedHead,
            HeadError::TooLarge => RequestError::HeadTooLarge,
        }
    }
}

impl RequestError {
    /// The HTTP status a server answers this error with: the one map from refused
    /// requests to HTTP.
    ///
    /// ```
    /// use wisp_codec::handshake::RequestError;
    /// assert_eq!(RequestError::InvalidKey.status(), 400);
    /// assert_eq!(RequestError::OriginRefused.status(), 403);
    /// assert_eq!(RequestError::HeadTooLarge.status(), 431);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            RequestError::MalformedHead
            | RequestError::MethodNotGet
            | RequestError::HttpVersion
            | RequestError::MissingHost
            | RequestError::MissingUpgrade
            | RequestError::MissingConnectionUpgrade
            | RequestError::InvalidKey
            | RequestError::MissingVersion
            | RequestError::NotExtendedConnect => 400,
            RequestError::OriginRefused => 403,
            // The server does not implement the tunnel asked for (RFC 9110 §15.6.2).
            RequestError::UnknownProtocol => 501,
            // §4.4: "...the server MUST ... include a |Sec-WebSocket-Version| header
            // field ... of the versions it supports": 426 Upgrade Required, as usual.
            RequestError::UnsupportedVersion => 426,
            RequestError::HeadTooLarge => 431,
        }
    }

    /// The full HTTP response a server sends for this error: status line,
    /// `Sec-WebSocket-Version: 13` for 426, `Connection: close`, and the reason as a
    /// plain-text body.
    ///
    /// ```
    /// use wisp_codec::handshake::RequestError;
    /// let r = RequestError::UnsupportedVersion.response();
    /// let text = core::str::from_utf8(&r).unwrap();
    /// assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    /// assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
    /// ```
    pub fn response(&self) -> Vec<u8> {
        let extra = match self {
            RequestError::UnsupportedVersion => "Sec-WebSocket-Version: 13\r\n",
            _ => "",
        };
        http::response(self.status(), extra, &format!("{self}\n"))
    }

    /// The variant's name, for programs that show or match errors as text (the wasm
    /// API's `kind`).
    ///
    /// ```
    /// assert_eq!(wisp_codec::handshake::RequestError::InvalidKey.kind(), "InvalidKey");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            RequestError::MalformedHead => "MalformedHead",
            RequestError::HeadTooLarge => "HeadTooLarge",
            RequestError::MethodNotGet => "MethodNotGet",
            RequestError::HttpVersion => "HttpVersion",
            RequestError::MissingHost => "MissingHost",
            RequestError::MissingUpgrade => "MissingUpgrade",
            RequestError::MissingConnectionUpgrade => "MissingConnectionUpgrade",
            RequestError::InvalidKey => "InvalidKey",
            RequestError::MissingVersion => "MissingVersion",
            RequestError::UnsupportedVersion => "UnsupportedVersion",
            RequestError::OriginRefused => "OriginRefused",
            RequestError::NotExtendedConnect => "NotExtendedConnect",
            RequestError::UnknownProtocol => "UnknownProtocol",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::MalformedHead => "malformed HTTP request head",
            RequestError::HeadTooLarge => "request head too large",
            RequestError::MethodNotGet => {
                "the opening handshake must be a GET request (RFC 6455 §4.2.1)"
            }
            RequestError::HttpVersion => {
                "the opening handshake needs HTTP/1.1 or later (RFC 6455 §4.2.1)"
            }
            RequestError::MissingHost => "missing Host header (RFC 6455 §4.2.1)",
            RequestError::MissingUpgrade => {
                "missing \"Upgrade: websocket\" header (RFC 6455 §4.2.1)"
            }
            RequestError::MissingConnectionUpgrade => {
                "the Connection header must include \"Upgrade\" (RFC 6455 §4.2.1)"
            }
            RequestError::InvalidKey => {
                "Sec-WebSocket-Key must be base64 of exactly 16 bytes (RFC 6455 §4.2.1)"
            }
            RequestError::MissingVersion => {
                "missing Sec-WebSocket-Version header (RFC 6455 §4.2.1)"
            }
            RequestError::UnsupportedVersion => {
                "unsupported Sec-WebSocket-Version: only 13 is supported (RFC 6455 §4.4)"
            }
            RequestError::OriginRefused => "origin not allowed (RFC 6455 §4.2.2)",
            RequestError::NotExtendedConnect => {
                "over HTTP/2 a WebSocket opens with a CONNECT with :protocol = websocket (RFC 8441 §4)"
            }
            RequestError::UnknownProtocol => {
                "this extended CONNECT serves only :protocol = websocket (RFC 8441 §5)"
            }
        })
    }
}

/// Why a client gives up on the server's handshake response (§4.1).
///
/// ```
/// use wisp_codec::handshake::{ClientRequest, ResponseError};
/// let req = ClientRequest::new("h", "/", [1; 16]);
/// let refused = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
/// assert_eq!(req.parse_response(refused, 1024), Err(ResponseError::NotSwitchingProtocols(404)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The head is not a well-formed HTTP/1.1 response.
    MalformedHead,
    /// The head is larger than the bound the client set.
    HeadTooLarge,
    /// The server answered with a status other than 101. Holds the status.
    NotSwitchingProtocols(u16),
    /// Over HTTP/2, the server answered the extended CONNECT with a status that is not
    /// 2xx (RFC 8441 §5). Holds the status.
    NotOk(u16),
    /// No `Upgrade: websocket`.
    MissingUpgrade,
    /// No `upgrade` token in Connection.
    MissingConnectionUpgrade,
    /// The server's `Sec-WebSocket-Accept` does not match our key.
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer.
    UnexpectedSubprotocol,
    /// The server chose an extension we did not offer.
    UnexpectedExtension,
    /// The server's permessage-deflate parameters are malformed or were not allowed by
    /// our offer (RFC 7692 §7.1): the client must fail the connection.
    DeflateParams(ParamError),
}

impl From<HeadError> for ResponseError {
    fn from(e: HeadError) -> Self {
        match e {
            HeadError::Malformed => ResponseError::MalformedHead,
            HeadError::TooLarge => ResponseError::HeadTooLarge,
        }
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ResponseError::DeflateParams(e) = self {
            return write!(
                f,
                "server's permessage-deflate response refused: {e} (RFC 7692 §7.1)"
            );
        }
        f.write_str(match self {
            ResponseError::DeflateParams(_) => "",
            ResponseError::MalformedHead => "malformed HTTP response head",
            ResponseError::HeadTooLarge => "response head too large",
            ResponseError::NotSwitchingProtocols(_) => {
                "server did not answer 101 Switching Protocols (RFC 6455 §4.1)"
            }
            ResponseError::NotOk(_) => {
                "server did not answer the extended CONNECT with 2xx (RFC 8441 §5)"
            }
            ResponseError::MissingUpgrade => {
                "missing \"Upgrade: websocket\" header (RFC 6455 §4.1)"
            }
            ResponseError::MissingConnectionUpgrade => {
                "the Connection header must include \"Upgrade\" (RFC 6455 §4.1)"
            }
            ResponseError::AcceptMismatch => {
                "Sec-WebSocket-Accept does not match the key (RFC 6455 §4.1)"
            }
            ResponseError::UnexpectedSubprotocol => {
                "server chose a subprotocol that was not offered (RFC 6455 §4.1)"
            }
            ResponseError::UnexpectedExtension => {
                "server chose an extension that was not offered (RFC 6455 §4.1)"
            }
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RequestError {}
#[cfg(feature = "std")]
impl std::error::Error for ResponseError {}

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
    deflate: Option<DeflateOffer>,
    headers: Vec<(String, String)>,
}

/// The server's accepted response, as the client saw it.
///
/// ```
/// use wisp_codec::handshake::{ClientRequest, Response};
/// let req = ClientRequest::new("h", "/", [1; 16]).protocol("chat");
/// let (accepted, _) = req.parse_response(&Response::new(req.key()).protocol("chat").to_bytes(), 1024).unwrap().unwrap();
/// assert_eq!(accepted.protocol.as_deref(), Some("chat"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The response's header fields (name, value) in order.
    pub headers: Vec<(String, String)>,
    /// The permessage-deflate parameters agreed, if the server accepted our offer: give
    /// them to [`Connection::set_deflate`](crate::Connection::set_deflate).
    pub deflate: Option<DeflateParams>,
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
            deflate: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header of the application's own (`Authorization`, `Cookie`...), sent after
    /// the handshake's. Refused: a name or value that is not safe to write
    /// ([`check_header`]) and the headers the handshake sets itself
    /// ([`HeaderError::Reserved`]; subprotocols and the origin have their own methods).
    ///
    /// ```
    /// use wisp_codec::handshake::{ClientRequest, HeaderError};
    /// let r = ClientRequest::new("h", "/", [0; 16]).header("Authorization", "Bearer abc")?;
    /// assert!(String::from_utf8(r.to_bytes()).unwrap().contains("\r\nAuthorization: Bearer abc\r\n"));
    /// let host = ClientRequest::new("h", "/", [0; 16]).header("host", "other");
    /// assert_eq!(host.unwrap_err(), HeaderError::Reserved);
    /// # Ok::<(), HeaderError>(())
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, HeaderError> {
        self.headers
            .push(checked_header(name, value, &REQUEST_RESERVED)?);
        Ok(self)
    }

    /// Offers permessage-deflate (RFC 7692) with these parameters.
    ///
    /// ```
    /// use wisp_codec::extension::DeflateOffer;
    /// let offer = DeflateOffer { client_max_window_bits: Some(None), ..Default::default() };
    /// let r = wisp_codec::handshake::ClientRequest::new("h", "/", [0; 16]).deflate(offer);
    /// assert!(String::from_utf8(r.to_bytes()).unwrap()
    ///     .contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
    /// ```
    pub fn deflate(mut self, offer: DeflateOffer) -> Self {
        self.deflate = Some(offer);
        self
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
        if let Some(offer) = &self.deflate {
            s.push_str(&format!(
                "Sec-WebSocket-Extensions: {}\r\n",
                offer.to_header()
            ));
        }
        s.push_str("Sec-WebSocket-Version: 13\r\n");
        for (name, value) in &self.headers {
            s.push_str(&format!("{name}: {value}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    /// Parses and checks the server's response from the front of `buf` (§4.1): status
    /// 101, `Upgrade: websocket`, `Connection: upgrade`, the accept value for our key, and
    /// no subprotocol or extension we did not offer. `Ok(None)` while the head is partial;
    /// bytes after the `n` it used are frames.
    ///
    /// ```
    /// use wisp_codec::handshake::{ClientRequest, Response};
    /// let req = ClientRequest::new("h", "/", *b"the sample nonce");
    /// let (ok, n) = req.parse_response(&Response::new(req.key()).to_bytes(), 1024).unwrap().unwrap();
    /// assert_eq!(ok.protocol, None);
    /// let wrong = Response::new("AAAAAAAAAAAAAAAAAAAAAA==").to_bytes();
    /// assert!(req.parse_response(&wrong, 1024).is_err());
    /// ```
    pub fn parse_response(
        &self,
        buf: &[u8],
        max_head: usize,
    ) -> Result<Option<(Accepted, usize)>, ResponseError> {
        let Some((head, n)) = http::parse_head(buf, max_head)? else {
            return Ok(None);
        };
        let [version, status, _reason] = &head.start;
        let status: u16 = status.parse().map_err(|_| ResponseError::MalformedHead)?;
        if !version.starts_with("HTTP/") {
            return Err(ResponseError::MalformedHead);
        }
        if status != 101 {
            return Err(ResponseError::NotSwitchingProtocols(status));
        }
        let headers = head.headers;
        if !http::has_token(&headers, "upgrade", "websocket") {
            return Err(ResponseError::MissingUpgrade);
        }
        if !http::has_token(&headers, "connection", "upgrade") {
            return Err(ResponseError::MissingConnectionUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        let accept = http::values(&headers, "sec-websocket-accept").next();
        if accept.map(str::as_bytes) != Some(&expected[..]) {
            return Err(ResponseError::AcceptMismatch);
        }
        self.accepted(headers).map(|a| Some((a, n)))
    }

    /// The header fields of this request as an HTTP/2 extended CONNECT carries them
    /// ([RFC 8441 §5](https://www.rfc-editor.org/rfc/rfc8441#section-5)): lower-case
    /// names, `sec-websocket-version`, the subprotocols, the extensions, the origin and
    /// the application's headers; no `Host` (the `:authority`), no `Upgrade`, `Connection`
    /// or `Sec-WebSocket-Key`. The pseudo-headers (`:method = CONNECT`,
    /// `:protocol = websocket`, `:scheme`, `:path`, `:authority`) are the HTTP/2
    /// library's to write.
    ///
    /// ```
    /// use wisp_codec::handshake::ClientRequest;
    /// let h = ClientRequest::new("h", "/chat", [0; 16]).protocol("chat").h2_headers();
    /// assert_eq!(h, [("sec-websocket-version".to_string(), "13".to_string()),
    ///     ("sec-websocket-protocol".to_string(), "chat".to_string())]);
    /// ```
    pub fn h2_headers(&self) -> Vec<(String, String)> {
        let mut h = vec![("sec-websocket-version".to_string(), "13".to_string())];
        if !self.protocols.is_empty() {
            h.push(("sec-websocket-protocol".into(), self.protocols.join(", ")));
        }
        if let Some(offer) = &self.deflate {
            h.push(("sec-websocket-extensions".into(), offer.to_header()));
        }
        if let Some(origin) = &self.origin {
            h.push(("origin".into(), origin.clone()));
        }
        for (name, value) in &self.headers {
            h.push((name.to_ascii_lowercase(), value.clone()));
        }
        h
    }

    /// Checks the server's answer to this request sent as an HTTP/2 extended CONNECT
    /// (RFC 8441 §5): a 2xx status, no subprotocol or extension that was not offered
    /// (as [`parse_response`](Self::parse_response) checks them). There is no
    /// `Sec-WebSocket-Accept` to check.
    ///
    /// ```
    /// use wisp_codec::handshake::{ClientRequest, ResponseError};
    /// let req = ClientRequest::new("h", "/", [0; 16]).protocol("chat");
    /// let ok = req.check_h2_response(200, vec![("sec-websocket-protocol".into(), "chat".into())]);
    /// assert_eq!(ok.unwrap().protocol.as_deref(), Some("chat"));
    /// assert_eq!(req.check_h2_response(404, vec![]), Err(ResponseError::NotOk(404)));
    /// ```
    pub fn check_h2_response(
        &self,
        status: u16,
        headers: Vec<(String, String)>,
    ) -> Result<Accepted, ResponseError> {
        if !(200..300).contains(&status) {
            return Err(ResponseError::NotOk(status));
        }
        self.accepted(headers)
    }

    /// The subprotocol and extensions of an accepting response, checked against the
    /// offer.
    fn accepted(&self, headers: Vec<(String, String)>) -> Result<Accepted, ResponseError> {
        let deflate = self.check_extensions(&headers)?;
        let protocol = {
            let mut chosen = http::tokens(&headers, "sec-websocket-protocol");
            let first = chosen.next().map(String::from);
            if chosen.next().is_some() {
                return Err(ResponseError::UnexpectedSubprotocol);
            }
            first
        };
        if let Some(p) = &protocol {
            if !self.protocols.iter().any(|o| o == p) {
                return Err(ResponseError::UnexpectedSubprotocol);
            }
        }
        Ok(Accepted {
            protocol,
            headers,
            deflate,
        })
    }

    /// The extensions the server agreed to: none, or the permessage-deflate we offered
    /// with parameters our offer allows.
    fn check_extensions(
        &self,
        headers: &[(String, String)],
    ) -> Result<Option<DeflateParams>, ResponseError> {
        let value = http::values(headers, "sec-websocket-extensions")
            .collect::<Vec<_>>()
            .join(", ");
        let agreed = parse_extensions(&value).map_err(|_| ResponseError::MalformedHead)?;
        match (agreed.as_slice(), &self.deflate) {
            ([], _) => Ok(None),
            ([e], Some(offer)) if e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) => offer
                .check_response(e)
                .map(Some)
                .map_err(ResponseError::DeflateParams),
            _ => Err(ResponseError::UnexpectedExtension),
        }
    }
}
