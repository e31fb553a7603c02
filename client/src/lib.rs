//! # wisp-client
//!
//! A blocking `std::net` WebSocket client around [`wisp_codec`]: [`connect`] a
//! `ws://` URL, then [`Client::send_text`], [`Client::send_binary`],
//! [`Client::receive`], [`Client::ping`] and [`Client::close`]. Masks and the handshake
//! nonce come from the operating system's random source (`getrandom`), as RFC 6455
//! §5.3 and §4.1 require. The IO loop is the codec's [`wisp_codec::blocking`] driver,
//! over the codec's IO adapter (`Connection::read_from`, `write_to`), which
//! wisp-server's event loops use too.
//!
//! `wss://` runs over rustls (ring provider), trusting Mozilla's roots
//! (`webpki-roots`), the CA file of [`Options::ca`], or your own `rustls::ClientConfig`
//! ([`Options::tls`]). A certificate that is not trusted or not for the host is an
//! [`Error::Tls`].
//!
//! ```no_run
//! use wisp_client::{connect, CloseCode, Message};
//! let mut client = connect("ws://127.0.0.1:9001/echo")?;
//! client.send_text("hello")?;
//! assert_eq!(client.receive()?, Message::Text("hello".into()));
//! client.close(CloseCode::NORMAL, "bye")?;
//! # Ok::<(), wisp_client::Error>(())
//! ```
//!
//! ## Headers and timeouts
//! [`Options`] adds request headers (`Authorization`, `Cookie`...), read and write
//! timeouts and the wait for the server's close. A timeout is [`Error::Timeout`]
//! ([`Error::is_timeout`]), never a failure: nothing is lost, and the same call can be
//! made again.
//!
//! ```no_run
//! use std::time::Duration;
//! use wisp_client::{connect_with, CloseCode, Error, Options};
//! let options = Options {
//!     headers: vec![("Authorization".into(), "Bearer s3cret".into())],
//!     read_timeout: Some(Duration::from_millis(500)),
//!     ..Options::default()
//! };
//! let mut client = connect_with("ws://127.0.0.1:9001/feed", &options)?;
//! loop {
//!     match client.receive() {
//!         Ok(message) => println!("{message:?}"),
//!         Err(Error::Timeout) => println!("nothing for 500 ms"), // still connected
//!         Err(Error::Closed) => break,
//!         Err(e) => return Err(e),
//!     }
//! }
//! client.close(CloseCode::NORMAL, "")?;
//! # Ok::<(), wisp_client::Error>(())
//! ```

//!
//! ## Proxies and staying connected
//! [`Options::proxy`] goes through an HTTP `CONNECT` proxy or SOCKS5 ([`ProxyUrl`],
//! `socks5h://` for DNS on the proxy), or the proxy the environment names
//! ([`Proxy::FromEnv`], as curl reads it); `wss://` runs TLS inside the tunnel. The
//! handshakes are the codec's sans-IO [`wisp_codec::proxy`]. [`Reconnecting`] keeps a
//! connection up with exponential backoff and jitter ([`Backoff`]) and says when it
//! reconnected.
//!
//! ## Over HTTP/2
//! With feature `http2` (on with the default `cli`), `Options::http2` opens the socket as
//! an extended CONNECT on an HTTP/2 stream (RFC 8441): h2 with ALPN for `wss://`, h2c by
//! prior knowledge for `ws://`, falling back to the HTTP/1.1 upgrade (`Http2::Prefer`) or
//! not (`Http2::Only`). The client stays blocking: the HTTP/2 connection runs on a
//! single-threaded tokio runtime in a thread of the client's own (module `http2`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wisp_codec::blocking::{self, WebSocket};
use wisp_codec::extension::DeflateOffer;
use wisp_codec::handshake::{ClientRequest, ResponseError, DEFAULT_MAX_HEAD};
pub use wisp_codec::{CloseCode, CloseFrame, Config, Message, WireFrame};
use wisp_codec::{Connection, ProtocolError, State, UsageError};

mod proxy;
pub use proxy::{
    no_proxy_matches, proxy_from_env, Credentials, Proxy, ProxyError, ProxyKind, ProxyUrl,
};
mod reconnect;
pub use reconnect::{is_retryable, Backoff, Event, Reconnecting};
mod split;
pub use split::{Reader, Writer};
#[cfg(feature = "http2")]
pub mod http2;
mod tls;
use tls::Stream;
pub use tls::TlsError;

/// The most bytes of a refusal's body kept for [`Error::Refused`].
const REFUSAL_BODY_MAX: usize = 4096;

