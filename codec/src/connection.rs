//! The connection state machine: the one file that owns every state transition
//! ([RFC 6455 §7](https://www.rfc-editor.org/rfc/rfc6455#section-7)).
//!
//! ```text
//!                  send_close()                      peer's Close
//!   +------+  ----------------------> +---------+  ----------------> +--------+
//!   | Open |                          | Closing |                    | Closed |
//!   +------+  ---------------------------------------------------->  +--------+
//!        peer's Close (answered with a Close at once, §5.5.1),
//!        or a protocol error (a Close with its code is queued, §7.1.7)
//! ```
//!
//! Call order, as in quinn-proto: feed bytes with [`Connection::handle_input`] (or
//! [`Connection::input_buffer`] + [`Connection::commit_input`] to read straight into the
//! connection), then drain [`Connection::poll_event`] until it returns `Ok(None)`,
//! reacting with `send_*`, then write [`Connection::pending_output`] and
//! [`Connection::advance_output`]. Frames are decoded lazily inside `poll_event`, so every
//! reply to a frame is queued before the next frame is even looked at: a peer's bad frame
//! never overtakes the answers to the good frames before it.
//!
//! When [`Connection::state`] is [`State::Closed`] and the output is written, the driver
//! closes the TCP connection (§7.1.1: the server first; a client waits a little for it).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::close::{CloseCode, CloseFrame};
use crate::decoder::{Decoded, FrameDecoder, WholeFrame};
use crate::error::{ProtocolError, UsageError};
use crate::header::FrameHeader;
use crate::mask::apply_mask;
use crate::message::{Message, Reassembler};
use crate::opcode::OpCode;

/// Which end of the connection we are. The server reads masked frames and sends
/// unmasked ones; the client the reverse (§5.1).
///
/// ```
/// assert_ne!(wisp_codec::Role::Client, wisp_codec::Role::Server);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection; masks every frame it sends.
    Client,
    /// The end that accepted it; never masks.
    Server,
}

/// Where the closing handshake is (§7).
///
/// ```
/// let mut c = wisp_codec::Connection::server(Default::default());
/// assert_eq!(c.state(), wisp_codec::State::Open);
/// c.send_close(wisp_codec::CloseCode::NORMAL, "").unwrap();
/// assert_eq!(c.state(), wisp_codec::State::Closing);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close and wait for the peer's.
    Closing,
    /// Both Closes crossed, or the connection failed: write what is pending and close TCP.
    Closed,
}

/// Limits and behaviour of a [`Connection`].
///
/// ```
/// let c = wisp_codec::Config::default();
/// assert_eq!(c.max_message_size, 64 << 20);
/// assert!(c.auto_pong);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The largest frame payload accepted, checked against the header (default 16 MiB).
    pub max_frame_size: u64,
    /// The largest message accepted, checked against each header (default 64 MiB).
    pub max_message_size: u64,
    /// Answer every ping with a pong of the same payload (default on; §5.5.2 "MUST").
    pub auto_pong: bool,
    /// Keep a copy of every frame's raw wire bytes, in and out, for
    /// [`Connection::poll_wire_frame`] (default off; used by the /inspect route).
    /// A received frame is recorded once it is complete and accepted; the frame that
    /// fails the connection is not (its error is what `poll_event` returns).
    pub record_frames: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            record_frames: false,
        }
    }
}

/// A source of masking keys for a client (§5.3: "The masking key needs to be
/// unpredictable"). The codec never draws random numbers itself; any `FnMut() -> [u8; 4]`
/// is a source.
///
/// ```
/// use wisp_codec::MaskSource;
/// let mut n = 0u8;
/// let mut counter = move || { n = n.wrapping_add(1); [n; 4] }; // tests only!
/// assert_eq!(counter.next_mask(), [1; 4]);
/// ```
pub trait MaskSource {
    /// The key for the next frame.
    fn next_mask(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4]> MaskSource for F {
    fn next_mask(&mut self) -> [u8; 4] {
        self()
    }
}

/// Which way a recorded frame crossed the wire.
///
/// ```
/// use wisp_codec::{Config, Connection, Direction};
/// let mut c = Connection::server(Config { record_frames: true, ..Config::default() });
/// c.send_ping(b"").unwrap();
/// assert_eq!(c.poll_wire_frame().unwrap().direction, Direction::Sent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the peer to us.
    Received,
    /// From us to the peer.
    Sent,
}

