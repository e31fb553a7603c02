//! A DEFLATE compressor ([RFC 1951](https://www.rfc-editor.org/rfc/rfc1951)) whose every
//! back-reference stays within a window of `2^w` bytes, `w` = 8 to 15: what the peer's
//! `*_max_window_bits` asks for ([RFC 7692 §7.1.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.1.2):
//! "the base-2 logarithm of the LZ77 sliding window size", 8 included).
//!
//! The matcher is zlib's lazy one (at its level 5's limits, level 4's chain in the stream),
//! written for this window: hash chains (over 4-byte strings, where zlib's are over 3),
//! lazy matching (a match is kept only when the next position has
//! no longer one), chains cut short on long matches. Every candidate is checked against
//! the window's lower edge before its bytes are compared, so no distance exceeds `2^w`,
//! and none reaches before the message when no context is kept (`forget`): a compressor
//! lent from one connection to the next never refers to another's bytes. Blocks are
//! dynamic Huffman (codes limited to 15 bits, the code-length code to 7), fixed Huffman
//! or stored, whichever is smallest; each call ends with a sync flush (an empty stored
//! block, `00 00 ff ff`).
//!
//! Memory is fixed by the window at construction (see [`memory`]); nothing is sized by
//! the input.

use alloc::vec;
use alloc::vec::Vec;

const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// Bytes kept ahead of the position being matched: a longest match, and the next
/// position's 3 bytes for the lazy step.
const LOOKAHEAD: usize = MAX_MATCH + MIN_MATCH + 1;

/// zlib's level 5 (its level 6 searches 128 candidates and stops at 128 bytes; with
/// 4-byte hashes this one's ratio is zlib -6's within 0.1 point on
/// the deflate_window corpus, at every window, for a quarter less time, and under context takeover, where
/// each candidate is a likely cache miss, a third less): a match this long cuts the
/// next search's chain to a quarter...
const GOOD_LENGTH: usize = 8;
/// ...one this long is taken without looking at the next position...
const MAX_LAZY: usize = 16;
/// ...one this long ends the search...
const NICE_LENGTH: usize = 32;
/// ...and a search looks at this many candidates at most (a whole message without
/// takeover, `compress_whole`)...
const MAX_CHAIN: usize = 32;
/// ...or this many in the stream (context takeover, fragments): zlib level 4's chain.
/// 50 connections' compressors do not stay in cache, and each candidate is a likely
/// miss (its `prev` entry, its bytes): half the chain is a quarter less compressor time
/// per message with cold caches, for 0.5 point of ratio (the deflate_window corpus at
/// 15 bits with takeover: 18.86 % against zlib -6's 18.34 %).
const STREAM_CHAIN: usize = 16;
/// A 3-byte match further back than this costs more than its literals.
const TOO_FAR: usize = 4096;

/// Length codes 257..285: base lengths and extra bits (RFC 1951 §3.2.5).
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Distance codes 0..29: base distances and extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order the code-length code's lengths are sent in (§3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

const END_OF_BLOCK: usize = 256;
const LIT_CODES: usize = 286;
const DIST_CODES: usize = 30;

/// The length code (0..28, for symbol 257 + code) of each match length less 3.
const LEN_CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 29 {
        let base = LEN_BASE[c] as usize - MIN_MATCH;
        let mut i = 0;
        // Code 28 (258 alone) overwrites the last entry of code 27, as RFC 1951 wants.
        while i < 1 << LEN_EXTRA[c] && base + i < 256 {
            t[base + i] = c as u8;
            i += 1;
        }
        c += 1;
    }
    t
};

/// The distance code of each distance less 1: below 256 at its own index, from 256 on
/// at `256 + (d >> 7)` (codes 16 and up start at multiples of 128), as zlib's table.
const DIST_CODE: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut c = 0;
    while c < 30 {
        let base = DIST_BASE[c] as usize - 1;
        let mut i = 0;
        while i < 1 << DIST_EXTRA[c] {
            let d = base + i;
            if d < 256 {
                t[d] = c as u8;
            } else {
                t[256 + (d >> 7)] = c as u8;
            }
            i += 1;
        }
        c += 1;
    }
    t
};

/// The length code (0..28, for symbol 257 + code) of a match of `len` bytes.
#[inline(always)]
fn len_code(len: usize) -> usize {
    usize::from(LEN_CODE[(len - MIN_MATCH) & 255])
}

/// The distance code (0..29) of a distance of `dist` bytes (1..=32768).
#[inline(always)]
fn dist_code(dist: usize) -> usize {
    let d = dist - 1;
    usize::from(if d < 256 {
        DIST_CODE[d]
    } else {
        DIST_CODE[(256 + (d >> 7)) & 511]
    })
}

/// The sizes a window of `window_bits` gets: (buffer, hash bits, symbols per block).
const fn sizes(window_bits: u8) -> (usize, u32, usize) {
    let wsize = 1usize << window_bits;
    // Two windows and the lookahead; positions are u16, so 15 bits keeps 64 KiB and,
    // as zlib, reaches back 32 KiB less the lookahead.
    let buffer = 2 * wsize + LOOKAHEAD;
    let buffer = if buffer > 1 << 16 { 1 << 16 } else { buffer };
    let hash_bits = window_bits as u32 + 1;
    let hash_bits = if hash_bits < 9 {
        9
    } else if hash_bits > 15 {
        15
    } else {
        hash_bits
    };
    let symbols = if wsize < 2048 {
        2048
    } else if wsize > 8192 {
        8192
    } else {
        wsize
    };
    (buffer, hash_bits, symbols)
}

