//! The incremental frame decoder ([RFC 6455 §5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2)).
//!
//! A push parser in the style of `httparse`: hand it whatever bytes you have, it answers
//! with one event and the number of bytes it consumed. Partial input is a status
//! ([`Decoded::NeedMore`]), never an error, and consumes nothing that would need to be
//! seen again. Payload bytes are unmasked in place and handed back as they arrive, so a
//! 16 MiB frame is never buffered here and invalid text can be caught in its first bytes.

use crate::connection::Role;
use crate::error::ProtocolError;
use crate::header::FrameHeader;
use crate::mask::apply_mask;
use crate::opcode::OpCode;

/// One step of decoding.
///
/// ```
/// use wisp_codec::{Decoded, FrameDecoder, Role};
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

/// A whole frame decoded in one step by [`FrameDecoder::decode_frame`].
///
/// ```
/// use wisp_codec::{FrameDecoder, Role};
/// let mut frame = *b"\x81\x05Hello"; // RFC 6455 §5.7
/// let whole = FrameDecoder::new(Role::Client, 1024).decode_frame(&mut frame).unwrap().unwrap();
/// assert_eq!((whole.frame_len, whole.payload), (7, &b"Hello"[..]));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct WholeFrame<'a> {
    /// Bytes the frame took from the input: header and payload.
    pub frame_len: usize,
    /// The validated header.
    pub header: FrameHeader,
    /// The unmasked payload, borrowed from the input.
    pub payload: &'a [u8],
}

/// What the decoder is waiting for: used by the browser stepper to show its state.
///
/// ```
/// use wisp_codec::{DecoderState, FrameDecoder, Role};
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
/// use wisp_codec::{Decoded, FrameDecoder, OpCode, Role};
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
}

impl FrameDecoder {
    /// A decoder for the frames that the peer of `role` sends: a [`Role::Server`]
    /// decodes masked client frames, a [`Role::Client`] unmasked server frames.
    ///
    /// ```
    /// let dec = wisp_codec::FrameDecoder::new(wisp_codec::Role::Client, 1024);
    /// assert_eq!(dec.state(), wisp_codec::DecoderState::Header);
    /// ```
    pub fn new(role: Role, max_frame_size: u64) -> Self {
        FrameDecoder {
            role,
            max_frame_size,
            state: DecoderState::Header,
        }
    }

    /// Where the decoder is: between frames, or how far into a payload.
    ///
    /// ```
    /// use wisp_codec::{DecoderState, FrameDecoder, Role};
    /// let mut dec = FrameDecoder::new(Role::Client, 1024);
    /// dec.decode(&mut [0x82, 0x03]).unwrap();
    /// assert!(matches!(dec.state(), DecoderState::Payload { received: 0, .. }));
    /// ```
    pub fn state(&self) -> DecoderState {
        self.state
    }

    /// The most bytes the next call to [`decode`](FrameDecoder::decode) can consume
    /// from `available` bytes of input.
    ///
    /// ```
    /// let dec = wisp_codec::FrameDecoder::new(wisp_codec::Role::Client, 1024);
    /// assert_eq!(dec.max_consume(100), 14);
    /// ```
    pub fn max_consume(&self, available: usize) -> usize {
        match self.state {
            DecoderState::Header => available.min(crate::header::MAX_HEADER_LEN),
            DecoderState::Payload { header, received } => {
                let left = header.payload_len - received;
                usize::try_from(left).map_or(available, |l| l.min(available))
            }
        }
    }

