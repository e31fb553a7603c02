//! The compressor and the bounded decompressor of permessage-deflate
//! ([RFC 7692 §7.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.2)); the inflater is
//! miniz_oxide's (no_std, itself free of unsafe code).
//!
//! Sending: each message (or each fragment of one) is compressed with a sync flush; the
//! final fragment drops the `00 00 ff ff` the flush ends with (§7.2.1). Receiving: the
//! payload is inflated as it arrives, `00 00 ff ff` is appended after the final fragment
//! (§7.2.2), and the output never grows past the message limit: inflating stops as soon
//! as one byte more than the limit has come out.
//!
//! The compressor is our own (`window.rs`): LZ77 whose every distance stays within the
//! window the peer allows (8 to 15 bits, RFC 7692 §7.1.2), so a small window costs
//! ratio, never correctness. miniz_oxide's window parameter does not bound the
//! distances it emits, which is why it only inflates here.

mod window;

use alloc::boxed::Box;
use alloc::vec::Vec;

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use window::Compressor;

/// The tail a sync flush ends with, removed by the sender and restored by the receiver.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The most output space the inflater asks for at a time...
const INFLATE_STEP: usize = 16 * 1024;
/// ...and the least.
const MIN_STEP: usize = 256;

/// Bytes an inflater holds (its state and the 32 KiB window); `tests/deflate_memory.rs`
/// checks it, and the compressor's `window::memory`, against a counting allocator.
pub(crate) const INFLATER_MEMORY: usize = 44 * 1024;

/// A permessage-deflate compressor for one direction of one connection.
pub struct Deflater {
    /// Allocated at the first compressed message, dropped by `release` when no context
    /// is kept across messages.
    state: Option<Box<Compressor>>,
    /// Keep the LZ77 window from one message to the next (no `*_no_context_takeover`).
    takeover: bool,
    /// A message is half compressed: the state may not be lent back to a pool.
    mid: bool,
    /// The window the peer allows us (8-15 bits).
    window_bits: u8,
}

impl Deflater {
    /// A compressor whose stream is valid for a peer window of `window_bits` (8-15):
    /// no back-reference reaches further than `2^window_bits` bytes.
    pub fn new(window_bits: u8, takeover: bool) -> Self {
        Deflater {
            state: None,
            takeover,
            mid: false,
            window_bits: window_bits.clamp(8, 15),
        }
    }

    /// The window the peer allows (8-15 bits).
    pub(crate) fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Whether the window is kept from one message to the next.
    pub(crate) fn takeover(&self) -> bool {
        self.takeover
    }

    /// Compresses one fragment of a message onto `out`, ending with a sync flush; `fin`
    /// (the message's last fragment) drops the flush's `00 00 ff ff` and, without context
    /// takeover, starts the next message afresh.
    pub fn compress(&mut self, data: &[u8], fin: bool, out: &mut Vec<u8>) {
        let bits = self.window_bits;
        let state = self
            .state
            .get_or_insert_with(|| Box::new(Compressor::new(bits)));
        // A whole message without context takeover: one pass over the payload itself.
        let whole = fin && !self.mid && !self.takeover && data.len() <= window::WHOLE_MAX;
        self.mid = !fin;
        if whole {
            state.compress_whole(data, out);
        } else {
            state.compress(data, out);
        }
        if fin {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            if !self.takeover {
                state.forget();
            }
        }
    }

    /// Frees the compressor between messages when no window is kept across them.
    pub(crate) fn release(&mut self) {
        if !self.takeover {
            self.state = None;
        }
    }

    /// Borrows the pool's compressor when no window is kept and none is held (only one
    /// made for the same window: its memory is sized by it).
    pub(crate) fn borrow_from(&mut self, pool: &mut DeflatePool) {
        if self.takeover || self.state.is_some() {
            return;
        }
        match pool.compressor.take() {
            Some(state) if state.window_bits() == self.window_bits => self.state = Some(state),
            other => pool.compressor = other,
        }
    }

    /// Gives the compressor back to the pool between messages (dropping it when the
    /// pool already holds one); a message half sent keeps its state.
    pub(crate) fn give_back(&mut self, pool: &mut DeflatePool) {
        if self.takeover || self.mid {
            return;
        }
        if let Some(state) = self.state.take() {
            if pool.compressor.is_none() {
                pool.compressor = Some(state);
            }
        }
    }

