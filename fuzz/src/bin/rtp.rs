//! AFL++ target: see fuzz_targets::rtp.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::rtp(data));
}
