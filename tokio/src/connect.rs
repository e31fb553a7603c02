//! The client side: [`connect_async`], [`connect_async_with`] (`wss://` through
//! tokio-rustls), [`client_async_with`] over a transport of your own.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use wisp_client::DeflateMode;
use wisp_codec::handshake::{Accepted, ClientRequest, ResponseError, DEFAULT_MAX_HEAD};
use wisp_codec::{Config, Connection};

use crate::stream::{WebSocketStream, DEFAULT_WRITE_BUFFER};

/// Why [`connect_async`] did not open a WebSocket.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not `ws://` or `wss://host[:port][/path]`. Holds the reason.
    InvalidUrl(String),
    /// The TCP connection could not be made, or the transport failed during the
    /// handshake.
    Io(io::Error),
    /// `wss://`: the TLS handshake failed (an untrusted certificate, a bad name...).
    Tls(io::Error),
    /// No whole handshake within [`ClientOptions::connect_timeout`].
    Timeout,
    /// The server answered with an HTTP status other than 101.
    Refused(u16),
    /// The server botched the opening handshake.
    Handshake(ResponseError),
    /// A request header in [`ClientOptions::headers`] that cannot be sent: `name: why`.
    InvalidHeader(String),
    /// The OS random source failed.
    Random(String),
    /// [`Http2::Only`](crate::http2::Http2::Only): the server does not speak HTTP/2
    /// (no ALPN `h2`) or does not advertise `SETTINGS_ENABLE_CONNECT_PROTOCOL`
    /// (RFC 8441 §3), so it cannot take a WebSocket on a stream (feature `http2`).
    #[cfg(feature = "http2")]
    NoExtendedConnect,
    /// The HTTP/2 connection or stream failed during the opening (feature `http2`).
    #[cfg(feature = "http2")]
    Http2(h2::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            ConnectError::Io(e) => write!(f, "connection failed: {e}"),
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
            ConnectError::Timeout => f.write_str("no handshake within the connect timeout"),
            ConnectError::Refused(status) => {
                write!(f, "handshake refused: the server answered HTTP {status}")
            }
            ConnectError::Handshake(e) => write!(f, "handshake failed: {e}"),
            ConnectError::InvalidHeader(why) => write!(f, "invalid request header: {why}"),
            ConnectError::Random(why) => write!(f, "no random numbers: {why}"),
            #[cfg(feature = "http2")]
            ConnectError::NoExtendedConnect => f.write_str(
                "the server does not take WebSockets over HTTP/2 (no ALPN h2 or no SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3)",
            ),
            #[cfg(feature = "http2")]
            ConnectError::Http2(e) => write!(f, "HTTP/2: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl From<io::Error> for ConnectError {
    fn from(e: io::Error) -> Self {
        ConnectError::Io(e)
    }
}

/// Options for [`connect_async_with`] and [`client_async_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Codec limits and timers.
    pub config: Config,
    /// The permessage-deflate offer, as wisp-client's: [`DeflateMode::Takeover`] (the
    /// default, a browser's offer: `permessage-deflate; client_max_window_bits`),
    /// [`DeflateMode::Shared`] (no window kept either way: nothing held between
    /// messages) or [`DeflateMode::Off`].
    pub deflate: DeflateMode,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// An `Origin` header to send.
    pub origin: Option<String>,
    /// Request headers of your own (`Authorization`, `Cookie`...).
    pub headers: Vec<(String, String)>,
    /// Time allowed for TCP, TLS and the opening handshake (default 10 s).
    pub connect_timeout: Duration,
    /// `wss://`: a rustls configuration of your own (trust, client certificates);
    /// default: Mozilla's roots (webpki-roots) with the ring provider.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Unsent bytes above which sending waits (default 128 KiB).
    pub write_buffer: usize,
    /// Open the socket as an HTTP/2 extended CONNECT (RFC 8441) when the server
    /// advertises it (feature `http2`; default [`Http2::Never`](crate::http2::Http2::Never)).
    #[cfg(feature = "http2")]
    pub http2: crate::http2::Http2,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            config: Config::default(),
            deflate: DeflateMode::Takeover,
            protocols: Vec::new(),
            origin: None,
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            tls: None,
            write_buffer: DEFAULT_WRITE_BUFFER,
            #[cfg(feature = "http2")]
            http2: crate::http2::Http2::Never,
        }
    }
}

impl ClientOptions {
    /// The options with permessage-deflate offered (the default offer,
    /// [`DeflateMode::Takeover`]) or not.
    pub fn with_deflate(self, deflate: bool) -> Self {
        let mode = if deflate {
            DeflateMode::Takeover
        } else {
            DeflateMode::Off
        };
        self.with_deflate_mode(mode)
    }

    /// The options with this permessage-deflate offer.
    ///
    /// ```
    /// use wisp_tokio::{ClientOptions, DeflateMode};
    /// let o = ClientOptions::default().with_deflate_mode(DeflateMode::Shared);
    /// assert_eq!(o.deflate, DeflateMode::Shared);
    /// ```
    pub fn with_deflate_mode(mut self, mode: DeflateMode) -> Self {
        self.deflate = mode;
        self
    }

