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
//! 3. [`Handler::on_open`], once, before any message.
//! 4. [`Handler::on_message`] for each message; [`Handler::before_flush`] before each
//!    write. Messages pushed through a [`Sender`] are moved into the connection just
//!    before `before_flush`, as fast as the peer reads them.
//! 5. [`Handler::on_end`], once, however the connection ends.
//!
//! Every call runs on the connection's worker thread, inside its event loop, beside
//! the worker's other connections: a handler must never block. Work that waits (a
//! timer, a database, a queue) runs elsewhere and sends through a [`Sender`].

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use wisp_codec::handshake::{self, HeaderError, Refusal, Request};
use wisp_codec::{CloseCode, Connection, Message};

use crate::wake::Wake;

/// The application side of one WebSocket connection.
///
/// A handler runs on one of the server's worker threads, inside its event loop, beside
/// every other connection of that worker: it must never block (no sleeping, no
/// blocking IO, no waiting on a lock another connection holds for long). Replies go
/// through `conn`; the loop writes them. A handler that panics costs its own
/// connection a close 1011 and nothing else.
pub trait Handler: Send {
    /// Called once when the connection opens, before any message: greet, or send
    /// what the peer is to start with. `conn` is the connection's state, as in
    /// every call.
    fn on_open(&mut self, conn: &mut Connection) {
        let _ = conn;
    }

    /// A message arrived (text, binary, ping, pong or close; pings and closes are
    /// already answered). Reply through `conn`.
    fn on_message(&mut self, conn: &mut Connection, message: Message);

    /// Called just before queued output is written: after each batch of messages,
    /// after a keepalive ping, and when the connection is woken by a [`Sender`] (after
    /// the sender's messages are moved into `conn`).
    fn before_flush(&mut self, conn: &mut Connection) {
        let _ = conn;
    }

    /// Called once when the connection ends, however it ends.
    fn on_end(&mut self) {}
}

/// What a route's factory decides for each upgrade request: a handler for the
/// connection ([`Accept`]), or an HTTP refusal ([`Refusal`]: status, reason, headers).
/// A factory that panics costs that request a 500.
pub type HandlerFactory = Arc<dyn Fn(&Upgrade<'_>) -> Result<Accept, Refusal> + Send + Sync>;

/// A route's yes: the connection's handler, and headers of the application's own for
/// the 101 response.
///
/// ```
/// use wisp_server::{Accept, Echo};
/// let a = Accept::new(Echo).header("X-Served-By", "wisp")?;
/// assert!(Accept::new(Echo).header("Sec-WebSocket-Accept", "x").is_err()); // the handshake's own
/// # Ok::<(), wisp_server::HeaderError>(())
/// ```
pub struct Accept {
    pub(crate) handler: Box<dyn Handler>,
    /// Checked: each one passed `handshake::Response::header`.
    pub(crate) headers: Vec<(String, String)>,
}

impl fmt::Debug for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accept")
            .field("headers", &self.headers)
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
        }
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
}

/// The upgrade request a route's factory decides on: it passed the RFC 6455 checks and
/// the server's origin policy.
pub struct Upgrade<'a> {
    pub(crate) request: &'a Request,
    pub(crate) path: &'a str,
    pub(crate) protocol: Option<&'a str>,
    pub(crate) peer: Option<SocketAddr>,
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

    /// The peer's address (`None` if the OS no longer knows it).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
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
    /// either decides the limit): `/chat` gives its members
    /// [`Config::chat_queue`](crate::Config::chat_queue).
    pub fn sender_with_limit(&self, limit: usize) -> Sender {
        let outbox = self
            .outbox
            .get_or_init(|| Outbox::new(limit, self.wake.clone()));
        Sender(Arc::clone(outbox))
    }
}

/// Why a [`Sender`] did not queue a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection's queue is full (its peer reads slower than messages come): the
    /// message was dropped. Try later, or give up on this peer with
    /// [`Sender::close`].
    Full,
    /// The connection ended, or a close was asked for: nothing more goes out.
    Closed,
    /// [`Sender::close`] with a code that may not be sent (1005, 1006, 1015, below
    /// 1000...) or a reason over 123 bytes (§5.5.1).
    InvalidClose,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Full => "the connection's outgoing queue is full",
            SendError::Closed => "the connection is closed",
            SendError::InvalidClose => {
                "a close code that may not be sent, or a reason over 123 bytes (RFC 6455 §5.5.1)"
            }
        })
    }
}

impl std::error::Error for SendError {}

