//! WebSockets over HTTP/2 ([RFC 8441](https://www.rfc-editor.org/rfc/rfc8441)), feature
//! `http2`: the client's side of an extended CONNECT, for both Wisp clients.
//!
//! ```text
//!  client                                         server
//!    <--------------------------------------------- SETTINGS
//!                                                   ENABLE_CONNECT_PROTOCOL = 1   (§3)
//!  HEADERS stream 1   :method = CONNECT
//!                     :protocol = websocket       (§4: an extended CONNECT)
//!                     :scheme, :path, :authority
//!                     sec-websocket-version = 13
//!    ---------------------------------------------->
//!    <--------------------------------------------- HEADERS stream 1  :status = 200
//!  DATA stream 1 [masked WebSocket frames] ------->  (RFC 6455 framing, unchanged)
//!    <--------------------------------------------- DATA stream 1 [WebSocket frames]
//!  DATA [close frame] + ... END_STREAM ---------->  <--- DATA [close frame] + END_STREAM
//! ```
//!
//! The async part is here once: [`Http2Session`] (the HTTP/2 handshake, the wait for
//! the server's SETTINGS, the extended CONNECT and the check of its answer, RFC 8441
//! §4-§5) and [`H2Stream`] (a stream as `AsyncRead + AsyncWrite`). wisp-tokio's
//! `http2` feature runs them on the application's runtime.
//!
//! The blocking [`Client`](crate::Client) gets them with [`Options::http2`](crate::Options::http2):
//! the TCP connection (and the proxy's tunnel) is made as for HTTP/1.1; a thread of the
//! client's own then runs TLS (ALPN `h2`), the HTTP/2 connection and its one stream on a
//! single-threaded tokio runtime, and carries the stream's bytes to and from one end of a
//! loopback socket pair, whose other end the client reads and writes as it would a TCP
//! connection. The ends carry over: the client's end of the socket is `END_STREAM`; the
//! server's `END_STREAM` is the end of the client's input; a `RST_STREAM` is an error the
//! client's next read or write returns (1006), naming the reset. The thread ends with the
//! client: when its end of the socket closes, the stream ends, the server gets 5 s to end
//! its side, and the connection goes (a GOAWAY).

use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use wisp_codec::handshake::{Accepted, ClientRequest, ResponseError};

use crate::{Error, Options, Url};

/// HTTP/2 error codes, for [`H2Stream::reset`] (h2's type).
pub use h2::Reason;

/// Each stream's flow-control window, both ways (256 KiB): what one socket may have in
/// flight before its reader releases it.
pub const STREAM_WINDOW: u32 = 256 * 1024;

/// The most streams a peer may open at once on one connection.
pub const MAX_STREAMS: u32 = 256;

/// The connection's window: every stream's window at once, so a stalled reader holds
/// its own stream's window and never the connection's (64 MiB, a credit: memory is
/// only what readers leave unread, at most [`STREAM_WINDOW`] each).
pub const CONNECTION_WINDOW: u32 = STREAM_WINDOW * MAX_STREAMS;

/// How long the server has to end its side of a stream once the client's side ended.
const LINGER: Duration = Duration::from_secs(5);

/// How a client opens a socket ([`Options::http2`](crate::Options::http2), and
/// wisp-tokio's `ClientOptions::http2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Http2 {
    /// The HTTP/1.1 upgrade (RFC 6455 §4), as always.
    #[default]
    Never,
    /// An extended CONNECT over HTTP/2 when the server advertises it (ALPN `h2` for
    /// `wss://`, prior knowledge for `ws://`), else the HTTP/1.1 upgrade (the blocking
    /// client: on a new connection; wisp-tokio: on the same TLS connection when ALPN
    /// chose `http/1.1`).
    Prefer,
    /// An extended CONNECT over HTTP/2, or an error saying why not
    /// ([`Error::NoExtendedConnect`]; wisp-tokio's `ConnectError::NoExtendedConnect`).
    Only,
}

impl std::str::FromStr for Http2 {
    type Err = String;

