//! AFL++ target: see fuzz_targets::sip_stream.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::sip_stream(data));
}
