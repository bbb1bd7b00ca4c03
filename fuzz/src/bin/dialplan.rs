//! AFL++ target: see fuzz_targets::dialplan.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::dialplan(data));
}
