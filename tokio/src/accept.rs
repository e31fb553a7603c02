//! The server side: [`accept_async`], [`accept_hdr_async`] (as `blocking::accept` and
//! `blocking::accept_with`), and [`Upgrade`] for a request that hyper or axum already
//! parsed.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wisp_codec::extension::{DeflateParams, ServerDeflate};
use wisp_codec::handshake::{self, Offer, Refusal, Request, RequestError, Response};
use wisp_codec::{Config, Connection};

pub use wisp_codec::blocking::AcceptError;

use crate::stream::{WebSocketStream, DEFAULT_WRITE_BUFFER};

/// What a server accepts: limits, permessage-deflate, the handshake's deadline.
///
/// ```
/// let o = wisp_tokio::ServerOptions::default();
/// assert!(o.deflate.is_some()); // as wisp-server: deflate on, no server context takeover
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Codec limits and timers.
    pub config: Config,
    /// What is accepted of a client's permessage-deflate offer (`None` declines it),
    /// as wisp-server's `Config::deflate`: by default on, without server context
    /// takeover (an idle connection holds no compressor).
    pub deflate: Option<ServerDeflate>,
    /// Time allowed for the whole request head (`None`: no limit; default 10 s).
    pub handshake_timeout: Option<Duration>,
    /// The largest request head (default 8 KiB; over it: 431).
    pub max_head: usize,
    /// Unsent bytes above which sending waits (default 128 KiB).
    pub write_buffer: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            config: Config::default(),
            deflate: Some(ServerDeflate::default()),
            handshake_timeout: Some(Duration::from_secs(10)),
            max_head: handshake::DEFAULT_MAX_HEAD,
            write_buffer: DEFAULT_WRITE_BUFFER,
        }
    }
}

impl ServerOptions {
    /// The options with `config`.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The options with `deflate` (`None`: decline every offer).
    pub fn with_deflate(mut self, deflate: Option<ServerDeflate>) -> Self {
        self.deflate = deflate;
        self
    }
}

/// The server side of the opening handshake (§4.2) with the default
/// [`ServerOptions`]: reads the request head, checks it, answers 101 (accepting
/// permessage-deflate as wisp-server does) and returns the stream. No subprotocol is
/// chosen; [`accept_hdr_async`] decides more.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use wisp_tokio::Message;
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (tcp, _) = listener.accept().await?;
/// let mut ws = wisp_tokio::accept_async(tcp).await?;
/// while let Some(Ok(m)) = ws.next().await {
///     if let Message::Text(_) | Message::Binary(_) = m { ws.send(m).await?; }
/// }
/// # Ok(()) }
/// ```
pub async fn accept_async<S>(stream: S) -> Result<WebSocketStream<S>, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_hdr_async_with(stream, &ServerOptions::default(), |_, _, r| Ok(r)).await
}

/// [`accept_async`] with a callback that sees the request (path and query in
/// [`Request::target`], every header) and what it offers, and returns the 101
/// [`Response`] (choose a subprotocol with [`Response::protocol`], add headers with
/// [`Response::header`]) or a [`Refusal`], which is written before
/// [`AcceptError::Refused`] is returned: the callback of
/// [`wisp_codec::blocking::accept_with`], as tungstenite's `accept_hdr`.
pub async fn accept_hdr_async<S, F>(
    stream: S,
    callback: F,
) -> Result<WebSocketStream<S>, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request, &Offer, Response) -> Result<Response, Refusal>,
{
    accept_hdr_async_with(stream, &ServerOptions::default(), callback).await
}

/// [`accept_hdr_async`] with [`ServerOptions`] of your own.
pub async fn accept_hdr_async_with<S, F>(
    mut stream: S,
    options: &ServerOptions,
    callback: F,
) -> Result<WebSocketStream<S>, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request, &Offer, Response) -> Result<Response, Refusal>,
{
    let read_head = read_head(&mut stream, options.max_head);
    let head = match options.handshake_timeout {
        Some(limit) => match tokio::time::timeout(limit, read_head).await {
            Ok(head) => head,
            Err(_) => {
                return Err(AcceptError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no whole request head within the handshake timeout",
                )))
            }
        },
        None => read_head.await,
    };
    let (request, head, used) = match head {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(refuse(&mut stream, e).await),
        Err(e) => return Err(AcceptError::Io(e)),
    };
    let upgrade = match Upgrade::check(&request, options) {
        Ok(u) => u,
        Err(e) => return Err(refuse(&mut stream, e).await),
    };
    let response = match callback(&request, &upgrade.offer, upgrade.codec_response()) {
        Ok(r) => r,
        Err(refusal) => {
            let _ = stream.write_all(&refusal.to_bytes()).await;
            let _ = stream.flush().await;
            return Err(AcceptError::Refused(refusal.sent_status()));
        }
    };
    let mut conn = Connection::server_with_response(options.config, &response.to_bytes());
    if let Some(params) = upgrade.deflate {
        conn.set_deflate(params);
    }
    conn.handle_input(&head[used..]);
    let mut ws = WebSocketStream::new(stream, conn);
    ws.set_write_buffer(options.write_buffer);
    ws.core.protocol = response_protocol(&response);
    std::future::poll_fn(|cx| ws.core.poll_write_out(cx)).await?;
    Ok(ws)
}