    /// `never`, `prefer` or `only`.
    ///
    /// ```
    /// use wisp_client::http2::Http2;
    /// assert_eq!("only".parse(), Ok(Http2::Only));
    /// assert!("h2".parse::<Http2>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "never" => Ok(Http2::Never),
            "prefer" => Ok(Http2::Prefer),
            "only" => Ok(Http2::Only),
            _ => Err(format!("{s:?}: expected prefer, only or never")),
        }
    }
}

/// Why a server cannot take a WebSocket on an HTTP/2 stream
/// ([`Error::NoExtendedConnect`]); [`Http2::Prefer`]
/// upgrades over HTTP/1.1 instead.
#[derive(Debug)]
#[non_exhaustive]
pub enum NoExtendedConnect {
    /// `wss://`: TLS agreed on no `h2` (ALPN), so the server speaks no HTTP/2 there.
    NoAlpnH2,
    /// The server does not speak HTTP/2 (`ws://`: it refused the h2c preface), or
    /// failed before its SETTINGS came.
    NoHttp2(h2::Error),
    /// HTTP/2, but without `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3): a server
    /// that does not advertise it must not be sent an extended CONNECT.
    NotAdvertised,
    /// No SETTINGS within the connect timeout (a server of HTTP/1.1 that waits for the
    /// rest of what it takes for a request head).
    NoSettings,
}

impl std::fmt::Display for NoExtendedConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoExtendedConnect::NoAlpnH2 => {
                f.write_str("the server did not agree to HTTP/2 in the TLS handshake (no ALPN h2)")
            }
            NoExtendedConnect::NoHttp2(e) => {
                write!(f, "the server does not speak HTTP/2 on this port ({e})")
            }
            NoExtendedConnect::NoSettings => {
                f.write_str("the server sent no HTTP/2 SETTINGS within the connect timeout")
            }
            NoExtendedConnect::NotAdvertised => f.write_str(
                "the server speaks HTTP/2 but does not advertise \
                 SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)",
            ),
        }
    }
}

impl std::error::Error for NoExtendedConnect {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NoExtendedConnect::NoHttp2(e) => Some(e),
            _ => None,
        }
    }
}

/// A socket's transport: one HTTP/2 stream, as `AsyncRead + AsyncWrite`. Reads release
/// the stream's window as the bytes are taken (so a reader that stops holds back its own
/// stream only); writes wait for the peer's window; `poll_shutdown` ends the stream
/// (`END_STREAM`); dropping it without one resets the stream (`RST_STREAM` `CANCEL`).
/// A `RST_STREAM` from the peer is an `io::ErrorKind::ConnectionReset` naming it.
pub struct H2Stream {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    /// Received and not yet read.
    buf: Bytes,
    ended: bool,
}

impl std::fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Stream")
            .field("stream_id", &self.send.stream_id())
            .finish_non_exhaustive()
    }
}

impl H2Stream {
    /// The stream of an accepted extended CONNECT as a transport, from its two halves:
    /// the client's (the [`SendStream`](h2::SendStream) of the request and the
    /// response's body) or a server's on h2 itself (the `SendStream` that
    /// `SendResponse::send_response` returned after the 200, and the request's body).
    pub fn new(send: h2::SendStream<Bytes>, recv: h2::RecvStream) -> H2Stream {
        H2Stream {
            send,
            recv,
            buf: Bytes::new(),
            ended: false,
        }
    }

    /// The HTTP/2 stream's id (odd: the client opened it).
    pub fn stream_id(&self) -> u32 {
        self.send.stream_id().as_u32()
    }

    /// Resets the stream (`RST_STREAM` with `reason`): the peer's socket ends as an
    /// abnormal closure (1006), the connection's other streams go on.
    pub fn reset(&mut self, reason: h2::Reason) {
        self.send.send_reset(reason);
    }
}

/// A stream reset or a failed connection, as the IO error the socket reports.
fn h2_io_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into());
    }
    match e.reason() {
        Some(reason) if e.is_reset() => reset_error(reason),
        _ => io::Error::other(e),
    }
}

