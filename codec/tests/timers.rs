//! Time as an input: a client and a server `Connection` in memory, driven by a fake clock
//! (seconds since an epoch the test picks). The keepalive ping, the idle timeout, the
//! progress rule (a complete frame, or 64 KiB of one) and the wait for the peer's close.

use std::time::Duration;

use wisp_codec::{CloseCode, Config, Connection, Message, OpCode, State};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Ping after 10 s without progress, drop after 30 s, wait 5 s for a close reply.
fn config() -> Config {
    Config {
        ping_interval: Some(secs(10)),
        idle_timeout: Some(secs(30)),
        close_timeout: Some(secs(5)),
        ..Config::default()
    }
}

fn client() -> Connection {
    Connection::client(config(), || [0x11, 0x22, 0x33, 0x44])
}

/// Everything `conn` has to send.
fn take_output(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while !conn.pending_output_front().is_empty() {
        out.extend_from_slice(conn.pending_output_front());
        conn.advance_output(conn.pending_output_front().len());
    }
    out
}

/// Feeds `bytes` to `conn` at time `now` as a driver does: input, events, then the clock.
fn deliver(conn: &mut Connection, bytes: &[u8], now: Duration) -> Vec<Message> {
    conn.handle_input(bytes);
    let mut events = Vec::new();
    while let Ok(Some(m)) = conn.poll_event() {
        events.push(m);
    }
    conn.handle_timeout(now);
    events
}

/// The opcodes of the frames in a server's (unmasked) output, as a client decodes them.
fn server_frames(output: &[u8]) -> Vec<Message> {
    let mut reader = Connection::client(
        Config {
            auto_pong: false,
            ..Config::default()
        },
        || [0; 4],
    );
    deliver(&mut reader, output, Duration::ZERO)
}

#[test]
fn the_clock_starts_at_the_first_call() {
    let mut s = Connection::server(config());
    // Before it knows the time, the connection asks for it at once.
    assert_eq!(s.poll_timeout(), Some(Duration::ZERO));
    // Any epoch will do: the first call starts the timers.
    s.handle_timeout(secs(1000));
    assert_eq!(s.poll_timeout(), Some(secs(1010)));
    assert!(s.pending_output_front().is_empty());
}

#[test]
fn a_ping_goes_out_after_the_interval_without_progress() {
    let mut s = Connection::server(config());
    s.handle_timeout(secs(0));
    s.handle_timeout(secs(9));
    assert!(
        s.pending_output_front().is_empty(),
        "no ping before the interval"
    );
    assert_eq!(s.poll_timeout(), Some(secs(10)));
    s.handle_timeout(secs(10));
    let out = take_output(&mut s);
    assert_eq!(
        server_frames(&out),
        [Message::Ping(b"wisp keepalive".to_vec())]
    );
    // One ping per quiet spell: the next moment is the idle timeout.
    assert_eq!(s.poll_timeout(), Some(secs(30)));
    s.handle_timeout(secs(20));
    assert!(s.pending_output_front().is_empty());
}

