//! Messages and their reassembly from fragments
//! ([RFC 6455 §5.4](https://www.rfc-editor.org/rfc/rfc6455#section-5.4)).

use alloc::string::String;
use alloc::vec::Vec;

use crate::close::{CloseCode, CloseFrame};
use crate::deflate::{InflateError, Inflater};
use crate::error::ProtocolError;
use crate::header::FrameHeader;
use crate::mask::extend_unmasked;
use crate::opcode::OpCode;
use crate::utf8::Utf8Validator;

/// A complete message or control frame received from the peer.
///
/// ```
/// use wisp_codec::Message;
/// let m = Message::Text("hi".into());
/// assert_eq!(m.opcode(), wisp_codec::OpCode::Text);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: always valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping and its application data (at most 125 bytes).
    Ping(Vec<u8>),
    /// A pong and its application data (at most 125 bytes).
    Pong(Vec<u8>),
    /// A close frame; `None` when it had no body (1005, "no status received").
    Close(Option<CloseFrame>),
}

impl Message {
    /// The opcode of the (first) frame that carries this message.
    ///
    /// ```
    /// assert_eq!(wisp_codec::Message::Close(None).opcode(), wisp_codec::OpCode::Close);
    /// ```
    pub fn opcode(&self) -> OpCode {
        match self {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
            Message::Ping(_) => OpCode::Ping,
            Message::Pong(_) => OpCode::Pong,
            Message::Close(_) => OpCode::Close,
        }
    }
}

/// How much of a claimed length is reserved up front: a header's length is a claim, not
/// a promise, so memory follows the bytes that really arrive beyond this. 1 MiB lets a
/// message up to that size land without regrowing (each regrowth copies what came so
/// far); a large reservation is address space that the allocator maps lazily, so it
/// becomes resident only as bytes arrive.
const RESERVE_AHEAD: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Current {
    None,
    Data,
    Control(OpCode),
}

/// Turns decoded frames into [`Message`]s: joins fragments, lets control frames
/// interleave, validates text as it streams in, and enforces `max_message_size` against
/// each header before any of its payload is stored.
///
/// ```
/// use wisp_codec::internals::Reassembler;
/// use wisp_codec::{FrameHeader, Message, OpCode};
/// let mut r = Reassembler::new(1024);
/// let h = |fin, opcode, len| FrameHeader { fin, rsv: 0, opcode, mask: None, payload_len: len };
/// r.on_header(&h(false, OpCode::Text, 3)).unwrap();             // §5.7 "Hel"
/// assert_eq!(r.on_payload(b"Hel", true), Ok(None));
/// r.on_header(&h(true, OpCode::Continuation, 2)).unwrap();      // "lo"
/// assert_eq!(r.on_payload(b"lo", true), Ok(Some(Message::Text("Hello".into()))));
/// ```
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_message_size: u64,
    /// Opcode of the data message in progress (Text or Binary).
    message: Option<OpCode>,
    /// FIN of the data frame being read.
    fin: bool,
    current: Current,
    data: Vec<u8>,
    control: Vec<u8>,
    utf8: Utf8Validator,
    /// permessage-deflate's inflater, once negotiated.
    inflater: Option<Inflater>,
    /// The message in progress came with RSV1 set: its payload is inflated as it arrives.
    compressed: bool,
}

impl core::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Clone for Inflater {
    /// A fresh inflater: a window in progress is not copied.
    fn clone(&self) -> Self {
        self.fresh()
    }
}

