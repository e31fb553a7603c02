//! Proxy handshakes, sans-IO: an HTTP `CONNECT` tunnel
//! ([RFC 9110 §9.3.6](https://www.rfc-editor.org/rfc/rfc9110#section-9.3.6), Basic auth
//! [RFC 7617](https://www.rfc-editor.org/rfc/rfc7617)) and SOCKS5
//! ([RFC 1928](https://www.rfc-editor.org/rfc/rfc1928), username/password
//! [RFC 1929](https://www.rfc-editor.org/rfc/rfc1929)).
//!
//! Like [`Connection`](crate::Connection), a handshake does no IO: the driver writes
//! [`ProxyHandshake::pending_output`] to the proxy (then
//! [`advance_output`](ProxyHandshake::advance_output)), hands what it reads to
//! [`handle_input`](ProxyHandshake::handle_input) until [`Step::Done`], and says when
//! the proxy ended the connection with [`handle_eof`](ProxyHandshake::handle_eof). The
//! bytes after the handshake (`data[consumed..]` in [`Step::Done`]) are the tunnel's:
//! the TLS handshake or the WebSocket handshake runs over them. Every answer is bounded
//! (an HTTP head of at most [`MAX_RESPONSE_HEAD`], a refusal body of at most
//! [`MAX_REFUSAL_BODY`]), so a proxy that talks forever is an error, not a hang; the
//! driver bounds the time.
//!
//! ```
//! use wisp_codec::proxy::{Credentials, ProxyHandshake, Step, Target};
//! let creds = Credentials::new("user", "pass");
//! let mut socks = ProxyHandshake::socks5(Target::name("example.com"), 443, Some(&creds)).unwrap();
//! // Greeting: version 5, two methods: none (0) and username/password (2).
//! assert_eq!(socks.pending_output(), [5, 2, 0, 2]);
//! socks.advance_output(4);
//! // The proxy picks username/password; we send RFC 1929's request.
//! assert_eq!(socks.handle_input(&[5, 2]).unwrap(), Step::Continue);
//! assert_eq!(socks.pending_output(), b"\x01\x04user\x04pass");
//! socks.advance_output(11);
//! assert_eq!(socks.handle_input(&[1, 0]).unwrap(), Step::Continue);
//! // CONNECT to a name (ATYP 3): the proxy resolves it.
//! assert_eq!(socks.pending_output(), b"\x05\x01\x00\x03\x0bexample.com\x01\xbb");
//! socks.advance_output(18);
//! let reply = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90, b'x'];
//! assert_eq!(socks.handle_input(&reply).unwrap(), Step::Done { consumed: 10 });
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::http::{self, HeadError};

/// The most bytes an HTTP proxy's response head may take.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;
/// The most bytes of a refusal's body kept (and waited for).
pub const MAX_REFUSAL_BODY: usize = 4096;

/// A user name and password for the proxy (Basic auth for HTTP, RFC 1929 for SOCKS5).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password never goes to a log.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Where the tunnel goes: an address, or a name the proxy resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An IP address (SOCKS5 ATYP 1 or 4).
    Ip(IpAddr),
    /// A host name, resolved by the proxy (SOCKS5 ATYP 3; `socks5h://`).
    Name(String),
}

impl Target {
    /// A host as written in a URL: an IP address literal (IPv6 without brackets)
    /// becomes [`Target::Ip`], anything else a [`Target::Name`].
    ///
    /// ```
    /// use wisp_codec::proxy::Target;
    /// assert!(matches!(Target::name("127.0.0.1"), Target::Ip(_)));
    /// assert!(matches!(Target::name("::1"), Target::Ip(_)));
    /// assert_eq!(Target::name("localhost"), Target::Name("localhost".into()));
    /// ```
    pub fn name(host: &str) -> Target {
        match host.parse::<IpAddr>() {
            Ok(ip) => Target::Ip(ip),
            Err(_) => Target::Name(host.to_string()),
        }
    }
}

/// A SOCKS5 reply code (RFC 1928 §6) other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyCode(pub u8);

