//! The receive buffer: bytes from the peer that are not decoded yet.

use alloc::vec::Vec;

use alloc::vec;

/// The buffer is compacted once this much has been consumed at its front.
const COMPACT_AT: usize = 64 * 1024;

/// Buffers of this size and up start on a page boundary: on some VMs the kernel copies
/// into a page-aligned buffer about three times faster than into one 16 bytes past a
/// page boundary, where a large `Vec` lands (no difference on the benchmark machine, and
/// it costs nothing).
const ALIGN_FROM: usize = 64 * 1024;
const PAGE: usize = 4096;

/// `buf[start..end]` is received and not yet decoded; a large buffer's data starts at
/// `base`, its first page boundary. A driver reads straight into the free space after
/// `end` ([`RecvBuffer::space`]), so bytes are copied once, by the kernel. The decoder
/// unmasks payloads in place here and hands out slices of it.
#[derive(Debug, Default)]
pub(crate) struct RecvBuffer {
    buf: Vec<u8>,
    base: usize,
    start: usize,
    end: usize,
}

impl RecvBuffer {
    /// Free space of at least `min` bytes after the received bytes.
    pub(crate) fn space(&mut self, min: usize) -> &mut [u8] {
        let live = self.end - self.start;
        if live == 0 {
            self.start = self.base;
            self.end = self.base;
        } else if self.start - self.base >= COMPACT_AT.max(live) {
            // Moving the live bytes costs less than what consuming them did.
            self.buf.copy_within(self.start..self.end, self.base);
            self.start = self.base;
            self.end = self.base + live;
        }
        if self.buf.len() - self.end < min {
            let need = live + min;
            if need < ALIGN_FROM {
                self.buf.resize(self.end + min, 0);
            } else {
                // At least double, so a buffer filled without decoding grows in few steps.
                let size = need.max(2 * (self.buf.len() - self.base));
                let mut fresh = vec![0u8; size + PAGE];
                let base = fresh.as_ptr().align_offset(PAGE).min(PAGE);
                fresh[base..base + live].copy_from_slice(&self.buf[self.start..self.end]);
                *self = RecvBuffer {
                    buf: fresh,
                    base,
                    start: base,
                    end: base + live,
                };
            }
        }
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of [`space`](RecvBuffer::space) as received.
    pub(crate) fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The received bytes, to decode in place.
    #[inline(always)]
    pub(crate) fn data(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// The first `n` received bytes (`n` at most [`len`](RecvBuffer::len)).
    #[inline(always)]
    pub(crate) fn head(&self, n: usize) -> &[u8] {
        &self.buf[self.start..self.start + n]
    }

    /// Drops `n` decoded bytes from the front.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
    }

    /// Drops `n` decoded bytes from the front and hands them out, to read the frame they
    /// held (`n` at most [`len`](RecvBuffer::len)).
    #[inline(always)]
    pub(crate) fn take(&mut self, n: usize) -> &[u8] {
        let start = self.start;
        self.start += n;
        &self.buf[start..start + n]
    }

    /// Drops everything received.
    pub(crate) fn clear(&mut self) {
        self.start = self.end;
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Frees the buffer if it holds nothing.
    pub(crate) fn shrink(&mut self) {
        if self.start == self.end {
            *self = RecvBuffer::default();
        }
    }

    /// Bytes of memory the buffer holds.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}
