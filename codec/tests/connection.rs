//! A client `Connection` and a server `Connection` driven against each other in memory
//! (RFC 6455 §5.4 fragmentation, §5.5 control frames, §7 closing handshake).

use wisp_codec::{CloseCode, CloseFrame, Config, Connection, Message, OpCode, State, UsageError};

fn pair() -> (Connection, Connection) {
    let mut n: u32 = 0x1234_5678;
    let masks = move || {
        n = n.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        n.to_be_bytes()
    };
    (
        Connection::client(Config::default(), masks),
        Connection::server(Config::default()),
    )
}

/// Moves `from`'s pending output into `to` in pieces of `chunk` bytes and returns every
/// event `to` produced.
fn pump(from: &mut Connection, to: &mut Connection, chunk: usize) -> Vec<Message> {
    let out = from.pending_output_front().to_vec();
    from.advance_output(out.len());
    let mut events = Vec::new();
    for piece in out.chunks(chunk.max(1)) {
        to.handle_input(piece);
        while let Some(m) = to.poll_event().expect("no protocol error") {
            events.push(m);
        }
    }
    events
}

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn text(len: usize) -> String {
    // Multi-byte characters cut across fragment boundaries on purpose.
    let s: String = "aé€😀".chars().cycle().take(len).collect();
    s.char_indices()
        .take_while(|(i, c)| i + c.len_utf8() <= len)
        .map(|(_, c)| c)
        .collect()
}

#[test]
fn whole_messages_both_ways() {
    let (mut client, mut server) = pair();
    for len in SIZES {
        client.send_binary(&payload(len)).unwrap();
        assert_eq!(
            pump(&mut client, &mut server, 4096),
            [Message::Binary(payload(len))]
        );
        server.send_text(&text(len)).unwrap();
        assert_eq!(
            pump(&mut server, &mut client, 7),
            [Message::Text(text(len))]
        );
    }
}

#[test]
fn fragmented_messages_with_pings_between() {
    let (mut client, mut server) = pair();
    for len in SIZES {
        let t = text(len);
        let bytes = t.as_bytes();
        // Up to 4 fragments, cut at arbitrary byte positions (even inside a code point).
        let cut = (bytes.len() / 3).max(1);
        let parts: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[][..]]
        } else {
            bytes.chunks(cut).collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let op = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            client.send_frame(op, i + 1 == parts.len(), part).unwrap();
            client.send_ping(&[i as u8]).unwrap();
        }
        let events = pump(&mut client, &mut server, 1000);
        let pings: Vec<_> = events
            .iter()
            .filter(|m| matches!(m, Message::Ping(_)))
            .collect();
        assert_eq!(pings.len(), parts.len());
        assert_eq!(
            events.last(),
            Some(&Message::Ping(vec![(parts.len() - 1) as u8]))
        );
        assert!(events.contains(&Message::Text(t.clone())));
        // Every ping got its pong back, in order.
        let pongs = pump(&mut server, &mut client, 1 << 20);
        let want: Vec<Message> = (0..parts.len())
            .map(|i| Message::Pong(vec![i as u8]))
            .collect();
        assert_eq!(pongs, want);
    }
}

#[test]
fn byte_at_a_time_delivery() {
    let (mut client, mut server) = pair();
    client
        .send_frame(OpCode::Binary, false, &payload(300))
        .unwrap();
    client.send_ping(b"p").unwrap();
    client
        .send_frame(OpCode::Continuation, true, &payload(70))
        .unwrap();
    let events = pump(&mut client, &mut server, 1);
    let mut whole = payload(300);
    whole.extend_from_slice(&payload(70));
    assert_eq!(
        events,
        [Message::Ping(b"p".to_vec()), Message::Binary(whole)]
    );
}

/// §7.1.2/§5.5.1: the client starts the close, the server answers with the same code.
#[test]
fn close_started_by_client() {
    let (mut client, mut server) = pair();
    client.send_close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(client.state(), State::Closing);
    let got = pump(&mut client, &mut server, 64);
    assert_eq!(
        got,
        [Message::Close(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into()
        }))]
    );
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.send_text("late"), Err(UsageError::Closed));
    let reply = pump(&mut server, &mut client, 64);
    assert!(matches!(&reply[..], [Message::Close(Some(f))] if f.code == CloseCode::NORMAL));
    assert_eq!(client.state(), State::Closed);
}

/// The server starts the close (1001, going away); data the client sent before it saw
/// the close still arrives, and nothing follows the server's close.
#[test]
fn close_started_by_server() {
    let (mut client, mut server) = pair();
    server
        .send_close(CloseCode::GOING_AWAY, "shutdown")
        .unwrap();
    client.send_text("in flight").unwrap();
    let to_server = pump(&mut client, &mut server, 64);
    assert_eq!(to_server, [Message::Text("in flight".into())]);
    let to_client = pump(&mut server, &mut client, 64);
    assert!(
        matches!(&to_client[..], [Message::Close(Some(f))] if f.code.0 == 1001 && f.reason == "shutdown")
    );
    assert_eq!(client.state(), State::Closed);
    let echo = pump(&mut client, &mut server, 64);
    assert!(matches!(&echo[..], [Message::Close(Some(f))] if f.code.0 == 1001));
    assert_eq!(server.state(), State::Closed);
    assert!(
        server.pending_output_front().is_empty(),
        "nothing is sent after our close"
    );
}

