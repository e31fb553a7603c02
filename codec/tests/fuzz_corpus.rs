//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/`) through the checks the
//! fuzz targets run (`fuzz/checks.rs`, the one copy of them), on stable, as an ordinary
//! `cargo test -p wisp-codec`. A crash the fuzzer found and whose input is committed
//! stays fixed.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

#[path = "../../fuzz/checks.rs"]
mod checks;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    for file in &files {
        let data = std::fs::read(file).expect("readable corpus file");
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            eprintln!("fuzz corpus input failed: {}", file.display());
            std::panic::resume_unwind(panic);
        }
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn decoder_connection() {
    replay("decoder_connection", checks::decoder_connection);
}

#[test]
fn handshake() {
    replay("handshake", checks::handshake);
}

#[test]
fn utf8() {
    replay("utf8", checks::utf8);
}

#[test]
fn frame_roundtrip() {
    replay("frame_roundtrip", checks::frame_roundtrip);
}
