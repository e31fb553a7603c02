//! Wisp's benchmarks live in `benches/` (`cargo bench -p wisp-bench --bench load`, `deflate`,
//! `fanout`); this crate has no library code.
