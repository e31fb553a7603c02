//! permessage-deflate (RFC 7692): negotiation, framing, bounded inflate, and a DEFLATE
//! stream walker that checks every back-reference we emit against the agreed window.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use wisp_codec::extension::{
    parse_extensions, DeflateOffer, DeflateParams, ParamError, ServerDeflate,
};
use wisp_codec::handshake::{parse_request, ClientRequest, Response, ResponseError};
use wisp_codec::{
    CloseCode, Config, Connection, DeflatePool, Message, OpCode, PreparedMessage, ProtocolError,
    UsageError,
};

// ---- a DEFLATE walker (RFC 1951) -------------------------------------------------------

struct Bits<'a> {
    data: &'a [u8],
    pos: usize, // in bits
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(b))
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for i in 0..n {
            v |= self.bit()? << i;
        }
        Some(v)
    }
}

/// Canonical Huffman decoding table: (code length counts, symbols in code order).
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut counts = [0u16; 16];
        for &l in lengths {
            counts[l as usize] += 1;
        }
        counts[0] = 0;
        let mut offs = [0u16; 16];
        for i in 1..16 {
            offs[i] = offs[i - 1] + counts[i - 1];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbols[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        Huffman { counts, symbols }
    }
    fn decode(&self, b: &mut Bits<'_>) -> Option<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= b.bit()? as i32;
            let count = i32::from(self.counts[len]);
            if code - count < first {
                return self.symbols.get((index + code - first) as usize).copied();
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        None
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u32; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Walks a raw DEFLATE stream (all blocks until the input ends) and returns the
/// decompressed bytes and the largest back-reference distance in it. `None`: malformed.
fn walk(data: &[u8]) -> Option<(Vec<u8>, u32)> {
    walk_after(&[], data)
}

/// [`walk`] of a message whose references may reach into `history`, the messages
/// before it (context takeover).
fn walk_after(history: &[u8], data: &[u8]) -> Option<(Vec<u8>, u32)> {
    let mut b = Bits { data, pos: 0 };
    let mut out: Vec<u8> = history.to_vec();
    let mut max_dist = 0;
    while b.pos + 3 <= data.len() * 8 {
        let last = b.bit()?;
        let kind = b.bits(2)?;
        match kind {
            0 => {
                b.pos = b.pos.div_ceil(8) * 8;
                let len = b.bits(16)?;
                let nlen = b.bits(16)?;
                if len != !nlen & 0xffff {
                    return None;
                }
                for _ in 0..len {
                    out.push(b.bits(8)? as u8);
                }
            }
            1 | 2 => {
                let (lit, dist) = if kind == 1 {
                    let mut l = [8u8; 288];
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    (Huffman::new(&l), Huffman::new(&[5u8; 30]))
                } else {
                    let hlit = b.bits(5)? as usize + 257;
                    let hdist = b.bits(5)? as usize + 1;
                    let hclen = b.bits(4)? as usize + 4;
                    const ORDER: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &o in &ORDER[..hclen] {
                        cl[o] = b.bits(3)? as u8;
                    }
                    let clh = Huffman::new(&cl);
                    let mut lengths = Vec::new();
                    while lengths.len() < hlit + hdist {
                        match clh.decode(&mut b)? {
                            s @ 0..=15 => lengths.push(s as u8),
                            16 => {
                                let prev = *lengths.last()?;
                                for _ in 0..3 + b.bits(2)? {
                                    lengths.push(prev);
                                }
                            }
                            17 => lengths.extend(std::iter::repeat_n(0, 3 + b.bits(3)? as usize)),
                            _ => lengths.extend(std::iter::repeat_n(0, 11 + b.bits(7)? as usize)),
                        }
                    }
                    (
                        Huffman::new(&lengths[..hlit]),
                        Huffman::new(&lengths[hlit..hlit + hdist]),
                    )
                };
                loop {
                    let sym = lit.decode(&mut b)?;
                    match sym {
                        0..=255 => out.push(sym as u8),
                        256 => break,
                        _ => {
                            let i = usize::from(sym - 257);
                            let len = LEN_BASE.get(i)? + b.bits(u32::from(LEN_EXTRA[i]))? as u16;
                            let d = usize::from(dist.decode(&mut b)?);
                            let d = DIST_BASE.get(d)? + b.bits(u32::from(DIST_EXTRA[d]))?;
                            max_dist = max_dist.max(d);
                            let start = out.len().checked_sub(d as usize)?;
                            for k in 0..len as usize {
                                out.push(out[start + k]);
                            }
                        }
                    }
                }
            }
            _ => return None,
        }
        if last == 1 {
            break;
        }
    }
    Some((out[history.len()..].to_vec(), max_dist))
}

// ---- negotiation -------------------------------------------------------------------------

#[test]
fn parses_several_offers_with_quoted_values() {
    let v = "permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", \
             permessage-deflate ,x-webkit-deflate-frame";
    let e = parse_extensions(v).unwrap();
    assert_eq!(e.len(), 3);
    let o = DeflateOffer::from_extension(&e[0]).unwrap();
    assert_eq!(o.server_max_window_bits, Some(10));
    assert_eq!(o.client_max_window_bits, Some(None));
    assert_eq!(
        DeflateOffer::from_extension(&e[1]).unwrap(),
        DeflateOffer::default()
    );
    assert_eq!(e[2].name, "x-webkit-deflate-frame");
    for bad in [
        "permessage-deflate; a=\"b",
        "a;;",
        "a b",
        "a; b=",
        "a; b=\"\"",
        "; a",
    ] {
        assert!(parse_extensions(bad).is_err(), "{bad}");
    }
}

#[test]
fn invalid_offers_are_declined_and_the_next_one_taken() {
    let s = ServerDeflate::default();
    let cases = [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_max_window_bits=1a",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; unknown_parameter",
    ];
    for bad in cases {
        assert_eq!(s.negotiate(bad), None, "{bad}");
        let two = format!("{bad}, permessage-deflate; server_max_window_bits=9");
        assert_eq!(
            s.negotiate(&two).unwrap().0.server_max_window_bits,
            9,
            "{two}"
        );
    }
    let e = &parse_extensions("permessage-deflate; x=1; x=2").unwrap()[0];
    assert_eq!(
        DeflateOffer::from_extension(e),
        Err(ParamError::Unknown("x".into()))
    );
}

#[test]
fn server_choice_honours_each_parameter() {
    let s = ServerDeflate {
        server_no_context_takeover: false,
        ..ServerDeflate::default()
    };
    let p = s
        .negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11")
        .unwrap()
        .0;
    assert_eq!(
        p,
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 9,
            client_max_window_bits: 11,
        }
    );
    assert_eq!(
        p.to_header(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11"
    );
    // A client_max_window_bits the client did not offer is never answered.
    let limiting = ServerDeflate {
        client_max_window_bits: Some(10),
        ..s
    };
    assert_eq!(
        limiting
            .negotiate("permessage-deflate")
            .unwrap()
            .0
            .client_max_window_bits,
        15
    );
    assert_eq!(
        limiting
            .negotiate("permessage-deflate; client_max_window_bits")
            .unwrap()
            .0
            .client_max_window_bits,
        10
    );
}

/// The server's default is the shared mode: it adds `client_no_context_takeover` to an
/// offer without it (RFC 7692 §7.1.1.2), and the client accepts that answer as well as
/// the dedicated one (takeover both ways).
#[test]
fn shared_mode_is_the_default_and_the_client_accepts_both_modes() {
    let offer = DeflateOffer {
        client_max_window_bits: Some(None),
        ..DeflateOffer::default()
    };
    let (p, header) = ServerDeflate::default()
        .negotiate(&offer.to_header())
        .unwrap();
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    assert_eq!(
        header,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    let dedicated = ServerDeflate {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        ..ServerDeflate::default()
    };
    let (d, dedicated_header) = dedicated.negotiate(&offer.to_header()).unwrap();
    assert_eq!(d, DeflateParams::default());
    for (answer, agreed) in [(header, p), (dedicated_header, d)] {
        let e = &parse_extensions(&answer).unwrap()[0];
        assert_eq!(offer.check_response(e), Ok(agreed), "{answer}");
    }
}

#[test]
fn client_checks_the_response_against_its_offer() {
    let offer = DeflateOffer {
        client_max_window_bits: Some(None),
        ..DeflateOffer::default()
    };
    let req = ClientRequest::new("h", "/", [3; 16]).deflate(offer);
    let head = String::from_utf8(req.to_bytes()).unwrap();
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    );
    // The server side reads the same offer back.
    let (r, _) = parse_request(head.as_bytes(), 4096).unwrap().unwrap();
    let o = r.validate().unwrap();
    assert_eq!(o.extensions, "permessage-deflate; client_max_window_bits");
    let check = |ext: &str| {
        req.parse_response(&Response::new(req.key()).extensions(ext).to_bytes(), 4096)
            .map(|r| r.unwrap().0.deflate)
    };
    let p = check("permessage-deflate; client_max_window_bits=9; server_no_context_takeover")
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.client_max_window_bits, p.server_no_context_takeover),
        (9, true)
    );
    assert_eq!(
        check("permessage-deflate; server_max_window_bits=8")
            .unwrap()
            .unwrap()
            .server_max_window_bits,
        8
    );
    assert_eq!(
        check("permessage-deflate; client_max_window_bits"),
        Err(ResponseError::DeflateParams(ParamError::InvalidValue(
            "client_max_window_bits".into()
        )))
    );
    assert_eq!(
        check("permessage-deflate; foo"),
        Err(ResponseError::DeflateParams(ParamError::Unknown(
            "foo".into()
        )))
    );
    assert_eq!(check("x-other"), Err(ResponseError::UnexpectedExtension));
    assert_eq!(
        check("permessage-deflate, permessage-deflate"),
        Err(ResponseError::UnexpectedExtension)
    );
    // Without an offer, any extension is refused; the error names the parameter.
    let plain = ClientRequest::new("h", "/", [3; 16]);
    let resp = Response::new(plain.key())
        .extensions("permessage-deflate")
        .to_bytes();
    assert_eq!(
        plain.parse_response(&resp, 4096),
        Err(ResponseError::UnexpectedExtension)
    );
    let bounded = DeflateOffer {
        server_max_window_bits: Some(10),
        ..DeflateOffer::default()
    };
    let e = &parse_extensions("permessage-deflate; server_max_window_bits=12").unwrap()[0];
    let err = bounded.check_response(e).unwrap_err();
    assert_eq!(err, ParamError::NotAllowed("server_max_window_bits".into()));
    assert!(ResponseError::DeflateParams(err)
        .to_string()
        .contains("server_max_window_bits"));
}

// ---- framing -----------------------------------------------------------------------------

fn pair(params: DeflateParams, config: Config) -> (Connection, Connection) {
    let mut n = 0u8;
    let mut client = Connection::client(config, move || {
        n = n.wrapping_add(37);
        [n, 1, n, 2]
    });
    let mut server = Connection::server(config);
    client.set_deflate(params);
    server.set_deflate(params);
    (client, server)
}

fn take_output(c: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut parts: [&[u8]; 8] = [&[]; 8];
    let n = c.pending_output_slices(&mut parts);
    for p in &parts[..n] {
        out.extend_from_slice(p);
    }
    c.advance_output(usize::MAX);
    out
}

/// Splits one frame off the front of the wire: (first byte, payload unmasked, rest).
fn frames(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let (h, n) = wisp_codec::internals::decode_header(wire).unwrap().unwrap();
        let mut payload = wire[n..n + h.payload_len as usize].to_vec();
        if let Some(k) = h.mask {
            wisp_codec::apply_mask(&mut payload, k, 0);
        }
        out.push((wire[0], payload));
        wire = &wire[n + h.payload_len as usize..];
    }
    out
}

