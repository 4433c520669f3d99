//! The rendezvous service and a peer's client: strangers' datagrams, forged and truncated
//! messages, relays beyond the rate, time; no panic, no amplification, bounded sessions and
//! relay (body: `weir_core::fuzzing::rendezvous`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::rendezvous(data);
});
