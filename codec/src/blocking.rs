//! A blocking driver over any `Read + Write` stream (feature `std`): the driver of
//! `wisp-client`, and [`accept`] / [`accept_with`] for a server on blocking streams.
//! (`wisp-server` runs its own event loops; both read and write through the same IO
//! adapter, [`Connection::read_from`] and [`Connection::write_to`].)
//!
//! [`WebSocket`] owns a stream and a [`Connection`] whose opening handshake is done. It
//! adds only what blocking IO needs: a small stack buffer for the first read after a
//! quiet spell, one flush per burst of output, and a convenience loop ([`WebSocket::read_message`]) that answers pings and closes as the
//! codec queues them. Threads stay with the caller; so does the clock: a caller that
//! wants the codec's timers reads with a timeout of [`Connection::poll_timeout`] and
//! calls [`Connection::handle_timeout`], through [`WebSocket::connection_mut`] and
//! [`WebSocket::read_some`].
//!
//! ## Read buffers and memory
//! An idle connection costs no heap here: reads go to a small stack buffer until one
//! fills it, then straight into the connection's input buffer (256 KiB at a time, no
//! copy; the adapter's read policy), which is released again when a read times out.
//!
//! ```
//! use std::io::Cursor;
//! use wisp_codec::blocking::WebSocket;
//! use wisp_codec::{Config, Connection, Message};
//! // A server reading the masked "Hello" of RFC 6455 §5.7 from an in-memory stream.
//! let wire = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let mut ws = WebSocket::new(Cursor::new(wire), Connection::server(Config::default()));
//! assert_eq!(ws.read_message().unwrap(), Message::Text("Hello".into()));
//! ```

use std::fmt;
use std::io::{self, Read, Write};

use crate::close::CloseCode;
use crate::connection::{Config, Connection, State};
use crate::error::{ProtocolError, UsageError};
use crate::handshake::{self, Offer, Refusal, Request, RequestError, Response};
use crate::message::Message;

/// Size of the stack buffer used for the first read after an idle period.
const SMALL_READ: usize = 4096;

