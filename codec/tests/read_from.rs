//! Property tests of the IO adapter's read path (`Connection::read_from`): a stream read
//! from a `Read` that returns chunks of any size, with `WouldBlock` between them, gives
//! the same events, the same close code and reason as one `handle_input` of the whole
//! stream (the naive model), in either role, with recording on or off.
#![cfg(all(feature = "std", not(target_arch = "wasm32")))]

use std::io::{self, Read};

use proptest::prelude::*;
use wisp_codec::{Config, Connection, Message, OpCode, ProtocolError};

/// A `Read` over `wire` that returns the sizes of `plan` in turn (cycling) and says
/// `WouldBlock` before a chunk whose flag is set; `Ok(0)` at the end.
struct Chunked<'a> {
    wire: &'a [u8],
    at: usize,
    plan: &'a [(usize, bool)],
    step: usize,
    blocked: bool,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (size, block) = self.plan[self.step % self.plan.len()];
        if block && !self.blocked && self.at < self.wire.len() {
            self.blocked = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.blocked = false;
        self.step += 1;
        let n = size.min(buf.len()).min(self.wire.len() - self.at);
        buf[..n].copy_from_slice(&self.wire[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

type Events = Vec<Result<Message, ProtocolError>>;

/// Polls every event out; false once the connection failed.
fn drain(conn: &mut Connection, out: &mut Events) -> bool {
    loop {
        match conn.poll_event() {
            Ok(Some(m)) => out.push(Ok(m)),
            Ok(None) => return true,
            Err(e) => {
                out.push(Err(e));
                return false;
            }
        }
    }
}

/// The stream the messages make: text or binary, each in `fragments` frames, a bad
/// UTF-8 byte where `bad` says, a ping after each first fragment when asked.
fn wire_of(
    sender: &mut Connection,
    messages: &[(bool, usize, usize, bool)],
    bad: Option<(usize, usize)>,
) -> Vec<u8> {
    let text = "aé€😀".repeat(400_000 / 10 + 1);
    for (i, &(is_text, size, fragments, ping)) in messages.iter().enumerate() {
        let mut bytes = if is_text {
            {
                let end = (0..=size.min(text.len()))
                    .rev()
                    .find(|&k| text.is_char_boundary(k))
                    .unwrap_or(0);
                text.as_bytes()[..end].to_vec()
            }
        } else {
            (0..size).map(|j| (j * 7 + i) as u8).collect()
        };
        if let Some((m, at)) = bad {
            if m == i && is_text && !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] = 0xff;
            }
        }
        let opcode = if is_text {
            OpCode::Text
        } else {
            OpCode::Binary
        };
        let cut = bytes.len() / fragments;
        let mut at = 0;
        for f in 0..fragments {
            let end = if f + 1 == fragments {
                bytes.len()
            } else {
                at + cut
            };
            let op = if f == 0 { opcode } else { OpCode::Continuation };
            sender
                .send_frame(op, f + 1 == fragments, &bytes[at..end])
                .unwrap();
            at = end;
            if ping && f == 0 {
                sender.send_ping(b"between").unwrap();
            }
        }
    }
    let mut wire = Vec::new();
    sender.write_to(&mut wire).unwrap();
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn read_from_in_any_chunks_equals_one_shot(
        messages in proptest::collection::vec(
            (any::<bool>(), prop_oneof![0usize..200, 0usize..400_000], 1usize..4, any::<bool>()),
            1..5,
        ),
        bad in proptest::option::of((0usize..5, 0usize..400_000)),
        plan in proptest::collection::vec(
            (prop_oneof![1usize..64, 1usize..70_000, 1usize..400_000], any::<bool>()),
            1..24,
        ),
        scratch_len in prop_oneof![Just(4096usize), 1usize..20_000],
        poll_every in 1usize..4,
        client_role in any::<bool>(),
        record in any::<bool>(),
        limit in prop_oneof![Just(1usize << 20), 1000usize..300_000],
    ) {
        let config = Config {
            max_message_size: limit as u64,
            record_frames: record,
            ..Config::default()
        };
        let mut sender = if client_role {
            Connection::server(Config::default())
        } else {
            Connection::client(Config::default(), || [9, 8, 7, 6])
        };
        let receiver = || {
            if client_role {
                Connection::client(config, || [1, 2, 3, 4])
            } else {
                Connection::server(config)
            }
        };
        let wire = wire_of(&mut sender, &messages, bad);

        let mut one_shot = receiver();
        one_shot.handle_input(&wire);
        one_shot.handle_eof();
        let mut want = Vec::new();
        drain(&mut one_shot, &mut want);

        let mut conn = receiver();
        let mut got = Vec::new();
        let mut r = Chunked { wire: &wire, at: 0, plan: &plan, step: 0, blocked: false };
        let mut scratch = vec![0u8; scratch_len];
        let mut reads = 0usize;
        loop {
            match conn.read_from(&mut r, &mut scratch) {
                Ok(read) if read.bytes == 0 => {
                    conn.handle_eof();
                    drain(&mut conn, &mut got);
                    break;
                }
                Ok(read) => {
                    prop_assert!(read.bytes <= read.offered);
                    reads += 1;
                    // Sometimes several reads before the next poll.
                    if reads % poll_every == 0 && !drain(&mut conn, &mut got) {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !drain(&mut conn, &mut got) {
                        break;
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        prop_assert_eq!(got.len(), want.len());
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(conn.close_code(), one_shot.close_code());
        prop_assert_eq!(conn.close_reason(), one_shot.close_reason());
        let mut sent = Vec::new();
        conn.write_to(&mut sent).unwrap();
        let mut want_sent = Vec::new();
        one_shot.write_to(&mut want_sent).unwrap();
        prop_assert_eq!(sent, want_sent);
    }
}
