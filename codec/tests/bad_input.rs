//! Every row of ARCHITECTURE.md's bad-input table that the codec decides, with the exact
//! close code on the wire or HTTP status.

use wisp_codec::handshake::{parse_request, ClientRequest, RequestError, ResponseError};
use wisp_codec::{CloseCode, CloseFrame, Config, Connection, Message, ProtocolError, Role, State};

/// Masks `payload` with a fixed key and builds a client frame from raw first bytes.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0xa1, 0xb2, 0xc3, 0xd4];
    let mut f = vec![b0];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=65535 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Feeds `input` to a server connection and returns (events before the error, error,
/// the close frame the server put on the wire).
fn server_fails(config: Config, input: &[u8]) -> (Vec<Message>, ProtocolError, CloseFrame) {
    let mut server = Connection::server(config);
    server.handle_input(input);
    let mut events = Vec::new();
    let err = loop {
        match server.poll_event() {
            Ok(Some(m)) => events.push(m),
            Ok(None) => panic!("no error for {input:02x?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(server.state(), State::Closed);
    // The last frame on the wire is the close with the error's code.
    let mut client = Connection::client(Config::default(), || [0; 4]);
    client.handle_input(server.pending_output_front());
    let mut close = None;
    while let Ok(Some(m)) = client.poll_event() {
        if let Message::Close(f) = m {
            close = f;
        }
    }
    let close = close.expect("a close frame with a code");
    assert_eq!(close.code, err.close_code());
    (events, err, close)
}

fn code_for(input: &[u8]) -> u16 {
    server_fails(Config::default(), input).2.code.0
}

// ---- close 1002 -------------------------------------------------------------------

#[test]
fn unmasked_client_frame_is_1002() {
    assert_eq!(code_for(&[0x81, 0x02, b'h', b'i']), 1002);
}

#[test]
fn masked_server_frame_is_1002_for_a_client() {
    let mut client = Connection::client(Config::default(), || [9; 4]);
    client.handle_input(&client_frame(0x81, b"hi"));
    assert_eq!(client.poll_event(), Err(ProtocolError::MaskedFrame));
    assert_eq!(
        client.error().unwrap().close_code(),
        CloseCode::PROTOCOL_ERROR
    );
}

#[test]
fn rsv_bits_without_extension_are_1002() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        assert_eq!(
            code_for(&client_frame(0x81 | rsv, b"x")),
            1002,
            "rsv {rsv:#x}"
        );
    }
}

#[test]
fn reserved_opcodes_are_1002() {
    for op in [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        assert_eq!(
            code_for(&client_frame(0x80 | op, b"")),
            1002,
            "opcode {op:#x}"
        );
    }
}

#[test]
fn bad_control_frames_are_1002() {
    // Fragmented ping (§5.5: control frames MUST NOT be fragmented).
    assert_eq!(code_for(&client_frame(0x09, b"")), 1002);
    // Ping payload over 125 bytes.
    assert_eq!(code_for(&client_frame(0x89, &[0; 126])), 1002);
    // A 1-byte close payload.
    assert_eq!(code_for(&client_frame(0x88, &[0x03])), 1002);
}

#[test]
fn bad_continuations_are_1002() {
    // A continuation with nothing to continue.
    assert_eq!(code_for(&client_frame(0x80, b"x")), 1002);
    // A new text frame inside a fragmented message.
    let mut input = client_frame(0x01, b"a");
    input.extend(client_frame(0x81, b"b"));
    assert_eq!(code_for(&input), 1002);
}

#[test]
fn invalid_close_codes_are_1002() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        assert_eq!(
            code_for(&client_frame(0x88, &code.to_be_bytes())),
            1002,
            "code {code}"
        );
    }
    for code in [1000u16, 1003, 1007, 1014, 3000, 4999] {
        let mut server = Connection::server(Config::default());
        server.handle_input(&client_frame(0x88, &code.to_be_bytes()));
        assert!(
            matches!(server.poll_event(), Ok(Some(Message::Close(Some(f)))) if f.code.0 == code)
        );
    }
}

#[test]
fn top_bit_of_64_bit_length_is_1002() {
    let mut f = vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
    f.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(code_for(&f), 1002);
}

// ---- close 1007 -------------------------------------------------------------------

#[test]
fn invalid_utf8_text_is_1007() {
    assert_eq!(code_for(&client_frame(0x81, &[0xce, 0xba, 0xff])), 1007);
}

