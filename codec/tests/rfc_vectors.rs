//! RFC 6455 test vectors, verbatim: the §1.3 accept key and every example frame of §5.7,
//! decoded and re-encoded byte for byte.

use wisp_codec::handshake::accept_key;
use wisp_codec::internals::{decode_header, Decoded, FrameDecoder};
use wisp_codec::{Config, Connection, FrameHeader, Message, OpCode, ProtocolError, Role};

/// Decodes one whole frame with a fresh decoder and returns its header and payload.
fn decode_one(role: Role, bytes: &[u8]) -> (FrameHeader, Vec<u8>) {
    let mut buf = bytes.to_vec();
    let mut dec = FrameDecoder::new(role, u64::MAX >> 1);
    let (n, ev) = dec.decode(&mut buf).unwrap();
    let Decoded::Header(h) = ev else {
        panic!("expected a header, got {ev:?}")
    };
    let mut payload = Vec::new();
    let mut at = n;
    loop {
        let (m, ev) = dec.decode(&mut buf[at..]).unwrap();
        at += m;
        match ev {
            Decoded::Payload { data, last } => {
                payload.extend_from_slice(data);
                if last {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(at, bytes.len(), "the frame uses every byte");
    (h, payload)
}

/// Re-encodes a decoded frame the way the RFC example was built.
fn encode(h: &FrameHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    h.encode_to_vec(&mut out);
    let mut body = payload.to_vec();
    if let Some(key) = h.mask {
        wisp_codec::apply_mask(&mut body, key, 0);
    }
    out.extend_from_slice(&body);
    out
}

fn check(
    role: Role,
    bytes: &[u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let (h, p) = decode_one(role, bytes);
    assert_eq!(h.fin, fin);
    assert_eq!(h.rsv, 0);
    assert_eq!(h.opcode, opcode);
    assert_eq!(h.mask, mask);
    assert_eq!(h.payload_len, payload.len() as u64);
    assert_eq!(p, payload);
    assert_eq!(encode(&h, &p), bytes, "re-encoded byte for byte");
}

/// §1.3: the accept value for "dGhlIHNhbXBsZSBub25jZQ==".
#[test]
fn s1_3_accept_key() {
    assert_eq!(
        &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

/// §5.7: "A single-frame unmasked text message (contains "Hello")"
#[test]
fn s5_7_unmasked_text() {
    let frame = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    check(Role::Client, &frame, true, OpCode::Text, None, b"Hello");
}

/// §5.7: "A single-frame masked text message (contains "Hello")"
#[test]
fn s5_7_masked_text() {
    let frame = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    check(
        Role::Server,
        &frame,
        true,
        OpCode::Text,
        Some([0x37, 0xfa, 0x21, 0x3d]),
        b"Hello",
    );
}

/// §5.7: "A fragmented unmasked text message": "Hel" then "lo", reassembled.
#[test]
fn s5_7_fragmented_text() {
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let second = [0x80, 0x02, 0x6c, 0x6f];
    check(Role::Client, &first, false, OpCode::Text, None, b"Hel");
    check(
        Role::Client,
        &second,
        true,
        OpCode::Continuation,
        None,
        b"lo",
    );
    let mut client = Connection::client(Config::default(), || [0; 4]);
    client.handle_input(&first);
    assert_eq!(client.poll_event(), Ok(None));
    client.handle_input(&second);
    assert_eq!(client.poll_event(), Ok(Some(Message::Text("Hello".into()))));
}

/// §5.7: "Unmasked Ping request and masked Ping response" (the response is a Pong).
#[test]
fn s5_7_ping_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    check(Role::Client, &ping, true, OpCode::Ping, None, b"Hello");
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    check(
        Role::Server,
        &pong,
        true,
        OpCode::Pong,
        Some([0x37, 0xfa, 0x21, 0x3d]),
        b"Hello",
    );
    // A client with that masking key answers the ping with exactly that pong.
    let mut client = Connection::client(Config::default(), || [0x37, 0xfa, 0x21, 0x3d]);
    client.handle_input(&ping);
    assert_eq!(
        client.poll_event(),
        Ok(Some(Message::Ping(b"Hello".to_vec())))
    );
    assert_eq!(client.pending_output_front(), pong);
}

/// §5.7: "256 bytes binary message in a single unmasked frame": 0x82 0x7E 0x0100.
#[test]
fn s5_7_256_bytes_16_bit_length() {
    let payload: Vec<u8> = (0..=255).collect();
    let mut frame = vec![0x82, 0x7e, 0x01, 0x00];
    frame.extend_from_slice(&payload);
    check(Role::Client, &frame, true, OpCode::Binary, None, &payload);
}

/// §5.7: "64KiB binary message in a single unmasked frame": 0x82 0x7F 0x0000000000010000.
#[test]
fn s5_7_64_kib_64_bit_length() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
    let mut frame = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    frame.extend_from_slice(&payload);
    check(Role::Client, &frame, true, OpCode::Binary, None, &payload);
}

/// §5.2: the encoder always uses the minimal length form, at every boundary.
#[test]
fn s5_2_minimal_length_forms() {
    for (len, header_len) in [
        (0u64, 2),
        (125, 2),
        (126, 4),
        (65535, 4),
        (65536, 10),
        (u64::MAX >> 1, 10),
    ] {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: None,
            payload_len: len,
        };
        let mut out = [0; 14];
        assert_eq!(h.encode(&mut out), header_len, "len {len}");
        assert_eq!(decode_header(&out[..header_len]), Ok(Some((h, header_len))));
    }
}

/// §5.2: "the most significant bit MUST be 0" in the 64-bit length.
#[test]
fn s5_2_64_bit_length_top_bit_is_an_error() {
    let frame = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode_header(&frame),
        Err(ProtocolError::InvalidPayloadLength)
    );
}
