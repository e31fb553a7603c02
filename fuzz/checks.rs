//! The checks behind every fuzz target, written once.
//!
//! `fuzz/fuzz_targets/*.rs` call these functions on libFuzzer's input and
//! `codec/tests/fuzz_corpus.rs` calls them on every file of the committed corpora, so the
//! corpus is replayed on stable by an ordinary `cargo test -p wisp-codec`. Each function
//! takes arbitrary bytes and panics only when wisp-codec breaks one of its guarantees.
//!
//! Nothing here is random: where a check needs random chunkings it derives them from a
//! hash of the input, so a corpus file replays exactly as the fuzzer ran it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::time::Duration;

use wisp_codec::handshake::{self, ClientRequest, RequestError, ResponseError, DEFAULT_MAX_HEAD};
use wisp_codec::internals::{
    apply_mask_naive, decode_header, parse_close, Decoded, FrameDecoder, Reassembler, Utf8Validator,
};
use wisp_codec::{
    apply_mask, CloseCode, CloseFrame, Config, Connection, Direction, FrameHeader, Message, OpCode,
    ProtocolError, Role, State, WireFrame, MAX_HEADER_LEN,
};

// ---- deterministic randomness -------------------------------------------------------

/// xorshift64*, seeded with FNV-1a of the input.
struct Rng(u64);

