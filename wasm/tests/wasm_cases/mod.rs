//! The wasm API's test cases, shared by `web.rs` (run in Node) and `web_browser.rs`
//! (run in headless Chrome): the RFC 6455 §5.7 examples and the §1.3 handshake verbatim,
//! round trips, the stepper, and the errors with their close codes.
//!
//! The functions are called from Rust, but their results are the JavaScript values the
//! page sees, read back through `Reflect`.

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;
use wisp_wasm::{
    accept_key, apply_mask_js, client_request, close_code_description, close_code_name,
    decode_frame, deflate_message, encode_frame, negotiated_deflate, parse_close, parse_request,
    Inflater, StepDecoder,
};

/// The §5.7 masking key.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub fn get(v: &JsValue, name: &str) -> JsValue {
    Reflect::get(v, &name.into()).unwrap_or_else(|_| panic!("no property {name}"))
}

pub fn num(v: &JsValue, name: &str) -> f64 {
    get(v, name)
        .as_f64()
        .unwrap_or_else(|| panic!("{name} is not a number"))
}

pub fn boolean(v: &JsValue, name: &str) -> bool {
    get(v, name)
        .as_bool()
        .unwrap_or_else(|| panic!("{name} is not a boolean"))
}

pub fn string(v: &JsValue, name: &str) -> String {
    get(v, name)
        .as_string()
        .unwrap_or_else(|| panic!("{name} is not a string"))
}

pub fn u8s(v: &JsValue, name: &str) -> Vec<u8> {
    get(v, name).unchecked_into::<Uint8Array>().to_vec()
}

/// The fields of a decoded frame as (key, byteStart, byteEnd, bitStart, bitLen).
fn fields(frame: &JsValue) -> Vec<(String, u64, u64, u64, u64)> {
    let arr: Array = get(frame, "fields").unchecked_into();
    arr.iter()
        .map(|f| {
            (
                string(&f, "key"),
                num(&f, "byteStart") as u64,
                num(&f, "byteEnd") as u64,
                num(&f, "bitStart") as u64,
                num(&f, "bitLen") as u64,
            )
        })
        .collect()
}

/// A thrown ProtocolError: (closeCode, rfcReason, kind).
fn protocol_error(e: JsValue) -> (u16, String, String) {
    assert!(e.is_instance_of::<js_sys::Error>(), "thrown as an Error");
    assert_eq!(string(&e, "name"), "ProtocolError");
    (
        num(&e, "closeCode") as u16,
        string(&e, "rfcReason"),
        string(&e, "kind"),
    )
}

// ---- §5.7 examples ---------------------------------------------------------------

