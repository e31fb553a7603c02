//! Property tests: fast paths against naive models, round trips, chunking invariance.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use wisp_codec::internals::{
    apply_mask_naive, decode_header, extend_unmasked, Decoded, FrameDecoder, Utf8Validator,
};
use wisp_codec::{
    apply_mask, Config, Connection, FrameHeader, Message, OpCode, ProtocolError, Role,
};

fn any_opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

fn any_header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<bool>(),
        0u8..8,
        any_opcode(),
        proptest::option::of(any::<[u8; 4]>()),
        prop_oneof![0u64..=125, 126u64..=65535, 65536u64..=(u64::MAX >> 1)],
    )
        .prop_map(|(fin, rsv, opcode, mask, payload_len)| FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        })
}

/// Splits `len` bytes into pieces using `cuts` as piece sizes (cycled), 1 byte minimum.
fn pieces(len: usize, cuts: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < len {
        let size = cuts
            .get(i % cuts.len().max(1))
            .copied()
            .unwrap_or(len)
            .max(1);
        let end = (at + size).min(len);
        out.push(at..end);
        at = end;
        i += 1;
    }
    out
}

/// Decodes a stream of frames fed in the given pieces; returns (header, payload) per
/// frame and the first error.
fn decode_stream(
    role: Role,
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<(FrameHeader, Vec<u8>)>, Option<ProtocolError>) {
    let mut dec = FrameDecoder::new(role, 1 << 20);
    let mut frames: Vec<(FrameHeader, Vec<u8>)> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for range in pieces(bytes.len(), cuts) {
        pending.extend_from_slice(&bytes[range]);
        loop {
            match dec.decode(&mut pending) {
                Err(e) => return (frames, Some(e)),
                Ok((n, ev)) => {
                    let done = match ev {
                        Decoded::NeedMore => true,
                        Decoded::Header(h) => {
                            frames.push((h, Vec::new()));
                            false
                        }
                        Decoded::Payload { data, .. } => {
                            frames.last_mut().unwrap().1.extend_from_slice(data);
                            false
                        }
                    };
                    pending.drain(..n);
                    if done {
                        break;
                    }
                }
            }
        }
    }
    (frames, None)
}