/// Everything that can go wrong with a client.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `ws://` or `wss://host[:port][/path]` (or a proxy URL is not
    /// `http://`, `socks5://` or `socks5h://host[:port]`).
    InvalidUrl(UrlError),
    /// `wss://`: the TLS handshake failed (a certificate not trusted, or not for this
    /// host; the server's alert) or a certificate or key file is unusable.
    Tls(TlsError),
    /// The host name could not be resolved (no such name, no DNS).
    Dns {
        /// The name.
        host: String,
        /// The resolver's error.
        error: io::Error,
    },
    /// The TCP connection could not be made (refused, unreachable...): to whom, why.
    Connect(String, io::Error),
    /// The proxy did not open the tunnel (its refusal with status and body, a SOCKS5
    /// reply code, the connection closed), or closed it before the WebSocket
    /// handshake.
    Proxy(ProxyError),
    /// The server answered the opening handshake with an HTTP status other than 101.
    Refused {
        /// The status code, e.g. 404 or 503.
        status: u16,
        /// The start of the response body, which usually says why (at most 4 KiB,
        /// lossily decoded, trimmed).
        body: String,
    },
    /// The server botched the opening handshake.
    Handshake(ResponseError),
    /// A read or write timeout passed ([`Options::read_timeout`],
    /// [`Options::write_timeout`]): not a failure. Nothing is lost and the connection
    /// goes on: call again. After a write timeout the message is queued and the rest
    /// of it goes out with the next call (or [`Client::flush`]).
    Timeout,
    /// A request header in [`Options::headers`] that cannot be sent: `name: why`.
    InvalidHeader(String),
    /// The connection failed while in use.
    Io(io::Error),
    /// The server broke RFC 6455; a close with the error's code was sent.
    Protocol(ProtocolError),
    /// Local misuse, e.g. sending after close.
    Usage(UsageError),
    /// The closing handshake is over: no more messages.
    Closed,
    /// The OS random source failed.
    Random(getrandom::Error),
    /// [`Options::http2`]: the server cannot take the socket on an HTTP/2 stream, and
    /// why ([`Http2::Only`](http2::Http2::Only); [`Http2::Prefer`](http2::Http2::Prefer)
    /// upgrades over HTTP/1.1 instead). Feature `http2`.
    #[cfg(feature = "http2")]
    NoExtendedConnect(http2::NoExtendedConnect),
    /// The HTTP/2 connection or stream failed while the socket was being opened
    /// (feature `http2`).
    #[cfg(feature = "http2")]
    Http2(h2::Error),
}

/// What is wrong with a URL ([`Error::InvalidUrl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub kind: UrlErrorKind,
}

/// The ways a URL can be wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlErrorKind {
    /// No `scheme://`.
    NoScheme,
    /// A scheme other than `ws` or `wss`.
    Scheme(String),
    /// A proxy scheme other than `http`, `socks5` or `socks5h`.
    ProxyScheme(String),
    /// No host.
    NoHost,
    /// A port that is not a number from 1 to 65535.
    Port(String),
    /// `user@` in a WebSocket URL.
    UserInfo,
    /// `[` without `]`.
    UnclosedBracket,
}