    /// Decodes the next event from `buf`, unmasking payload bytes in place, and returns
    /// it with the number of bytes consumed from the front of `buf`.
    ///
    /// After an error the decoder must not be used again: the connection is failed.
    ///
    /// ```
    /// use wisp_codec::{Decoded, FrameDecoder, ProtocolError, Role};
    /// let mut dec = FrameDecoder::new(Role::Server, 1024);
    /// // An unmasked frame sent to a server (§5.1):
    /// assert_eq!(dec.decode(&mut [0x81, 0x05]), Err(ProtocolError::UnmaskedFrame));
    /// let mut dec = FrameDecoder::new(Role::Server, 1024);
    /// assert_eq!(dec.decode(&mut [0x81]), Ok((0, Decoded::NeedMore)));
    /// ```
    pub fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<(usize, Decoded<'a>), ProtocolError> {
        match self.state {
            DecoderState::Header => {
                if buf.len() >= 2 {
                    self.check_first_bytes(buf[0], buf[1])?;
                }
                let Some((header, n)) = FrameHeader::decode(buf)? else {
                    return Ok((0, Decoded::NeedMore));
                };
                if header.payload_len > self.max_frame_size {
                    return Err(ProtocolError::FrameTooLarge {
                        len: header.payload_len,
                        max: self.max_frame_size,
                    });
                }
                self.state = DecoderState::Payload {
                    header,
                    received: 0,
                };
                Ok((n, Decoded::Header(header)))
            }
            DecoderState::Payload { header, received } => {
                let left = header.payload_len - received;
                if left > 0 && buf.is_empty() {
                    return Ok((0, Decoded::NeedMore));
                }
                let take = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
                let data = &mut buf[..take];
                if let Some(key) = header.mask {
                    // `received % 4` is all the offset the mask needs.
                    apply_mask(data, key, (received % 4) as usize);
                }
                let received = received + take as u64;
                let last = received == header.payload_len;
                self.state = if last {
                    DecoderState::Header
                } else {
                    DecoderState::Payload { header, received }
                };
                Ok((take, Decoded::Payload { data, last }))
            }
        }
    }

    /// Decodes a whole frame in one step when `buf` holds all of it, between frames: the
    /// fast path for the common case of a small frame that arrived in one read.
    ///
    /// Returns the frame's header, its unmasked payload (borrowed from `buf`) and the bytes
    /// it used, exactly what [`decode`](FrameDecoder::decode) would report over its
    /// `Header` and `Payload` events, and fails with the error `decode` would fail with.
    /// `Ok(None)` when the frame is not complete in `buf` or a frame is already in progress:
    /// nothing is consumed and the decoder is unchanged, so call `decode` instead.
    ///
    /// ```
    /// use wisp_codec::{FrameDecoder, OpCode, Role};
    /// let mut frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let mut dec = FrameDecoder::new(Role::Server, 1 << 20);
    /// assert_eq!(dec.decode_frame(&mut frame[..10]), Ok(None)); // one byte short
    /// let whole = dec.decode_frame(&mut frame).unwrap().unwrap();
    /// assert_eq!(whole.frame_len, 11);
    /// assert_eq!((whole.header.opcode, whole.payload), (OpCode::Text, &b"Hello"[..]));
    /// ```
    #[inline]
    pub fn decode_frame<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<Option<WholeFrame<'a>>, ProtocolError> {
        if self.state != DecoderState::Header || buf.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (buf[0], buf[1]);
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
            match FrameHeader::decode(buf)? {
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
        let available = (buf.len() - n) as u64;
        if header.payload_len > available {
            return Ok(None);
        }
        let end = n + header.payload_len as usize;
        let payload = &mut buf[n..end];
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        Ok(Some(WholeFrame {
            frame_len: end,
            header,
            payload,
        }))
    }

    /// The checks that the first two bytes decide, made as soon as they arrive.
    #[inline]
    fn check_first_bytes(&self, b0: u8, b1: u8) -> Result<(), ProtocolError> {
        let rsv = (b0 >> 4) & 0x7;
        if rsv != 0 {
            // §5.2: "If a nonzero value is received and none of the negotiated extensions
            // defines the meaning of such a nonzero value, the receiving endpoint MUST
            // _Fail the WebSocket Connection_."
            return Err(ProtocolError::ReservedBits(rsv));
        }
        let opcode = OpCode::try_from(b0 & 0x0f)?;
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
