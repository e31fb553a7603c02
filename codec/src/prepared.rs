//! [`PreparedMessage`]: one message for many connections, compressed at most once per
//! kind of compressor the connections agreed on, then framed for each of them with
//! [`Connection::send_prepared`](crate::Connection::send_prepared).
//!
//! Without context takeover on our side (`server_no_context_takeover` for a server), a
//! message's compressed bytes depend on nothing but the message and the compressor's
//! settings, which here are only the window (8 to 15 bits: a stream made for a larger
//! window may refer further back than a smaller one allows). So a broadcast needs at
//! most one compression per window its members agreed on (in practice one: the
//! server's), whatever the number of members. A connection with context takeover on our side
//! compresses against its own window: it compresses the prepared payload itself, as
//! [`Connection::send`](crate::Connection::send) would (RFC 7692 §7.2.1 leaves no other choice).

use alloc::boxed::Box;
use alloc::vec::Vec;

use once_cell::race::OnceBox;

use crate::deflate::Deflater;
use crate::error::UsageError;
use crate::message::Message;
use crate::opcode::OpCode;

/// A data message to send to many connections: its payload is kept once, and its
/// compressed form is made at the first connection that needs it and kept for the
/// others (one per compressor window, 8 to 15 bits). `Send` and `Sync`: share it
/// in an `Arc` between threads; the first thread to need a compressed form makes it
/// (two threads racing may both compress; one result is kept).
///
/// ```
/// use wisp_codec::extension::DeflateParams;
/// use wisp_codec::{Connection, Message, PreparedMessage};
/// let shared = DeflateParams { server_no_context_takeover: true, client_no_context_takeover: true, ..Default::default() };
/// let msg = PreparedMessage::new(Message::Text("Hello! ".repeat(20))).unwrap();
/// let mut plain = Connection::server(Default::default());
/// let mut deflated = Connection::server(Default::default());
/// deflated.set_deflate(shared);
/// plain.send_prepared(&msg).unwrap();
/// deflated.send_prepared(&msg).unwrap();
/// assert_eq!(plain.pending_output_len(), 4 + 140); // 16-bit length form
/// assert!(deflated.pending_output_len() < 40); // RSV1 set, compressed once for all
/// assert_eq!(msg.compressions(), 1);
/// let mut client = Connection::client(Default::default(), || [1, 2, 3, 4]);
/// client.set_deflate(shared);
/// client.handle_input(deflated.pending_output_front());
/// assert_eq!(client.poll_event(), Ok(Some(Message::Text("Hello! ".repeat(20)))));
/// ```
pub struct PreparedMessage {
    opcode: OpCode,
    payload: Vec<u8>,
    /// The compressed payload for each window, 8 to 15 bits (index: bits - 8).
    deflated: [OnceBox<Vec<u8>>; 8],
    /// How many compressed forms were made (for tests and metrics).
    made: core::sync::atomic::AtomicUsize,
}

impl core::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("opcode", &self.opcode)
            .field("len", &self.payload.len())
            .field("compressions", &self.compressions())
            .finish()
    }
}

impl PreparedMessage {
    /// Prepares a text or binary message. A control message is refused with
    /// [`UsageError::NotADataMessage`]: it has its own `send_*`, and at most 125 bytes
    /// there is nothing to save.
    ///
    /// ```
    /// use wisp_codec::{Message, PreparedMessage, UsageError};
    /// assert!(PreparedMessage::new(Message::Binary(vec![1, 2, 3])).is_ok());
    /// assert_eq!(PreparedMessage::new(Message::Ping(vec![])).unwrap_err(), UsageError::NotADataMessage);
    /// ```
    pub fn new(message: Message) -> Result<PreparedMessage, UsageError> {
        let (opcode, payload) = match message {
            Message::Text(t) => (OpCode::Text, t.into_bytes()),
            Message::Binary(b) => (OpCode::Binary, b),
            _ => return Err(UsageError::NotADataMessage),
        };
        Ok(PreparedMessage {
            opcode,
            payload,
            deflated: core::array::from_fn(|_| OnceBox::new()),
            made: core::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// [`OpCode::Text`] or [`OpCode::Binary`].
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The message's payload, uncompressed.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// How many compressed forms of the message were made so far: 0 while no
    /// connection needed one, at most one per window (8 of them) unless threads raced.
    pub fn compressions(&self) -> usize {
        self.made.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// The compressed payload for `deflater` (which keeps no window across messages),
    /// made with it at the first call.
    pub(crate) fn deflated(&self, deflater: &mut Deflater) -> &[u8] {
        let slot = &self.deflated[usize::from(deflater.window_bits() - 8)];
        slot.get_or_init(|| {
            let mut out = Vec::with_capacity(self.payload.len() / 2 + 64);
            deflater.compress(&self.payload, true, &mut out);
            self.made
                .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            Box::new(out)
        })
    }
}