/// One frame's raw bytes exactly as they crossed the wire (masked as the sender masked
/// them), recorded when [`Config::record_frames`] is on.
///
/// ```
/// use wisp_codec::{Config, Connection};
/// let mut c = Connection::server(Config { record_frames: true, ..Config::default() });
/// c.handle_input(&[0x89, 0x80, 1, 2, 3, 4]); // a masked, empty ping
/// c.poll_event().unwrap();
/// assert_eq!(c.poll_wire_frame().unwrap().bytes, [0x89, 0x80, 1, 2, 3, 4]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    /// Which way it went.
    pub direction: Direction,
    /// Header and payload bytes.
    pub bytes: Vec<u8>,
}

/// One WebSocket connection's protocol state: bytes in, events and bytes out. No IO,
/// no clock, no randomness.
///
/// ```
/// use wisp_codec::{Config, Connection, Message};
/// let mut client = Connection::client(Config::default(), || [0x37, 0xfa, 0x21, 0x3d]);
/// let mut server = Connection::server(Config::default());
/// client.send_text("Hello").unwrap();
/// // The masked "Hello" of RFC 6455 §5.7:
/// assert_eq!(client.pending_output(), [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// server.handle_input(client.pending_output());
/// assert_eq!(server.poll_event(), Ok(Some(Message::Text("Hello".into()))));
/// assert_eq!(server.poll_event(), Ok(None));
/// ```
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    decoder: FrameDecoder,
    reassembler: Reassembler,
    mask_source: Option<Box<dyn MaskSource + Send>>,
    /// Input: `rx[rx_start..rx_end]` is received and not yet decoded. A large buffer's
    /// data starts at `rx_base`, the first page boundary in it.
    rx: Vec<u8>,
    rx_base: usize,
    rx_start: usize,
    rx_end: usize,
    /// Output: `tx_chunks` (owned payloads and the bytes queued before them), then `tx`.
    /// `tx_start` is how much of the front one (`tx_chunks[0]`, else `tx`) is written.
    tx: Vec<u8>,
    tx_chunks: VecDeque<Vec<u8>>,
    tx_start: usize,
    /// Opcode of the data message we are sending in fragments, if any.
    sending: Option<OpCode>,
    error: Option<ProtocolError>,
    close_sent: Option<CloseFrame>,
    close_received: Option<Option<CloseFrame>>,
    wire: VecDeque<WireFrame>,
    wire_rx: Vec<u8>,
    frames_received: u64,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered_input", &(self.rx_end - self.rx_start))
            .field("pending_output", &self.pending_output_len())
            .finish_non_exhaustive()
    }
}

/// Payloads of at least this many bytes given to [`Connection::send`] are queued as they
/// are; smaller ones are copied into the output buffer, to go out with their neighbours.
const OWNED_MIN: usize = 16 * 1024;

/// Input buffers of this size and up start on a page boundary.
const ALIGN_FROM: usize = 64 * 1024;
const PAGE: usize = 4096;

/// Input buffers are compacted once this much has been consumed at their front.
const COMPACT_AT: usize = 64 * 1024;

impl Connection {
    fn new(role: Role, config: Config, mask_source: Option<Box<dyn MaskSource + Send>>) -> Self {
        Connection {
            role,
            config,
            state: State::Open,
            decoder: FrameDecoder::new(role, config.max_frame_size),
            reassembler: Reassembler::new(config.max_message_size),
            mask_source,
            rx: Vec::new(),
            rx_base: 0,
            rx_start: 0,
            rx_end: 0,
            tx: Vec::new(),
            tx_chunks: VecDeque::new(),
            tx_start: 0,
            sending: None,
            error: None,
            close_sent: None,
            close_received: None,
            wire: VecDeque::new(),
            wire_rx: Vec::new(),
            frames_received: 0,
        }
    }