/// An example frame: (description, wire bytes, fin, opcode, mask, unmasked payload).
type Example = (&'static str, Vec<u8>, bool, u8, Option<[u8; 4]>, Vec<u8>);

/// Every example frame of RFC 6455 §5.7.
fn rfc_examples() -> Vec<Example> {
    let mut big256 = vec![0x82, 0x7e, 0x01, 0x00];
    big256.extend([0u8; 256]);
    let mut big64k = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    big64k.extend(vec![0u8; 65536]);
    vec![
        (
            "single-frame unmasked text",
            vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            true,
            0x1,
            None,
            b"Hello".to_vec(),
        ),
        (
            "single-frame masked text",
            vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            true,
            0x1,
            Some(KEY),
            b"Hello".to_vec(),
        ),
        (
            "fragmented unmasked text, first",
            vec![0x01, 0x03, 0x48, 0x65, 0x6c],
            false,
            0x1,
            None,
            b"Hel".to_vec(),
        ),
        (
            "fragmented unmasked text, last",
            vec![0x80, 0x02, 0x6c, 0x6f],
            true,
            0x0,
            None,
            b"lo".to_vec(),
        ),
        (
            "unmasked ping",
            vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            true,
            0x9,
            None,
            b"Hello".to_vec(),
        ),
        (
            "masked pong",
            vec![
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            true,
            0xa,
            Some(KEY),
            b"Hello".to_vec(),
        ),
        ("256 bytes binary", big256, true, 0x2, None, vec![0; 256]),
        ("64 KiB binary", big64k, true, 0x2, None, vec![0; 65536]),
    ]
}

#[wasm_bindgen_test]
fn encode_frame_gives_every_rfc_5_7_example() {
    for (what, wire, fin, opcode, mask, payload) in rfc_examples() {
        let key = mask.map(|k| k.to_vec());
        let out = encode_frame(opcode, fin, 0, &payload, key).unwrap();
        assert_eq!(out, wire, "{what}");
    }
}

#[wasm_bindgen_test]
fn decode_frame_reads_every_rfc_5_7_example() {
    for (what, wire, fin, opcode, mask, payload) in rfc_examples() {
        let f = decode_frame(&wire).unwrap();
        assert_eq!(boolean(&f, "fin"), fin, "{what}");
        assert_eq!(num(&f, "rsv"), 0.0, "{what}");
        assert_eq!(num(&f, "opcode") as u8, opcode, "{what}");
        assert_eq!(boolean(&f, "masked"), mask.is_some(), "{what}");
        assert_eq!(num(&f, "payloadLen") as usize, payload.len(), "{what}");
        assert_eq!(string(&f, "payloadLenText"), payload.len().to_string());
        assert_eq!(num(&f, "frameLen") as usize, wire.len(), "{what}");
        assert!(boolean(&f, "complete"), "{what}");
        assert_eq!(u8s(&f, "unmasked"), payload, "{what}");
        assert_eq!(
            u8s(&f, "payload"),
            wire[wire.len() - payload.len()..],
            "{what}"
        );
        match mask {
            Some(k) => assert_eq!(u8s(&f, "maskKey"), k, "{what}"),
            None => assert!(get(&f, "maskKey").is_null(), "{what}"),
        }
    }
}

#[wasm_bindgen_test]
fn decode_frame_names_opcodes() {
    let names = [
        (vec![0x81, 0x00], "Text", false),
        (vec![0x82, 0x00], "Binary", false),
        (vec![0x80, 0x00], "Continuation", false),
        (vec![0x88, 0x00], "Close", true),
        (vec![0x89, 0x00], "Ping", true),
        (vec![0x8a, 0x00], "Pong", true),
    ];
    for (wire, name, control) in names {
        let f = decode_frame(&wire).unwrap();
        assert_eq!(string(&f, "opcodeName"), name);
        assert_eq!(boolean(&f, "isControl"), control, "{name}");
    }
}

#[wasm_bindgen_test]
fn decode_frame_gives_the_range_of_every_field() {
    // Masked "Hello": 2 + 4 + 5 bytes.
    let f = decode_frame(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ])
    .unwrap();
    assert_eq!(
        fields(&f),
        [
            ("fin".into(), 0, 1, 0, 1),
            ("rsv1".into(), 0, 1, 1, 1),
            ("rsv2".into(), 0, 1, 2, 1),
            ("rsv3".into(), 0, 1, 3, 1),
            ("opcode".into(), 0, 1, 4, 4),
            ("mask".into(), 1, 2, 8, 1),
            ("len7".into(), 1, 2, 9, 7),
            ("maskkey".into(), 2, 6, 16, 32),
            ("payload".into(), 6, 11, 48, 40),
        ]
    );
    assert_eq!(num(&f, "headerLen"), 6.0);
    // 256 bytes, unmasked: a 16-bit extended length at bytes 2..4.
    let mut wire = vec![0x82, 0x7e, 0x01, 0x00];
    wire.extend([0u8; 256]);
    let f = decode_frame(&wire).unwrap();
    let fs = fields(&f);
    assert_eq!(fs[6], ("len7".into(), 1, 2, 9, 7));
    assert_eq!(fs[7], ("extlen".into(), 2, 4, 16, 16));
    assert_eq!(fs[8], ("payload".into(), 4, 260, 32, 2048));
    let len7: Array = get(&f, "fields").unchecked_into();
    assert_eq!(
        num(&len7.get(6), "value"),
        126.0,
        "the 7-bit field says 126"
    );
    assert_eq!(num(&len7.get(7), "value"), 256.0);
    // 64 KiB, masked: a 64-bit length at bytes 2..10, the key at 10..14.
    let wire = encode_frame(0x2, true, 0, &vec![7; 65536], Some(KEY.to_vec())).unwrap();
    let fs = fields(&decode_frame(&wire).unwrap());
    assert_eq!(fs[7], ("extlen".into(), 2, 10, 16, 64));
    assert_eq!(fs[8], ("maskkey".into(), 10, 14, 80, 32));
    assert_eq!(fs[9].1, 14);
}

#[wasm_bindgen_test]
fn decode_frame_is_null_until_the_header_is_whole() {
    let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f];
    for n in 0..6 {
        assert!(decode_frame(&wire[..n]).unwrap().is_null(), "{n} bytes");
    }
    let f = decode_frame(&wire).unwrap();
    assert!(!boolean(&f, "complete"), "1 of 5 payload bytes");
    assert_eq!(u8s(&f, "unmasked"), b"H");
}