/// Heap bytes a compressor for `window_bits` holds (all of it allocated by `new`).
pub(crate) const fn memory(window_bits: u8) -> usize {
    let (buffer, hash_bits, symbols) = sizes(window_bits);
    core::mem::size_of::<Compressor>()
        + buffer
        + 2 * (1 << window_bits)
        + 2 * (1 << hash_bits)
        + 4 * symbols
}

/// The most a compressor holds: the one for a 15-bit window.
pub(crate) const MAX_MEMORY: usize = memory(15);

/// Bits on their way to the output, least significant first (RFC 1951 §3.1.1).
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits<'_> {
    /// Appends the low `n` bits of `value` (`n` at most 32).
    fn put(&mut self, value: u32, n: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += n;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    /// Pads to a byte boundary with zero bits and writes out what is held.
    fn align(&mut self) {
        while self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n = self.n.saturating_sub(8);
        }
        self.acc = 0;
    }
}

/// Code lengths for `freq` (those with a zero count get 0), none longer than `max`
/// bits; at least two symbols get a code, so every code is complete (as zlib does for
/// inflaters that refuse a one-code tree).
fn huffman_lengths(freq: &[u32], max: u32, lens: &mut [u8]) -> [u16; 16] {
    lens.fill(0);
    // (count << 9 | symbol), sorted by count: the least frequent first. Written for
    // every symbol, kept for the used ones (no branch per symbol).
    let mut order = [0u32; LIT_CODES + 1];
    let mut n = 0;
    for (s, &f) in freq.iter().enumerate() {
        order[n] = (f << 9) | s as u32;
        n += usize::from(f > 0);
    }
    // Fewer than two used: give symbols 0 and 1 (or the used one and another) a bit.
    while n < 2 {
        let taken = if n == 1 { order[0] & 511 } else { u32::MAX };
        let s = if taken == 0 { 1 } else { 0 };
        order[n] = s;
        n += 1;
    }
    let order = &mut order[..n];
    order.sort_unstable();
    // The code lengths of the sorted weights, in place (Moffat and Katajainen's
    // algorithm, as miniz's): the least frequent first, so depths come out
    // non-increasing.
    let mut a = [0u32; LIT_CODES];
    for (w, &o) in a.iter_mut().zip(order.iter()) {
        *w = (o >> 9).max(1);
    }
    let a = &mut a[..n];
    // Phase 1: the tree, each inner node's weight then its parent's index.
    a[0] += a[1];
    let (mut root, mut leaf) = (0usize, 2usize);
    for next in 1..n - 1 {
        if leaf >= n || a[root] < a[leaf] {
            a[next] = a[root];
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] = a[leaf];
            leaf += 1;
        }
        if leaf >= n || (root < next && a[root] < a[leaf]) {
            a[next] += a[root];
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] += a[leaf];
            leaf += 1;
        }
    }
    // Phase 2: the inner nodes' depths.
    a[n - 2] = 0;
    for next in (0..n.saturating_sub(2)).rev() {
        a[next] = a[a[next] as usize] + 1;
    }
    // Phase 3: the leaves' depths, from the most frequent (the last) down.
    let (mut avail, mut used, mut depth) = (1u32, 0u32, 0u32);
    let mut root = n as isize - 2;
    let mut next = n as isize - 1;
    while avail > 0 {
        while root >= 0 && a[root as usize] == depth {
            used += 1;
            root -= 1;
        }
        while avail > used {
            a[next as usize] = depth;
            next -= 1;
            avail -= 1;
        }
        avail = 2 * used;
        depth += 1;
        used = 0;
    }
    // Count the leaves per length, the long ones folded into `max`, then make the code
    // fit again: each step takes one code of `max` bits away and splits a shorter one.
    let mut count = [0u32; 16];
    for &d in a.iter() {
        count[d.min(max) as usize] += 1;
    }
    let mut total: u32 = (1..=max).map(|l| count[l as usize] << (max - l)).sum();
    while total > 1 << max {
        count[max as usize] -= 1;
        if let Some(l) = (1..max as usize).rev().find(|&l| count[l] > 0) {
            count[l] -= 1;
            count[l + 1] += 2;
        }
        total -= 1;
    }
    // The least frequent symbols get the longest codes.
    let mut i = 0;
    let mut per_length = [0u16; 16];
    for l in (1..=max as usize).rev() {
        for _ in 0..count[l] {
            lens[(order[i] & 511) as usize] = l as u8;
            i += 1;
        }
        per_length[l] = count[l] as u16;
    }
    per_length
}

/// Canonical codes for `lens` (§3.2.2), bit-reversed for the least-significant-first
/// writer.
/// `count`: how many codes of each length (`huffman_lengths`' answer; 0 for length 0).
fn huffman_codes(lens: &[u8], count: &[u16; 16], codes: &mut [u16]) {
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    for (c, &l) in codes.iter_mut().zip(lens) {
        if l != 0 {
            *c = next[usize::from(l)].reverse_bits() >> (16 - u32::from(l));
            next[usize::from(l)] += 1;
        }
    }
}

