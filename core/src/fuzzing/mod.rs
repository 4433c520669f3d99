//! Fuzz bodies (feature `fuzzing`).
//!
//! The cargo-fuzz targets in `fuzz/` are one-line wrappers around these functions; keeping the
//! bodies in the library means every normal test build compiles them, and the property tests
//! (in `tests`) run them on random and mutated inputs, so they cannot rot between fuzzing
//! campaigns.
//!
//! The bodies are oracles, not just "does not panic" checks: every frame that decodes is
//! encoded again and must decode to the same frame in exactly the advertised number of bytes;
//! every header that decodes is encoded again and must decode to the same header; sealing a
//! payload and opening it must give it back. They panic only when such a property fails — that
//! is, on a real bug.
//!
//! The endpoint bodies, [`endpoint_datagrams`] and [`connection_pair`] (and so their fuzz
//! targets), run their strict oracles. `endpoint_datagrams_reached` and
//! `connection_pair_reached` also have a lenient mode (`strict` false) that excuses the bugs
//! listed on each body, for getting past a finding while it is open; CI never fuzzes in it.
//!
//! Seed corpora and libFuzzer dictionaries for the targets live in `fuzz/seeds/<target>/` and
//! `fuzz/dicts/<target>.dict`; the seeds are written by the ignored tests `write_fuzz_seeds`
//! (decoders, in this module's tests) and `write_fuzz_seeds` in `tests/tests/fuzz_bodies.rs`
//! (endpoint bodies).
//!
//! The bodies live in submodules: `codec` decodes packets and frames, `decompress` runs the
//! lanes' decompressor on a peer's envelopes, `endpoint` drives one
//! server under fuzzed datagrams, `pair` runs a client and a server over a fuzzed network; this
//! module holds what the endpoint bodies share (the input reader, the clock origin, the livelock
//! guard) and re-exports the bodies.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod codec;
mod decompress;
mod endpoint;
mod flood;
mod lanes;
mod pair;
mod records;
mod rendezvous;
#[cfg(all(test, feature = "fuzzing"))]
mod tests;
mod tls;

pub use codec::{decode_frames, decode_frames_reached, decode_packet, decode_packet_reached};
pub use decompress::{DecompressReached, decompress, decompress_reached};
pub use endpoint::{EndpointReached, endpoint_datagrams, endpoint_datagrams_reached};
pub use flood::{FloodPath, FloodReached, endpoint_flood, endpoint_flood_reached};
pub use lanes::{LanesReached, lanes, lanes_reached};
pub use pair::{PairReached, connection_pair, connection_pair_reached};
pub use records::{RecordsReached, records, records_reached};
pub use rendezvous::{RendezvousReached, rendezvous, rendezvous_reached};
pub use tls::{TlsReached, tls_handshake, tls_handshake_reached};

/// What a fuzz body reached, so that tests can check that seeds go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// Packets whose unprotected header parsed.
    pub packets: usize,
    /// Packets that opened with integrity protection as received.
    pub opened: usize,
    /// Frames decoded (and round-tripped).
    pub frames: usize,
}

/// The origin of a fuzz run's virtual time. Only durations are ever added to it and compared,
/// so a run does not depend on its value (DESIGN.md §2).
#[allow(clippy::disallowed_methods)] // one base instant per run; the core itself never reads it
pub(super) fn epoch() -> Instant {
    Instant::now()
}

/// The fuzz input, read front to back; a read past the end yields zeros or nothing, so every
/// byte string is a valid input.
pub(super) struct Input<'a>(pub(super) &'a [u8]);

impl<'a> Input<'a> {
    pub(super) fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    pub(super) fn u8(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }

    pub(super) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// Connection-ID length of every endpoint in the bodies (the default).
pub(super) const FUZZ_CID_LEN: usize = 8;
/// Most timer firings while time advances by one step.
pub(super) const MAX_TIMER_ROUNDS: usize = 1_000;
/// Timer firings in a row at one instant that send nothing before the bodies call it a livelock
/// (a driver following the contract would spin on such a timer).
const MAX_IDLE_FIRINGS: usize = 64;
/// How far the clock moves on past a livelocked timer when the oracle tolerates it.
pub(super) const LIVELOCK_NUDGE: Duration = Duration::from_millis(100);
/// A drain of `poll_transmit` that yields more than this at one instant is a livelock.
pub(super) const MAX_TRANSMITS_PER_DRAIN: usize = 10_000;
/// Source addresses the fuzzer picks from.
const FUZZ_ADDRESSES: u8 = 4;

pub(super) fn fuzz_address(index: u8) -> SocketAddr {
    SocketAddr::from(([10, 9, 0, 1 + index % FUZZ_ADDRESSES], 5000))
}

/// Detects a timer that keeps coming due at the same instant while the endpoint sends nothing.
#[derive(Debug, Default)]
pub(super) struct SpinGuard {
    count: usize,
}

impl SpinGuard {
    /// After the timers due at `now` fired: `next` is the endpoint's next deadline, `sent`
    /// whether it sent anything. Returns whether it is livelocked (and starts counting anew).
    pub(super) fn fired(&mut self, now: Instant, next: Option<Instant>, sent: bool) -> bool {
        if !sent && next.is_some_and(|t| t <= now) {
            self.count += 1;
        } else {
            self.count = 0;
        }
        let livelocked = self.count >= MAX_IDLE_FIRINGS;
        if livelocked {
            self.count = 0;
        }
        livelocked
    }
}
