//! The shape the shell must keep: a pump, not a second home for SIP rules. These read the source tree,
//! so a change that reintroduces an import cycle, a giant file or a copy of the INVITE client rules
//! fails here rather than in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sources() -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("src dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            files.insert(name, std::fs::read_to_string(&path).expect("source"));
        }
    }
    files
}

/// `use crate::a::…` and `crate::b::` paths in `text` → {a, b}.
fn imports(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if modules.contains(&name) {
            out.insert(name);
        }
    }
    out
}

#[test]
fn no_import_cycle_among_the_daemons_modules() {
    let files = sources();
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let graph: BTreeMap<&str, BTreeSet<String>> = files
        .iter()
        .map(|(m, text)| (m.as_str(), imports(text, &modules)))
        .collect();
    assert!(
        graph["call_task"].contains("legs"),
        "the scanner sees imports"
    );
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<&str, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(pos) = path.iter().position(|p| *p == m) {
            panic!("import cycle: {} → {m}", path[pos..].join(" → "));
        }
        path.push(m);
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn shell_files_stay_small_and_the_call_task_is_a_pump() {
    for (name, text) in sources() {
        let lines = text.lines().count();
        assert!(
            lines <= 600,
            "src/{name}.rs has {lines} lines (at most 600)"
        );
        if name == "call_task" {
            assert!(lines < 400, "call_task.rs has {lines} lines (under 400)");
        }
    }
}

#[test]
fn invite_client_rules_live_only_in_the_sip_session() {
    // Building ACKs and CANCELs, dialogs from a 2xx, or reading provisional state is `sip::session`'s job.
    for (name, text) in sources() {
        for rule in [
            "ack_for(",
            "Dialog::uac(",
            "Dialog::uas(",
            ".cancel(&",
            "cancel_for(",
            "got_provisional",
        ] {
            assert!(
                !text.contains(rule),
                "src/{name}.rs contains `{rule}`: SIP rules belong in sip::session"
            );
        }
    }
}