impl UrlError {
    fn new(url: &str, kind: UrlErrorKind) -> UrlError {
        UrlError {
            url: url.to_string(),
            kind,
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        match &self.kind {
            UrlErrorKind::NoScheme => write!(f, "{url:?} has no scheme (ws://host/path)"),
            UrlErrorKind::Scheme(s) => {
                write!(f, "scheme {s:?} is not ws:// or wss:// (in {url:?})")
            }
            UrlErrorKind::ProxyScheme(s) => write!(
                f,
                "proxy scheme {s:?} is not http://, socks5:// or socks5h:// (in {url:?})"
            ),
            UrlErrorKind::NoHost => write!(f, "{url:?} has no host"),
            UrlErrorKind::Port(p) => write!(f, "invalid port {p:?} in {url:?}"),
            UrlErrorKind::UserInfo => f.write_str("user info in the URL is not supported"),
            UrlErrorKind::UnclosedBracket => write!(f, "unclosed [ in {url:?}"),
        }
    }
}

impl std::error::Error for UrlError {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Error::Tls(why) => write!(f, "TLS: {why}"),
            Error::Dns { host, error } => {
                write!(f, "cannot resolve the host name {host:?}: {error}")
            }
            Error::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            Error::Proxy(e) => write!(f, "proxy: {e}"),
            Error::Refused { status, body } if body.is_empty() => {
                write!(f, "handshake refused: the server answered HTTP {status}")
            }
            Error::Refused { status, body } => {
                write!(
                    f,
                    "handshake refused: the server answered HTTP {status}: {body}"
                )
            }
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Timeout => f.write_str("timed out (the connection goes on)"),
            Error::InvalidHeader(why) => write!(f, "invalid request header: {why}"),
            Error::Io(e) => write!(f, "connection failed: {e}"),
            Error::Protocol(e) => {
                write!(f, "the server broke the protocol ({}): {e}", e.close_code())
            }
            Error::Usage(e) => write!(f, "{e}"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Random(e) => write!(f, "random source failed: {e}"),
            #[cfg(feature = "http2")]
            Error::NoExtendedConnect(why) => {
                write!(f, "no WebSocket over HTTP/2 (RFC 8441) here: {why}")
            }
            #[cfg(feature = "http2")]
            Error::Http2(e) => write!(f, "HTTP/2: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::InvalidUrl(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Dns { error, .. } => Some(error),
            Error::Connect(_, e) | Error::Io(e) => Some(e),
            Error::Proxy(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Usage(e) => Some(e),
            Error::Random(e) => Some(e),
            #[cfg(feature = "http2")]
            Error::NoExtendedConnect(e) => Some(e),
            #[cfg(feature = "http2")]
            Error::Http2(e) => Some(e),
            Error::Refused { .. } | Error::Timeout | Error::InvalidHeader(_) | Error::Closed => {
                None
            }
        }
    }
}

impl Error {
    /// True for [`Error::Timeout`]: a read or write timeout, after which the client
    /// keeps working.
    ///
    /// ```
    /// assert!(wisp_client::Error::Timeout.is_timeout());
    /// assert!(!wisp_client::Error::Closed.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }
}

impl From<blocking::Error> for Error {
    fn from(e: blocking::Error) -> Self {
        match e {
            e if e.is_timeout() => Error::Timeout,
            blocking::Error::Io(e) => Error::Io(e),
            blocking::Error::Protocol(e) => Error::Protocol(e),
            blocking::Error::Usage(e) => Error::Usage(e),
            blocking::Error::Closed => Error::Closed,
            other => Error::Io(io::Error::other(other.to_string())),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if blocking::is_timeout(&e) {
            return Error::Timeout;
        }
        Error::Io(e)
    }
}

/// The parts of a `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host name or address, without brackets for IPv6.
    pub host: String,
    /// Port (80 when a `ws://` URL has none, 443 for `wss://`).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// The `Host` header value: host, plus `:port` when not the scheme's default.
    pub authority: String,
    /// `wss://`: TLS.
    pub tls: bool,
}

/// Parses a `ws://` or `wss://host[:port][/path][?query]` URL.
///
/// ```
/// use wisp_client::{parse_url, Error, UrlErrorKind};
/// let u = parse_url("ws://127.0.0.1:9001/echo?x=1").unwrap();
/// assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("127.0.0.1", 9001, "/echo?x=1"));
/// assert_eq!(parse_url("ws://example.com").unwrap().path, "/");
/// assert_eq!(parse_url("wss://example.com/").unwrap().port, 443);
/// assert!(matches!(parse_url("ws:///echo"), Err(Error::InvalidUrl(_))));
/// let Err(Error::InvalidUrl(e)) = parse_url("http://x/") else { panic!() };
/// assert_eq!(e.kind, UrlErrorKind::Scheme("http".into()));
/// ```
pub fn parse_url(url: &str) -> Result<Url, Error> {
    let bad = |kind| Error::InvalidUrl(UrlError::new(url, kind));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad(UrlErrorKind::NoScheme))?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "ws" => false,
        "wss" => true,
        other => return Err(bad(UrlErrorKind::Scheme(other.to_string()))),
    };
    let default_port = if tls { 443 } else { 80 };
    let rest = rest.split('#').next().unwrap_or("");
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if authority.contains('@') {
        return Err(bad(UrlErrorKind::UserInfo));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad(UrlErrorKind::UnclosedBracket))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad(UrlErrorKind::NoHost));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(UrlErrorKind::Port(p.to_string())))?,
    };
    let host_part = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let authority = if port == default_port {
        host_part
    } else {
        format!("{host_part}:{port}")
    };
    Ok(Url {
        host: host.to_string(),
        port,
        path,
        authority,
        tls,
    })
}

