//! The incremental frame decoder ([RFC 6455 §5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2)).
//!
//! A push parser in the style of `httparse`: hand it whatever bytes you have, it answers
//! with one event and the number of bytes it consumed. Partial input is a status
//! ([`Decoded::NeedMore`]), never an error, and consumes nothing that would need to be
//! seen again. Payload bytes are unmasked in place and handed back as they arrive, so a
//! 16 MiB frame is never buffered here and invalid text can be caught in its first bytes.

use crate::error::ProtocolError;
use crate::header::{FrameHeader, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::opcode::OpCode;
use crate::role::Role;

/// One step of decoding.
///
/// ```
/// use wisp_codec::internals::{Decoded, FrameDecoder};
/// use wisp_codec::Role;
/// let mut dec = FrameDecoder::new(Role::Client, 1024);
/// assert_eq!(dec.decode(&mut [0x82]), Ok((0, Decoded::NeedMore)));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete, validated frame header. Its payload follows as [`Decoded::Payload`].
    Header(FrameHeader),
    /// The next piece of the current frame's payload, unmasked. `last` is true on the
    /// piece that completes the frame (a frame with an empty payload yields one empty
    /// piece with `last` set).
    Payload {
        /// Unmasked payload bytes, borrowed from the input.
        data: &'a [u8],
        /// This piece ends the frame.
        last: bool,
    },
    /// The input holds no complete event: feed more bytes.
    NeedMore,
}

/// The next piece of a payload, still masked, from [`FrameDecoder::payload_piece`]: the
/// first `len` bytes of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadPiece {
    /// Bytes of input the piece takes.
    pub len: usize,
    /// This piece ends the frame.
    pub last: bool,
    /// The masking key and the offset of the piece's first byte in the payload, as
    /// [`apply_mask`] takes them (`None`: the frame is not masked).
    pub mask: Option<([u8; 4], usize)>,
}

/// A whole frame decoded in one step by [`FrameDecoder::decode_frame`]: its bytes are
/// `buf[..frame_len]`, the header as received, then the payload, unmasked in place, from
/// `header_len` on.
///
/// ```
/// use wisp_codec::internals::FrameDecoder;
/// use wisp_codec::Role;
/// let mut frame = *b"\x81\x05Hello"; // RFC 6455 §5.7
/// let whole = FrameDecoder::new(Role::Client, 1024).decode_frame(&mut frame).unwrap().unwrap();
/// assert_eq!((whole.header_len, whole.frame_len), (2, 7));
/// assert_eq!(&frame[whole.header_len..whole.frame_len], b"Hello");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeFrame {
    /// The validated header.
    pub header: FrameHeader,
    /// Bytes of the header on the wire.
    pub header_len: usize,
    /// Bytes the frame took from the input: header and payload.
    pub frame_len: usize,
}

/// What the decoder is waiting for: used by the browser stepper to show its state.
///
/// ```
/// use wisp_codec::internals::{DecoderState, FrameDecoder};
/// use wisp_codec::Role;
/// let mut dec = FrameDecoder::new(Role::Client, 1024);
/// assert_eq!(dec.state(), DecoderState::Header);
/// dec.decode(&mut [0x81, 0x05]).unwrap();
/// assert!(matches!(dec.state(), DecoderState::Payload { received: 0, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderState {
    /// Between frames or inside a header.
    Header,
    /// Inside a frame's payload.
    Payload {
        /// The header being read.
        header: FrameHeader,
        /// Payload bytes already delivered.
        received: u64,
    },
}

/// An incremental, validating frame decoder for one direction of one connection.
///
/// It checks everything that a single header can break: reserved opcodes and RSV bits,
/// fragmented or oversized control frames, the mask bit against the role of the sender,
/// and `max_frame_size` against the header's length before any payload is read. Message
/// level rules (continuations, UTF-8) belong to the reassembler.
///
/// ```
/// use wisp_codec::internals::{Decoded, FrameDecoder};
/// use wisp_codec::{OpCode, Role};
/// // A server decoding the masked "Hello" of RFC 6455 §5.7.
/// let mut frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let mut dec = FrameDecoder::new(Role::Server, 1 << 20);
/// let (n, ev) = dec.decode(&mut frame).unwrap();
/// assert!(matches!(ev, Decoded::Header(h) if h.opcode == OpCode::Text && h.payload_len == 5));
/// let (m, ev) = dec.decode(&mut frame[n..]).unwrap();
/// assert_eq!(ev, Decoded::Payload { data: b"Hello", last: true });
/// assert_eq!(n + m, 11);
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Role,
    max_frame_size: u64,
    state: DecoderState,
    /// RSV bits a negotiated extension gives a meaning (RSV1: permessage-deflate).
    rsv_allowed: u8,
}