/// The peer's `RST_STREAM` with `reason`, as the IO error the socket reports.
fn reset_error(reason: h2::Reason) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("the peer reset the HTTP/2 stream ({reason}): closed without a close frame (1006)"),
    )
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.buf.is_empty() {
            match std::task::ready!(self.recv.poll_data(cx)) {
                // END_STREAM: the peer's end of the transport.
                None => return Poll::Ready(Ok(())),
                Some(Ok(data)) => self.buf = data,
                Some(Err(e)) => return Poll::Ready(Err(h2_io_error(e))),
            }
        }
        let n = self.buf.len().min(out.remaining());
        out.put_slice(&self.buf[..n]);
        self.buf.advance(n);
        // The window reopens as the bytes are taken, not as they arrive.
        let _ = self.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if let Poll::Ready(reset) = self.send.poll_reset(cx) {
            return Poll::Ready(Err(match reset {
                Ok(reason) => reset_error(reason),
                Err(e) => h2_io_error(e),
            }));
        }
        // Ask for the window this write needs, and wait until some of it is ours: the
        // peer's window is the backpressure.
        self.send.reserve_capacity(buf.len());
        let capacity = loop {
            let capacity = self.send.capacity();
            if capacity > 0 {
                break capacity;
            }
            match std::task::ready!(self.send.poll_capacity(cx)) {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(h2_io_error(e))),
                None => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the HTTP/2 stream is closed for sending",
                    )))
                }
            }
        };
        let n = capacity.min(buf.len());
        self.send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(h2_io_error)?;
        // Give back what this write did not use: an idle socket holds none of the
        // connection's window.
        self.send.reserve_capacity(0);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection's task writes the frames as they are queued.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.ended {
            self.ended = true;
            // END_STREAM: RFC 8441 §5, the orderly close of the transport. A stream the
            // peer reset already has nothing to end.
            let _ = self.send.send_data(Bytes::new(), true);
        }
        Poll::Ready(Ok(()))
    }
}

/// The client's side of one HTTP/2 connection to a server that takes WebSockets on
/// its streams: the handshake and the wait for the server's SETTINGS
/// ([`handshake`](Self::handshake)), then an extended CONNECT per socket
/// ([`open`](Self::open)). The connection runs in a task on the current tokio runtime
/// until this and every stream on it are dropped.
pub struct Http2Session {
    send: h2::client::SendRequest<Bytes>,
    scheme: &'static str,
    authority: String,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Http2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Session")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Http2Session {
    /// The HTTP/2 handshake over a transport already connected (with ALPN `h2` agreed
    /// if `tls`), then the wait for the server's SETTINGS: an error before they come,
    /// and SETTINGS without `SETTINGS_ENABLE_CONNECT_PROTOCOL`, are
    /// [`Error::NoExtendedConnect`]. Call it inside a tokio runtime (it spawns the
    /// connection's task); `authority` is the `:authority` of the requests.
    pub async fn handshake<S>(io: S, tls: bool, authority: &str) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let no_http2 = |e| Error::NoExtendedConnect(NoExtendedConnect::NoHttp2(e));
        let (send, mut connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_concurrent_streams(MAX_STREAMS)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(no_http2)?;
        let mut ping = connection.ping_pong();
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        // The server's SETTINGS is the first frame it sends (RFC 9113 §3.4), so by the
        // time our PING's answer is back, SETTINGS_ENABLE_CONNECT_PROTOCOL is known.
        if let Some(ping) = ping.as_mut() {
            ping.ping(h2::Ping::opaque()).await.map_err(no_http2)?;
        }
        let send = send.ready().await.map_err(no_http2)?;
        if !send.is_extended_connect_protocol_enabled() {
            return Err(Error::NoExtendedConnect(NoExtendedConnect::NotAdvertised));
        }
        Ok(Http2Session {
            send,
            scheme: if tls { "https" } else { "http" },
            authority: authority.to_string(),
            task,
        })
    }

