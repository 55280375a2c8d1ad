//! The filter module, built by the tests themselves when missing or stale.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    if dir.is_file() {
        return std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .unwrap_or(newest);
    }
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(newest)
        };
        newest = newest.max(time);
    }
    newest
}

/// The filter module as shipped (`.ci/filter`: the release build, then `wasm-opt`), built here
/// when missing or older than the sources, so a plain `cargo test` works on a fresh clone.
/// `MESHGUARD_WASM=<file>` runs another build instead (e.g. to benchmark two builds against
/// each other).
pub fn built_module() -> PathBuf {
    if let Some(wasm) = std::env::var_os("MESHGUARD_WASM") {
        return PathBuf::from(wasm);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let wasm = target.join("meshguard.wasm");
    let sources = newest_source(&root.join("src"))
        .max(newest_source(&root.join("Cargo.toml")))
        .max(newest_source(&root.join("Cargo.lock")))
        .max(newest_source(&root.join(".ci/filter")));
    let fresh = std::fs::metadata(&wasm)
        .and_then(|m| m.modified())
        .is_ok_and(|built| built >= sources);
    if !fresh {
        let output = Command::new("bash")
            .arg(root.join(".ci/filter"))
            .current_dir(&root)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run bash");
        assert!(
            output.status.success(),
            "building the filter failed; run `.ci/filter` to see why (it needs \
             `rustup target add wasm32-wasip1`, clang and Binaryen's wasm-opt)"
        );
    }
    wasm
}
