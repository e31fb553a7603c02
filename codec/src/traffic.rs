//! What a connection has carried: messages and their payload bytes by kind, each way.
//!
//! Counted where the connection already touches each message (a plain add beside the
//! decode and the encode, no clock, no atomics), so a driver that reports them (the
//! server's `/metrics`) takes them with
//! [`Connection::take_traffic`](crate::Connection::take_traffic) and adds them to its
//! own totals.

use core::ops::{AddAssign, Sub};

use crate::opcode::OpCode;

/// The kinds counted, in the order of [`Traffic::KINDS`].
const KINDS: usize = 5;

/// The slot of a message kind: text, binary, close, ping, pong (`Continuation` has
/// none: a fragmented message counts under the opcode of its first frame).
#[inline(always)]
fn slot(kind: OpCode) -> Option<usize> {
    match kind {
        OpCode::Continuation => None,
        OpCode::Text | OpCode::Binary => Some(kind as usize - 1),
        OpCode::Close | OpCode::Ping | OpCode::Pong => Some(kind as usize - 6),
    }
}

/// Messages and their payload bytes by kind, in one direction.
///
/// A data message counts once (when its first frame is sent, or when it is whole on
/// receipt), its bytes are its payload before permessage-deflate (the application's
/// bytes, not the wire's); control frames count one each, the automatic pongs and
/// close replies included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    messages: [u64; KINDS],
    bytes: [u64; KINDS],
}

impl Tally {
    /// Messages of this kind (`Continuation`: 0).
    pub fn messages(&self, kind: OpCode) -> u64 {
        slot(kind).map_or(0, |i| self.messages[i])
    }

    /// Payload bytes of this kind (`Continuation`: 0).
    pub fn bytes(&self, kind: OpCode) -> u64 {
        slot(kind).map_or(0, |i| self.bytes[i])
    }

    /// Messages of every kind.
    pub fn total_messages(&self) -> u64 {
        self.messages.iter().sum()
    }

    /// Payload bytes of every kind.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    /// Counts a message of `kind` with a payload of `len` bytes.
    #[inline(always)]
    pub(crate) fn message(&mut self, kind: OpCode, len: usize) {
        if let Some(i) = slot(kind) {
            self.messages[i] += 1;
            self.bytes[i] += len as u64;
        }
    }

    /// Counts more payload of a message already counted.
    #[inline(always)]
    pub(crate) fn more_bytes(&mut self, kind: OpCode, len: usize) {
        if let Some(i) = slot(kind) {
            self.bytes[i] += len as u64;
        }
    }
}

/// Messages and payload bytes a connection received and sent, by kind
/// ([`Connection::traffic`](crate::Connection::traffic)).
///
/// ```
/// use wisp_codec::{Connection, Message, OpCode};
/// let mut s = Connection::server(Default::default());
/// s.handle_input(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']); // "hi", masked with zeros
/// assert_eq!(s.poll_event(), Ok(Some(Message::Text("hi".into()))));
/// s.send_text("hello").unwrap();
/// let t = *s.traffic();
/// assert_eq!((t.received.messages(OpCode::Text), t.received.bytes(OpCode::Text)), (1, 2));
/// assert_eq!((t.sent.messages(OpCode::Text), t.sent.bytes(OpCode::Text)), (1, 5));
/// // A reporter takes them (and they start again from zero):
/// s.send_ping(b"").unwrap();
/// let mut total = s.take_traffic();
/// assert_eq!((total.sent.messages(OpCode::Ping), total.sent.total_messages()), (1, 2));
/// s.send_ping(b"").unwrap();
/// total += s.take_traffic();
/// assert_eq!(total.sent.messages(OpCode::Ping), 2);
/// assert_eq!(s.traffic().sent.total_messages(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// What the peer sent.
    pub received: Tally,
    /// What this side sent.
    pub sent: Tally,
}

impl Traffic {
    /// Nothing counted.
    pub const ZERO: Traffic = Traffic {
        received: Tally {
            messages: [0; KINDS],
            bytes: [0; KINDS],
        },
        sent: Tally {
            messages: [0; KINDS],
            bytes: [0; KINDS],
        },
    };

    /// The kinds counted.
    pub const KINDS: [OpCode; KINDS] = [
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ];
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        for i in 0..KINDS {
            self.messages[i] = self.messages[i].wrapping_add(other.messages[i]);
            self.bytes[i] = self.bytes[i].wrapping_add(other.bytes[i]);
        }
    }
}

impl Sub for Tally {
    type Output = Tally;
    /// The counts since `earlier` (wrapping, as counters do).
    fn sub(mut self, earlier: Tally) -> Tally {
        for i in 0..KINDS {
            self.messages[i] = self.messages[i].wrapping_sub(earlier.messages[i]);
            self.bytes[i] = self.bytes[i].wrapping_sub(earlier.bytes[i]);
        }
        self
    }
}

impl AddAssign for Traffic {
    fn add_assign(&mut self, other: Traffic) {
        self.received += other.received;
        self.sent += other.sent;
    }
}

impl Sub for Traffic {
    type Output = Traffic;
    /// The counts since `earlier`.
    fn sub(self, earlier: Traffic) -> Traffic {
        Traffic {
            received: self.received - earlier.received,
            sent: self.sent - earlier.sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_slot() {
        let mut t = Tally::default();
        for (n, kind) in Traffic::KINDS.into_iter().enumerate() {
            t.message(kind, n * 10);
        }
        t.message(OpCode::Continuation, 99);
        for (n, kind) in Traffic::KINDS.into_iter().enumerate() {
            assert_eq!(
                (t.messages(kind), t.bytes(kind)),
                (1, n as u64 * 10),
                "{kind:?}"
            );
        }
        assert_eq!((t.total_messages(), t.total_bytes()), (5, 100));
        assert_eq!(t.messages(OpCode::Continuation), 0);
    }

    #[test]
    fn differences_add_back_up() {
        let mut a = Traffic::default();
        a.sent.message(OpCode::Binary, 7);
        let mut b = a;
        b.sent.message(OpCode::Binary, 3);
        b.received.message(OpCode::Pong, 0);
        let d = b - a;
        assert_eq!(d.sent.bytes(OpCode::Binary), 3);
        assert_eq!(d.received.messages(OpCode::Pong), 1);
        let mut total = a;
        total += d;
        assert_eq!(total, b);
    }
}