/// The subprotocol a 101 response names, if any.
fn response_protocol(response: &Response) -> Option<String> {
    let bytes = response.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("sec-websocket-protocol"))
        .map(|(_, v)| v.trim().to_string())
}

/// Reads until a whole request head: the request, the bytes read, and how many of
/// them the head used.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_head: usize,
) -> io::Result<Result<(Request, Vec<u8>, usize), RequestError>> {
    // Read into the head's own spare room: a buffer on the stack would be part of the
    // future, and so of every connection's task for its whole life.
    let mut head = Vec::with_capacity(1024);
    loop {
        match handshake::parse_request(&head, max_head) {
            Ok(Some((request, used))) => return Ok(Ok((request, head, used))),
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
        }
        head.reserve(1024);
        let n = stream.read_buf(&mut head).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection before a whole request head",
            ));
        }
    }
}

/// Writes the refusal of a bad request (best effort: it is refused anyway).
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, e: RequestError) -> AcceptError {
    let _ = stream.write_all(&e.response()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
    AcceptError::Request(e)
}

/// An opening handshake checked for a server that parsed the HTTP request itself
/// (hyper, axum): the 101's headers to answer with, then
/// [`into_stream`](Upgrade::into_stream) over the upgraded connection. The same checks
/// and permessage-deflate choice as [`accept_async`].
///
/// ```
/// use wisp_tokio::{ServerOptions, Upgrade};
/// let headers = [("host", "h"), ("upgrade", "websocket"), ("connection", "Upgrade"),
///     ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), ("sec-websocket-version", "13")];
/// let up = Upgrade::new("GET", "/ws", headers.iter().map(|(n, v)| (*n, v.as_bytes())),
///     &ServerOptions::default()).unwrap();
/// assert!(up.response_headers().contains(&("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into())));
/// let bad = Upgrade::new("POST", "/ws", std::iter::empty(), &ServerOptions::default());
/// assert_eq!(bad.unwrap_err().status(), 400); // not a GET
/// ```
#[derive(Debug, Clone)]
pub struct Upgrade {
    offer: Offer,
    /// An HTTP/2 extended CONNECT (RFC 8441): answered 200, not 101.
    http2: bool,
    /// The subprotocol chosen with [`Upgrade::with_protocol`].
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
    deflate_header: Option<String>,
    config: Config,
    write_buffer: usize,
}

impl Upgrade {
    /// Checks an HTTP/1.1 request (method, target, headers; a header value that is not
    /// UTF-8 counts as absent) as [`accept_async`] would. The error's
    /// [`status`](RequestError::status) is the HTTP answer to give.
    pub fn new<'a>(
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        options: &ServerOptions,
    ) -> Result<Upgrade, RequestError> {
        let request = Request {
            method: method.to_string(),
            target: target.to_string(),
            version: "HTTP/1.1".to_string(),
            headers: headers
                .into_iter()
                .filter_map(|(n, v)| {
                    Some((
                        n.to_string(),
                        std::str::from_utf8(v).ok()?.trim().to_string(),
                    ))
                })
                .collect(),
        };
        Upgrade::check(&request, options)
    }

    /// Checks an HTTP/2 extended CONNECT (RFC 8441 §4-5) as [`Upgrade::new`] checks an
    /// HTTP/1.1 upgrade: `method`, the `:path` as `target`, the `:authority`, the
    /// `:protocol` pseudo-header (`None` when absent) and the other headers. The answer
    /// is a 200 ([`response`](Upgrade::response)) with no `Sec-WebSocket-Accept`.
    ///
    /// ```
    /// use wisp_tokio::{ServerOptions, Upgrade};
    /// let headers = [("sec-websocket-version", "13"),
    ///     ("sec-websocket-extensions", "permessage-deflate")];
    /// let up = Upgrade::new_http2("CONNECT", "/chat", "h", Some("websocket"),
    ///     headers.iter().map(|(n, v)| (*n, v.as_bytes())), &ServerOptions::default()).unwrap();
    /// assert!(up.is_http2());
    /// assert_eq!(up.response_headers(),
    ///     [("sec-websocket-extensions",
    ///       "permessage-deflate; server_no_context_takeover; client_no_context_takeover".to_string())]);
    /// let plain = Upgrade::new_http2("CONNECT", "/chat", "h", None, std::iter::empty(), &ServerOptions::default());
    /// assert_eq!(plain.unwrap_err().status(), 400); // a CONNECT with no :protocol
    /// ```
    pub fn new_http2<'a>(
        method: &str,
        target: &str,
        authority: &str,
        protocol: Option<&str>,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        options: &ServerOptions,
    ) -> Result<Upgrade, RequestError> {
        let mut request = Request {
            method: method.to_string(),
            target: target.to_string(),
            version: "HTTP/2".to_string(),
            headers: vec![("host".to_string(), authority.to_string())],
        };
        request
            .headers
            .extend(headers.into_iter().filter_map(|(n, v)| {
                Some((
                    n.to_string(),
                    std::str::from_utf8(v).ok()?.trim().to_string(),
                ))
            }));
        let offer = request.validate_extended_connect(protocol)?;
        Ok(Upgrade::agree(offer, true, options))
    }

    fn check(request: &Request, options: &ServerOptions) -> Result<Upgrade, RequestError> {
        Ok(Upgrade::agree(request.validate()?, false, options))
    }

    /// What the server agrees to for a checked offer: permessage-deflate as the
    /// options say (the codec's negotiation, as for every Wisp server).
    fn agree(offer: Offer, http2: bool, options: &ServerOptions) -> Upgrade {
        let negotiated = options
            .deflate
            .as_ref()
            .and_then(|d| d.negotiate(&offer.extensions));
        Upgrade {
            deflate: negotiated.as_ref().map(|(p, _)| *p),
            deflate_header: negotiated.map(|(_, h)| h),
            offer,
            http2,
            protocol: None,
            config: options.config,
            write_buffer: options.write_buffer,
        }
    }

    /// [`Upgrade::new`] for an `http::Request` (feature `http`): hyper's and axum's
    /// request type. An HTTP/2 request is checked as an extended CONNECT
    /// ([`Upgrade::new_http2`]); its `:protocol` is read from hyper's (or h2's)
    /// `Protocol` extension with feature `http2`, and without it the request is refused
    /// with 400 (serve HTTP/2 WebSockets only with the feature: a server that advertises
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` must be able to serve it).
    ///
    /// ```
    /// let req = http::Request::get("/ws").header("host", "h").header("upgrade", "websocket")
    ///     .header("connection", "upgrade").header("sec-websocket-version", "13")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==").body(()).unwrap();
    /// let up = wisp_tokio::Upgrade::from_request(&req, &Default::default()).unwrap();
    /// let response: http::Response<()> = up.response();
    /// assert_eq!(response.status(), 101);
    /// assert_eq!(response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// ```
    #[cfg(feature = "http")]
    pub fn from_request<B>(
        req: &http::Request<B>,
        options: &ServerOptions,
    ) -> Result<Upgrade, RequestError> {
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()));
        if req.version() == http::Version::HTTP_2 {
            let authority = req.uri().authority().map_or("", |a| a.as_str());
            return Upgrade::new_http2(
                req.method().as_str(),
                target,
                authority,
                protocol_of(req),
                headers,
                options,
            );
        }
        Upgrade::new(req.method().as_str(), target, headers, options)
    }

    /// The answer as an `http::Response` with an empty body (feature `http`): 101 over
    /// HTTP/1.1, 200 to an HTTP/2 extended CONNECT.
    #[cfg(feature = "http")]
    pub fn response<B: Default>(&self) -> http::Response<B> {
        let mut response = http::Response::new(B::default());
        *response.status_mut() = if self.http2 {
            // A CONNECT succeeds with a 2xx (RFC 9113 §8.5); HTTP/2 has no 101.
            http::StatusCode::OK
        } else {
            http::StatusCode::SWITCHING_PROTOCOLS
        };
        for (name, value) in self.response_headers() {
            if let Ok(value) = http::HeaderValue::try_from(value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    /// The refusal of a request that is not a valid opening handshake, as an
    /// `http::Response` (feature `http`): its status, the reason as the body, and
    /// `Sec-WebSocket-Version: 13` with a 426.
    #[cfg(feature = "http")]
    pub fn refusal<B: From<String>>(e: &RequestError) -> http::Response<B> {
        let mut response = http::Response::new(B::from(e.to_string()));
        *response.status_mut() =
            http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::BAD_REQUEST);
        if e.status() == 426 {
            response.headers_mut().insert(
                "sec-websocket-version",
                http::HeaderValue::from_static("13"),
            );
        }
        response
    }

    /// What the client offered (path, subprotocols, origin...).
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// The request was an HTTP/2 extended CONNECT (RFC 8441): the socket rides on one
    /// HTTP/2 stream.
    pub fn is_http2(&self) -> bool {
        self.http2
    }

    /// Chooses a subprotocol, one of [`Offer::protocols`] (the answer names it in
    /// `Sec-WebSocket-Protocol`); one that was not offered is not chosen.
    ///
    /// ```
    /// use wisp_tokio::{ServerOptions, Upgrade};
    /// let headers = [("sec-websocket-version", "13"), ("sec-websocket-protocol", "chat, superchat")];
    /// let up = Upgrade::new_http2("CONNECT", "/", "h", Some("websocket"),
    ///     headers.iter().map(|(n, v)| (*n, v.as_bytes())), &ServerOptions::default().with_deflate(None))
    ///     .unwrap().with_protocol("chat").with_protocol("other");
    /// assert_eq!(up.response_headers(), [("sec-websocket-protocol", "chat".to_string())]);
    /// ```
    pub fn with_protocol(mut self, name: &str) -> Self {
        if self.offer.protocols.iter().any(|p| p == name) {
            self.protocol = Some(name.to_string());
        }
        self
    }

    /// The 101 response as the codec builds it (with the agreed permessage-deflate).
    fn codec_response(&self) -> Response {
        let mut response = Response::new(&self.offer.key);
        if let Some(p) = &self.protocol {
            response = response.protocol(p);
        }
        match &self.deflate_header {
            Some(h) => response.extensions(h),
            None => response,
        }
    }

    /// The headers of the answer: over HTTP/1.1 the 101's `upgrade`, `connection`,
    /// `sec-websocket-accept`; then (both versions) `sec-websocket-protocol` when one
    /// was chosen and `sec-websocket-extensions` when permessage-deflate was agreed. An
    /// HTTP/2 answer has only these two (RFC 8441 §5: no `Sec-WebSocket-Accept`).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if !self.http2 {
            let accept = handshake::accept_key(self.offer.key.as_bytes());
            headers = vec![
                ("upgrade", "websocket".to_string()),
                ("connection", "Upgrade".to_string()),
                (
                    "sec-websocket-accept",
                    String::from_utf8_lossy(&accept).into_owned(),
                ),
            ];
        }
        if let Some(p) = &self.protocol {
            headers.push(("sec-websocket-protocol", p.clone()));
        }
        if let Some(h) = &self.deflate_header {
            headers.push(("sec-websocket-extensions", h.clone()));
        }
        headers
    }

    /// The stream over the upgraded connection, once the 101 went out.
    pub fn into_stream<S: AsyncRead + AsyncWrite + Unpin>(self, io: S) -> WebSocketStream<S> {
        let mut conn = Connection::server(self.config);
        if let Some(params) = self.deflate {
            conn.set_deflate(params);
        }
        let mut ws = WebSocketStream::new(io, conn);
        ws.set_write_buffer(self.write_buffer);
        ws.core.protocol = self.protocol;
        ws
    }
}

/// The `:protocol` of an HTTP/2 request: hyper's `Protocol` extension, or h2's for a
/// server on h2 itself (feature `http2`; without it, none).
#[cfg(feature = "http")]
fn protocol_of<B>(req: &http::Request<B>) -> Option<&str> {
    #[cfg(feature = "http2")]
    {
        if let Some(p) = req.extensions().get::<hyper::ext::Protocol>() {
            return std::str::from_utf8(p.as_ref()).ok();
        }
        if let Some(p) = req.extensions().get::<h2::ext::Protocol>() {
            return Some(p.as_str());
        }
    }
    let _ = req;
    None
}
