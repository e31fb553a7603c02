//! The stream's own behaviour, in process: cancel-safe reads, backpressure, a peer
//! that vanishes mid-message (both sides), keepalive and the idle timeout on tokio's
//! timer, split halves, accept_hdr_async's callback and refusals. Every wait is
//! bounded by a timeout that fails the test; none is a timed assertion.

mod common;

use common::client_frame;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wisp_tokio::handshake::Refusal;
use wisp_tokio::{
    accept_hdr_async, connect_async_with, from_raw, AcceptError, ClientOptions, CloseCode, Config,
    Error, Message, Role,
};

const BOUND: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_dropped_next_future_loses_nothing() {
    let (mut peer, io) = tokio::io::duplex(1 << 20);
    let mut ws = from_raw(io, Role::Server, Config::default());
    // Three messages dribbled in 100-byte pieces while next() is raced against a
    // timer that wins most of the time.
    let writer = tokio::spawn(async move {
        let mut wire = Vec::new();
        for i in 0..3u8 {
            wire.extend(client_frame(0x82, &vec![i; 10_000]));
        }
        for piece in wire.chunks(100) {
            peer.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
        peer
    });
    let (mut got, mut cancelled) = (Vec::new(), 0u32);
    let deadline = tokio::time::Instant::now() + BOUND;
    while got.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "messages in time");
        tokio::select! {
            m = ws.next() => got.push(m.unwrap().unwrap()),
            _ = tokio::task::yield_now() => cancelled += 1,
        }
    }
    let _peer = writer.await.unwrap();
    for (i, m) in got.into_iter().enumerate() {
        assert_eq!(m, Message::Binary(vec![i as u8; 10_000]));
    }
    assert!(
        cancelled > 0,
        "no next() was dropped: the test proved nothing"
    );
}

