//! AFL++ target: see fuzz_targets::rtcp.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::rtcp(data));
}
