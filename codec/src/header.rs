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

use crate::error::ProtocolError;
use crate::opcode::OpCode;

/// The longest header: 2 bytes + 8 bytes of 64-bit length + 4 bytes of masking key.
///
/// ```
/// use wisp_codec::{FrameHeader, OpCode, MAX_HEADER_LEN};
/// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some([0; 4]), payload_len: 1 << 20 };
/// assert_eq!(h.encoded_len(), MAX_HEADER_LEN);
/// ```
pub const MAX_HEADER_LEN: usize = 14;

/// The fixed part of a frame, everything before the payload data.
///
/// `rsv` holds RSV1, RSV2, RSV3 as bits 2, 1, 0 (so RSV1 alone is `0b100`).
///
/// ```
/// use wisp_codec::{FrameHeader, OpCode};
/// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
/// let (h, n) = FrameHeader::decode(&[0x81, 0x05, 0x48]).unwrap().unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(h, FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 5 });
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
    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a header (nothing is consumed:
    /// call again with more bytes), `Ok(Some((header, header_len)))` when complete.
    /// Errors on a reserved opcode and on a 64-bit length with its top bit set.
    /// Lengths in a non-minimal form are accepted (§5.2 binds the sender).
    ///
    /// ```
    /// use wisp_codec::{FrameHeader, ProtocolError};
    /// assert_eq!(FrameHeader::decode(&[0x82, 0x7e, 0x01]), Ok(None)); // partial
    /// let top_bit = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
    /// assert_eq!(FrameHeader::decode(&top_bit), Err(ProtocolError::InvalidPayloadLength));
    /// ```
    #[inline]
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let (&b0, &b1) = match (buf.first(), buf.get(1)) {
            (Some(b0), Some(b1)) => (b0, b1),
            _ => return Ok(None),
        };
        let opcode = OpCode::try_from(b0 & 0x0f)?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7f;
        let len_bytes = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let need = 2 + len_bytes + if masked { 4 } else { 0 };
        if buf.len() < need {
            // Report a bad 64-bit length as soon as its first byte is known.
            if len7 == 127 && buf.len() > 2 && buf[2] & 0x80 != 0 {
                return Err(ProtocolError::InvalidPayloadLength);
            }
            return Ok(None);
        }
        let payload_len = match len7 {
            126 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let n = u64::from_be_bytes(b);
                if n >> 63 != 0 {
                    return Err(ProtocolError::InvalidPayloadLength);
                }
                n
            }
            n => u64::from(n),
        };
        let mask = if masked {
            let at = 2 + len_bytes;
            Some([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv: (b0 >> 4) & 0x7,
                opcode,
                mask,
                payload_len,
            },
            need,
        )))
    }

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
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.as_u8();
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