/// What can go wrong on a blocking WebSocket.
///
/// ```
/// use wisp_codec::blocking::{Error, WebSocket};
/// use wisp_codec::Connection;
/// let mut ws = WebSocket::new(std::io::Cursor::new(vec![0x81, 0x00]), Connection::server(Default::default()));
/// assert!(matches!(ws.read_message(), Err(Error::Protocol(_)))); // unmasked client frame
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The stream failed (including read or write timeouts, and an unexpected EOF).
    Io(io::Error),
    /// The peer broke RFC 6455; a close frame with the error's code was sent.
    Protocol(ProtocolError),
    /// Local misuse, e.g. sending after a close.
    Usage(UsageError),
    /// The closing handshake is over: no more messages.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Protocol(e) => write!(f, "protocol error ({}): {e}", e.close_code()),
            Error::Usage(e) => write!(f, "{e}"),
            Error::Closed => f.write_str("the connection is closed"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// True for a read or write timeout of the stream ([`is_timeout`]): nothing is
    /// lost, the connection goes on, and the same call may be made again.
    ///
    /// ```
    /// use wisp_codec::blocking::Error;
    /// assert!(Error::Io(std::io::ErrorKind::WouldBlock.into()).is_timeout());
    /// assert!(!Error::Closed.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if is_timeout(e))
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

/// True for the errors a read or write timeout produces (`WouldBlock` on Unix,
/// `TimedOut` on Windows).
///
/// ```
/// use std::io::{Error, ErrorKind};
/// assert!(wisp_codec::blocking::is_timeout(&Error::from(ErrorKind::WouldBlock)));
/// assert!(!wisp_codec::blocking::is_timeout(&Error::from(ErrorKind::BrokenPipe)));
/// ```
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A blocking WebSocket over a stream whose opening handshake is done.
///
/// ```
/// use wisp_codec::{blocking::WebSocket, Connection, Message};
/// let wire = vec![0x89, 0x80, 1, 2, 3, 4]; // a masked, empty ping
/// let mut ws = WebSocket::new(std::io::Cursor::new(wire), Connection::server(Default::default()));
/// assert_eq!(ws.read_message().unwrap(), Message::Ping(vec![]));
/// ```
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> WebSocket<S> {
    /// Wraps a stream and a connection.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// assert!(ws.connection().pending_output_front().is_empty());
    /// ```
    pub fn new(stream: S, conn: Connection) -> Self {
        WebSocket { stream, conn }
    }

    /// The protocol state.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection, State};
    /// let ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// assert_eq!(ws.connection().state(), State::Open);
    /// ```
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The protocol state, to send or poll through it directly.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.connection_mut().send_text("hi").unwrap();
    /// ws.flush().unwrap();
    /// assert_eq!(ws.get_ref().get_ref().as_slice(), b"\x81\x02hi");
    /// ```
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The stream.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let ws = WebSocket::new(std::io::Cursor::new(vec![1u8]), Connection::server(Default::default()));
    /// assert_eq!(ws.get_ref().get_ref().len(), 1);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably (to set timeouts, say).
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.get_mut().set_position(0);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Reads once from the stream into the connection. `Ok(0)` is end of stream. A
    /// timeout error frees the read buffers first (see the module docs).
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(vec![0x81]), Connection::server(Default::default()));
    /// assert_eq!(ws.read_some().unwrap(), 1);
    /// assert_eq!(ws.read_some().unwrap(), 0);
    /// ```
    pub fn read_some(&mut self) -> io::Result<usize> {
        let mut small = [0u8; SMALL_READ];
        match self.conn.read_from(&mut self.stream, &mut small) {
            Ok(read) => Ok(read.bytes),
            Err(e) => {
                if is_timeout(&e) {
                    // Idle: the buffers go back, and the next read starts small.
                    self.conn.shrink_buffers();
                }
                Err(e)
            }
        }
    }

    /// Writes everything the connection has queued, in as few writes as the stream
    /// allows (one, for a burst that fits the socket buffer).
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.connection_mut().send_text("a").unwrap();
    /// ws.connection_mut().send_text("b").unwrap();
    /// ws.flush().unwrap();
    /// assert_eq!(ws.get_ref().get_ref().as_slice(), b"\x81\x01a\x81\x01b");
    /// ```
    pub fn flush(&mut self) -> io::Result<()> {
        if self.conn.write_to(&mut self.stream)? > 0 {
            self.stream.flush()?;
        }
        Ok(())
    }

    /// Sends a message it takes by value and writes it: a large payload goes to the
    /// stream without being copied into the output buffer (see [`Connection::send`]).
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection, Message};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.send(Message::Binary(vec![1, 2])).unwrap();
    /// assert_eq!(ws.get_ref().get_ref().as_slice(), [0x82, 2, 1, 2]);
    /// ```
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.conn.send(message)?;
        Ok(self.flush()?)
    }

    /// The next message, control frames included. Pings are answered and a peer's
    /// close is answered before it is returned; the answers are written at once.
    /// After the close handshake: [`Error::Closed`]. On a protocol error the close
    /// frame with its code is written and [`Error::Protocol`] returned. A message is
    /// never lost to a failed write of those answers (a peer that closed first may be
    /// gone already): the message is returned, and the write error, if it persists,
    /// with the next call. Output a write timeout left queued is tried first, and
    /// while it still cannot go (the stream's write timeout, or `WouldBlock`) the read
    /// happens anyway, so a peer that reads only once its own output is read is
    /// never waited on by both sides.
    ///
    /// ```
    /// use wisp_codec::{blocking::{Error, WebSocket}, Connection, Message};
    /// let wire = vec![0x89, 0x80, 1, 2, 3, 4]; // a masked empty ping
    /// let mut ws = WebSocket::new(std::io::Cursor::new(wire), Connection::server(Default::default()));
    /// assert_eq!(ws.read_message().unwrap(), Message::Ping(vec![]));
    /// assert!(matches!(ws.read_message(), Err(Error::Io(_)))); // end of stream
    /// ```
    pub fn read_message(&mut self) -> Result<Message, Error> {
        loop {
            let queued = self.conn.pending_output_len();
            match self.conn.poll_event() {
                Ok(Some(message)) => {
                    // Answers it queued (a pong, the close's echo) go at once; output
                    // queued before, that a write timeout left, waits for the next read.
                    if self.conn.pending_output_len() > queued {
                        let _ = self.flush();
                    }
                    return Ok(message);
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = self.flush();
                    return Err(Error::Protocol(e));
                }
            }
            if self.conn.state() == State::Closed {
                self.flush()?;
                return Err(Error::Closed);
            }
            // A write that times out does not hold the read back: a peer that stops
            // reading until its own output is read (an echo server's backpressure)
            // would otherwise wait on us as we wait on it. The output stays queued
            // and each call tries it again first.
            match self.flush() {
                Err(e) if is_timeout(&e) => {}
                r => r?,
            }
            if self.read_some()? == 0 {
                // Nothing complete is buffered (poll_event said so): the connection
                // ends here, 1006.
                self.conn.handle_eof();
                let _ = self.conn.poll_event();
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the TCP connection without a close frame",
                )));
            }
        }
    }

    /// Sends a text message and writes it.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.send_text("Hello").unwrap();
    /// assert_eq!(ws.get_ref().get_ref().as_slice(), b"\x81\x05Hello");
    /// ```
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        Ok(self.flush()?)
    }

    /// Sends a binary message and writes it.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.send_binary(&[1, 2]).unwrap();
    /// assert_eq!(ws.get_ref().get_ref().as_slice(), [0x82, 2, 1, 2]);
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        Ok(self.flush()?)
    }

    /// Sends a ping (at most 125 bytes) and writes it.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.send_ping(b"x").unwrap();
    /// assert_eq!(ws.get_ref().get_ref().as_slice(), [0x89, 1, b'x']);
    /// ```
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.conn.send_ping(payload)?;
        Ok(self.flush()?)
    }

    /// Starts the closing handshake: sends a close with `code` and `reason` and writes
    /// it. Keep calling [`read_message`](WebSocket::read_message) until
    /// [`Error::Closed`] to see the peer's answer.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, CloseCode, Connection};
    /// let mut ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// ws.close(CloseCode::NORMAL, "").unwrap();
    /// assert_eq!(ws.get_ref().get_ref().as_slice(), [0x88, 2, 0x03, 0xe8]);
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.send_close(code, reason)?;
        Ok(self.flush()?)
    }

    /// Gives back the stream and the connection.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// let (_stream, _conn) = ws.into_parts();
    /// ```
    pub fn into_parts(self) -> (S, Connection) {
        (self.stream, self.conn)
    }
}

