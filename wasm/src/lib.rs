//! # wisp-wasm
//!
//! The browser demo's JavaScript API: thin `wasm-bindgen` bindings over `wisp-codec`
//! with no logic of their own. Not published: `scripts/build-web.sh` builds it into the
//! page's `web/pkg/`, `web/pkg-nomod/` and `web/wasm_b64.js`.
//!
//! Every function here calls the same code that `wisp-server` and `wisp-client` run;
//! the bindings only translate between Rust values and JavaScript ones. Names follow the
//! JavaScript convention (`encodeFrame`, `StepDecoder.push`). The layers under
//! `Connection` that the stepper and the deflate functions drive one at a time come from
//! the codec's `internals`, which is not a stable API: this crate moves with the codec.
//!
//! | JavaScript | codec | RFC 6455 |
//! |---|---|---|
//! | `encodeFrame(opcode, fin, rsv, payload, maskKey?)` | [`wisp_codec::encode_frame`] | [§5.2](https://www.rfc-editor.org/rfc/rfc6455#section-5.2), [§5.3](https://www.rfc-editor.org/rfc/rfc6455#section-5.3) |
//! | `decodeFrame(bytes)` | the decoder's header parser | §5.2 |
//! | `closeCodeName(code)`, `closeCodeDescription(code)` | [`CloseCode::name`], [`CloseCode::description`] | [§7.4](https://www.rfc-editor.org/rfc/rfc6455#section-7.4) |
//! | `applyMask(data, key, offset)` | [`apply_mask`] | §5.3 |
//! | `acceptKey(key)` | [`handshake::accept_key`] | [§1.3](https://www.rfc-editor.org/rfc/rfc6455#section-1.3), [§4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2) |
//! | `clientRequest(host, path, nonce)` | [`handshake::ClientRequest`] | [§4.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.1) |
//! | `parseRequest(bytes)` | [`handshake::parse_request`], [`Request::validate`](handshake::Request::validate) | [§4.2.1](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1) |
//! | `parseClose(payload)` | the reassembler's close parser | [§5.5.1](https://www.rfc-editor.org/rfc/rfc6455#section-5.5.1) |
//! | `new StepDecoder(role, deflate?)` | `FrameDecoder` + `Reassembler`, as [`Connection`](wisp_codec::Connection) uses them | §5.2, §5.4 |
//! | `new Inflater(takeover)`, `.inflate(payload, fin)` | the receive side of permessage-deflate, as the reassembler runs it | [RFC 7692 §7.2.2](https://www.rfc-editor.org/rfc/rfc7692#section-7.2.2) |
//! | `deflateMessage(payload, windowBits)` | the send side of permessage-deflate, as [`Connection`](wisp_codec::Connection) runs it | [RFC 7692 §7.2.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.2.1) |
//! | `negotiatedDeflate(offered, answered)` | [`DeflateOffer::check_response`] | [RFC 7692 §7.1](https://www.rfc-editor.org/rfc/rfc7692#section-7.1) |
//!
//! ## Errors
//! A peer's protocol error becomes a thrown JavaScript `Error` named `ProtocolError` with
//! `closeCode` (the code [`ProtocolError::close_code`] answers with), `closeDescription`
//! ([`CloseCode::description`]), `rfcReason` ([`ProtocolError::rfc_reason`]) and `kind`
//! ([`ProtocolError::kind`]). A handshake error is an `Error` named `HandshakeError` with
//! `status` ([`RequestError::status`]) and `kind`. Misuse
//! of the API itself (a 3-byte mask key, a reserved opcode to encode) is a `RangeError`.
//!
//! Outside wasm32 this crate compiles (so the workspace builds and lints it) but its
//! functions need a JavaScript host to run.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use wisp_codec::extension::{parse_extensions, DeflateOffer, DeflateParams, PERMESSAGE_DEFLATE};
use wisp_codec::handshake::{self, RequestError};
use wisp_codec::internals::{
    decode_header, parse_close as parse_close_payload, Decoded, DecoderState, Deflater,
    FrameDecoder, InflateError, Inflater as Inflate, Reassembler, TAIL,
};
use wisp_codec::{
    apply_mask, CloseCode, CloseFrame, Config, FrameHeader, Message, OpCode, ProtocolError, Role,
    MAX_HEADER_LEN,
};

