//! What a bulk flow achieved, in terms that hold for every stack.

use std::fmt;
use std::time::Duration;

use weir_core::congestion::ControllerKind;
use weir_core::sim::{LinkStats, Scenario};

use crate::config::QuinnController;

/// Which stack carried the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// quinn-proto with this congestion controller.
    Quinn(QuinnController),
    /// weir with this congestion controller.
    Weir(ControllerKind),
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Quinn(controller) => write!(f, "quinn/{}", controller.name()),
            Self::Weir(kind) => write!(f, "weir/{kind}"),
        }
    }
}

/// What the sending connection reported at the end of the run (a stack-neutral subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderStats {
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Reductions of the congestion window.
    pub congestion_events: u64,
    /// Congestion window, in bytes.
    pub cwnd: u64,
    /// Smoothed round-trip time.
    pub srtt: Duration,
    /// Smallest round-trip time seen.
    pub min_rtt: Duration,
}

/// What one bulk flow achieved. Times count from the start of the simulation.
#[derive(Debug, Clone)]
pub struct BulkReport {
    /// The stack that carried the flow.
    pub stack: Stack,
    /// Name of the scenario.
    pub scenario: String,
    /// Seed of the simulator (and, derived from it, of both ends).
    pub seed: u64,
    /// When the client saw the handshake complete; `None` if it never did.
    pub connected_at: Option<Duration>,
    /// The sending window over which [`goodput_bps`](Self::goodput_bps) is measured: for a
    /// timed flow its duration from the handshake on; for a sized flow from the handshake to
    /// the last byte read.
    pub window: Duration,
    /// Bytes the receiver read within the sending window.
    pub window_bytes: u64,
    /// `window_bytes` over `window`, in bits per second (0 without a handshake).
    pub goodput_bps: f64,
    /// Bytes the sender handed to its stack.
    pub written_bytes: u64,
    /// Bytes the receiver read by the end of the run (the window plus the drain).
    pub received_bytes: u64,
    /// When the receiver read its first byte.
    pub first_byte_at: Option<Duration>,
    /// When the receiver read its last byte.
    pub last_byte_at: Option<Duration>,
    /// When the receiver read the end of the stream.
    pub finished_at: Option<Duration>,
    /// When the sender saw the whole stream acknowledged.
    pub completed_at: Option<Duration>,
    /// Why the sender's connection closed, if it did before completing.
    pub sender_error: Option<String>,
    /// Virtual time simulated.
    pub elapsed: Duration,
    /// What the forward link (client → server, the data direction) did.
    pub forward_link: LinkStats,
    /// What the reverse link (the acknowledgements' direction) did.
    pub reverse_link: LinkStats,
    /// The sender's statistics at the end of the run.
    pub sender: Option<SenderStats>,
    /// Digest of the simulator's trace: equal digests mean identical packet sizes and times.
    pub trace_digest: u64,
    /// Events in the simulator's trace.
    pub trace_events: u64,
}

impl BulkReport {
    /// Fraction of the forward bottleneck's capacity the goodput used, if it has a rate.
    pub fn link_share(&self, scenario: &Scenario) -> Option<f64> {
        let rate = scenario.forward.rate?;
        Some(self.goodput_bps / rate.bps() as f64)
    }
}