/// The largest message [`Compressor::compress_whole`] takes: its positions, one more
/// than the byte's index (0 is "none"), are u16.
pub(crate) const WHOLE_MAX: usize = u16::MAX as usize - 1;

/// Bytes a hash covers: a string enters the chains once its 4 bytes are in. A 3-byte
/// match is found only where hashes collide, but fewer candidates share a 4-byte hash
/// than a 3-byte one: shorter chains (fewer cache misses), and on JSON the same ratio
/// or better at every window (the deflate_window bench checks it against zlib).
const HASHED: usize = 4;

/// The hash of the 4 bytes at `p` in `hash_bits` bits (`shift` = 32 - bits).
#[inline(always)]
fn hash4(buf: &[u8], p: usize, shift: u32) -> usize {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[p..p + 4]);
    (u32::from_le_bytes(b).wrapping_mul(0x9e37_79b1) >> shift) as usize
}

/// The hash chains: the most recent entry of each hash, and each entry's previous one
/// (by entry modulo the window). An entry is a position plus `off` (0 means none).
struct Chains<'a> {
    head: &'a mut [u16],
    prev: &'a mut [u16],
    mask: usize,
    shift: u32,
    off: usize,
    /// Candidates a search looks at, at most.
    max_chain: usize,
}

impl Chains<'_> {
    /// Enters the string at `p` of `buf`; returns the chain's previous head (an entry).
    #[inline(always)]
    fn insert(&mut self, buf: &[u8], p: usize) -> usize {
        let h = hash4(buf, p, self.shift);
        let e = p + self.off;
        let old = self.head[h];
        self.head[h] = e as u16;
        self.prev[e & self.mask] = old;
        usize::from(old)
    }

    /// The longest match for `cur` longer than `prev_len` (and at most `max_len`) along
    /// the chain from entry `first`, whose entries must lie above `limit`: (length,
    /// distance), or (2, 0) when there is none. zlib's `longest_match`.
    #[inline(always)]
    fn longest_match(
        &self,
        buf: &[u8],
        cur: usize,
        first: usize,
        limit: usize,
        prev_len: usize,
        max_len: usize,
    ) -> (usize, usize) {
        let nice = NICE_LENGTH.min(max_len);
        let mut chain = if prev_len >= GOOD_LENGTH {
            self.max_chain / 4
        } else {
            self.max_chain
        };
        let (mut best, mut best_dist) = (prev_len, 0);
        let mut e = first;
        loop {
            if best >= max_len {
                break;
            }
            let cand = e - self.off;
            if buf[cand + best] == buf[cur + best] && buf[cand] == buf[cur] {
                let len = common(buf, cand, cur, max_len);
                if len > best {
                    best = len;
                    best_dist = cur - cand;
                    if len >= nice {
                        break;
                    }
                }
            }
            e = usize::from(self.prev[e & self.mask]);
            chain -= 1;
            if e <= limit || chain == 0 {
                break;
            }
        }
        if best_dist == 0 {
            (MIN_MATCH - 1, 0)
        } else {
            (best, best_dist)
        }
    }
}

/// Records a literal in the block's symbols.
#[inline(always)]
fn record_literal(syms: &mut Vec<u32>, lit_freq: &mut [u32; LIT_CODES], byte: u8) {
    syms.push(u32::from(byte));
    lit_freq[usize::from(byte)] += 1;
}

/// Records a match in the block's symbols.
#[inline(always)]
fn record_match(
    syms: &mut Vec<u32>,
    lit_freq: &mut [u32; LIT_CODES],
    dist_freq: &mut [u32; DIST_CODES],
    len: usize,
    dist: usize,
) {
    debug_assert!((1..=32768).contains(&dist) && (MIN_MATCH..=MAX_MATCH).contains(&len));
    syms.push((len - MIN_MATCH) as u32 | (dist as u32) << 8);
    lit_freq[257 + len_code(len)] += 1;
    dist_freq[dist_code(dist)] += 1;
}

/// The sync flush's empty stored block, after its 3 header bits and the padding.
const TAIL_BYTES: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A compressor for one window size.
pub(crate) struct Compressor {
    window_bits: u8,
    wsize: usize,
    /// The farthest a match reaches back: the window, or at 15 bits (whose buffer is
    /// 64 KiB, positions being u16) the window less the lookahead, as zlib's. Every
    /// candidate that near survives a slide, so without context takeover a message's
    /// bytes depend only on the message and the window, not on what came before.
    max_dist: usize,
    /// Two windows of input and the lookahead; slid down by a window when full.
    buf: Vec<u8>,
    /// Bytes of `buf` filled.
    end: usize,
    /// The next position to encode.
    pos: usize,
    /// The first position not yet in the hash chains (a string needs 4 bytes).
    ins: usize,
    /// No match may start before this position: where the message began when no context
    /// is kept, else 1 (position 0 means "none" in the chains).
    floor: usize,
    /// `compress_whole` used the chains for its own entries: the stream starts afresh.
    restart: bool,
    /// The most recent position of each 4-byte hash.
    head: Vec<u16>,
    /// The previous position with the same hash, by position modulo the window.
    prev: Vec<u16>,
    hash_bits: u32,
    /// The block's symbols: a literal byte, or (length - 3) | distance << 8.
    syms: Vec<u32>,
    sym_limit: usize,
    lit_freq: [u32; LIT_CODES],
    dist_freq: [u32; DIST_CODES],
}