    /// Opens a socket's stream: `request`'s extended CONNECT for `path` (its
    /// subprotocols, permessage-deflate offer, origin and headers as RFC 8441 §5 carries
    /// them), and its answer checked: a status other than 2xx is [`Error::Refused`],
    /// an answer that does not fit the offer [`Error::Handshake`].
    pub async fn open(
        &mut self,
        path: &str,
        request: &ClientRequest,
    ) -> Result<(H2Stream, Accepted), Error> {
        let path = if path.is_empty() { "/" } else { path };
        let uri = format!("{}://{}{}", self.scheme, self.authority, path);
        let mut builder = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(uri)
            .extension(h2::ext::Protocol::from_static("websocket"));
        for (name, value) in request.h2_headers() {
            builder = builder.header(name, value);
        }
        let req = builder
            .body(())
            .map_err(|e| Error::InvalidHeader(e.to_string()))?;
        let mut send = self.send.clone().ready().await.map_err(Error::Http2)?;
        let (response, stream) = send.send_request(req, false).map_err(Error::Http2)?;
        let (head, recv) = response.await.map_err(Error::Http2)?.into_parts();
        let headers = head
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let accepted = match request.check_h2_response(head.status.as_u16(), headers) {
            Ok(a) => a,
            Err(ResponseError::NotOk(status)) => {
                return Err(Error::Refused {
                    status,
                    body: String::new(),
                })
            }
            Err(e) => return Err(Error::Handshake(e)),
        };
        Ok((H2Stream::new(stream, recv), accepted))
    }

    /// The `:authority` of the requests.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// A handle for ordinary requests on the same connection (h2's `SendRequest`).
    pub fn sender(&self) -> h2::client::SendRequest<Bytes> {
        self.send.clone()
    }

    /// Lets the connection go (a GOAWAY once its streams are done) and waits for its
    /// task to end, `within` at most.
    pub async fn close(self, within: Duration) {
        let Http2Session { send, task, .. } = self;
        drop(send);
        let _ = tokio::time::timeout(within, task).await;
    }
}

// ---- The blocking client's bridge ----

/// What the bridge learned of the stream's end, for the client's reads and writes.
#[derive(Debug, Default)]
struct Link {
    /// The stream's failure (a `RST_STREAM`, the connection lost), set before the
    /// client's end of the socket sees the end of its input.
    error: Mutex<Option<(io::ErrorKind, String)>>,
    /// The client is gone (dropped): the bridge has [`LINGER`] left, even if the
    /// server stopped reading and the client's last bytes wait for its window.
    gone: tokio::sync::Notify,
}

impl Link {
    fn set(&self, e: &io::Error) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert_with(|| (e.kind(), e.to_string()));
        }
    }

    fn get(&self) -> Option<io::Error> {
        let slot = self.error.lock().ok()?;
        slot.as_ref()
            .map(|(kind, text)| io::Error::new(*kind, text.clone()))
    }
}

/// The client's end of the bridge: a loopback socket that reads and writes the
/// stream's bytes, and says why the stream failed when it did.
#[derive(Debug)]
pub(crate) struct Bridged {
    // Dropped first: the end of the socket is what ends the thread joined below.
    tcp: TcpStream,
    link: Arc<Link>,
    stream_id: u32,
    thread: Joiner,
}

/// The bridge's thread, told the client is gone and joined when the client's end of
/// the socket is gone (it ends within [`LINGER`] and 1 s of that, whatever the server
/// does).
#[derive(Debug)]
struct Joiner(Option<JoinHandle<()>>, Arc<Link>);

impl Drop for Joiner {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            self.1.gone.notify_one();
            let _ = thread.join();
        }
    }
}

impl Bridged {
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The socket alone ([`Client::split`](crate::Client::split)): the thread goes on
    /// and ends with it, unjoined.
    pub(crate) fn into_tcp(mut self) -> TcpStream {
        self.thread.0 = None;
        self.tcp
    }

    pub(crate) fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// An error the socket gave (or its end), as the stream's own failure if it had one.
    fn explain<T>(&self, r: io::Result<T>, ended: impl Fn(&T) -> bool) -> io::Result<T> {
        match r {
            Ok(v) if ended(&v) => self.link.get().map_or(Ok(v), Err),
            Err(e)
                if !wisp_codec::blocking::is_timeout(&e)
                    && e.kind() != io::ErrorKind::Interrupted =>
            {
                Err(self.link.get().unwrap_or(e))
            }
            r => r,
        }
    }
}

impl Read for Bridged {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.tcp.read(buf);
        self.explain(r, |n| *n == 0 && !buf.is_empty())
    }
}

