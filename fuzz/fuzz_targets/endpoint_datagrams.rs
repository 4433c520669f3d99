//! A server endpoint under fuzzed datagrams from a few addresses, with anti-amplification and
//! memory-bound oracles (body: `weir_core::fuzzing::endpoint_datagrams`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::endpoint_datagrams(data);
});