impl Compressor {
    /// A compressor whose distances stay within `2^window_bits` bytes (8-15).
    pub(crate) fn new(window_bits: u8) -> Self {
        let window_bits = window_bits.clamp(8, 15);
        let (buffer, hash_bits, symbols) = sizes(window_bits);
        let wsize = 1 << window_bits;
        Compressor {
            window_bits,
            wsize,
            max_dist: wsize.min(buffer - LOOKAHEAD - wsize),
            buf: vec![0; buffer],
            end: 1,
            pos: 1,
            ins: 1,
            floor: 1,
            restart: false,
            head: vec![0; 1 << hash_bits],
            prev: vec![0; wsize],
            hash_bits,
            syms: Vec::with_capacity(symbols),
            sym_limit: symbols,
            lit_freq: [0; LIT_CODES],
            dist_freq: [0; DIST_CODES],
        }
    }

    /// The window this compressor keeps to.
    pub(crate) fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// The next input starts a new stream: nothing before it is referred to. The hash
    /// chains are not cleared (the floor makes what they hold unreachable).
    pub(crate) fn forget(&mut self) {
        self.floor = self.pos;
        self.ins = self.pos;
    }

    /// Compresses a whole message that refers to nothing before it, and leaves nothing
    /// for the next (no context takeover), onto `out`, ending as [`compress`] does with
    /// a sync flush: one pass over `data` itself (at most [`WHOLE_MAX`] bytes), not
    /// copied into the window's buffer. Its hash chains use the part of the table the
    /// message needs (a table of at least as many entries as bytes, cleared first), so
    /// a short message clears and touches a few KiB, not the whole table. The same
    /// matcher as the stream's (lazy matching), every distance below the
    /// window.
    ///
    /// [`compress`]: Compressor::compress
    pub(crate) fn compress_whole(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let n = data.len();
        debug_assert!(n <= WHOLE_MAX);
        self.restart = true;
        let mut table_bits = self.hash_bits;
        while table_bits > 8 && 1usize << (table_bits - 1) >= 2 * n {
            table_bits -= 1;
        }
        let head = &mut self.head[..1 << table_bits];
        head.fill(0);
        let mut chains = Chains {
            head,
            prev: &mut self.prev,
            mask: self.wsize - 1,
            shift: 32 - table_bits,
            off: 1,
            max_chain: MAX_CHAIN,
        };
        // The window less one: the entry a window back shares its `prev` slot with the
        // current one, already overwritten.
        let max_dist = self.wsize - 1;
        let mut bits = Bits { out, acc: 0, n: 0 };
        let mut block_start = 0;
        let mut pending_literal = false;
        let mut prev_len = MIN_MATCH - 1;
        let mut prev_dist = 0;
        let mut cur = 0;
        while cur < n {
            let look = n - cur;
            let first = if look >= HASHED {
                chains.insert(data, cur)
            } else {
                0
            };
            // Entries above this are within the window (an entry is its position + 1).
            let limit = cur.saturating_sub(max_dist);
            let mut len = MIN_MATCH - 1;
            let mut dist = 0;
            if prev_len < MAX_LAZY && first > limit {
                (len, dist) =
                    chains.longest_match(data, cur, first, limit, prev_len, look.min(MAX_MATCH));
                if len == MIN_MATCH && dist > TOO_FAR {
                    len = MIN_MATCH - 1;
                }
            }
            if prev_len >= MIN_MATCH && len <= prev_len {
                let stop = cur - 1 + prev_len;
                record_match(
                    &mut self.syms,
                    &mut self.lit_freq,
                    &mut self.dist_freq,
                    prev_len,
                    prev_dist,
                );
                for p in cur + 1..stop.min((n + 1).saturating_sub(HASHED)) {
                    chains.insert(data, p);
                }
                cur = stop;
                pending_literal = false;
                prev_len = MIN_MATCH - 1;
                if self.syms.len() >= self.sym_limit {
                    self.flush_block(&mut bits, data, 0, block_start, stop);
                    block_start = stop as isize;
                    chains = Chains {
                        head: &mut self.head[..1 << table_bits],
                        prev: &mut self.prev,
                        mask: self.wsize - 1,
                        shift: 32 - table_bits,
                        off: 1,
                        max_chain: MAX_CHAIN,
                    };
                }
            } else {
                if pending_literal {
                    record_literal(&mut self.syms, &mut self.lit_freq, data[cur - 1]);
                    if self.syms.len() >= self.sym_limit {
                        self.flush_block(&mut bits, data, 0, block_start, cur);
                        block_start = cur as isize;
                        chains = Chains {
                            head: &mut self.head[..1 << table_bits],
                            prev: &mut self.prev,
                            mask: self.wsize - 1,
                            shift: 32 - table_bits,
                            off: 1,
                            max_chain: MAX_CHAIN,
                        };
                    }
                }
                pending_literal = true;
                prev_len = len;
                prev_dist = dist;
                cur += 1;
            }
        }
        if pending_literal {
            record_literal(&mut self.syms, &mut self.lit_freq, data[cur - 1]);
        }
        if !self.syms.is_empty() {
            self.flush_block(&mut bits, data, 0, block_start, n);
        }
        bits.put(0, 3);
        bits.align();
        bits.out.extend_from_slice(&TAIL_BYTES);
    }

