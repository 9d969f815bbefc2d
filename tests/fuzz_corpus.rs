//! Replays the committed fuzz corpus (`fuzz/corpus/TARGET/*`, seeded with real RabbitMQ traffic
//! by `tests/native/hostile_corpus.rs` and grown by `scripts/fuzz`) through the same checks the
//! cargo-fuzz targets run (`fuzz/checks.rs`), as ordinary tests: no libFuzzer, no nightly, and
//! every input that once crashed a target (kept in the corpus) stays a regression test.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: {} fails its check", f.display());
        }
    }
    println!("{target}: {} inputs replayed", files.len());
}

#[test]
fn corpus_frame_decoder() {
    replay("frame_decoder", checks::frame_decoder);
}

#[test]
fn corpus_method_roundtrip() {
    replay("method_roundtrip", checks::method_roundtrip);
}

#[test]
fn corpus_properties_roundtrip() {
    replay("properties_roundtrip", checks::properties_roundtrip);
}

#[test]
fn corpus_table_roundtrip() {
    replay("table_roundtrip", checks::table_roundtrip);
}

#[test]
fn corpus_engine_bytes() {
    replay("engine_bytes", checks::engine_bytes);
}

#[test]
fn corpus_engine_ops() {
    replay("engine_ops", checks::engine_ops);
}
