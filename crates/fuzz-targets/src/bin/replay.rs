//! Triage without AFL: `cargo run -p fuzz-targets --bin replay -- TARGET FILE...` runs each file
//! through the harness and prints `ok` or the panic, one line per file; exits 1 if any failed.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("usage: replay TARGET FILE...");
        return ExitCode::from(2);
    };
    let Some((_, target)) = fuzz_targets::TARGETS.iter().find(|(n, _)| *n == name) else {
        eprintln!("unknown target {name}");
        return ExitCode::from(2);
    };
    // The default hook would print every panic with a backtrace; one line per file is enough.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for path in args {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                println!("{path}: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        match std::panic::catch_unwind(|| target(&data)) {
            Ok(()) => println!("{path}: ok"),
            Err(e) => {
                failed = true;
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("{path}: FAILS: {}", msg.replace('\n', " | "));
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