#[test]
fn a_pong_in_time_keeps_the_connection() {
    let mut s = Connection::server(config());
    let mut c = client();
    s.handle_timeout(secs(0));
    c.handle_timeout(secs(0));
    s.handle_timeout(secs(10));
    let ping = take_output(&mut s);
    // The client answers the ping (auto pong) at 15 s.
    let events = deliver(&mut c, &ping, secs(15));
    assert!(matches!(events[..], [Message::Ping(_)]));
    let pong = take_output(&mut c);
    let events = deliver(&mut s, &pong, secs(15));
    assert!(matches!(events[..], [Message::Pong(_)]));
    // The pong was progress: the next ping is due 10 s after it, the drop 30 s after it.
    assert_eq!(s.poll_timeout(), Some(secs(25)));
    s.handle_timeout(secs(30));
    assert_eq!(
        s.state(),
        State::Open,
        "no drop at 30 s: the pong came at 15 s"
    );
    assert_eq!(
        server_frames(&take_output(&mut s)).len(),
        1,
        "the second ping"
    );
    s.handle_timeout(secs(44));
    assert_eq!(s.state(), State::Open);
    s.handle_timeout(secs(45));
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn a_silent_peer_is_dropped_with_1001() {
    let mut s = Connection::server(config());
    let mut c = client();
    s.handle_timeout(secs(0));
    s.handle_timeout(secs(10)); // the ping, never answered
    s.handle_timeout(secs(29));
    assert_eq!(s.state(), State::Open);
    s.handle_timeout(secs(30));
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.poll_timeout(), None);
    let out = take_output(&mut s);
    let close = server_frames(&out).pop().unwrap();
    let Message::Close(Some(frame)) = close else {
        panic!("{close:?}")
    };
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::GOING_AWAY, "idle timeout")
    );
    // No close came from the peer: 1006 (§7.1.5), with the reason it ended.
    assert_eq!(s.close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(s.close_reason(), "idle timeout");
    assert_eq!(s.error(), None);
    // The client reads the server's close and answers it.
    c.handle_timeout(secs(30));
    let events = deliver(&mut c, &out, secs(30));
    assert!(matches!(events.last(), Some(Message::Close(Some(_)))));
    assert_eq!(c.close_code(), Some(CloseCode::GOING_AWAY));
    assert_eq!(c.close_reason(), "idle timeout");
}

#[test]
fn a_small_frame_dribbled_a_byte_per_five_seconds_is_progress_when_whole() {
    let cfg = Config {
        idle_timeout: Some(secs(60)),
        ..config()
    };
    let mut s = Connection::server(cfg);
    let mut c = Connection::client(cfg, || [1, 2, 3, 4]);
    c.send_text("hi").unwrap();
    let frame = take_output(&mut c);
    assert_eq!(frame.len(), 8);
    s.handle_timeout(secs(0));
    let mut pings = 0;
    let mut messages = Vec::new();
    for (i, b) in frame.iter().enumerate() {
        let now = secs(5 * i as u64);
        messages.extend(deliver(&mut s, &[*b], now));
        pings += server_frames(&take_output(&mut s)).len();
    }
    // Bytes 0..=7 at 0..=35 s: the frame is whole at 35 s. The ping went out at 10 s
    // (bytes of an unfinished frame are no progress), and only one.
    assert_eq!(messages, [Message::Text("hi".into())]);
    assert_eq!(pings, 1);
    // The whole frame was progress at 35 s: the next ping at 45 s, the drop at 95 s.
    assert_eq!(s.poll_timeout(), Some(secs(45)));
    s.handle_timeout(secs(94));
    assert_eq!(s.state(), State::Open);
    s.handle_timeout(secs(95));
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn a_large_frame_dribbled_a_byte_per_five_seconds_is_dropped() {
    let mut s = Connection::server(config());
    let mut c = client();
    c.send_binary(&[7; 1000]).unwrap();
    let frame = take_output(&mut c);
    s.handle_timeout(secs(0));
    let mut at = 0;
    for (i, b) in frame.iter().enumerate() {
        if s.state() == State::Closed {
            break;
        }
        at = 5 * i as u64;
        assert!(deliver(&mut s, &[*b], secs(at)).is_empty());
    }
    // Bytes kept coming, a frame never ended: dropped at the idle timeout.
    assert_eq!(at, 30);
    assert_eq!(s.close_reason(), "idle timeout");
}

#[test]
fn sixty_four_kib_of_a_large_frame_count_as_progress() {
    let mut s = Connection::server(Config {
        max_frame_size: 1 << 20,
        ..config()
    });
    let mut c = client();
    c.send_binary(&[9; 320 * 1024]).unwrap();
    let frame = take_output(&mut c);
    s.handle_timeout(secs(0));
    let mut messages = Vec::new();
    // 32 KiB every 5 s: 64 KiB every 10 s, which is progress each time.
    for (i, chunk) in frame.chunks(32 * 1024).enumerate() {
        let now = secs(5 * i as u64);
        messages.extend(deliver(&mut s, chunk, now));
        assert_eq!(s.state(), State::Open, "at {now:?}");
        assert!(take_output(&mut s).is_empty(), "a ping at {now:?}");
    }
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].opcode(), OpCode::Binary);
}