impl Rng {
    fn from_bytes(data: &[u8], salt: u64) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for &b in data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..=max`.
    fn upto(&mut self, max: usize) -> usize {
        (self.next() % (max as u64 + 1)) as usize
    }
}

/// Piece lengths (empty pieces included) that add up to `len`, each at most `max_piece`.
fn random_pieces(rng: &mut Rng, len: usize, max_piece: usize) -> Vec<usize> {
    let mut pieces = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = rng.upto(max_piece.min(left));
        pieces.push(n);
        left -= n;
    }
    pieces
}

/// The ways every stream is fed: whole, a byte at a time, small random pieces, large
/// random pieces.
fn chunkings(data: &[u8], salt: u64) -> [Vec<usize>; 4] {
    let mut rng = Rng::from_bytes(data, salt);
    let small = random_pieces(&mut rng, data.len(), 7);
    let large = random_pieces(&mut rng, data.len(), data.len() / 3 + 2);
    [vec![data.len()], vec![1; data.len()], small, large]
}

// ---- decoder + connection -------------------------------------------------------------

/// What the application does while the fuzzer talks to it, from the first input byte.
#[derive(Debug, Clone, Copy)]
struct Setup {
    role: Role,
    config: Config,
    /// Echo every text and binary message back.
    echo: bool,
    /// Send a Close before any input arrives (the whole input is read in Closing).
    close_first: bool,
    /// Send a Close right after the first data message.
    close_after_message: bool,
}

impl Setup {
    fn new(cfg: u8, role: Role) -> Setup {
        // Small limits so that short inputs reach the 1009 paths: header claims over the
        // frame limit, and fragments adding up past the message limit.
        let (max_frame_size, max_message_size) = match cfg & 3 {
            0 => (1 << 20, 2 << 20),
            1 => (125, 256),
            2 => (16, 40),
            _ => (1 << 20, 64),
        };
        Setup {
            role,
            config: Config {
                max_frame_size,
                max_message_size,
                auto_pong: cfg & 4 == 0,
                record_frames: cfg & 8 != 0,
                ..Config::default()
            },
            echo: cfg & 16 != 0,
            close_first: cfg & 32 != 0,
            close_after_message: cfg & 64 != 0,
        }
    }

    fn connection(&self) -> Connection {
        match self.role {
            Role::Server => Connection::server(self.config),
            Role::Client => {
                let mut n = 0u32;
                Connection::client(self.config, move || {
                    n = n.wrapping_add(0x0101_0101);
                    n.to_be_bytes()
                })
            }
        }
    }
}

/// A frame we expect in the output: data or a control frame with its payload, or a
/// Close with its code (its reason is free text).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Frame(OpCode, Vec<u8>),
    Close(Option<u16>),
}

/// Everything observable about one run of a connection over one stream.
#[derive(Debug, PartialEq)]
struct Run {
    events: Vec<Result<Message, ProtocolError>>,
    output: Vec<u8>,
    state: State,
    error: Option<ProtocolError>,
    close_sent: Option<CloseFrame>,
    close_received: Option<Option<CloseFrame>>,
    wire: Vec<WireFrame>,
    /// How it ended (`close_code`), and the next timer after the clock started at 0.
    ending: (Option<CloseCode>, Option<Duration>),
    /// The output the events call for, by the RFC's rules (a model, built as we go).
    expected: Vec<Out>,
}

/// Drains `poll_event`, playing the application of `setup` and building the output model.
fn drain(conn: &mut Connection, setup: &Setup, run: &mut Run, stream_len: usize) {
    loop {
        let before = conn.state();
        let event = match conn.poll_event() {
            Ok(None) => return,
            Ok(Some(message)) => Ok(message),
            Err(e) => Err(e),
        };
        match &event {
            Ok(message) => {
                // Every event takes a frame header (2 bytes at least): poll_event terminates.
                assert!(
                    run.events.len() < stream_len / 2 + 1,
                    "more events than the input can hold"
                );
                assert_ne!(before, State::Closed, "an event after Closed");
                check_message(setup, message);
                match message {
                    Message::Ping(p) => {
                        if setup.config.auto_pong && before == State::Open {
                            run.expected.push(Out::Frame(OpCode::Pong, p.clone()));
                        }
                    }
                    Message::Pong(_) => {}
                    Message::Close(frame) => {
                        assert_eq!(conn.state(), State::Closed);
                        assert_eq!(conn.close_received(), Some(frame.as_ref()));
                        if before == State::Open {
                            // §5.5.1: answered with a Close echoing the code.
                            run.expected
                                .push(Out::Close(frame.as_ref().map(|f| f.code.0)));
                        }
                    }
                    Message::Text(_) | Message::Binary(_) => {
                        assert_eq!(conn.state(), before);
                        if setup.echo {
                            // Every other echo by value (`send`), the others by reference.
                            let sent = match message {
                                _ if run.events.len() % 2 == 1 => conn.send(message.clone()),
                                Message::Text(t) => conn.send_text(t),
                                Message::Binary(b) => conn.send_binary(b),
                                _ => unreachable!(),
                            };
                            if before == State::Open {
                                sent.expect("echo while open");
                                let (op, p) = match message {
                                    Message::Text(t) => (OpCode::Text, t.clone().into_bytes()),
                                    Message::Binary(b) => (OpCode::Binary, b.clone()),
                                    _ => unreachable!(),
                                };
                                run.expected.push(Out::Frame(op, p));
                            } else {
                                // §5.5.1: no data frames after our Close.
                                assert_eq!(sent, Err(wisp_codec::UsageError::Closed));
                            }
                        }
                        if setup.close_after_message && conn.state() == State::Open {
                            conn.send_close(CloseCode::NORMAL, "done").unwrap();
                            assert_eq!(conn.state(), State::Closing);
                            run.expected.push(Out::Close(Some(1000)));
                        }
                    }
                }
                run.events.push(event);
            }
            &Err(e) => {
                assert_ne!(before, State::Closed, "an error after Closed");
                check_error(setup, e);
                assert_eq!(conn.state(), State::Closed);
                assert_eq!(conn.error(), Some(e));
                assert_eq!(conn.poll_event(), Ok(None), "the error is returned once");
                if before == State::Open {
                    // §7.1.7: fail the connection with the error's close code.
                    run.expected.push(Out::Close(Some(e.close_code().0)));
                }
                run.events.push(event);
                return;
            }
        }
    }
}

fn check_message(setup: &Setup, message: &Message) {
    match message {
        Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
        Message::Text(t) => assert!(t.len() as u64 <= setup.config.max_message_size),
        Message::Binary(b) => assert!(b.len() as u64 <= setup.config.max_message_size),
        Message::Close(Some(f)) => {
            assert!(f.code.is_valid_on_wire());
            assert!(f.reason.len() <= 123);
        }
        Message::Close(None) => {}
    }
}

fn check_error(setup: &Setup, e: ProtocolError) {
    let code = e.close_code();
    assert!(
        [1002, 1007, 1009].contains(&code.0),
        "{e:?} maps to {code:?}"
    );
    match e {
        ProtocolError::FrameTooLarge { len, max } => {
            assert_eq!(max, setup.config.max_frame_size);
            assert!(len > max);
        }
        ProtocolError::MessageTooLarge { len, max } => {
            assert_eq!(max, setup.config.max_message_size);
            assert!(len > max);
        }
        ProtocolError::MaskedFrame => assert_eq!(setup.role, Role::Client),
        ProtocolError::UnmaskedFrame => assert_eq!(setup.role, Role::Server),
        ProtocolError::ControlFrameTooLong(n) => assert!(n > 125),
        ProtocolError::ReservedBits(b) => assert!(b != 0 && b < 8),
        ProtocolError::ReservedOpcode(op) => {
            assert!(op < 16 && OpCode::try_from(op).is_err())
        }
        _ => {}
    }
}

/// Feeds `stream` in `pieces`, draining events after each one.
fn run(setup: &Setup, stream: &[u8], pieces: &[usize], rng: Option<&mut Rng>) -> Run {
    let mut conn = setup.connection();
    let mut run = Run {
        events: Vec::new(),
        output: Vec::new(),
        state: State::Open,
        error: None,
        close_sent: None,
        close_received: None,
        wire: Vec::new(),
        ending: (None, None),
        expected: Vec::new(),
    };
    if setup.close_first {
        conn.send_close(CloseCode::NORMAL, "bye").unwrap();
        run.expected.push(Out::Close(Some(1000)));
    }
    let mut rng = rng;
    let mut at = 0;
    for &n in pieces {
        let piece = &stream[at..at + n];
        at += n;
        match rng.as_deref_mut() {
            // Read straight into the connection's buffer, asking for more room than used.
            Some(rng) => {
                let min = n + rng.upto(16);
                let buf = conn.input_buffer(min);
                assert!(buf.len() >= min);
                buf[..n].copy_from_slice(piece);
                conn.commit_input(n);
            }
            None => conn.handle_input(piece),
        }
        drain(&mut conn, setup, &mut run, stream.len());
    }
    assert_eq!(at, stream.len());
    drain(&mut conn, setup, &mut run, stream.len());
    // All of the output: `pending_output` is only its first piece.
    while !conn.pending_output_front().is_empty() {
        run.output.extend_from_slice(conn.pending_output_front());
        conn.advance_output(conn.pending_output_front().len());
    }
    run.state = conn.state();
    run.error = conn.error();
    run.close_sent = conn.close_sent().cloned();
    run.close_received = conn.close_received().map(|f| f.cloned());
    conn.handle_timeout(Duration::ZERO);
    run.ending = (conn.close_code(), conn.poll_timeout());
    // Each received frame's reads are the pieces that brought its bytes (a naive model
    // of the record's reads); they depend on the feeding, the rest of a run does not.
    let reads: Vec<std::ops::Range<usize>> = pieces
        .iter()
        .scan(0, |at, &n| {
            *at += n;
            Some(*at - n..*at)
        })
        .filter(|r| !r.is_empty())
        .collect();
    let read_of = |byte: usize| {
        reads
            .iter()
            .position(|r| r.contains(&byte))
            .map(|i| i as u64 + 1)
    };
    let mut start = 0;
    while let Some(mut f) = conn.poll_wire_frame() {
        let got = f.reads.take();
        if f.direction == Direction::Received {
            let end = start + f.bytes.len();
            let (first, last) = (read_of(start).unwrap(), read_of(end - 1).unwrap());
            let listed = last.min(first + wisp_codec::READ_SIZES_KEPT as u64 - 1);
            let sizes = (first..=listed)
                .map(|i| reads[i as usize - 1].len())
                .collect();
            let want = wisp_codec::Reads { first, last, sizes };
            assert_eq!(got, Some(want), "the reads of the frame at {start}");
            start = end;
        } else {
            assert_eq!(got, None, "a frame we sent has no reads");
        }
        run.wire.push(f);
    }
    run
}

/// Decodes our own output as the peer would, into the frames of the model.
fn decode_output(role: Role, output: &[u8]) -> Vec<Out> {
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut dec = FrameDecoder::new(peer, u64::MAX);
    let mut buf = output.to_vec();
    let mut at = 0;
    let mut frames = Vec::new();
    let mut current: Option<(FrameHeader, Vec<u8>)> = None;
    loop {
        let (n, ev) = dec
            .decode(&mut buf[at..])
            .expect("our output is a valid frame stream for the peer");
        at += n;
        match ev {
            Decoded::NeedMore => break,
            Decoded::Header(h) => {
                assert!(
                    !matches!(frames.last(), Some(Out::Close(_))),
                    "a frame after our Close"
                );
                assert!(h.fin, "the harness never fragments");
                assert_eq!(h.rsv, 0);
                current = Some((h, Vec::new()));
            }
            Decoded::Payload { data, last } => {
                let (h, payload) = current.as_mut().expect("payload after a header");
                payload.extend_from_slice(data);
                if last {
                    let out = if h.opcode == OpCode::Close {
                        let frame = parse_close(payload).expect("our close is valid");
                        if let Some(f) = &frame {
                            assert!(f.reason.len() <= 123);
                        }
                        Out::Close(frame.map(|f| f.code.0))
                    } else {
                        Out::Frame(h.opcode, core::mem::take(payload))
                    };
                    frames.push(out);
                    current = None;
                }
            }
        }
    }
    assert_eq!(at, output.len(), "output ends inside a header");
    assert!(current.is_none(), "output ends inside a frame");
    frames
}

/// The invariants of one run that do not need a second run to compare with.
fn check_run(setup: &Setup, stream: &[u8], run: &Run) {
    assert_eq!(
        decode_output(setup.role, &run.output),
        run.expected,
        "output differs from what the events call for"
    );
    match run.events.last() {
        Some(Err(e)) => {
            assert_eq!(run.state, State::Closed);
            assert_eq!(run.error, Some(*e));
        }
        Some(Ok(Message::Close(f))) => {
            assert_eq!(run.state, State::Closed);
            assert_eq!(run.close_received.as_ref(), Some(f));
        }
        _ => {
            assert_ne!(run.state, State::Closed);
            assert_eq!(run.error, None);
        }
    }
    // §7.1.5: the close code is the peer's, 1005 for a close without one, 1006 for none;
    // no timer runs once closed, and an open connection always has one (the defaults).
    let code = run
        .close_received
        .as_ref()
        .map(|f| f.as_ref().map_or(CloseCode::NO_STATUS_RECEIVED, |f| f.code));
    match run.state {
        State::Closed => {
            assert_eq!(
                run.ending,
                (Some(code.unwrap_or(CloseCode::ABNORMAL)), None)
            );
        }
        _ => assert!(run.ending.0.is_none() && run.ending.1.is_some()),
    }
    if setup.config.record_frames {
        let received: Vec<u8> = run
            .wire
            .iter()
            .filter(|f| f.direction == Direction::Received)
            .flat_map(|f| f.bytes.iter().copied())
            .collect();
        assert!(
            stream.starts_with(&received),
            "recorded frames are not the input"
        );
        let sent: Vec<u8> = run
            .wire
            .iter()
            .filter(|f| f.direction == Direction::Sent)
            .flat_map(|f| f.bytes.iter().copied())
            .collect();
        assert_eq!(sent, run.output, "recorded frames are not the output");
    } else {
        assert!(run.wire.is_empty());
    }
}

/// Fuzz target `decoder_connection`: the first byte picks limits and application
/// behaviour ([`Setup`]); the rest is fed to a server and to a client `Connection`, whole,
/// a byte at a time and in random pieces. Every feeding must give the same events,
/// output and final state; the output must be exactly what the events call for (pongs,
/// echoes, the Close answering a Close or an error) and nothing after our Close.
pub fn decoder_connection(data: &[u8]) {
    let Some((&cfg, stream)) = data.split_first() else {
        return;
    };
    for role in [Role::Server, Role::Client] {
        let setup = Setup::new(cfg, role);
        let [whole, bytewise, small, large] = chunkings(stream, u64::from(cfg));
        let reference = run(&setup, stream, &whole, None);
        check_run(&setup, stream, &reference);
        assert_eq!(
            run(&setup, stream, &bytewise, None),
            reference,
            "byte-at-a-time feeding differs from one-shot"
        );
        let mut rng = Rng::from_bytes(stream, 7);
        assert_eq!(
            run(&setup, stream, &small, Some(&mut rng)),
            reference,
            "small random pieces differ from one-shot ({small:?})"
        );
        assert_eq!(
            run(&setup, stream, &large, Some(&mut rng)),
            reference,
            "large random pieces differ from one-shot ({large:?})"
        );
    }
}

// ---- handshake --------------------------------------------------------------------------

/// The invariants every head parser result has against the buffer it came from.
fn check_head<T: PartialEq + core::fmt::Debug, E: PartialEq + core::fmt::Debug>(
    data: &[u8],
    max: usize,
    result: &Result<Option<(T, usize)>, E>,
    parse: impl Fn(&[u8], usize) -> Result<Option<(T, usize)>, E>,
    too_large: E,
) {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    match result {
        Ok(Some((value, n))) => {
            // The head ends at the first blank line; what follows is never consumed.
            assert_eq!(Some(*n), end);
            assert!(*n <= data.len() && *n <= max);
            assert_eq!(
                &parse(&data[..*n], max),
                result,
                "leftover bytes changed the head"
            );
            assert_eq!(parse(&data[..*n - 1], max), Ok(None));
            let _ = value;
        }
        Ok(None) => {
            assert!(end.is_none() && data.len() < max);
        }
        Err(e) if *e == too_large => match end {
            Some(e) => assert!(e > max),
            None => assert!(data.len() >= max),
        },
        Err(_) => {
            let e = end.expect("an error other than 431 needs a whole head");
            assert!(e <= max);
            assert_eq!(&parse(&data[..e], max), result);
        }
    }
    // A larger bound changes nothing once the head fits.
    if let Some(e) = end {
        if e <= max {
            assert_eq!(&parse(data, max.max(e) + 100), result);
        }
    }
}

fn check_error_response(e: RequestError) {
    let status = e.status();
    assert!([400, 403, 426, 431].contains(&status), "{e:?} -> {status}");
    assert_eq!(status == 426, e == RequestError::UnsupportedVersion);
    // The error response is a well-formed HTTP response a client reads as a refusal.
    let client = ClientRequest::new("h", "/", [0; 16]);
    let response = e.response();
    assert_eq!(
        client.parse_response(&response, usize::MAX),
        Err(ResponseError::NotSwitchingProtocols(status))
    );
}

/// Fuzz target `handshake`: arbitrary bytes as a request head (server side) and as a
/// response head (client side). Checks the consumed count against the buffer and the
/// bound, that leftover bytes never change the result, and round trips: a request that
/// validates yields a 101 response that a client with the same key accepts, and a
/// client request rebuilt from the offer validates to the same offer.
pub fn handshake(data: &[u8]) {
    // Server side, with the default bound and with one the input can exceed.
    for max in [DEFAULT_MAX_HEAD, data.len() / 2 + 1] {
        let result = handshake::parse_request(data, max);
        check_head(
            data,
            max,
            &result,
            handshake::parse_request,
            RequestError::HeadTooLarge,
        );
        match &result {
            Ok(Some((req, _))) => match req.validate() {
                Ok(offer) => check_offer(&offer),
                Err(e) => {
                    assert!(!matches!(e, RequestError::HeadTooLarge));
                    check_error_response(e);
                }
            },
            Ok(None) => {}
            Err(e) => check_error_response(*e),
        }
    }
    // Client side: the §1.3 sample nonce, offering "chat".
    let client =
        ClientRequest::new("server.example.com", "/chat", *b"the sample nonce").protocol("chat");
    for max in [DEFAULT_MAX_HEAD, data.len() / 2 + 1] {
        let result = client.parse_response(data, max);
        check_head(
            data,
            max,
            &result,
            |b, m| client.parse_response(b, m),
            ResponseError::HeadTooLarge,
        );
        if let Ok(Some((accepted, _))) = &result {
            assert!(matches!(accepted.protocol.as_deref(), None | Some("chat")));
            assert_eq!(
                accepted
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"))
                    .map(|(_, v)| v.as_bytes()),
                Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..])
            );
        }
    }
}

fn check_offer(offer: &handshake::Offer) {
    let nonce: [u8; 16] = BASE64
        .decode(&offer.key)
        .expect("a validated key is base64")
        .try_into()
        .expect("a validated key is 16 bytes");
    assert_eq!(
        BASE64.encode(nonce),
        offer.key,
        "the key is canonical base64"
    );
    // The client that sent this key accepts our 101 with the first offered protocol.
    let mut client = ClientRequest::new(&offer.host, &offer.target, nonce);
    for p in &offer.protocols {
        client = client.protocol(p);
    }
    if let Some(o) = &offer.origin {
        client = client.origin(o);
    }
    assert_eq!(client.key(), offer.key);
    let chosen = offer.protocols.first().map(String::as_str);
    let mut response = handshake::Response::new(&offer.key);
    if let Some(p) = chosen {
        response = response.protocol(p);
    }
    let response = response.to_bytes();
    let (accepted, n) = client
        .parse_response(&response, usize::MAX)
        .expect("our 101 is accepted")
        .expect("our 101 is complete");
    assert_eq!(n, response.len());
    assert_eq!(accepted.protocol.as_deref(), chosen);
    // The request that client would send validates to the same offer.
    let bytes = client.to_bytes();
    let (req, n) = handshake::parse_request(&bytes, usize::MAX)
        .expect("our request parses")
        .expect("our request is complete");
    assert_eq!(n, bytes.len());
    assert_eq!(req.validate().as_ref(), Ok(offer));
}

// ---- UTF-8 --------------------------------------------------------------------------------

/// Fuzz target `utf8`: the streaming validator, fed whole, a byte at a time and in random
/// pieces, agrees with `core::str::from_utf8` of the whole input, with the same
/// `valid_up_to`, and fails fast: in the piece holding the first byte at which the input
/// can no longer be the prefix of valid UTF-8. The reassembler, given the pieces as the
/// fragments of one text message, fails in the same fragment.
pub fn utf8(data: &[u8]) {
    let whole = core::str::from_utf8(data);
    // (valid_up_to, the index of the byte that makes the error certain)
    let certain = match whole {
        Err(e) if e.error_len().is_some() => {
            let k = (e.valid_up_to()..data.len())
                .find(|&k| {
                    core::str::from_utf8(&data[..=k])
                        .err()
                        .is_some_and(|e| e.error_len().is_some())
                })
                .expect("an invalid sequence has a first certain byte");
            Some((e.valid_up_to(), k))
        }
        _ => None,
    };
    for pieces in chunkings(data, 3) {
        let mut v = Utf8Validator::new();
        let mut at = 0;
        let mut failed = false;
        for &n in &pieces {
            let end = at + n;
            match v.feed(&data[at..end]) {
                Ok(()) => {
                    if let Some((_, k)) = certain {
                        assert!(k >= end, "byte {k} is invalid, piece {at}..{end} passed");
                    }
                }
                Err(e) => {
                    let (valid_up_to, k) = certain.expect("an error in valid UTF-8");
                    assert_eq!(e.valid_up_to, valid_up_to as u64);
                    assert!(
                        (at..end).contains(&k),
                        "byte {k} is invalid, reported in piece {at}..{end}"
                    );
                    failed = true;
                    break;
                }
            }
            at = end;
        }
        if !failed {
            match whole {
                Ok(_) => {
                    assert!(v.is_boundary());
                    assert_eq!(v.finish(), Ok(()));
                }
                Err(e) => {
                    assert!(e.error_len().is_none());
                    assert!(!v.is_boundary());
                    assert_eq!(
                        v.finish().map_err(|e| e.valid_up_to),
                        Err(e.valid_up_to() as u64)
                    );
                }
            }
        }
        // After a reset the valid prefix is fine on its own.
        v.reset();
        let prefix = match whole {
            Ok(_) => data.len(),
            Err(e) => e.valid_up_to(),
        };
        assert_eq!(v.feed(&data[..prefix]), Ok(()));
        assert_eq!(v.finish(), Ok(()));
        check_text_fragments(data, &pieces, certain.map(|c| c.1), whole.is_ok());
    }
}

/// The pieces as the fragments of one text message through a [`Reassembler`].
fn check_text_fragments(data: &[u8], pieces: &[usize], certain: Option<usize>, valid: bool) {
    let mut r = Reassembler::new(data.len() as u64);
    let mut at = 0;
    for (i, &n) in pieces.iter().enumerate() {
        let end = at + n;
        let fin = i + 1 == pieces.len();
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode: if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            },
            mask: None,
            payload_len: n as u64,
        };
        r.on_header(&header).expect("within the limit");
        let result = r.on_payload(&data[at..end], true);
        match certain {
            Some(k) if (at..end).contains(&k) => {
                assert_eq!(result, Err(ProtocolError::InvalidUtf8));
                return;
            }
            _ => {}
        }
        if !fin {
            assert_eq!(result, Ok(None));
        } else if valid {
            let text = core::str::from_utf8(data).unwrap();
            assert_eq!(result, Ok(Some(Message::Text(text.into()))));
        } else {
            // Truncated at the end: known only when the message ends.
            assert_eq!(result, Err(ProtocolError::InvalidUtf8));
        }
        at = end;
    }
}

// ---- frames -----------------------------------------------------------------------------

/// Reads fields from the input, zeros when it runs out.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }

    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
}

const OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];

/// The header bytes §5.2 prescribes, written out by hand.
fn minimal_len_bytes(payload_len: u64) -> usize {
    match payload_len {
        0..=125 => 0,
        126..=0xffff => 2,
        _ => 8,
    }
}

/// Fuzz target `frame_roundtrip`: (1) the input as a header: what decodes re-encodes,
/// byte for byte when the input used the minimal length form; (2) header fields drawn from
/// the input: encode -> decode is the identity and the encoding is minimal; (3) a whole
/// frame with the rest of the input as payload, masked, through a `FrameDecoder` split at
/// a point from the input: the same header and payload, or exactly the error the header
/// calls for; (4) the fast mask equals the naive loop at any offset and split.
pub fn frame_roundtrip(data: &[u8]) {
    // (1) Arbitrary bytes as a header.
    match decode_header(data) {
        Ok(Some((h, n))) => {
            assert!(n <= data.len() && n <= MAX_HEADER_LEN);
            let mut out = [0; MAX_HEADER_LEN];
            let m = h.encode(&mut out);
            assert_eq!(m, h.encoded_len());
            assert_eq!(decode_header(&out[..m]), Ok(Some((h, m))));
            let len7 = data[1] & 0x7f;
            let minimal = match len7 {
                126 => h.payload_len >= 126,
                127 => h.payload_len > 0xffff,
                _ => true,
            };
            if minimal {
                assert_eq!(&out[..m], &data[..n]);
            } else {
                assert!(m < n);
            }
            for k in 0..n {
                assert_eq!(decode_header(&data[..k]), Ok(None));
            }
        }
        Ok(None) => {
            assert!(data.len() < MAX_HEADER_LEN);
        }
        Err(e) => {
            assert!(matches!(
                e,
                ProtocolError::ReservedOpcode(_) | ProtocolError::InvalidPayloadLength
            ));
        }
    }

    // (2) Header fields from the input.
    let mut f = Fields(data);
    let b0 = f.u8();
    let b1 = f.u8();
    let mask = if b1 & 1 != 0 {
        Some(f.bytes::<4>())
    } else {
        None
    };
    let payload_len = match (b1 >> 1) & 3 {
        0 => u64::from(f.u8()),
        1 => u64::from(u16::from_be_bytes(f.bytes())),
        2 => u64::from_be_bytes(f.bytes()) >> 1,
        _ => [0, 1, 125, 126, 127, 0xffff, 0x1_0000, u64::MAX >> 1][usize::from(f.u8() % 8)],
    };
    let header = FrameHeader {
        fin: b0 & 1 != 0,
        rsv: (b0 >> 1) & 7,
        opcode: OPCODES[usize::from(b0 >> 4) % 6],
        mask,
        payload_len,
    };
    let mut out = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut out);
    assert_eq!(n, header.encoded_len());
    assert_eq!(
        n,
        2 + minimal_len_bytes(payload_len) + if mask.is_some() { 4 } else { 0 }
    );
    assert_eq!(decode_header(&out[..n]), Ok(Some((header, n))));
    // §5.2: a 64-bit length with the top bit set is refused.
    if minimal_len_bytes(payload_len) == 8 {
        let mut bad = out;
        bad[2] |= 0x80;
        assert_eq!(
            decode_header(&bad[..n]),
            Err(ProtocolError::InvalidPayloadLength)
        );
    }

    // (3) A whole frame: this header with the rest of the input as its payload.
    let split = usize::from(f.u8());
    let max_frame_size = match f.u8() {
        b @ 0..=127 => u64::from(b),
        _ => u64::MAX,
    };
    let payload = f.0;
    let header = FrameHeader {
        payload_len: payload.len() as u64,
        ..header
    };
    let mut wire = Vec::new();
    header.encode_to_vec(&mut wire);
    let body = wire.len();
    wire.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut wire[body..], key, 0);
    }
    let expected_error = if header.rsv != 0 {
        Some(ProtocolError::ReservedBits(header.rsv))
    } else if header.opcode.is_control() && !header.fin {
        Some(ProtocolError::FragmentedControlFrame)
    } else if header.opcode.is_control() && payload.len() > 125 {
        // Refused at the second byte, before an extended length is read: the error holds
        // the 7-bit length field (126 or 127).
        Some(ProtocolError::ControlFrameTooLong(u64::from(
            wire[1] & 0x7f,
        )))
    } else if header.payload_len > max_frame_size {
        Some(ProtocolError::FrameTooLarge {
            len: header.payload_len,
            max: max_frame_size,
        })
    } else {
        None
    };
    let role = if mask.is_some() {
        Role::Server
    } else {
        Role::Client
    };
    // The one-step decoder: the same frame, or the same error; partial input is `None`.
    let mut raw = wire.clone();
    let mut one = FrameDecoder::new(role, max_frame_size);
    match one.decode_frame(&mut raw) {
        Ok(Some(whole)) => {
            assert_eq!(expected_error, None);
            assert_eq!(whole.frame_len, wire.len());
            assert_eq!(whole.header, header);
            assert_eq!(&raw[whole.header_len..whole.frame_len], payload);
        }
        Ok(None) => panic!("decode_frame: None on a whole frame"),
        Err(e) => assert_eq!(Some(e), expected_error),
    }
    let mut raw = wire.clone();
    let cut = usize::from(b1).min(wire.len().saturating_sub(1));
    match one.decode_frame(&mut raw[..cut]) {
        Ok(Some(_)) => panic!("decode_frame: a frame from {cut} of {} bytes", wire.len()),
        Ok(None) => {}
        Err(e) => assert_eq!(Some(e), expected_error),
    }
    let mut dec = FrameDecoder::new(role, max_frame_size);
    let split = split.min(wire.len());
    let (mut pos, mut avail) = (0, split);
    let mut got_header = None;
    let mut got_payload = Vec::new();
    let mut done = false;
    let mut steps = 0;
    while !done {
        steps += 1;
        assert!(steps < 16 + wire.len(), "the decoder does not progress");
        match dec.decode(&mut wire[pos..avail]) {
            Err(e) => {
                assert_eq!(Some(e), expected_error);
                return;
            }
            Ok((k, ev)) => {
                assert!(k <= avail - pos);
                pos += k;
                match ev {
                    Decoded::NeedMore => {
                        assert_eq!(k, 0);
                        assert!(avail < wire.len(), "NeedMore on a whole frame");
                        avail = wire.len();
                    }
                    Decoded::Header(h) => {
                        assert!(got_header.is_none());
                        got_header = Some(h);
                    }
                    Decoded::Payload { data, last } => {
                        got_payload.extend_from_slice(data);
                        done = last;
                    }
                }
            }
        }
    }
    assert_eq!(expected_error, None);
    assert_eq!(got_header, Some(header));
    assert_eq!(got_payload, payload);
    assert_eq!(pos, wire.len());

    // (4) The fast mask equals the naive loop, whole and split at any point.
    let key = [b0, b1, b0 ^ 0x5a, b1 ^ 0xa5];
    let offset = split;
    let mut fast = payload.to_vec();
    let mut naive = payload.to_vec();
    apply_mask(&mut fast, key, offset);
    apply_mask_naive(&mut naive, key, offset);
    assert_eq!(fast, naive);
    let cut = split.min(payload.len());
    let mut two = payload.to_vec();
    let (a, b) = two.split_at_mut(cut);
    apply_mask(a, key, offset);
    apply_mask(b, key, offset + cut);
    assert_eq!(two, naive);
}

// ---- permessage-deflate: negotiation ----------------------------------------------------

use wisp_codec::extension::{
    parse_extensions, DeflateOffer, DeflateParams, Extension, ServerDeflate, PERMESSAGE_DEFLATE,
};

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Extensions written back as a header value, every value quoted or none.
fn write_extensions(exts: &[Extension], quote: bool) -> String {
    let one = |e: &Extension| {
        let mut s = e.name.clone();
        for (k, v) in &e.params {
            s.push_str("; ");
            s.push_str(k);
            match v {
                Some(v) if quote => s.push_str(&format!("=\"{v}\"")),
                Some(v) => s.push_str(&format!("={v}")),
                None => {}
            }
        }
        s
    };
    exts.iter().map(one).collect::<Vec<_>>().join(", ")
}

fn is_deflate(e: &Extension) -> bool {
    e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE)
}

fn check_params_bounds(p: &DeflateParams) {
    assert!((8..=15).contains(&p.server_max_window_bits), "{p:?}");
    assert!((8..=15).contains(&p.client_max_window_bits), "{p:?}");
}

/// Fuzz target `extension`: byte 0 configures a server's [`ServerDeflate`], byte 1 a
/// client's [`DeflateOffer`]; the rest, up to the first newline, is a client's
/// `Sec-WebSocket-Extensions` value and after it a server's answer. What must hold: what
/// parses is tokens and writes back to the same extensions (quoted or not, padded, with
/// empty list elements); an offer that reads writes back to itself; the server accepts
/// exactly when some offer is valid, within what the offer and its own settings allow, and
/// the client that made that offer accepts the answer with the same parameters, through
/// the whole opening handshake too; the client's check of an arbitrary answer agrees with
/// its offer, and a connection pair with the parameters it agreed round-trips a message.
pub fn extension(data: &[u8]) {
    let mut f = Fields(data);
    let scfg = f.u8();
    let ccfg = f.u8();
    let text = String::from_utf8_lossy(f.0);
    let (request, response) = text.split_once('\n').unwrap_or((&text, ""));

    // The grammar: tokens only, written back to the same extensions.
    let parsed = parse_extensions(request);
    if let Ok(exts) = &parsed {
        for e in exts {
            assert!(is_token(&e.name), "{e:?}");
            for (k, v) in &e.params {
                assert!(is_token(k), "{e:?}");
                assert!(v.as_deref().is_none_or(is_token), "{e:?}");
            }
        }
        for quote in [false, true] {
            let again = write_extensions(exts, quote);
            assert_eq!(parse_extensions(&again).as_ref(), Ok(exts), "{again:?}");
        }
    }
    let padded = format!(" \t{request} ,, ");
    assert_eq!(
        parse_extensions(&padded),
        parsed,
        "padding changed the value"
    );

    // Each deflate offer that reads writes back to itself.
    let first_valid = parsed.as_ref().ok().and_then(|exts| {
        let mut first = None;
        for e in exts.iter().filter(|e| is_deflate(e)) {
            if let Ok(o) = DeflateOffer::from_extension(e) {
                for bits in [o.server_max_window_bits, o.client_max_window_bits.flatten()]
                    .into_iter()
                    .flatten()
                {
                    assert!((8..=15).contains(&bits), "{o:?}");
                }
                let again = parse_extensions(&o.to_header()).expect("our offer parses");
                assert_eq!(again.len(), 1);
                assert_eq!(DeflateOffer::from_extension(&again[0]), Ok(o));
                first.get_or_insert(o);
            }
        }
        first
    });

    // The server's choice, and the client's check of it.
    let server = ServerDeflate {
        server_no_context_takeover: scfg & 1 != 0,
        client_no_context_takeover: scfg & 2 != 0,
        server_max_window_bits: 8 + ((scfg >> 2) & 7),
        client_max_window_bits: (scfg & 0x20 != 0).then(|| 9 + ((scfg >> 6) & 3) * 2),
    };
    let chosen = server.negotiate(request);
    assert_eq!(
        chosen.is_some(),
        first_valid.is_some(),
        "the server accepts exactly when an offer is valid"
    );
    if let (Some((p, header)), Some(o)) = (&chosen, &first_valid) {
        check_params_bounds(p);
        assert!(p.server_no_context_takeover >= o.server_no_context_takeover);
        assert!(p.server_no_context_takeover >= server.server_no_context_takeover);
        assert!(p.client_no_context_takeover >= server.client_no_context_takeover);
        assert!(p.server_max_window_bits <= o.server_max_window_bits.unwrap_or(15));
        assert!(p.server_max_window_bits <= server.server_max_window_bits);
        match o.client_max_window_bits {
            // A client that cannot limit its window is not asked to.
            None => assert_eq!(p.client_max_window_bits, 15),
            Some(Some(n)) => assert!(p.client_max_window_bits <= n),
            Some(None) => {}
        }
        let answer = parse_extensions(header).expect("our answer parses");
        assert_eq!(answer.len(), 1);
        assert_eq!(o.check_response(&answer[0]), Ok(*p), "{header:?}");

        // The whole handshake: the client's request with that offer, our 101, its check.
        let client = ClientRequest::new("h", "/", [7; 16]).deflate(*o);
        let bytes = client.to_bytes();
        let (req, _) = handshake::parse_request(&bytes, usize::MAX)
            .expect("our request parses")
            .expect("our request is complete");
        let offer = req.validate().expect("our request validates");
        let (p2, header2) = server.negotiate(&offer.extensions).expect("still accepted");
        assert_eq!(p2, *p);
        let response = handshake::Response::new(&offer.key)
            .extensions(&header2)
            .to_bytes();
        let (accepted, _) = client
            .parse_response(&response, usize::MAX)
            .expect("our 101 is accepted")
            .expect("our 101 is complete");
        assert_eq!(accepted.deflate, Some(*p));
    }

    // The client's check of an arbitrary answer.
    let offer = DeflateOffer {
        server_no_context_takeover: ccfg & 1 != 0,
        client_no_context_takeover: ccfg & 2 != 0,
        server_max_window_bits: (ccfg & 4 != 0).then(|| 8 + ((ccfg >> 3) & 7)),
        client_max_window_bits: [None, Some(None), Some(Some(9)), Some(Some(12))]
            [usize::from(ccfg >> 6)],
    };
    let expected = match parse_extensions(response) {
        Err(_) => Err(ResponseError::MalformedHead),
        Ok(exts) => match exts.as_slice() {
            [] => Ok(None),
            [e] if is_deflate(e) => {
                let r = offer.check_response(e);
                if let Ok(p) = &r {
                    check_params_bounds(p);
                    assert!(p.server_no_context_takeover >= offer.server_no_context_takeover);
                    assert!(p.server_max_window_bits <= offer.server_max_window_bits.unwrap_or(15));
                    match offer.client_max_window_bits {
                        None => assert_eq!(p.client_max_window_bits, 15),
                        Some(Some(n)) => assert!(p.client_max_window_bits <= n),
                        Some(None) => {}
                    }
                    deflate_round_trip(*p);
                }
                r.map(Some).map_err(ResponseError::DeflateParams)
            }
            _ => Err(ResponseError::UnexpectedExtension),
        },
    };
    // Through the client's whole response check, when the value fits on a header line.
    let printable = response.bytes().all(|c| (0x20..0x7f).contains(&c));
    if printable && !response.trim().is_empty() {
        let client = ClientRequest::new("h", "/", [7; 16]).deflate(offer);
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {response}\r\n\r\n",
            String::from_utf8_lossy(&handshake::accept_key(client.key().as_bytes()))
        );
        let got = client
            .parse_response(head.as_bytes(), usize::MAX)
            .map(|r| r.expect("a complete head").0.deflate);
        assert_eq!(got, expected, "{head:?}");
    }
}

/// A server and a client with these parameters: one message each way, compressed, twice.
fn deflate_round_trip(p: DeflateParams) {
    let mut s = Connection::server(Config::default());
    let mut c = Connection::client(Config::default(), || [1, 2, 3, 4]);
    s.set_deflate(p);
    c.set_deflate(p);
    let text = "{\"a\":[1,2,3],\"a\":[1,2,3],\"b\":\"xyzxyzxyz\"}";
    for _ in 0..2 {
        s.send_text(text).unwrap();
        c.send_text(text).unwrap();
        let hop = |from: &mut Connection, to: &mut Connection| {
            let out = from.pending_output_front().to_vec();
            assert_eq!(out[0], 0xc1, "FIN, RSV1, text");
            from.advance_output(out.len());
            to.handle_input(&out);
            assert_eq!(to.poll_event(), Ok(Some(Message::Text(text.into()))));
        };
        hop(&mut s, &mut c);
        hop(&mut c, &mut s);
    }
}

// ---- permessage-deflate: the inflating receive path -------------------------------------

type DeflateRun = (
    Vec<Result<Message, ProtocolError>>,
    Vec<u8>,
    State,
    Option<ProtocolError>,
);

/// One connection with `params` fed `stream` in `pieces`, echoing when asked.
fn deflate_run(
    role: Role,
    config: Config,
    params: DeflateParams,
    echo: bool,
    stream: &[u8],
    pieces: &[usize],
    mut rng: Option<&mut Rng>,
) -> DeflateRun {
    let mut conn = match role {
        Role::Server => Connection::server(config),
        Role::Client => Connection::client(config, || [9, 8, 7, 6]),
    };
    conn.set_deflate(params);
    conn.set_compress_threshold(0);
    let mut events = Vec::new();
    let mut at = 0;
    for &n in pieces.iter().chain([0].iter()) {
        let piece = &stream[at..at + n];
        at += n;
        match rng.as_deref_mut() {
            Some(rng) => {
                let min = n + rng.upto(16);
                conn.input_buffer(min)[..n].copy_from_slice(piece);
                conn.commit_input(n);
            }
            None => conn.handle_input(piece),
        }
        loop {
            let before = conn.state();
            match conn.poll_event() {
                Ok(None) => break,
                Ok(Some(m)) => {
                    assert!(events.len() <= stream.len() / 2, "more events than frames");
                    assert_ne!(before, State::Closed, "an event after Closed");
                    check_message(
                        &Setup {
                            role,
                            config,
                            echo,
                            close_first: false,
                            close_after_message: false,
                        },
                        &m,
                    );
                    if echo && matches!(m, Message::Text(_) | Message::Binary(_)) {
                        let sent = conn.send(m.clone());
                        assert_eq!(sent.is_ok(), before == State::Open);
                    }
                    events.push(Ok(m));
                }
                Err(e) => {
                    let code = e.close_code().0;
                    assert!([1002, 1007, 1009].contains(&code), "{e:?} maps to {code}");
                    assert_eq!(conn.state(), State::Closed);
                    assert_eq!(conn.poll_event(), Ok(None), "the error is returned once");
                    events.push(Err(e));
                    break;
                }
            }
        }
    }
    let mut output = Vec::new();
    while !conn.pending_output_front().is_empty() {
        output.extend_from_slice(conn.pending_output_front());
        conn.advance_output(conn.pending_output_front().len());
    }
    (events, output, conn.state(), conn.error())
}

/// Fuzz target `deflate_connection`: a `Connection` with permessage-deflate agreed (role,
/// limits, echo and the four parameters from bytes 0 and 1) fed a stream the rest of the
/// input describes, op by op: raw bytes, messages compressed (or not) by a peer
/// `Connection` with the same parameters, whole or fragmented, pings, and compressed
/// messages with a byte flipped. What must hold: every feeding (whole, a byte at a time,
/// random pieces, read into the input buffer) gives the same events, output and state;
/// messages stay within the limits (checked while inflating), errors are 1002, 1007 or
/// 1009; a stream made by the peer alone gives exactly the peer's messages (a prefix ending
/// in a 1009 under small limits); and the peer reads our output (echoes compressed with
/// our parameters, then our Close) without an error, with the echoes intact.
pub fn deflate_connection(data: &[u8]) {
    let mut f = Fields(data);
    let cfg = f.u8();
    let bits = f.u8();
    let role = if cfg & 4 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let params = DeflateParams {
        server_no_context_takeover: cfg & 8 != 0,
        client_no_context_takeover: cfg & 16 != 0,
        server_max_window_bits: 8 + (bits & 7),
        client_max_window_bits: 8 + ((bits >> 3) & 7),
    };
    let echo = cfg & 32 != 0;
    let (max_frame_size, max_message_size) = match cfg & 3 {
        0 => (1 << 20, 2 << 20),
        1 => (125, 256),
        2 => (16, 40),
        _ => (1 << 20, 64),
    };
    let config = Config {
        max_frame_size,
        max_message_size,
        ..Config::default()
    };
    let mut peer = match role {
        Role::Server => Connection::client(Config::default(), {
            let mut n = 0u32;
            move || {
                n = n.wrapping_add(0x0102_0304);
                n.to_be_bytes()
            }
        }),
        Role::Client => Connection::server(Config::default()),
    };
    peer.set_deflate(params);

    // The stream, op by op.
    let mut stream = Vec::new();
    let mut sent = Vec::new();
    let mut clean = true;
    while !f.0.is_empty() {
        let op = f.u8();
        let n = usize::from(f.u8()).min(f.0.len());
        let (chunk, rest) = f.0.split_at(n);
        f.0 = rest;
        peer.set_compress_threshold(if op & 16 != 0 { usize::MAX } else { 0 });
        let message = if op & 8 != 0 {
            Message::Text(String::from_utf8_lossy(chunk).into_owned())
        } else {
            Message::Binary(chunk.to_vec())
        };
        let (opcode, payload) = match &message {
            Message::Text(t) => (OpCode::Text, t.as_bytes().to_vec()),
            Message::Binary(b) => (OpCode::Binary, b.clone()),
            _ => unreachable!(),
        };
        match op % 5 {
            0 => {
                stream.extend_from_slice(chunk);
                clean = false;
                continue;
            }
            1 => peer.send(message.clone()).unwrap(),
            2 => {
                // Fragments at equal byte counts, a ping between two when asked.
                let k = 1 + usize::from(op >> 5);
                let step = payload.len().div_ceil(k).max(1);
                let parts: Vec<&[u8]> = if payload.is_empty() {
                    vec![&[]]
                } else {
                    payload.chunks(step).collect()
                };
                for (i, part) in parts.iter().enumerate() {
                    let code = if i == 0 { opcode } else { OpCode::Continuation };
                    peer.send_frame(code, i + 1 == parts.len(), part).unwrap();
                    if op & 0x20 != 0 && i + 1 < parts.len() {
                        peer.send_ping(b"p").unwrap();
                        sent.push(Message::Ping(b"p".to_vec()));
                    }
                }
            }
            3 => {
                let p = &chunk[..chunk.len().min(125)];
                peer.send_ping(p).unwrap();
                sent.push(Message::Ping(p.to_vec()));
                stream_take(&mut peer, &mut stream);
                continue;
            }
            _ => {
                // A compressed message with one byte flipped somewhere after its header.
                peer.set_compress_threshold(0);
                peer.send(message.clone()).unwrap();
                let start = stream.len();
                stream_take(&mut peer, &mut stream);
                let at = start + 2 + usize::from(op >> 3) % (stream.len() - start).max(1);
                if let Some(b) = stream.get_mut(at) {
                    *b ^= 1 << (op & 7);
                }
                clean = false;
                continue;
            }
        }
        sent.push(message);
        stream_take(&mut peer, &mut stream);
    }

    let [whole, bytewise, small, large] = chunkings(&stream, u64::from(cfg));
    let reference = deflate_run(role, config, params, echo, &stream, &whole, None);
    assert_eq!(
        deflate_run(role, config, params, echo, &stream, &bytewise, None),
        reference,
        "byte-at-a-time feeding differs from one-shot"
    );
    let mut rng = Rng::from_bytes(&stream, 11);
    for pieces in [small, large] {
        assert_eq!(
            deflate_run(role, config, params, echo, &stream, &pieces, Some(&mut rng)),
            reference,
            "random pieces differ from one-shot ({pieces:?})"
        );
    }
    let (events, output, state, error) = &reference;

    // The peer's messages, exactly (pings included: auto_pong answers them).
    if clean {
        let got: Vec<&Message> = events.iter().filter_map(|e| e.as_ref().ok()).collect();
        assert!(got.len() <= sent.len());
        assert!(
            got.iter().zip(&sent).all(|(a, b)| *a == b),
            "a clean stream gave other messages"
        );
        if got.len() < sent.len() {
            assert!(
                matches!(
                    error,
                    Some(
                        ProtocolError::MessageTooLarge { .. } | ProtocolError::FrameTooLarge { .. }
                    )
                ),
                "a clean stream stopped early with {error:?}"
            );
            assert_ne!(
                cfg & 3,
                0,
                "a clean stream within the default limits failed"
            );
        } else {
            assert_eq!(*error, None);
            assert_eq!(*state, State::Open);
        }
    }

    // The peer reads our output: our echoes intact, then our Close if one went out.
    peer.handle_input(output);
    let mut echoed = Vec::new();
    loop {
        match peer.poll_event() {
            Ok(None) => break,
            Ok(Some(m @ (Message::Text(_) | Message::Binary(_)))) => echoed.push(m),
            Ok(Some(Message::Close(frame))) => {
                if let Some(e) = error {
                    assert_eq!(frame.map(|f| f.code), Some(e.close_code()));
                }
            }
            Ok(Some(_)) => {}
            Err(e) => panic!("the peer cannot read our output: {e:?}"),
        }
    }
    let data_events: Vec<&Message> = events
        .iter()
        .filter_map(|e| e.as_ref().ok())
        .filter(|m| matches!(m, Message::Text(_) | Message::Binary(_)))
        .collect();
    if echo {
        // Messages after a Close arrived are not echoed (the raw bytes may hold a Close).
        assert!(echoed.len() <= data_events.len());
        assert!(echoed.iter().zip(&data_events).all(|(a, b)| a == *b));
        if clean {
            assert_eq!(echoed.len(), data_events.len());
        }
    } else {
        assert!(echoed.is_empty());
    }
}

/// Moves all of `conn`'s output onto `stream`.
fn stream_take(conn: &mut Connection, stream: &mut Vec<u8>) {
    while !conn.pending_output_front().is_empty() {
        stream.extend_from_slice(conn.pending_output_front());
        conn.advance_output(conn.pending_output_front().len());
    }
}
