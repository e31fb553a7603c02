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
        let data = match std::fs::read(file) {
            Ok(data) => data,
            // A fuzzer running in the same tree replaces files as it reduces them.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", file.display()),
        };
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

#[test]
fn extension() {
    replay("extension", checks::extension);
}

#[test]
fn deflate_connection() {
    replay("deflate_connection", checks::deflate_connection);
}

/// Bugs the fuzzers found, each pinned down beside the corpus input that found it.
mod regressions {
    use wisp_codec::handshake::parse_request;
    use wisp_codec::handshake::RequestError;

    /// Found while reading the `handshake` target's round trips: the start line was split
    /// on spaces only, so a request target with a bare LF or another control character
    /// validated and reached the application as the path.
    #[test]
    fn control_characters_in_the_start_line_are_refused() {
        let head = |target: &str| {
            format!(
                "GET {target} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            )
        };
        for bad in ["/a\nb", "/a\rb", "/\u{0}", "/\u{7f}", "/a\tb"] {
            assert_eq!(
                parse_request(head(bad).as_bytes(), 8192),
                Err(RequestError::MalformedHead),
                "{bad:?}"
            );
        }
        let (req, _) = parse_request(head("/chat?x=1").as_bytes(), 8192)
            .unwrap()
            .unwrap();
        assert_eq!(req.validate().unwrap().target, "/chat?x=1");
    }

    use wisp_codec::{Config, Connection, Direction, ProtocolError};

    /// `deflate_connection` found that a compressed text whose inflated bytes break UTF-8
    /// before its DEFLATE data breaks failed with 1007 "invalid deflate data" when it
    /// arrived whole, and 1007 "invalid UTF-8" when it arrived byte by byte: the error
    /// depended on the input's split. What inflated before the DEFLATE error is now
    /// checked first. Corpus: `fuzz/corpus/deflate_connection/regression-utf8-before-corrupt-deflate`.
    #[test]
    fn inflated_text_is_checked_before_a_deflate_error() {
        use wisp_codec::extension::DeflateParams;
        // The error a compressed text frame with this payload ends in, fed whole and a
        // byte at a time (they must agree).
        let error_of = |payload: &[u8]| {
            let mut stream = vec![0xc1, 0x80 | payload.len() as u8, 0, 0, 0, 0];
            stream.extend_from_slice(payload);
            let errors: Vec<_> = [stream.len(), 1]
                .into_iter()
                .map(|piece| {
                    let mut s = Connection::server(Config::default());
                    s.set_deflate(DeflateParams::default());
                    for chunk in stream.chunks(piece) {
                        s.handle_input(chunk);
                    }
                    while let Ok(Some(_)) = s.poll_event() {}
                    s.error()
                })
                .collect();
            assert_eq!(errors[0], errors[1], "whole and byte by byte");
            errors[0]
        };
        // A stored block holding "a\xff", then a block of the reserved type 11.
        assert_eq!(
            error_of(&[0x00, 0x02, 0x00, 0xfd, 0xff, b'a', 0xff, 0x07]),
            Some(ProtocolError::InvalidUtf8)
        );
        // Valid text before the broken block: the DEFLATE error, however it arrives.
        assert_eq!(
            error_of(&[0x00, 0x02, 0x00, 0xfd, 0xff, b'a', b'b', 0x07]),
            Some(ProtocolError::InvalidCompressedData)
        );
    }

    /// `decoder_connection` found that with `record_frames` a text frame failing UTF-8
    /// was recorded when it arrived whole but not when it arrived byte by byte (the error
    /// then comes before its last byte): the record depended on the input's split.
    /// Corpus: `fuzz/corpus/decoder_connection/regression-record-frames-fail-fast`.
    #[test]
    fn a_failing_frame_is_never_recorded() {
        let config = Config {
            record_frames: true,
            ..Config::default()
        };
        // A masked text frame (key 00 00 00 00) whose payload "a\xbb!" is invalid at byte 1,
        // after a valid ping.
        let stream = [
            0x89, 0x80, 0, 0, 0, 0, // ping
            0x81, 0x83, 0, 0, 0, 0, b'a', 0xbb, b'!', // bad text
        ];
        for piece in [stream.len(), 1] {
            let mut s = Connection::server(config);
            for chunk in stream.chunks(piece) {
                s.handle_input(chunk);
            }
            while let Ok(Some(_)) = s.poll_event() {}
            assert_eq!(s.error(), Some(ProtocolError::InvalidUtf8));
            let received: Vec<_> = std::iter::from_fn(|| s.poll_wire_frame())
                .filter(|f| f.direction == Direction::Received)
                .map(|f| f.bytes)
                .collect();
            assert_eq!(received, [stream[..6].to_vec()], "piece size {piece}");
        }
    }
}