    /// Heap bytes held now: nothing before the first message (or between messages
    /// without context takeover, once released), else what the window needs.
    pub fn memory(&self) -> usize {
        self.state
            .as_ref()
            .map_or(0, |s| window::memory(s.window_bits()))
    }
}

/// One compressor and one inflater that connections without context takeover borrow
/// for a message and give back between messages: a server's worker thread owns one and
/// lends it to each connection it drives (`Connection::lend_deflate`,
/// `Connection::return_deflate`), so an idle deflate connection holds no deflate state
/// at all. Each half is allocated at its first use (at most [`DeflatePool::MAX_MEMORY`]
/// bytes in all).
///
/// ```
/// use wisp_codec::extension::DeflateParams;
/// use wisp_codec::{Connection, DeflatePool, Message};
/// let shared = DeflateParams { server_no_context_takeover: true, client_no_context_takeover: true, ..Default::default() };
/// let mut pool = DeflatePool::new();
/// let mut server = Connection::server(Default::default());
/// server.set_deflate(shared);
/// server.lend_deflate(&mut pool);
/// server.send_text(&"Hello! ".repeat(20)).unwrap();
/// server.return_deflate(&mut pool);
/// assert_eq!(server.memory_held() - server.pending_output_len(), 0);
/// assert!(pool.memory() > 0);
/// let mut client = Connection::client(Default::default(), || [1, 2, 3, 4]);
/// client.set_deflate(shared);
/// client.handle_input(server.pending_output_front());
/// assert_eq!(client.poll_event(), Ok(Some(Message::Text("Hello! ".repeat(20)))));
/// ```
#[derive(Default)]
pub struct DeflatePool {
    /// The compressor (it knows its window).
    compressor: Option<Box<Compressor>>,
    inflater: Option<Box<InflateState>>,
}

impl DeflatePool {
    /// The most a pool holds: one compressor (for a 15-bit window, the largest) and
    /// one inflater.
    pub const MAX_MEMORY: usize = window::MAX_MEMORY + INFLATER_MEMORY;

    /// An empty pool; nothing is allocated until a connection first needs it.
    pub fn new() -> Self {
        DeflatePool::default()
    }

    /// Heap bytes the pool holds now (what is lent out is counted by its connection).
    pub fn memory(&self) -> usize {
        self.compressor
            .as_ref()
            .map_or(0, |c| window::memory(c.window_bits()))
            + self.inflater.as_ref().map_or(0, |_| INFLATER_MEMORY)
    }
}

impl core::fmt::Debug for DeflatePool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeflatePool")
            .field("memory", &self.memory())
            .finish()
    }
}

/// Why inflating a message stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The data is not valid DEFLATE.
    Corrupt,
    /// The output would pass the limit; holds the size it reached (limit + 1 or more).
    TooLarge(u64),
}

/// A permessage-deflate decompressor for the messages the peer sends.
pub struct Inflater {
    state: Option<Box<InflateState>>,
    /// The peer keeps its window across messages, so ours must too.
    takeover: bool,
    /// The stream ended with a final block: the next message starts a new one.
    ended: bool,
    /// Input was fed since the last reset (a message in progress, or one that failed):
    /// the state may not be lent back to a pool.
    mid: bool,
}

impl Inflater {
    /// A new inflater with the same setting and no state.
    pub(crate) fn fresh(&self) -> Self {
        Inflater::new(self.takeover)
    }

    /// An inflater for a peer that keeps its window across messages (`takeover`) or not.
    pub fn new(takeover: bool) -> Self {
        Inflater {
            state: None,
            takeover,
            ended: false,
            mid: false,
        }
    }

