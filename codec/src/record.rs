//! Frame recording for `/inspect` and `--show-frames`: a copy of every frame's bytes as
//! they crossed the wire. It only observes: the connection decodes and encodes the same
//! way with or without it, and tells it what the one decode path decoded.
//!
//! [`Recorder`] is always present in a connection, as quinn-proto's qlog sink is: its
//! methods do nothing when recording is off (`Config::record_frames`), at the cost of
//! one test of a pointer, and the recording itself happens out of line.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::header::FrameHeader;
use crate::mask::apply_mask;

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
/// them), with its header, recorded when `Config::record_frames` is on.
///
/// ```
/// use wisp_codec::{Config, Connection, OpCode};
/// let mut c = Connection::server(Config { record_frames: true, ..Config::default() });
/// c.handle_input(&[0x89, 0x80, 1, 2, 3, 4]); // a masked, empty ping
/// c.poll_event().unwrap();
/// let f = c.poll_wire_frame().unwrap();
/// assert_eq!((f.header.opcode, f.bytes), (OpCode::Ping, vec![0x89, 0x80, 1, 2, 3, 4]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    /// Which way it went.
    pub direction: Direction,
    /// The frame's header, as decoded from `bytes`.
    pub header: FrameHeader,
    /// Header and payload bytes.
    pub bytes: Vec<u8>,
}

/// The frame recorder of a connection: on or off for its whole life, a no-op when off.
#[derive(Debug, Default)]
pub(crate) struct Recorder(Option<Box<Record>>);

impl Recorder {
    pub(crate) fn new(on: bool) -> Recorder {
        Recorder(on.then(Box::default))
    }

    /// A whole received frame: `raw_header` as it arrived, `payload` unmasked. One that
    /// then fails the connection is struck off with [`strike_last`](Recorder::strike_last).
    #[inline(always)]
    pub(crate) fn received(&mut self, header: &FrameHeader, raw_header: &[u8], payload: &[u8]) {
        if let Some(r) = &mut self.0 {
            r.received(header, raw_header, payload);
        }
    }

    /// The header of a received frame whose payload comes in pieces, accepted.
    #[inline(always)]
    pub(crate) fn received_header(&mut self, header: &FrameHeader, raw_header: &[u8]) {
        if let Some(r) = &mut self.0 {
            r.received_header(header, raw_header);
        }
    }

    /// The next piece of that payload, unmasked. The frame is kept once it is complete
    /// and `accepted`, so the record does not depend on how the input was split.
    #[inline(always)]
    pub(crate) fn received_payload(&mut self, data: &[u8], last: bool, accepted: bool) {
        if let Some(r) = &mut self.0 {
            r.received_payload(data, last, accepted);
        }
    }

    /// A frame we sent, in one or two pieces as queued (`first` holds the header); its
    /// header is built only when recording is on.
    #[inline(always)]
    pub(crate) fn sent(&mut self, header: impl FnOnce() -> FrameHeader, first: &[u8], rest: &[u8]) {
        if let Some(r) = &mut self.0 {
            r.sent(header(), first, rest);
        }
    }

    /// The whole frame recorded last failed the connection: it is not recorded after all.
    pub(crate) fn strike_last(&mut self) {
        if let Some(r) = &mut self.0 {
            r.frames.pop_back();
        }
    }

    /// The connection failed: the frame being read is never recorded.
    #[inline(always)]
    pub(crate) fn abandon(&mut self) {
        if let Some(r) = &mut self.0 {
            r.abandon();
        }
    }

    /// The oldest recorded frame not yet handed out.
    pub(crate) fn pop(&mut self) -> Option<WireFrame> {
        self.0.as_mut()?.frames.pop_front()
    }
}

/// What a recorder that is on holds: the recorded frames, and the received frame being
/// read.
#[derive(Debug, Default)]
struct Record {
    frames: VecDeque<WireFrame>,
    /// The received frame read so far, payload re-masked: its header, where its payload
    /// starts in `partial`.
    current: Option<(FrameHeader, usize)>,
    partial: Vec<u8>,
}

impl Record {
    #[inline(never)]
    fn received(&mut self, header: &FrameHeader, raw_header: &[u8], payload: &[u8]) {
        let mut bytes = Vec::with_capacity(raw_header.len() + payload.len());
        bytes.extend_from_slice(raw_header);
        bytes.extend_from_slice(payload);
        if let Some(key) = header.mask {
            apply_mask(&mut bytes[raw_header.len()..], key, 0);
        }
        self.push(Direction::Received, *header, bytes);
    }

    #[inline(never)]
    fn received_header(&mut self, header: &FrameHeader, raw_header: &[u8]) {
        self.partial.clear();
        self.partial.extend_from_slice(raw_header);
        self.current = Some((*header, raw_header.len()));
    }

    #[inline(never)]
    fn received_payload(&mut self, data: &[u8], last: bool, accepted: bool) {
        let Some((header, at)) = self.current else {
            return;
        };
        let offset = self.partial.len() - at;
        let from = self.partial.len();
        self.partial.extend_from_slice(data);
        if let Some(key) = header.mask {
            apply_mask(&mut self.partial[from..], key, offset % 4);
        }
        if last || !accepted {
            self.current = None;
            let bytes = core::mem::take(&mut self.partial);
            if accepted {
                self.push(Direction::Received, header, bytes);
            }
        }
    }

    #[inline(never)]
    fn sent(&mut self, header: FrameHeader, first: &[u8], rest: &[u8]) {
        let mut bytes = Vec::with_capacity(first.len() + rest.len());
        bytes.extend_from_slice(first);
        bytes.extend_from_slice(rest);
        self.push(Direction::Sent, header, bytes);
    }

    #[inline(never)]
    fn abandon(&mut self) {
        self.current = None;
        self.partial = Vec::new();
    }

    fn push(&mut self, direction: Direction, header: FrameHeader, bytes: Vec<u8>) {
        self.frames.push_back(WireFrame {
            direction,
            header,
            bytes,
        });
    }
}
