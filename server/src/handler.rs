//! The API of a route: a [`Handler`] per connection, built by the route's factory from
//! the [`Upgrade`] request, which it may refuse; a [`Sender`] to push messages to the
//! connection from anywhere.
//!
//! ## The life of a connection
//! 1. The request head arrives and passes the RFC 6455 checks (§4.2.1), the origin
//!    check ([`Config::origins`](crate::Config::origins)) and the subprotocol choice
//!    ([`Config::subprotocols`](crate::Config::subprotocols)).
//! 2. The route's factory sees the [`Upgrade`]: path, query, headers, the chosen
//!    subprotocol, the peer's address. It returns an [`Accept`] (the handler, and
//!    headers for the 101 response) or a [`Refusal`] (an HTTP status and reason: 401,
//!    403...), which is the whole answer.
//! 3. [`Handler::on_open`], once, before any message; the [`Session`] it gets also
//!    shows the opening handshake as it crossed the socket.
//! 4. [`Handler::on_message`] for each message; [`Handler::before_flush`] before each
//!    write. Messages pushed through a [`Sender`] are moved into the connection just
//!    before `before_flush`, as fast as the peer reads them.
//! 5. [`Handler::on_end`], once, however the connection ends; its [`Session`] says how
//!    ([`Session::end_reason`]).
//!
//! A handler sees its connection through a [`Session`]: a borrowed view that sends,
//! closes and reads the connection's state, while the event loop keeps the reading,
//! the decoding and the writing to itself.
//!
//! Every call runs on the connection's worker thread, inside its event loop, beside
//! the worker's other connections: a handler must never block. Work that waits (a
//! timer, a database, a queue) runs elsewhere and sends through a [`Sender`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use wisp_codec::extension::DeflateParams;
use wisp_codec::handshake::{self, HeaderError, Refusal, Request};
use wisp_codec::{CloseCode, CloseFrame, Connection, Message, State, UsageError, WireFrame};

use crate::sender::{Outbox, Sender};
use crate::wake::Wake;

/// The application side of one WebSocket connection.
///
/// A handler runs on one of the server's worker threads, inside its event loop, beside
/// every other connection of that worker: it must never block (no sleeping, no
/// blocking IO, no waiting on a lock another connection holds for long). Replies go
/// through the [`Session`]; the loop writes them. A handler that panics costs its own
/// connection a close 1011 and nothing else.
pub trait Handler: Send {
    /// Called once when the connection opens, before any message: greet, or send
    /// what the peer is to start with. [`Session::handshake`] shows the opening
    /// handshake here (and only here).
    fn on_open(&mut self, session: &mut Session<'_>) {
        let _ = session;
    }

    /// A message arrived (text, binary, ping, pong or close; pings and closes are
    /// already answered). Reply through `session`.
    fn on_message(&mut self, session: &mut Session<'_>, message: Message);

    /// Called just before queued output is written: after each batch of messages,
    /// after a keepalive ping, and when the connection is woken by a [`Sender`] (after
    /// the sender's messages are moved into the connection).
    fn before_flush(&mut self, session: &mut Session<'_>) {
        let _ = session;
    }

    /// Called once when the connection ends, however it ends:
    /// [`Session::end_reason`] says how, the close frames say what was exchanged, and
    /// nothing sent now goes out.
    fn on_end(&mut self, session: &mut Session<'_>) {
        let _ = session;
    }
}

/// A handler's view of its connection: send, close, and read the state. The event
/// loop keeps the rest (reading, decoding, writing, the timers), so a handler cannot
/// consume input or output behind the loop's back.
///
/// ```
/// use wisp_server::{Handler, Message, Session};
/// /// Answers every text with its length, and says goodbye after ten.
/// struct Length(u32);
/// impl Handler for Length {
///     fn on_message(&mut self, session: &mut Session<'_>, message: Message) {
///         if let Message::Text(t) = message {
///             let _ = session.send_text(&t.len().to_string());
///             self.0 += 1;
///             if self.0 == 10 {
///                 let _ = session.close(wisp_server::CloseCode::NORMAL, "ten is enough");
///             }
///         }
///     }
/// }
/// ```
pub struct Session<'a> {
    conn: &'a mut Connection,
    id: u64,
    handshake: Option<Handshake<'a>>,
    end_reason: Option<&'a str>,
}

