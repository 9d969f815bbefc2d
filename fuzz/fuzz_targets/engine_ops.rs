#![no_main]
//! cargo-fuzz target `engine_ops`; the check itself is in `fuzz/checks.rs` (shared with the corpus
//! replay test `tests/fuzz_corpus.rs`).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::engine_ops(data));
