//! [`Sender`]: pushes messages to one connection from any thread, through a bounded
//! queue (`Outbox`) that the connection's worker drains as fast as the peer reads.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use wisp_codec::{CloseCode, Connection, Message, PreparedMessage};

use crate::wake::Wake;

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
/// Get one from [`Upgrade::sender`](crate::Upgrade::sender). After the connection ends every send is
/// [`SendError::Closed`]; a sender outliving its connection holds only its queue.
#[derive(Clone)]
pub struct Sender(pub(crate) Arc<Outbox>);

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

    /// Queues a [`PreparedMessage`]: one message for many connections, framed for each
    /// and compressed at most once for all those whose permessage-deflate keeps no
    /// window on our side (the server's default, shared mode); a connection with context
    /// takeover compresses it itself. `/chat` sends every room event this way.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wisp_server::{Message, PreparedMessage};
    /// let msg = Arc::new(PreparedMessage::new(Message::Text("to everyone".into())).unwrap());
    /// # let senders: Vec<wisp_server::Sender> = Vec::new();
    /// for member in &senders {
    ///     let _ = member.send_prepared(Arc::clone(&msg));
    /// }
    /// ```
    pub fn send_prepared(&self, message: Arc<PreparedMessage>) -> Result<(), SendError> {
        self.0.push(Out::Prepared(message), false)
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
    Prepared(Arc<PreparedMessage>),
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
    pub(crate) fn new(limit: usize, wake: Wake) -> Arc<Outbox> {
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

    /// Queues a prepared message within the limit.
    pub(crate) fn push_prepared(&self, message: &Arc<PreparedMessage>) -> Result<(), SendError> {
        self.push(Out::Prepared(Arc::clone(message)), false)
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
                Out::Prepared(p) => conn.send_prepared(&p),
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
