//! Frame recording for `/inspect` and `--show-frames`: a copy of every frame's bytes as
//! they crossed the wire. It only observes: the connection decodes and encodes the same
//! way with or without it, and tells it what the one decode path decoded.
//!
//! [`Recorder`] is always present in a connection, as quinn-proto's qlog sink is: its
//! methods do nothing when recording is off (`Config::record_frames`), at the cost of
//! one test of a pointer, and the recording itself happens out of line.
//!
//! It also notes how the input arrived: each commit of input (a driver's read: one
//! `recv` on a socket) is a read, and a received frame's [`Reads`] say which reads
//! brought its first and last bytes, so a reader sees one read carrying several frames
//! and one frame split across reads, as TCP delivered them.

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
    /// A received frame: the reads that brought its bytes (`None` for a frame we sent).
    pub reads: Option<Reads>,
}

/// Which of a connection's reads brought a received frame's bytes: each commit of input
/// ([`handle_input`](crate::Connection::handle_input),
/// [`commit_input`](crate::Connection::commit_input), one per read of the IO adapter) is
/// a read, numbered from 1. On a server whose driver hands over the bytes that came
/// after the opening handshake's head in the read that ended it, those bytes (if any)
/// are read 1. Over TLS a read is a read of decrypted bytes.
///
/// ```
/// use wisp_codec::{Config, Connection};
/// let mut s = Connection::server(Config { record_frames: true, ..Config::default() });
/// let ping = [0x89u8, 0x80, 1, 2, 3, 4]; // a masked, empty ping
/// s.handle_input(&ping[..1]); // read 1: one byte
/// s.handle_input(&[&ping[1..], &ping[..]].concat()); // read 2: the rest and another ping
/// while s.poll_event().unwrap().is_some() {}
/// let first = s.poll_wire_frame().unwrap().reads.unwrap();
/// assert_eq!((first.first, first.last, first.sizes), (1, 2, vec![1, 11]));
/// s.poll_wire_frame(); // the pong
/// let second = s.poll_wire_frame().unwrap().reads.unwrap();
/// assert_eq!((second.first, second.last), (2, 2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reads {
    /// The read that brought the frame's first byte.
    pub first: u64,
    /// The read that brought its last byte.
    pub last: u64,
    /// The sizes of reads `first..=last`, in order: all the bytes each read brought,
    /// its neighbours' included. At most [`READ_SIZES_KEPT`]: the sizes of a frame's
    /// reads after its first 16 are not kept.
    pub sizes: Vec<usize>,
}

/// The most read sizes a [`Reads`] lists.
pub const READ_SIZES_KEPT: usize = 16;

/// The frame recorder of a connection: on or off for its whole life, a no-op when off.
#[derive(Debug, Default)]
pub(crate) struct Recorder(Option<Box<Record>>);

impl Recorder {
    pub(crate) fn new(on: bool) -> Recorder {
        Recorder(on.then(Box::default))
    }

    /// Whether frames are recorded.
    #[inline(always)]
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
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

    /// `n` bytes of input arrived in one read. Out of line: once per read, and inlined
    /// its test changed how the decode loop around it compiled (4 instructions more per
    /// echoed 16-byte message under callgrind, `bench/examples/codec_echo.rs`).
    #[inline(never)]
    pub(crate) fn read(&mut self, n: usize) {
        if let Some(r) = &mut self.0 {
            r.read(n);
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
    /// The reads not yet wholly behind the received frames recorded.
    reads: VecDeque<Read>,
    /// Reads so far.
    read_count: u64,
    /// Bytes read so far.
    read_bytes: u64,
    /// Where in the input the next received frame starts.
    frame_start: u64,
    /// The received frame read in pieces: where it ends and its first read. A read
    /// wholly inside it and past its first [`READ_SIZES_KEPT`] is counted, not kept.
    inside: Option<(u64, u64)>,
}

/// One read: its number, where its bytes start in the input, how many it brought.
#[derive(Debug, Clone, Copy)]
struct Read {
    index: u64,
    start: u64,
    len: usize,
}

impl Read {
    fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    fn holds(&self, at: u64) -> bool {
        self.start <= at && at < self.end()
    }
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
        let reads = self.reads_of(bytes.len());
        self.push(Direction::Received, *header, bytes, reads);
    }

    #[inline(never)]
    fn received_header(&mut self, header: &FrameHeader, raw_header: &[u8]) {
        self.partial.clear();
        self.partial.extend_from_slice(raw_header);
        self.current = Some((*header, raw_header.len()));
        let end = self.frame_start + raw_header.len() as u64 + header.payload_len;
        let first = self.read_at(self.frame_start).map_or(0, |r| r.index);
        self.inside = Some((end, first));
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
                let reads = self.reads_of(bytes.len());
                self.push(Direction::Received, header, bytes, reads);
            }
        }
    }

    #[inline(never)]
    fn sent(&mut self, header: FrameHeader, first: &[u8], rest: &[u8]) {
        let mut bytes = Vec::with_capacity(first.len() + rest.len());
        bytes.extend_from_slice(first);
        bytes.extend_from_slice(rest);
        self.push(Direction::Sent, header, bytes, None);
    }

    #[inline(never)]
    fn read(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.read_count += 1;
        let read = Read {
            index: self.read_count,
            start: self.read_bytes,
            len: n,
        };
        self.read_bytes += n as u64;
        if let Some((end, first)) = self.inside {
            let listed = read.index < first + READ_SIZES_KEPT as u64;
            if read.end() < end && !listed {
                return;
            }
        }
        self.reads.push_back(read);
    }

    /// The read that brought byte `at` of the input, if it is still kept.
    fn read_at(&self, at: u64) -> Option<&Read> {
        self.reads.iter().find(|r| r.holds(at))
    }

    /// The reads of the received frame of `len` bytes that starts where the last one
    /// ended; the reads wholly behind it are forgotten.
    fn reads_of(&mut self, len: usize) -> Option<Reads> {
        let start = self.frame_start;
        let end = start + len as u64;
        self.frame_start = end;
        self.inside = None;
        let first = self.read_at(start)?.index;
        let last = self.read_at(end - 1)?.index;
        let listed = last.min(first + READ_SIZES_KEPT as u64 - 1);
        let sizes = self
            .reads
            .iter()
            .filter(|r| (first..=listed).contains(&r.index))
            .map(|r| r.len)
            .collect();
        while self.reads.front().is_some_and(|r| r.end() <= end) {
            self.reads.pop_front();
        }
        Some(Reads { first, last, sizes })
    }

    #[inline(never)]
    fn abandon(&mut self) {
        self.current = None;
        self.partial = Vec::new();
        self.inside = None;
        self.reads = VecDeque::new();
    }

    fn push(
        &mut self,
        direction: Direction,
        header: FrameHeader,
        bytes: Vec<u8>,
        reads: Option<Reads>,
    ) {
        self.frames.push_back(WireFrame {
            direction,
            header,
            bytes,
            reads,
        });
    }
}