#[test]
fn a_close_never_answered_is_given_up_after_the_close_timeout() {
    let mut c = client();
    c.handle_timeout(secs(100));
    c.send_close(CloseCode::NORMAL, "bye").unwrap();
    // The wait starts once our close is written, at the next call after that.
    c.handle_timeout(secs(100));
    assert_eq!(
        c.poll_timeout(),
        Some(secs(130)),
        "not written yet: the idle timer only"
    );
    let out = take_output(&mut c);
    assert_eq!(c.poll_timeout(), Some(secs(100)));
    c.handle_timeout(secs(100));
    assert_eq!(c.poll_timeout(), Some(secs(105)));
    c.handle_timeout(secs(104));
    assert_eq!(c.state(), State::Closing);
    assert_eq!(c.close_code(), None);
    c.handle_timeout(secs(105));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(
        c.close_reason(),
        "the peer did not answer our close in time"
    );
    // Only our close went out: no ping while closing.
    assert!(take_output(&mut c).is_empty());
    let mut s = Connection::server(config());
    let events = deliver(&mut s, &out, secs(0));
    assert!(matches!(events[..], [Message::Close(Some(_))]));
}

#[test]
fn a_close_answered_in_time_ends_with_the_peers_code() {
    let mut c = client();
    let mut s = Connection::server(config());
    c.handle_timeout(secs(0));
    c.send_close(CloseCode::GOING_AWAY, "").unwrap();
    let close = take_output(&mut c);
    c.handle_timeout(secs(0));
    deliver(&mut s, &close, secs(1));
    assert_eq!(s.close_code(), Some(CloseCode::GOING_AWAY));
    let reply = take_output(&mut s);
    deliver(&mut c, &reply, secs(4));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.close_code(), Some(CloseCode::GOING_AWAY));
    assert_eq!(c.poll_timeout(), None);
    // A close without a code reads as 1005 (§7.1.5).
    let mut c = client();
    deliver(&mut c, &[0x88, 0x00], secs(0));
    assert_eq!(c.close_code(), Some(CloseCode::NO_STATUS_RECEIVED));
}

#[test]
fn a_shutdown_can_give_its_peers_longer() {
    let mut s = Connection::server(config());
    s.handle_timeout(secs(0));
    s.set_close_timeout(Some(secs(9)));
    s.send_close(CloseCode::GOING_AWAY, "server shutting down")
        .unwrap();
    take_output(&mut s);
    s.handle_timeout(secs(1));
    assert_eq!(s.poll_timeout(), Some(secs(10)));
}

#[test]
fn timers_set_to_none_never_fire() {
    let mut s = Connection::server(Config {
        ping_interval: None,
        idle_timeout: None,
        close_timeout: None,
        ..Config::default()
    });
    s.handle_timeout(secs(0));
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(secs(1 << 40));
    assert!(s.pending_output_front().is_empty());
    s.send_close(CloseCode::NORMAL, "").unwrap();
    s.handle_timeout(secs(1 << 41));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.state(), State::Closing);
}

#[test]
fn a_clock_that_steps_back_is_read_as_no_time_passing() {
    let mut s = Connection::server(config());
    s.handle_timeout(secs(50));
    s.handle_timeout(secs(5));
    assert_eq!(s.poll_timeout(), Some(secs(60)));
    assert!(s.pending_output_front().is_empty());
}
