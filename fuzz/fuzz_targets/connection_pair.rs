//! A client and a server over a fuzzed network with fuzzed application actions, with stream and
//! message integrity oracles (body: `weir_core::fuzzing::connection_pair`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::connection_pair(data);
});