impl Write for Bridged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.tcp.write(buf);
        self.explain(r, |_| false)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let r = self.tcp.write_vectored(bufs);
        self.explain(r, |_| false)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Two connected loopback sockets; the second is accepted only from the first (another
/// local process cannot slip in between).
fn socket_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let near = TcpStream::connect(listener.local_addr()?)?;
    let ours = near.local_addr()?;
    for _ in 0..16 {
        let (far, peer) = listener.accept()?;
        if peer == ours {
            near.set_nodelay(true)?;
            far.set_nodelay(true)?;
            return Ok((near, far));
        }
    }
    Err(io::Error::other(
        "the loopback socket for the HTTP/2 stream was not ours",
    ))
}

/// What the bridge's thread needs to open the stream.
struct Opening {
    tcp: TcpStream,
    /// Bytes read past a proxy's answer, the server's already.
    early: Vec<u8>,
    tls: Option<Arc<rustls::ClientConfig>>,
    url: Url,
    request: ClientRequest,
    timeout: Duration,
}

/// The blocking client's socket on an HTTP/2 stream: `tcp` (connected, through the
/// proxy if any) carries TLS with ALPN `h2` (`tls`, for `wss://`) or h2c, the bridge's
/// thread opens the stream, and the client gets its end of the socket pair with what
/// the server agreed to. Errors are the HTTP/1.1 path's (`Error::Tls`, `Error::Refused`...),
/// and [`Error::NoExtendedConnect`] when the server cannot take the socket on a stream.
pub(crate) fn connect(
    url: &Url,
    options: &Options,
    tcp: TcpStream,
    early: Vec<u8>,
    tls: Option<Arc<rustls::ClientConfig>>,
    request: ClientRequest,
) -> Result<(Bridged, Accepted), Error> {
    // http/1.1 too, so that a server without h2 says so in ALPN (then `NoAlpnH2`, a
    // clear error or the fall-back) rather than with a TLS alert.
    let tls = tls.map(|config| {
        let mut with_alpn = (*config).clone();
        with_alpn.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(with_alpn)
    });
    let (near, far) = socket_pair().map_err(Error::Io)?;
    tcp.set_nonblocking(true).map_err(Error::Io)?;
    far.set_nonblocking(true).map_err(Error::Io)?;
    let link = Arc::new(Link::default());
    let opening = Opening {
        tcp,
        early,
        tls,
        url: url.clone(),
        request,
        timeout: options.connect_timeout,
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let thread_link = Arc::clone(&link);
    let thread = std::thread::Builder::new()
        .name("wisp-client-h2".into())
        .spawn(move || bridge(opening, far, thread_link, tx))
        .map_err(Error::Io)?;
    let thread = Joiner(Some(thread), Arc::clone(&link));
    // The thread answers once, within the connect timeout, or ends (its sender dropped).
    let opened = rx.recv();
    // From here on the socket goes before the thread is joined (`Bridged`'s fields).
    let (accepted, stream_id) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(Error::Io(io::Error::other(
                "the HTTP/2 thread ended before the stream opened",
            )))
        }
    };
    let bridged = Bridged {
        tcp: near,
        link,
        stream_id,
        thread,
    };
    bridged.tcp.set_read_timeout(options.read_timeout)?;
    bridged.tcp.set_write_timeout(options.write_timeout)?;
    Ok((bridged, accepted))
}

type Opened = Result<(Accepted, u32), Error>;

/// The bridge's thread: opens the stream, says how it went, then carries its bytes
/// until both ends are done.
fn bridge(opening: Opening, far: TcpStream, link: Arc<Link>, tx: mpsc::SyncSender<Opened>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(Error::Io(e)));
            return;
        }
    };
    runtime.block_on(async move {
        let (session, stream, accepted) = match open(opening).await {
            Ok(opened) => opened,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let far = match tokio::net::TcpStream::from_std(far) {
            Ok(far) => far,
            Err(e) => {
                let _ = tx.send(Err(Error::Io(e)));
                return;
            }
        };
        if tx.send(Ok((accepted, stream.stream_id()))).is_err() {
            return;
        }
        // Once the client is gone, LINGER at most (the pump waits on a server that
        // stopped reading otherwise).
        let gone = async {
            link.gone.notified().await;
            tokio::time::sleep(LINGER).await;
        };
        let _ = first(pump(stream, far, &link), gone).await;
        session.close(Duration::from_secs(1)).await;
    });
}