fn json(n: usize) -> Vec<u8> {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user-{}\",\"text\":\"message number {i} in the room\"}},",
            i % 17
        ));
        i += 1;
    }
    s.truncate(n);
    s.into_bytes()
}

#[test]
fn rsv1_marks_the_first_frame_only_and_payload_drops_the_tail() {
    let (mut client, mut server) = pair(DeflateParams::default(), Config::default());
    let text = json(3000);
    client
        .send_frame(OpCode::Text, false, &text[..1000])
        .unwrap();
    client
        .send_frame(OpCode::Continuation, false, &text[1000..2000])
        .unwrap();
    client
        .send_frame(OpCode::Continuation, true, &text[2000..])
        .unwrap();
    client.send_ping(b"p").unwrap();
    let wire = take_output(&mut client);
    let f = frames(&wire);
    assert_eq!(
        f.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
        [0x41, 0x00, 0x80, 0x89]
    );
    assert!(f[0].1.ends_with(&[0, 0, 0xff, 0xff]));
    assert!(!f[2].1.ends_with(&[0, 0, 0xff, 0xff]));
    let mut all: Vec<u8> = f[..3].iter().flat_map(|(_, p)| p.clone()).collect();
    all.extend_from_slice(&[0, 0, 0xff, 0xff]);
    assert_eq!(walk(&all).unwrap().0, text);
    server.handle_input(&wire);
    assert_eq!(
        server.poll_event(),
        Ok(Some(Message::Text(String::from_utf8(text).unwrap())))
    );
    assert_eq!(server.poll_event(), Ok(Some(Message::Ping(b"p".to_vec()))));
}