    /// Inflates `input` onto `out`, which may hold at most `max` bytes in all. With
    /// `fin` (the message's last fragment is in) the removed tail is restored and the
    /// message ends.
    pub fn inflate(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        max: u64,
    ) -> Result<(), InflateError> {
        self.mid = true;
        self.feed(input, out, max)?;
        if fin {
            self.feed(&TAIL, out, max)?;
            if !self.takeover || self.ended {
                if let Some(state) = &mut self.state {
                    state.reset(DataFormat::Raw);
                }
                self.ended = false;
                self.mid = false;
            }
        }
        Ok(())
    }

    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>, max: u64) -> Result<(), InflateError> {
        let state = self
            .state
            .get_or_insert_with(|| InflateState::new_boxed(DataFormat::Raw));
        // The output space offered (and zeroed) at a time: four times the input to begin
        // with (JSON inflates about threefold), doubled each round that fills it, up to
        // `INFLATE_STEP`; a message of a few hundred bytes zeroes a few KiB, not 16.
        let mut want = input.len().saturating_mul(4).clamp(MIN_STEP, INFLATE_STEP);
        loop {
            if self.ended {
                // Bytes after a final block belong to no stream: nothing to inflate.
                return Ok(());
            }
            let len = out.len();
            // One byte past the limit is room enough to prove the message too large.
            let room = (max.saturating_add(1)).saturating_sub(len as u64);
            let step = usize::try_from(room).map_or(want, |r| r.min(want));
            if step == 0 {
                return Err(InflateError::TooLarge(len as u64));
            }
            // Grow by doubling, but never past the limit: a bomb costs the limit, no more.
            if len + step > out.capacity() {
                let cap = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
                let target = out.capacity().saturating_mul(2).min(cap).max(len + step);
                out.reserve_exact(target - len);
            }
            out.resize(len + step, 0);
            let r = inflate(state, input, &mut out[len..], MZFlush::None);
            out.truncate(len + r.bytes_written);
            input = &input[r.bytes_consumed..];
            if out.len() as u64 > max {
                return Err(InflateError::TooLarge(out.len() as u64));
            }
            match r.status {
                Ok(MZStatus::StreamEnd) => self.ended = true,
                Ok(_) => {}
                // No progress possible: all input is in and all output is out.
                Err(MZError::Buf) => return Ok(()),
                Err(_) => return Err(InflateError::Corrupt),
            }
            // Output space left over means the inflater has nothing more to give for
            // this input.
            if input.is_empty() && r.bytes_written < step {
                return Ok(());
            }
            if r.bytes_written == step {
                want = (want * 2).min(INFLATE_STEP);
            }
        }
    }

    /// Frees the inflater between messages when the peer keeps no window across them.
    pub(crate) fn release(&mut self) {
        if !self.takeover {
            self.state = None;
        }
    }

    /// Borrows the pool's inflater when the peer keeps no window and none is held.
    pub(crate) fn borrow_from(&mut self, pool: &mut DeflatePool) {
        if !self.takeover && self.state.is_none() {
            self.state = pool.inflater.take();
        }
    }

    /// Gives the inflater back to the pool between messages (dropping it when the pool
    /// already holds one); a message half inflated, or one that failed, keeps its state.
    pub(crate) fn give_back(&mut self, pool: &mut DeflatePool) {
        if self.takeover || self.mid {
            return;
        }
        if let Some(state) = self.state.take() {
            if pool.inflater.is_none() {
                pool.inflater = Some(state);
            }
        }
    }

    pub(crate) fn memory(&self) -> usize {
        if self.state.is_some() {
            INFLATER_MEMORY
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8], window: u8, takeover: bool) {
        let mut d = Deflater::new(window, takeover);
        let mut i = Inflater::new(takeover);
        for _ in 0..3 {
            let mut wire = Vec::new();
            d.compress(data, true, &mut wire);
            assert!(!wire.ends_with(&TAIL) || data.is_empty());
            let mut out = Vec::new();
            i.inflate(&wire, true, &mut out, u64::MAX).unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn round_trips_at_each_window() {
        let text: Vec<u8> = (0..5000u32)
            .flat_map(|n| alloc::format!("{{\"n\":{n},\"ok\":true}}").into_bytes())
            .collect();
        for w in 8..=15 {
            round_trip(&text, w, true);
            round_trip(&text, w, false);
            round_trip(b"", w, true);
        }
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let mut d = Deflater::new(15, false);
        let mut wire = Vec::new();
        d.compress(&alloc::vec![0u8; 4 << 20], true, &mut wire);
        let mut out = Vec::new();
        let mut i = Inflater::new(false);
        let e = i.inflate(&wire, true, &mut out, 100_000).unwrap_err();
        assert_eq!(e, InflateError::TooLarge(100_001));
        assert!(out.capacity() < 200_000);
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut i = Inflater::new(true);
        // BTYPE = 11 is reserved (RFC 1951 §3.2.3).
        assert_eq!(
            i.inflate(&[0x07, 0x00], true, &mut Vec::new(), 1000),
            Err(InflateError::Corrupt)
        );
    }
}
