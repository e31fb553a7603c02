//! The codec alone, echoing small messages in memory: what one echoed 16-byte message
//! costs in instructions, without sockets or threads in the way. A server-role
//! [`Connection`] is fed bursts of 32 masked 16-byte text frames (as one read would
//! bring them), every event is polled and sent back by value, and the output drained.
//!
//! ```text
//! cargo build --release -p wisp-bench --example codec_echo
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/codec_echo 10000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/codec_echo 20000
//! ```
//!
//! The difference of the two totals ("Collected"), divided by 10,000 bursts x 32
//! messages, is the instructions per echoed message: the setup cancels out. The argument
//! is the number of bursts (default 10,000); `--record` turns frame recording on
//! (`Config::record_frames`), draining the recorded frames after each burst.

use std::hint::black_box;

use wisp_codec::{Config, Connection, Message};

/// Messages per burst.
const BURST: usize = 32;
/// Payload bytes per message.
const SIZE: usize = 16;

fn main() {
    let mut bursts = 10_000u64;
    let mut record = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--record" => record = true,
            n => match n.parse() {
                Ok(n) => bursts = n,
                Err(_) => {
                    eprintln!("codec_echo: {n:?} is not a burst count (usage: codec_echo [BURSTS] [--record])");
                    std::process::exit(2);
                }
            },
        }
    }
    let wire = burst();
    let mut server = Connection::server(Config {
        record_frames: record,
        ..Config::default()
    });
    let mut echoed = 0u64;
    let mut written = 0usize;
    for _ in 0..bursts {
        server.handle_input(black_box(&wire));
        while let Ok(Some(message)) = server.poll_event() {
            if let Message::Text(_) | Message::Binary(_) = message {
                echoed += 1;
                let _ = server.send(message);
            }
        }
        loop {
            let out = server.pending_output_front();
            if out.is_empty() {
                break;
            }
            written += black_box(out).len();
            let n = out.len();
            server.advance_output(n);
        }
        while let Some(f) = server.poll_wire_frame() {
            black_box(f);
        }
    }
    let expected = bursts * BURST as u64;
    if echoed != expected || written != expected as usize * (2 + SIZE) {
        eprintln!("codec_echo: echoed {echoed} of {expected} messages, wrote {written} bytes");
        std::process::exit(1);
    }
    println!(
        "{echoed} messages of {SIZE} B echoed in bursts of {BURST}; size_of::<Connection>() = {}",
        std::mem::size_of::<Connection>()
    );
}

/// One burst: 32 masked text frames of 16 bytes, as a client sends them.
fn burst() -> Vec<u8> {
    let mut n = 0u8;
    let mut client = Connection::client(Config::default(), move || {
        n = n.wrapping_add(1);
        [n, 0x5a, n ^ 0xa5, 0x3c]
    });
    for i in 0..BURST {
        let text = format!("message {i:>7}.");
        assert_eq!(text.len(), SIZE);
        client.send_text(&text).expect("a client may send");
    }
    let mut wire = Vec::new();
    loop {
        let out = client.pending_output_front();
        if out.is_empty() {
            return wire;
        }
        wire.extend_from_slice(out);
        let n = out.len();
        client.advance_output(n);
    }
}