#[test]
fn small_messages_and_control_frames_go_uncompressed() {
    let (mut client, mut server) = pair(DeflateParams::default(), Config::default());
    client.send_text("short").unwrap();
    client.set_compress_threshold(0);
    client.send_text("now compressed").unwrap();
    client.send_binary(&[]).unwrap();
    let wire = take_output(&mut client);
    let f = frames(&wire);
    assert_eq!(f[0].0, 0x81);
    assert_eq!(f[1].0, 0xc1);
    assert_eq!(f[2].0, 0xc2);
    server.handle_input(&wire);
    assert_eq!(server.poll_event(), Ok(Some(Message::Text("short".into()))));
    assert_eq!(
        server.poll_event(),
        Ok(Some(Message::Text("now compressed".into())))
    );
    assert_eq!(server.poll_event(), Ok(Some(Message::Binary(vec![]))));
}

fn fails_with(params: Option<DeflateParams>, wire: &[u8], e: ProtocolError, code: u16) {
    let mut s = Connection::server(Config::default());
    if let Some(p) = params {
        s.set_deflate(p);
    }
    let mut masked = Vec::new();
    for (b0, payload) in frames(wire) {
        wisp_codec::encode_frame(
            &mut masked,
            b0 & 0x80 != 0,
            (b0 >> 4) & 7,
            OpCode::try_from(b0 & 0xf).unwrap(),
            Some([9, 8, 7, 6]),
            &payload,
        );
    }
    s.handle_input(&masked);
    loop {
        match s.poll_event() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error"),
            Err(got) => {
                assert_eq!(got, e);
                assert_eq!(e.close_code(), CloseCode(code));
                break;
            }
        }
    }
}

