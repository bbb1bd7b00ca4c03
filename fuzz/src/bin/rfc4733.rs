//! AFL++ target: see fuzz_targets::rfc4733.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::rfc4733(data));
}
