//! Datagrams through header decode, integrity protection and frame decode, with round-trip
//! oracles at each layer (body: `weir_core::fuzzing::decode_packet`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::decode_packet(data);
});