/// The opening handshake as it crossed the socket: the client's request head and the
/// server's 101 response head, byte for byte.
#[derive(Debug, Clone, Copy)]
pub struct Handshake<'a> {
    /// The request head, up to and including its blank line.
    pub request: &'a [u8],
    /// The 101 response head the server wrote.
    pub response: &'a [u8],
}

impl fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("state", &self.conn.state())
            .finish_non_exhaustive()
    }
}

impl<'a> Session<'a> {
    pub(crate) fn new(conn: &'a mut Connection, id: u64) -> Session<'a> {
        Session {
            conn,
            id,
            handshake: None,
            end_reason: None,
        }
    }

    pub(crate) fn opening(mut self, handshake: Handshake<'a>) -> Session<'a> {
        self.handshake = Some(handshake);
        self
    }

    pub(crate) fn ended(mut self, how: &'a str) -> Session<'a> {
        self.end_reason = Some(how);
        self
    }

    /// The connection itself, for the event loop (decoding, a `Sender`'s queue).
    pub(crate) fn connection(&mut self) -> &mut Connection {
        self.conn
    }

    /// The connection's number in the server's log (`#7`), as [`Upgrade::id`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.conn.send_text(text)
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.conn.send_binary(data)
    }

    /// Queues any message, taken by value: a large payload goes out without a copy
    /// ([`Connection::send`]). A close goes through [`close`](Session::close).
    pub fn send(&mut self, message: Message) -> Result<(), UsageError> {
        self.conn.send(message)
    }

    /// Queues a ping (at most 125 bytes of application data).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.conn.send_ping(payload)
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), UsageError> {
        self.conn.send_close(code, reason)
    }

    /// Queues a data frame of a message being sent in fragments ([`Connection::send_frame`]).
    pub fn send_frame(
        &mut self,
        opcode: wisp_codec::OpCode,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), UsageError> {
        self.conn.send_frame(opcode, fin, payload)
    }

    /// The permessage-deflate parameters agreed in the handshake (RFC 7692), if any:
    /// `None` when the client offered none, or the server or the route
    /// ([`Accept::deflate`]) declined it.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.conn.deflate_params()
    }

    /// With permessage-deflate agreed, data messages shorter than `bytes` go out
    /// uncompressed ([`Connection::set_compress_threshold`]; default
    /// [`DEFAULT_COMPRESS_THRESHOLD`](wisp_codec::DEFAULT_COMPRESS_THRESHOLD)); a
    /// fragmented message is judged by its first fragment, whose compressed stream then
    /// continues in the message's other fragments (RSV1 on the first only, RFC 7692 §6.1).
    /// 0 compresses every data message.
    pub fn set_compress_threshold(&mut self, bytes: usize) {
        self.conn.set_compress_threshold(bytes);
    }

    /// The protocol state.
    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// The close frame we sent, if any.
    pub fn close_sent(&self) -> Option<&CloseFrame> {
        self.conn.close_sent()
    }

    /// The close frame the peer sent, if any (`Some(None)`: a close without a body).
    pub fn close_received(&self) -> Option<Option<&CloseFrame>> {
        self.conn.close_received()
    }

    /// How the connection ended, as its close code (1005, 1006 included), once it has.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.conn.close_code()
    }

    /// Bytes queued and not yet written: a handler that produces on its own can wait
    /// for them to drain (in [`Handler::before_flush`]).
    pub fn unsent_bytes(&self) -> usize {
        self.conn.pending_output_len()
    }

    /// The opening handshake as it crossed the socket: in [`Handler::on_open`] only.
    pub fn handshake(&self) -> Option<Handshake<'a>> {
        self.handshake
    }

    /// How the connection ended, in the words of the server's log ("closing handshake
    /// done", "the peer closed TCP without a close frame"...): in [`Handler::on_end`]
    /// only.
    pub fn end_reason(&self) -> Option<&'a str> {
        self.end_reason
    }

    /// The next frame recorded since the last call, in or out, with its wire bytes: on
    /// a route whose [`Accept`] asked for [`record_frames`](Accept::record_frames);
    /// `None` otherwise.
    pub fn poll_wire_frame(&mut self) -> Option<WireFrame> {
        self.conn.poll_wire_frame()
    }
}