/// Why [`accept`] or [`accept_with`] did not open a WebSocket.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// The stream failed, or ended before a whole request head (a read timeout set on
    /// the stream beforehand bounds the wait: it ends here as a timeout).
    Io(io::Error),
    /// The request is not a valid opening handshake; its HTTP refusal (400, 426,
    /// 431...) was written.
    Request(RequestError),
    /// The callback refused the request; its response was written. Holds the status.
    Refused(u16),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::Io(e) => write!(f, "io: {e}"),
            AcceptError::Request(e) => write!(f, "bad opening handshake ({}): {e}", e.status()),
            AcceptError::Refused(status) => write!(f, "refused with HTTP {status}"),
        }
    }
}

impl std::error::Error for AcceptError {}

impl From<io::Error> for AcceptError {
    fn from(e: io::Error) -> Self {
        AcceptError::Io(e)
    }
}

/// The server side of the opening handshake over a blocking stream (§4.2): reads the
/// request head, checks it, answers 101 and returns the WebSocket, with the bytes that
/// followed the head already in its connection. No subprotocol is chosen and
/// permessage-deflate is declined; [`accept_with`] decides more.
///
/// ```no_run
/// use std::net::TcpListener;
/// use wisp_codec::{blocking, Config, Message};
/// let listener = TcpListener::bind("127.0.0.1:9001")?;
/// for stream in listener.incoming() {
///     let mut ws = blocking::accept(stream?, Config::default())?;
///     while let Ok(m) = ws.read_message() {
///         if let Message::Text(_) | Message::Binary(_) = m { ws.send(m)?; } // echo
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept<S: Read + Write>(stream: S, config: Config) -> Result<WebSocket<S>, AcceptError> {
    accept_with(stream, config, |_, _, response| Ok(response))
}