/// An empty close is answered with an empty close (§5.5.1).
#[test]
fn empty_close_is_echoed_empty() {
    let (mut client, mut server) = pair();
    client.handle_input(&[0x88, 0x00]);
    assert_eq!(client.poll_event(), Ok(Some(Message::Close(None))));
    let out = client.pending_output_front();
    assert_eq!(out.len(), 6, "masked empty close: header + key");
    assert_eq!(&out[..2], [0x88, 0x80]);
    server.handle_input(out);
    assert_eq!(server.poll_event(), Ok(Some(Message::Close(None))));
}

/// Automatic pong can be turned off.
#[test]
fn auto_pong_off() {
    let mut server = Connection::server(Config {
        auto_pong: false,
        ..Config::default()
    });
    server.handle_input(&[0x89, 0x80, 1, 2, 3, 4]);
    assert_eq!(server.poll_event(), Ok(Some(Message::Ping(vec![]))));
    assert!(server.pending_output_front().is_empty());
}

/// A large input buffer starts on a page boundary (the kernel copies into it faster),
/// and still does after it grew with undecoded bytes in it.
#[test]
fn large_input_buffer_is_page_aligned() {
    let mut s = Connection::server(Config::default());
    let buf = s.input_buffer(256 * 1024);
    assert_eq!(buf.as_ptr() as usize % 4096, 0);
    buf[..2].copy_from_slice(&[0x82, 0xff]); // half of a header: stays undecoded
    s.commit_input(2);
    assert_eq!(s.poll_event(), Ok(None));
    let len = s.input_buffer(1).len();
    let buf = s.input_buffer(len + 1); // forces a new buffer, the 2 bytes moved along
    assert_eq!((buf.as_ptr() as usize - 2) % 4096, 0);
    assert_eq!(s.buffered_input(), 2);
}

/// `send` by value: a Close without a body (§5.5.1 allows it) starts the closing
/// handshake like `send_close`, and the same rules hold: nothing after our Close, only
/// codes valid on the wire (§7.4).
#[test]
fn send_by_value_close_rules() {
    let mut s = Connection::server(Config::default());
    assert_eq!(
        s.send(Message::Close(Some(CloseFrame {
            code: CloseCode(1005),
            reason: String::new()
        }))),
        Err(UsageError::InvalidCloseCode)
    );
    s.send(Message::Close(None)).unwrap();
    assert_eq!(s.pending_output_front(), [0x88, 0x00]);
    assert_eq!(s.state(), State::Closing);
    assert_eq!(s.send(Message::Close(None)), Err(UsageError::Closed));
    assert_eq!(
        s.send(Message::Binary(vec![0; 100_000])),
        Err(UsageError::Closed)
    );
    assert_eq!(s.send(Message::Ping(vec![])), Err(UsageError::Closed));
    assert_eq!(s.pending_output_len(), 2);
}

/// `Connection::traffic`: a fragmented message counts once, and the automatic pong and
/// close reply count as sent.
#[test]
fn traffic_counts_fragments_once_and_the_automatic_answers() {
    let mut s = Connection::server(Default::default());
    s.send_frame(OpCode::Binary, false, b"abc").unwrap();
    s.send_frame(OpCode::Continuation, true, b"de").unwrap();
    // A masked ping "p", then a masked close 1000 with no reason.
    s.handle_input(&[
        0x89, 0x81, 0, 0, 0, 0, b'p', 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8,
    ]);
    assert_eq!(s.poll_event(), Ok(Some(Message::Ping(b"p".to_vec()))));
    assert!(matches!(s.poll_event(), Ok(Some(Message::Close(Some(_))))));
    let t = s.traffic();
    assert_eq!(
        (
            t.sent.messages(OpCode::Binary),
            t.sent.bytes(OpCode::Binary)
        ),
        (1, 5)
    );
    // The automatic pong and the close reply (the code echoed: 2 bytes).
    assert_eq!(
        (t.sent.messages(OpCode::Pong), t.sent.bytes(OpCode::Pong)),
        (1, 1)
    );
    assert_eq!(
        (t.sent.messages(OpCode::Close), t.sent.bytes(OpCode::Close)),
        (1, 2)
    );
    assert_eq!(t.received.messages(OpCode::Ping), 1);
    assert_eq!(t.received.bytes(OpCode::Close), 2);
    assert_eq!(s.close_code(), Some(CloseCode::NORMAL));
}
