//! WebSockets over HTTP/2 ([RFC 8441](https://www.rfc-editor.org/rfc/rfc8441)), feature
//! `http2`: a socket rides on one HTTP/2 stream, so a page shares one connection
//! between its requests and its sockets.
//!
//! ```text
//!  client                                         server
//!    <--------------------------------------------- SETTINGS
//!                                                   ENABLE_CONNECT_PROTOCOL = 1   (§3)
//!  HEADERS stream 1   :method = CONNECT
//!                     :protocol = websocket       (§4: an extended CONNECT)
//!                     :scheme, :path, :authority
//!                     sec-websocket-version = 13
//!                     sec-websocket-extensions = permessage-deflate; ...
//!    ---------------------------------------------->
//!    <--------------------------------------------- HEADERS stream 1  :status = 200
//!                                                   sec-websocket-extensions = ...
//!  DATA stream 1 [masked WebSocket frames] ------->  (RFC 6455 framing, unchanged)
//!    <--------------------------------------------- DATA stream 1 [WebSocket frames]
//!  DATA [close frame] --------------------------->
//!    <--------------------------------------------- DATA [close frame] + END_STREAM
//!  DATA (empty) + END_STREAM -------------------->
//! ```
//!
//! The framing inside the stream is RFC 6455's, masks included (§5 changes the opening
//! handshake only: no `Sec-WebSocket-Key`/`Accept`, a 200 instead of a 101), so the
//! same [`Connection`](wisp_codec::Connection) runs over a stream as over TCP. The end
//! of the stream is TCP's close: `END_STREAM` after the close frames; a `RST_STREAM` is
//! an abnormal closure (1006: the stream ends with an [`Error::Io`](crate::Error::Io)),
//! and it leaves the connection's other streams open.
//!
//! - Server: [`serve_connection`] serves one connection with hyper, HTTP/1.1 and
//!   HTTP/2 (prior knowledge, or ALPN `h2` over TLS) side by side, and advertises
//!   `SETTINGS_ENABLE_CONNECT_PROTOCOL` because it serves it. A route of your own in
//!   hyper or axum uses [`Upgrade::from_request`](crate::Upgrade::from_request), which
//!   checks both kinds of request, on a connection built with [`server_builder`].
//!   A connection whose HTTP/1.1 request head does not come within
//!   [`ServerOptions::handshake_timeout`](crate::ServerOptions::handshake_timeout) is
//!   closed, as `accept_async` gives up on one.
//! - Client: [`ClientOptions::http2`](crate::ClientOptions::http2) makes
//!   [`connect_async_with`](crate::connect_async_with) open the socket as an extended
//!   CONNECT when the server advertises it (falling back to the HTTP/1.1 upgrade or
//!   not, per [`Http2`]); [`Http2Connection`] opens several sockets, and ordinary
//!   requests, on one connection.
//!
//! Flow control is the backpressure: a reader that stops reading stops releasing its
//! stream's window, so the sender waits on that stream only. The connection's window
//! is as large as all its streams' windows together ([`CONNECTION_WINDOW`]), so one
//! stalled reader never holds the whole connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use wisp_client::http2::Http2Session;
use wisp_codec::handshake::{Accepted, Offer};

use crate::{ClientOptions, ConnectError, ServerOptions, Upgrade, WebSocketStream};

// One client side for both Wisp clients: the windows, the preference, the stream.
pub use wisp_client::http2::{
    H2Stream, Http2, Reason, CONNECTION_WINDOW, MAX_STREAMS, STREAM_WINDOW,
};

/// The transport of a socket on an HTTP/2 stream that hyper's server upgraded.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// An HTTP/1.1 + HTTP/2 connection builder for hyper (hyper-util's `auto`: prior
/// knowledge, or the preface after ALPN `h2`) with extended CONNECT on
/// (`SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`) and the windows of this module; an HTTP/1.1
/// request head must come within the options' `handshake_timeout`. Serve with
/// `serve_connection_with_upgrades` (HTTP/1.1 upgrades need it).
pub fn server_builder(
    options: &ServerOptions,
) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.handshake_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(MAX_STREAMS);
    builder
}

/// What [`serve_connection`] tells the socket handler about the socket.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Opened {
    /// What the client offered (path, subprotocols, origin...).
    pub offer: Offer,
    /// It came as an HTTP/2 extended CONNECT (else an HTTP/1.1 upgrade).
    pub http2: bool,
}

/// Serves one connection with hyper, HTTP/1.1 and HTTP/2 on the same port: an HTTP/1.1
/// upgrade or an HTTP/2 extended CONNECT (on any path) becomes a socket given to
/// `on_socket` in a task of its own, a bad one gets its HTTP status (400, 426, 501...)
/// with the reason, and any other request gets `on_request`'s answer. Ends when the
/// connection does (the sockets' tasks go on until their streams end).
///
/// ```no_run
/// use futures_util::StreamExt;
/// # async fn f() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     tokio::spawn(wisp_tokio::http2::serve_connection(
///         tcp,
///         wisp_tokio::ServerOptions::default(),
///         |mut ws, _opened| async move { while let Some(Ok(_)) = ws.next().await {} },
///         |_req| http::Response::new("not a WebSocket\n".to_string()),
///     ));
/// }
/// # }
/// ```
pub async fn serve_connection<I, W, WF, R>(
    io: I,
    options: ServerOptions,
    on_socket: W,
    on_request: R,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    W: Fn(WebSocketStream<Upgraded>, Opened) -> WF + Send + Sync + 'static,
    WF: Future<Output = ()> + Send + 'static,
    R: Fn(&http::Request<Incoming>) -> http::Response<String> + Send + Sync + 'static,
{
    let builder = server_builder(&options);
    let shared = Arc::new((options, on_socket, on_request));
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let shared = Arc::clone(&shared);
        async move {
            let (options, _, on_request) = &*shared;
            if !wants_websocket(&req) {
                return Ok::<_, Infallible>(on_request(&req));
            }
            let up = match Upgrade::from_request(&req, options) {
                Ok(up) => up,
                Err(e) => return Ok(Upgrade::refusal(&e)),
            };
            let response = up.response();
            let opened = Opened {
                offer: up.offer().clone(),
                http2: up.is_http2(),
            };
            let on_upgrade = hyper::upgrade::on(&mut req);
            let socket = async move {
                if let Ok(io) = on_upgrade.await {
                    let ws = up.into_stream(TokioIo::new(io));
                    let (_, on_socket, _) = &*shared;
                    on_socket(ws, opened).await;
                }
            };
            tokio::spawn(socket);
            Ok(response)
        }
    });
    builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await
}

