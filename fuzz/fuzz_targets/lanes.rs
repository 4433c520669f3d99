//! A lane sender and receiver joined by a channel that loses, duplicates, reorders and corrupts
//! their packets, with a stranger's crafted lane frames mixed in; every delivery mode's
//! contract and the receiver's memory limits are the invariants (body:
//! `weir_core::fuzzing::lanes`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::lanes(data);
});
