//! The protocol cores do no I/O and read no clock (time is an input): checked on their source, so a
//! shortcut through tokio, a socket or `Instant::now()` fails here rather than in review.

use std::path::Path;

#[test]
fn protocol_cores_import_no_runtime_socket_or_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![
        "transaction.rs",
        "dialog.rs",
        "gateway.rs",
        "capabilities.rs",
        "message.rs",
        "registrar.rs",
    ]
    .into_iter()
    .map(|f| src.join(f))
    .collect::<Vec<_>>();
    for e in std::fs::read_dir(src.join("session")).expect("session dir") {
        files.push(e.expect("dir entry").path());
    }
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source");
        for banned in [
            "tokio",
            "Instant::now()",
            "SystemTime::now",
            "crate::endpoint",
            "crate::transport",
            "UdpSocket",
            "TcpStream",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", path.display());
        }
    }
}
