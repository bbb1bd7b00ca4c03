//! AFL++ target: see fuzz_targets::sip_message.
fn main() {
    afl::fuzz!(|data: &[u8]| fuzz_targets::sip_message(data));
}
