//! The fuzzers' corpora and every input that once crashed them (`fuzz/corpus/TARGET/`,
//! `fuzz/regressions/TARGET/`), replayed through the same harnesses on the stable toolchain:
//! none may panic, and the well-formed seeds must still be accepted, so that the harnesses
//! keep reaching the code behind the input checks.

use std::path::Path;

use crate::support::root;

type Harness = fn(&[u8]) -> bool;

const TARGETS: [(&str, Harness); 3] = [
    ("idx", burngan_fuzz::idx),
    ("config", burngan_fuzz::config),
    ("checkpoint", burngan_fuzz::checkpoint),
];

/// The files of `dir` by name, sorted (none when it does not exist).
fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn no_corpus_entry_or_past_crash_panics() {
    let mut failures = Vec::new();
    for (target, harness) in TARGETS {
        let corpus = inputs(&root().join("fuzz/corpus").join(target));
        assert!(
            corpus.len() >= 3,
            "fuzz/corpus/{target} has {} entries",
            corpus.len()
        );
        let crashes = inputs(&root().join("fuzz/regressions").join(target));
        for (kind, files) in [("corpus", corpus), ("regressions", crashes)] {
            for (name, bytes) in files {
                if std::panic::catch_unwind(|| harness(&bytes)).is_err() {
                    failures.push(format!("fuzz/{kind}/{target}/{name}"));
                }
            }
        }
    }
    burngan_fuzz::remove_scratch();
    assert!(failures.is_empty(), "harnesses panicked on {failures:?}");
}

#[test]
fn the_well_formed_seeds_are_accepted() {
    // A fresh checkpoint of today's format loads. `BURNGAN_WRITE_FUZZ_SEED=1` writes it as
    // the committed seed (after a change to the checkpoint format).
    let seed = burngan_fuzz::checkpoint_seed(2);
    assert!(burngan_fuzz::checkpoint(&seed));
    if std::env::var_os("BURNGAN_WRITE_FUZZ_SEED").is_some() {
        let path = root().join("fuzz/corpus/checkpoint/valid-two-steps");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &seed).unwrap();
    }
    // Seeds named `valid-*` are well-formed inputs: the harnesses must accept them, or the
    // fuzzers would only ever exercise the rejection paths.
    for (target, harness) in TARGETS {
        let valid: Vec<_> = inputs(&root().join("fuzz/corpus").join(target))
            .into_iter()
            .filter(|(name, _)| name.starts_with("valid-"))
            .collect();
        assert!(
            !valid.is_empty(),
            "fuzz/corpus/{target} has no valid-* seed"
        );
        for (name, bytes) in valid {
            assert!(harness(&bytes), "fuzz/corpus/{target}/{name} was rejected");
        }
    }
    burngan_fuzz::remove_scratch();
}
