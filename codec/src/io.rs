//! The IO adapter (feature `std`): a [`Connection`] reads from any [`Read`] and writes to
//! any [`Write`], the same way for every driver, in the spirit of rustls'
//! `read_tls`/`write_tls`.
//!
//! - [`Connection::read_from`] makes one read. Its policy lives here and nowhere else:
//!   after a quiet spell a read goes into the caller's small `scratch` buffer (an idle
//!   connection holds no input buffer); once a read fills `scratch`, data flows, and the
//!   reads go straight into the connection's input buffer, [`BIG_READ`] at a time (one
//!   copy less per byte for large messages), until a read would block or the buffers
//!   are given back ([`Connection::shrink_buffers`]).
//! - [`Connection::write_to`] writes the pending output, vectored (`writev` of the
//!   output's pieces: frame headers, copied frames and payloads sent by value), until
//!   nothing is pending or the writer refuses more.
//!
//! Both retry [`io::ErrorKind::Interrupted`] and return every other error as it is,
//! with the connection's state already up to date (what was written is advanced, what
//! was read is buffered): a non-blocking driver treats `WouldBlock` as "wait for the next
//! edge", a blocking one as its timeout.
//!
//! ```
//! use wisp_codec::{Config, Connection};
//! // RFC 6455 §5.7: a masked "Hello" from the client, read from any `Read`.
//! let wire = [0x81u8, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let mut server = Connection::server(Config::default());
//! let mut scratch = [0u8; 4096];
//! let read = server.read_from(&mut &wire[..], &mut scratch).unwrap();
//! assert_eq!((read.bytes, read.offered), (11, 4096));
//! let hello = server.poll_event().unwrap().unwrap();
//! server.send(hello).unwrap();
//! let mut out = Vec::new(); // any `Write`: a socket, a TLS stream, a buffer
//! server.write_to(&mut out).unwrap();
//! assert_eq!(out, b"\x81\x05Hello");
//! ```

use std::io::{self, IoSlice, Read, Write};

use crate::connection::Connection;

/// Bytes offered to each read while data flows (straight into the input buffer).
pub const BIG_READ: usize = 256 * 1024;

/// Output pieces handed to one vectored write.
const WRITE_PIECES: usize = 8;

/// What one [`Connection::read_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSize {
    /// Bytes read; 0 is the end of the stream.
    pub bytes: usize,
    /// Bytes of room the read was offered: `scratch`'s length, or the input buffer's
    /// free space while data flows.
    pub offered: usize,
}

impl ReadSize {
    /// The read brought less than it was offered: on a socket, it took all there was.
    /// An edge-triggered driver skips the read that would only say `WouldBlock`.
    pub fn is_short(&self) -> bool {
        self.bytes < self.offered
    }
}

impl Connection {
    /// Makes one read from `r` into the connection, through `scratch` after a quiet
    /// spell or straight into the input buffer while data flows (the module docs say
    /// when). `bytes: 0` is the end of the stream; call
    /// [`handle_eof`](Connection::handle_eof) then. A `WouldBlock` or `TimedOut` error
    /// ends the flow: the next read starts in `scratch` again.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// let mut scratch = [0u8; 2];
    /// let wire = [0x89u8, 0x80, 1, 2, 3, 4]; // a masked empty ping, in pieces
    /// let mut r = &wire[..];
    /// assert_eq!(s.read_from(&mut r, &mut scratch).unwrap().bytes, 2);
    /// // `scratch` was filled: the next read goes into the input buffer, all at once.
    /// assert_eq!(s.read_from(&mut r, &mut scratch).unwrap().bytes, 4);
    /// assert_eq!(s.poll_event().unwrap(), Some(wisp_codec::Message::Ping(vec![])));
    /// ```
    pub fn read_from<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
        scratch: &mut [u8],
    ) -> io::Result<ReadSize> {
        loop {
            let result = if self.reads_flowing() {
                let buf = self.input_buffer(BIG_READ);
                let offered = buf.len();
                r.read(buf).map(|n| {
                    self.commit_input(n);
                    ReadSize { bytes: n, offered }
                })
            } else {
                r.read(scratch).map(|n| {
                    self.handle_input(&scratch[..n]);
                    // A full scratch buffer: more is waiting, data flows.
                    self.set_reads_flowing(n == scratch.len() && n > 0);
                    ReadSize {
                        bytes: n,
                        offered: scratch.len(),
                    }
                })
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        self.set_reads_flowing(false);
                    }
                    return Err(e);
                }
                Ok(read) => return Ok(read),
            }
        }
    }

    /// Writes the pending output to `w`, vectored, until none is left; returns the bytes
    /// written. An error (`WouldBlock` from a non-blocking socket, a timeout, a broken
    /// pipe) is returned after advancing past what was written before it; a write of 0
    /// bytes is `WriteZero`. `w` is not flushed.
    ///
    /// ```
    /// use wisp_codec::{Connection, Message};
    /// let mut s = Connection::server(Default::default());
    /// s.send(Message::Binary(vec![7; 70_000])).unwrap(); // a piece of its own
    /// s.send_text("after").unwrap();
    /// let mut out = Vec::new();
    /// assert_eq!(s.write_to(&mut out).unwrap(), 10 + 70_000 + 7);
    /// assert_eq!(s.pending_output_len(), 0);
    /// assert_eq!(&out[out.len() - 7..], b"\x81\x05after");
    /// ```
    pub fn write_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<usize> {
        let mut written = 0;
        loop {
            let mut parts: [&[u8]; WRITE_PIECES] = [&[]; WRITE_PIECES];
            let n = self.pending_output_slices(&mut parts);
            if n == 0 {
                return Ok(written);
            }
            let result = if n == 1 {
                w.write(parts[0])
            } else {
                let slices = parts.map(IoSlice::new);
                w.write_vectored(&slices[..n])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    self.advance_output(k);
                    written += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