    /// The server end of a connection whose handshake is done.
    ///
    /// ```
    /// let s = wisp_codec::Connection::server(wisp_codec::Config::default());
    /// assert_eq!(s.role(), wisp_codec::Role::Server);
    /// ```
    pub fn server(config: Config) -> Self {
        Connection::new(Role::Server, config, None)
    }

    /// The client end; every frame it sends is masked with a key from `masks`.
    ///
    /// ```
    /// let c = wisp_codec::Connection::client(wisp_codec::Config::default(), || [1, 2, 3, 4]);
    /// assert_eq!(c.role(), wisp_codec::Role::Client);
    /// ```
    pub fn client(config: Config, masks: impl MaskSource + Send + 'static) -> Self {
        Connection::new(Role::Client, config, Some(Box::new(masks)))
    }

    /// Our role.
    ///
    /// ```
    /// assert_eq!(wisp_codec::Connection::server(Default::default()).role(), wisp_codec::Role::Server);
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the closing handshake is.
    ///
    /// ```
    /// assert_eq!(wisp_codec::Connection::server(Default::default()).state(), wisp_codec::State::Open);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// The protocol error that failed the connection, if one did.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x81, 0x00]); // unmasked
    /// assert!(s.poll_event().is_err());
    /// assert_eq!(s.error(), Some(wisp_codec::ProtocolError::UnmaskedFrame));
    /// ```
    pub fn error(&self) -> Option<ProtocolError> {
        self.error
    }

    /// The close frame we sent, if any.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_close(wisp_codec::CloseCode::GOING_AWAY, "bye").unwrap();
    /// assert_eq!(s.close_sent().unwrap().code.0, 1001);
    /// ```
    pub fn close_sent(&self) -> Option<&CloseFrame> {
        self.close_sent.as_ref()
    }

    /// The peer's close frame: `None` if none came yet, `Some(None)` for an empty one.
    ///
    /// ```
    /// let s = wisp_codec::Connection::server(Default::default());
    /// assert_eq!(s.close_received(), None);
    /// ```
    pub fn close_received(&self) -> Option<Option<&CloseFrame>> {
        self.close_received.as_ref().map(Option::as_ref)
    }

    // ---- input ------------------------------------------------------------------

    /// Appends bytes received from the peer. Nothing is decoded until
    /// [`poll_event`](Connection::poll_event). Input after the connection closed is dropped.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x81]);
    /// assert_eq!(s.poll_event(), Ok(None)); // partial: a status, not an error
    /// ```
    pub fn handle_input(&mut self, data: &[u8]) {
        let n = data.len();
        self.input_buffer(n)[..n].copy_from_slice(data);
        self.commit_input(n);
    }

    /// Free space of at least `min` bytes at the end of the input buffer, to read into
    /// directly; then call [`commit_input`](Connection::commit_input) with the count read.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// let buf = s.input_buffer(2);
    /// buf[..2].copy_from_slice(&[0x88, 0x80]);
    /// s.commit_input(2);
    /// ```
    pub fn input_buffer(&mut self, min: usize) -> &mut [u8] {
        let live = self.rx_end - self.rx_start;
        if live == 0 {
            self.rx_start = self.rx_base;
            self.rx_end = self.rx_base;
        } else if self.rx_start - self.rx_base >= COMPACT_AT.max(live) {
            self.rx
                .copy_within(self.rx_start..self.rx_end, self.rx_base);
            self.rx_start = self.rx_base;
            self.rx_end = self.rx_base + live;
        }
        if self.rx.len() - self.rx_end < min {
            let need = live + min;
            if need < ALIGN_FROM {
                self.rx.resize(self.rx_end + min, 0);
            } else {
                // A new buffer whose data starts on a page boundary (see blocking's
                // module docs). It at least doubles, so a buffer filled without
                // decoding grows in few steps.
                let size = need.max(2 * (self.rx.len() - self.rx_base));
                let mut fresh = vec![0u8; size + PAGE];
                let base = fresh.as_ptr().align_offset(PAGE).min(PAGE);
                fresh[base..base + live].copy_from_slice(&self.rx[self.rx_start..self.rx_end]);
                self.rx = fresh;
                self.rx_base = base;
                self.rx_start = base;
                self.rx_end = base + live;
            }
        }
        &mut self.rx[self.rx_end..]
    }