/// Options for [`connect_with`].
///
/// The wait for the server's close after ours ([`Client::close`]) is
/// `config.close_timeout` (5 s by default; [`Client::set_close_timeout`] changes it
/// later).
#[derive(Debug, Clone)]
pub struct Options {
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// An `Origin` header to send.
    pub origin: Option<String>,
    /// Codec limits; `record_frames` keeps the raw bytes of every frame for
    /// [`Client::poll_wire_frame`] (used by `--show-frames`).
    pub config: Config,
    /// Time allowed for the TCP connection and the opening handshake.
    pub connect_timeout: Duration,
    /// Which permessage-deflate (RFC 7692) to offer: [`DeflateMode::Takeover`] by
    /// default, [`DeflateMode::Shared`] or [`DeflateMode::Off`]. Either offer accepts
    /// either answer the RFC allows (a server may add `client_no_context_takeover`).
    pub deflate: DeflateMode,
    /// Request headers of your own (`Authorization`, `Cookie`...), sent after the
    /// handshake's, in order. A name or value that cannot be sent as it is, or a header
    /// the handshake sets itself (`Host`, `Sec-WebSocket-*`...), is
    /// [`Error::InvalidHeader`].
    pub headers: Vec<(String, String)>,
    /// How long [`Client::receive`] waits before [`Error::Timeout`] (`None`: forever,
    /// the default). [`Client::set_read_timeout`] changes it later.
    pub read_timeout: Option<Duration>,
    /// How long a send may wait for the socket before [`Error::Timeout`] (`None`:
    /// forever, the default).
    pub write_timeout: Option<Duration>,
    /// `wss://`: trust only the CA certificates in this PEM file (a private CA), not
    /// Mozilla's roots.
    pub ca: Option<PathBuf>,
    /// `wss://`: trust exactly this certificate (PEM) as the server's, whatever its
    /// issuer, name or `CA:TRUE` (a self-signed certificate made by `openssl req
    /// -x509`); signatures are still checked. Takes precedence over `ca`.
    pub pin_cert: Option<PathBuf>,
    /// `wss://`: a client certificate for mutual TLS: the PEM certificate chain and
    /// the PEM private key.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `wss://`: a rustls configuration of your own (trust, client certificates,
    /// versions); it takes precedence over `ca`, `pin_cert` and `client_cert`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Through a proxy: [`Proxy::Direct`] by default; [`Proxy::FromEnv`] reads
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl does.
    ///
    /// ```no_run
    /// use wisp_client::{connect_with, Options, Proxy, ProxyUrl};
    /// let options = Options {
    ///     proxy: Proxy::Url(ProxyUrl::parse("socks5h://user:pass@127.0.0.1:1080")?),
    ///     ..Options::default()
    /// };
    /// let client = connect_with("wss://example.com/feed", &options)?;
    /// # Ok::<(), wisp_client::Error>(())
    /// ```
    pub proxy: Proxy,
    /// Open the socket as an extended CONNECT on an HTTP/2 stream (RFC 8441) when the
    /// server advertises it: h2 over TLS with ALPN for `wss://`, h2c by prior knowledge
    /// for `ws://` (feature `http2`; default [`Http2::Never`](http2::Http2::Never)). The
    /// client works the same either way (see [`http2`] for how).
    ///
    /// ```no_run
    /// use wisp_client::{connect_with, http2::Http2, Options};
    /// let options = Options { http2: Http2::Prefer, ..Options::default() };
    /// let client = connect_with("wss://example.com/chat", &options)?;
    /// println!("HTTP/2 stream: {:?}", client.http2_stream());
    /// # Ok::<(), wisp_client::Error>(())
    /// ```
    #[cfg(feature = "http2")]
    pub http2: http2::Http2,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            protocols: Vec::new(),
            origin: None,
            config: Config::default(),
            connect_timeout: Duration::from_secs(10),
            deflate: DeflateMode::Takeover,
            headers: Vec::new(),
            read_timeout: None,
            write_timeout: None,
            ca: None,
            pin_cert: None,
            client_cert: None,
            tls: None,
            proxy: Proxy::Direct,
            #[cfg(feature = "http2")]
            http2: http2::Http2::Never,
        }
    }
}

/// Masking keys from the OS random source, drawn 64 at a time.
struct Masks {
    buf: [u8; 256],
    used: usize,
}

impl Masks {
    fn next(&mut self) -> [u8; 4] {
        if self.used == self.buf.len() {
            if getrandom::fill(&mut self.buf).is_err() {
                // getrandom only fails if the OS has no random source at all; never
                // fall back to a predictable key silently: abort this process.
                std::process::abort();
            }
            self.used = 0;
        }
        let k = [
            self.buf[self.used],
            self.buf[self.used + 1],
            self.buf[self.used + 2],
            self.buf[self.used + 3],
        ];
        self.used += 4;
        k
    }
}

/// A connected WebSocket client.
pub struct Client {
    ws: WebSocket<Stream>,
    protocol: Option<String>,
    /// The epoch of the codec's clock (see [`Connection::handle_timeout`]).
    epoch: Instant,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("protocol", &self.protocol)
            .field("state", &self.ws.connection().state())
            .finish_non_exhaustive()
    }
}

/// Connects to a `ws://` or `wss://` URL with the default [`Options`].
pub fn connect(url: &str) -> Result<Client, Error> {
    connect_with(url, &Options::default())
}

/// Resolves `host:port`; a failure is [`Error::Dns`].
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, Error> {
    (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|error| Error::Dns {
            host: host.to_string(),
            error,
        })
}

