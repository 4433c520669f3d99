//! A TLS server under fuzzed handshakes: forged Initials with fuzzed TLS bytes under the right
//! keys, a real client's datagrams mutated and replayed, forged short packets (body:
//! `weir_core::fuzzing::tls_handshake`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::tls_handshake(data);
});
