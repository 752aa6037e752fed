//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/`) through the same property
//! checks the cargo-fuzz targets run (`rinha::fuzzing`), so `cargo test` keeps what the fuzzer
//! once found as regression tests without needing cargo-fuzz.

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(outcome.is_ok(), "{} fails its property", path.display());
        replayed += 1;
    }
    assert!(replayed >= 5, "{target}: only {replayed} corpus files");
}

#[test]
fn every_payment_body_in_the_corpus_parses_or_is_refused_with_a_typed_error() {
    replay("payment_body", rinha::fuzzing::payment_body);
}

#[test]
fn every_summary_query_in_the_corpus_gives_ordered_bounds_or_a_400() {
    replay("summary_query", rinha::fuzzing::summary_query);
}

#[test]
fn every_time_bound_in_the_corpus_parses_consistently_on_both_sides_or_not_at_all() {
    replay("time_bound", rinha::fuzzing::time_bound);
}
