//! The send queue: encoded frames waiting to be written to the peer.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::header::{encode_frame, FrameHeader};
use crate::mask::apply_mask;
use crate::opcode::OpCode;

/// The output, in order: `chunks` (owned payloads, and the bytes queued before each),
/// then `buf`. `start` is how much of the front piece (`chunks[0]`, else `buf`) is
/// written already.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    buf: Vec<u8>,
    chunks: VecDeque<Vec<u8>>,
    start: usize,
}

impl SendQueue {
    /// Appends a frame (copied into the buffer, to go out with its neighbours). Returns
    /// its bytes as queued.
    pub(crate) fn push_frame(
        &mut self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload: &[u8],
    ) -> &[u8] {
        let at = self.buf.len();
        encode_frame(&mut self.buf, fin, rsv, opcode, mask, payload);
        &self.buf[at..]
    }

    /// Appends bytes that are not a frame (the opening handshake's response head).
    pub(crate) fn push_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends a whole-message frame whose payload joins the output as a piece of its
    /// own, uncopied (masked in place by a client). Returns the header bytes and the
    /// payload as queued.
    pub(crate) fn push_owned(
        &mut self,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        mut payload: Vec<u8>,
    ) -> (&[u8], &[u8]) {
        let header = FrameHeader {
            fin: true,
            rsv,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let at = self.buf.len();
        header.encode_to_vec(&mut self.buf);
        let header_len = self.buf.len() - at;
        if let Some(key) = mask {
            apply_mask(&mut payload, key, 0);
        }
        // Everything queued so far (this header included) goes first, then the payload.
        self.chunks.push_back(core::mem::take(&mut self.buf));
        self.chunks.push_back(payload);
        let n = self.chunks.len();
        let head = &self.chunks[n - 2];
        (&head[head.len() - header_len..], &self.chunks[n - 1])
    }

    /// The front piece of the output.
    pub(crate) fn front(&self) -> &[u8] {
        match self.chunks.front() {
            Some(chunk) => &chunk[self.start..],
            None => &self.buf[self.start..],
        }
    }

    /// Bytes waiting in all pieces.
    pub(crate) fn len(&self) -> usize {
        let queued: usize = self.chunks.iter().map(Vec::len).sum();
        queued + self.buf.len() - self.start
    }

    /// Fills `out` with the non-empty pieces in order; returns how many.
    pub(crate) fn slices<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let pieces = self
            .chunks
            .iter()
            .map(Vec::as_slice)
            .chain(core::iter::once(self.buf.as_slice()));
        let mut n = 0;
        for (i, piece) in pieces.enumerate() {
            let piece = if i == 0 { &piece[self.start..] } else { piece };
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

    /// Drops the first `n` bytes (all of them if `n` is larger).
    pub(crate) fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.chunks.front() {
            let left = front.len() - self.start;
            if n < left {
                self.start += n;
                return;
            }
            n -= left;
            self.chunks.pop_front();
            self.start = 0;
        }
        self.start = (self.start.saturating_add(n)).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Frees the buffer if nothing waits.
    pub(crate) fn shrink(&mut self) {
        if self.chunks.is_empty() && self.start == self.buf.len() {
            *self = SendQueue::default();
        }
    }

    /// Bytes of memory the queue holds.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity() + self.chunks.iter().map(Vec::capacity).sum::<usize>()
    }
}
