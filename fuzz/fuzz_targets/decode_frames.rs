//! Plaintext payloads through the frame decoder, with a re-encode/decode oracle on every frame
//! (body: `weir_core::fuzzing::decode_frames`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::decode_frames(data);
});