pub(crate) fn no_address(host: &str) -> Error {
    Error::Dns {
        host: host.to_string(),
        error: io::Error::new(io::ErrorKind::NotFound, "no address for the host"),
    }
}

/// Resolves and connects, trying each address; `who` prefixes the address in
/// [`Error::Connect`] ("the proxy ").
pub(crate) fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Duration,
    who: &str,
) -> Result<TcpStream, Error> {
    let target = if host.contains(':') {
        format!("{who}[{host}]:{port}")
    } else {
        format!("{who}{host}:{port}")
    };
    let addrs = resolve(host, port)?;
    let mut last = match addrs.is_empty() {
        true => return Err(no_address(host)),
        false => io::Error::new(io::ErrorKind::NotFound, "no address for the host"),
    };
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(Error::Connect(target, last))
}

/// Connects to a `ws://` or `wss://` URL (through [`Options::proxy`]) and completes
/// the TLS handshake (for `wss://`, inside the tunnel) and the opening handshake
/// (RFC 6455 §4.1).
pub fn connect_with(url: &str, options: &Options) -> Result<Client, Error> {
    let url = parse_url(url)?;
    // A bad CA file or proxy URL is said before anything connects.
    let tls = match (&options.tls, url.tls) {
        (_, false) => None,
        (Some(c), true) => Some(Arc::clone(c)),
        (None, true) => Some(
            tls::client_config(
                options.ca.as_deref(),
                options.pin_cert.as_deref(),
                options.client_cert.as_ref(),
            )
            .map_err(Error::Tls)?,
        ),
    };
    let proxy = options.proxy.for_url(&url)?;
    #[cfg(feature = "http2")]
    if options.http2 != http2::Http2::Never {
        match connect_http2(&url, options, tls.clone(), proxy.as_ref()) {
            // Prefer: the HTTP/1.1 upgrade on a new connection.
            Err(Error::NoExtendedConnect(_)) if options.http2 == http2::Http2::Prefer => {}
            r => return r,
        }
    }
    let (stream, early) = open_tcp(&url, options, proxy.as_ref())?;
    let proxied = proxy.is_some();
    // The proxy closed the tunnel: say so, not "end of file"; a TLS alert during the
    // WebSocket handshake (a client certificate refused after TLS 1.3's handshake) is
    // a TLS error.
    let tunnel = |e: Error| match e {
        Error::Io(io) if proxied && io.kind() == io::ErrorKind::UnexpectedEof => {
            Error::Proxy(ProxyError::Closed(wisp_codec::proxy::Stage::Tunnel))
        }
        // A server that requires a client certificate may end TLS 1.3 without an alert:
        // a clean close, or a reset when our request was still unread.
        Error::Io(io)
            if url.tls
                && options.client_cert.is_none()
                && options.tls.is_none()
                && matches!(
                    io.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ) =>
        {
            Error::Io(io::Error::new(
                io.kind(),
                "the server closed the connection right after the TLS handshake \
                 (does it want a client certificate? --cert FILE --key FILE)",
            ))
        }
        Error::Io(io) => tls_error(&url.host, io),
        e => e,
    };
    let (mut stream, early) = match tls {
        Some(config) => (
            tls_stream(stream, config, &url.host, options.connect_timeout, early)
                .map_err(tunnel)?,
            Vec::new(),
        ),
        None => (Stream::Plain(stream), early),
    };
    handshake(&url, options, &mut stream, early)
        .map_err(tunnel)
        .map(|(conn, protocol)| Client {
            ws: WebSocket::new(stream, conn),
            protocol,
            epoch: Instant::now(),
        })
}

/// TCP to the server of `url`, or the tunnel of `proxy` to it, within the connect
/// timeout; with the bytes read past the proxy's answer.
fn open_tcp(
    url: &Url,
    options: &Options,
    proxy: Option<&ProxyUrl>,
) -> Result<(TcpStream, Vec<u8>), Error> {
    match proxy {
        Some(p) => proxy::open_tunnel(p, url, options.connect_timeout),
        None => Ok((
            connect_tcp(&url.host, url.port, options.connect_timeout, "")?,
            Vec::new(),
        )),
    }
}

/// An IO error that holds a `rustls::Error` as [`Error::Tls`] for `host`, others as
/// [`Error::Io`].
fn tls_error(host: &str, e: io::Error) -> Error {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(t) => Error::Tls(TlsError::Handshake {
            host: host.to_string(),
            error: t.clone(),
        }),
        None => Error::Io(e),
    }
}

