//! A blocking driver over any `Read + Write` stream (feature `std`): the one IO loop
//! that `wisp-server` and `wisp-client` share.
//!
//! [`WebSocket`] owns a stream and a [`Connection`] whose opening handshake is done. It
//! adds only what IO needs: a read buffer, one write per burst of output, and a
//! convenience loop ([`WebSocket::read_message`]) that answers pings and closes as the
//! codec queues them. Threads stay with the caller; so does the clock: a caller that
//! wants the codec's timers reads with a timeout of [`Connection::poll_timeout`] and
//! calls [`Connection::handle_timeout`], through [`WebSocket::connection_mut`] and
//! [`WebSocket::read_some`].
//!
//! ## Read buffers and memory
//! An idle connection costs no heap here: reads go to a small stack buffer until one
//! fills it, then straight into the connection's input buffer (256 KiB at a time, no
//! copy), which is released again when a read times out.
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
use crate::connection::{Connection, State};
use crate::error::{ProtocolError, UsageError};
use crate::message::Message;

/// Bytes asked of each read while data flows.
const BIG_READ: usize = 256 * 1024;
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
    /// True while data flows: reads go straight into the connection's input buffer.
    flowing: bool,
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("conn", &self.conn)
            .field("flowing", &self.flowing)
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> WebSocket<S> {
    /// Wraps a stream and a connection.
    ///
    /// ```
    /// use wisp_codec::{blocking::WebSocket, Connection};
    /// let ws = WebSocket::new(std::io::Cursor::new(Vec::new()), Connection::server(Default::default()));
    /// assert!(ws.connection().pending_output().is_empty());
    /// ```
    pub fn new(stream: S, conn: Connection) -> Self {
        WebSocket {
            stream,
            conn,
            flowing: false,
        }
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
        loop {
            let result = if !self.flowing {
                let mut small = [0u8; SMALL_READ];
                let r = self.stream.read(&mut small);
                if let Ok(n) = r {
                    self.conn.handle_input(&small[..n]);
                    // Data flows: read in large chunks straight into the connection's
                    // input buffer from now on.
                    self.flowing = n == SMALL_READ;
                }
                r
            } else {
                let r = self.stream.read(self.conn.input_buffer(BIG_READ));
                if let Ok(n) = r {
                    self.conn.commit_input(n);
                }
                r
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if is_timeout(&e) {
                        self.release_buffers();
                    }
                    return Err(e);
                }
                Ok(n) => return Ok(n),
            }
        }
    }

    /// Frees the read buffer and the connection's empty buffers when the connection goes
    /// idle. The next read starts small again.
    fn release_buffers(&mut self) {
        self.flowing = false;
        self.conn.shrink_buffers();
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
        let mut wrote = false;
        loop {
            let mut parts: [&[u8]; 8] = [&[]; 8];
            let n = self.conn.pending_output_slices(&mut parts);
            if n == 0 {
                break;
            }
            let result = if n == 1 {
                self.stream.write(parts[0])
            } else {
                let slices = parts.map(io::IoSlice::new);
                self.stream.write_vectored(&slices[..n])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.conn.advance_output(n);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if wrote {
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
    /// frame with its code is written and [`Error::Protocol`] returned.
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
            match self.conn.poll_event() {
                Ok(Some(message)) => {
                    self.flush()?;
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
            self.flush()?;
            if self.read_some()? == 0 {
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