// ---- round trips -------------------------------------------------------------------

#[wasm_bindgen_test]
fn encode_then_decode_round_trips() {
    let lengths = [0usize, 1, 5, 125, 126, 127, 65535, 65536, 70000];
    let opcodes = [0x0u8, 0x1, 0x2, 0x8, 0x9, 0xa];
    let keys = [
        None,
        Some(KEY),
        Some([0, 0, 0, 0]),
        Some([0xff, 1, 0x80, 2]),
    ];
    for (i, &n) in lengths.iter().enumerate() {
        let payload: Vec<u8> = (0..n).map(|j| (j * 31 + i) as u8).collect();
        for (o, &opcode) in opcodes.iter().enumerate() {
            let key = keys[(i + o) % keys.len()];
            let (fin, rsv) = (o % 2 == 0, (i % 8) as u8);
            let wire = encode_frame(opcode, fin, rsv, &payload, key.map(Vec::from)).unwrap();
            let f = decode_frame(&wire).unwrap();
            assert_eq!(num(&f, "opcode") as u8, opcode);
            assert_eq!(boolean(&f, "fin"), fin);
            assert_eq!(num(&f, "rsv") as u8, rsv);
            assert_eq!(num(&f, "payloadLen") as usize, n);
            assert_eq!(num(&f, "frameLen") as usize, wire.len());
            assert_eq!(u8s(&f, "unmasked"), payload, "len {n} op {opcode}");
            let expect_header =
                2 + match n {
                    0..=125 => 0,
                    126..=65535 => 2,
                    _ => 8,
                } + if key.is_some() { 4 } else { 0 };
            assert_eq!(
                num(&f, "headerLen") as usize,
                expect_header,
                "minimal length form"
            );
        }
    }
}