#[test]
fn rsv1_errors_and_corrupt_data() {
    let on = Some(DeflateParams::default());
    fails_with(on, b"\xc9\x00", ProtocolError::CompressedControlFrame, 1002);
    fails_with(
        on,
        b"\x41\x01a\xc0\x01b",
        ProtocolError::CompressedContinuation,
        1002,
    );
    fails_with(None, b"\xc1\x01a", ProtocolError::ReservedBits(4), 1002);
    fails_with(on, b"\xe1\x01a", ProtocolError::ReservedBits(6), 1002);
    // BTYPE = 11 (reserved) in the first block header.
    fails_with(
        on,
        b"\xc1\x02\x07\x00",
        ProtocolError::InvalidCompressedData,
        1007,
    );
}

#[test]
fn inflated_text_is_checked_as_utf8() {
    let mut s = Connection::server(Config::default());
    s.set_deflate(DeflateParams::default());
    // A final stored block holding 0xff: valid DEFLATE, invalid UTF-8.
    let mut wire = Vec::new();
    wisp_codec::encode_frame(
        &mut wire,
        true,
        4,
        OpCode::Text,
        Some([1, 2, 3, 4]),
        &[0x00, 0x01, 0x00, 0xfe, 0xff, 0xff],
    );
    s.handle_input(&wire);
    assert_eq!(s.poll_event(), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn deflate_bomb_is_1009_within_the_limit() {
    let limit = 1 << 20;
    let config = Config {
        max_message_size: limit,
        ..Config::default()
    };
    let (mut client, mut server) = pair(DeflateParams::default(), config);
    // 64 MiB of zeros in fragments of 1 MiB: about 64 KB on the wire.
    let zeros = vec![0u8; 1 << 20];
    for i in 0..64 {
        let op = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        client.send_frame(op, i == 63, &zeros).unwrap();
    }
    let wire = take_output(&mut client);
    assert!(wire.len() < 100_000, "{}", wire.len());
    let mut fed = 0;
    let mut peak = 0;
    let err = loop {
        let n = (wire.len() - fed).min(1024);
        server.handle_input(&wire[fed..fed + n]);
        fed += n;
        let r = server.poll_event();
        peak = peak.max(server.message_memory());
        match r {
            Err(e) => break e,
            Ok(None) if fed < wire.len() => continue,
            other => panic!("{other:?}"),
        }
    };
    assert!(
        matches!(err, ProtocolError::MessageTooLarge { len, max } if len == limit + 1 && max == limit)
    );
    assert_eq!(err.close_code().0, 1009);
    // It stopped after about 1 KiB of input per MiB of output, within limit + a step.
    assert!(fed < 8 * 1024, "read {fed} bytes");
    assert!(
        peak <= limit as usize + 64 * 1024 + 44 * 1024,
        "held {peak}"
    );
    let close = frames(&take_output(&mut server));
    assert_eq!(close.last().unwrap().1[..2], 1009u16.to_be_bytes());
}

#[test]
fn memory_held_counts_the_compressor_and_shrink_frees_it_without_takeover() {
    let nct = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let (mut client, mut server) = pair(nct, Config::default());
    assert_eq!(server.memory_held(), 0);
    client.send_binary(&json(5000)).unwrap();
    server.handle_input(&take_output(&mut client));
    let Ok(Some(m)) = server.poll_event() else {
        panic!()
    };
    server.send(m).unwrap();
    let held = server.memory_held();
    // A compressor for the 15-bit window and an inflater, with the message's buffers.
    assert!(held > DeflatePool::MAX_MEMORY, "{held}");
    server.advance_output(usize::MAX);
    server.shrink_buffers();
    assert_eq!(server.memory_held(), 0);
    // With context takeover both are kept (the window is state).
    let (mut client, mut server) = pair(DeflateParams::default(), Config::default());
    client.send_binary(&json(5000)).unwrap();
    server.handle_input(&take_output(&mut client));
    let Ok(Some(m)) = server.poll_event() else {
        panic!()
    };
    server.send(m).unwrap();
    server.advance_output(usize::MAX);
    server.shrink_buffers();
    assert!(server.memory_held() >= DeflatePool::MAX_MEMORY);
}

// ---- properties --------------------------------------------------------------------------

fn message() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..3000)
        ),
        (any::<bool>(), (0usize..20_000).prop_map(json)),
        (
            any::<bool>(),
            (0usize..5000, any::<u8>()).prop_map(|(n, b)| vec![b; n])
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Messages sent compressed by one side arrive intact through any chunking, for
    /// every window and takeover setting, and every distance fits the window.
    #[test]
    fn round_trips_in_random_chunkings(
        messages in proptest::collection::vec(message(), 1..6),
        senders in proptest::collection::vec(any::<bool>(), 6),
        fragment in 1usize..5000,
        chunk in 1usize..3000,
        server_bits in 8u8..=15,
        client_bits in 8u8..=15,
        snct in any::<bool>(),
        cnct in any::<bool>(),
    ) {
        let params = DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let (mut client, mut server) = pair(params, Config::default());
        // What each side sent so far, for the walker's references into earlier messages.
        let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
        for ((as_text, bytes), sender_is_client) in messages.into_iter().zip(senders) {
            let (tx, rx, bits, history, takeover) = if sender_is_client {
                (&mut client, &mut server, client_bits, &mut from_client, !cnct)
            } else {
                (&mut server, &mut client, server_bits, &mut from_server, !snct)
            };
            let text_ok = as_text && std::str::from_utf8(&bytes).is_ok();
            let first = if text_ok { OpCode::Text } else { OpCode::Binary };
            let pieces: Vec<&[u8]> = if bytes.is_empty() { vec![&[][..]] } else { bytes.chunks(fragment).collect() };
            for (i, p) in pieces.iter().enumerate() {
                let op = if i == 0 { first } else { OpCode::Continuation };
                tx.send_frame(op, i + 1 == pieces.len(), p).unwrap();
            }
            let wire = take_output(tx);
            // Walk what was sent: distances within the agreed window.
            let fs = frames(&wire);
            if fs[0].0 & 0x40 != 0 {
                let mut all: Vec<u8> = fs.iter().flat_map(|(_, p)| p.clone()).collect();
                all.extend_from_slice(&[0, 0, 0xff, 0xff]);
                let (out, max_dist) = walk_after(history, &all).expect("valid deflate");
                prop_assert_eq!(&out, &bytes);
                prop_assert!(max_dist <= 1 << bits, "distance {} for window {}", max_dist, bits);
                if takeover {
                    history.extend_from_slice(&out);
                } else {
                    history.clear();
                }
            }
            let mut got = None;
            for c in wire.chunks(chunk) {
                rx.handle_input(c);
                while let Some(m) = rx.poll_event().unwrap() {
                    got = Some(m);
                }
            }
            let expected = if text_ok {
                Message::Text(String::from_utf8(bytes).unwrap())
            } else {
                Message::Binary(bytes)
            };
            prop_assert_eq!(got, Some(expected));
        }
    }

    /// A whole message without context takeover is compressed in one pass over the
    /// payload (up to 65,534 bytes; longer ones, and fragments, as a stream). Through any
    /// history of messages, whole or fragmented, each message's bytes are the same as a
    /// fresh compressor's (what one prepared form for every connection relies on); the
    /// walker (a naive inflater that knows nothing before the message) gets the message
    /// back with every distance within the window, and so does the codec's inflater.
    #[test]
    fn whole_messages_compress_alone_in_one_pass(
        messages in proptest::collection::vec(
            (message(), prop_oneof![Just(0usize), 1usize..4000]),
            1..6,
        ),
        period_message in (8u32..=15, 0usize..3, 2usize..5),
        bits in 8u8..=15,
    ) {
        let window = 1usize << bits;
        // A block repeated at a period of the window, one byte less or more: the farthest
        // match there is, and one a compressor must not take.
        let (seed, shift, reps) = period_message;
        let block: Vec<u8> = (0..window + shift - 1)
            .map(|i| (i as u32).wrapping_mul(seed.wrapping_mul(2_654_435_761)).rotate_left(seed) as u8)
            .collect();
        let mut all: Vec<(Vec<u8>, usize)> =
            messages.into_iter().map(|((_, m), f)| (m, f)).collect();
        all.push((block.repeat(reps), 0));
        all.push((vec![b'a'; 65_534], 0));
        all.push((json(65_535), 0));
        let mut d = wisp_codec::internals::Deflater::new(bits, false);
        let mut i = wisp_codec::internals::Inflater::new(false);
        for (m, fragment) in &all {
            let mut wire = Vec::new();
            if *fragment == 0 || m.is_empty() {
                d.compress(m, true, &mut wire);
                let mut fresh = Vec::new();
                wisp_codec::internals::Deflater::new(bits, false).compress(m, true, &mut fresh);
                prop_assert!(wire == fresh, "window {}: {} B differ after history", bits, m.len());
            } else {
                let pieces: Vec<&[u8]> = m.chunks(*fragment).collect();
                for (k, p) in pieces.iter().enumerate() {
                    d.compress(p, k + 1 == pieces.len(), &mut wire);
                }
            }
            let mut out = Vec::new();
            i.inflate(&wire, true, &mut out, u64::MAX).unwrap();
            prop_assert!(out == *m, "window {}: the inflater's {} B", bits, m.len());
            wire.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let (walked, max) = walk(&wire).expect("valid deflate");
            prop_assert!(walked == *m, "window {}: the walker's {} B", bits, m.len());
            prop_assert!(max as usize <= window, "window {}: distance {}", bits, max);
        }
    }

    /// A [`PreparedMessage`] arrives as the same message as one sent the normal way,
    /// for every set of parameters and both roles, interleaved with normal sends (a
    /// side with context takeover compresses it against its own window); without
    /// takeover on the sending side its frame is byte for byte the normal one's (one
    /// compression serves every connection), made once per window.
    #[test]
    fn prepared_messages_arrive_as_normal_ones(
        messages in proptest::collection::vec(message(), 1..5),
        server_bits in 8u8..=15,
        client_bits in 8u8..=15,
        snct in any::<bool>(),
        cnct in any::<bool>(),
        threshold in prop_oneof![Just(0usize), Just(32), Just(1000)],
        from_client in any::<bool>(),
    ) {
        let params = DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        // Two pairs: one sends prepared messages, the other the same ones normally.
        let (mut c1, mut s1) = pair(params, Config::default());
        let (mut c2, mut s2) = pair(params, Config::default());
        let no_takeover = if from_client { cnct } else { snct };
        for (as_text, bytes) in messages {
            let text_ok = as_text && std::str::from_utf8(&bytes).is_ok();
            let expected = if text_ok {
                Message::Text(String::from_utf8(bytes).unwrap())
            } else {
                Message::Binary(bytes)
            };
            let prepared = PreparedMessage::new(expected.clone()).unwrap();
            let (tx1, rx1, tx2, rx2) = if from_client {
                (&mut c1, &mut s1, &mut c2, &mut s2)
            } else {
                (&mut s1, &mut c1, &mut s2, &mut c2)
            };
            tx1.set_compress_threshold(threshold);
            tx2.set_compress_threshold(threshold);
            tx1.send_prepared(&prepared).unwrap();
            tx2.send(expected.clone()).unwrap();
            let (w1, w2) = (take_output(tx1), take_output(tx2));
            let (f1, f2) = (frames(&w1), frames(&w2));
            prop_assert_eq!(f1.len(), 1);
            // Same header bits and the same payload, unmasked.
            prop_assert_eq!(&f1, &f2);
            if no_takeover {
                prop_assert!(prepared.compressions() <= 1);
                // A second connection reuses the compressed bytes.
                let (mut c3, mut s3) = pair(params, Config::default());
                let tx3 = if from_client { &mut c3 } else { &mut s3 };
                tx3.set_compress_threshold(threshold);
                tx3.send_prepared(&prepared).unwrap();
                prop_assert_eq!(frames(&take_output(tx3)), f1.clone());
                prop_assert!(prepared.compressions() <= 1);
            }
            rx1.handle_input(&w1);
            rx2.handle_input(&w2);
            prop_assert_eq!(rx1.poll_event(), Ok(Some(expected.clone())));
            prop_assert_eq!(rx2.poll_event(), Ok(Some(expected)));
        }
    }

    /// The extension parser never panics, and what it accepts it reads back the same.
    #[test]
    fn extension_parser_total(s in "[ -~]{0,80}") {
        if let Ok(e) = parse_extensions(&s) {
            for x in &e {
                let _ = DeflateOffer::from_extension(x);
            }
        }
        let _ = ServerDeflate::default().negotiate(&s);
    }

    #[test]
    fn offers_round_trip_through_their_header(
        snct in any::<bool>(), cnct in any::<bool>(),
        sbits in proptest::option::of(8u8..=15),
        cbits in proptest::option::of(proptest::option::of(8u8..=15)),
    ) {
        let o = DeflateOffer { server_no_context_takeover: snct, client_no_context_takeover: cnct, server_max_window_bits: sbits, client_max_window_bits: cbits };
        let e = parse_extensions(&o.to_header()).unwrap();
        prop_assert_eq!(DeflateOffer::from_extension(&e[0]).unwrap(), o);
        // The server's answer is always one the client accepts.
        let p = ServerDeflate::default().accept(&o).unwrap();
        let answer = parse_extensions(&p.response_header(&o)).unwrap();
        prop_assert_eq!(o.check_response(&answer[0]).unwrap(), p);
    }
}

