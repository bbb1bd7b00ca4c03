//! Every input the fuzzers kept (`fuzz/corpus/<target>/`) and every crash or hang they found
//! (`fuzz/regressions/<target>/`), replayed through the same harness bodies the AFL binaries run.
//! A regression that panics again, or a corpus that went missing, fails `tests/run`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fuzz_targets::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    out.sort();
    out
}

/// Runs `target` on every file; the panic message names the file that failed.
fn replay(name: &str, target: fuzz_targets::Harness, paths: &[PathBuf]) {
    for path in paths {
        let data = std::fs::read(path).expect("readable input");
        if let Err(e) = std::panic::catch_unwind(|| target(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: {} fails: {msg}", path.display());
        }
    }
}

#[test]
fn every_corpus_input_runs_clean() {
    let started = Instant::now();
    for (name, target) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        assert!(
            corpus.len() >= 3,
            "fuzz/corpus/{name}/ holds {} inputs; seed it (fuzz/seed.py) and run fuzz/campaign.sh",
            corpus.len()
        );
        if *name == "dialplan" {
            // Its scratch directory is a temporary one here, not the fuzzing process's own.
            let dir = tempfile::tempdir().expect("tempdir");
            let root = dir.path().to_path_buf();
            for path in &corpus {
                let data = std::fs::read(path).expect("readable input");
                let r = std::panic::catch_unwind(|| fuzz_targets::dialplan_in(&root, &data));
                assert!(r.is_ok(), "dialplan: {} fails", path.display());
            }
        } else {
            replay(name, *target, &corpus);
        }
    }
    eprintln!("corpora replayed in {:?}", started.elapsed());
}

#[test]
fn every_regression_input_runs_clean() {
    let dir = fuzz_dir().join("regressions");
    let mut n = 0;
    for (name, target) in TARGETS {
        let found = files(&dir.join(name));
        n += found.len();
        if *name == "dialplan" {
            let tmp = tempfile::tempdir().expect("tempdir");
            let root = tmp.path().to_path_buf();
            for path in &found {
                let data = std::fs::read(path).expect("readable input");
                let r = std::panic::catch_unwind(|| fuzz_targets::dialplan_in(&root, &data));
                assert!(r.is_ok(), "dialplan: {} fails", path.display());
            }
        } else {
            replay(name, *target, &found);
        }
    }
    // Every directory under regressions/ is a target's: a typo would silently replay nothing.
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let entry = entry.expect("dir entry");
        if entry.path().is_dir() {
            let name = entry.file_name().to_string_lossy().to_string();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/regressions/{name}/ is not a target"
            );
        }
    }
    eprintln!("{n} regression inputs replayed");
}