/// Every message back, same type: the handler of the demo's `/echo`.
#[derive(Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, session: &mut Session<'_>, message: Message) {
        // By value: a large payload goes back out without a copy.
        if let Message::Text(_) | Message::Binary(_) = message {
            let _ = session.send(message);
        }
    }
}

/// What a route's factory decides for each upgrade request: a handler for the
/// connection ([`Accept`]), or an HTTP refusal ([`Refusal`]: status, reason, headers).
/// A factory that panics costs that request a 500.
pub type HandlerFactory = Arc<dyn Fn(&Upgrade<'_>) -> Result<Accept, Refusal> + Send + Sync>;

/// A route's yes: the connection's handler, headers of the application's own for the
/// 101 response, and per-connection options.
///
/// ```
/// use wisp_server::{Accept, Echo};
/// let a = Accept::new(Echo).header("X-Served-By", "wisp")?.record_frames(true);
/// assert!(Accept::new(Echo).header("Sec-WebSocket-Accept", "x").is_err()); // the handshake's own
/// # Ok::<(), wisp_server::HeaderError>(())
/// ```
pub struct Accept {
    pub(crate) handler: Box<dyn Handler>,
    /// Checked: each one passed `handshake::Response::header`.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) record_frames: bool,
    /// permessage-deflate may be agreed (if the client offers it and the server's
    /// [`Config::deflate`](crate::Config::deflate) accepts it).
    pub(crate) deflate: bool,
    /// This route's answer to a deflate offer, in place of the server's.
    pub(crate) deflate_policy: Option<wisp_codec::extension::ServerDeflate>,
}

impl fmt::Debug for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accept")
            .field("headers", &self.headers)
            .field("record_frames", &self.record_frames)
            .field("deflate", &self.deflate)
            .finish_non_exhaustive()
    }
}

impl Accept {
    /// Accepts the connection, served by `handler`.
    pub fn new(handler: impl Handler + 'static) -> Accept {
        Accept::boxed(Box::new(handler))
    }

    /// [`new`](Accept::new) for a handler already boxed.
    pub fn boxed(handler: Box<dyn Handler>) -> Accept {
        Accept {
            handler,
            headers: Vec::new(),
            record_frames: false,
            deflate: true,
            deflate_policy: None,
        }
    }

    /// Answers a permessage-deflate offer with `policy` instead of the server's
    /// [`Config::deflate`](crate::Config::deflate) (a route that lets the client keep its
    /// window, say: `client_no_context_takeover: false`). [`deflate(false)`](Accept::deflate)
    /// still declines, and so does a server without deflate (`Config::deflate` `None`).
    pub fn deflate_policy(mut self, policy: wisp_codec::extension::ServerDeflate) -> Accept {
        self.deflate_policy = Some(policy);
        self
    }

    /// Adds a header to the 101 response (a cookie, say). Refused: names and values
    /// that are not safe to write and the headers the handshake sets itself
    /// ([`wisp_codec::handshake::check_header`]).
    pub fn header(mut self, name: &str, value: &str) -> Result<Accept, HeaderError> {
        // The same checks as the response's own (the key is filled in later).
        let checked = handshake::Response::new("").header(name, value)?;
        self.headers.extend(checked.headers().iter().cloned());
        Ok(self)
    }

    /// Records every frame of the connection, in and out, with its wire bytes, for
    /// [`Session::poll_wire_frame`] (default off: recording copies every frame).
    /// [`Inspect`](crate::Inspect) reports them as JSON.
    pub fn record_frames(mut self, on: bool) -> Accept {
        self.record_frames = on;
        self
    }

