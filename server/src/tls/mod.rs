//! TLS (`https://`, `wss://`) for the workers: rustls, sans-IO, inside the event loop.
//!
//! A connection's transport is a [`Stream`]: the plain socket, or the socket under a
//! `rustls::ServerConnection`. Both are `Read + Write` with the semantics the worker's
//! edge-triggered loop relies on, so its phases (request head, HTTP response, session,
//! linger) do not know which one they drive:
//!
//! - `read` returns plaintext. A short count (or `WouldBlock`) means the socket is
//!   drained, as with a plain socket: the TLS stream reads the socket (64 KiB at a
//!   time, into one buffer per thread) until it says `WouldBlock`, or the caller's
//!   buffer is full, feeding rustls and taking the plaintext out as it goes. Raw bytes
//!   that rustls could not take yet (the caller's buffer filled) wait in the stream.
//! - `write` encrypts into rustls' buffer (64 KiB at most, its default limit) and
//!   writes that to the socket at once; a full buffer the kernel does not take is
//!   `WouldBlock`, so the worker's backpressure and writable edges work as they do.
//!   `flush` pushes what is still buffered, never blocking.
//! - The handshake runs inside the first reads (and their writes), so it is bounded by
//!   the same deadline as the request head. A TLS error (plain HTTP on the TLS port,
//!   garbage, a bad ClientHello, an alert from the peer) is a read error that says so:
//!   the worker logs it and drops that connection; rustls' alert goes out first when
//!   the socket takes it.
//!
//! The plain socket costs one `match` per call more than before, nothing else.

use std::cell::RefCell;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

mod config;

pub use config::{TlsConfig, TlsFileError};

use mio::net::TcpStream;
use rustls::ServerConnection;

/// Raw bytes read from a socket at once before rustls decrypts them.
const RAW_READ: usize = 64 * 1024;

thread_local! {
    /// The raw read buffer of this worker thread, shared by its TLS connections (an
    /// idle connection holds none).
    static RAW: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A connection's transport: the plain socket, or TLS over it.
pub(crate) enum Stream {
    Plain(Tcp),
    Tls(Box<TlsStream>),
}

/// A connection's socket, as the engine that drives it sees it: a non-blocking socket
/// read and written by syscalls (epoll), or the io_uring loop's buffers for it, with the
/// same `Read` / `Write` contract (`WouldBlock` when there is nothing to read or no room
/// to write; a short read took everything there was).
pub(crate) enum Tcp {
    Mio(TcpStream),
    #[cfg(target_os = "linux")]
    /// Boxed: the epoll variant is a descriptor, and every idle connection holds one.
    Uring(Box<crate::worker::uring::socket::Socket>),
}

impl Tcp {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Tcp::Mio(s) => s.peer_addr(),
            #[cfg(target_os = "linux")]
            Tcp::Uring(s) => s.peer_addr(),
        }
    }

    fn shutdown_write(&mut self) {
        match self {
            Tcp::Mio(s) => {
                let _ = s.shutdown(Shutdown::Write);
            }
            #[cfg(target_os = "linux")]
            Tcp::Uring(s) => s.shutdown_write(),
        }
    }
}

impl Read for Tcp {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Tcp::Mio(s) => s.read(buf),
            #[cfg(target_os = "linux")]
            Tcp::Uring(s) => s.read(buf),
        }
    }
}

impl Write for Tcp {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Tcp::Mio(s) => s.write(buf),
            #[cfg(target_os = "linux")]
            Tcp::Uring(s) => s.write(buf),
        }
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Tcp::Mio(s) => s.write_vectored(bufs),
            #[cfg(target_os = "linux")]
            Tcp::Uring(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream {
    /// The plain socket, or a new TLS session over it.
    pub(crate) fn new(tcp: Tcp, tls: Option<&TlsConfig>) -> Result<Stream, rustls::Error> {
        Ok(match tls {
            None => Stream::Plain(tcp),
            Some(t) => Stream::Tls(Box::new(TlsStream {
                conn: ServerConnection::new(Arc::clone(&t.config))?,
                tcp,
                raw: Vec::new(),
                raw_pos: 0,
                eof: false,
                closed: false,
                failed: false,
            })),
        })
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Plain(s) => s.peer_addr(),
            Stream::Tls(t) => t.tcp.peer_addr(),
        }
    }

    /// Ends our side: for TLS a close_notify first (written if the socket takes it).
    pub(crate) fn shutdown_write(&mut self) {
        match self {
            Stream::Plain(s) => s.shutdown_write(),
            Stream::Tls(t) => {
                t.conn.send_close_notify();
                let _ = t.push();
                t.tcp.shutdown_write();
            }
        }
    }

    /// Encrypted bytes the socket has not taken yet (never for a plain socket).
    pub(crate) fn unsent(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.conn.wants_write(),
        }
    }

    /// A TLS stream whose handshake is not done: said in a log line.
    pub(crate) fn handshaking(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.conn.is_handshaking())
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write_vectored(&[IoSlice::new(buf)]),
        }
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write_vectored(bufs),
            Stream::Tls(t) => t.write_vectored(bufs),
        }
    }

    /// For TLS: writes what rustls holds until the socket takes no more (never
    /// `WouldBlock`); a plain socket has nothing to flush.
    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.push(),
        }
    }
}

