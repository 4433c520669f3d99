//! Shared harness for weir's cross-crate integration and scenario tests (the tests themselves
//! live in `tests/tests/`).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use weir_core::Transmit;
use weir_core::sim::Node;

pub use weir_core::sim::{App, EndpointNode};

/// Any instant serves as the simulator's epoch: virtual time is added to it.
pub fn epoch() -> Instant {
    Instant::now()
}

/// A fixed test address on the 10.0.0.0/24 network.
pub fn addr(host: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, host], 4433))
}

/// Sends datagrams at scripted times. Each datagram starts with its sequence number (8 bytes,
/// big-endian) so that a [`Recorder`] can tell them apart.
#[derive(Debug)]
pub struct ScriptedSource {
    epoch: Instant,
    destination: SocketAddr,
    script: VecDeque<(Duration, usize)>,
    next_seq: u64,
}

impl ScriptedSource {
    /// Sends one datagram of `size` bytes (at least 8) at each `(time since epoch, size)`.
    pub fn new(
        epoch: Instant,
        destination: SocketAddr,
        script: impl IntoIterator<Item = (Duration, usize)>,
    ) -> Self {
        let mut script: Vec<_> = script.into_iter().collect();
        script.sort_by_key(|(t, _)| *t);
        Self {
            epoch,
            destination,
            script: script.into(),
            next_seq: 0,
        }
    }

    /// `count` datagrams of `size` bytes, one every `interval`, starting at time zero.
    pub fn periodic(
        epoch: Instant,
        destination: SocketAddr,
        count: u64,
        size: usize,
        interval: Duration,
    ) -> Self {
        let script =
            (0..count).map(|k| (interval * u32::try_from(k).expect("count fits u32"), size));
        Self::new(epoch, destination, script)
    }

    /// Datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.next_seq
    }
}

impl Node for ScriptedSource {
    fn handle_datagram(
        &mut self,
        _now: Instant,
        _from: SocketAddr,
        _ecn: Option<weir_core::EcnCodepoint>,
        _datagram: BytesMut,
    ) {
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (at, size) = *self.script.front()?;
        if self.epoch + at > now {
            return None;
        }
        self.script.pop_front();
        buf.extend_from_slice(&self.next_seq.to_be_bytes());
        buf.resize(size.max(8), 0xab);
        self.next_seq += 1;
        Some(Transmit {
            destination: self.destination,
            size: buf.len(),
            segment_size: None,
            ecn: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.script.front().map(|(at, _)| self.epoch + *at)
    }
}

/// One datagram a [`Recorder`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// Virtual time since the epoch.
    pub at: Duration,
    /// Sender.
    pub from: SocketAddr,
    /// Sequence number written by [`ScriptedSource`] (the first 8 bytes), if the datagram had 8.
    pub seq: Option<u64>,
    /// The datagram.
    pub data: BytesMut,
}

/// Records every datagram it receives.
#[derive(Debug)]
pub struct Recorder {
    epoch: Instant,
    /// Everything received, in arrival order.
    pub arrivals: Vec<Arrival>,
}

impl Recorder {
    /// An empty recorder for a simulation that started at `epoch`.
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            arrivals: Vec::new(),
        }
    }

    /// Sequence numbers in arrival order.
    pub fn seqs(&self) -> Vec<u64> {
        self.arrivals.iter().filter_map(|a| a.seq).collect()
    }
}

impl Node for Recorder {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        _ecn: Option<weir_core::EcnCodepoint>,
        datagram: BytesMut,
    ) {
        let seq = datagram
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes);
        self.arrivals.push(Arrival {
            at: now - self.epoch,
            from,
            seq,
            data: datagram,
        });
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, _buf: &mut Vec<u8>) -> Option<Transmit> {
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

/// The byte at `offset` of test stream `stream`: a cheap pseudo-random pattern, so that a
/// receiver can check every byte without keeping what was sent.
pub fn pattern(stream: u64, offset: u64) -> u8 {
    let x = stream
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(offset.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    (x ^ (x >> 29) ^ (x >> 47)) as u8
}

/// The Retry policy a test's `retry` switch stands for: every client proves its address, or
/// none does.
pub fn retry_policy(retry: bool) -> weir_core::config::RetryPolicy {
    if retry {
        weir_core::config::RetryPolicy::Always
    } else {
        weir_core::config::RetryPolicy::Never
    }
}

/// Random bad links for property tests: delay, jitter, random or bursty loss up to 30 %, an
/// optional bottleneck, reordering, duplication and corruption, a 1472-byte MTU.
pub fn arb_link() -> impl proptest::strategy::Strategy<Value = weir_core::sim::LinkConfig> {
    use proptest::prelude::*;
    use weir_core::sim::{Bitrate, GilbertElliott, LinkConfig, LossModel};
    let loss = prop_oneof![
        Just(LossModel::None),
        (0.0..0.3f64).prop_map(|p| LossModel::Random { p }),
        (0.0..0.2f64, 1.0..5.0f64).prop_map(|(p, b)| {
            LossModel::GilbertElliott(GilbertElliott::from_loss_and_burst(p, b).expect("valid"))
        }),
    ];
    (
        1u64..100,
        0u64..20,
        loss,
        prop_oneof![
            Just(None),
            (1u64..50).prop_map(|m| Some(Bitrate::from_mbps(m)))
        ],
        (0.0..0.1f64, 0u64..20),
        0.0..0.05f64,
        0.0..0.05f64,
    )
        .prop_map(
            |(delay, jitter, loss, rate, (reorder, reorder_ms), duplicate, corrupt)| LinkConfig {
                delay: Duration::from_millis(delay),
                jitter: Duration::from_millis(jitter),
                loss,
                rate,
                queue_bytes: 64 * 1024,
                reorder,
                reorder_delay: Duration::from_millis(reorder_ms),
                duplicate,
                corrupt,
                mtu: 1472,
                trace: None,
                ecn: weir_core::sim::LinkEcn::Pass,
            },
        )
}