    /// Compresses `data` onto `out` and ends with a sync flush (all of `data` is in the
    /// output, byte-aligned, followed by an empty stored block: `00 00 ff ff`).
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.restart {
            // `compress_whole` filled the chains with its own entries.
            self.head.fill(0);
            self.end = 1;
            self.pos = 1;
            self.ins = 1;
            self.floor = 1;
            self.restart = false;
        }
        let mut bits = Bits { out, acc: 0, n: 0 };
        let mut rest = data;
        // Where `data[0]` is (or was) in the buffer, and where the current block began.
        let mut base = self.end as isize;
        let mut block_start = self.end as isize;
        let mut pending_literal = false;
        let mut prev_len = MIN_MATCH - 1;
        let mut prev_dist = 0;
        let shift = 32 - self.hash_bits;
        let mask = self.wsize - 1;
        self.fill(&mut rest);
        // Strings left uninserted by the previous call now have their 4 bytes.
        while self.ins < self.pos && self.ins + HASHED <= self.end {
            let p = self.ins;
            let Compressor {
                buf, head, prev, ..
            } = self;
            Chains {
                head,
                prev,
                mask,
                shift,
                off: 0,
                max_chain: STREAM_CHAIN,
            }
            .insert(buf, p);
            self.ins = p + 1;
        }
        loop {
            if self.end - self.pos < LOOKAHEAD && !rest.is_empty() {
                if self.pos + LOOKAHEAD > self.buf.len() {
                    self.slide();
                    base -= self.wsize as isize;
                    block_start -= self.wsize as isize;
                }
                self.fill(&mut rest);
            }
            let look = self.end - self.pos;
            if look == 0 {
                break;
            }
            let cur = self.pos;
            let limit = self.limit(cur);
            let end = self.end;
            let Compressor {
                buf, head, prev, ..
            } = self;
            let mut chains = Chains {
                head,
                prev,
                mask,
                shift,
                off: 0,
                max_chain: STREAM_CHAIN,
            };
            let buf = &buf[..end];
            let first = if look >= HASHED {
                self.ins = cur + 1;
                chains.insert(buf, cur)
            } else {
                0
            };
            let mut len = MIN_MATCH - 1;
            let mut dist = 0;
            if prev_len < MAX_LAZY && first > limit {
                (len, dist) =
                    chains.longest_match(buf, cur, first, limit, prev_len, look.min(MAX_MATCH));
                if len == MIN_MATCH && dist > TOO_FAR {
                    len = MIN_MATCH - 1;
                }
            }
            if prev_len >= MIN_MATCH && len <= prev_len {
                // The match found at the previous position is at least as long.
                let stop = cur - 1 + prev_len;
                let upper = stop.min((end + 1).saturating_sub(HASHED));
                for p in cur + 1..upper {
                    chains.insert(buf, p);
                }
                if upper > cur + 1 {
                    self.ins = upper;
                }
                record_match(
                    &mut self.syms,
                    &mut self.lit_freq,
                    &mut self.dist_freq,
                    prev_len,
                    prev_dist,
                );
                self.pos = stop;
                pending_literal = false;
                prev_len = MIN_MATCH - 1;
                if self.syms.len() >= self.sym_limit {
                    self.flush_block(&mut bits, data, base, block_start, stop);
                    block_start = stop as isize;
                }
            } else {
                if pending_literal {
                    record_literal(&mut self.syms, &mut self.lit_freq, self.buf[cur - 1]);
                    if self.syms.len() >= self.sym_limit {
                        self.flush_block(&mut bits, data, base, block_start, cur);
                        block_start = cur as isize;
                    }
                }
                pending_literal = true;
                prev_len = len;
                prev_dist = dist;
                self.pos = cur + 1;
            }
        }
        if pending_literal {
            record_literal(&mut self.syms, &mut self.lit_freq, self.buf[self.pos - 1]);
        }
        if !self.syms.is_empty() {
            let end = self.pos;
            self.flush_block(&mut bits, data, base, block_start, end);
        }
        // The sync flush: an empty stored block, not final.
        bits.put(0, 3);
        bits.align();
        bits.out.extend_from_slice(&TAIL_BYTES);
    }

    /// Copies as much of `rest` into the buffer as fits.
    fn fill(&mut self, rest: &mut &[u8]) {
        let n = rest.len().min(self.buf.len() - self.end);
        self.buf[self.end..self.end + n].copy_from_slice(&rest[..n]);
        self.end += n;
        *rest = &rest[n..];
    }

    /// Moves the buffer down by one window (a multiple of it, so positions keep their
    /// slot in `prev`); positions that fall off become "none".
    fn slide(&mut self) {
        let w = self.wsize;
        self.buf.copy_within(w..self.end, 0);
        self.end -= w;
        self.pos -= w;
        self.ins -= w;
        self.floor = self.floor.saturating_sub(w).max(1);
        let w = w as u16;
        // Two plain loops (not one over both chained), which the compiler vectorizes.
        for v in self.head.iter_mut() {
            *v = v.saturating_sub(w);
        }
        for v in self.prev.iter_mut() {
            *v = v.saturating_sub(w);
        }
    }

    /// Candidates must lie above this: within the window and not before the floor.
    fn limit(&self, cur: usize) -> usize {
        cur.saturating_sub(self.max_dist).max(self.floor - 1)
    }

    /// Writes the block of the symbols recorded, which encode buffer positions
    /// `start..end` (`data[start - base..end - base]`), as whichever block type is
    /// smallest, and starts a new block.
    fn flush_block(
        &mut self,
        bits: &mut Bits<'_>,
        data: &[u8],
        base: isize,
        start: isize,
        end: usize,
    ) {
        self.lit_freq[END_OF_BLOCK] = 1;
        let mut lit_len = [0u8; LIT_CODES];
        let mut dist_len = [0u8; DIST_CODES];
        let lit_count = huffman_lengths(&self.lit_freq, 15, &mut lit_len);
        let dist_count = huffman_lengths(&self.dist_freq, 15, &mut dist_len);
        let hlit = 257
            + lit_len[257..]
                .iter()
                .rposition(|&l| l != 0)
                .map_or(0, |i| i + 1);
        let hdist = 1 + dist_len.iter().rposition(|&l| l != 0).unwrap_or(0);

        // The code lengths, run-length coded (§3.2.7): (symbol, extra bits value).
        let mut all = [0u8; LIT_CODES + DIST_CODES];
        all[..hlit].copy_from_slice(&lit_len[..hlit]);
        all[hlit..hlit + hdist].copy_from_slice(&dist_len[..hdist]);
        let mut runs = [(0u8, 0u8); LIT_CODES + DIST_CODES];
        let n_runs = run_lengths(&all[..hlit + hdist], &mut runs);
        let runs = &runs[..n_runs];
        let mut cl_freq = [0u32; 19];
        for &(s, _) in runs {
            cl_freq[usize::from(s)] += 1;
        }
        let mut cl_len = [0u8; 19];
        let cl_count = huffman_lengths(&cl_freq, 7, &mut cl_len);
        let hclen = 4.max(1 + CL_ORDER.iter().rposition(|&s| cl_len[s] != 0).unwrap_or(0));

        // Sizes in bits of the three ways to send the block (u32: a block holds at most
        // 8,192 symbols, each under 64 bits).
        let mut dynamic = 0u32;
        let mut fixed = 0u32;
        for ((&f, &l), &x) in self.lit_freq.iter().zip(&lit_len).zip(&FIXED_LIT_LEN) {
            dynamic += f * u32::from(l);
            fixed += f * u32::from(x);
        }
        for (&f, &l) in self.dist_freq.iter().zip(&dist_len) {
            dynamic += f * u32::from(l);
            fixed += f * 5;
        }
        let mut extra = 0u32;
        for (&f, &x) in self.lit_freq[257..].iter().zip(&LEN_EXTRA) {
            extra += f * u32::from(x);
        }
        for (&f, &x) in self.dist_freq.iter().zip(&DIST_EXTRA) {
            extra += f * u32::from(x);
        }
        let mut header = 14 + 3 * hclen as u32;
        for (s, (&f, &l)) in cl_freq.iter().zip(&cl_len).enumerate() {
            header += f * (u32::from(l) + [0, 2, 3, 7][s.saturating_sub(15)]);
        }
        let dynamic = u64::from(3 + header + dynamic + extra);
        let fixed = u64::from(3 + fixed + extra);
        let raw = &data[(start - base) as usize..(end as isize - base) as usize];
        let chunks = raw.len().div_ceil(0xffff).max(1) as u64;
        let stored = chunks * (3 + 7 + 32) + 8 * raw.len() as u64;

        if stored < dynamic.min(fixed) {
            let mut chunks = raw.chunks(0xffff);
            for chunk in &mut chunks {
                bits.put(0, 3);
                bits.align();
                let len = chunk.len() as u16;
                bits.out.extend_from_slice(&len.to_le_bytes());
                bits.out.extend_from_slice(&(!len).to_le_bytes());
                bits.out.extend_from_slice(chunk);
            }
        } else if fixed <= dynamic {
            bits.put(0b010, 3);
            self.write_symbols(
                bits,
                &FIXED_LIT_LEN,
                &FIXED_LIT_CODE,
                &FIXED_DIST_LEN,
                &FIXED_DIST_CODE,
            );
        } else {
            bits.put(0b100, 3);
            bits.put((hlit - 257) as u32, 5);
            bits.put((hdist - 1) as u32, 5);
            bits.put((hclen - 4) as u32, 4);
            for &s in &CL_ORDER[..hclen] {
                bits.put(u32::from(cl_len[s]), 3);
            }
            let mut cl_code = [0u16; 19];
            huffman_codes(&cl_len, &cl_count, &mut cl_code);
            for &(s, x) in runs {
                let s = usize::from(s);
                bits.put(u32::from(cl_code[s]), u32::from(cl_len[s]));
                match s {
                    16 => bits.put(u32::from(x), 2),
                    17 => bits.put(u32::from(x), 3),
                    18 => bits.put(u32::from(x), 7),
                    _ => {}
                }
            }
            let mut lit_code = [0u16; LIT_CODES];
            let mut dist_code = [0u16; DIST_CODES];
            huffman_codes(&lit_len, &lit_count, &mut lit_code);
            huffman_codes(&dist_len, &dist_count, &mut dist_code);
            self.write_symbols(bits, &lit_len, &lit_code, &dist_len, &dist_code);
        }
        self.syms.clear();
        self.lit_freq = [0; LIT_CODES];
        self.dist_freq = [0; DIST_CODES];
    }

    /// The block's symbols and its end, in the codes given: a literal in one write, a
    /// match in two (the length's code and extra bits, the distance's).
    fn write_symbols(
        &self,
        bits: &mut Bits<'_>,
        lit_len: &[u8],
        lit_code: &[u16],
        dist_len: &[u8],
        dist_code_: &[u16],
    ) {
        let (lit_len, lit_code) = (&lit_len[..LIT_CODES], &lit_code[..LIT_CODES]);
        let (dist_len, dist_code_) = (&dist_len[..DIST_CODES], &dist_code_[..DIST_CODES]);
        for &sym in &self.syms {
            let dist = (sym >> 8) as usize;
            if dist == 0 {
                let c = (sym & 0xff) as usize;
                bits.put(u32::from(lit_code[c]), u32::from(lit_len[c]));
            } else {
                let l = (sym & 0xff) as usize;
                let lc = usize::from(LEN_CODE[l]);
                let n = u32::from(lit_len[257 + lc]);
                bits.put(
                    u32::from(lit_code[257 + lc])
                        | ((l + MIN_MATCH - usize::from(LEN_BASE[lc])) as u32) << n,
                    n + u32::from(LEN_EXTRA[lc]),
                );
                let dc = dist_code(dist);
                let n = u32::from(dist_len[dc]);
                bits.put(
                    u32::from(dist_code_[dc]) | ((dist - usize::from(DIST_BASE[dc])) as u32) << n,
                    n + u32::from(DIST_EXTRA[dc]),
                );
            }
        }
        bits.put(
            u32::from(lit_code[END_OF_BLOCK]),
            u32::from(lit_len[END_OF_BLOCK]),
        );
    }
}