/// The walker itself: it reads back what Python's zlib-compatible miniz wrote, and it
/// sees the long distances that a windowless level-6 compressor emits.
#[test]
fn walker_sees_long_distances_at_window_15() {
    let (mut client, _) = pair(DeflateParams::default(), Config::default());
    let text = json(60_000);
    client.send_binary(&text).unwrap();
    let wire = take_output(&mut client);
    let (_, p) = frames(&wire).remove(0);
    let mut all = p;
    all.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let (out, max) = walk(&all).unwrap();
    assert_eq!(out, text);
    assert!(max > 256, "{max}");
    assert!(max <= 32768);
}

/// Long streams through the compressor alone, at every window, with and without
/// context takeover, in fragments: the buffer slides many times (half a megabyte at
/// each window), and the walker (a naive inflater that knows only what was sent before)
/// finds every distance within the window, and none before the message without
/// takeover. The messages: JSON, random bytes, and a random block repeated at a period
/// of the window, one byte less and one byte more (the match a compressor must skip).
#[test]
fn long_streams_keep_every_distance_within_the_window() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = |n: usize| {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect::<Vec<u8>>()
    };
    for bits in 8..=15u8 {
        let window = 1usize << bits;
        let mut messages = vec![json(70_000), random(5000), Vec::new()];
        for period in [window - 1, window, window + 1] {
            messages.push(random(period).repeat(5));
        }
        for n in [300, 40_000, 2000, 150_000, 9000, 100_000] {
            messages.push(json(n));
        }
        for takeover in [false, true] {
            let mut d = wisp_codec::internals::Deflater::new(bits, takeover);
            let mut history = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                let mut wire = Vec::new();
                let fragment = 1 + (i * 7919) % 30_000;
                let pieces: Vec<&[u8]> = if m.is_empty() {
                    vec![&[][..]]
                } else {
                    m.chunks(fragment).collect()
                };
                for (k, p) in pieces.iter().enumerate() {
                    d.compress(p, k + 1 == pieces.len(), &mut wire);
                }
                wire.extend_from_slice(&[0, 0, 0xff, 0xff]);
                let (out, max) = walk_after(&history, &wire).expect("valid deflate");
                assert!(out == *m, "window {bits}, takeover {takeover}, message {i}");
                assert!(max as usize <= window, "window {bits}: distance {max}");
                if takeover {
                    history.extend_from_slice(&out);
                }
            }
        }
    }
}