/// A request meant to open a WebSocket: any CONNECT over HTTP/2 (checked, and refused
/// with its status if it is not an extended CONNECT for `websocket`), and an HTTP/1.1
/// request with an `Upgrade` header or a `Sec-WebSocket-Key`.
fn wants_websocket<B>(req: &http::Request<B>) -> bool {
    if req.version() == http::Version::HTTP_2 {
        return req.method() == http::Method::CONNECT;
    }
    req.headers().contains_key(http::header::UPGRADE)
        || req.headers().contains_key(http::header::SEC_WEBSOCKET_KEY)
}

/// One HTTP/2 connection to a server that serves WebSockets on it (RFC 8441): opens
/// sockets ([`open`](Self::open)) and ordinary requests ([`sender`](Self::sender)) on
/// the same connection, which lives until this and every stream on it are dropped.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use wisp_tokio::http2::Http2Connection;
/// let mut conn = Http2Connection::connect("ws://127.0.0.1:9001", &Default::default()).await?;
/// let a = conn.open("/chat").await?;
/// let b = conn.open("/news").await?; // the same TCP connection, another stream
/// # Ok(()) }
/// ```
pub struct Http2Connection {
    session: Http2Session,
    options: ClientOptions,
}

impl std::fmt::Debug for Http2Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Connection")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Http2Connection {
    /// Connects to the server of a `ws://` (HTTP/2 by prior knowledge, "h2c") or
    /// `wss://` (TLS, ALPN `h2`) URL and waits for its SETTINGS: a server that does not
    /// advertise `SETTINGS_ENABLE_CONNECT_PROTOCOL` is
    /// [`ConnectError::NoExtendedConnect`]. The URL's path is not used ([`open`](Self::open) takes one).
    pub async fn connect(url: &str, options: &ClientOptions) -> Result<Self, ConnectError> {
        let parsed =
            wisp_client::parse_url(url).map_err(|e| ConnectError::InvalidUrl(e.to_string()))?;
        let work = async {
            let io = crate::connect::transport(&parsed, options, &[b"h2"]).await?;
            if parsed.tls && !io.alpn_is(b"h2") {
                return Err(ConnectError::NoExtendedConnect);
            }
            Http2Connection::handshake(io, parsed.tls, &parsed.authority, options).await
        };
        match tokio::time::timeout(options.connect_timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout),
        }
    }

    /// The HTTP/2 handshake over a transport already connected (and ALPN `h2` agreed
    /// if it is TLS), then the wait for the server's SETTINGS (wisp-client's
    /// [`Http2Session`]).
    pub(crate) async fn handshake<S>(
        io: S,
        tls: bool,
        authority: &str,
        options: &ClientOptions,
    ) -> Result<Self, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let session = Http2Session::handshake(io, tls, authority)
            .await
            .map_err(connect_error)?;
        Ok(Http2Connection {
            session,
            options: options.clone(),
        })
    }

    /// Opens a socket on a new stream: an extended CONNECT for `path` (with the
    /// subprotocols, permessage-deflate offer, origin and headers of the options),
    /// checked as RFC 8441 §5 says.
    pub async fn open(&mut self, path: &str) -> Result<WebSocketStream<H2Stream>, ConnectError> {
        let (io, accepted) = self.open_stream(path).await?;
        Ok(crate::connect::client_stream(
            io,
            &self.options,
            accepted,
            &[],
        ))
    }

    /// The stream of an accepted extended CONNECT, and what the server agreed to.
    pub(crate) async fn open_stream(
        &mut self,
        path: &str,
    ) -> Result<(H2Stream, Accepted), ConnectError> {
        let authority = self.session.authority().to_string();
        let req = crate::connect::opening_request(&authority, path, &self.options)?;
        self.session.open(path, &req).await.map_err(connect_error)
    }

    /// A handle for ordinary requests on the same connection (h2's `SendRequest`).
    pub fn sender(&self) -> h2::client::SendRequest<Bytes> {
        self.session.sender()
    }
}

/// The shared client's error as this crate's.
fn connect_error(e: wisp_client::Error) -> ConnectError {
    use wisp_client::Error as E;
    match e {
        E::NoExtendedConnect(_) => ConnectError::NoExtendedConnect,
        E::Http2(e) => ConnectError::Http2(e),
        E::Refused { status, .. } => ConnectError::Refused(status),
        E::Handshake(e) => ConnectError::Handshake(e),
        E::InvalidHeader(why) => ConnectError::InvalidHeader(why),
        E::Io(e) => ConnectError::Io(e),
        other => ConnectError::Io(io::Error::other(other.to_string())),
    }
}
