//! Replays the committed corpus of the server-level fuzz target (`fuzz/corpus/server_session`)
//! on stable, through the same check the fuzz target runs (`fuzz/server_checks.rs`):
//! arbitrary bytes after a valid handshake get a close or a drop, never a panic or a hang,
//! and whatever the server sends is valid RFC 6455.

#[path = "../../fuzz/server_checks.rs"]
mod server_checks;

#[test]
fn server_session_corpus_replays_clean() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/server_session");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9, "the corpus holds at least the seeds");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if let Err(e) = server_checks::server_session(&data) {
            panic!("{}: {e}", f.display());
        }
    }
    println!("{} inputs replayed", files.len());
}