// ---- values to JavaScript ---------------------------------------------------------

/// A plain JavaScript object from `(name, value)` pairs.
fn object(fields: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (name, value) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(name), value);
    }
    o
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

fn num(n: impl Into<f64>) -> JsValue {
    JsValue::from_f64(n.into())
}

/// Lengths are u64 on the wire; JavaScript numbers are exact up to 2^53, which covers
/// every frame a page can hold. `payloadLenText` carries the exact value.
fn len(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn range_error(message: &str) -> JsValue {
    js_sys::RangeError::new(message).into()
}

/// The `Error` a [`ProtocolError`] is thrown as: `name`, `message`, `closeCode`,
/// `closeDescription`, `rfcReason`, `kind`.
fn protocol_error(e: ProtocolError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("ProtocolError");
    let code = e.close_code();
    let _ = Reflect::set(&err, &"closeCode".into(), &num(code.0));
    let _ = Reflect::set(&err, &"closeDescription".into(), &code.description().into());
    let _ = Reflect::set(&err, &"rfcReason".into(), &e.rfc_reason().into());
    let _ = Reflect::set(&err, &"kind".into(), &e.kind().into());
    err.into()
}

/// The `Error` a [`RequestError`] is thrown as: `name`, `message`, `status`, `kind`.
fn handshake_error(e: RequestError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("HandshakeError");
    let _ = Reflect::set(&err, &"status".into(), &num(e.status()));
    let _ = Reflect::set(&err, &"kind".into(), &e.kind().into());
    err.into()
}

fn key4(key: &[u8]) -> Result<[u8; 4], JsValue> {
    key.try_into()
        .map_err(|_| range_error(&format!("a masking key is 4 bytes, not {}", key.len())))
}

/// One field of the §5.2 figure: where it lies in the frame, in bits and in bytes.
/// `bit_start` counts from the most significant bit of byte 0 (the figure's 0).
fn field(key: &str, name: &str, bit_start: u64, bit_len: u64, value: JsValue) -> JsValue {
    object(&[
        ("key", key.into()),
        ("name", name.into()),
        ("bitStart", len(bit_start)),
        ("bitLen", len(bit_len)),
        ("byteStart", len(bit_start / 8)),
        ("byteEnd", len((bit_start + bit_len).div_ceil(8))),
        ("value", value),
    ])
    .into()
}

/// A header as a JavaScript object, with every field of §5.2 and its place in the frame.
fn header_object(h: &FrameHeader, header_len: usize) -> Object {
    let len7 = match h.payload_len {
        n @ 0..=125 => n,
        126..=0xffff => 126,
        _ => 127,
    };
    let ext_bytes: u64 = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let fields = Array::new();
    fields.push(&field("fin", "FIN", 0, 1, h.fin.into()));
    fields.push(&field("rsv1", "RSV1", 1, 1, (h.rsv & 0b100 != 0).into()));
    fields.push(&field("rsv2", "RSV2", 2, 1, (h.rsv & 0b010 != 0).into()));
    fields.push(&field("rsv3", "RSV3", 3, 1, (h.rsv & 0b001 != 0).into()));
    fields.push(&field("opcode", "opcode", 4, 4, num(h.opcode.as_u8())));
    fields.push(&field("mask", "MASK", 8, 1, h.mask.is_some().into()));
    fields.push(&field("len7", "Payload len", 9, 7, len(len7)));
    if ext_bytes > 0 {
        fields.push(&field(
            "extlen",
            if ext_bytes == 2 {
                "Extended payload length (16)"
            } else {
                "Extended payload length (64)"
            },
            16,
            ext_bytes * 8,
            len(h.payload_len),
        ));
    }
    if let Some(key) = h.mask {
        fields.push(&field(
            "maskkey",
            "Masking-key",
            (2 + ext_bytes) * 8,
            32,
            bytes(&key),
        ));
    }
    fields.push(&field(
        "payload",
        "Payload Data",
        header_len as u64 * 8,
        h.payload_len.saturating_mul(8),
        len(h.payload_len),
    ));
    object(&[
        ("fin", h.fin.into()),
        ("rsv", num(h.rsv)),
        ("opcode", num(h.opcode.as_u8())),
        ("opcodeName", h.opcode.name().into()),
        ("isControl", h.opcode.is_control().into()),
        ("masked", h.mask.is_some().into()),
        ("maskKey", h.mask.map_or(JsValue::NULL, |k| bytes(&k))),
        ("payloadLen", len(h.payload_len)),
        ("payloadLenText", h.payload_len.to_string().into()),
        ("headerLen", num(header_len as u32)),
        ("fields", fields.into()),
    ])
}

fn message_object(m: &Message) -> JsValue {
    match m {
        Message::Text(t) => object(&[("type", "text".into()), ("text", t.as_str().into())]),
        Message::Binary(b) => object(&[("type", "binary".into()), ("data", bytes(b))]),
        Message::Ping(b) => object(&[("type", "ping".into()), ("data", bytes(b))]),
        Message::Pong(b) => object(&[("type", "pong".into()), ("data", bytes(b))]),
        Message::Close(c) => close_object(c.as_ref()),
    }
    .into()
}

fn close_object(c: Option<&CloseFrame>) -> Object {
    match c {
        None => object(&[
            ("type", "close".into()),
            ("code", JsValue::NULL),
            ("reason", "".into()),
        ]),
        Some(f) => object(&[
            ("type", "close".into()),
            ("code", num(f.code.0)),
            ("description", f.code.description().into()),
            ("reason", f.reason.as_str().into()),
        ]),
    }
}

// ---- frames -------------------------------------------------------------------------

/// Encodes one frame (§5.2): the header in its minimal length form, then the payload,
/// masked with `mask_key` when one is given (§5.3).
///
/// `opcode` is the 4-bit wire value; `rsv` holds RSV1-3 as bits 2, 1, 0. Throws a
/// `RangeError` for a reserved opcode, `rsv > 7` or a key that is not 4 bytes.
///
/// JavaScript: `encodeFrame(0x1, true, 0, bytes, new Uint8Array([0x37, 0xfa, 0x21, 0x3d]))`.
#[wasm_bindgen(js_name = encodeFrame)]
pub fn encode_frame(
    opcode: u8,
    fin: bool,
    rsv: u8,
    payload: &[u8],
    mask_key: Option<Vec<u8>>,
) -> Result<Vec<u8>, JsValue> {
    let opcode = OpCode::try_from(opcode)
        .map_err(|_| range_error(&format!("opcode {opcode:#x} is reserved (RFC 6455 §5.2)")))?;
    if rsv > 7 {
        return Err(range_error("rsv holds three bits: 0 to 7"));
    }
    let mask = mask_key.as_deref().map(key4).transpose()?;
    let mut out = Vec::new();
    wisp_codec::encode_frame(&mut out, fin, rsv, opcode, mask, payload);
    Ok(out)
}

/// Decodes the frame at the start of `bytes` into its fields, each with its byte and bit
/// range (§5.2), or returns `null` while the header is incomplete.
///
/// The object holds `fin`, `rsv`, `opcode`, `opcodeName`, `isControl`, `masked`,
/// `maskKey`, `payloadLen`, `payloadLenText`, `headerLen`, `fields` (an array of
/// `{key, name, bitStart, bitLen, byteStart, byteEnd, value}` in wire order),
/// `frameLen`, `complete` (the whole payload is present), `payload` (as on the wire,
/// possibly masked, cut to what is present) and `unmasked`. Only the header's own rules
/// are checked (reserved opcodes, the 64-bit length's top bit); use [`StepDecoder`] for
/// the checks a receiver makes. Throws a `ProtocolError`.
#[wasm_bindgen(js_name = decodeFrame)]
pub fn decode_frame(bytes_in: &[u8]) -> Result<JsValue, JsValue> {
    let Some((header, header_len)) = decode_header(bytes_in).map_err(protocol_error)? else {
        return Ok(JsValue::NULL);
    };
    let available = (bytes_in.len() - header_len) as u64;
    let present = header.payload_len.min(available) as usize;
    let payload = &bytes_in[header_len..header_len + present];
    let mut unmasked = payload.to_vec();
    if let Some(key) = header.mask {
        apply_mask(&mut unmasked, key, 0);
    }
    let o = header_object(&header, header_len);
    let frame_len = (header_len as u64).saturating_add(header.payload_len);
    let _ = Reflect::set(&o, &"frameLen".into(), &len(frame_len));
    let _ = Reflect::set(
        &o,
        &"complete".into(),
        &(header.payload_len <= available).into(),
    );
    let _ = Reflect::set(&o, &"payload".into(), &bytes(payload));
    let _ = Reflect::set(&o, &"unmasked".into(), &bytes(&unmasked));
    Ok(o.into())
}

/// XORs `data` with `key` as if `data` started at byte `offset` of a payload (§5.3:
/// "octet i of the transformed data is the XOR of octet i of the original data with
/// octet at index i modulo 4 of the masking key") and returns the result. Masking and
/// unmasking are the same operation.
#[wasm_bindgen(js_name = applyMask)]
pub fn apply_mask_js(data: &[u8], key: &[u8], offset: u32) -> Result<Vec<u8>, JsValue> {
    let key = key4(key)?;
    let mut out = data.to_vec();
    apply_mask(&mut out, key, offset as usize);
    Ok(out)
}

/// Parses a close frame's payload (§5.5.1): `{type: "close", code, reason}`, with
/// `code: null` for an empty payload. Throws a `ProtocolError` for a 1-byte payload, a
/// code not allowed on the wire (§7.4) or a reason that is not UTF-8.
#[wasm_bindgen(js_name = parseClose)]
pub fn parse_close(payload: &[u8]) -> Result<JsValue, JsValue> {
    let frame = parse_close_payload(payload).map_err(protocol_error)?;
    Ok(close_object(frame.as_ref()).into())
}

/// What a close code means, in a few words ([`CloseCode::description`]): the page's
/// one table of close codes.
#[wasm_bindgen(js_name = closeCodeDescription)]
pub fn close_code_description(code: u16) -> String {
    CloseCode(code).description().into()
}

/// A close code's registered name ([`CloseCode::name`]), or `undefined` when it has none.
#[wasm_bindgen(js_name = closeCodeName)]
pub fn close_code_name(code: u16) -> Option<String> {
    CloseCode(code).name().map(String::from)
}

// ---- handshake ----------------------------------------------------------------------

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (§1.3).
#[wasm_bindgen(js_name = acceptKey)]
pub fn accept_key(key: &str) -> String {
    let accept = handshake::accept_key(key.as_bytes());
    String::from_utf8_lossy(&accept).into_owned()
}

/// A client's opening handshake request (§4.1) for `path` on `host`, keyed by the
/// 16-byte `nonce` (draw it with `crypto.getRandomValues`). Returns
/// `{key, request}`: the `Sec-WebSocket-Key` and the request head as text.
#[wasm_bindgen(js_name = clientRequest)]
pub fn client_request(host: &str, path: &str, nonce: &[u8]) -> Result<JsValue, JsValue> {
    let nonce: [u8; 16] = nonce
        .try_into()
        .map_err(|_| range_error(&format!("the nonce is 16 bytes, not {}", nonce.len())))?;
    let req = handshake::ClientRequest::new(host, path, nonce);
    let text = String::from_utf8_lossy(&req.to_bytes()).into_owned();
    Ok(object(&[("key", req.key().into()), ("request", text.into())]).into())
}

/// Parses and validates an opening handshake request (§4.2.1) as the server does.
/// Returns `null` while the head is incomplete, else `{path, host, key, origin,
/// protocols, headers, headLen, acceptKey}` where `headers` is an array of
/// `[name, value]` and `acceptKey` is the `Sec-WebSocket-Accept` the server must answer.
/// Throws a `HandshakeError` with its HTTP `status`.
#[wasm_bindgen(js_name = parseRequest)]
pub fn parse_request(head: &[u8]) -> Result<JsValue, JsValue> {
    let Some((req, n)) =
        handshake::parse_request(head, handshake::DEFAULT_MAX_HEAD).map_err(handshake_error)?
    else {
        return Ok(JsValue::NULL);
    };
    let offer = req.validate().map_err(handshake_error)?;
    let headers = Array::new();
    for (name, value) in &req.headers {
        headers.push(&Array::of2(&name.as_str().into(), &value.as_str().into()));
    }
    let protocols = Array::new();
    for p in &offer.protocols {
        protocols.push(&p.as_str().into());
    }
    Ok(object(&[
        ("path", offer.target.as_str().into()),
        ("host", offer.host.as_str().into()),
        ("key", offer.key.as_str().into()),
        (
            "origin",
            offer
                .origin
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        ),
        ("protocols", protocols.into()),
        ("headers", headers.into()),
        ("headLen", num(n as u32)),
        ("acceptKey", accept_key(&offer.key).into()),
    ])
    .into())
}

// ---- the incremental decoder --------------------------------------------------------

/// The incremental decoder of one direction, fed one byte at a time: a `FrameDecoder`
/// and a `Reassembler` joined exactly as [`Connection`](wisp_codec::Connection) joins them,
/// with every step reported.
///
/// `new StepDecoder("server")` decodes what a server receives (masked client frames);
/// `"client"` decodes server frames. Each `push(byte)` returns
/// `{event, offset, state, buffered, header, received, data, last, message}`:
/// - `event`: `"need-more"` (the byte was kept: a header is read whole), `"header"` (the
///   byte completed a header, now in `header`), `"payload"` (payload bytes were
///   delivered unmasked in `data`; `last` ends the frame);
/// - `state`: `"header"` (between frames or inside one's header) or `"payload"`;
/// - `buffered`: the header bytes held so far; `received`: payload bytes delivered of the
///   current frame;
/// - `message`: the message the byte completed (`{type, text | data | code, reason}`),
///   or `null`.
///
/// A protocol error is thrown as a `ProtocolError` (with `closeCode` and `rfcReason`), at
/// the byte that makes it certain; the decoder is then failed, like the connection, and
/// every later `push` throws the same error until `reset()`.
#[wasm_bindgen]
pub struct StepDecoder {
    role: Role,
    /// permessage-deflate is on: `Some(peer keeps its window)`.
    deflate: Option<bool>,
    decoder: FrameDecoder,
    reassembler: Reassembler,
    /// Header bytes held until the header is whole.
    pending: Vec<u8>,
    /// The header of the frame being read, or of the frame that just ended, with its length.
    current: Option<(FrameHeader, usize)>,
    offset: u64,
    error: Option<ProtocolError>,
}

#[wasm_bindgen]
impl StepDecoder {
    /// A decoder for what `role` (`"server"` or `"client"`) receives, with the
    /// default limits of [`Config`] (16 MiB frames, 64 MiB messages). With `deflate`
    /// (`true`: the peer keeps its window across messages, `false`: it does not),
    /// permessage-deflate is agreed: RSV1 marks a compressed message, inflated as its
    /// payload arrives (RFC 7692 §6); without it RSV1 is a 1002.
    #[wasm_bindgen(constructor)]
    pub fn new(role: &str, deflate: Option<bool>) -> Result<StepDecoder, JsValue> {
        let role = match role {
            "server" => Role::Server,
            "client" => Role::Client,
            other => {
                return Err(range_error(&format!(
                    "role is \"server\" or \"client\", not {other:?}"
                )))
            }
        };
        let config = Config::default();
        let mut decoder = FrameDecoder::new(role, config.max_frame_size);
        let mut reassembler = Reassembler::new(config.max_message_size);
        if let Some(takeover) = deflate {
            decoder.allow_rsv1();
            reassembler.set_inflater(takeover);
        }
        Ok(StepDecoder {
            role,
            deflate,
            decoder,
            reassembler,
            pending: Vec::new(),
            current: None,
            offset: 0,
            error: None,
        })
    }

    /// Forgets everything: back to the start of a stream.
    pub fn reset(&mut self) {
        let role = if self.role == Role::Server {
            "server"
        } else {
            "client"
        };
        if let Ok(fresh) = StepDecoder::new(role, self.deflate) {
            *self = fresh;
        }
    }

    /// How many bytes were pushed since the start (or the last `reset()`).
    #[wasm_bindgen(getter)]
    pub fn offset(&self) -> f64 {
        self.offset as f64
    }

    /// Where the decoder is, as the `state`, `buffered`, `header` and `received` of a
    /// `push` result (with `event: "idle"`).
    pub fn state(&self) -> JsValue {
        self.snapshot("idle", &[], false, JsValue::NULL).into()
    }

    /// Feeds one byte and reports what the decoder did with it (see [`StepDecoder`]).
    pub fn push(&mut self, byte: u8) -> Result<JsValue, JsValue> {
        if let Some(e) = self.error {
            return Err(protocol_error(e));
        }
        self.offset += 1;
        match self.step(byte) {
            Ok(o) => Ok(o.into()),
            Err(e) => {
                self.error = Some(e);
                Err(protocol_error(e))
            }
        }
    }
}

impl StepDecoder {
    fn step(&mut self, byte: u8) -> Result<Object, ProtocolError> {
        if let DecoderState::Payload { .. } = self.decoder.state() {
            let mut one = [byte];
            let (_, event) = self.decoder.decode(&mut one)?;
            let Decoded::Payload { data, last } = event else {
                return Ok(self.snapshot("need-more", &[], false, JsValue::NULL));
            };
            let data = data.to_vec();
            let message = self.reassembler.on_payload(&data, last)?;
            let message = message.as_ref().map_or(JsValue::NULL, message_object);
            return Ok(self.snapshot("payload", &data, last, message));
        }
        if self.pending.is_empty() {
            self.current = None; // a new frame begins
        }
        self.pending.push(byte);
        let mut buf = core::mem::take(&mut self.pending);
        let (used, event) = self.decoder.decode(&mut buf)?;
        let Decoded::Header(header) = event else {
            self.pending = buf;
            return Ok(self.snapshot("need-more", &[], false, JsValue::NULL));
        };
        debug_assert_eq!(used, buf.len());
        self.current = Some((header, used));
        self.reassembler.on_header(&header)?;
        if header.payload_len > 0 {
            return Ok(self.snapshot("header", &[], false, JsValue::NULL));
        }
        // An empty payload: the frame ends with its header's last byte.
        let (_, event) = self.decoder.decode(&mut [])?;
        let message = match event {
            Decoded::Payload { last: true, .. } => self.reassembler.on_payload(&[], true)?,
            _ => None,
        };
        let message = message.as_ref().map_or(JsValue::NULL, message_object);
        Ok(self.snapshot("header", &[], true, message))
    }

    fn snapshot(&self, event: &str, data: &[u8], last: bool, message: JsValue) -> Object {
        let (state, received) = match self.decoder.state() {
            DecoderState::Payload { received, .. } => ("payload", received),
            // Between frames: the frame that just ended, if any, was received whole.
            DecoderState::Header => ("header", self.current.map_or(0, |(h, _)| h.payload_len)),
        };
        object(&[
            ("event", event.into()),
            ("offset", len(self.offset)),
            ("state", state.into()),
            ("buffered", bytes(&self.pending)),
            (
                "header",
                self.current
                    .map_or(JsValue::NULL, |(h, n)| header_object(&h, n).into()),
            ),
            ("received", len(received)),
            ("data", bytes(data)),
            ("last", last.into()),
            ("message", message),
            ("maxHeaderLen", num(MAX_HEADER_LEN as u32)),
        ])
    }
}

// ---- permessage-deflate (RFC 7692) ----------------------------------------------------

/// The receive side of permessage-deflate for one direction of a connection: `new
/// Inflater(takeover)`, where `takeover` says the sender keeps its LZ77 window from one
/// message to the next (no `*_no_context_takeover` for it), so every compressed message
/// of that direction must pass through the same inflater, in order.
///
/// `inflate(payload, fin)` takes one frame's payload (unmasked) of a message whose first
/// frame had RSV1 set and returns the bytes it inflates to; with `fin` (the message's
/// last frame) the `00 00 ff ff` the sender removed is appended first (§7.2.2). A message
/// is bounded by [`Config::max_message_size`] (64 MiB) while inflating. Throws a
/// `ProtocolError`: 1007 for data that is not DEFLATE, 1009 past the limit.
#[wasm_bindgen]
pub struct Inflater {
    inner: Inflate,
    /// The message inflated so far (the limit applies to all of it).
    message: Vec<u8>,
    max: u64,
}

#[wasm_bindgen]
impl Inflater {
    /// An inflater for a sender that keeps its window (`takeover`) or not.
    #[wasm_bindgen(constructor)]
    pub fn new(takeover: bool) -> Inflater {
        Inflater {
            inner: Inflate::new(takeover),
            message: Vec::new(),
            max: Config::default().max_message_size,
        }
    }

    /// Inflates one frame's payload; see [`Inflater`].
    pub fn inflate(&mut self, payload: &[u8], fin: bool) -> Result<Vec<u8>, JsValue> {
        let start = self.message.len();
        let result = self
            .inner
            .inflate(payload, fin, &mut self.message, self.max);
        let out = self.message.get(start..).unwrap_or_default().to_vec();
        if fin || result.is_err() {
            self.message = Vec::new();
        }
        result.map_err(|e| {
            protocol_error(match e {
                InflateError::Corrupt => ProtocolError::InvalidCompressedData,
                InflateError::TooLarge(len) => {
                    ProtocolError::MessageTooLarge { len, max: self.max }
                }
            })
        })?;
        Ok(out)
    }
}

/// Compresses one whole message as permessage-deflate sends it (§7.2.1), with a fresh
/// compressor (as with `server_no_context_takeover`) valid for a peer window of
/// `windowBits` (8-15): `{compressed, tail, inputLen, compressedLen}`, where `compressed`
/// is the frame's payload (RSV1 = 1) and `tail` the `00 00 ff ff` that the sync flush
/// ended with and the sender removes. Throws a `RangeError` for a window outside 8-15.
#[wasm_bindgen(js_name = deflateMessage)]
pub fn deflate_message(payload: &[u8], window_bits: u8) -> Result<JsValue, JsValue> {
    if !(8..=15).contains(&window_bits) {
        return Err(range_error("a window is 8 to 15 bits (RFC 7692 §7.1.2)"));
    }
    let mut out = Vec::new();
    // Not the message's last fragment: the flush's tail stays, to be shown.
    Deflater::new(window_bits, false).compress(payload, false, &mut out);
    let tail: &[u8] = if out.ends_with(&TAIL) { &TAIL } else { &[] };
    out.truncate(out.len() - tail.len());
    Ok(object(&[
        ("compressed", bytes(&out)),
        ("tail", bytes(tail)),
        ("inputLen", len(payload.len() as u64)),
        ("compressedLen", len(out.len() as u64)),
    ])
    .into())
}

fn params_object(p: &DeflateParams) -> Object {
    object(&[
        (
            "serverNoContextTakeover",
            p.server_no_context_takeover.into(),
        ),
        (
            "clientNoContextTakeover",
            p.client_no_context_takeover.into(),
        ),
        ("serverMaxWindowBits", num(p.server_max_window_bits)),
        ("clientMaxWindowBits", num(p.client_max_window_bits)),
        ("header", p.to_header().into()),
    ])
}

/// What a handshake agreed of permessage-deflate, checked as a client checks it
/// (RFC 7692 §7.1): `offered` is the request's `Sec-WebSocket-Extensions` value,
/// `answered` the response's. `null` when the response accepts no permessage-deflate;
/// otherwise `{serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits,
/// clientMaxWindowBits, header, offer}` (`offer`: the offer the answer was checked
/// against, the first valid one). Throws an `Error` when the answer is malformed or not
/// allowed by any offer.
#[wasm_bindgen(js_name = negotiatedDeflate)]
pub fn negotiated_deflate(offered: &str, answered: &str) -> Result<JsValue, JsValue> {
    let fail = |m: String| -> JsValue { js_sys::Error::new(&m).into() };
    let answer = parse_extensions(answered).map_err(|e| fail(e.to_string()))?;
    let Some(answer) = answer
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
    else {
        return Ok(JsValue::NULL);
    };
    let offers = parse_extensions(offered).map_err(|e| fail(e.to_string()))?;
    let mut last = fail("the request offered no valid permessage-deflate".into());
    for e in offers
        .iter()
        .filter(|e| e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
    {
        let Ok(offer) = DeflateOffer::from_extension(e) else {
            continue;
        };
        match offer.check_response(answer) {
            Ok(p) => {
                let o = params_object(&p);
                let _ = Reflect::set(&o, &"offer".into(), &offer.to_header().into());
                return Ok(o.into());
            }
            Err(e) => last = fail(e.to_string()),
        }
    }
    Err(last)
}
