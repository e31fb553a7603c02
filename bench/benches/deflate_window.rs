//! permessage-deflate's compressor at every window (not a test; `cargo bench -p
//! wisp-bench --bench deflate_window`).
//!
//! The corpus: `DEFLATE_WINDOW_MESSAGES` (default 2,000) generated JSON messages of
//! 200-2,000 B (the library's `json`, the load of `deflate_modes`). For each window of 9
//! to 15 bits, without context takeover (each message alone, one compressor reused as a
//! worker's pool lends it) and with it (the messages as one stream, a sync flush after
//! each), the ratio (compressed payload / raw) of wisp-codec's compressor against
//! Python's zlib at the same window, level 6 and memLevel 8 (`deflate_window_peer.py`,
//! through the repository's `.venv`, in the same run), and the time to compress one
//! message: the best of `DEFLATE_WINDOW_PASSES` passes (default 5) over the corpus,
//! divided by its length (Python's side includes the interpreter's call overhead, about
//! a microsecond a message). Also miniz_oxide at 15 bits, the compressor before this one.
//! Every wisp stream is inflated back and checked. `DEFLATE_WINDOW_BITS=n` runs window
//! `n` alone (for a profile).
//!
//! Memory per dedicated connection's compressor: wisp-codec's (what `Deflater::memory`
//! reports, which `codec/tests/deflate_memory.rs` checks against a counting allocator)
//! against zlib's formula for deflate, `(1 << (windowBits + 2)) + (1 << (memLevel + 9))`
//! at memLevel 8.

use std::time::Instant;

use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
};
use wisp_bench::{env_or, json, python_peer};
use wisp_codec::internals::{Deflater, Inflater, TAIL};

struct Row {
    compressed: usize,
    seconds: f64,
}

/// wisp-codec's compressor over the corpus: compressed bytes, best seconds, memory.
fn wisp(corpus: &[String], bits: u8, takeover: bool, passes: usize) -> (Row, usize) {
    let mut best = f64::MAX;
    let mut streams = Vec::new();
    let mut memory = 0;
    for _ in 0..passes {
        let mut d = Deflater::new(bits, takeover);
        streams = corpus.iter().map(|_| Vec::with_capacity(2048)).collect();
        let t = Instant::now();
        for (m, out) in corpus.iter().zip(&mut streams) {
            d.compress(m.as_bytes(), true, out);
        }
        best = best.min(t.elapsed().as_secs_f64());
        memory = d.memory();
    }
    let mut i = Inflater::new(takeover);
    for (m, s) in corpus.iter().zip(&streams) {
        let mut out = Vec::new();
        i.inflate(s, true, &mut out, u64::MAX)
            .expect("wisp's stream inflates");
        assert_eq!(out, m.as_bytes());
    }
    let compressed = streams.iter().map(Vec::len).sum();
    (
        Row {
            compressed,
            seconds: best,
        },
        memory,
    )
}

/// miniz_oxide at level 6 and a 15-bit window, as the codec used it before.
fn miniz(corpus: &[String], takeover: bool, passes: usize) -> Row {
    let flags = create_comp_flags_from_zip_params(6, -15, 0);
    let mut best = f64::MAX;
    let mut compressed = 0;
    for _ in 0..passes {
        let mut c = Box::new(CompressorOxide::new(flags));
        let mut out = Vec::with_capacity(2048);
        compressed = 0;
        let t = Instant::now();
        for m in corpus {
            out.clear();
            compress_to_output(&mut c, m.as_bytes(), TDEFLFlush::Sync, |b| {
                out.extend_from_slice(b);
                true
            });
            compressed += out.len() - usize::from(out.ends_with(&TAIL)) * 4;
            if !takeover {
                c.reset();
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    Row {
        compressed,
        seconds: best,
    }
}

/// `deflate_window_peer.py` on the same corpus: rows by (window, takeover).
fn zlib(corpus: &[String], passes: usize) -> Option<Vec<(u8, bool, Row)>> {
    let lines = python_peer("deflate_window_peer.py", corpus, passes)?;
    let rows = lines
        .iter()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["wbits"].as_u64().unwrap() as u8,
                v["takeover"].as_bool().unwrap(),
                Row {
                    compressed: v["compressed"].as_u64().unwrap() as usize,
                    seconds: v["seconds"].as_f64().unwrap(),
                },
            )
        })
        .collect();
    Some(rows)
}

fn main() {
    let messages: usize = env_or("DEFLATE_WINDOW_MESSAGES", 2000);
    let passes: usize = env_or("DEFLATE_WINDOW_PASSES", 5);
    // One window only (for a profile), else all from 9 to 15.
    let only: u8 = env_or("DEFLATE_WINDOW_BITS", 0);
    let windows = if (9..=15).contains(&only) {
        only..=only
    } else {
        9..=15
    };
    let corpus: Vec<String> = (0..messages as u64).map(json).collect();
    let raw: usize = corpus.iter().map(String::len).sum();
    let n = corpus.len() as f64;
    println!(
        "{messages} JSON messages, {raw} B; best of {passes} passes; zlib = Python's zlib, level 6, memLevel 8"
    );
    let zlib = zlib(&corpus, passes).unwrap_or_default();
    let percent = |r: &Row| 100.0 * r.compressed as f64 / raw as f64;
    println!(
        "{:<6} {:<9} {:>8} {:>8} {:>7} {:>12} {:>12} {:>6} {:>12} {:>12}",
        "window",
        "takeover",
        "wisp %",
        "zlib %",
        "Δ pp",
        "wisp µs/msg",
        "zlib µs/msg",
        "cpu x",
        "wisp memory",
        "zlib memory"
    );
    for bits in windows {
        for takeover in [false, true] {
            let (w, memory) = wisp(&corpus, bits, takeover, passes);
            let z = zlib
                .iter()
                .find(|(b, t, _)| *b == bits && *t == takeover)
                .map(|(_, _, r)| r);
            let zlib_memory = (1usize << (bits + 2)) + (1 << (8 + 9));
            let (zp, zt) = z.map_or((f64::NAN, f64::NAN), |z| (percent(z), z.seconds));
            println!(
                "{:<6} {:<9} {:>8.2} {:>8.2} {:>+7.2} {:>12.2} {:>12.2} {:>6.2} {:>10} B {:>10} B",
                bits,
                if takeover { "yes" } else { "no" },
                percent(&w),
                zp,
                percent(&w) - zp,
                w.seconds * 1e6 / n,
                zt * 1e6 / n,
                w.seconds / zt,
                memory,
                zlib_memory,
            );
        }
    }
    for takeover in [false, true] {
        let m = miniz(&corpus, takeover, passes);
        println!(
            "miniz_oxide 15 bits, takeover {}: {:.2} %, {:.2} µs/msg",
            if takeover { "yes" } else { "no" },
            percent(&m),
            m.seconds * 1e6 / n
        );
    }
}