impl Reassembler {
    /// Bytes of memory held for the message and the control frame in progress, and the
    /// inflater's state.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
            + self.control.capacity()
            + self.inflater.as_ref().map_or(0, Inflater::memory)
    }

    /// Bytes of memory held by the inflater's state.
    pub(crate) fn inflater_memory(&self) -> usize {
        self.inflater.as_ref().map_or(0, Inflater::memory)
    }

    /// Inflates messages that come with RSV1 (permessage-deflate negotiated);
    /// `peer_takeover`: the peer keeps its LZ77 window across messages.
    pub fn set_inflater(&mut self, peer_takeover: bool) {
        self.inflater = Some(Inflater::new(peer_takeover));
    }

    /// The inflater, once negotiated (for lending it a pool's state).
    pub(crate) fn inflater_mut(&mut self) -> Option<&mut Inflater> {
        self.inflater.as_mut()
    }

    /// Frees the inflater's state between messages when the peer keeps no window.
    pub(crate) fn release_inflater(&mut self) {
        if self.message.is_none() {
            if let Some(i) = &mut self.inflater {
                i.release();
            }
        }
    }

    /// A reassembler that refuses messages over `max_message_size` bytes.
    ///
    /// ```
    /// let mut r = wisp_codec::internals::Reassembler::new(4);
    /// let h = wisp_codec::FrameHeader { fin: true, rsv: 0, opcode: wisp_codec::OpCode::Binary, mask: None, payload_len: 5 };
    /// assert!(r.on_header(&h).is_err()); // 1009
    /// ```
    pub fn new(max_message_size: u64) -> Self {
        Reassembler {
            max_message_size,
            message: None,
            fin: false,
            current: Current::None,
            data: Vec::new(),
            control: Vec::new(),
            utf8: Utf8Validator::new(),
            inflater: None,
            compressed: false,
        }
    }

    /// Checks a frame header against the message in progress and the size limit.
    ///
    /// ```
    /// use wisp_codec::internals::Reassembler;
    /// use wisp_codec::{FrameHeader, OpCode, ProtocolError};
    /// let mut r = Reassembler::new(1024);
    /// let cont = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Continuation, mask: None, payload_len: 1 };
    /// assert_eq!(r.on_header(&cont), Err(ProtocolError::UnexpectedContinuation));
    /// ```
    pub fn on_header(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        if header.opcode.is_control() {
            self.current = Current::Control(header.opcode);
            self.control.clear();
            return Ok(());
        }
        match (header.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(_)) => {}
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (opcode, None) => {
                self.message = Some(opcode);
                self.data.clear();
                self.utf8.reset();
                // The decoder lets RSV1 through only once permessage-deflate is agreed.
                self.compressed = header.rsv & 4 != 0 && self.inflater.is_some();
            }
        }
        if self.compressed {
            // The limit is on the inflated size, checked while inflating.
            self.fin = header.fin;
            self.current = Current::Data;
            return Ok(());
        }
        let total = (self.data.len() as u64).saturating_add(header.payload_len);
        if total > self.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                len: total,
                max: self.max_message_size,
            });
        }
        self.data
            .reserve(header.payload_len.min(RESERVE_AHEAD) as usize);
        self.fin = header.fin;
        self.current = Current::Data;
        Ok(())
    }

    /// True when a whole frame with this header is a whole message within the limit: an
    /// unfragmented text or binary frame while no message is in progress. Its payload is
    /// then the message as is (text still to be checked as UTF-8), and nothing needs to go
    /// through the reassembler: the fast path of [`Connection`](crate::Connection).
    ///
    /// ```
    /// use wisp_codec::internals::Reassembler;
    /// use wisp_codec::{FrameHeader, OpCode};
    /// let r = Reassembler::new(1024);
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 5 };
    /// assert!(r.is_whole_message(&h));
    /// assert!(!r.is_whole_message(&FrameHeader { fin: false, ..h }));
    /// assert!(!r.is_whole_message(&FrameHeader { payload_len: 1025, ..h })); // on_header says 1009
    /// ```
    #[inline]
    pub fn is_whole_message(&self, header: &FrameHeader) -> bool {
        header.fin
            && matches!(header.opcode, OpCode::Text | OpCode::Binary)
            && self.message.is_none()
            && header.rsv == 0
            && header.payload_len <= self.max_message_size
    }

    /// A whole frame at once: the same result as [`on_header`](Reassembler::on_header)
    /// followed by [`on_payload`](Reassembler::on_payload) with `last` set; control frames
    /// skip the reassembly buffer. Call it between frames only (not inside a frame's
    /// payload).
    ///
    /// ```
    /// use wisp_codec::internals::Reassembler;
    /// use wisp_codec::{FrameHeader, Message, OpCode};
    /// let mut r = Reassembler::new(1024);
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Ping, mask: None, payload_len: 2 };
    /// assert_eq!(r.on_frame(&h, b"hi"), Ok(Some(Message::Ping(b"hi".to_vec()))));
    /// ```
    #[inline]
    pub fn on_frame(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
    ) -> Result<Option<Message>, ProtocolError> {
        debug_assert_eq!(header.payload_len, payload.len() as u64);
        match header.opcode {
            // Control frames never touch the message in progress.
            OpCode::Ping => Ok(Some(Message::Ping(payload.to_vec()))),
            OpCode::Pong => Ok(Some(Message::Pong(payload.to_vec()))),
            OpCode::Close => Ok(Some(Message::Close(parse_close(payload)?))),
            _ => {
                self.on_header(header)?;
                self.on_payload(payload, true)
            }
        }
    }

    /// Takes the next piece of the current frame's (unmasked) payload. Returns the
    /// message when `last` completes a control frame or the final fragment.
    ///
    /// Text is validated piece by piece: invalid UTF-8 is an error in the call that
    /// receives the byte that makes it certain.
    ///
    /// ```
    /// use wisp_codec::internals::Reassembler;
    /// use wisp_codec::{FrameHeader, OpCode, ProtocolError};
    /// let mut r = Reassembler::new(1024);
    /// r.on_header(&FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 100 }).unwrap();
    /// assert_eq!(r.on_payload(&[b'a', 0xff], false), Err(ProtocolError::InvalidUtf8));
    /// ```
    pub fn on_payload(
        &mut self,
        data: &[u8],
        last: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        match self.current {
            Current::None => Ok(None),
            Current::Control(opcode) => {
                self.control.extend_from_slice(data);
                if !last {
                    return Ok(None);
                }
                self.current = Current::None;
                let payload = core::mem::take(&mut self.control);
                Ok(Some(match opcode {
                    OpCode::Ping => Message::Ping(payload),
                    OpCode::Pong => Message::Pong(payload),
                    _ => Message::Close(parse_close(&payload)?),
                }))
            }
            Current::Data => {
                let before = self.data.len();
                let appended = match (&mut self.inflater, self.compressed) {
                    (Some(inflater), true) => inflater
                        .inflate(
                            data,
                            last && self.fin,
                            &mut self.data,
                            self.max_message_size,
                        )
                        .map_err(|e| match e {
                            InflateError::Corrupt => ProtocolError::InvalidCompressedData,
                            InflateError::TooLarge(len) => ProtocolError::MessageTooLarge {
                                len,
                                max: self.max_message_size,
                            },
                        }),
                    _ => {
                        self.data.extend_from_slice(data);
                        Ok(())
                    }
                };
                self.appended(before, appended, last)
            }
        }
    }

    /// Whether the current frame's payload goes into the message byte for byte (a data
    /// frame, not compressed): then [`on_masked_payload`](Reassembler::on_masked_payload)
    /// may take it.
    #[inline]
    pub fn takes_plain_data(&self) -> bool {
        matches!(self.current, Current::Data) && !(self.compressed && self.inflater.is_some())
    }

    /// [`on_payload`](Reassembler::on_payload) for a piece still masked (`mask`: the key
    /// and the piece's offset in the payload), which is unmasked as it is copied into the
    /// message: one pass over a large payload instead of two. Only while
    /// [`takes_plain_data`](Reassembler::takes_plain_data) holds.
    ///
    /// ```
    /// use wisp_codec::internals::Reassembler;
    /// use wisp_codec::{FrameHeader, Message, OpCode};
    /// let mut r = Reassembler::new(1024);
    /// let key = [0x37, 0xfa, 0x21, 0x3d];
    /// r.on_header(&FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: Some(key), payload_len: 5 }).unwrap();
    /// assert!(r.takes_plain_data());
    /// assert_eq!(r.on_masked_payload(&[0x7f, 0x9f], Some((key, 0)), false), Ok(None));
    /// let hello = r.on_masked_payload(&[0x4d, 0x51, 0x58], Some((key, 2)), true);
    /// assert_eq!(hello, Ok(Some(Message::Text("Hello".into())))); // RFC 6455 §5.7
    /// ```
    pub fn on_masked_payload(
        &mut self,
        data: &[u8],
        mask: Option<([u8; 4], usize)>,
        last: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        if !self.takes_plain_data() {
            let mut plain = data.to_vec();
            if let Some((key, offset)) = mask {
                crate::mask::apply_mask(&mut plain, key, offset);
            }
            return self.on_payload(&plain, last);
        }
        let before = self.data.len();
        match mask {
            Some((key, offset)) => extend_unmasked(&mut self.data, data, key, offset),
            None => self.data.extend_from_slice(data),
        }
        self.appended(before, Ok(()), last)
    }

    /// What follows appending a data frame's piece (`appended`: whether inflating it
    /// went well) from `before` on: UTF-8 checks, and the message once it is whole.
    fn appended(
        &mut self,
        before: usize,
        appended: Result<(), ProtocolError>,
        last: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        let is_text = self.message == Some(OpCode::Text);
        // What inflated before an inflate error is checked first: fed a byte at a
        // time, that text would have been checked before the error was reached, so
        // the error must not depend on how the input was split.
        if is_text {
            self.utf8
                .feed(&self.data[before..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        appended?;
        if !(last && self.fin) {
            if last {
                self.current = Current::None;
            }
            return Ok(None);
        }
        self.current = Current::None;
        self.message = None;
        self.compressed = false;
        let payload = core::mem::take(&mut self.data);
        if is_text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            let text = String::from_utf8(payload).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(Message::Text(text)))
        } else {
            Ok(Some(Message::Binary(payload)))
        }
    }
}

/// Parses a close frame's payload as received from the peer (§5.5.1).
///
/// An empty payload is `Ok(None)` (no status code). A 1-byte payload, a code that is
/// not valid on the wire (§7.4), or a reason that is not UTF-8 are errors (1002, 1002,
/// 1007).
///
/// ```
/// use wisp_codec::internals::parse_close;
/// use wisp_codec::ProtocolError;
/// assert_eq!(parse_close(&[]), Ok(None));
/// assert_eq!(parse_close(&[0x03, 0xe8, b'o', b'k']).unwrap().unwrap().reason, "ok");
/// assert_eq!(parse_close(&[0x03]), Err(ProtocolError::CloseFrameTooShort));
/// assert_eq!(parse_close(&[0x03, 0xed]), Err(ProtocolError::InvalidCloseCode(1005)));
/// assert_eq!(parse_close(&[0x03, 0xe8, 0xff]), Err(ProtocolError::InvalidUtf8));
/// ```
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseFrameTooShort),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: String::from(reason),
            }))
        }
    }
}