/// Feeds `wire` to `server` straight through `input_buffer`, as `reads` say (the size
/// asked, how much is read into the space, whether `decode` runs after), then runs
/// `decode` once more.
fn read_in_pieces(
    server: &mut Connection,
    wire: &[u8],
    reads: &[(usize, usize, bool)],
    mut decode: impl FnMut(&mut Connection),
) -> Result<(), TestCaseError> {
    let mut at = 0;
    let mut steps = reads.iter().cycle();
    while at < wire.len() {
        let (ask, take, now) = *steps.next().unwrap();
        let buf = server.input_buffer(ask);
        prop_assert!(buf.len() >= ask);
        let n = take.min(buf.len()).min(wire.len() - at).max(1);
        buf[..n].copy_from_slice(&wire[at..at + n]);
        server.commit_input(n);
        at += n;
        if now {
            decode(server);
        }
    }
    decode(server);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// §5.2: any header encodes to its minimal form and decodes to itself.
    #[test]
    fn header_round_trip(h in any_header()) {
        let mut out = [0u8; 14];
        let n = h.encode(&mut out);
        prop_assert_eq!(n, h.encoded_len());
        prop_assert_eq!(decode_header(&out[..n]), Ok(Some((h, n))));
        // Every strict prefix is partial, never an error.
        for cut in 0..n {
            prop_assert_eq!(decode_header(&out[..cut]), Ok(None));
        }
    }

    /// §5.3: the fast mask equals the byte-at-a-time loop at every offset and length.
    #[test]
    fn mask_equals_naive(data in proptest::collection::vec(any::<u8>(), 0..600), key in any::<[u8; 4]>(), offset in 0usize..64) {
        let mut fast = data.clone();
        let mut naive = data.clone();
        apply_mask(&mut fast, key, offset);
        apply_mask_naive(&mut naive, key, offset);
        prop_assert_eq!(&fast, &naive);
        // Masking twice is the identity.
        apply_mask(&mut fast, key, offset);
        prop_assert_eq!(fast, data);
    }

    /// Unmasking while copying equals copying and then the byte-at-a-time loop, at every
    /// offset and length (several of its 1 KiB pieces included), after any prefix.
    #[test]
    fn extend_unmasked_equals_naive(
        prefix in proptest::collection::vec(any::<u8>(), 0..20),
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        key in any::<[u8; 4]>(),
        offset in 0usize..64,
    ) {
        let mut fast = prefix.clone();
        extend_unmasked(&mut fast, &data, key, offset);
        let mut naive = data.clone();
        apply_mask_naive(&mut naive, key, offset);
        prop_assert_eq!(&fast[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&fast[prefix.len()..], &naive[..]);
    }

    /// Frames encoded and decoded give back the same header and payload, whatever the
    /// chunking of the input: random pieces equal one shot, byte at a time included.
    #[test]
    fn decoder_chunking_invariance(
        frames in proptest::collection::vec((any::<bool>(), prop_oneof![Just(OpCode::Text), Just(OpCode::Binary), Just(OpCode::Continuation), Just(OpCode::Ping)], any::<[u8; 4]>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8),
        cuts in proptest::collection::vec(1usize..40, 1..10),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (fin, opcode, key, payload) in frames {
            let fin = fin || opcode.is_control();
            let payload = if opcode.is_control() { payload[..payload.len().min(125)].to_vec() } else { payload };
            let h = FrameHeader { fin, rsv: 0, opcode, mask: Some(key), payload_len: payload.len() as u64 };
            h.encode_to_vec(&mut stream);
            let mut masked = payload.clone();
            apply_mask(&mut masked, key, 0);
            stream.extend_from_slice(&masked);
            expected.push((h, payload));
        }
        let one_shot = decode_stream(Role::Server, &stream, &[stream.len().max(1)]);
        let byte_at_a_time = decode_stream(Role::Server, &stream, &[1]);
        let random = decode_stream(Role::Server, &stream, &cuts);
        prop_assert_eq!(&one_shot.0, &expected);
        prop_assert_eq!(one_shot.1, None);
        prop_assert_eq!(&byte_at_a_time, &one_shot);
        prop_assert_eq!(&random, &one_shot);
    }

    /// Arbitrary bytes: whatever the chunking, the same frames and the same error.
    #[test]
    fn decoder_garbage_chunking_invariance(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        cuts in proptest::collection::vec(1usize..20, 1..8),
        role in prop_oneof![Just(Role::Client), Just(Role::Server)],
    ) {
        let one_shot = decode_stream(role, &bytes, &[bytes.len().max(1)]);
        prop_assert_eq!(&decode_stream(role, &bytes, &[1]), &one_shot);
        prop_assert_eq!(&decode_stream(role, &bytes, &cuts), &one_shot);
    }

    /// §8.1: the streaming validator agrees with `core::str::from_utf8`, fails at the
    /// same position, and fails in the piece holding the byte that makes it certain.
    #[test]
    fn utf8_matches_std(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            ".{0,24}".prop_map(|s: String| s.into_bytes()),
            (".{0,16}", any::<usize>(), any::<u8>()).prop_map(|(s, at, b): (String, usize, u8)| {
                let mut v = s.into_bytes();
                if !v.is_empty() { let i = at % v.len(); v[i] = b; }
                v
            }),
            (".{0,16}", any::<usize>()).prop_map(|(s, at): (String, usize)| {
                let mut v = s.into_bytes();
                if !v.is_empty() { let i = at % v.len(); v.truncate(i.max(1)); }
                v
            }),
        ],
        cuts in proptest::collection::vec(1usize..6, 1..6),
    ) {
        let expected = std::str::from_utf8(&bytes);
        // The naive model of "certain": the first prefix that from_utf8 calls invalid
        // (not merely incomplete).
        let certain_at = (0..bytes.len()).find(|&k| {
            matches!(std::str::from_utf8(&bytes[..=k]), Err(e) if e.error_len().is_some())
        });
        let mut v = Utf8Validator::new();
        let mut failed = None;
        for range in pieces(bytes.len(), &cuts) {
            if let Err(e) = v.feed(&bytes[range.clone()]) {
                failed = Some((range, e));
                break;
            }
        }
        match (expected, failed) {
            (Ok(_), None) => prop_assert!(v.finish().is_ok()),
            (Err(e), Some((range, err))) => {
                prop_assert!(e.error_len().is_some());
                prop_assert_eq!(err.valid_up_to, e.valid_up_to() as u64);
                let k = certain_at.unwrap();
                prop_assert!(range.contains(&k), "failed in {:?}, certain at {}", range, k);
            }
            (Err(e), None) => {
                // Truncated at the end: only `finish` can tell.
                prop_assert!(e.error_len().is_none());
                prop_assert_eq!(v.finish().unwrap_err().valid_up_to, e.valid_up_to() as u64);
            }
            (Ok(_), Some((_, err))) => prop_assert!(false, "valid input rejected: {:?}", err),
        }
    }

    /// Messages cross a client/server pair intact, however they are fragmented.
    #[test]
    fn connection_pair_messages(
        msgs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..2000), 1usize..5), 1..6),
        key in any::<[u8; 4]>(),
    ) {
        let mut client = Connection::client(Config::default(), move || key);
        let mut server = Connection::server(Config::default());
        for (text, bytes, parts) in &msgs {
            let text_payload = String::from_utf8_lossy(bytes).into_owned();
            let payload: &[u8] = if *text { text_payload.as_bytes() } else { bytes };
            let opcode = if *text { OpCode::Text } else { OpCode::Binary };
            let chunk = payload.len().div_ceil(*parts).max(1);
            let mut chunks: Vec<&[u8]> = payload.chunks(chunk).collect();
            if chunks.is_empty() { chunks.push(&[]); }
            for (i, c) in chunks.iter().enumerate() {
                let op = if i == 0 { opcode } else { OpCode::Continuation };
                client.send_frame(op, i + 1 == chunks.len(), c).unwrap();
                client.send_ping(b"between").unwrap();
            }
            server.handle_input(client.pending_output_front());
            client.advance_output(usize::MAX);
            let mut got = None;
            while let Some(m) = server.poll_event().unwrap() {
                match m {
                    Message::Ping(p) => prop_assert_eq!(p, b"between"),
                    other => got = Some(other),
                }
            }
            let want = if *text { Message::Text(text_payload.clone()) } else { Message::Binary(bytes.clone()) };
            prop_assert_eq!(got, Some(want));
        }
    }

    /// `send` (payloads handed over by value, large ones queued uncopied) writes the same
    /// bytes as the copying `send_*` calls, whether the driver takes the output a slice
    /// at a time, vectored, or in random partial writes.
    #[test]
    fn owned_sends_equal_copied_sends(
        msgs in proptest::collection::vec((0u8..4, 0usize..70_000, any::<u8>()), 1..8),
        writes in proptest::collection::vec(1usize..50_000, 1..40),
        vectored in any::<bool>(),
        client in any::<bool>(),
    ) {
        let make = || if client {
            let mut k = 0u8;
            Connection::client(Config::default(), move || { k = k.wrapping_add(1); [k, 2, 3, 4] })
        } else {
            Connection::server(Config::default())
        };
        let (mut owned, mut copied) = (make(), make());
        for (kind, len, fill) in &msgs {
            let payload = vec![*fill & 0x7f; *len];
            match kind {
                0 => {
                    let t = String::from_utf8(payload).unwrap();
                    copied.send_text(&t).unwrap();
                    owned.send(Message::Text(t)).unwrap();
                }
                1 => {
                    copied.send_binary(&payload).unwrap();
                    owned.send(Message::Binary(payload)).unwrap();
                }
                2 => {
                    let p = payload[..(*len).min(125)].to_vec();
                    copied.send_ping(&p).unwrap();
                    owned.send(Message::Ping(p)).unwrap();
                }
                _ => {
                    let p = payload[..(*len).min(125)].to_vec();
                    copied.send_pong(&p).unwrap();
                    owned.send(Message::Pong(p)).unwrap();
                }
            }
        }
        let want = copied.pending_output_front().to_vec();
        prop_assert_eq!(owned.pending_output_len(), want.len());
        let mut got = Vec::new();
        let mut sizes = writes.iter().cycle();
        while owned.pending_output_len() > 0 {
            let limit = *sizes.next().unwrap();
            let mut parts: [&[u8]; 3] = [&[]; 3];
            let n = if vectored { owned.pending_output_slices(&mut parts) } else {
                parts[0] = owned.pending_output_front();
                1
            };
            let mut taken = 0;
            for p in &parts[..n] {
                let k = p.len().min(limit - taken);
                got.extend_from_slice(&p[..k]);
                taken += k;
            }
            prop_assert!(taken > 0);
            owned.advance_output(taken);
        }
        prop_assert!(owned.pending_output_front().is_empty());
        prop_assert_eq!(got, want);
    }

    /// Reading straight into `input_buffer` (any size asked, any count committed, decoding
    /// now and then or not at all, so the buffer grows, compacts and moves with undecoded
    /// bytes in it) delivers the same messages as one `handle_input` of the whole stream.
    #[test]
    fn input_buffer_reads_equal_one_shot(
        sizes in proptest::collection::vec(0usize..200_000, 1..6),
        reads in proptest::collection::vec((1usize..300_000, 0usize..300_000, any::<bool>()), 1..30),
    ) {
        let mut client = Connection::client(Config::default(), || [9, 8, 7, 6]);
        let mut want = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let m = vec![i as u8; *n];
            client.send_binary(&m).unwrap();
            want.push(Message::Binary(m));
        }
        let wire = client.pending_output_front().to_vec();
        let mut server = Connection::server(Config::default());
        let mut got = Vec::new();
        read_in_pieces(&mut server, &wire, &reads, |server| {
            while let Some(m) = server.poll_event().unwrap() {
                got.push(m);
            }
        })?;
        prop_assert_eq!(got, want);
    }

    /// Frames of any size read in any pieces (large ones a payload piece at a time):
    /// text checked as UTF-8 across the reads (a bad byte anywhere gives the same error
    /// at the same point), fragments and a ping between them, equal one `handle_input` of
    /// the whole stream, message for message.
    #[test]
    fn reads_in_any_pieces_equal_one_shot(
        messages in proptest::collection::vec(
            (any::<bool>(), 0usize..300_000, 1usize..4, any::<bool>()),
            1..5,
        ),
        bad in proptest::option::of((0usize..5, 0usize..300_000)),
        reads in proptest::collection::vec((1usize..100_000, 1usize..300_000, any::<bool>()), 1..20),
    ) {
        let text = "aé€😀".repeat(300_000 / 10 + 1);
        let mut client = Connection::client(Config::default(), || [9, 8, 7, 6]);
        for (i, &(is_text, size, fragments, ping)) in messages.iter().enumerate() {
            let mut bytes = if is_text {
                text.as_bytes()[..text.floor_char_boundary(size)].to_vec()
            } else {
                (0..size).map(|j| (j * 7 + i) as u8).collect()
            };
            if let Some((m, at)) = bad {
                if m == i && is_text && !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = 0xff;
                }
            }
            let opcode = if is_text { OpCode::Text } else { OpCode::Binary };
            let cut = bytes.len() / fragments;
            let mut at = 0;
            for f in 0..fragments {
                let end = if f + 1 == fragments { bytes.len() } else { at + cut };
                let op = if f == 0 { opcode } else { OpCode::Continuation };
                client.send_frame(op, f + 1 == fragments, &bytes[at..end]).unwrap();
                at = end;
                if ping && f == 0 {
                    client.send_ping(b"between").unwrap();
                }
            }
        }
        let wire = client.pending_output_front().to_vec();
        let config = Config { max_message_size: 1 << 20, ..Config::default() };
        let events = |server: &mut Connection, out: &mut Vec<Result<Message, ProtocolError>>| {
            loop {
                match server.poll_event() {
                    Ok(Some(m)) => out.push(Ok(m)),
                    Ok(None) => return,
                    Err(e) => {
                        out.push(Err(e));
                        return;
                    }
                }
            }
        };
        let mut one_shot = Connection::server(config);
        one_shot.handle_input(&wire);
        let mut want = Vec::new();
        events(&mut one_shot, &mut want);
        let mut server = Connection::server(config);
        let mut got = Vec::new();
        read_in_pieces(&mut server, &wire, &reads, |server| events(server, &mut got))?;
        prop_assert_eq!(got.len(), want.len());
        prop_assert_eq!(got, want);
        prop_assert_eq!(server.close_code(), one_shot.close_code());
    }

    /// Each recorded frame's reads are those that brought its bytes, against a naive
    /// model of the reads' byte ranges, however the input is split and whenever it is
    /// decoded (whole frames and frames read in pieces; sizes of the first 16 reads).
    #[test]
    fn recorded_reads_match_the_input_split(
        sizes in proptest::collection::vec(prop_oneof![0usize..=40, 100usize..=300], 1..12),
        reads in proptest::collection::vec((1usize..64, 1usize..64, any::<bool>()), 1..8),
    ) {
        let mut client = Connection::client(Config::default(), || [7, 1, 8, 2]);
        for (i, size) in sizes.iter().enumerate() {
            if i % 3 == 2 {
                client.send_ping(&vec![b'p'; *size % 126]).unwrap();
            } else {
                client.send_binary(&vec![b'b'; *size]).unwrap();
            }
        }
        let wire = client.pending_output_front().to_vec();
        let mut server = Connection::server(Config { record_frames: true, ..Config::default() });
        let mut spans = Vec::new(); // each read's byte range, as committed
        let mut at = 0;
        let mut steps = reads.iter().cycle();
        while at < wire.len() {
            let (_, take, now) = *steps.next().unwrap();
            let n = take.min(wire.len() - at);
            server.handle_input(&wire[at..at + n]);
            spans.push(at..at + n);
            at += n;
            if now {
                while let Ok(Some(_)) = server.poll_event() {}
            }
        }
        while let Ok(Some(_)) = server.poll_event() {}
        let read_of = |byte: usize| spans.iter().position(|r| r.contains(&byte)).unwrap() as u64 + 1;
        let mut start = 0;
        let mut frames = 0;
        while let Some(f) = server.poll_wire_frame() {
            if f.direction == wisp_codec::Direction::Sent {
                prop_assert_eq!(f.reads, None);
                continue;
            }
            let got = f.reads.expect("a received frame has its reads");
            let end = start + f.bytes.len();
            prop_assert_eq!(&f.bytes[..], &wire[start..end]);
            let (first, last) = (read_of(start), read_of(end - 1));
            prop_assert_eq!((got.first, got.last), (first, last));
            let listed = last.min(first + wisp_codec::READ_SIZES_KEPT as u64 - 1);
            let want: Vec<usize> = (first..=listed).map(|i| spans[i as usize - 1].len()).collect();
            prop_assert_eq!(got.sizes, want);
            start = end;
            frames += 1;
        }
        prop_assert_eq!(frames, sizes.len());
        prop_assert_eq!(start, wire.len());
    }
}