    /// The options with a rustls configuration of your own for `wss://`.
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The options with `config`.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The options with an HTTP/2 preference (feature `http2`).
    ///
    /// ```
    /// use wisp_tokio::{http2::Http2, ClientOptions};
    /// let o = ClientOptions::default().with_http2(Http2::Prefer);
    /// assert_eq!(o.http2, Http2::Prefer);
    /// ```
    #[cfg(feature = "http2")]
    pub fn with_http2(mut self, http2: crate::http2::Http2) -> Self {
        self.http2 = http2;
        self
    }
}

/// A TCP connection, or TLS over one (`wss://`).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// A stream of an HTTP/2 connection, over TCP or TLS (RFC 8441, feature `http2`).
    #[cfg(feature = "http2")]
    Http2(Box<crate::http2::H2Stream>),
}

impl MaybeTlsStream {
    /// TLS agreed on this ALPN protocol.
    #[cfg(feature = "http2")]
    pub(crate) fn alpn_is(&self, protocol: &[u8]) -> bool {
        match self {
            MaybeTlsStream::Tls(s) => s.get_ref().1.alpn_protocol() == Some(protocol),
            _ => false,
        }
    }
}

/// `$body` with `$s` bound to the stream inside each variant of a [`MaybeTlsStream`].
macro_rules! each_stream {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            MaybeTlsStream::Plain($s) => $body,
            MaybeTlsStream::Tls($s) => $body,
            #[cfg(feature = "http2")]
            MaybeTlsStream::Http2($s) => $body,
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s.as_mut_io()).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self.get_mut(), s => Pin::new(s.as_mut_io()).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self.get_mut(), s => Pin::new(s.as_mut_io()).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        each_stream!(self, s => s.as_ref_io().is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s.as_mut_io()).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s.as_mut_io()).poll_shutdown(cx))
    }
}

/// The stream inside a variant, boxed or not.
trait AsIo {
    type Io: AsyncRead + AsyncWrite + Unpin;
    fn as_mut_io(&mut self) -> &mut Self::Io;
    fn as_ref_io(&self) -> &Self::Io;
}