impl ReplyCode {
    /// The RFC's name for the code.
    ///
    /// ```
    /// assert_eq!(wisp_codec::proxy::ReplyCode(5).name(), "connection refused");
    /// ```
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "succeeded",
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unassigned reply code",
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Where in the handshake the proxy ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the HTTP proxy's answer to `CONNECT`.
    HttpResponse,
    /// Waiting for the SOCKS5 proxy's choice of method.
    Socks5Method,
    /// After our RFC 1929 user name and password (a proxy that refuses them without
    /// the RFC's status byte closes here).
    Socks5Auth,
    /// Waiting for the SOCKS5 reply to `CONNECT`.
    Socks5Reply,
    /// The tunnel was up; the proxy closed it before the WebSocket handshake was over
    /// (the destination refused it, or went away). Drivers report this one.
    Tunnel,
}

/// A proxy that did not open the tunnel, or answered something else than the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The HTTP proxy answered `CONNECT` with a status other than 2xx (407 for missing
    /// or wrong credentials, 403, 502...).
    Refused {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// The start of the body (at most [`MAX_REFUSAL_BODY`] bytes, lossily decoded,
        /// trimmed).
        body: String,
    },
    /// The HTTP proxy's answer is not an HTTP/1.x response head.
    BadResponse,
    /// The HTTP proxy's response head passed [`MAX_RESPONSE_HEAD`].
    HeadTooLarge,
    /// A SOCKS answer with a version other than 5 (or 1 for RFC 1929's): not a SOCKS5
    /// proxy.
    Socks5Version(u8),
    /// The SOCKS5 proxy accepts none of the methods offered (0xFF): it wants
    /// credentials, or others than a user name and password.
    Socks5NoAcceptableMethod {
        /// Whether username/password (method 2) was offered.
        offered_password: bool,
    },
    /// The SOCKS5 proxy chose a method that was not offered.
    Socks5UnexpectedMethod(u8),
    /// The SOCKS5 proxy refused the user name and password (RFC 1929 status).
    Socks5AuthRejected(u8),
    /// The SOCKS5 proxy did not connect to the destination.
    Socks5Reply(ReplyCode),
    /// The SOCKS5 reply has an address type that does not exist.
    Socks5AddressType(u8),
    /// The proxy ended the connection.
    Closed(Stage),
    /// A user name, password or host name longer than the 255 bytes SOCKS5 allows.
    TooLong(&'static str),
    /// A host name that cannot go in a request (empty, or with control characters or
    /// spaces).
    InvalidHost,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Refused { status, reason, body } => {
                write!(f, "the proxy refused the tunnel: HTTP {status}")?;
                if !reason.is_empty() {
                    write!(f, " {reason}")?;
                }
                let text = one_line(body);
                if !text.is_empty() {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
            ProxyError::BadResponse => {
                f.write_str("the proxy's answer to CONNECT is not an HTTP response")
            }
            ProxyError::HeadTooLarge => write!(
                f,
                "the proxy's answer to CONNECT has a head over {MAX_RESPONSE_HEAD} bytes"
            ),
            ProxyError::Socks5Version(v) => write!(
                f,
                "the proxy answered SOCKS version {v}, not 5: is it a SOCKS5 proxy?"
            ),
            ProxyError::Socks5NoAcceptableMethod { offered_password } => {
                if *offered_password {
                    f.write_str("the SOCKS5 proxy accepts neither no authentication nor a user name and password")
                } else {
                    f.write_str("the SOCKS5 proxy wants authentication: give user:password@ in the proxy URL")
                }
            }
            ProxyError::Socks5UnexpectedMethod(m) => {
                write!(f, "the SOCKS5 proxy chose method {m}, which was not offered")
            }
            ProxyError::Socks5AuthRejected(s) => write!(
                f,
                "the SOCKS5 proxy refused the user name and password (status {s})"
            ),
            ProxyError::Socks5Reply(code) => {
                write!(f, "the SOCKS5 proxy could not connect: {code}")
            }
            ProxyError::Socks5AddressType(t) => {
                write!(f, "the SOCKS5 proxy's reply has an unknown address type {t}")
            }
            ProxyError::Closed(stage) => f.write_str(match stage {
                Stage::HttpResponse => "the proxy closed the connection before answering CONNECT",
                Stage::Socks5Method => "the SOCKS5 proxy closed the connection before choosing a method",
                Stage::Socks5Auth => "the SOCKS5 proxy closed the connection after our user name and password (it refused them)",
                Stage::Socks5Reply => "the SOCKS5 proxy closed the connection before its reply to CONNECT",
                Stage::Tunnel => "the proxy closed the connection before the WebSocket handshake",
            }),
            ProxyError::TooLong(what) => {
                write!(f, "the {what} is longer than the 255 bytes SOCKS5 allows")
            }
            ProxyError::InvalidHost => f.write_str("the host name cannot go in a proxy request"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProxyError {}

/// What [`ProxyHandshake::handle_input`] made of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More input is needed (and there may be output to write first).
    Continue,
    /// The tunnel is up. The handshake used `consumed` bytes of the last input; the
    /// rest belongs to the tunnel.
    Done {
        /// Bytes of the last input that were the proxy's.
        consumed: usize,
    },
}

/// One proxy handshake: HTTP `CONNECT` or SOCKS5.
#[derive(Debug)]
pub struct ProxyHandshake {
    out: Vec<u8>,
    sent: usize,
    buf: Vec<u8>,
    state: State,
}

#[derive(Debug)]
enum State {
    HttpHead,
    HttpBody {
        status: u16,
        reason: String,
        want: usize,
    },
    Socks5Method {
        request: Vec<u8>,
        auth: Option<Vec<u8>>,
    },
    Socks5Auth {
        request: Vec<u8>,
    },
    Socks5Reply,
    Done,
    Failed,
}

fn check_host(host: &str) -> Result<(), ProxyError> {
    if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(ProxyError::InvalidHost);
    }
    Ok(())
}

fn short(what: &'static str, s: &[u8]) -> Result<u8, ProxyError> {
    u8::try_from(s.len()).map_err(|_| ProxyError::TooLong(what))
}

impl ProxyHandshake {
    /// An HTTP `CONNECT host:port` (IPv6 in brackets), with `Proxy-Authorization:
    /// Basic` when there are credentials.
    ///
    /// ```
    /// use wisp_codec::proxy::{Credentials, ProxyError, ProxyHandshake, Step};
    /// let creds = Credentials::new("Aladdin", "open sesame");
    /// let mut http = ProxyHandshake::http_connect("example.com", 443, Some(&creds)).unwrap();
    /// assert_eq!(
    ///     http.pending_output(),
    ///     b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
    ///       Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
    /// );
    /// let n = http.pending_output().len();
    /// http.advance_output(n);
    /// let answer = b"HTTP/1.1 200 Connection established\r\n\r\n";
    /// assert_eq!(http.handle_input(answer).unwrap(), Step::Done { consumed: answer.len() });
    ///
    /// let mut refused = ProxyHandshake::http_connect("example.com", 443, None).unwrap();
    /// let answer = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 6\r\n\r\nlog in";
    /// assert_eq!(
    ///     refused.handle_input(answer),
    ///     Err(ProxyError::Refused {
    ///         status: 407,
    ///         reason: "Proxy Authentication Required".into(),
    ///         body: "log in".into(),
    ///     })
    /// );
    /// ```
    pub fn http_connect(
        host: &str,
        port: u16,
        credentials: Option<&Credentials>,
    ) -> Result<ProxyHandshake, ProxyError> {
        check_host(host)?;
        let authority = if host.contains(':') {
            alloc::format!("[{host}]:{port}")
        } else {
            alloc::format!("{host}:{port}")
        };
        let mut out = alloc::format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(c) = credentials {
            let token = STANDARD.encode(alloc::format!("{}:{}", c.username, c.password));
            out.push_str("Proxy-Authorization: Basic ");
            out.push_str(&token);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        Ok(ProxyHandshake {
            out: out.into_bytes(),
            sent: 0,
            buf: Vec::new(),
            state: State::HttpHead,
        })
    }

    /// A SOCKS5 `CONNECT` to `target:port`: methods "no authentication" and, with
    /// credentials, "username/password" (RFC 1929).
    pub fn socks5(
        target: Target,
        port: u16,
        credentials: Option<&Credentials>,
    ) -> Result<ProxyHandshake, ProxyError> {
        // The request: VER CMD=CONNECT RSV ATYP DST.ADDR DST.PORT (RFC 1928 §4).
        let mut request = alloc::vec![5, 1, 0];
        match &target {
            Target::Ip(IpAddr::V4(a)) => {
                request.push(1);
                request.extend_from_slice(&a.octets());
            }
            Target::Ip(IpAddr::V6(a)) => {
                request.push(4);
                request.extend_from_slice(&a.octets());
            }
            Target::Name(name) => {
                check_host(name)?;
                request.push(3);
                request.push(short("host name", name.as_bytes())?);
                request.extend_from_slice(name.as_bytes());
            }
        }
        request.extend_from_slice(&port.to_be_bytes());
        let auth = match credentials {
            None => None,
            Some(c) => {
                // VER=1 ULEN UNAME PLEN PASSWD (RFC 1929 §2).
                let (u, p) = (c.username.as_bytes(), c.password.as_bytes());
                let mut a = alloc::vec![1, short("user name", u)?];
                a.extend_from_slice(u);
                a.push(short("password", p)?);
                a.extend_from_slice(p);
                Some(a)
            }
        };
        let out = if auth.is_some() {
            alloc::vec![5, 2, 0, 2]
        } else {
            alloc::vec![5, 1, 0]
        };
        Ok(ProxyHandshake {
            out,
            sent: 0,
            buf: Vec::new(),
            state: State::Socks5Method { request, auth },
        })
    }

    /// The bytes to write to the proxy now.
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.sent..]
    }

    /// `n` bytes of [`pending_output`](Self::pending_output) were written.
    pub fn advance_output(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
    }

    /// True once the tunnel is up.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn queue(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Takes bytes read from the proxy. [`Step::Done`] says how many were the
    /// proxy's; an error ends the handshake (the connection should be closed).
    pub fn handle_input(&mut self, data: &[u8]) -> Result<Step, ProxyError> {
        let before = self.buf.len();
        self.buf.extend_from_slice(data);
        let r = self.advance(before);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    /// The proxy ended the connection (or the driver gave up waiting): the error that
    /// says so, with what a refusal's body held so far.
    pub fn handle_eof(&mut self) -> ProxyError {
        let state = core::mem::replace(&mut self.state, State::Failed);
        match state {
            State::HttpHead => ProxyError::Closed(Stage::HttpResponse),
            State::HttpBody { status, reason, .. } => ProxyError::Refused {
                status,
                reason,
                body: body_text(&self.buf),
            },
            State::Socks5Method { .. } => ProxyError::Closed(Stage::Socks5Method),
            State::Socks5Auth { .. } => ProxyError::Closed(Stage::Socks5Auth),
            State::Socks5Reply | State::Failed => ProxyError::Closed(Stage::Socks5Reply),
            State::Done => ProxyError::Closed(Stage::Tunnel),
        }
    }

    /// Runs the states over `self.buf`; `before` is how much of it came before the
    /// last input.
    fn advance(&mut self, before: usize) -> Result<Step, ProxyError> {
        loop {
            match &mut self.state {
                State::HttpHead => {
                    let (head, end) = match http::parse_head(&self.buf, MAX_RESPONSE_HEAD) {
                        Ok(Some(h)) => h,
                        Ok(None) => return Ok(Step::Continue),
                        Err(HeadError::TooLarge) => return Err(ProxyError::HeadTooLarge),
                        Err(HeadError::Malformed) => return Err(ProxyError::BadResponse),
                    };
                    let [version, code, reason] = &head.start;
                    if !version.starts_with("HTTP/1.") || code.len() != 3 {
                        return Err(ProxyError::BadResponse);
                    }
                    let status: u16 = code.parse().map_err(|_| ProxyError::BadResponse)?;
                    if (100..200).contains(&status) {
                        // An interim answer: the final one follows.
                        self.buf.drain(..end);
                        continue;
                    }
                    if (200..300).contains(&status) {
                        self.state = State::Done;
                        self.buf.clear();
                        return Ok(Step::Done {
                            consumed: end - before,
                        });
                    }
                    let length = http::values(&head.headers, "content-length")
                        .find_map(|v| v.trim().parse::<usize>().ok());
                    let want = length.unwrap_or(MAX_REFUSAL_BODY).min(MAX_REFUSAL_BODY);
                    let reason = reason.clone();
                    self.buf.drain(..end);
                    self.state = State::HttpBody {
                        status,
                        reason,
                        want,
                    };
                }
                State::HttpBody {
                    status,
                    reason,
                    want,
                } => {
                    if self.buf.len() < *want {
                        return Ok(Step::Continue);
                    }
                    self.buf.truncate(*want);
                    return Err(ProxyError::Refused {
                        status: *status,
                        reason: core::mem::take(reason),
                        body: body_text(&self.buf),
                    });
                }
                State::Socks5Method { request, auth } => {
                    let [version, method] = match self.buf[..] {
                        [v, m, ..] => [v, m],
                        _ => return Ok(Step::Continue),
                    };
                    if version != 5 {
                        return Err(ProxyError::Socks5Version(version));
                    }
                    let (request, auth) = (core::mem::take(request), auth.take());
                    self.buf.drain(..2);
                    match (method, auth) {
                        (0, _) => {
                            self.queue(&request);
                            self.state = State::Socks5Reply;
                        }
                        (2, Some(auth)) => {
                            self.queue(&auth);
                            self.state = State::Socks5Auth { request };
                        }
                        (0xff, auth) => {
                            return Err(ProxyError::Socks5NoAcceptableMethod {
                                offered_password: auth.is_some(),
                            })
                        }
                        (m, _) => return Err(ProxyError::Socks5UnexpectedMethod(m)),
                    }
                }
                State::Socks5Auth { request } => {
                    let [version, status] = match self.buf[..] {
                        [v, s, ..] => [v, s],
                        _ => return Ok(Step::Continue),
                    };
                    if version != 1 {
                        return Err(ProxyError::Socks5Version(version));
                    }
                    if status != 0 {
                        return Err(ProxyError::Socks5AuthRejected(status));
                    }
                    let request = core::mem::take(request);
                    self.buf.drain(..2);
                    self.queue(&request);
                    self.state = State::Socks5Reply;
                }
                State::Socks5Reply => {
                    // VER REP RSV ATYP BND.ADDR BND.PORT (RFC 1928 §6).
                    if self.buf.len() < 2 {
                        return Ok(Step::Continue);
                    }
                    if self.buf[0] != 5 {
                        return Err(ProxyError::Socks5Version(self.buf[0]));
                    }
                    if self.buf[1] != 0 {
                        return Err(ProxyError::Socks5Reply(ReplyCode(self.buf[1])));
                    }
                    let len = match self.buf.get(3) {
                        None => return Ok(Step::Continue),
                        Some(1) => 4 + 4 + 2,
                        Some(4) => 4 + 16 + 2,
                        Some(3) => match self.buf.get(4) {
                            None => return Ok(Step::Continue),
                            Some(&n) => 4 + 1 + usize::from(n) + 2,
                        },
                        Some(&t) => return Err(ProxyError::Socks5AddressType(t)),
                    };
                    if self.buf.len() < len {
                        return Ok(Step::Continue);
                    }
                    self.state = State::Done;
                    self.buf.clear();
                    return Ok(Step::Done {
                        consumed: len - before,
                    });
                }
                State::Done => return Ok(Step::Done { consumed: 0 }),
                State::Failed => return Err(ProxyError::Closed(Stage::Tunnel)),
            }
        }
    }
}

/// A refusal's body for one line of text: an HTML page's tags dropped, whitespace
/// collapsed, at most 300 characters.
fn one_line(body: &str) -> String {
    let html = body.trim_start().starts_with('<');
    let mut text = String::new();
    let mut in_tag = false;
    let mut space = false;
    for c in body.chars() {
        match c {
            '<' if html => in_tag = true,
            '>' if html && in_tag => {
                in_tag = false;
                space = true;
            }
            _ if in_tag => {}
            c if c.is_whitespace() || c.is_control() => space = true,
            c => {
                if space && !text.is_empty() {
                    text.push(' ');
                }
                space = false;
                text.push(c);
            }
        }
        if text.chars().count() >= 300 {
            text.push_str("...");
            break;
        }
    }
    text
}

fn body_text(body: &[u8]) -> String {
    let end = body.len().min(MAX_REFUSAL_BODY);
    String::from_utf8_lossy(&body[..end]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn drain(h: &mut ProxyHandshake) -> Vec<u8> {
        let out = h.pending_output().to_vec();
        h.advance_output(out.len());
        out
    }

    #[test]
    fn socks5_no_auth_ipv4_byte_vectors() {
        let ip = IpAddr::V4(core::net::Ipv4Addr::new(127, 0, 0, 1));
        let mut h = ProxyHandshake::socks5(Target::Ip(ip), 9001, None).unwrap();
        // RFC 1928 §3: VER 5, NMETHODS 1, METHOD 0 (no authentication required).
        assert_eq!(drain(&mut h), [5, 1, 0]);
        assert_eq!(h.handle_input(&[5, 0]).unwrap(), Step::Continue);
        // §4: VER CMD=1 RSV ATYP=1 127.0.0.1 port 9001 (0x2329).
        assert_eq!(drain(&mut h), [5, 1, 0, 1, 127, 0, 0, 1, 0x23, 0x29]);
        // §6: a reply in pieces, then the tunnel's first bytes.
        assert_eq!(h.handle_input(&[5, 0, 0]).unwrap(), Step::Continue);
        assert_eq!(h.handle_input(&[1, 10, 0]).unwrap(), Step::Continue);
        assert_eq!(
            h.handle_input(&[0, 1, 0x04, 0x38, 0xAA, 0xBB]).unwrap(),
            Step::Done { consumed: 4 }
        );
        assert!(h.is_done());
    }

    #[test]
    fn socks5_ipv6_and_name_requests() {
        let mut h = ProxyHandshake::socks5(Target::name("::1"), 443, None).unwrap();
        drain(&mut h);
        h.handle_input(&[5, 0]).unwrap();
        let mut want = vec![5, 1, 0, 4];
        want.extend_from_slice(&[0; 15]);
        want.extend_from_slice(&[1, 1, 0xbb]);
        assert_eq!(drain(&mut h), want);
        // A reply with an IPv6 bound address (ATYP 4), then one with a name (ATYP 3).
        let mut reply = vec![5, 0, 0, 4];
        reply.extend_from_slice(&[0; 18]);
        assert_eq!(h.handle_input(&reply).unwrap(), Step::Done { consumed: 22 });

        let mut h = ProxyHandshake::socks5(Target::name("localhost"), 80, None).unwrap();
        drain(&mut h);
        h.handle_input(&[5, 0]).unwrap();
        assert_eq!(drain(&mut h), b"\x05\x01\x00\x03\x09localhost\x00\x50");
        assert_eq!(
            h.handle_input(b"\x05\x00\x00\x03\x01p\x00\x01").unwrap(),
            Step::Done { consumed: 8 }
        );
    }

    #[test]
    fn rfc1929_username_password() {
        let c = Credentials::new("alice", "s3cret");
        let mut h = ProxyHandshake::socks5(Target::name("10.0.0.1"), 1, Some(&c)).unwrap();
        assert_eq!(drain(&mut h), [5, 2, 0, 2]);
        assert_eq!(h.handle_input(&[5, 2]).unwrap(), Step::Continue);
        assert_eq!(drain(&mut h), b"\x01\x05alice\x06s3cret");
        // Status 1: refused.
        assert_eq!(
            h.handle_input(&[1, 1]),
            Err(ProxyError::Socks5AuthRejected(1))
        );
        // The proxy may skip authentication when offered none-or-password.
        let mut h = ProxyHandshake::socks5(Target::name("10.0.0.1"), 1, Some(&c)).unwrap();
        drain(&mut h);
        h.handle_input(&[5, 0]).unwrap();
        assert_eq!(drain(&mut h), [5, 1, 0, 1, 10, 0, 0, 1, 0, 1]);
        // A proxy that closes after the credentials refused them.
        let mut h = ProxyHandshake::socks5(Target::name("10.0.0.1"), 1, Some(&c)).unwrap();
        h.handle_input(&[5, 2]).unwrap();
        assert_eq!(h.handle_eof(), ProxyError::Closed(Stage::Socks5Auth));
    }

    #[test]
    fn socks5_bad_answers_are_errors() {
        let t = || Target::name("h");
        let mut h = ProxyHandshake::socks5(t(), 1, None).unwrap();
        assert_eq!(
            h.handle_input(b"HTTP/1.1 400"),
            Err(ProxyError::Socks5Version(b'H'))
        );
        let mut h = ProxyHandshake::socks5(t(), 1, None).unwrap();
        let e = h.handle_input(&[5, 0xff]).unwrap_err();
        assert_eq!(
            e,
            ProxyError::Socks5NoAcceptableMethod {
                offered_password: false
            }
        );
        assert!(e.to_string().contains("user:password@"));
        let mut h = ProxyHandshake::socks5(t(), 1, None).unwrap();
        assert_eq!(
            h.handle_input(&[5, 2]),
            Err(ProxyError::Socks5UnexpectedMethod(2))
        );
        let mut h = ProxyHandshake::socks5(t(), 1, None).unwrap();
        h.handle_input(&[5, 0]).unwrap();
        let e = h.handle_input(&[5, 5, 0, 1]).unwrap_err();
        assert_eq!(e, ProxyError::Socks5Reply(ReplyCode(5)));
        assert_eq!(
            e.to_string(),
            "the SOCKS5 proxy could not connect: connection refused (5)"
        );
        let mut h = ProxyHandshake::socks5(t(), 1, None).unwrap();
        h.handle_input(&[5, 0]).unwrap();
        assert_eq!(
            h.handle_input(&[5, 0, 0, 9]),
            Err(ProxyError::Socks5AddressType(9))
        );
        let mut h = ProxyHandshake::socks5(t(), 1, None).unwrap();
        assert_eq!(h.handle_eof(), ProxyError::Closed(Stage::Socks5Method));
        let long = "x".repeat(256);
        assert_eq!(
            ProxyHandshake::socks5(Target::Name(long.clone()), 1, None).unwrap_err(),
            ProxyError::TooLong("host name")
        );
        let c = Credentials::new("u", &long);
        assert_eq!(
            ProxyHandshake::socks5(t(), 1, Some(&c)).unwrap_err(),
            ProxyError::TooLong("password")
        );
        for (code, name) in [(1, "general SOCKS server failure"), (4, "host unreachable")] {
            assert_eq!(ReplyCode(code).name(), name);
        }
    }

    #[test]
    fn http_connect_answers() {
        let mut h = ProxyHandshake::http_connect("::1", 8080, None).unwrap();
        assert_eq!(
            drain(&mut h),
            b"CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"
        );
        // In pieces, an interim 100 first, then bytes of the tunnel.
        assert_eq!(
            h.handle_input(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r")
                .unwrap(),
            Step::Continue
        );
        assert_eq!(
            h.handle_input(b"\nVia: x\r\n\r\n\x16\x03").unwrap(),
            Step::Done { consumed: 11 }
        );
        // A refusal without Content-Length: the body is what came before the end.
        let mut h = ProxyHandshake::http_connect("h", 1, None).unwrap();
        assert_eq!(
            h.handle_input(b"HTTP/1.1 403 Forbidden\r\n\r\nnot you\n")
                .unwrap(),
            Step::Continue
        );
        let e = h.handle_eof();
        assert_eq!(
            e.to_string(),
            "the proxy refused the tunnel: HTTP 403 Forbidden: not you"
        );
        // An HTML page is one line in the message; the body keeps it all.
        let mut h = ProxyHandshake::http_connect("h", 1, None).unwrap();
        let page =
            "<html>\n<head><title>407 Auth</title></head>\n<body>\n<p>Log  in.</p></body></html>";
        let answer = alloc::format!("HTTP/1.0 407 Proxy Authentication Required\r\n\r\n{page}");
        h.handle_input(answer.as_bytes()).unwrap();
        let e = h.handle_eof();
        assert_eq!(
            e.to_string(),
            "the proxy refused the tunnel: HTTP 407 Proxy Authentication Required: 407 Auth Log in."
        );
        assert!(matches!(e, ProxyError::Refused { body, .. } if body == page));
        // A large body is cut at the bound.
        let mut h = ProxyHandshake::http_connect("h", 1, None).unwrap();
        let mut answer = b"HTTP/1.1 502 Bad Gateway\r\n\r\n".to_vec();
        answer.extend(core::iter::repeat_n(b'a', 10_000));
        match h.handle_input(&answer) {
            Err(ProxyError::Refused {
                status: 502, body, ..
            }) => {
                assert_eq!(body.len(), MAX_REFUSAL_BODY)
            }
            other => panic!("{other:?}"),
        }
        // Not HTTP; a head that never ends; the proxy gone.
        let mut h = ProxyHandshake::http_connect("h", 1, None).unwrap();
        assert_eq!(
            h.handle_input(b"\x05\x00garbage\r\n\r\n"),
            Err(ProxyError::BadResponse)
        );
        let mut h = ProxyHandshake::http_connect("h", 1, None).unwrap();
        let endless = vec![b'a'; MAX_RESPONSE_HEAD + 1];
        assert_eq!(h.handle_input(&endless), Err(ProxyError::HeadTooLarge));
        let mut h = ProxyHandshake::http_connect("h", 1, None).unwrap();
        assert_eq!(h.handle_eof(), ProxyError::Closed(Stage::HttpResponse));
        assert_eq!(
            ProxyHandshake::http_connect("a b", 1, None).unwrap_err(),
            ProxyError::InvalidHost
        );
        // Output written in parts.
        let mut h = ProxyHandshake::http_connect("h", 1, None).unwrap();
        h.advance_output(3);
        assert!(h.pending_output().starts_with(b"NECT h:1"));
    }
}