impl FrameDecoder {
    /// A decoder for the frames that the peer of `role` sends: a [`Role::Server`]
    /// decodes masked client frames, a [`Role::Client`] unmasked server frames.
    ///
    /// ```
    /// let dec = wisp_codec::internals::FrameDecoder::new(wisp_codec::Role::Client, 1024);
    /// assert_eq!(dec.state(), wisp_codec::internals::DecoderState::Header);
    /// ```
    pub fn new(role: Role, max_frame_size: u64) -> Self {
        FrameDecoder {
            role,
            max_frame_size,
            state: DecoderState::Header,
            rsv_allowed: 0,
        }
    }

    /// Accepts RSV1 on the first frame of a data message (RFC 7692 §6: permessage-deflate
    /// was negotiated); it stays an error on control and continuation frames (1002).
    ///
    /// ```
    /// use wisp_codec::internals::FrameDecoder;
    /// use wisp_codec::{ProtocolError, Role};
    /// let mut dec = FrameDecoder::new(Role::Client, 1024);
    /// assert_eq!(dec.decode(&mut [0xc1, 0x00]), Err(ProtocolError::ReservedBits(4)));
    /// let mut dec = FrameDecoder::new(Role::Client, 1024);
    /// dec.allow_rsv1();
    /// assert!(dec.decode(&mut [0xc1, 0x00]).is_ok()); // the header
    /// assert!(dec.decode(&mut []).is_ok()); // its empty payload
    /// assert_eq!(dec.decode(&mut [0xc9, 0x00]), Err(ProtocolError::CompressedControlFrame));
    /// ```
    pub fn allow_rsv1(&mut self) {
        self.rsv_allowed = 4;
    }

    /// The role whose peer's frames this decodes.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the decoder is: between frames, or how far into a payload.
    ///
    /// ```
    /// use wisp_codec::internals::{DecoderState, FrameDecoder};
    /// use wisp_codec::Role;
    /// let mut dec = FrameDecoder::new(Role::Client, 1024);
    /// dec.decode(&mut [0x82, 0x03]).unwrap();
    /// assert!(matches!(dec.state(), DecoderState::Payload { received: 0, .. }));
    /// ```
    pub fn state(&self) -> DecoderState {
        self.state
    }

    /// Decodes the next event from `buf`, unmasking payload bytes in place, and returns
    /// it with the number of bytes consumed from the front of `buf`.
    ///
    /// After an error the decoder must not be used again: the connection is failed.
    ///
    /// ```
    /// use wisp_codec::internals::{Decoded, FrameDecoder};
    /// use wisp_codec::{ProtocolError, Role};
    /// let mut dec = FrameDecoder::new(Role::Server, 1024);
    /// // An unmasked frame sent to a server (§5.1):
    /// assert_eq!(dec.decode(&mut [0x81, 0x05]), Err(ProtocolError::UnmaskedFrame));
    /// let mut dec = FrameDecoder::new(Role::Server, 1024);
    /// assert_eq!(dec.decode(&mut [0x81]), Ok((0, Decoded::NeedMore)));
    /// ```
    pub fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<(usize, Decoded<'a>), ProtocolError> {
        match self.state {
            DecoderState::Header => {
                let Some((header, n)) = self.header(buf)? else {
                    return Ok((0, Decoded::NeedMore));
                };
                self.state = DecoderState::Payload {
                    header,
                    received: 0,
                };
                Ok((n, Decoded::Header(header)))
            }
            DecoderState::Payload { .. } => {
                let Some(piece) = self.payload_piece(buf.len()) else {
                    return Ok((0, Decoded::NeedMore));
                };
                let data = &mut buf[..piece.len];
                if let Some((key, offset)) = piece.mask {
                    apply_mask(data, key, offset);
                }
                Ok((
                    piece.len,
                    Decoded::Payload {
                        data,
                        last: piece.last,
                    },
                ))
            }
        }
    }