#[wasm_bindgen_test]
fn apply_mask_matches_rfc_5_3_at_any_offset() {
    assert_eq!(
        apply_mask_js(b"Hello", &KEY, 0).unwrap(),
        [0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
    let data: Vec<u8> = (0..=200).collect();
    for offset in 0..9u32 {
        let masked = apply_mask_js(&data, &KEY, offset).unwrap();
        for (i, (&m, &d)) in masked.iter().zip(&data).enumerate() {
            assert_eq!(
                m,
                d ^ KEY[(i + offset as usize) % 4],
                "offset {offset} byte {i}"
            );
        }
        assert_eq!(
            apply_mask_js(&masked, &KEY, offset).unwrap(),
            data,
            "XOR twice"
        );
    }
}

// ---- handshake ---------------------------------------------------------------------

#[wasm_bindgen_test]
fn accept_key_is_rfc_1_3() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[wasm_bindgen_test]
fn client_request_builds_a_4_1_request() {
    let r = client_request("server.example.com", "/chat", b"the sample nonce").unwrap();
    assert_eq!(string(&r, "key"), "dGhlIHNhbXBsZSBub25jZQ==");
    let text = string(&r, "request");
    assert!(text.starts_with("GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"));
    assert!(text.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    assert!(text.ends_with("Sec-WebSocket-Version: 13\r\n\r\n"));
    let parsed = parse_request(text.as_bytes()).unwrap();
    assert_eq!(string(&parsed, "acceptKey"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(string(&parsed, "path"), "/chat");
    assert!(get(&parsed, "origin").is_null());
}

#[wasm_bindgen_test]
fn parse_request_reads_the_rfc_1_2_request() {
    let head = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let r = parse_request(head).unwrap();
    assert_eq!(string(&r, "host"), "server.example.com");
    assert_eq!(string(&r, "origin"), "http://example.com");
    assert_eq!(string(&r, "acceptKey"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(num(&r, "headLen") as usize, head.len());
    let protocols: Array = get(&r, "protocols").unchecked_into();
    assert_eq!(protocols.length(), 2);
    let headers: Array = get(&r, "headers").unchecked_into();
    assert_eq!(headers.length(), 7);
    assert!(
        parse_request(&head[..40]).unwrap().is_null(),
        "partial head"
    );
}

#[wasm_bindgen_test]
fn handshake_errors_carry_their_http_status() {
    let head = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let e = parse_request(head).unwrap_err();
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(string(&e, "name"), "HandshakeError");
    assert_eq!(num(&e, "status"), 426.0);
    assert_eq!(string(&e, "kind"), "UnsupportedVersion");
    let e = parse_request(b"POST / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_err();
    assert_eq!(num(&e, "status"), 400.0);
    assert!(
        client_request("h", "/", &[0; 15]).is_err(),
        "nonce of 15 bytes"
    );
}

// ---- the stepper -------------------------------------------------------------------

/// Pushes every byte and returns the results, or the error and the 0-based index of the
/// byte that raised it.
fn step_all(role: &str, wire: &[u8]) -> Result<Vec<JsValue>, (usize, JsValue)> {
    let mut dec = StepDecoder::new(role, None).unwrap();
    let mut out = Vec::new();
    for (i, &b) in wire.iter().enumerate() {
        out.push(dec.push(b).map_err(|e| (i, e))?);
    }
    Ok(out)
}

#[wasm_bindgen_test]
fn stepper_reads_masked_hello_one_byte_at_a_time() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let steps = step_all("server", &wire).unwrap();
    let events: Vec<String> = steps.iter().map(|s| string(s, "event")).collect();
    assert_eq!(
        events,
        [
            "need-more",
            "need-more",
            "need-more",
            "need-more",
            "need-more",
            "header",
            "payload",
            "payload",
            "payload",
            "payload",
            "payload"
        ]
    );
    // The header bytes wait in `buffered` until the header is whole.
    assert_eq!(u8s(&steps[4], "buffered"), wire[..5]);
    assert!(get(&steps[4], "header").is_null());
    assert_eq!(string(&steps[4], "state"), "header");
    let h = get(&steps[5], "header");
    assert_eq!(num(&h, "payloadLen"), 5.0);
    assert_eq!(u8s(&h, "maskKey"), KEY);
    assert_eq!(string(&steps[5], "state"), "payload");
    assert!(u8s(&steps[5], "buffered").is_empty());
    // Each payload byte comes out unmasked.
    let text: Vec<u8> = steps[6..].iter().flat_map(|s| u8s(s, "data")).collect();
    assert_eq!(text, b"Hello");
    assert_eq!(num(&steps[8], "received"), 3.0);
    assert!(!boolean(&steps[9], "last"));
    let end = &steps[10];
    assert!(boolean(end, "last"));
    assert_eq!(string(end, "state"), "header", "back between frames");
    assert_eq!(num(end, "received"), 5.0);
    assert_eq!(num(end, "offset"), 11.0);
    let m = get(end, "message");
    assert_eq!(string(&m, "type"), "text");
    assert_eq!(string(&m, "text"), "Hello");
    for s in &steps[..10] {
        assert!(get(s, "message").is_null());
    }
}

#[wasm_bindgen_test]
fn stepper_joins_fragments_and_lets_control_frames_interleave() {
    // §5.7 fragmented "Hel" + "lo" from a server, with a ping between the fragments.
    let wire = [
        0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x00, 0x80, 0x02, 0x6c, 0x6f,
    ];
    let steps = step_all("client", &wire).unwrap();
    let messages: Vec<(usize, String)> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !get(s, "message").is_null())
        .map(|(i, s)| (i, string(&get(s, "message"), "type")))
        .collect();
    assert_eq!(messages, [(6, "ping".into()), (10, "text".into())]);
    assert!(
        boolean(&steps[6], "last"),
        "an empty ping ends at its header"
    );
    assert_eq!(string(&steps[6], "event"), "header");
    assert_eq!(string(&get(&steps[10], "message"), "text"), "Hello");
}

#[wasm_bindgen_test]
fn stepper_parses_close_frames() {
    // A client's close 1000 "bye", masked with the §5.7 key.
    let wire = encode_frame(
        0x8,
        true,
        0,
        &[0x03, 0xe8, b'b', b'y', b'e'],
        Some(KEY.to_vec()),
    )
    .unwrap();
    let steps = step_all("server", &wire).unwrap();
    let m = get(steps.last().unwrap(), "message");
    assert_eq!(string(&m, "type"), "close");
    assert_eq!(num(&m, "code"), 1000.0);
    assert_eq!(string(&m, "reason"), "bye");
    let c = parse_close(&[]).unwrap();
    assert!(get(&c, "code").is_null());
}

#[wasm_bindgen_test]
fn stepper_state_and_reset() {
    let mut dec = StepDecoder::new("client", None).unwrap();
    assert_eq!(string(&dec.state(), "state"), "header");
    dec.push(0x82).unwrap();
    dec.push(0x7e).unwrap();
    assert_eq!(u8s(&dec.state(), "buffered"), [0x82, 0x7e]);
    dec.push(0x01).unwrap();
    let s = dec.push(0x00).unwrap();
    assert_eq!(string(&s, "event"), "header");
    assert_eq!(num(&get(&s, "header"), "payloadLen"), 256.0);
    assert_eq!(string(&dec.state(), "state"), "payload");
    assert_eq!(dec.offset(), 4.0);
    dec.reset();
    assert_eq!(dec.offset(), 0.0);
    assert_eq!(string(&dec.state(), "state"), "header");
    assert!(StepDecoder::new("proxy", None).is_err());
}

// ---- errors ------------------------------------------------------------------------

/// A broken frame: (what, role, wire, byte index of the error, close code, kind, a
/// phrase of the RFC reason).
type Broken = (
    &'static str,
    &'static str,
    Vec<u8>,
    usize,
    u16,
    &'static str,
    &'static str,
);

/// The error presets of the page, and a few more.
#[rustfmt::skip]
fn broken_frames() -> Vec<Broken> {
    let k = KEY;
    vec![
        ("unmasked client frame", "server", vec![0x81, 0x05, b'H', b'e', b'l', b'l', b'o'], 1, 1002, "UnmaskedFrame", "§5.1"),
        ("masked server frame", "client", vec![0x81, 0x85, k[0], k[1], k[2], k[3]], 1, 1002, "MaskedFrame", "§5.1"),
        ("reserved opcode 0x3", "server", vec![0x83, 0x80, k[0], k[1], k[2], k[3]], 1, 1002, "ReservedOpcode", "unknown opcode"),
        ("RSV1 without an extension", "server", vec![0xc1, 0x80, k[0], k[1], k[2], k[3]], 1, 1002, "ReservedBits", "MUST be 0 unless"),
        ("fragmented ping", "server", vec![0x09, 0x80, k[0], k[1], k[2], k[3]], 1, 1002, "FragmentedControlFrame", "MUST NOT be fragmented"),
        ("ping of 126 bytes", "server", vec![0x89, 0xfe, 0x00, 0x7e], 1, 1002, "ControlFrameTooLong", "125 bytes or less"),
        ("1-byte close payload", "server", vec![0x88, 0x81, k[0], k[1], k[2], k[3], 0x03 ^ k[0]], 6, 1002, "CloseFrameTooShort", "§5.5.1"),
        ("close code 1005 on the wire", "server", vec![0x88, 0x82, k[0], k[1], k[2], k[3], 0x03 ^ k[0], 0xed ^ k[1]], 7, 1002, "InvalidCloseCode", "§7.4"),
        ("invalid UTF-8", "server", vec![0x81, 0x82, k[0], k[1], k[2], k[3], b'a' ^ k[0], 0xff ^ k[1]], 7, 1007, "InvalidUtf8", "§8.1"),
        ("64-bit length with the top bit set", "client", vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0], 2, 1002, "InvalidPayloadLength", "most significant bit"),
        ("frame over 16 MiB", "client", vec![0x82, 0x7f, 0, 0, 0, 0, 0x01, 0, 0, 1], 9, 1009, "FrameTooLarge", "1009"),
        ("continuation with no message", "client", vec![0x80, 0x00], 1, 1002, "UnexpectedContinuation", "§5.4"),
    ]
}

#[wasm_bindgen_test]
fn stepper_throws_each_error_with_its_close_code_and_rfc_reason() {
    for (what, role, wire, at, code, kind, phrase) in broken_frames() {
        let (i, e) = step_all(role, &wire).expect_err(what);
        assert_eq!(i, at, "{what}: the byte that makes the error certain");
        let (c, reason, k) = protocol_error(e);
        assert_eq!(c, code, "{what}");
        assert_eq!(k, kind, "{what}");
        assert!(reason.contains(phrase), "{what}: {reason}");
    }
}

#[wasm_bindgen_test]
fn a_failed_stepper_stays_failed_until_reset() {
    let mut dec = StepDecoder::new("server", None).unwrap();
    dec.push(0x81).unwrap();
    let (code, ..) = protocol_error(dec.push(0x05).unwrap_err());
    assert_eq!(code, 1002);
    let (again, ..) = protocol_error(dec.push(0x00).unwrap_err());
    assert_eq!(again, 1002);
    dec.reset();
    assert_eq!(string(&dec.push(0x81).unwrap(), "event"), "need-more");
}

#[wasm_bindgen_test]
fn header_errors_are_thrown_by_decode_frame_and_parse_close() {
    let (code, reason, kind) =
        protocol_error(decode_frame(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]).unwrap_err());
    assert_eq!((code, kind.as_str()), (1002, "InvalidPayloadLength"));
    assert!(reason.starts_with("§5.2"));
    let (code, _, kind) = protocol_error(decode_frame(&[0x8b, 0x00]).unwrap_err());
    assert_eq!((code, kind.as_str()), (1002, "ReservedOpcode"));
    let (code, _, kind) = protocol_error(parse_close(&[0x03]).unwrap_err());
    assert_eq!((code, kind.as_str()), (1002, "CloseFrameTooShort"));
    let (code, ..) = protocol_error(parse_close(&[0x03, 0xe8, 0xc3]).unwrap_err());
    assert_eq!(code, 1007);
}

#[wasm_bindgen_test]
fn misuse_is_a_range_error() {
    let e = encode_frame(0x3, true, 0, b"", None).unwrap_err();
    assert!(e.is_instance_of::<js_sys::RangeError>(), "reserved opcode");
    let e = encode_frame(0x1, true, 8, b"", None).unwrap_err();
    assert!(e.is_instance_of::<js_sys::RangeError>(), "rsv of 4 bits");
    let e = encode_frame(0x1, true, 0, b"", Some(vec![1, 2, 3])).unwrap_err();
    assert!(e.is_instance_of::<js_sys::RangeError>(), "3-byte key");
    let e = apply_mask_js(b"x", &[1, 2, 3, 4, 5], 0).unwrap_err();
    assert!(e.is_instance_of::<js_sys::RangeError>(), "5-byte key");
}

/// The page's one table of close codes is the codec's (`CloseCode::description`), and a
/// protocol error carries the description of its code.
#[wasm_bindgen_test]
fn close_codes_are_described_by_the_codec() {
    assert_eq!(close_code_description(1002), "Protocol error");
    assert_eq!(close_code_description(1006), "Abnormal Closure");
    assert_eq!(close_code_description(4000), "private use");
    assert_eq!(close_code_name(1001).as_deref(), Some("Going Away"));
    assert_eq!(close_code_name(4000), None);
    let e = decode_frame(&[0x83, 0x00]).unwrap_err();
    assert_eq!(num(&e, "closeCode"), 1002.0);
    assert_eq!(string(&e, "closeDescription"), "Protocol error");
    assert_eq!(string(&e, "kind"), "ReservedOpcode");
}

// ---- permessage-deflate (RFC 7692) -------------------------------------------------------

fn byte_array(v: &JsValue, name: &str) -> Vec<u8> {
    Uint8Array::new(&get(v, name)).to_vec()
}

/// RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello" compressed, then again with the first one's
/// window (a back-reference into the previous message); §7.2.3.3: a stored block.
#[wasm_bindgen_test]
fn inflater_reads_the_rfc_7692_examples() {
    let mut takeover = Inflater::new(true);
    assert_eq!(
        takeover
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true)
            .unwrap(),
        b"Hello"
    );
    assert_eq!(
        takeover
            .inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], true)
            .unwrap(),
        b"Hello"
    );
    let mut fresh = Inflater::new(false);
    let stored = [
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    assert_eq!(fresh.inflate(&stored, true).unwrap(), b"Hello");
    // Two fragments of one message (§7.2.3.1's bytes split): the first gives what it can.
    let first = fresh.inflate(&[0xf2, 0x48, 0xcd], false).unwrap();
    let rest = fresh.inflate(&[0xc9, 0xc9, 0x07, 0x00], true).unwrap();
    assert_eq!([first, rest].concat(), b"Hello");
    // BTYPE 11 is reserved (RFC 1951 §3.2.3): 1007, as Autobahn 12/13 expect.
    let (code, _, kind) = protocol_error(fresh.inflate(&[0x07, 0x00], true).unwrap_err());
    assert_eq!((code, kind.as_str()), (1007, "InvalidCompressedData"));
}

/// What the page's composer shows: the deflated payload and the removed tail, which the
/// inflater puts back.
#[wasm_bindgen_test]
fn deflate_message_round_trips_through_the_inflater() {
    let text = br#"{"type":"message","from":"wisp","text":"hello hello hello hello"}"#;
    for bits in 8..=15 {
        let d = deflate_message(text, bits).unwrap();
        assert_eq!(byte_array(&d, "tail"), [0x00, 0x00, 0xff, 0xff]);
        let compressed = byte_array(&d, "compressed");
        assert_eq!(num(&d, "compressedLen") as usize, compressed.len());
        assert_eq!(num(&d, "inputLen") as usize, text.len());
        assert!(compressed.len() < text.len(), "window {bits}");
        assert_eq!(
            Inflater::new(false).inflate(&compressed, true).unwrap(),
            text
        );
    }
    assert!(deflate_message(b"x", 16)
        .unwrap_err()
        .is_instance_of::<js_sys::RangeError>());
}

/// The stepper with permessage-deflate: RSV1 = 1 is a compressed message (the RFC 7692
/// §7.2.3.1 frame), which without the extension is 1002.
#[wasm_bindgen_test]
fn stepper_inflates_a_compressed_frame() {
    let wire = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut dec = StepDecoder::new("client", Some(false)).unwrap();
    let mut last = JsValue::NULL;
    for &b in &wire {
        last = dec.push(b).unwrap();
    }
    let message = get(&last, "message");
    assert_eq!(string(&message, "text"), "Hello");
    let header = get(&last, "header");
    assert_eq!(num(&header, "rsv"), 4.0);
    let (code, ..) = protocol_error(step_all("client", &wire).unwrap_err().1);
    assert_eq!(code, 1002);
}

/// The handshake panel's reading of the negotiated parameters, as a client checks them.
#[wasm_bindgen_test]
fn negotiated_deflate_checks_the_answer_against_the_offer() {
    let chromium = "permessage-deflate; client_max_window_bits";
    let p = negotiated_deflate(chromium, "permessage-deflate; server_no_context_takeover").unwrap();
    assert!(boolean(&p, "serverNoContextTakeover"));
    assert!(!boolean(&p, "clientNoContextTakeover"));
    assert_eq!(num(&p, "serverMaxWindowBits"), 15.0);
    assert_eq!(num(&p, "clientMaxWindowBits"), 15.0);
    assert_eq!(string(&p, "offer"), chromium);
    assert_eq!(
        string(&p, "header"),
        "permessage-deflate; server_no_context_takeover"
    );
    assert!(negotiated_deflate(chromium, "").unwrap().is_null());
    // Not allowed by the offer (no client_max_window_bits offered) and malformed.
    assert!(negotiated_deflate(
        "permessage-deflate",
        "permessage-deflate; client_max_window_bits=10"
    )
    .is_err());
    assert!(negotiated_deflate(chromium, "permessage-deflate; =").is_err());
}
