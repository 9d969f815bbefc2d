#![no_main]
//! cargo-fuzz target `method_roundtrip`; the check itself is in `fuzz/checks.rs` (shared with the corpus
//! replay test `tests/fuzz_corpus.rs`).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::method_roundtrip(data));