    /// `false` declines the client's permessage-deflate offer (RFC 7692) for this
    /// connection: its 101 carries no `Sec-WebSocket-Extensions` and every frame goes
    /// both ways uncompressed, as with [`Config::deflate`](crate::Config::deflate) `None`
    /// for this connection only. Default `true`: the server's `Config::deflate` decides.
    ///
    /// ```
    /// use wisp_server::{Accept, Echo};
    /// // Plain frames on `?deflate=off`, compressed ones (when offered) otherwise.
    /// let route = |up: &wisp_server::Upgrade<'_>| {
    ///     Accept::new(Echo).deflate(up.query_param("deflate") != Some("off"))
    /// };
    /// # let _ = route;
    /// ```
    pub fn deflate(mut self, on: bool) -> Accept {
        self.deflate = on;
        self
    }
}

/// The upgrade request a route's factory decides on: it passed the RFC 6455 checks and
/// the server's origin policy.
pub struct Upgrade<'a> {
    pub(crate) request: &'a Request,
    pub(crate) path: &'a str,
    pub(crate) protocol: Option<&'a str>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) proxy_peer: Option<SocketAddr>,
    pub(crate) id: u64,
    pub(crate) wake: Wake,
    pub(crate) queue: usize,
    pub(crate) outbox: OnceLock<Arc<Outbox>>,
}

impl fmt::Debug for Upgrade<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("target", &self.request.target)
            .field("protocol", &self.protocol)
            .field("peer", &self.peer)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<'a> Upgrade<'a> {
    /// The path of the request target (`/feed` of `/feed?room=a`): the route's path.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query of the request target, without the `?` (`room=a`), if there is one.
    pub fn query(&self) -> Option<&'a str> {
        self.request.target.split_once('?').map(|(_, q)| q)
    }

    /// The raw (not percent-decoded) value of `name` in the query (`a` for `room` in
    /// `?room=a&x=1`); `Some("")` for `?room` or `?room=`.
    pub fn query_param(&self, name: &str) -> Option<&'a str> {
        self.query()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }

    /// The whole request target: path and query, as sent.
    pub fn target(&self) -> &'a str {
        &self.request.target
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.request.header(name)
    }

    /// Every header field (name, value) in order, values trimmed.
    pub fn headers(&self) -> &'a [(String, String)] {
        &self.request.headers
    }

    /// The subprotocol the server chose: the first one the client offered that is in
    /// [`Config::subprotocols`](crate::Config::subprotocols).
    pub fn protocol(&self) -> Option<&'a str> {
        self.protocol
    }

    /// The `Origin` header, if any.
    pub fn origin(&self) -> Option<&'a str> {
        self.request.header("origin")
    }

    /// The client's address (`None` if the OS no longer knows it): behind a trusted
    /// proxy ([`Config::trusted_proxies`](crate::Config::trusted_proxies)) the one it
    /// named (port 0 when it came from `X-Forwarded-For` or `Forwarded` without one).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The trusted proxy's own address when [`peer`](Self::peer) came from it; `None`
    /// for a direct connection.
    pub fn proxy_peer(&self) -> Option<SocketAddr> {
        self.proxy_peer
    }

    /// The connection's number in the server's log (`#7`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A [`Sender`] to this connection (the same one on every call), to hand to
    /// another thread or another connection before the handler even exists. It holds
    /// up to [`Config::send_queue`](crate::Config::send_queue) messages.
    pub fn sender(&self) -> Sender {
        self.sender_with_limit(self.queue)
    }

    /// [`sender`](Upgrade::sender) with a queue of `limit` messages (the first call of
    /// either decides the limit): the demo's `/chat` gives its members
    /// [`Demo::chat_queue`](crate::demo::Demo::chat_queue).
    pub fn sender_with_limit(&self, limit: usize) -> Sender {
        let outbox = self
            .outbox
            .get_or_init(|| Outbox::new(limit, self.wake.clone()));
        Sender(Arc::clone(outbox))
    }
}