impl AsIo for TcpStream {
    type Io = TcpStream;
    fn as_mut_io(&mut self) -> &mut TcpStream {
        self
    }
    fn as_ref_io(&self) -> &TcpStream {
        self
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsIo for Box<T> {
    type Io = T;
    fn as_mut_io(&mut self) -> &mut T {
        self
    }
    fn as_ref_io(&self) -> &T {
        self
    }
}

/// Connects to a `ws://` or `wss://` URL with the default [`ClientOptions`].
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use futures_util::{SinkExt, StreamExt};
/// let mut ws = wisp_tokio::connect_async("wss://echo.example/").await?;
/// ws.send(wisp_tokio::Message::Text("hi".into())).await?;
/// println!("{:?}", ws.next().await);
/// # Ok(()) }
/// ```
pub async fn connect_async(url: &str) -> Result<WebSocketStream<MaybeTlsStream>, ConnectError> {
    connect_async_with(url, &ClientOptions::default()).await
}

/// Connects to a `ws://` or `wss://` URL: TCP, TLS for `wss://` (tokio-rustls, the
/// ring provider, no process-level default needed), then the opening handshake
/// (RFC 6455 §4.1), all within [`ClientOptions::connect_timeout`].
pub async fn connect_async_with(
    url: &str,
    options: &ClientOptions,
) -> Result<WebSocketStream<MaybeTlsStream>, ConnectError> {
    let parsed =
        wisp_client::parse_url(url).map_err(|e| ConnectError::InvalidUrl(e.to_string()))?;
    let work = async {
        #[cfg(feature = "http2")]
        if options.http2 != crate::http2::Http2::Never {
            return connect_http2(&parsed, options).await;
        }
        let io = transport(&parsed, options, &[]).await?;
        handshake(io, &parsed.authority, &parsed.path, options).await
    };
    match tokio::time::timeout(options.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout),
    }
}

/// [`connect_async_with`] when HTTP/2 is wanted: an extended CONNECT if the server
/// advertises it, else (with [`Http2::Prefer`](crate::http2::Http2::Prefer)) the
/// HTTP/1.1 upgrade: on the same TLS connection if ALPN chose `http/1.1`, on a new one
/// if the server spoke HTTP/2 without extended CONNECT (or no HTTP/2 at all, for h2c).
#[cfg(feature = "http2")]
async fn connect_http2(
    parsed: &wisp_client::Url,
    options: &ClientOptions,
) -> Result<WebSocketStream<MaybeTlsStream>, ConnectError> {
    use crate::http2::{Http2, Http2Connection};
    let only = options.http2 == Http2::Only;
    let alpn: &[&[u8]] = if only {
        &[b"h2"]
    } else {
        &[b"h2", b"http/1.1"]
    };
    let io = transport(parsed, options, alpn).await?;
    if parsed.tls && !io.alpn_is(b"h2") {
        if only {
            return Err(ConnectError::NoExtendedConnect);
        }
        return handshake(io, &parsed.authority, &parsed.path, options).await;
    }
    match Http2Connection::handshake(io, parsed.tls, &parsed.authority, options).await {
        Ok(mut conn) => {
            let (io, accepted) = conn.open_stream(&parsed.path).await?;
            let io = MaybeTlsStream::Http2(Box::new(io));
            Ok(client_stream(io, options, accepted, &[]))
        }
        Err(e) if only => Err(e),
        Err(_) => {
            let io = transport(parsed, options, &[b"http/1.1"]).await?;
            handshake(io, &parsed.authority, &parsed.path, options).await
        }
    }
}

/// TCP, then TLS for `wss://` offering `alpn` (none: the configuration's own).
pub(crate) async fn transport(
    parsed: &wisp_client::Url,
    options: &ClientOptions,
    alpn: &[&[u8]],
) -> Result<MaybeTlsStream, ConnectError> {
    let tls = match (&options.tls, parsed.tls) {
        (_, false) => None,
        (Some(c), true) => Some(Arc::clone(c)),
        (None, true) => Some(default_tls()?),
    };
    let tcp = TcpStream::connect((parsed.host.as_str(), parsed.port)).await?;
    let _ = tcp.set_nodelay(true);
    let Some(mut config) = tls else {
        return Ok(MaybeTlsStream::Plain(tcp));
    };
    if !alpn.is_empty() {
        let mut with_alpn = (*config).clone();
        with_alpn.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config = Arc::new(with_alpn);
    }
    let name = rustls::pki_types::ServerName::try_from(parsed.host.clone())
        .map_err(|e| ConnectError::InvalidUrl(format!("{}: {e}", parsed.host)))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(ConnectError::Tls)?;
    Ok(MaybeTlsStream::Tls(Box::new(tls)))
}

/// The default trust for `wss://`: Mozilla's roots, the ring provider.
fn default_tls() -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnectError::Tls(io::Error::other(e)))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The client's opening handshake over a transport you connected (a Unix socket, a
/// proxy tunnel, a TLS stream of your own): `url` gives the `Host` and the path.
pub async fn client_async_with<S: AsyncRead + AsyncWrite + Unpin>(
    url: &str,
    io: S,
    options: &ClientOptions,
) -> Result<WebSocketStream<S>, ConnectError> {
    let parsed =
        wisp_client::parse_url(url).map_err(|e| ConnectError::InvalidUrl(e.to_string()))?;
    match tokio::time::timeout(
        options.connect_timeout,
        handshake(io, &parsed.authority, &parsed.path, options),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout),
    }
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    authority: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<WebSocketStream<S>, ConnectError> {
    let req = opening_request(authority, path, options)?;
    io.write_all(&req.to_bytes()).await?;
    io.flush().await?;
    // Read into the buffer's own spare room (no stack buffer in the future).
    let mut buf = Vec::with_capacity(1024);
    let (accepted, used) = loop {
        buf.reserve(1024);
        let n = io.read_buf(&mut buf).await?;
        if n == 0 {
            return Err(ConnectError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection during the handshake",
            )));
        }
        match req.parse_response(&buf, DEFAULT_MAX_HEAD) {
            Ok(Some(done)) => break done,
            Ok(None) => {}
            Err(ResponseError::NotSwitchingProtocols(status)) => {
                return Err(ConnectError::Refused(status))
            }
            Err(e) => return Err(ConnectError::Handshake(e)),
        }
    };
    Ok(client_stream(io, options, accepted, &buf[used..]))
}

/// The opening request the options describe, keyed by a nonce from the OS.
pub(crate) fn opening_request(
    authority: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<ClientRequest, ConnectError> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| ConnectError::Random(e.to_string()))?;
    wisp_client::opening_request(
        authority,
        path,
        nonce,
        &options.protocols,
        options.origin.as_deref(),
        &options.headers,
        options.deflate,
    )
    .map_err(ConnectError::InvalidHeader)
}

/// The client's stream once the server accepted: masks from the OS, what was agreed,
/// and the bytes that came after the handshake.
pub(crate) fn client_stream<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    options: &ClientOptions,
    accepted: Accepted,
    early: &[u8],
) -> WebSocketStream<S> {
    let mut masks = Masks {
        buf: [0; 256],
        used: 256,
    };
    let mut conn = Connection::client(options.config, move || masks.next());
    if let Some(params) = accepted.deflate {
        conn.set_deflate(params);
    }
    conn.handle_input(early);
    let mut ws = WebSocketStream::new(io, conn);
    ws.set_write_buffer(options.write_buffer);
    ws.core.protocol = accepted.protocol;
    ws
}

/// Masking keys from the OS random source, drawn 64 at a time.
pub(crate) struct Masks {
    pub(crate) buf: [u8; 256],
    pub(crate) used: usize,
}

impl Masks {
    pub(crate) fn next(&mut self) -> [u8; 4] {
        if self.used == self.buf.len() {
            if getrandom::fill(&mut self.buf).is_err() {
                // Only when the OS has no random source at all; never fall back to a
                // predictable key silently.
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