    /// Marks `n` bytes of [`input_buffer`](Connection::input_buffer) as received.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.input_buffer(8);
    /// s.commit_input(0);
    /// ```
    pub fn commit_input(&mut self, n: usize) {
        if self.state == State::Closed {
            return;
        }
        self.rx_end = (self.rx_end + n).min(self.rx.len());
    }

    /// Frees the input and output buffers if they hold nothing, so an idle connection
    /// costs only its state. Call it when the connection goes quiet; the buffers grow
    /// again with the next bytes.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x89, 0x80, 1, 2, 3, 4]);
    /// s.poll_event().unwrap();
    /// s.advance_output(s.pending_output().len());
    /// s.shrink_buffers();
    /// assert_eq!(s.buffered_input(), 0);
    /// ```
    pub fn shrink_buffers(&mut self) {
        if self.rx_start == self.rx_end {
            self.rx = Vec::new();
            self.rx_base = 0;
            self.rx_start = 0;
            self.rx_end = 0;
        }
        if self.tx_chunks.is_empty() && self.tx_start == self.tx.len() {
            self.tx = Vec::new();
            self.tx_start = 0;
        }
    }

    /// Complete frames received so far (fragments and control frames included). A
    /// driver can tell a peer that makes progress from one that dribbles a frame a byte
    /// at a time: the count moves only when a frame is whole.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x01, 0x81, 0, 0, 0, 0, b'a', 0x89]); // a fragment, half a ping
    /// s.poll_event().unwrap();
    /// assert_eq!(s.frames_received(), 1);
    /// ```
    pub fn frames_received(&self) -> u64 {
        self.frames_received
    }

    /// Bytes received and not yet decoded.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x81]);
    /// assert_eq!(s.buffered_input(), 1);
    /// ```
    pub fn buffered_input(&self) -> usize {
        self.rx_end - self.rx_start
    }

    /// Decodes the next event from the input: a message, a ping, a pong or a close.
    ///
    /// `Ok(None)` when more input is needed (or the connection is closed). A ping is
    /// answered with a pong and a close with a close before they are returned. On a
    /// protocol error a Close with the error's code is queued, the state becomes
    /// [`State::Closed`], and the error is returned once.
    ///
    /// ```
    /// use wisp_codec::{Connection, Message, State};
    /// let mut s = Connection::server(Default::default());
    /// s.handle_input(&[0x89, 0x80, 1, 2, 3, 4]); // a masked empty ping
    /// assert_eq!(s.poll_event(), Ok(Some(Message::Ping(vec![]))));
    /// assert_eq!(s.pending_output(), [0x8a, 0x00]); // the automatic pong
    /// ```
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Message>, ProtocolError> {
        loop {
            if self.state == State::Closed {
                return Ok(None);
            }
            let buf = &mut self.rx[self.rx_start..self.rx_end];
            // Fast path: a whole frame in the buffer, decoded and handed on in one step.
            // Same events, output and errors as the incremental path below (the
            // decoder_connection fuzz target checks one-shot against byte-at-a-time input).
            if !self.config.record_frames {
                let (used, result) = match self.decoder.decode_frame(buf) {
                    Err(e) => return Err(self.fail(e)),
                    Ok(None) => (0, Ok(None)),
                    Ok(Some(WholeFrame {
                        frame_len: used,
                        header,
                        payload,
                    })) => {
                        self.rx_start += used;
                        self.frames_received += 1;
                        // A whole message in one frame, the commonest of all, is built
                        // right here into the return value (through a temporary, every
                        // message paid a store-forwarding stall on the way out).
                        if self.reassembler.is_whole_message(&header) {
                            return match header.opcode {
                                // Copied, then validated in the copy (aligned, so small
                                // payloads take the validator's word-at-a-time path), its
                                // Result taken apart at once: on invalid UTF-8 the String
                                // is empty while the payload is not (an empty payload is
                                // valid). Matching on the Result instead kept it in memory:
                                // a store-forwarding stall per message.
                                OpCode::Text => {
                                    let text =
                                        String::from_utf8(payload.to_vec()).unwrap_or_default();
                                    if text.len() != payload.len() {
                                        return Err(self.fail(ProtocolError::InvalidUtf8));
                                    }
                                    Ok(Some(Message::Text(text)))
                                }
                                _ => Ok(Some(Message::Binary(payload.to_vec()))),
                            };
                        }
                        (used, self.reassembler.on_frame(&header, payload))
                    }
                };
                if used > 0 {
                    match result {
                        Err(e) => return Err(self.fail(e)),
                        Ok(None) => continue,
                        Ok(Some(message)) => {
                            return Ok(Some(self.on_message(message)));
                        }
                    }
                }
            }
            if let Some(result) = self.incremental_step() {
                return result;
            }
        }
    }

