//! Client-to-server masking ([RFC 6455 §5.3](https://www.rfc-editor.org/rfc/rfc6455#section-5.3)).
//!
//! "Octet i of the transformed data is the XOR of octet i of the original data with
//! octet at index i modulo 4 of the masking key." Masking and unmasking are the same
//! operation.

use alloc::vec::Vec;

/// XORs `buf` in place with `key`, as if `buf` started at byte `offset` of a payload.
///
/// Correct at any offset and length; fast without `unsafe`: the bulk is processed eight
/// bytes at a time through `u64` words, which the compiler vectorises.
///
/// ```
/// use wisp_codec::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut buf = *b"Hello";
/// apply_mask(&mut buf, key, 0);
/// assert_eq!(buf, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// // Unmasking in two pieces, the second starting at offset 3:
/// let (a, b) = buf.split_at_mut(3);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 3);
/// assert_eq!(&buf, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // The key as it lines up with `buf[0]`, repeated over a word. Little-endian on every
    // target: byte i of `k8.to_le_bytes()` is `key[(offset + i) % 4]`.
    let k4 = u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32);
    let k8 = u64::from(k4) | (u64::from(k4) << 32);
    if buf.len() >= 64 {
        // Out of line: the bulk loop is big, and small frames (the common case) should not
        // pay for a call.
        return mask_bulk(buf, k8);
    }
    mask_words(buf, k8);
}

/// Eight bytes at a time, then the tail.
#[inline(always)]
fn mask_words(buf: &mut [u8], k8: u64) {
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        xor_word(word, k8);
    }
    let key = k8.to_le_bytes();
    for (b, k) in words.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

#[inline(always)]
fn xor_word(word: &mut [u8], k8: u64) {
    let w = u64::from_le_bytes([
        word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
    ]) ^ k8;
    word.copy_from_slice(&w.to_le_bytes());
}

/// 64-byte blocks of eight words (the compiler vectorises them), then [`mask_words`].
#[inline(never)]
fn mask_bulk(buf: &mut [u8], k8: u64) {
    let mut blocks = buf.chunks_exact_mut(64);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            xor_word(word, k8);
        }
    }
    mask_words(blocks.into_remainder(), k8);
}

/// Appends `src` to `dst` XORed with `key`, as if `src` started at byte `offset` of a
/// payload: [`apply_mask`] and a copy in one pass over the bytes, not two (a large
/// payload is read once, where unmasking in place and then copying read it twice).
///
/// Without `unsafe` a `Vec`'s spare capacity cannot be written directly, so each piece is
/// unmasked into a small buffer on the stack (which stays in the L1 cache) and appended
/// from there.
///
/// ```
/// # use wisp_codec::internals::extend_unmasked;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut out = b"He".to_vec();
/// extend_unmasked(&mut out, &[0x4d, 0x51, 0x58], key, 2); // RFC 6455 §5.7, from byte 2
/// assert_eq!(out, b"Hello");
/// ```
#[inline(never)]
pub fn extend_unmasked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    const PIECE: usize = 1024;
    let k4 = u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32);
    let k8 = u64::from(k4) | (u64::from(k4) << 32);
    let mut buf = [0u8; PIECE];
    dst.reserve(src.len());
    // Every piece but the last is a multiple of 8 bytes long, so each starts on the same
    // key byte as `src` does and `k8` lines up with all of them.
    for piece in src.chunks(PIECE) {
        let out = &mut buf[..piece.len()];
        let mut outs = out.chunks_exact_mut(8);
        let mut ins = piece.chunks_exact(8);
        for (o, i) in (&mut outs).zip(&mut ins) {
            let w = u64::from_le_bytes([i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7]]) ^ k8;
            o.copy_from_slice(&w.to_le_bytes());
        }
        let key = k8.to_le_bytes();
        for ((o, i), k) in outs
            .into_remainder()
            .iter_mut()
            .zip(ins.remainder())
            .zip(key)
        {
            *o = i ^ k;
        }
        dst.extend_from_slice(out);
    }
}

/// The reference implementation: one byte at a time, exactly as §5.3 words it. Used by
/// tests and benchmarks as the model the fast path must equal.
///
/// ```
/// let mut a = *b"abcdefghij";
/// let mut b = a;
/// wisp_codec::internals::apply_mask_naive(&mut a, [1, 2, 3, 4], 2);
/// wisp_codec::apply_mask(&mut b, [1, 2, 3, 4], 2);
/// assert_eq!(a, b);
/// ```
pub fn apply_mask_naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}
