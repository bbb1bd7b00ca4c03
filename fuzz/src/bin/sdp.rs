//! AFL++ target: see fuzz_targets::sdp.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::sdp(data));
}
