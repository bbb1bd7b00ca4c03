//! Stand-in for `hotlined check` / `hotlined route` until the daemon wires them:
//!   cargo run -p dialplan --example dialplan -- check DIR
//!   cargo run -p dialplan --example dialplan -- route DIR TO [DIVERSION|-] [FROM|-] [AT|-] [DIGITS]
//!   cargo run -p dialplan --example dialplan -- transfer DIR NUMBER-OR-CODE
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |i: usize| args.get(i).map(String::as_str).filter(|s| *s != "-");
    match (opt(0), opt(1)) {
        (Some("check"), Some(dir)) => {
            let (out, code) = dialplan::check_command(Path::new(dir));
            print!("{out}");
            std::process::exit(code);
        }
        (Some("transfer"), Some(dir)) => {
            match dialplan::transfer_command(Path::new(dir), opt(2).unwrap_or("")) {
                Ok(json) => println!("{json}"),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        (Some("route"), Some(dir)) => {
            let r = dialplan::route_command(
                Path::new(dir),
                opt(2).unwrap_or(""),
                opt(3),
                opt(4),
                opt(5),
                opt(6).unwrap_or(""),
            );
            match r {
                Ok(json) => println!("{json}"),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("usage: dialplan check DIR | dialplan route DIR TO [DIVERSION] [FROM] [AT] [DIGITS] | dialplan transfer DIR NUMBER-OR-CODE");
            std::process::exit(2);
        }
    }
}
