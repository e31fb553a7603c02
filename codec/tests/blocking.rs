//! The blocking driver over streams that misbehave the way real sockets do.
#![cfg(feature = "std")]

use std::io::{self, Read, Write};

use wisp_codec::blocking::{Error, WebSocket};
use wisp_codec::{Connection, Message};

/// A stream whose peer does not read: every write times out (a socket with a write
/// timeout whose send buffer is full), while what the peer sent can be read.
struct PeerNotReading {
    incoming: io::Cursor<Vec<u8>>,
    kind: io::ErrorKind,
}

impl Read for PeerNotReading {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.incoming.read(buf)
    }
}

impl Write for PeerNotReading {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(self.kind.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An echo server that reads only once its echoes are read (Python `websockets`
/// does so) must not find the client stuck on its own queued output: the read
/// goes ahead, and the output stays queued for the next try.
#[test]
fn a_write_that_times_out_does_not_hold_back_the_read() {
    for kind in [io::ErrorKind::TimedOut, io::ErrorKind::WouldBlock] {
        let stream = PeerNotReading {
            // Two unmasked server frames: "Hello" (RFC 6455 §5.7) and "again".
            incoming: io::Cursor::new(b"\x81\x05Hello\x81\x05again".to_vec()),
            kind,
        };
        let mut ws = WebSocket::new(
            stream,
            Connection::client(Default::default(), || [1, 2, 3, 4]),
        );
        let sent = ws.send_text("queued");
        assert!(
            matches!(&sent, Err(e) if e.is_timeout()),
            "{kind:?}: {sent:?}"
        );
        let queued = ws.connection().pending_output_len();
        assert_eq!(queued, 2 + 4 + 6, "{kind:?}: the masked frame waits whole");

        assert_eq!(ws.read_message().unwrap(), Message::Text("Hello".into()));
        assert_eq!(ws.read_message().unwrap(), Message::Text("again".into()));
        assert_eq!(ws.connection().pending_output_len(), queued, "{kind:?}");
        // Nothing more to read: the read's own end is what comes back, not the write's
        // timeout (the stream ended, so 1006).
        assert!(
            matches!(ws.read_message(), Err(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof)
        );
    }
}

/// Any other write error still ends the read: the connection is broken.
#[test]
fn a_broken_write_still_fails_the_read() {
    let stream = PeerNotReading {
        incoming: io::Cursor::new(b"\x81\x05Hello".to_vec()),
        kind: io::ErrorKind::BrokenPipe,
    };
    let mut ws = WebSocket::new(
        stream,
        Connection::client(Default::default(), || [1, 2, 3, 4]),
    );
    assert!(ws.send_text("queued").is_err());
    let read = ws.read_message();
    assert!(
        matches!(&read, Err(Error::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe),
        "{read:?}"
    );
}
