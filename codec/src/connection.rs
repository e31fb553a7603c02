//! The connection state machine: the one file that owns every state transition
//! ([RFC 6455 §7](https://www.rfc-editor.org/rfc/rfc6455#section-7)).
//!
//! ```text
//!                  send_close()                      peer's Close
//!   +------+  ----------------------> +---------+  ----------------> +--------+
//!   | Open |                          | Closing |                    | Closed |
//!   +------+  ---------------------------------------------------->  +--------+
//!        peer's Close (answered with a Close at once, §5.5.1),
//!        a protocol error (a Close with its code is queued, §7.1.7),
//!        or the idle timeout (a Close 1001 is queued)
//!                          Closing --(close timeout)--> Closed
//! ```
//!
//! The other jobs live beside it, each in its own part: the receive buffer
//! (`recv.rs`), the frame decoder and the reassembler, the send queue (`send.rs`), the
//! frame recorder (`record.rs`: always there, a no-op unless `Config::record_frames`)
//! and the timers (`keepalive.rs`).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::close::{CloseCode, CloseFrame};
use crate::decoder::{Decoded, FrameDecoder, WholeFrame};
use crate::deflate::Deflater;
use crate::error::{ProtocolError, UsageError};
use crate::extension::DeflateParams;
use crate::header::FrameHeader;
use crate::keepalive::{Due, Keepalive, Timers};
use crate::message::{Message, Reassembler};
use crate::opcode::OpCode;
use crate::prepared::PreparedMessage;
use crate::record::{Recorder, WireFrame};
use crate::recv::RecvBuffer;
use crate::role::Role;
use crate::send::SendQueue;
use crate::traffic::Traffic;

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
    /// Both Closes crossed, or the connection failed or timed out: write what is
    /// pending and close TCP.
    Closed,
}

/// Limits, timers and behaviour of a [`Connection`]. A timer set to `None` is off.
///
/// ```
/// use std::time::Duration;
/// let c = wisp_codec::Config::default();
/// assert_eq!(c.max_message_size, 64 << 20);
/// assert_eq!(c.ping_interval, Some(Duration::from_secs(30)));
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
    /// Send a ping after this long without progress from the peer (default 30 s).
    /// Progress is a complete frame, or 64 KiB of one.
    pub ping_interval: Option<Duration>,
    /// Fail the connection (close 1001 `idle timeout`) after this long without
    /// progress (default 60 s).
    pub idle_timeout: Option<Duration>,
    /// After our Close has been written (the output drained), give up waiting for the
    /// peer's after this long (default 5 s); the connection then ends with 1006.
    pub close_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            record_frames: false,
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            close_timeout: Some(Duration::from_secs(5)),
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

/// One WebSocket connection's protocol state: bytes in, events and bytes out. No IO,
/// no clock, no randomness: bytes, masks and the time are inputs.
///
/// Call order, as in quinn-proto:
/// 1. feed bytes with [`handle_input`](Connection::handle_input) (or
///    [`input_buffer`](Connection::input_buffer) + [`commit_input`](Connection::commit_input)
///    to read straight into the connection);
/// 2. drain [`poll_event`](Connection::poll_event) until it returns `Ok(None)`,
///    reacting with `send_*`. Frames are decoded lazily inside `poll_event`, so every
///    reply to a frame is queued before the next frame is even looked at: a peer's bad
///    frame never overtakes the answers to the good frames before it;
/// 3. tell it the time with [`handle_timeout`](Connection::handle_timeout);
/// 4. write [`pending_output_front`](Connection::pending_output_front) and
///    [`advance_output`](Connection::advance_output) until it is empty;
/// 5. wait for bytes from the peer, or until [`poll_timeout`](Connection::poll_timeout).
///
/// When [`state`](Connection::state) is [`State::Closed`] and the output is written,
/// the driver closes the TCP connection (§7.1.1: the server first; a client waits a
/// little for it). [`close_code`](Connection::close_code) says how it ended.
///
/// ## Time
/// A moment is a [`Duration`] since an epoch the driver picks (the start of the
/// program, say) and keeps for the connection's life; only differences matter, and the
/// timers start at the first [`handle_timeout`](Connection::handle_timeout). What
/// happens between two calls (progress, a close sent) is stamped with the time of the
/// next call; [`poll_timeout`](Connection::poll_timeout) asks for that call at once.
///
/// ```
/// use wisp_codec::{Config, Connection, Message};
/// let mut client = Connection::client(Config::default(), || [0x37, 0xfa, 0x21, 0x3d]);
/// let mut server = Connection::server(Config::default());
/// client.send_text("Hello").unwrap();
/// // The masked "Hello" of RFC 6455 §5.7:
/// assert_eq!(client.pending_output_front(), [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// server.handle_input(client.pending_output_front());
/// assert_eq!(server.poll_event(), Ok(Some(Message::Text("Hello".into()))));
/// assert_eq!(server.poll_event(), Ok(None));
/// ```
pub struct Connection {
    config: Config,
    state: State,
    rx: RecvBuffer,
    decoder: FrameDecoder,
    reassembler: Reassembler,
    tx: SendQueue,
    mask_source: Option<Box<dyn MaskSource + Send>>,
    recorder: Recorder,
    keepalive: Keepalive,
    /// Opcode of the data message we are sending in fragments, if any.
    sending: Option<OpCode>,
    /// permessage-deflate, once agreed: the parameters and our compressor.
    deflate: Option<(DeflateParams, Deflater)>,
    /// Messages shorter than this go out uncompressed.
    compress_threshold: usize,
    /// The fragmented message we are sending is compressed.
    sending_compressed: bool,
    /// How the connection is ending, once a close was sent or received or it failed:
    /// boxed, so an open connection holds one pointer for it.
    ending: Option<Box<Ending>>,
    /// The peer closed the transport: no more input after what is buffered.
    eof: bool,
    /// A small payload [`send`](Connection::send) copied into the output, kept to hold
    /// the next small message received: an echo costs no allocation per message.
    spare: Vec<u8>,
    /// The driver's reads go straight into the input buffer: the last one filled the
    /// driver's scratch buffer (`io.rs`, the read policy).
    reads_flowing: bool,
    /// Messages and payload bytes each way, by kind, since the last
    /// [`take_traffic`](Connection::take_traffic): boxed when the first is counted,
    /// zeroed in place when taken (no allocation per step), and freed by
    /// [`shrink_buffers`](Connection::shrink_buffers) once taken, so an idle
    /// connection holds one pointer for them.
    traffic: Option<Box<Traffic>>,
}