/// Pushes messages to one connection from any thread: cloneable, `Send` and `Sync`,
/// and it never blocks on the socket. A message goes into the connection's bounded
/// queue and wakes the connection's worker, which moves queued messages into the
/// connection as fast as the peer reads them (while less than 64 KiB of it is
/// unsent). `/chat` delivers every room event this way.
///
/// Get one from [`Upgrade::sender`]. After the connection ends every send is
/// [`SendError::Closed`]; a sender outliving its connection holds only its queue.
#[derive(Clone)]
pub struct Sender(Arc<Outbox>);

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.queued())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Sender {
    /// Queues a text message. An `Arc<str>` is queued as it is: one text for many
    /// connections is never copied.
    pub fn send_text(&self, text: impl Into<Arc<str>>) -> Result<(), SendError> {
        self.0.push(Out::Text(text.into()), false)
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: impl Into<Vec<u8>>) -> Result<(), SendError> {
        self.0
            .push(Out::Message(Message::Binary(data.into())), false)
    }

    /// Queues any message: text, binary, ping or pong (a close goes through
    /// [`close`](Sender::close)).
    pub fn send(&self, message: Message) -> Result<(), SendError> {
        match message {
            Message::Close(frame) => {
                let (code, reason) =
                    frame.map_or((CloseCode::NORMAL, String::new()), |f| (f.code, f.reason));
                self.close(code, &reason)
            }
            m => self.0.push(Out::Message(m), false),
        }
    }

    /// Asks for the closing handshake with `code` and `reason`, after the messages
    /// already queued. The first request wins; later sends are [`SendError::Closed`].
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.0.request_close(code, reason)
    }

    /// True once the connection ended or a close was asked for.
    pub fn is_closed(&self) -> bool {
        self.0.lock().is_none_or(|q| q.ended || q.closing.is_some())
    }

    /// Messages waiting in the queue.
    pub fn queued(&self) -> usize {
        self.0.lock().map_or(0, |q| q.items.len())
    }

    pub(crate) fn outbox(&self) -> &Arc<Outbox> {
        &self.0
    }
}

/// One queued message.
enum Out {
    Text(Arc<str>),
    Message(Message),
}

#[derive(Default)]
pub(crate) struct Queue {
    items: VecDeque<Out>,
    closing: Option<(CloseCode, String)>,
    ended: bool,
}

/// The queue behind a connection's [`Sender`]s, drained by the connection's worker.
pub(crate) struct Outbox {
    limit: usize,
    queue: Mutex<Queue>,
    wake: Wake,
}

/// Unsent bytes of a connection above which its queue is not drained.
const BACKLOG: usize = 64 * 1024;

impl Outbox {
    fn new(limit: usize, wake: Wake) -> Arc<Outbox> {
        Arc::new(Outbox {
            limit,
            queue: Mutex::new(Queue::default()),
            wake,
        })
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Queue>> {
        self.queue.lock().ok()
    }

    /// Queues `out` (past the limit with `unbounded`) and wakes the worker when the
    /// queue was empty (a queue that is not rides on that wake-up).
    fn push(&self, out: Out, unbounded: bool) -> Result<(), SendError> {
        let mut q = self.lock().ok_or(SendError::Closed)?;
        if q.ended || q.closing.is_some() {
            return Err(SendError::Closed);
        }
        if !unbounded && q.items.len() >= self.limit {
            return Err(SendError::Full);
        }
        let was_empty = q.items.is_empty();
        q.items.push_back(out);
        drop(q);
        if was_empty {
            self.wake.wake();
        }
        Ok(())
    }

    /// Queues a text past the limit: a backlog already bounded by its producer.
    pub(crate) fn push_unbounded(&self, text: Arc<str>) {
        let _ = self.push(Out::Text(text), true);
    }

    /// Queues a text within the limit.
    pub(crate) fn push_text(&self, text: &Arc<str>) -> Result<(), SendError> {
        self.push(Out::Text(Arc::clone(text)), false)
    }

    pub(crate) fn request_close(&self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_valid_on_wire() || reason.len() > 123 {
            return Err(SendError::InvalidClose);
        }
        let mut q = self.lock().ok_or(SendError::Closed)?;
        if q.ended || q.closing.is_some() {
            return Err(SendError::Closed);
        }
        q.closing = Some((code, reason.to_string()));
        drop(q);
        self.wake.wake();
        Ok(())
    }

    /// Replaces the backlog with `last` (if any) and asks for a close after it: a peer
    /// too slow for its queue.
    pub(crate) fn give_up(&self, last: Option<Arc<str>>, code: CloseCode, reason: &str) {
        if let Some(mut q) = self.lock() {
            if q.ended || q.closing.is_some() {
                return;
            }
            q.items.clear();
            q.items.extend(last.map(Out::Text));
            q.closing = Some((code, reason.to_string()));
        }
        self.wake.wake();
    }

    /// Moves queued messages into `conn`, only as far as the socket is taking them:
    /// the rest waits in the bounded queue, so a peer that does not read fills it
    /// instead of our buffers. Once the queue is empty, a requested close goes out.
    pub(crate) fn deliver(&self, conn: &mut Connection) {
        if conn.close_sent().is_some() {
            return;
        }
        let Some(mut q) = self.lock() else { return };
        while conn.pending_output_len() < BACKLOG {
            let Some(out) = q.items.pop_front() else {
                break;
            };
            // Fails only once a close went out: then nothing more may be sent anyway.
            let _ = match out {
                Out::Text(t) => conn.send_text(&t),
                Out::Message(m) => conn.send(m),
            };
        }
        if q.items.is_empty() {
            if let Some((code, reason)) = &q.closing {
                let _ = conn.send_close(*code, reason);
            }
        }
    }

    /// The connection ended: every later send is refused, the queue is dropped.
    pub(crate) fn end(&self) {
        if let Some(mut q) = self.lock() {
            q.ended = true;
            q.items.clear();
        }
    }
}
