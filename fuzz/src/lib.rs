//! The fuzz targets' checks. They live once, in `../checks.rs`, which
//! `codec/tests/fuzz_corpus.rs` also includes to replay the committed corpora on stable.

#[path = "../checks.rs"]
mod checks;

pub use checks::*;

#[path = "../server_checks.rs"]
mod server_checks;

pub use server_checks::server_session;