/// A connection's first count allocates its box: cold, and out of line so that the
/// paths that count do not carry the allocation's code.
#[cold]
#[inline(never)]
fn new_traffic() -> Box<Traffic> {
    Box::default()
}

/// How a connection ends (see [`Connection::close_code`]).
#[derive(Debug, Default)]
struct Ending {
    error: Option<ProtocolError>,
    close_sent: Option<CloseFrame>,
    close_received: Option<Option<CloseFrame>>,
    /// Why the connection ended without the peer's close, once it did.
    abnormal: Option<String>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state)
            .field("buffered_input", &self.rx.len())
            .field("pending_output", &self.tx.len())
            .finish_non_exhaustive()
    }
}

/// Payloads of at least this many bytes given to [`Connection::send`] are queued as they
/// are; smaller ones are copied into the output buffer, to go out with their neighbours.
const OWNED_MIN: usize = 16 * 1024;

/// The largest buffer kept as [`Connection`]'s spare (its capacity): what a connection
/// holds for it at most between messages.
const SPARE_MAX: usize = 4 * 1024;

/// Messages below this size are sent uncompressed by default: a deflate block's own
/// overhead (a few bytes, plus the window) does not pay for less.
pub const DEFAULT_COMPRESS_THRESHOLD: usize = 32;

/// The payload of the keepalive ping.
const KEEPALIVE_PING: &[u8] = b"wisp keepalive";

impl Connection {
    fn new(role: Role, config: Config, mask_source: Option<Box<dyn MaskSource + Send>>) -> Self {
        Connection {
            config,
            state: State::Open,
            rx: RecvBuffer::default(),
            decoder: FrameDecoder::new(role, config.max_frame_size),
            reassembler: Reassembler::new(config.max_message_size),
            tx: SendQueue::default(),
            mask_source,
            recorder: Recorder::new(config.record_frames),
            keepalive: Keepalive::new(),
            sending: None,
            deflate: None,
            compress_threshold: DEFAULT_COMPRESS_THRESHOLD,
            sending_compressed: false,
            ending: None,
            eof: false,
            spare: Vec::new(),
            reads_flowing: false,
            traffic: None,
        }
    }

    /// The server end of a connection whose handshake is done.
    ///
    /// ```
    /// let s = wisp_codec::Connection::server(wisp_codec::Config::default());
    /// assert_eq!(s.state(), wisp_codec::State::Open);
    /// ```
    pub fn server(config: Config) -> Self {
        Connection::new(Role::Server, config, None)
    }

    /// The server end of a connection whose opening handshake it answers with
    /// `response` (the 101 head, [`handshake::Response`](crate::handshake::Response)):
    /// the head is the first thing in [`pending_output_front`](Connection::pending_output_front),
    /// ahead of every frame, so a driver writes one stream of bytes and keeps no buffer
    /// of its own for the handshake. Feed the bytes that followed the request head to
    /// [`handle_input`](Connection::handle_input) as usual.
    ///
    /// ```
    /// use wisp_codec::{handshake, Config, Connection};
    /// let head = handshake::Response::new("dGhlIHNhbXBsZSBub25jZQ==").to_bytes();
    /// let mut s = Connection::server_with_response(Config::default(), &head);
    /// s.send_text("hi").unwrap();
    /// let mut wire = Vec::new();
    /// while !s.pending_output_front().is_empty() {
    ///     wire.extend_from_slice(s.pending_output_front());
    ///     s.advance_output(usize::MAX);
    /// }
    /// assert!(wire.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    /// assert!(wire.ends_with(b"\r\n\r\n\x81\x02hi"));
    /// ```
    pub fn server_with_response(config: Config, response: &[u8]) -> Self {
        let mut c = Connection::new(Role::Server, config, None);
        c.tx.push_raw(response);
        c
    }

