//! The TCP fallback's record decoder: a peer's byte stream in arbitrary pieces, absurd lengths,
//! empty records, a stream cut mid-record; memory stays within the decoder's bound and the
//! records are exactly the stream's bytes (body: `weir_core::fuzzing::records`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::records(data);
});