/// The fixed Huffman code's lengths (§3.2.6).
const FIXED_LIT_LEN: [u8; 288] = {
    let mut lit = [8u8; 288];
    let mut i = 144;
    while i < 280 {
        lit[i] = if i < 256 { 9 } else { 7 };
        i += 1;
    }
    lit
};
const FIXED_DIST_LEN: [u8; DIST_CODES] = [5; DIST_CODES];
/// The fixed code's codes, bit-reversed (`huffman_codes` of the lengths above).
const FIXED_LIT_CODE: [u16; 288] = canonical(&FIXED_LIT_LEN);
const FIXED_DIST_CODE: [u16; DIST_CODES] = canonical(&FIXED_DIST_LEN);

/// [`huffman_codes`] at compile time, for the fixed code.
const fn canonical<const N: usize>(lens: &[u8; N]) -> [u16; N] {
    let mut count = [0u16; 16];
    let mut i = 0;
    while i < N {
        count[lens[i] as usize] += 1;
        i += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    let mut bits = 1;
    while bits < 16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
        bits += 1;
    }
    let mut codes = [0u16; N];
    let mut i = 0;
    while i < N {
        let l = lens[i] as usize;
        if l != 0 {
            codes[i] = next[l].reverse_bits() >> (16 - l);
            next[l] += 1;
        }
        i += 1;
    }
    codes
}

