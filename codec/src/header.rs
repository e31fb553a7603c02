//! Frame headers ([RFC 6455 §5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2)).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```

use alloc::vec::Vec;

use crate::mask::apply_mask;
use crate::opcode::OpCode;

/// The longest header: 2 bytes + 8 bytes of 64-bit length + 4 bytes of masking key.
///
/// ```
/// use wisp_codec::{FrameHeader, OpCode, MAX_HEADER_LEN};
/// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some([0; 4]), payload_len: 1 << 20 };
/// assert_eq!(h.encoded_len(), MAX_HEADER_LEN);
/// ```
pub const MAX_HEADER_LEN: usize = 14;

/// The fixed part of a frame, everything before the payload data. Decoding one, with
/// every check a receiver makes, is the decoder's job; this type is the plain value.
///
/// `rsv` holds RSV1, RSV2, RSV3 as bits 2, 1, 0 (so RSV1 alone is `0b100`).
///
/// ```
/// use wisp_codec::{FrameHeader, OpCode};
/// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
/// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 5 };
/// let mut out = [0; 14];
/// let n = h.encode(&mut out);
/// assert_eq!(&out[..n], &[0x81, 0x05]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1-3 as a 3-bit number (RSV1 is the most significant).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present when the MASK bit is 1.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The number of bytes [`FrameHeader::encode`] writes: 2 to 14.
    ///
    /// ```
    /// use wisp_codec::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some([0; 4]), payload_len: 256 };
    /// assert_eq!(h.encoded_len(), 2 + 2 + 4);
    /// ```
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Encodes the header into `out` with the minimal length form (§5.2: "the minimal
    /// number of bytes MUST be used to encode the length") and returns its length.
    ///
    /// ```
    /// use wisp_codec::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 65536 };
    /// let mut out = [0; 14];
    /// let n = h.encode(&mut out);
    /// assert_eq!(&out[..n], &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]); // §5.7
    /// ```
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = self.first_byte();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }

    /// The header's first byte: FIN, RSV1-3 and the opcode (§5.2).
    #[inline(always)]
    fn first_byte(&self) -> u8 {
        (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.as_u8()
    }

    /// Appends the encoded header to `out`.
    ///
    /// ```
    /// use wisp_codec::{FrameHeader, OpCode};
    /// let mut v = Vec::new();
    /// FrameHeader { fin: true, rsv: 0, opcode: OpCode::Ping, mask: None, payload_len: 5 }.encode_to_vec(&mut v);
    /// assert_eq!(v, [0x89, 0x05]);
    /// ```
    pub fn encode_to_vec(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = self.encode(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }
}

/// Appends one whole frame to `out`: the header for `payload` (its length in the minimal
/// form), then the payload, masked with `mask` when one is given (§5.3). Returns the
/// header it wrote. The one frame encoder: [`Connection`](crate::Connection), the
/// server's `/chat` writer and the wasm API all call it.
///
/// ```
/// use wisp_codec::{encode_frame, OpCode};
/// let mut out = Vec::new();
/// encode_frame(&mut out, true, 0, OpCode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello");
/// assert_eq!(out, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]); // §5.7
/// ```
#[inline]
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> FrameHeader {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    out.reserve(header.encoded_len() + payload.len());
    if mask.is_none() && payload.len() <= 125 {
        // A server's small frame, the commonest: two bytes, no buffer in between.
        out.extend_from_slice(&[header.first_byte(), payload.len() as u8]);
    } else {
        header.encode_to_vec(out);
    }
    let body = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[body..], key, 0);
    }
    header
}
