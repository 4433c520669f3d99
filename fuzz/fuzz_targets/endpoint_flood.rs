//! A server endpoint set up as the runtimes set it up, flooded with Initials, colliding
//! connection IDs and stray packets from many addresses while a real client connects, with the
//! admission limits as invariants (body: `weir_core::fuzzing::endpoint_flood`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::endpoint_flood(data);
});