/// Run-length codes `lens` with symbols 16 (repeat the previous 3-6 times), 17 (3-10
/// zeros) and 18 (11-138 zeros); returns how many (symbol, extra) pairs were written.
fn run_lengths(lens: &[u8], runs: &mut [(u8, u8)]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < lens.len() {
        let v = lens[i];
        let mut j = i + 1;
        while j < lens.len() && lens[j] == v {
            j += 1;
        }
        let mut run = j - i;
        i = j;
        if v == 0 {
            while run >= 11 {
                let r = run.min(138);
                runs[n] = (18, (r - 11) as u8);
                n += 1;
                run -= r;
            }
            if run >= 3 {
                runs[n] = (17, (run - 3) as u8);
                n += 1;
                run = 0;
            }
        } else {
            runs[n] = (v, 0);
            n += 1;
            run -= 1;
            while run >= 3 {
                let r = run.min(6);
                runs[n] = (16, (r - 3) as u8);
                n += 1;
                run -= r;
            }
        }
        for _ in 0..run {
            runs[n] = (v, 0);
            n += 1;
        }
    }
    n
}

/// How many bytes at `a` and `b` agree, up to `max`.
fn common(buf: &[u8], a: usize, b: usize, max: usize) -> usize {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let mut n = 0;
    while n + 8 <= max {
        let x = word(a + n) ^ word(b + n);
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && buf[a + n] == buf[b + n] {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_rfc_tables() {
        for len in MIN_MATCH..=MAX_MATCH {
            let c = len_code(len);
            assert!(usize::from(LEN_BASE[c]) <= len);
            assert!(len - usize::from(LEN_BASE[c]) < 1 << LEN_EXTRA[c]);
        }
        assert_eq!(len_code(258), 28);
        assert_eq!(len_code(257), 27);
        for dist in 1..=32768 {
            let c = dist_code(dist);
            assert!(usize::from(DIST_BASE[c]) <= dist);
            assert!(dist - usize::from(DIST_BASE[c]) < 1 << DIST_EXTRA[c]);
        }
    }

    /// The const tables are what the functions and RFC 1951's tables give.
    #[test]
    fn const_tables_match_the_functions() {
        let mut lit = [0u16; 288];
        let mut count = [0u16; 16];
        for &l in &FIXED_LIT_LEN {
            count[usize::from(l)] += 1;
        }
        huffman_codes(&FIXED_LIT_LEN, &count, &mut lit);
        assert_eq!(lit, FIXED_LIT_CODE);
        // RFC 1951 §3.2.6: literal 0 is 00110000, 144 is 110010000, 256 is 0000000.
        assert_eq!(FIXED_LIT_CODE[0], 0b0011_0000u16.reverse_bits() >> 8);
        assert_eq!(FIXED_LIT_CODE[144], 0b1_1001_0000u16.reverse_bits() >> 7);
        assert_eq!(FIXED_LIT_CODE[256], 0);
        for len in MIN_MATCH..=MAX_MATCH {
            let c = len_code(len);
            let next = LEN_BASE.get(c + 1).map_or(259, |&b| usize::from(b));
            assert!(usize::from(LEN_BASE[c]) <= len && (len < next || len == 258));
        }
        for dist in 1..=32768 {
            let c = dist_code(dist);
            let next = DIST_BASE.get(c + 1).map_or(32769, |&b| usize::from(b));
            assert!(usize::from(DIST_BASE[c]) <= dist && dist < next, "{dist}");
        }
    }

    /// Kraft's sum of the lengths is exactly 1 and none passes the limit.
    #[test]
    fn huffman_lengths_are_complete_and_limited() {
        let mut seed = 7u64;
        for round in 0..500 {
            let mut freq = [0u32; LIT_CODES];
            let used = 1 + round % LIT_CODES;
            for f in freq.iter_mut().take(used) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Skewed counts (some huge, many 1) push lengths past the limit.
                *f = if seed % 3 == 0 {
                    (seed % 16) as u32
                } else {
                    1 << (seed % 20)
                };
            }
            for max in [7, 15] {
                let mut lens = [0u8; LIT_CODES];
                huffman_lengths(
                    &freq[..if max == 7 { 19 } else { LIT_CODES }],
                    max,
                    &mut lens,
                );
                let kraft: u64 = lens
                    .iter()
                    .filter(|&&l| l > 0)
                    .map(|&l| 1u64 << (15 - l))
                    .sum();
                assert_eq!(kraft, 1 << 15, "round {round} max {max}");
                assert!(lens.iter().all(|&l| u32::from(l) <= max));
                let freq_used = freq.iter().take(if max == 7 { 19 } else { LIT_CODES });
                for (&f, &l) in freq_used.zip(&lens) {
                    assert!(f == 0 || l > 0);
                }
            }
        }
    }

    /// Without context takeover a message compresses to the same bytes whatever the
    /// compressor did before (a fresh one, or one that slid its buffer many times):
    /// what lets one compressed form of a prepared message serve every connection. The
    /// message: JSON, and a random block repeated at a period just under 2^w, whose
    /// matches reach as far back as the window allows.
    #[test]
    fn a_message_alone_compresses_the_same_after_any_history() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect()
        };
        for bits in 8..=15u8 {
            let mut text: Vec<u8> = (0..3000u32)
                .flat_map(|n| {
                    alloc::format!("{{\"n\":{},\"k\":\"v{}\"}},", n % 977, n % 13).into_bytes()
                })
                .collect();
            text.extend(random((1 << bits) - 100).repeat(4));
            let mut fresh = Compressor::new(bits);
            let mut alone = Vec::new();
            fresh.compress(&text, &mut alone);
            let mut used = Compressor::new(bits);
            for skip in [1usize, 777, 30_000, 5, 65_000, 12_345] {
                let mut out = Vec::new();
                used.compress(&text[..skip.min(text.len())], &mut out);
                used.forget();
                out.clear();
                used.compress(&text, &mut out);
                used.forget();
                assert!(out == alone, "window {bits}, after {skip} B");
            }
        }
    }

    #[test]
    fn run_lengths_expand_back() {
        let lens: Vec<u8> = [0u8; 140]
            .iter()
            .chain(&[5; 9])
            .chain(&[0; 2])
            .chain(&[3; 3])
            .chain(&[0; 12])
            .chain(&[7])
            .copied()
            .collect();
        let mut runs = [(0u8, 0u8); 400];
        let n = run_lengths(&lens, &mut runs);
        let mut back = Vec::new();
        for &(s, x) in &runs[..n] {
            match s {
                16 => {
                    let last = *back.last().unwrap();
                    back.extend(core::iter::repeat_n(last, 3 + usize::from(x)));
                }
                17 => back.extend(core::iter::repeat_n(0, 3 + usize::from(x))),
                18 => back.extend(core::iter::repeat_n(0, 11 + usize::from(x))),
                l => back.push(l),
            }
        }
        assert_eq!(back, lens);
    }
}