#[test]
fn invalid_utf8_close_reason_is_1007() {
    assert_eq!(
        code_for(&client_frame(0x88, &[0x03, 0xe8, 0xc0, 0xaf])),
        1007
    );
}

/// Fail fast: the first fragment of a message that can never be valid fails the
/// connection before the rest arrives (Autobahn 6.4.x).
#[test]
fn invalid_utf8_fails_in_the_first_fragment() {
    let mut server = Connection::server(Config::default());
    // Fragment 1 of a text message is "κόσμε" + 0xed 0xa0 (a surrogate: impossible).
    let mut bad = "κόσμε".as_bytes().to_vec();
    bad.extend_from_slice(&[0xed, 0xa0]);
    server.handle_input(&client_frame(0x01, &bad));
    assert_eq!(server.poll_event(), Err(ProtocolError::InvalidUtf8));
    // And inside a single frame whose tail has not arrived yet.
    let mut server = Connection::server(Config::default());
    let mut frame = client_frame(0x81, &[b'a'; 200]);
    frame[8 + 4] ^= 0xff ^ b'a'; // byte 4 of the payload becomes 0xff, rest not sent
    server.handle_input(&frame[..8 + 10]);
    assert_eq!(server.poll_event(), Err(ProtocolError::InvalidUtf8));
}

/// A code point split across fragments is valid.
#[test]
fn code_point_split_across_fragments_is_valid() {
    let euro = "€".as_bytes();
    let mut input = client_frame(0x01, &euro[..1]);
    input.extend(client_frame(0x00, &euro[1..2]));
    input.extend(client_frame(0x80, &euro[2..]));
    let mut server = Connection::server(Config::default());
    server.handle_input(&input);
    assert_eq!(server.poll_event(), Ok(Some(Message::Text("€".into()))));
}

/// A message that ends inside a code point is invalid.
#[test]
fn truncated_code_point_at_message_end_is_1007() {
    assert_eq!(code_for(&client_frame(0x81, &[b'a', 0xe2, 0x82])), 1007);
}

// ---- close 1009 -------------------------------------------------------------------