/// [`connect_with`] over an HTTP/2 stream ([`http2`]): the same TCP connection or
/// tunnel, then TLS with ALPN `h2` or h2c, and an extended CONNECT.
#[cfg(feature = "http2")]
fn connect_http2(
    url: &Url,
    options: &Options,
    tls: Option<Arc<rustls::ClientConfig>>,
    proxy: Option<&ProxyUrl>,
) -> Result<Client, Error> {
    let req = request_for(url, options)?;
    let (tcp, early) = open_tcp(url, options, proxy)?;
    let (bridged, accepted) = http2::connect(url, options, tcp, early, tls, req)?;
    let conn = client_connection(options, accepted.deflate, &[]);
    Ok(Client {
        ws: WebSocket::new(Stream::Http2(bridged), conn),
        protocol: accepted.protocol,
        epoch: Instant::now(),
    })
}

/// The opening request of `options` for `url`, keyed by a nonce from the OS.
fn request_for(url: &Url, options: &Options) -> Result<ClientRequest, Error> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(Error::Random)?;
    opening_request(
        &url.authority,
        &url.path,
        nonce,
        &options.protocols,
        options.origin.as_deref(),
        &options.headers,
        options.deflate,
    )
    .map_err(Error::InvalidHeader)
}

/// The client's connection once the server accepted: masks from the OS, the deflate
/// agreed, and the bytes that came after the handshake.
fn client_connection(
    options: &Options,
    deflate: Option<wisp_codec::extension::DeflateParams>,
    early: &[u8],
) -> Connection {
    let mut masks = Masks {
        buf: [0; 256],
        used: 256,
    };
    let mut conn = Connection::client(options.config, move || masks.next());
    if let Some(params) = deflate {
        conn.set_deflate(params);
    }
    conn.handle_input(early);
    conn
}

/// The opening handshake's request (RFC 6455 §4.1) for `authority` and `path`, with
/// the subprotocols, `Origin`, extra headers and permessage-deflate offer a client asks
/// for: the one builder of wisp-client and wisp-tokio. A header that may not be sent is
/// `Err`, naming it and why.
///
/// ```
/// use wisp_client::DeflateMode;
/// let req = wisp_client::opening_request("h", "/chat", [7; 16], &["v1".into()], None, &[], DeflateMode::Takeover)?;
/// let text = String::from_utf8(req.to_bytes()).unwrap();
/// assert!(text.contains("Sec-WebSocket-Protocol: v1\r\n"));
/// assert!(text.contains("permessage-deflate; client_max_window_bits"));
/// let bad = wisp_client::opening_request("h", "/", [7; 16], &[], None, &[("Upgrade".into(), "x".into())], DeflateMode::Off);
/// assert!(bad.unwrap_err().starts_with("Upgrade: "));
/// # Ok::<(), String>(())
/// ```
pub fn opening_request(
    authority: &str,
    path: &str,
    nonce: [u8; 16],
    protocols: &[String],
    origin: Option<&str>,
    headers: &[(String, String)],
    deflate: DeflateMode,
) -> Result<ClientRequest, String> {
    let mut req = ClientRequest::new(authority, path, nonce);
    for p in protocols {
        req = req.protocol(p);
    }
    if let Some(o) = origin {
        req = req.origin(o);
    }
    for (name, value) in headers {
        req = req
            .header(name, value)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    if let Some(offer) = deflate.offer() {
        req = req.deflate(offer);
    }
    Ok(req)
}

/// Which permessage-deflate (RFC 7692) a client offers ([`Options::deflate`]).
///
/// ```
/// use wisp_client::DeflateMode;
/// assert_eq!(DeflateMode::Takeover.offer().unwrap().to_header(), "permessage-deflate; client_max_window_bits");
/// assert_eq!(
///     DeflateMode::Shared.offer().unwrap().to_header(),
///     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"
/// );
/// assert_eq!(DeflateMode::Off.offer(), None);
/// assert_eq!("shared".parse(), Ok(DeflateMode::Shared));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeflateMode {
    /// No offer: nothing is compressed.
    Off,
    /// `permessage-deflate; client_max_window_bits` (the default, a browser's offer):
    /// either side may keep its window across messages (context takeover), the best
    /// ratio; the server may still answer with no takeover either way, as wisp-server's
    /// shared mode does, or limit our window.
    #[default]
    Takeover,
    /// The shared mode: `server_no_context_takeover; client_no_context_takeover`
    /// offered, so no window is kept either way. Compressor and inflater are freed
    /// between messages on both sides (an idle connection holds none: less memory, a
    /// lower ratio on a stream of similar messages).
    Shared,
}

impl DeflateMode {
    /// The offer this mode sends, if any.
    pub fn offer(self) -> Option<DeflateOffer> {
        let takeover_off = match self {
            DeflateMode::Off => return None,
            DeflateMode::Takeover => false,
            DeflateMode::Shared => true,
        };
        Some(DeflateOffer {
            server_no_context_takeover: takeover_off,
            client_no_context_takeover: takeover_off,
            client_max_window_bits: Some(None),
            ..DeflateOffer::default()
        })
    }
}