/// A rustls server session over a non-blocking socket.
pub(crate) struct TlsStream {
    conn: ServerConnection,
    tcp: Tcp,
    /// Raw bytes read but not yet given to rustls (its plaintext buffer was full and
    /// the caller's too), from `raw_pos`.
    raw: Vec<u8>,
    raw_pos: usize,
    /// The socket said end of stream.
    eof: bool,
    /// The peer's close_notify came.
    closed: bool,
    /// A TLS error ended the session: every later read fails.
    failed: bool,
}

impl TlsStream {
    /// Writes rustls' encrypted output until the socket takes no more.
    fn push(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.push()?;
        let n = self.conn.writer().write_vectored(bufs)?;
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        if n == 0 && want > 0 {
            // rustls' buffer is full and the socket takes nothing: wait for an edge.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.push()?;
        Ok(n)
    }

    /// Moves decrypted bytes into `buf[*filled..]`. `Ok(true)`: the peer's close_notify
    /// came (and nothing is left).
    fn take_plaintext(&mut self, buf: &mut [u8], filled: &mut usize) -> io::Result<bool> {
        while *filled < buf.len() {
            match self.conn.reader().read(&mut buf[*filled..]) {
                Ok(0) => return Ok(true),
                Ok(n) => *filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // The socket ended without a close_notify: an end like any other (the
                // WebSocket framing above knows whether a message was cut short).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Gives rustls raw bytes from `data` until it takes no more (its plaintext buffer
    /// is full) or they are all in, decrypting as it goes. Returns how many it took.
    fn feed(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let start = data.len();
        while !data.is_empty() {
            match self.conn.read_tls(&mut data) {
                // After the peer's close_notify rustls takes nothing more: the rest is
                // dropped.
                Ok(0) if self.closed => return Ok(start),
                Ok(0) => break,
                Ok(_) => {}
                // "received plaintext buffer full": take it out first.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(e),
            }
            self.process()?;
        }
        Ok(start - data.len())
    }

    /// Decrypts what rustls has; a TLS error sends its alert (if the socket takes it)
    /// and becomes a read error that names it.
    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.closed |= state.peer_has_closed();
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                let _ = self.push();
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS: {e}"),
                ))
            }
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS failed"));
        }
        let mut filled = 0;
        let r = self.fill(buf, &mut filled);
        // The handshake's answers (and a key update's) go out as soon as they exist.
        let pushed = self.push();
        match r {
            Ok(true) => Ok(filled),
            Ok(false) if filled > 0 => Ok(filled),
            Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) if filled > 0 && e.kind() == io::ErrorKind::WouldBlock => Ok(filled),
            Err(e) => Err(e),
        }
        .and_then(|n| pushed.map(|()| n))
    }

    /// Fills `buf` from rustls and the socket. `Ok(true)`: stop here with what is in
    /// `buf` (full, or the end of the stream: 0 then); `Ok(false)` or `WouldBlock`:
    /// the socket is drained.
    fn fill(&mut self, buf: &mut [u8], filled: &mut usize) -> io::Result<bool> {
        loop {
            if self.take_plaintext(buf, filled)? {
                return Ok(true);
            }
            if *filled == buf.len() {
                return Ok(true);
            }
            if self.raw_pos < self.raw.len() {
                let raw = std::mem::take(&mut self.raw);
                let took = self.feed(&raw[self.raw_pos..]);
                self.raw = raw;
                self.raw_pos += took?;
                if self.raw_pos == self.raw.len() {
                    self.raw = Vec::new();
                    self.raw_pos = 0;
                }
                continue;
            }
            if self.eof {
                return Ok(true);
            }
            let got = RAW.with(|cell| -> io::Result<Option<usize>> {
                let mut raw = cell.borrow_mut();
                if raw.len() < RAW_READ {
                    raw.resize(RAW_READ, 0);
                }
                let n = match self.tcp.read(&mut raw) {
                    Ok(0) => return Ok(None),
                    Ok(n) => n,
                    Err(e) => return Err(e),
                };
                let took = self.feed(&raw[..n])?;
                if took < n {
                    self.raw = raw[took..n].to_vec();
                    self.raw_pos = 0;
                }
                Ok(Some(n))
            });
            match got {
                Ok(Some(_)) => {}
                Ok(None) => {
                    self.eof = true;
                    // Tell rustls, so that a close_notify before it is told apart.
                    let _ = self.conn.read_tls(&mut &[][..]);
                    self.process()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for TlsStream {
    /// A close_notify before the socket closes, when it takes it (best effort: the
    /// WebSocket closing handshake has already said goodbye).
    fn drop(&mut self) {
        if !self.failed && !self.conn.is_handshaking() {
            self.conn.send_close_notify();
            let _ = self.push();
        }
    }
}