    /// The next piece of the current frame's payload, as [`decode`](FrameDecoder::decode)
    /// would deliver it from `available` bytes of input, but left masked: the caller
    /// unmasks it (with [`PayloadPiece::mask`]) as it copies it, in one pass. `None`
    /// between frames, or when no byte is available for a payload not yet complete.
    ///
    /// ```
    /// use wisp_codec::internals::{Decoded, FrameDecoder};
    /// use wisp_codec::Role;
    /// let mut dec = FrameDecoder::new(Role::Server, 1024);
    /// let mut frame = [0x82, 0x85, 1, 2, 3, 4, 9, 9, 9, 9, 9];
    /// assert!(matches!(dec.decode(&mut frame[..6]), Ok((6, Decoded::Header(_)))));
    /// let piece = dec.payload_piece(3).unwrap();
    /// assert_eq!((piece.len, piece.last, piece.mask), (3, false, Some(([1, 2, 3, 4], 0))));
    /// let piece = dec.payload_piece(2).unwrap();
    /// assert_eq!((piece.len, piece.last, piece.mask), (2, true, Some(([1, 2, 3, 4], 3))));
    /// assert_eq!(dec.payload_piece(5), None); // between frames
    /// ```
    #[inline]
    pub fn payload_piece(&mut self, available: usize) -> Option<PayloadPiece> {
        let DecoderState::Payload { header, received } = self.state else {
            return None;
        };
        let left = header.payload_len - received;
        if left > 0 && available == 0 {
            return None;
        }
        let len = usize::try_from(left).map_or(available, |l| l.min(available));
        let now = received + len as u64;
        let last = now == header.payload_len;
        self.state = if last {
            DecoderState::Header
        } else {
            DecoderState::Payload {
                header,
                received: now,
            }
        };
        Some(PayloadPiece {
            len,
            last,
            mask: header.mask.map(|key| (key, (received % 4) as usize)),
        })
    }

    /// Decodes a whole frame in one step when `buf` holds all of it, between frames: the
    /// fast path for the common case of a small frame that arrived in one read.
    ///
    /// Reads the header exactly as [`decode`](FrameDecoder::decode) does (the same
    /// checks, the same errors) and unmasks the payload in place. `Ok(None)` when the
    /// frame is not complete in `buf` or a frame is already in progress: nothing is
    /// consumed and the decoder is unchanged, so call `decode` instead.
    ///
    /// ```
    /// use wisp_codec::internals::FrameDecoder;
    /// use wisp_codec::{OpCode, Role};
    /// let mut frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let mut dec = FrameDecoder::new(Role::Server, 1 << 20);
    /// assert_eq!(dec.decode_frame(&mut frame[..10]), Ok(None)); // one byte short
    /// let whole = dec.decode_frame(&mut frame).unwrap().unwrap();
    /// assert_eq!((whole.header.opcode, whole.frame_len), (OpCode::Text, 11));
    /// assert_eq!(&frame[whole.header_len..], b"Hello");
    /// ```
    #[inline]
    pub fn decode_frame(&mut self, buf: &mut [u8]) -> Result<Option<WholeFrame>, ProtocolError> {
        if self.state != DecoderState::Header {
            return Ok(None);
        }
        let Some((header, header_len)) = self.header(buf)? else {
            return Ok(None);
        };
        let available = (buf.len() - header_len) as u64;
        if header.payload_len > available {
            return Ok(None);
        }
        let frame_len = header_len + header.payload_len as usize;
        if let Some(key) = header.mask {
            apply_mask(&mut buf[header_len..frame_len], key, 0);
        }
        Ok(Some(WholeFrame {
            header,
            header_len,
            frame_len,
        }))
    }

