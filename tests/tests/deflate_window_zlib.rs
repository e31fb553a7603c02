//! wisp-codec's permessage-deflate compressor checked by an independent inflater:
//! Python's zlib (tests/peers/zlib_inflate.py, through `.venv`) at the window the peer
//! agreed, 8 to 15 bits (RFC 7692 §7.1.2), with and without context takeover. zlib
//! refuses a distance beyond its window ("invalid distance too far back"), which the
//! negative control below shows it does.
//!
//! The messages: generated JSON of 100 B to 70 KB (past two 15-bit windows, so the
//! compressor's buffer slides), random bytes, and a random block repeated at a period of
//! exactly the window, one byte more and one less: the period one byte past the window
//! is the match a compressor must not take.

use std::path::Path;
use std::process::Command;

use wisp_codec::internals::Deflater;
use wisp_tests::peers::python;
use wisp_tests::root;

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut r = seed | 1;
    move || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    }
}

fn json(seed: u64, len: usize) -> Vec<u8> {
    let mut next = xorshift(seed);
    let words = ["price", "order", "room", "deflate", "window", "ok", "hello"];
    let mut s = String::from("[");
    while s.len() < len {
        let w = words[(next() % words.len() as u64) as usize];
        s.push_str(&format!(
            "{{\"k\":\"{w}\",\"v\":{},\"ok\":{}}},",
            next() % 100_000,
            next() % 2 == 0
        ));
    }
    s.push_str("0]");
    s.into_bytes()
}

fn messages(bits: u8) -> Vec<Vec<u8>> {
    let window = 1usize << bits;
    let mut next = xorshift(u64::from(bits));
    let mut random = |n: usize| (0..n).map(|_| next() as u8).collect::<Vec<u8>>();
    let mut out = Vec::new();
    for (i, len) in [100, 1500, 300, 70_000, 2000, 9000].into_iter().enumerate() {
        out.push(json(i as u64 + 1, len));
    }
    out.push(random(3000));
    for period in [window - 1, window, window + 1] {
        let block = random(period);
        out.push(block.repeat(4));
    }
    out.push(Vec::new());
    out.push(json(99, 5000));
    out
}

fn records(path: &Path, items: &[Vec<u8>]) {
    let mut file = Vec::new();
    for it in items {
        file.extend_from_slice(&(it.len() as u32).to_be_bytes());
        file.extend_from_slice(it);
    }
    std::fs::write(path, file).unwrap();
}

/// Runs zlib_inflate.py: Ok("ok N") or Err(its stderr).
fn zlib_inflate(
    bits: u8,
    takeover: bool,
    payloads: &[Vec<u8>],
    raw: &[Vec<u8>],
) -> Result<String, String> {
    let dir = std::env::temp_dir();
    let tag = format!("{}-{bits}-{takeover}", std::process::id());
    let (c, r) = (
        dir.join(format!("wisp-zlib-c-{tag}")),
        dir.join(format!("wisp-zlib-r-{tag}")),
    );
    records(&c, payloads);
    records(&r, raw);
    let out = Command::new(python())
        .arg(root().join("tests/peers/zlib_inflate.py"))
        .arg(bits.to_string())
        .arg(if takeover { "1" } else { "0" })
        .arg(&c)
        .arg(&r)
        .output()
        .expect("run zlib_inflate.py");
    let _ = std::fs::remove_file(&c);
    let _ = std::fs::remove_file(&r);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn compress(bits: u8, takeover: bool, raw: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut d = Deflater::new(bits, takeover);
    raw.iter()
        .map(|m| {
            let mut out = Vec::new();
            d.compress(m, true, &mut out);
            out
        })
        .collect()
}

#[test]
fn zlib_inflates_every_window_with_and_without_takeover() {
    for bits in 8..=15u8 {
        let raw = messages(bits);
        for takeover in [false, true] {
            let payloads = compress(bits, takeover, &raw);
            assert_eq!(
                zlib_inflate(bits, takeover, &payloads, &raw),
                Ok(format!("ok {}", raw.len())),
                "window {bits}, takeover {takeover}"
            );
        }
    }
}

/// The check can fail: a stream made for a 15-bit window, whose only matches are 1,000
/// bytes back (a random block sent twice), is refused by zlib at 9 bits.
#[test]
fn zlib_refuses_a_distance_beyond_its_window() {
    let mut next = xorshift(7);
    let block: Vec<u8> = (0..1000).map(|_| next() as u8).collect();
    let raw = vec![block.repeat(2)];
    let payloads = compress(15, false, &raw);
    let err = zlib_inflate(9, false, &payloads, &raw).unwrap_err();
    assert!(err.contains("too far back"), "{err}");
    assert_eq!(zlib_inflate(15, false, &payloads, &raw), Ok("ok 1".into()));
}
