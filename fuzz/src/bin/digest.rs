//! AFL++ target: see fuzz_targets::digest.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::digest(data));
}