    /// The one header path of both [`decode`](FrameDecoder::decode) and
    /// [`decode_frame`](FrameDecoder::decode_frame): every check a header can fail,
    /// each as soon as the bytes that decide it are in. `Ok(None)`: not all of it yet.
    #[inline(always)]
    fn header(&self, buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let (&b0, &b1) = match (buf.first(), buf.get(1)) {
            (Some(b0), Some(b1)) => (b0, b1),
            _ => return Ok(None),
        };
        let len7 = b1 & 0x7f;
        let mask_bit = match self.role {
            Role::Server => 0x80,
            Role::Client => 0,
        };
        let (header, n) = if (b0 == 0x81 || b0 == 0x82) && b1 & 0x80 == mask_bit && len7 < 126 {
            // The commonest frame of all, read in place: FIN set, RSV bits clear, text or
            // binary, a 7-bit length, the MASK bit the role expects. Nothing in it to refuse.
            let n = if mask_bit != 0 { 6 } else { 2 };
            if buf.len() < n {
                return Ok(None);
            }
            let mask = (n == 6).then(|| [buf[2], buf[3], buf[4], buf[5]]);
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: if b0 == 0x81 {
                    OpCode::Text
                } else {
                    OpCode::Binary
                },
                mask,
                payload_len: u64::from(len7),
            };
            (header, n)
        } else {
            self.check_first_bytes(b0, b1)?;
            match decode_header(buf)? {
                Some(decoded) => decoded,
                None => return Ok(None),
            }
        };
        if header.payload_len > self.max_frame_size {
            return Err(ProtocolError::FrameTooLarge {
                len: header.payload_len,
                max: self.max_frame_size,
            });
        }
        Ok(Some((header, n)))
    }

    /// The checks that the first two bytes decide, made as soon as they arrive.
    #[inline]
    fn check_first_bytes(&self, b0: u8, b1: u8) -> Result<(), ProtocolError> {
        let rsv = (b0 >> 4) & 0x7;
        if rsv & 4 != 0 && self.rsv_allowed & 4 != 0 {
            match b0 & 0x0f {
                0 => return Err(ProtocolError::CompressedContinuation),
                op if op >= 8 => return Err(ProtocolError::CompressedControlFrame),
                _ => {}
            }
        }
        if rsv & !self.rsv_allowed != 0 {
            // §5.2: "If a nonzero value is received and none of the negotiated extensions
            // defines the meaning of such a nonzero value, the receiving endpoint MUST
            // _Fail the WebSocket Connection_."
            return Err(ProtocolError::ReservedBits(rsv));
        }
        let opcode = OpCode::try_from(b0 & 0x0f).map_err(ProtocolError::ReservedOpcode)?;
        if opcode.is_control() {
            if b0 & 0x80 == 0 {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            let len7 = b1 & 0x7f;
            if len7 > 125 {
                return Err(ProtocolError::ControlFrameTooLong(u64::from(len7)));
            }
        }
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => Err(ProtocolError::MaskedFrame),
            _ => Ok(()),
        }
    }
}

/// Decodes the header at the start of `buf` with only the checks that need no role or
/// limit: a reserved opcode, a 64-bit length with its top bit set. `Ok(None)` while
/// `buf` holds part of a header (nothing is consumed: call again with more bytes),
/// `Ok(Some((header, header_len)))` when complete. Lengths in a non-minimal form are
/// accepted (§5.2 binds the sender). [`FrameDecoder`] adds the receiver's checks.
///
/// ```
/// use wisp_codec::internals::decode_header;
/// use wisp_codec::{FrameHeader, OpCode, ProtocolError};
/// let (h, n) = decode_header(&[0x81, 0x05, 0x48]).unwrap().unwrap(); // §5.7 "Hello"
/// assert_eq!((h.opcode, h.payload_len, n), (OpCode::Text, 5, 2));
/// assert_eq!(decode_header(&[0x82, 0x7e, 0x01]), Ok(None)); // partial
/// let top_bit = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
/// assert_eq!(decode_header(&top_bit), Err(ProtocolError::InvalidPayloadLength));
/// ```
#[inline]
pub fn decode_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    let (&b0, &b1) = match (buf.first(), buf.get(1)) {
        (Some(b0), Some(b1)) => (b0, b1),
        _ => return Ok(None),
    };
    let opcode = OpCode::try_from(b0 & 0x0f).map_err(ProtocolError::ReservedOpcode)?;
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    let len_bytes = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let need = 2 + len_bytes + if masked { 4 } else { 0 };
    debug_assert!(need <= MAX_HEADER_LEN);
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
