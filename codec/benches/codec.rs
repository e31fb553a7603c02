//! wisp-codec benchmarks: `cargo bench -p wisp-codec` (not in CI).
//!
//! - `mask/<size>`: RFC 6455 §5.3 masking in place at 16 B, 1 KiB, 64 KiB and 1 MiB:
//!   wisp's [`apply_mask`] against the naive byte loop ([`apply_mask_naive`]), against
//!   `fastwebsockets::unmask` (which uses `unsafe`), and against `copy_from_slice` of a
//!   buffer of the same size, the memory-speed ceiling.
//! - `decode/<binary|text>`: full server-side decoding (header, unmask, UTF-8 for text)
//!   of a stream of masked client frames with 16-byte payloads, read from an in-memory
//!   stream in 128 KiB reads (tungstenite's default read buffer): wisp's
//!   `Connection::server` drained with `poll_event` against tungstenite's
//!   `WebSocket::read`. Reported as frames per second.
//!
//! Targets (issue 4): masking at least 0.9x fastwebsockets at 1 KiB and up, decoding at
//! least 1.5x tungstenite's frames per second.
#![cfg_attr(target_arch = "wasm32", allow(unused))]

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::hint::black_box;
    use std::io::{self, Read, Write};
    use std::time::Duration;

    use criterion::{BenchmarkId, Criterion, Throughput};
    use wisp_codec::internals::apply_mask_naive;
    use wisp_codec::{apply_mask, Config, Connection, Message};

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Criterion settings that keep a full run to a few minutes.
    pub fn config() -> Criterion {
        Criterion::default()
            .warm_up_time(Duration::from_millis(700))
            .measurement_time(Duration::from_millis(2500))
            .sample_size(20)
    }

    pub fn mask(c: &mut Criterion) {
        for (label, size) in [
            ("16B", 16),
            ("1KiB", 1 << 10),
            ("64KiB", 64 << 10),
            ("1MiB", 1 << 20),
        ] {
            let mut group = c.benchmark_group(format!("mask/{label}"));
            group.throughput(Throughput::Bytes(size as u64));
            let src: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
            let mut buf = src.clone();
            group.bench_function("wisp", |b| {
                b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY), 0))
            });
            group.bench_function("naive", |b| {
                b.iter(|| apply_mask_naive(black_box(&mut buf), black_box(KEY), 0))
            });
            group.bench_function("fastwebsockets", |b| {
                b.iter(|| fastwebsockets::unmask(black_box(&mut buf), black_box(KEY)))
            });
            group.bench_function("copy_from_slice", |b| {
                b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&src)))
            });
            group.finish();
        }
    }

    /// Frames per stream: each iteration decodes them all.
    const FRAMES: usize = 10_000;
    /// Bytes per read from the in-memory stream, as tungstenite's default read buffer.
    const READ: usize = 128 * 1024;

    /// A client's stream of masked frames, each with a 16-byte payload (6 bytes of
    /// header and masking key, 22 bytes in all).
    fn client_stream(opcode: u8) -> Vec<u8> {
        let payloads: [&[u8; 16]; 4] = [
            b"wisp: 16 bytes!!",
            b"hello, websocket",
            b"0123456789abcdef",
            b"RFC 6455 frames.",
        ];
        let mut out = Vec::with_capacity(FRAMES * 22);
        for i in 0..FRAMES {
            let key = (i as u32).wrapping_mul(0x9e37_79b9).to_be_bytes();
            out.extend_from_slice(&[0x80 | opcode, 0x80 | 16]);
            out.extend_from_slice(&key);
            let at = out.len();
            out.extend_from_slice(payloads[i % 4]);
            apply_mask_naive(&mut out[at..], key, 0);
        }
        out
    }

    /// A socket over bytes in memory: reads come from the stream, writes vanish.
    struct MemStream<'a> {
        data: &'a [u8],
    }

    impl Read for MemStream<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.data.len()).min(READ);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    impl Write for MemStream<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// wisp: read into the connection's buffer as a driver does, drain the events. Both
    /// sides consume each message the same way: match it, add up the payload lengths.
    fn wisp_decode(stream: &[u8]) -> usize {
        let mut socket = MemStream { data: stream };
        let mut conn = Connection::server(Config::default());
        let (mut frames, mut bytes) = (0, 0);
        loop {
            let n = socket
                .read(conn.input_buffer(READ))
                .expect("in-memory read");
            if n == 0 {
                break;
            }
            conn.commit_input(n);
            while let Some(message) = conn.poll_event().expect("valid stream") {
                bytes += match message {
                    Message::Text(t) => t.len(),
                    Message::Binary(b) => b.len(),
                    _ => unreachable!(),
                };
                frames += 1;
            }
        }
        assert_eq!(black_box(bytes), frames * 16);
        frames
    }

    fn tungstenite_decode(stream: &[u8]) -> usize {
        use tungstenite::protocol::{Role, WebSocket};
        let socket = MemStream { data: stream };
        let mut ws = WebSocket::from_raw_socket(socket, Role::Server, None);
        let mut bytes = 0;
        for _ in 0..FRAMES {
            bytes += match ws.read().expect("valid stream") {
                tungstenite::Message::Text(t) => t.len(),
                tungstenite::Message::Binary(b) => b.len(),
                _ => unreachable!(),
            };
        }
        assert_eq!(black_box(bytes), FRAMES * 16);
        FRAMES
    }

    pub fn decode(c: &mut Criterion) {
        for (kind, opcode) in [("binary", 0x2), ("text", 0x1)] {
            let stream = client_stream(opcode);
            assert_eq!(wisp_decode(&stream), FRAMES);
            assert_eq!(tungstenite_decode(&stream), FRAMES);
            let mut group = c.benchmark_group(format!("decode/{kind}"));
            group.throughput(Throughput::Elements(FRAMES as u64));
            group.bench_with_input(BenchmarkId::new("wisp", "16B"), &stream, |b, s| {
                b.iter(|| wisp_decode(s))
            });
            group.bench_with_input(BenchmarkId::new("tungstenite", "16B"), &stream, |b, s| {
                b.iter(|| tungstenite_decode(s))
            });
            group.finish();
        }
    }

    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = mask, decode
    }
}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(target_arch = "wasm32")]
fn main() {}