    /// One step of the incremental path: a header, or the next piece of a payload, as
    /// much as the buffer holds. `None`: go on decoding. Out of line, so that the fast
    /// path of [`poll_event`](Connection::poll_event) stays small.
    #[inline(never)]
    fn incremental_step(&mut self) -> Option<Result<Option<Message>, ProtocolError>> {
        let buf = &mut self.rx[self.rx_start..self.rx_end];
        // Raw bytes are copied before `decode` unmasks them in place.
        let recorded = self.wire_rx.len();
        if self.config.record_frames {
            let n = self.decoder.max_consume(buf.len());
            self.wire_rx.extend_from_slice(&buf[..n]);
        }
        let decoded = self.decoder.decode(buf);
        let (used, event) = match decoded {
            Ok(d) => d,
            Err(e) => return Some(Err(self.fail(e))),
        };
        self.wire_rx.truncate(recorded + used);
        self.rx_start += used;
        let result = match event {
            Decoded::NeedMore => return Some(Ok(None)),
            Decoded::Header(header) => self.reassembler.on_header(&header).map(|()| None),
            Decoded::Payload { data, last } => {
                let r = self.reassembler.on_payload(data, last);
                self.frames_received += u64::from(last);
                // A frame is recorded once it is complete and accepted, so the record
                // does not depend on how the input was split: a frame that fails the
                // connection (fail-fast, possibly before its last byte) is not recorded.
                if last && r.is_ok() && self.config.record_frames {
                    let bytes = core::mem::take(&mut self.wire_rx);
                    self.wire.push_back(WireFrame {
                        direction: Direction::Received,
                        bytes,
                    });
                }
                r
            }
        };
        match result {
            Err(e) => Some(Err(self.fail(e))),
            Ok(None) => None,
            Ok(Some(message)) => Some(Ok(Some(self.on_message(message)))),
        }
    }

    /// Automatic answers to control frames (§5.5.1, §5.5.2). Data messages need none.
    ///
    /// The message goes through by value and the answers get its parts, never a
    /// reference to it: a reference would keep every data message in memory on the way
    /// out, and reading it back costs a store-forwarding stall per message.
    #[inline(always)]
    fn on_message(&mut self, message: Message) -> Message {
        match &message {
            Message::Ping(payload) => self.on_ping(payload.as_slice()),
            Message::Close(frame) => {
                self.on_close(frame.as_ref().map(|f| (f.code, f.reason.as_str())));
            }
            _ => {}
        }
        message
    }

    #[inline(never)]
    fn on_ping(&mut self, payload: &[u8]) {
        if self.config.auto_pong && self.state == State::Open {
            self.write_frame(OpCode::Pong, true, payload);
        }
    }

    #[inline(never)]
    fn on_close(&mut self, frame: Option<(CloseCode, &str)>) {
        self.close_received = Some(frame.map(|(code, reason)| CloseFrame {
            code,
            reason: String::from(reason),
        }));
        if self.state == State::Open {
            // §5.5.1: "If an endpoint receives a Close frame and did not previously
            // send a Close frame, the endpoint MUST send a Close frame in response.
            // (When sending a Close frame in response, the endpoint typically echos
            // the status code it received.)"
            let reply = frame.map(|(code, _)| CloseFrame {
                code,
                reason: String::new(),
            });
            self.write_close(reply);
        }
        self.state = State::Closed;
    }

