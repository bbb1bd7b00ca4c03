//! AFL++ target: see fuzz_targets::config.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::config(data));
}