impl std::str::FromStr for DeflateMode {
    type Err = String;

    /// `off`, `takeover` or `shared`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(DeflateMode::Off),
            "takeover" => Ok(DeflateMode::Takeover),
            "shared" => Ok(DeflateMode::Shared),
            _ => Err(format!("{s:?}: expected off, takeover or shared")),
        }
    }
}

/// The opening handshake over `stream`; `early` holds bytes already read.
fn handshake(
    url: &Url,
    options: &Options,
    stream: &mut Stream,
    early: Vec<u8>,
) -> Result<(Connection, Option<String>), Error> {
    let req = request_for(url, options)?;
    let deadline = Instant::now() + options.connect_timeout;
    stream.set_write_timeout(Some(options.connect_timeout))?;
    // A timeout here fails the connection: it is not Error::Timeout.
    stream.write_all(&req.to_bytes()).map_err(Error::Io)?;
    let mut buf = early;
    let mut chunk = [0u8; 4096];
    let (accepted, n) = loop {
        if !buf.is_empty() {
            match req.parse_response(&buf, DEFAULT_MAX_HEAD) {
                Ok(Some(done)) => break done,
                Ok(None) => {}
                Err(ResponseError::NotSwitchingProtocols(status)) => {
                    let body = refusal_body(stream, buf, deadline);
                    return Err(Error::Refused { status, body });
                }
                Err(e) => return Err(Error::Handshake(e)),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "no handshake response in time",
            )));
        }
        stream.set_read_timeout(Some(left))?;
        let k = match stream.read(&mut chunk) {
            Ok(k) => k,
            Err(e) if blocking::is_timeout(&e) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        };
        if k == 0 {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection during the handshake",
            )));
        }
        buf.extend_from_slice(&chunk[..k]);
    };
    stream.set_read_timeout(options.read_timeout)?;
    stream.set_write_timeout(options.write_timeout)?;
    let conn = client_connection(options, accepted.deflate, &buf[n..]);
    Ok((conn, accepted.protocol))
}

/// TLS over `tcp` for `host`, the handshake done within the connect timeout.
fn tls_stream(
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
    host: &str,
    timeout: Duration,
    early: Vec<u8>,
) -> Result<Stream, Error> {
    let layer = tls::TlsLayer::new(config, host).map_err(Error::Tls)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    Stream::tls(tcp, layer, early).map_err(|e| tls_error(host, e))
}

/// Reads what the server says about a refusal: the body after the head in `buf`, up
/// to its `Content-Length` (or the end of the connection), [`REFUSAL_BODY_MAX`] bytes
/// and the handshake deadline at most. Never fails: a body it cannot read is empty.
fn refusal_body(stream: &mut Stream, mut buf: Vec<u8>, deadline: Instant) -> String {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return String::new();
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let want = length.unwrap_or(REFUSAL_BODY_MAX).min(REFUSAL_BODY_MAX);
    buf.drain(..end + 4);
    let mut chunk = [0u8; 1024];
    while buf.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    buf.truncate(want);
    String::from_utf8_lossy(&buf).trim().to_string()
}

impl Client {
    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The HTTP/2 stream that carries the socket ([`Options::http2`]), or `None` for an
    /// HTTP/1.1 upgrade (feature `http2`).
    #[cfg(feature = "http2")]
    pub fn http2_stream(&self) -> Option<u32> {
        match self.ws.get_ref() {
            Stream::Http2(b) => Some(b.stream_id()),
            _ => None,
        }
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    pub fn deflate(&self) -> Option<wisp_codec::extension::DeflateParams> {
        self.ws.connection().deflate_params()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        Ok(self.ws.send_text(text)?)
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        Ok(self.ws.send_binary(data)?)
    }

    /// Sends a message it takes by value: a large payload is masked in place and
    /// written without a copy (pings, pongs and closes go as their own methods would).
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        Ok(self.ws.send(message)?)
    }