/// [`accept`], with a callback that sees the request (path and query in
/// [`Request::target`], every header) and what it offers, and returns the 101
/// [`Response`] (choose a subprotocol with [`Response::protocol`], add headers with
/// [`Response::header`]) or a [`Refusal`] (401, 403...), which is written before
/// [`AcceptError::Refused`] is returned. As tungstenite's `accept_hdr`.
///
/// ```
/// use std::io::{Cursor, Read, Write};
/// use wisp_codec::blocking::{accept_with, AcceptError};
/// use wisp_codec::handshake::Refusal;
/// use wisp_codec::Config;
///
/// /// A stream over a request, that keeps what is written to it.
/// struct Pipe(Cursor<Vec<u8>>, Vec<u8>);
/// impl Read for Pipe { fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> { self.0.read(b) } }
/// impl Write for Pipe {
///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.1.write(b) }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
/// let request = "GET /feed?room=a HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v2, v1\r\n";
/// let check = |req: &wisp_codec::handshake::Request, offer: &wisp_codec::handshake::Offer,
///              response: wisp_codec::handshake::Response| {
///     if req.header("authorization") != Some("Bearer s3cret") {
///         return Err(Refusal::new(401, "a token is needed"));
///     }
///     let response = response.header("X-Served-By", "wisp").unwrap();
///     Ok(match offer.protocols.iter().find(|p| *p == "v1") {
///         Some(p) => response.protocol(p),
///         None => response,
///     })
/// };
///
/// let no_token = Pipe(Cursor::new(format!("{request}\r\n").into_bytes()), Vec::new());
/// assert!(matches!(accept_with(no_token, Config::default(), check), Err(AcceptError::Refused(401))));
///
/// let with_token = format!("{request}Authorization: Bearer s3cret\r\n\r\n");
/// let ws = accept_with(Pipe(Cursor::new(with_token.into_bytes()), Vec::new()), Config::default(), check).unwrap();
/// let written = String::from_utf8(ws.get_ref().1.clone()).unwrap();
/// assert!(written.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
/// assert!(written.contains("\r\nSec-WebSocket-Protocol: v1\r\nX-Served-By: wisp\r\n"));
/// ```
pub fn accept_with<S, F>(
    mut stream: S,
    config: Config,
    callback: F,
) -> Result<WebSocket<S>, AcceptError>
where
    S: Read + Write,
    F: FnOnce(&Request, &Offer, Response) -> Result<Response, Refusal>,
{
    let mut head = Vec::new();
    let mut chunk = [0u8; SMALL_READ];
    let (request, used) = loop {
        match handshake::parse_request(&head, handshake::DEFAULT_MAX_HEAD) {
            Ok(Some(done)) => break done,
            Ok(None) => {}
            Err(e) => return Err(refuse(&mut stream, e)),
        }
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(AcceptError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection before a whole request head",
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(AcceptError::Io(e)),
        };
        head.extend_from_slice(&chunk[..n]);
    };
    let offer = match request.validate() {
        Ok(o) => o,
        Err(e) => return Err(refuse(&mut stream, e)),
    };
    let response = match callback(&request, &offer, Response::new(&offer.key)) {
        Ok(r) => r,
        Err(refusal) => {
            let _ = stream.write_all(&refusal.to_bytes());
            let _ = stream.flush();
            return Err(AcceptError::Refused(refusal.sent_status()));
        }
    };
    let mut conn = Connection::server_with_response(config, &response.to_bytes());
    conn.handle_input(&head[used..]);
    let mut ws = WebSocket::new(stream, conn);
    ws.flush()?;
    Ok(ws)
}

/// Writes the refusal of a bad request (best effort: the request is refused anyway).
fn refuse<S: Write>(stream: &mut S, e: RequestError) -> AcceptError {
    let _ = stream.write_all(&e.response());
    let _ = stream.flush();
    AcceptError::Request(e)
}