#[test]
fn prepared_messages_follow_the_sending_rules() {
    // A control message cannot be prepared.
    assert_eq!(
        PreparedMessage::new(Message::Pong(vec![1])).unwrap_err(),
        UsageError::NotADataMessage
    );
    let msg = PreparedMessage::new(Message::Binary(json(5000))).unwrap();
    let (mut client, mut server) = pair(DeflateParams::default(), Config::default());
    // Not inside a fragmented message, and not after a close.
    server.send_frame(OpCode::Text, false, b"half").unwrap();
    assert_eq!(
        server.send_prepared(&msg),
        Err(UsageError::BadFragmentSequence)
    );
    server.send_frame(OpCode::Continuation, true, b"").unwrap();
    server.send_prepared(&msg).unwrap();
    server.send_close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.send_prepared(&msg), Err(UsageError::Closed));
    // Context takeover both ways: each connection compresses it itself.
    assert_eq!(msg.compressions(), 0);
    client.handle_input(&take_output(&mut server));
    assert_eq!(client.poll_event(), Ok(Some(Message::Text("half".into()))));
    assert_eq!(client.poll_event(), Ok(Some(Message::Binary(json(5000)))));
}

#[test]
fn a_prepared_message_is_compressed_once_per_window() {
    let msg = PreparedMessage::new(Message::Text(String::from_utf8(json(3000)).unwrap())).unwrap();
    let shared = |bits| DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: bits,
        client_max_window_bits: 15,
    };
    let mut wires = Vec::new();
    for bits in [15, 15, 9, 12, 15, 10] {
        let (mut client, mut server) = pair(shared(bits), Config::default());
        server.send_prepared(&msg).unwrap();
        let wire = take_output(&mut server);
        client.handle_input(&wire);
        let Ok(Some(Message::Text(got))) = client.poll_event() else {
            panic!("no text message");
        };
        assert_eq!(got.as_bytes(), msg.payload());
        wires.push((bits, wire));
    }
    assert_eq!(msg.compressions(), 4);
    // For one window every connection got the same bytes.
    for (a, wa) in &wires {
        for (b, wb) in &wires {
            if a == b {
                assert_eq!(wa, wb);
            }
        }
    }
}