#[tokio::test]
async fn poll_ready_waits_while_the_write_buffer_is_full() {
    // The peer reads nothing; a 64 KiB pipe.
    let (mut peer, io) = tokio::io::duplex(64 << 10);
    let mut ws = from_raw(io, Role::Server, Config::default());
    ws.set_write_buffer(256 << 10);
    let mut accepted = 0usize;
    while let Some(r) = ws.feed(Message::Binary(vec![1; 32 << 10])).now_or_never() {
        r.unwrap();
        accepted += 1;
        assert!(accepted < 100, "the write buffer never filled");
    }
    // Unsent: at most the write buffer plus the message that crossed it.
    let unsent = ws.connection().pending_output_len();
    assert!((256 << 10..(256 + 33) << 10).contains(&unsent), "{unsent}");
    // The peer reads: everything flows out.
    let reader = tokio::spawn(async move {
        let mut total = 0;
        let mut buf = vec![0u8; 64 << 10];
        let want = (accepted + 1) * ((32 << 10) + 4);
        while total < want {
            total += peer.read(&mut buf).await.unwrap();
        }
        total
    });
    tokio::time::timeout(BOUND, ws.send(Message::Binary(vec![1; 32 << 10])))
        .await
        .expect("drained in time")
        .unwrap();
    tokio::time::timeout(BOUND, reader).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_large_messages_buffers_go_back_after_a_quiet_spell() {
    let (mut peer, io) = tokio::io::duplex(2 << 20);
    let mut ws = from_raw(io, Role::Server, Config::default());
    peer.write_all(&client_frame(0x82, &vec![4; 1 << 20]))
        .await
        .unwrap();
    let m = tokio::time::timeout(BOUND, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Message::Binary(vec![4; 1 << 20]));
    drop(m);
    assert!(ws.connection().memory_held() > 64 << 10);
    // No input: the stream's own timer gives the input buffer back (1 s).
    for _ in 0..40 {
        let quiet = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
        assert!(quiet.is_err(), "no message came");
        if ws.connection().memory_held() <= 64 << 10 {
            return;
        }
    }
    panic!("still holding {} bytes", ws.connection().memory_held());
}

#[tokio::test]
async fn a_client_vanishing_mid_message_ends_the_server_stream_with_a_clear_error() {
    let (mut peer, io) = tokio::io::duplex(1 << 20);
    let mut ws = from_raw(io, Role::Server, Config::default());
    let frame = client_frame(0x82, &vec![5; 100_000]);
    peer.write_all(&frame[..50_000]).await.unwrap();
    drop(peer);
    let r = tokio::time::timeout(BOUND, ws.next())
        .await
        .expect("no hang");
    match r {
        Some(Err(Error::Io(e))) => {
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
            assert!(e.to_string().contains("without a close frame"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(tokio::time::timeout(BOUND, ws.next())
        .await
        .unwrap()
        .is_none());
    assert_eq!(ws.connection().close_code(), Some(CloseCode::ABNORMAL));
}

#[tokio::test]
async fn a_server_vanishing_mid_message_ends_connect_async_with_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = wisp_tokio::accept_async(tcp).await.unwrap();
        let (mut tcp, _) = ws.into_parts();
        // Half of a 1 MiB binary frame, then the connection is gone.
        let mut half = vec![0x82, 127];
        half.extend_from_slice(&(1u64 << 20).to_be_bytes());
        half.extend(vec![3; 300_000]);
        tcp.write_all(&half).await.unwrap();
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let mut ws = connect_async_with(&url, &ClientOptions::default())
        .await
        .unwrap();
    server.await.unwrap();
    match tokio::time::timeout(BOUND, ws.next())
        .await
        .expect("no hang")
    {
        Some(Err(Error::Io(e))) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("{other:?}"),
    }
    assert!(ws.next().await.is_none());
}

#[tokio::test]
async fn keepalive_pings_and_the_idle_timeout_run_on_tokios_timer() {
    let (peer, io) = tokio::io::duplex(1 << 16);
    let config = Config {
        ping_interval: Some(Duration::from_millis(30)),
        idle_timeout: Some(Duration::from_secs(1)),
        ..Config::default()
    };
    let mut server = from_raw(io, Role::Server, config);
    // The client answers the server's pings (its stream is polled): the connection
    // stays up across several ping intervals.
    let mut client = from_raw(
        peer,
        Role::Client,
        Config {
            ping_interval: None,
            idle_timeout: None,
            ..Config::default()
        },
    );
    let client_task = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(m) = client.next().await {
            if let Ok(Message::Ping(_)) = m {
                pings += 1;
                if pings == 5 {
                    break; // stop answering: the server's idle timeout ends it
                }
            }
        }
        client // kept (not polled) until the server gave up
    });
    let mut pongs = 0;
    let ended = tokio::time::timeout(BOUND, async {
        while let Some(m) = server.next().await {
            if let Ok(Message::Pong(_)) = m {
                pongs += 1;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the idle timeout ended the stream");
    assert!(pongs >= 4, "{pongs} pongs");
    // It sent 1001 and, with no answer, ended abnormally (§7.1.5).
    let sent = server.connection().close_sent().map(|f| f.code);
    assert_eq!(sent, Some(CloseCode::GOING_AWAY));
    assert_eq!(server.connection().close_code(), Some(CloseCode::ABNORMAL));
    assert_eq!(server.connection().close_reason(), "idle timeout");
    drop(client_task.await.unwrap());
}

#[tokio::test]
async fn split_reader_answers_pings_while_the_writer_is_stuck_on_a_full_transport() {
    let (peer, io) = tokio::io::duplex(16 << 10);
    let ws = from_raw(io, Role::Server, Config::default());
    let (mut reader, mut writer) = ws.split();
    // The writer pushes 1 MiB into a 16 KiB pipe that nobody drains yet.
    let writing = tokio::spawn(async move {
        writer
            .send(Message::Binary(vec![7; 1 << 20]))
            .await
            .unwrap();
        writer
    });
    tokio::task::yield_now().await;
    let (mut peer_read, mut peer_write) = tokio::io::split(peer);
    peer_write
        .write_all(&client_frame(0x89, b"are you there"))
        .await
        .unwrap();
    // The reader yields the ping; its pong is queued behind the big message (the
    // codec keeps frames in order) and goes out as the peer drains the pipe.
    let m = tokio::time::timeout(BOUND, reader.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Message::Ping(b"are you there".to_vec()));
    let drain = tokio::spawn(async move {
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        while !all.ends_with(b"are you there") {
            let n = peer_read.read(&mut buf).await.unwrap();
            assert!(n > 0);
            all.extend_from_slice(&buf[..n]);
        }
        all.len()
    });
    // Only the reader is polled from here on: it writes what is owed.
    let reading = tokio::spawn(async move {
        while let Some(m) = reader.next().await {
            m.unwrap();
        }
    });
    let len = tokio::time::timeout(BOUND, drain)
        .await
        .expect("pong in time")
        .unwrap();
    assert_eq!(len, 10 + (1 << 20) + 2 + 13);
    let _writer = tokio::time::timeout(BOUND, writing).await.unwrap().unwrap();
    reading.abort();
}

#[tokio::test]
async fn accept_hdr_async_sees_the_request_and_may_refuse_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut results = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let r = accept_hdr_async(tcp, |req, offer, response| {
                if req.header("authorization") != Some("Bearer s3cret") {
                    return Err(Refusal::new(401, "a token is needed"));
                }
                let response = response.header("X-Served-By", "wisp-tokio").unwrap();
                Ok(match offer.protocols.iter().find(|p| *p == "v1") {
                    Some(p) => response.protocol(p),
                    None => response,
                })
            })
            .await;
            results.push(match r {
                Ok(mut ws) => {
                    let p = ws.protocol().map(String::from);
                    ws.send(Message::Text("welcome".into())).await.unwrap();
                    let _ = ws.close().await;
                    while ws.next().await.is_some() {}
                    Ok(p)
                }
                Err(AcceptError::Refused(status)) => Err(status),
                Err(e) => panic!("{e}"),
            });
        }
        results
    });
    let url = format!("ws://127.0.0.1:{port}/feed");
    let refused = connect_async_with(&url, &ClientOptions::default()).await;
    assert!(
        matches!(refused, Err(wisp_tokio::ConnectError::Refused(401))),
        "{refused:?}"
    );
    let mut options = ClientOptions::default();
    options
        .headers
        .push(("Authorization".into(), "Bearer s3cret".into()));
    options.protocols = vec!["v2".into(), "v1".into()];
    let mut ws = connect_async_with(&url, &options).await.unwrap();
    assert_eq!(ws.protocol(), Some("v1"));
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("welcome".into())
    );
    while let Some(m) = tokio::time::timeout(BOUND, ws.next()).await.unwrap() {
        m.unwrap();
    }
    assert_eq!(ws.connection().close_code(), Some(CloseCode::NORMAL));
    let results = server.await.unwrap();
    assert_eq!(results, [Err(401), Ok(Some("v1".to_string()))]);
}