/// TLS (ALPN `h2`) or h2c, the HTTP/2 handshake, and the extended CONNECT, each within
/// the connect timeout (as TLS and the handshake are over HTTP/1.1).
async fn open(o: Opening) -> Result<(Http2Session, H2Stream, Accepted), Error> {
    let within =
        |what: &'static str| move |_| Error::Io(io::Error::new(io::ErrorKind::TimedOut, what));
    let t = o.timeout;
    let (read, write) = tokio::net::TcpStream::from_std(o.tcp)?.into_split();
    let tcp = tokio::io::join(AsyncReadExt::chain(io::Cursor::new(o.early), read), write);
    let mut session = match o.tls {
        None => settings_within(t, Http2Session::handshake(tcp, false, &o.url.authority)).await?,
        Some(config) => {
            let name =
                rustls::pki_types::ServerName::try_from(o.url.host.clone()).map_err(|error| {
                    Error::Tls(crate::TlsError::ServerName {
                        host: o.url.host.clone(),
                        error,
                    })
                })?;
            let connect = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
            let tls = tokio::time::timeout(t, connect)
                .await
                .map_err(within("no TLS handshake in time"))?
                .map_err(|e| crate::tls_error(&o.url.host, e))?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(Error::NoExtendedConnect(NoExtendedConnect::NoAlpnH2));
            }
            settings_within(t, Http2Session::handshake(tls, true, &o.url.authority)).await?
        }
    };
    let (stream, accepted) = tokio::time::timeout(t, session.open(&o.url.path, &o.request))
        .await
        .map_err(within("no answer to the extended CONNECT in time"))??;
    Ok((session, stream, accepted))
}

/// The HTTP/2 handshake within `t`: a server that sends no SETTINGS by then is taken for
/// one without HTTP/2 ([`NoExtendedConnect::NoSettings`]).
async fn settings_within(
    t: Duration,
    handshake: impl std::future::Future<Output = Result<Http2Session, Error>>,
) -> Result<Http2Session, Error> {
    tokio::time::timeout(t, handshake)
        .await
        .unwrap_or(Err(Error::NoExtendedConnect(NoExtendedConnect::NoSettings)))
}

/// Polls both, and gives the output of whichever ends first (`Ok`: `a`'s). Pass
/// pinned references to go on with the other one after.
async fn first<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        b.as_mut().poll(cx).map(Err)
    })
    .await
}

/// Carries the stream's bytes both ways between the stream and the bridge's end of the
/// socket pair, the ends included, until both directions are done: the server's
/// `END_STREAM` shuts the socket's write side (the client reads its end); the client's
/// end of the socket ends the stream, and the server then has [`LINGER`] to end its
/// side; a failure (a `RST_STREAM`) is kept in `link` before the socket ends, and the
/// stream is dropped (reset, if it was still open).
async fn pump(stream: H2Stream, far: tokio::net::TcpStream, link: &Link) {
    let (mut from_server, mut to_server) = tokio::io::split(stream);
    let (mut from_client, mut to_client) = far.into_split();
    let up = async {
        let r = tokio::io::copy(&mut from_client, &mut to_server).await;
        match &r {
            // The client's end: END_STREAM.
            Ok(_) => {
                let _ = to_server.shutdown().await;
            }
            // A reset seen while sending (or the client's socket failed: then nobody
            // reads this).
            Err(e) => link.set(e),
        }
        r
    };
    let down = async {
        let r = tokio::io::copy(&mut from_server, &mut to_client).await;
        if let Err(e) = &r {
            link.set(e);
        }
        let _ = to_client.shutdown().await;
        r
    };
    let (mut up, mut down) = (std::pin::pin!(up), std::pin::pin!(down));
    // Whichever direction ends first.
    let ended = first(up.as_mut(), down.as_mut()).await;
    match ended.map(|r| r.is_ok()).map_err(|r| r.is_ok()) {
        // The client's end: the server has LINGER to end its side; then the stream is
        // dropped (reset).
        Ok(true) => {
            let _ = tokio::time::timeout(LINGER, down).await;
        }
        // The server's side ended first: the client still reads what it has and may
        // still answer (its close), until its end of the socket.
        Err(true) => {
            let _ = up.await;
        }
        // A failure either way: the stream is dropped (reset, if still open).
        Ok(false) | Err(false) => {}
    }
}