    /// §7.1.7 Fail the WebSocket Connection: send a Close with the error's code unless
    /// we already sent one, and stop.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        if self.state == State::Open {
            let mut reason = String::new();
            use core::fmt::Write as _;
            let _ = write!(reason, "{error}");
            reason.truncate(floor_char_boundary(&reason, 123));
            self.write_close(Some(CloseFrame {
                code: error.close_code(),
                reason,
            }));
        }
        self.error = Some(error);
        self.state = State::Closed;
        self.rx_start = self.rx_end;
        self.wire_rx = Vec::new();
        error
    }

    // ---- output -----------------------------------------------------------------

    /// Sends a text message in one frame.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_text("Hello").unwrap();
    /// assert_eq!(s.pending_output(), b"\x81\x05Hello"); // §5.7
    /// ```
    pub fn send_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.send_frame(OpCode::Text, true, text.as_bytes())
    }

    /// Sends a binary message in one frame.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_binary(&[0; 256]).unwrap();
    /// assert_eq!(&s.pending_output()[..4], [0x82, 0x7e, 0x01, 0x00]); // §5.7
    /// ```
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.send_frame(OpCode::Binary, true, data)
    }

    /// Sends one frame of a message: `Text`/`Binary` with `fin = false` starts a
    /// fragmented message, `Continuation` frames carry on, `fin = true` ends it (§5.4).
    /// Control opcodes are sent as [`send_ping`](Connection::send_ping) would.
    ///
    /// ```
    /// use wisp_codec::{Connection, OpCode};
    /// let mut s = Connection::server(Default::default());
    /// s.send_frame(OpCode::Text, false, b"Hel").unwrap();
    /// s.send_frame(OpCode::Continuation, true, b"lo").unwrap();
    /// assert_eq!(s.pending_output(), b"\x01\x03Hel\x80\x02lo"); // §5.7
    /// ```
    pub fn send_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), UsageError> {
        self.check_send(opcode, fin, payload.len())?;
        self.write_frame(opcode, fin, payload);
        Ok(())
    }

    /// Sends a message it takes by value: a large `Text` or `Binary` payload goes out
    /// as it is (masked in place by a client) instead of being copied into the output
    /// buffer, so echoing a received message costs no copy. Pings and pongs are sent as
    /// [`send_ping`](Connection::send_ping) would, a `Close` as
    /// [`send_close`](Connection::send_close) (`Close(None)`: a close without a body).
    ///
    /// ```
    /// use wisp_codec::{Connection, Message};
    /// let mut s = Connection::server(Default::default());
    /// s.send(Message::Binary(vec![7; 70_000])).unwrap();
    /// assert_eq!(s.pending_output_len(), 10 + 70_000); // 64-bit length form (§5.2)
    /// assert_eq!(s.pending_output()[..2], [0x82, 0x7f]);
    /// ```
    pub fn send(&mut self, message: Message) -> Result<(), UsageError> {
        let (opcode, payload) = match message {
            Message::Text(t) => (OpCode::Text, t.into_bytes()),
            Message::Binary(b) => (OpCode::Binary, b),
            Message::Ping(p) => return self.send_ping(&p),
            Message::Pong(p) => return self.send_pong(&p),
            Message::Close(Some(f)) => return self.send_close(f.code, &f.reason),
            Message::Close(None) => return self.start_close(None),
        };
        self.check_send(opcode, true, payload.len())?;
        if payload.len() < OWNED_MIN {
            self.write_frame(opcode, true, &payload);
        } else {
            self.write_owned_frame(opcode, payload);
        }
        Ok(())
    }

    /// Whether a frame may be sent now; updates the fragmentation state when it may.
    fn check_send(&mut self, opcode: OpCode, fin: bool, len: usize) -> Result<(), UsageError> {
        if !self.may_send() {
            return Err(UsageError::Closed);
        }
        if opcode.is_control() {
            if opcode == OpCode::Close {
                return Err(UsageError::InvalidCloseCode);
            }
            if len > 125 {
                return Err(UsageError::ControlPayloadTooLong);
            }
            return Ok(());
        }
        let next = match (opcode, self.sending) {
            (OpCode::Continuation, Some(op)) => Some(op),
            (OpCode::Text | OpCode::Binary, None) => Some(opcode),
            _ => return Err(UsageError::BadFragmentSequence),
        };
        self.sending = if fin { None } else { next };
        Ok(())
    }

    /// Sends a ping (at most 125 bytes of application data).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_ping(b"Hello").unwrap();
    /// assert_eq!(s.pending_output(), b"\x89\x05Hello"); // §5.7
    /// ```
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_frame(OpCode::Ping, true, payload)
    }

    /// Sends an unsolicited pong (a unidirectional heartbeat, §5.5.3).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_pong(b"").unwrap();
    /// assert_eq!(s.pending_output(), [0x8a, 0x00]);
    /// ```
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_frame(OpCode::Pong, true, payload)
    }

    /// Starts the closing handshake (§7.1.2): sends a Close with `code` and `reason`
    /// (at most 123 bytes) and moves to [`State::Closing`]. Nothing can be sent after it.
    ///
    /// ```
    /// use wisp_codec::{CloseCode, Connection, State, UsageError};
    /// let mut s = Connection::server(Default::default());
    /// s.send_close(CloseCode::NORMAL, "done").unwrap();
    /// assert_eq!(s.state(), State::Closing);
    /// assert_eq!(s.send_text("late"), Err(UsageError::Closed));
    /// assert_eq!(s.send_close(CloseCode(1005), ""), Err(UsageError::InvalidCloseCode));
    /// ```
    pub fn send_close(&mut self, code: CloseCode, reason: &str) -> Result<(), UsageError> {
        if !code.is_valid_on_wire() || reason.len() > 123 {
            return Err(UsageError::InvalidCloseCode);
        }
        self.start_close(Some(CloseFrame {
            code,
            reason: String::from(reason),
        }))
    }

    /// Sends our Close (a valid one) and moves to [`State::Closing`].
    fn start_close(&mut self, frame: Option<CloseFrame>) -> Result<(), UsageError> {
        if !self.may_send() {
            return Err(UsageError::Closed);
        }
        self.write_close(frame);
        self.state = State::Closing;
        Ok(())
    }

    /// False once our Close is sent or the connection is closed: nothing may follow.
    fn may_send(&self) -> bool {
        self.close_sent.is_none() && self.state != State::Closed
    }

    fn write_close(&mut self, frame: Option<CloseFrame>) {
        let mut payload = Vec::with_capacity(125);
        if let Some(f) = &frame {
            f.encode_payload(&mut payload);
        }
        self.write_frame(OpCode::Close, true, &payload);
        self.close_sent = Some(frame.unwrap_or(CloseFrame {
            code: CloseCode::NO_STATUS_RECEIVED,
            reason: String::new(),
        }));
    }

    fn frame_header(&mut self, opcode: OpCode, fin: bool, len: usize) -> FrameHeader {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask: self.mask_source.as_mut().map(|m| m.next_mask()),
            payload_len: len as u64,
        }
    }

    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        let header = self.frame_header(opcode, fin, payload.len());
        let start = self.tx.len();
        header.encode_to_vec(&mut self.tx);
        let body = self.tx.len();
        self.tx.extend_from_slice(payload);
        if let Some(key) = header.mask {
            apply_mask(&mut self.tx[body..], key, 0);
        }
        if self.config.record_frames {
            self.wire.push_back(WireFrame {
                direction: Direction::Sent,
                bytes: self.tx[start..].to_vec(),
            });
        }
    }

    /// A whole-message frame whose payload joins the output as its own chunk, uncopied.
    fn write_owned_frame(&mut self, opcode: OpCode, mut payload: Vec<u8>) {
        let header = self.frame_header(opcode, true, payload.len());
        let start = self.tx.len();
        header.encode_to_vec(&mut self.tx);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        if self.config.record_frames {
            let mut bytes = self.tx[start..].to_vec();
            bytes.extend_from_slice(&payload);
            self.wire.push_back(WireFrame {
                direction: Direction::Sent,
                bytes,
            });
        }
        // Everything queued so far (this header included) goes first, then the payload.
        self.tx_chunks.push_back(core::mem::take(&mut self.tx));
        self.tx_chunks.push_back(payload);
    }

    /// The next bytes to write to the peer. Write as many as the socket takes, then
    /// [`advance_output`](Connection::advance_output), and repeat until it is empty: it is
    /// the first piece of the output, and a large payload given to
    /// [`send`](Connection::send) is a piece of its own
    /// ([`pending_output_slices`](Connection::pending_output_slices) gives them all, for
    /// one vectored write). Replies queued together go out together: one write for a burst.
    ///
    /// ```
    /// use wisp_codec::{Connection, Message};
    /// let mut s = Connection::server(Default::default());
    /// assert!(s.pending_output().is_empty());
    /// s.send(Message::Binary(vec![0; 20_000])).unwrap();
    /// let mut wire = Vec::new();
    /// while !s.pending_output().is_empty() {
    ///     let n = s.pending_output().len().min(8192); // what a socket took
    ///     wire.extend_from_slice(&s.pending_output()[..n]);
    ///     s.advance_output(n);
    /// }
    /// assert_eq!(wire.len(), 4 + 20_000);
    /// ```
    pub fn pending_output(&self) -> &[u8] {
        match self.tx_chunks.front() {
            Some(chunk) => &chunk[self.tx_start..],
            None => &self.tx[self.tx_start..],
        }
    }

    /// All the bytes waiting to be written: [`pending_output`](Connection::pending_output)
    /// is only the first of up to a few pieces (a large payload sent with
    /// [`send`](Connection::send) is a piece of its own).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_text("a").unwrap();
    /// assert_eq!(s.pending_output_len(), 3);
    /// ```
    pub fn pending_output_len(&self) -> usize {
        let queued: usize = self.tx_chunks.iter().map(Vec::len).sum();
        queued + self.tx.len() - self.tx_start
    }

    /// The pending output as up to `out.len()` slices, in order, for a vectored write
    /// (`writev`): fills `out` from the front and returns how many it filled. Then
    /// [`advance_output`](Connection::advance_output) by the count written.
    ///
    /// ```
    /// use wisp_codec::{Connection, Message};
    /// let mut s = Connection::server(Default::default());
    /// s.send(Message::Binary(vec![1; 1 << 16])).unwrap();
    /// s.send_text("after").unwrap();
    /// let mut parts: [&[u8]; 4] = [&[]; 4];
    /// let n = s.pending_output_slices(&mut parts);
    /// assert_eq!(n, 3); // header, payload, the text frame
    /// assert_eq!(parts[0], [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    /// assert_eq!(parts[2], b"\x81\x05after");
    /// ```
    pub fn pending_output_slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let pieces = self
            .tx_chunks
            .iter()
            .map(Vec::as_slice)
            .chain(core::iter::once(self.tx.as_slice()));
        let mut n = 0;
        for (i, piece) in pieces.enumerate() {
            let piece = if i == 0 {
                &piece[self.tx_start..]
            } else {
                piece
            };
            if piece.is_empty() {
                continue;
            }
            if n == out.len() {
                break;
            }
            out[n] = piece;
            n += 1;
        }
        n
    }

    /// Drops the first `n` bytes of the pending output (all of it if `n` is larger).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_text("a").unwrap();
    /// s.advance_output(3);
    /// assert!(s.pending_output().is_empty());
    /// ```
    pub fn advance_output(&mut self, mut n: usize) {
        while let Some(front) = self.tx_chunks.front() {
            let left = front.len() - self.tx_start;
            if n < left {
                self.tx_start += n;
                return;
            }
            n -= left;
            self.tx_chunks.pop_front();
            self.tx_start = 0;
        }
        self.tx_start = (self.tx_start.saturating_add(n)).min(self.tx.len());
        if self.tx_start == self.tx.len() {
            self.tx.clear();
            self.tx_start = 0;
        }
    }

    /// The next recorded frame, when [`Config::record_frames`] is on.
    ///
    /// ```
    /// use wisp_codec::{Config, Connection, Direction};
    /// let mut s = Connection::server(Config { record_frames: true, ..Config::default() });
    /// s.send_text("hi").unwrap();
    /// let f = s.poll_wire_frame().unwrap();
    /// assert_eq!((f.direction, f.bytes), (Direction::Sent, b"\x81\x02hi".to_vec()));
    /// ```
    pub fn poll_wire_frame(&mut self) -> Option<WireFrame> {
        self.wire.pop_front()
    }
}

/// The largest index `<= max` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}
