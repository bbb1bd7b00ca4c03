//! AFL++ target: see fuzz_targets::wav.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::wav(data));
}
