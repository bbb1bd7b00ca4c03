//! `call` is a pure core: no runtime, no database, no web stack in its normal dependency tree.

use std::process::Command;

#[test]
fn call_depends_on_no_tokio_sqlx_or_axum() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "call",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        tree.lines().any(|l| l.starts_with("call v")),
        "unexpected output: {tree}"
    );
    for banned in ["tokio", "sqlx", "axum"] {
        let hits: Vec<&str> = tree
            .lines()
            .filter(|l| {
                l.starts_with(&format!("{banned} v")) || l.starts_with(&format!("{banned}-"))
            })
            .collect();
        assert!(hits.is_empty(), "call pulls in {banned}: {hits:?}");
    }
}
