//! The lanes' decompressor front: a peer's compressed message envelope (any codec, bombs,
//! lies about the length, codecs never announced) against a bound; decoded messages stay
//! within it and every codec round-trips (body: `weir_core::fuzzing::decompress`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir_core::fuzzing::decompress(data);
});