/// A header that claims 2^63 - 1 bytes is refused from the header alone.
#[test]
fn huge_frame_header_is_1009_before_allocation() {
    let mut f = vec![0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    f.extend_from_slice(&[1, 2, 3, 4]);
    let (_, err, close) = server_fails(Config::default(), &f);
    assert_eq!(
        err,
        ProtocolError::FrameTooLarge {
            len: u64::MAX >> 1,
            max: 16 << 20
        }
    );
    assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn message_over_the_limit_is_1009_at_the_fragment_that_crosses_it() {
    let config = Config {
        max_message_size: 1000,
        ..Config::default()
    };
    let mut input = client_frame(0x02, &[0; 600]);
    input.extend(client_frame(0x00, &[0; 300]));
    // This header alone pushes the message to 1100 bytes: refused before its payload.
    let mut third = client_frame(0x80, &[0; 200]);
    third.truncate(8); // header only: 2 + 2 (16-bit length) + 4 (key)
    input.extend(third);
    let (events, err, close) = server_fails(config, &input);
    assert!(events.is_empty());
    assert_eq!(
        err,
        ProtocolError::MessageTooLarge {
            len: 1100,
            max: 1000
        }
    );
    assert_eq!(close.code.0, 1009);
}

// ---- order: answers to good frames come before the failure --------------------------

#[test]
fn frames_before_a_bad_one_are_answered_first() {
    let mut input = client_frame(0x81, b"one");
    input.extend(client_frame(0x89, b"ping"));
    input.extend(client_frame(0x81, b"two"));
    input.extend(client_frame(0x81, &[0xff]));
    let mut server = Connection::server(Config::default());
    server.handle_input(&input);
    let mut seen = Vec::new();
    let err = loop {
        match server.poll_event() {
            Ok(Some(Message::Text(t))) => {
                server.send_text(&t).unwrap(); // echo, as /echo does
                seen.push(t);
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("expected an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(err, ProtocolError::InvalidUtf8);
    assert_eq!(seen, ["one", "two"]);
    let mut client = Connection::client(Config::default(), || [0; 4]);
    client.handle_input(server.pending_output_front());
    let mut wire = Vec::new();
    while let Ok(Some(m)) = client.poll_event() {
        wire.push(m);
    }
    assert_eq!(wire[0], Message::Text("one".into()));
    assert_eq!(wire[1], Message::Pong(b"ping".to_vec()));
    assert_eq!(wire[2], Message::Text("two".into()));
    assert!(matches!(&wire[3], Message::Close(Some(f)) if f.code.0 == 1007));
    assert_eq!(wire.len(), 4);
}

// ---- HTTP statuses of the opening handshake -----------------------------------------

const GOOD: &str = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\n\
    Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn status_of(head: &str) -> Result<(), u16> {
    let (req, _) = parse_request(head.as_bytes(), 8192)
        .map_err(|e| e.status())?
        .expect("complete head");
    req.validate().map(|_| ()).map_err(|e| e.status())
}

#[test]
fn a_valid_request_passes() {
    assert_eq!(status_of(GOOD), Ok(()));
    // Header names and the upgrade tokens are case-insensitive.
    assert_eq!(
        status_of(&GOOD.replace("Upgrade: websocket", "upgrade: WebSocket")),
        Ok(())
    );
}

#[test]
fn invalid_upgrade_requests_are_400() {
    let cases = [
        GOOD.replace("GET", "POST"),
        GOOD.replace("HTTP/1.1", "HTTP/1.0"),
        GOOD.replace("Host: 127.0.0.1:9001\r\n", ""),
        GOOD.replace("Upgrade: websocket\r\n", ""),
        GOOD.replace("Upgrade: websocket", "Upgrade: h2c"),
        GOOD.replace("keep-alive, Upgrade", "keep-alive"),
        GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
        GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "not base64 at all!!!!!!!"),
        GOOD.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
        GOOD.replace("Sec-WebSocket-Version: 13\r\n", ""),
        "GARBAGE\r\n\r\n".to_string(),
        GOOD.replace("Host:", "Host :"),
    ];
    for head in cases {
        assert_eq!(status_of(&head), Err(400), "{head:?}");
    }
}

#[test]
fn other_versions_are_426_with_the_supported_version() {
    let head = GOOD.replace("Version: 13", "Version: 8");
    assert_eq!(status_of(&head), Err(426));
    let response = RequestError::UnsupportedVersion.response();
    let text = String::from_utf8(response).unwrap();
    assert!(text.starts_with("HTTP/1.1 426 "));
    assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
}

#[test]
fn oversized_heads_are_431() {
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
    assert_eq!(
        parse_request(big.as_bytes(), 8192),
        Err(RequestError::HeadTooLarge)
    );
    assert_eq!(RequestError::HeadTooLarge.status(), 431);
}

#[test]
fn refused_origin_is_403() {
    assert_eq!(RequestError::OriginRefused.status(), 403);
    assert!(RequestError::OriginRefused
        .response()
        .starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
}

/// Bytes that arrive after the head go to the frame decoder, never lost.
#[test]
fn bytes_after_the_head_are_frames() {
    let mut buf = GOOD.as_bytes().to_vec();
    buf.extend(client_frame(0x81, b"early"));
    let (_, n) = parse_request(&buf, 8192).unwrap().unwrap();
    let mut server = Connection::server(Config::default());
    server.handle_input(&buf[n..]);
    assert_eq!(server.poll_event(), Ok(Some(Message::Text("early".into()))));
}

/// The client refuses responses that break §4.1.
#[test]
fn client_checks_the_response() {
    let req = ClientRequest::new("h", "/", *b"the sample nonce").protocol("chat");
    let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    let parse = |extra: &str| {
        req.parse_response(format!("{ok}{extra}\r\n").as_bytes(), 8192)
            .map(|r| r.unwrap().0.protocol)
    };
    assert_eq!(parse(""), Ok(None));
    assert_eq!(
        parse("Sec-WebSocket-Protocol: chat\r\n"),
        Ok(Some("chat".into()))
    );
    assert_eq!(
        parse("Sec-WebSocket-Protocol: other\r\n"),
        Err(ResponseError::UnexpectedSubprotocol)
    );
    assert_eq!(
        parse("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        Err(ResponseError::UnexpectedExtension)
    );
    let bad_accept = ok.replace("s3pP", "AAAA");
    assert_eq!(
        req.parse_response(format!("{bad_accept}\r\n").as_bytes(), 8192),
        Err(ResponseError::AcceptMismatch)
    );
    assert_eq!(
        req.parse_response(b"HTTP/1.1 403 Forbidden\r\n\r\n", 8192),
        Err(ResponseError::NotSwitchingProtocols(403))
    );
    let _ = Role::Client;
}