    /// Sends a ping with up to 125 bytes of payload; its pong arrives through
    /// [`receive`](Client::receive).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        Ok(self.ws.send_ping(payload)?)
    }

    /// Sends one frame of a fragmented message (see
    /// [`Connection::send_frame`](wisp_codec::Connection::send_frame)) and writes it.
    pub fn send_frame(
        &mut self,
        opcode: wisp_codec::OpCode,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.ws
            .connection_mut()
            .send_frame(opcode, fin, payload)
            .map_err(Error::Usage)?;
        Ok(self.ws.flush()?)
    }

    /// The next message (pings are answered automatically and also returned). After
    /// the server's close: [`Error::Closed`].
    pub fn receive(&mut self) -> Result<Message, Error> {
        Ok(self.ws.read_message()?)
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes) and
    /// waits (up to [`Config::close_timeout`], 5 s by default, see
    /// [`set_close_timeout`](Client::set_close_timeout)) for the server's close.
    /// Returns the server's close frame (`None` if it had no code). Messages that
    /// arrive meanwhile are dropped.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<Option<CloseFrame>, Error> {
        if self.ws.connection().close_sent().is_none()
            && self.ws.connection().state() == State::Open
        {
            self.ws.close(code, reason)?;
        }
        self.finish_close()
    }

    /// Sends a close with `code` and `reason` without waiting for the answer: keep
    /// calling [`receive`](Client::receive) for the messages still in flight, until
    /// [`Error::Closed`].
    pub fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        Ok(self.ws.close(code, reason)?)
    }

    /// How long [`close`](Client::close) and [`finish_close`](Client::finish_close)
    /// wait for the server's close once ours is written (`None`: as long as a read
    /// waits).
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.ws.connection_mut().set_close_timeout(timeout);
    }

    /// Writes what a send left unwritten after [`Error::Timeout`].
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(self.ws.flush()?)
    }

    /// Waits for the server's close frame after ours was sent, as long as the codec's
    /// close timer allows ([`Config::close_timeout`]), then closes TCP. Returns the
    /// server's close frame.
    pub fn finish_close(&mut self) -> Result<Option<CloseFrame>, Error> {
        loop {
            self.ws
                .connection_mut()
                .handle_timeout(self.epoch.elapsed());
            let conn = self.ws.connection();
            if let Some(f) = conn.close_received() {
                let f = f.cloned();
                self.ws.get_mut().shutdown();
                return Ok(f);
            }
            if conn.state() == State::Closed {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no close frame from the server in time",
                )));
            }
            // `None`: no timer runs, so wait as long as a blocking read does.
            let wait = conn.poll_timeout().map(|at| {
                at.saturating_sub(self.epoch.elapsed())
                    .max(Duration::from_millis(1))
            });
            self.ws.get_ref().set_read_timeout(wait)?;
            match self.ws.read_message() {
                Ok(_) | Err(blocking::Error::Closed) => {}
                Err(blocking::Error::Io(e)) if blocking::is_timeout(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The close frame the server sent: `None` if none came yet, `Some(None)` for one
    /// without a code.
    pub fn close_received(&self) -> Option<Option<&CloseFrame>> {
        self.ws.connection().close_received()
    }

    /// The next recorded frame (raw wire bytes, in or out) when
    /// [`Options::config`]`.record_frames` is on.
    pub fn poll_wire_frame(&mut self) -> Option<WireFrame> {
        self.ws.connection_mut().poll_wire_frame()
    }

    /// Sets a read timeout for [`receive`](Client::receive) (`None`: wait forever):
    /// past it, [`Error::Timeout`].
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        Ok(self.ws.get_ref().set_read_timeout(timeout)?)
    }

    /// Sets a write timeout for the sends (`None`: wait forever): past it,
    /// [`Error::Timeout`], with the rest of the output still queued.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        Ok(self.ws.get_ref().set_write_timeout(timeout)?)
    }

    /// The protocol state.
    pub fn connection(&self) -> &Connection {
        self.ws.connection()
    }

    /// Splits the client into a [`Reader`] and a [`Writer`] that work from two threads
    /// (the writer can be cloned for more). Pings and the server's close are answered
    /// without the caller's help, even while a writer is blocked on a full socket: a
    /// small thread of the split's own writes all output (see [`Reader`]). The read
    /// and write timeouts set so far carry over to the halves.
    ///
    /// ```no_run
    /// use wisp_client::{connect, CloseCode, Message};
    /// let (mut reader, writer) = connect("ws://127.0.0.1:9001/echo")?.split()?;
    /// let sender = std::thread::spawn(move || {
    ///     for i in 0..100 {
    ///         writer.send_text(&format!("message {i}"))?;
    ///     }
    ///     writer.close(CloseCode::NORMAL, "done")
    /// });
    /// let mut echoed = 0;
    /// loop {
    ///     match reader.receive() {
    ///         Ok(Message::Text(_)) => echoed += 1,
    ///         Ok(Message::Close(_)) => break,     // the server answered our close
    ///         Ok(_) => {}                         // pings (answered already), pongs
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// sender.join().unwrap()?;
    /// assert_eq!(echoed, 100);
    /// # Ok::<(), wisp_client::Error>(())
    /// ```
    pub fn split(self) -> Result<(Reader, Writer), Error> {
        let (stream, mut conn) = self.ws.into_parts();
        let read_timeout = stream.tcp().read_timeout()?;
        let write_timeout = stream.tcp().write_timeout()?;
        let (tcp, tls, plaintext) = stream.into_parts();
        conn.handle_input(&plaintext);
        split::split(tcp, tls, conn, self.epoch, read_timeout, write_timeout)
    }
}