    /// The client end; every frame it sends is masked with a key from `masks`.
    ///
    /// ```
    /// let mut c = wisp_codec::Connection::client(wisp_codec::Config::default(), || [1, 2, 3, 4]);
    /// c.send_text("").unwrap();
    /// assert_eq!(c.pending_output_front(), [0x81, 0x80, 1, 2, 3, 4]);
    /// ```
    pub fn client(config: Config, masks: impl MaskSource + Send + 'static) -> Self {
        Connection::new(Role::Client, config, Some(Box::new(masks)))
    }

    /// Turns on permessage-deflate (RFC 7692) with the parameters the handshake agreed:
    /// frames with RSV1 are inflated (bounded by [`Config::max_message_size`]), and data
    /// messages of at least [`set_compress_threshold`](Connection::set_compress_threshold)
    /// bytes are sent compressed, with RSV1 on their first frame. Call it before any
    /// message is sent or received. The compressor and inflater are allocated at their
    /// first use; without context takeover [`shrink_buffers`](Connection::shrink_buffers)
    /// frees them again.
    ///
    /// ```
    /// use wisp_codec::extension::DeflateParams;
    /// use wisp_codec::{Connection, Message};
    /// let mut server = Connection::server(Default::default());
    /// let mut client = Connection::client(Default::default(), || [1, 2, 3, 4]);
    /// server.set_deflate(DeflateParams::default());
    /// client.set_deflate(DeflateParams::default());
    /// let text = "Hello, Hello, Hello, Hello, Hello, Hello, Hello!";
    /// server.send_text(text).unwrap();
    /// assert_eq!(server.pending_output_front()[0], 0xc1); // FIN, RSV1, text
    /// assert!(server.pending_output_front().len() < text.len());
    /// client.handle_input(server.pending_output_front());
    /// assert_eq!(client.poll_event(), Ok(Some(Message::Text(text.into()))));
    /// ```
    pub fn set_deflate(&mut self, params: DeflateParams) {
        let (own_bits, own_nct, peer_nct) = match self.decoder.role() {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        self.decoder.allow_rsv1();
        self.reassembler.set_inflater(!peer_nct);
        self.deflate = Some((params, Deflater::new(own_bits, !own_nct)));
    }

    /// Our compressor and the inflater, once permessage-deflate is agreed, for lending
    /// them a pool's state (`pool.rs`).
    pub(crate) fn deflate_halves(&mut self) -> Option<(&mut Deflater, &mut Reassembler)> {
        let (_, deflater) = self.deflate.as_mut()?;
        Some((deflater, &mut self.reassembler))
    }

    /// The permessage-deflate parameters in force, if it was agreed.
    pub fn deflate_params(&self) -> Option<DeflateParams> {
        self.deflate.as_ref().map(|(p, _)| *p)
    }

    /// Data messages shorter than `bytes` go out uncompressed (RSV1 = 0) even with
    /// permessage-deflate on (default [`DEFAULT_COMPRESS_THRESHOLD`]; 0 compresses all).
    /// A fragmented message is judged by its first fragment.
    pub fn set_compress_threshold(&mut self, bytes: usize) {
        self.compress_threshold = bytes;
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
        self.ending.as_ref()?.error
    }

    /// The close frame we sent, if any (a close without a body reads as 1005).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_close(wisp_codec::CloseCode::GOING_AWAY, "bye").unwrap();
    /// assert_eq!(s.close_sent().unwrap().code.0, 1001);
    /// ```
    pub fn close_sent(&self) -> Option<&CloseFrame> {
        self.ending.as_ref()?.close_sent.as_ref()
    }

    /// The peer's close frame: `None` if none came yet, `Some(None)` for an empty one.
    ///
    /// ```
    /// let s = wisp_codec::Connection::server(Default::default());
    /// assert_eq!(s.close_received(), None);
    /// ```
    pub fn close_received(&self) -> Option<Option<&CloseFrame>> {
        self.ending
            .as_ref()?
            .close_received
            .as_ref()
            .map(Option::as_ref)
    }

    /// How the connection ended, once it is [`State::Closed`]: _The WebSocket
    /// Connection Close Code_ of [§7.1.5](https://www.rfc-editor.org/rfc/rfc6455#section-7.1.5),
    /// the code of the peer's close, 1005 if it had none, 1006 if no close came (we
    /// failed the connection, it timed out, or the peer never answered ours).
    ///
    /// ```
    /// use wisp_codec::{CloseCode, Connection};
    /// let mut s = Connection::server(Default::default());
    /// assert_eq!(s.close_code(), None); // still open
    /// s.handle_input(&[0x88, 0x80, 1, 2, 3, 4]); // a close without a code
    /// s.poll_event().unwrap();
    /// assert_eq!(s.close_code(), Some(CloseCode::NO_STATUS_RECEIVED));
    /// ```
    pub fn close_code(&self) -> Option<CloseCode> {
        if self.state != State::Closed {
            return None;
        }
        Some(match self.close_received() {
            Some(Some(f)) => f.code,
            Some(None) => CloseCode::NO_STATUS_RECEIVED,
            None => CloseCode::ABNORMAL,
        })
    }

    /// The reason that goes with [`close_code`](Connection::close_code) (§7.1.6): the
    /// peer's, or for 1006 why the connection ended without it. Empty while open.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x81, 0x00]); // unmasked
    /// let _ = s.poll_event();
    /// assert_eq!(s.close_code().unwrap().0, 1006);
    /// assert_eq!(s.close_reason(), "client frame is not masked");
    /// ```
    pub fn close_reason(&self) -> &str {
        let Some(ending) = &self.ending else {
            return "";
        };
        match (&ending.close_received, &ending.abnormal) {
            (Some(Some(f)), _) => &f.reason,
            (None, Some(why)) => why,
            _ => "",
        }
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

    /// The peer closed its side of the transport (a read returned 0, §7.1.1 "the
    /// underlying TCP connection is closed"). Before the closing handshake is over, the
    /// connection ends with 1006 ([`close_code`](Connection::close_code)) and a reason
    /// that says the close frame never came; after it, nothing changes. Frames already
    /// buffered are still delivered: the connection ends when
    /// [`poll_event`](Connection::poll_event) has returned them and finds only a partial
    /// frame or nothing (at once, when nothing is buffered). Then
    /// [`state`](Connection::state) is [`State::Closed`]: write what is pending (a peer
    /// that only half-closed may still read it) and close.
    ///
    /// ```
    /// use wisp_codec::{CloseCode, Connection, Message, State};
    /// let mut s = Connection::server(Default::default());
    /// s.handle_input(&[0x89, 0x80, 1, 2, 3, 4, 0x81, 0x85]); // a ping, half a frame, EOF
    /// s.handle_eof();
    /// assert_eq!(s.poll_event(), Ok(Some(Message::Ping(vec![]))));
    /// assert_eq!(s.poll_event(), Ok(None));
    /// assert_eq!(s.state(), State::Closed);
    /// assert_eq!(s.close_code(), Some(CloseCode::ABNORMAL));
    /// assert_eq!(s.close_reason(), "the peer closed the connection without a close frame");
    /// ```
    pub fn handle_eof(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.eof = true;
        if self.rx.len() == 0 {
            self.end_at_eof();
        }
    }

    fn end_at_eof(&mut self) {
        self.end_abnormally(
            None,
            "the peer closed the connection without a close frame".into(),
        );
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
        self.rx.space(min)
    }

    /// Marks `n` bytes of [`input_buffer`](Connection::input_buffer) as received.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.input_buffer(8);
    /// s.commit_input(0);
    /// ```
    pub fn commit_input(&mut self, n: usize) {
        if self.state == State::Closed || self.eof {
            return;
        }
        self.rx.commit(n);
        self.keepalive.bytes += n as u64;
        self.recorder.read(n);
    }

    /// Frees the input and output buffers if they hold nothing, so an idle connection
    /// costs only its state. Call it when the connection goes quiet; the buffers grow
    /// again with the next bytes.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x89, 0x80, 1, 2, 3, 4]);
    /// s.poll_event().unwrap();
    /// s.advance_output(s.pending_output_front().len());
    /// s.shrink_buffers();
    /// assert_eq!(s.buffered_input(), 0);
    /// ```
    pub fn shrink_buffers(&mut self) {
        self.rx.shrink();
        self.tx.shrink();
        self.spare = Vec::new();
        self.reads_flowing = false;
        self.reassembler.release_inflater();
        if let (Some((_, deflater)), None) = (&mut self.deflate, self.sending) {
            deflater.release();
        }
        // The counts' box goes once its counts were taken.
        if self.traffic.as_deref() == Some(&Traffic::ZERO) {
            self.traffic = None;
        }
    }

    /// Bytes of memory this connection holds for the peer: its receive buffer, the
    /// message being reassembled, the output waiting to be written, the buffer kept for
    /// the next small message, and the permessage-deflate compressor and inflater while
    /// they are allocated (what a server's memory budget counts). It changes only as
    /// buffers grow or are freed.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// assert_eq!(s.memory_held(), 0);
    /// s.handle_input(&[0x02, 0x84, 0, 0, 0, 0, 1, 2, 3, 4]); // a first fragment
    /// s.poll_event().unwrap();
    /// let (held, message) = (s.memory_held(), s.message_memory());
    /// assert!(held >= 4 && message >= 4 && message <= held);
    /// ```
    pub fn memory_held(&self) -> usize {
        self.rx.capacity()
            + self.reassembler.capacity()
            + self.tx.capacity()
            + self.spare.capacity()
            + self.deflate.as_ref().map_or(0, |(_, d)| d.memory())
    }

    /// Messages and payload bytes received and sent by kind ([`Traffic`]), since the
    /// connection began or since the last [`take_traffic`](Connection::take_traffic):
    /// counted as they are decoded and queued, with a plain add each.
    pub fn traffic(&self) -> &Traffic {
        self.traffic.as_deref().unwrap_or(&Traffic::ZERO)
    }

    /// [`traffic`](Connection::traffic), and the counts start again from zero: what a
    /// reporter adds to its totals, with no copy of its own kept per connection.
    pub fn take_traffic(&mut self) -> Traffic {
        self.traffic
            .as_deref_mut()
            .map_or(Traffic::ZERO, core::mem::take)
    }

    /// The counts, boxed at the first count. The box is made out of line (once per
    /// step at most), so the per-frame paths that count stay small enough to inline.
    #[inline(always)]
    fn traffic_mut(&mut self) -> &mut Traffic {
        self.traffic.get_or_insert_with(new_traffic)
    }

    /// The part of [`memory_held`](Connection::memory_held) that is the
    /// permessage-deflate compressor and inflater this connection holds now (a pool's,
    /// while lent, or its own).
    pub fn deflate_memory(&self) -> usize {
        self.reassembler.inflater_memory() + self.deflate.as_ref().map_or(0, |(_, d)| d.memory())
    }

    /// The part of [`memory_held`](Connection::memory_held) that is the message being
    /// reassembled.
    pub fn message_memory(&self) -> usize {
        self.reassembler.capacity()
    }

    /// Bytes received and not yet decoded.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_input(&[0x81]);
    /// assert_eq!(s.buffered_input(), 1);
    /// ```
    pub fn buffered_input(&self) -> usize {
        self.rx.len()
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
    /// assert_eq!(s.pending_output_front(), [0x8a, 0x00]); // the automatic pong
    /// ```
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Message>, ProtocolError> {
        loop {
            if self.state == State::Closed {
                return Ok(None);
            }
            // A whole frame in the buffer is decoded and handed on in one step; the
            // incremental path below gives the same events, output and errors (the
            // decoder_connection fuzz target checks one-shot against byte-at-a-time).
            let (header, header_len, frame_len) = match self.decoder.decode_frame(self.rx.data()) {
                Err(e) => return Err(self.fail(e)),
                Ok(None) => match self.incremental_step() {
                    Some(result) => return result,
                    None => continue,
                },
                Ok(Some(WholeFrame {
                    header,
                    header_len,
                    frame_len,
                })) => (header, header_len, frame_len),
            };
            self.keepalive.frames += 1;
            let frame = self.rx.take(frame_len);
            let (raw_header, payload) = frame.split_at(header_len);
            // Recorded as taken; struck off again if it fails the connection.
            self.recorder.received(&header, raw_header, payload);
            if self.reassembler.is_whole_message(&header) {
                // A whole message in one frame, the commonest of all, built right into
                // the return value: see the decode rows of `benches/codec.rs`.
                let bytes = if payload.len() <= self.spare.capacity() {
                    let mut v = core::mem::take(&mut self.spare);
                    v.clear();
                    v.extend_from_slice(payload);
                    v
                } else {
                    payload.to_vec()
                };
                self.traffic_mut()
                    .received
                    .message(header.opcode, bytes.len());
                let message = match header.opcode {
                    OpCode::Text => match String::from_utf8(bytes) {
                        Ok(text) => Message::Text(text),
                        Err(_) => return Err(self.fail_frame(ProtocolError::InvalidUtf8)),
                    },
                    _ => Message::Binary(bytes),
                };
                return Ok(Some(message));
            }
            match self.reassembler.on_frame(&header, payload) {
                Err(e) => return Err(self.fail_frame(e)),
                Ok(None) => continue,
                Ok(Some(message)) => return Ok(Some(self.on_message(message))),
            }
        }
    }

    /// One step of the incremental path: a header, or the next piece of a payload, as
    /// much as the buffer holds. `None`: go on decoding. Out of line, so that the fast
    /// path of [`poll_event`](Connection::poll_event) stays small.
    #[inline(never)]
    fn incremental_step(&mut self) -> Option<Result<Option<Message>, ProtocolError>> {
        // A data payload that goes into the message as it is: unmasked as it is copied,
        // in one pass (the recorder, when on, takes the general path below).
        if self.reassembler.takes_plain_data() && !self.recorder.is_on() {
            if let Some(piece) = self.decoder.payload_piece(self.rx.data().len()) {
                let data = &self.rx.data()[..piece.len];
                let r = self
                    .reassembler
                    .on_masked_payload(data, piece.mask, piece.last);
                self.keepalive.frames += u64::from(piece.last);
                self.rx.consume(piece.len);
                return match r {
                    Err(e) => Some(Err(self.fail(e))),
                    Ok(None) => None,
                    Ok(Some(message)) => Some(Ok(Some(self.on_message(message)))),
                };
            }
        }
        let (used, event) = match self.decoder.decode(self.rx.data()) {
            Ok(d) => d,
            Err(e) => return Some(Err(self.fail(e))),
        };
        let result = match event {
            Decoded::NeedMore => {
                if self.eof {
                    self.end_at_eof();
                }
                return Some(Ok(None));
            }
            Decoded::Header(header) => {
                let r = self.reassembler.on_header(&header);
                if r.is_ok() {
                    // `decode` leaves a header's bytes as they came.
                    self.recorder.received_header(&header, self.rx.head(used));
                }
                r.map(|()| None)
            }
            Decoded::Payload { data, last } => {
                let r = self.reassembler.on_payload(data, last);
                self.keepalive.frames += u64::from(last);
                self.recorder.received_payload(data, last, r.is_ok());
                r
            }
        };
        self.rx.consume(used);
        match result {
            Err(e) => Some(Err(self.fail(e))),
            Ok(None) => None,
            Ok(Some(message)) => Some(Ok(Some(self.on_message(message)))),
        }
    }

    /// Automatic answers to control frames (§5.5.1, §5.5.2). Data messages need none.
    ///
    /// The message goes through by value and the answers get its parts, never a
    /// reference to it (see `benches/codec.rs`, decode rows).
    #[inline(always)]
    fn on_message(&mut self, message: Message) -> Message {
        let received = &mut self.traffic_mut().received;
        match &message {
            Message::Text(t) => received.message(OpCode::Text, t.len()),
            Message::Binary(b) => received.message(OpCode::Binary, b.len()),
            Message::Pong(p) => received.message(OpCode::Pong, p.len()),
            Message::Ping(payload) => {
                received.message(OpCode::Ping, payload.len());
                self.on_ping(payload.as_slice());
            }
            Message::Close(frame) => {
                received.message(
                    OpCode::Close,
                    frame.as_ref().map_or(0, |f| 2 + f.reason.len()),
                );
                self.on_close(frame.as_ref().map(|f| (f.code, f.reason.as_str())));
            }
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
        self.ending_mut().close_received = Some(frame.map(|(code, reason)| CloseFrame {
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

    /// A whole frame already recorded fails the connection: it is struck off the record.
    #[cold]
    #[inline(never)]
    fn fail_frame(&mut self, error: ProtocolError) -> ProtocolError {
        self.recorder.strike_last();
        self.fail(error)
    }

    /// §7.1.7 Fail the WebSocket Connection: send a Close with the error's code unless
    /// we already sent one, and stop.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        let mut reason = String::new();
        use core::fmt::Write as _;
        let _ = write!(reason, "{error}");
        reason.truncate(floor_char_boundary(&reason, 123));
        self.ending_mut().error = Some(error);
        self.end_abnormally(Some(error.close_code()), reason);
        error
    }

    /// The connection ends without the peer's close: send ours (with `code`, when we
    /// may still send one) and stop reading.
    fn end_abnormally(&mut self, code: Option<CloseCode>, reason: String) {
        if let (Some(code), State::Open) = (code, self.state) {
            self.write_close(Some(CloseFrame {
                code,
                reason: reason.clone(),
            }));
        }
        self.ending_mut().abnormal = Some(reason);
        self.state = State::Closed;
        self.rx.clear();
        self.recorder.abandon();
    }

    // ---- time -------------------------------------------------------------------

    /// The next moment the connection needs the clock: call
    /// [`handle_timeout`](Connection::handle_timeout) then (or earlier). `None` when no
    /// timer runs (all are off in the [`Config`], or the connection is closed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wisp_codec::{Config, Connection};
    /// let mut s = Connection::server(Config::default());
    /// assert_eq!(s.poll_timeout(), Some(Duration::ZERO)); // the clock starts at the first call
    /// s.handle_timeout(Duration::from_secs(100));
    /// assert_eq!(s.poll_timeout(), Some(Duration::from_secs(130))); // the ping
    /// ```
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.state == State::Closed {
            return None;
        }
        self.keepalive
            .poll(self.timers(), self.close_written(), self.may_send())
    }

    /// Does what is due at `now` (see [Time](Connection#time)): sends a ping after
    /// [`Config::ping_interval`] without progress, fails the connection after
    /// [`Config::idle_timeout`] (a Close 1001 `idle timeout` is queued, and it ends with
    /// 1006), and gives up on a close of ours that was not answered within
    /// [`Config::close_timeout`] (1006). Then write the output and ask
    /// [`poll_timeout`](Connection::poll_timeout) again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wisp_codec::{Connection, State};
    /// let secs = Duration::from_secs;
    /// let mut s = Connection::server(Default::default());
    /// s.handle_timeout(secs(0));
    /// s.handle_timeout(secs(30));
    /// assert_eq!(s.pending_output_front()[0], 0x89); // a ping
    /// s.handle_timeout(secs(60));
    /// assert_eq!(s.state(), State::Closed);
    /// assert_eq!(s.close_sent().unwrap().code.0, 1001);
    /// ```
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.state == State::Closed {
            return;
        }
        match self
            .keepalive
            .handle(now, self.timers(), self.close_written(), self.may_send())
        {
            Due::Nothing => {}
            Due::Ping => self.write_frame(OpCode::Ping, true, KEEPALIVE_PING),
            Due::Idle => self.end_abnormally(Some(CloseCode::GOING_AWAY), "idle timeout".into()),
            Due::CloseUnanswered => {
                self.end_abnormally(None, "the peer did not answer our close in time".into())
            }
        }
    }

    /// Sets how long a close of ours waits for the peer's answer (see
    /// [`Config::close_timeout`]), for a close whose wait has not started yet: a server
    /// shutting down gives its peers the rest of its grace period.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.handle_timeout(Duration::ZERO);
    /// s.set_close_timeout(Some(Duration::from_secs(9)));
    /// s.send_close(wisp_codec::CloseCode::GOING_AWAY, "").unwrap();
    /// s.advance_output(usize::MAX); // written
    /// s.handle_timeout(Duration::ZERO);
    /// assert_eq!(s.poll_timeout(), Some(Duration::from_secs(9)));
    /// ```
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.config.close_timeout = timeout;
    }

    // ---- output -----------------------------------------------------------------

    /// Sends a text message in one frame.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_text("Hello").unwrap();
    /// assert_eq!(s.pending_output_front(), b"\x81\x05Hello"); // §5.7
    /// ```
    pub fn send_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.send_frame(OpCode::Text, true, text.as_bytes())
    }

    /// Sends a binary message in one frame.
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_binary(&[0; 256]).unwrap();
    /// assert_eq!(&s.pending_output_front()[..4], [0x82, 0x7e, 0x01, 0x00]); // §5.7
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
    /// assert_eq!(s.pending_output_front(), b"\x01\x03Hel\x80\x02lo"); // §5.7
    /// ```
    pub fn send_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), UsageError> {
        self.check_send(opcode, fin, payload.len())?;
        if self.compresses(opcode, payload.len()) {
            self.write_compressed(opcode, fin, payload);
        } else {
            self.write_frame(opcode, fin, payload);
        }
        Ok(())
    }

    /// Whether this data frame goes out compressed; decides for a whole fragmented
    /// message at its first frame.
    fn compresses(&mut self, opcode: OpCode, len: usize) -> bool {
        match opcode {
            OpCode::Text | OpCode::Binary => {
                let yes = self.deflate.is_some() && len >= self.compress_threshold;
                self.sending_compressed = yes && self.sending.is_some();
                yes
            }
            OpCode::Continuation => {
                let yes = self.sending_compressed;
                if self.sending.is_none() {
                    self.sending_compressed = false;
                }
                yes
            }
            _ => false,
        }
    }

    /// Compresses one frame's payload and queues it, RSV1 on a message's first frame.
    fn write_compressed(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        let Some((_, deflater)) = &mut self.deflate else {
            return self.write_frame(opcode, fin, payload);
        };
        let mut body = Vec::with_capacity(payload.len() / 2 + 64);
        deflater.compress(payload, fin, &mut body);
        let rsv = if opcode == OpCode::Continuation { 0 } else { 4 };
        let mask = self.mask_source.as_mut().map(|m| m.next_mask());
        let payload_len = body.len() as u64;
        let sent = move || FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        if fin && body.len() >= OWNED_MIN {
            let (header, bytes) = self.tx.push_owned(rsv, opcode, mask, body);
            self.recorder.sent(sent, header, bytes);
            return;
        }
        let bytes = self.tx.push_frame(fin, rsv, opcode, mask, &body);
        self.recorder.sent(sent, bytes, &[]);
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
    /// assert_eq!(s.pending_output_front()[..2], [0x82, 0x7f]);
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
        if self.compresses(opcode, payload.len()) {
            self.write_compressed(opcode, true, &payload);
            return Ok(());
        }
        if payload.len() < OWNED_MIN {
            self.write_frame(opcode, true, &payload);
            if payload.capacity() <= SPARE_MAX && payload.capacity() > self.spare.capacity() {
                self.spare = payload;
            }
            return Ok(());
        }
        let mask = self.mask_source.as_mut().map(|m| m.next_mask());
        let payload_len = payload.len() as u64;
        let sent = move || FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        };
        let (header, body) = self.tx.push_owned(0, opcode, mask, payload);
        self.recorder.sent(sent, header, body);
        Ok(())
    }

    /// Sends a [`PreparedMessage`] in one frame: compressed as [`send`](Connection::send)
    /// would (same threshold, same parameters), but without context takeover on our side
    /// the compressed bytes are the message's own, made by the first connection that
    /// needed them and reused by every other. With context takeover the connection
    /// compresses the payload against its own window, as `send` does: a window kept
    /// across messages belongs to one connection (RFC 7692 §7.2.1).
    ///
    /// ```
    /// use wisp_codec::{Connection, Message, PreparedMessage};
    /// let msg = PreparedMessage::new(Message::Text("Hello".into())).unwrap();
    /// let mut s = Connection::server(Default::default());
    /// s.send_prepared(&msg).unwrap();
    /// assert_eq!(s.pending_output_front(), b"\x81\x05Hello"); // §5.7
    /// ```
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), UsageError> {
        let (opcode, payload) = (message.opcode(), message.payload());
        self.check_send(opcode, true, payload.len())?;
        if !self.compresses(opcode, payload.len()) {
            self.write_frame(opcode, true, payload);
            return Ok(());
        }
        let body = match &mut self.deflate {
            Some((_, deflater)) if !deflater.takeover() => message.deflated(deflater),
            _ => {
                self.write_compressed(opcode, true, payload);
                return Ok(());
            }
        };
        let mask = self.mask_source.as_mut().map(|m| m.next_mask());
        let bytes = self.tx.push_frame(true, 4, opcode, mask, body);
        let sent = || FrameHeader {
            fin: true,
            rsv: 4,
            opcode,
            mask,
            payload_len: body.len() as u64,
        };
        self.recorder.sent(sent, bytes, &[]);
        Ok(())
    }

    /// Whether a frame may be sent now; updates the fragmentation state when it may.
    #[inline(always)]
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
        let kind = match (opcode, self.sending) {
            (OpCode::Continuation, Some(op)) => {
                self.traffic_mut().sent.more_bytes(op, len);
                op
            }
            (OpCode::Text | OpCode::Binary, None) => {
                self.traffic_mut().sent.message(opcode, len);
                opcode
            }
            _ => return Err(UsageError::BadFragmentSequence),
        };
        self.sending = if fin { None } else { Some(kind) };
        Ok(())
    }

    /// Sends a ping (at most 125 bytes of application data).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_ping(b"Hello").unwrap();
    /// assert_eq!(s.pending_output_front(), b"\x89\x05Hello"); // §5.7
    /// ```
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_frame(OpCode::Ping, true, payload)
    }

    /// Sends an unsolicited pong (a unidirectional heartbeat, §5.5.3).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_pong(b"").unwrap();
    /// assert_eq!(s.pending_output_front(), [0x8a, 0x00]);
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

    /// We wait for the peer's Close, and ours has been written (the output drained): the
    /// close timer runs from then, so a close queued behind a backlog gets its full wait.
    fn close_written(&self) -> bool {
        self.state == State::Closing && self.tx.len() == 0
    }

    /// False once our Close is sent or the connection is closed: nothing may follow.
    fn may_send(&self) -> bool {
        self.state != State::Closed && self.close_sent().is_none()
    }

    fn timers(&self) -> Timers {
        Timers {
            ping_interval: self.config.ping_interval,
            idle_timeout: self.config.idle_timeout,
            close_timeout: self.config.close_timeout,
        }
    }

    fn ending_mut(&mut self) -> &mut Ending {
        self.ending.get_or_insert_with(Box::default)
    }

    fn write_close(&mut self, frame: Option<CloseFrame>) {
        let mut payload = Vec::with_capacity(125);
        if let Some(f) = &frame {
            f.encode_payload(&mut payload);
        }
        self.write_frame(OpCode::Close, true, &payload);
        self.ending_mut().close_sent = Some(frame.unwrap_or(CloseFrame {
            code: CloseCode::NO_STATUS_RECEIVED,
            reason: String::new(),
        }));
    }

    /// Queues one frame as it is (data frames were counted by `check_send`; control
    /// frames are counted here, the automatic answers included).
    #[inline(always)]
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        if opcode.is_control() {
            self.traffic_mut().sent.message(opcode, payload.len());
        }
        let mask = self.mask_source.as_mut().map(|m| m.next_mask());
        let bytes = self.tx.push_frame(fin, 0, opcode, mask, payload);
        let sent = || FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        self.recorder.sent(sent, bytes, &[]);
    }

    /// The first piece of the pending output: the next bytes to write to the peer.
    /// Write as many as the socket takes, then
    /// [`advance_output`](Connection::advance_output), and repeat until it is empty. It
    /// is not all of the output: a large payload given to
    /// [`send`](Connection::send) is a piece of its own
    /// ([`pending_output_slices`](Connection::pending_output_slices) gives them all, for
    /// one vectored write). Replies queued together go out together: one write for a burst.
    ///
    /// ```
    /// use wisp_codec::{Connection, Message};
    /// let mut s = Connection::server(Default::default());
    /// assert!(s.pending_output_front().is_empty());
    /// s.send(Message::Binary(vec![0; 20_000])).unwrap();
    /// let mut wire = Vec::new();
    /// while !s.pending_output_front().is_empty() {
    ///     let n = s.pending_output_front().len().min(8192); // what a socket took
    ///     wire.extend_from_slice(&s.pending_output_front()[..n]);
    ///     s.advance_output(n);
    /// }
    /// assert_eq!(wire.len(), 4 + 20_000);
    /// ```
    pub fn pending_output_front(&self) -> &[u8] {
        self.tx.front()
    }

    /// How many bytes wait to be written, all pieces together
    /// ([`pending_output_front`](Connection::pending_output_front) is only the first of up
    /// to a few pieces: a large payload sent with [`send`](Connection::send) is a piece of
    /// its own).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_text("a").unwrap();
    /// assert_eq!(s.pending_output_len(), 3);
    /// ```
    pub fn pending_output_len(&self) -> usize {
        self.tx.len()
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
        self.tx.slices(out)
    }

    /// Drops the first `n` bytes of the pending output (all of it if `n` is larger).
    ///
    /// ```
    /// let mut s = wisp_codec::Connection::server(Default::default());
    /// s.send_text("a").unwrap();
    /// s.advance_output(3);
    /// assert!(s.pending_output_front().is_empty());
    /// ```
    pub fn advance_output(&mut self, n: usize) {
        self.tx.advance(n);
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
        self.recorder.pop()
    }

    /// Whether a driver's reads go straight into the input buffer (`io.rs`).
    #[cfg(feature = "std")]
    pub(crate) fn reads_flowing(&self) -> bool {
        self.reads_flowing
    }

    #[cfg(feature = "std")]
    pub(crate) fn set_reads_flowing(&mut self, flowing: bool) {
        self.reads_flowing = flowing;
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
