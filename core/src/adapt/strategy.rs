//! What the strategy selector chooses: one value per knob.

use std::fmt;

use crate::congestion::ControllerKind;
use crate::lanes::FecLevel;

/// The transport a strategy recommends. Only UDP carries weir today: the recommendation is
/// reported (in [`StrategyChange`](super::StrategyChange) events and the stats) for the
/// application and for the transport switching to come (TCP fallback, the QUIC path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TransportChoice {
    /// weir over UDP.
    #[default]
    Udp,
    /// Standard QUIC (for paths good enough that interoperability costs nothing).
    Quic,
    /// weir's frames over TCP (for paths that drop or throttle UDP).
    Tcp,
}

impl fmt::Display for TransportChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Udp => "udp",
            Self::Quic => "quic",
            Self::Tcp => "tcp",
        })
    }
}

/// A compression level: the lanes' [`Compression`](crate::lanes::Compression) under the name
/// the strategy has always used. The strategy's level applies live to the messages queued on
/// adaptive lanes that leave their compression to it
/// ([`LaneCompression::Auto`](crate::lanes::LaneCompression::Auto)).
pub type CompressionChoice = crate::lanes::Compression;

/// One value for every knob the selector drives (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Strategy {
    /// The transport to run over (recommended; see [`TransportChoice`]).
    pub transport: TransportChoice,
    /// The congestion controller. A switch hands the old controller's state to the new one.
    pub controller: ControllerKind,
    /// The size of the datagrams sent after the handshake, in bytes (UDP payload). The
    /// connection caps it at its validated maximum
    /// ([`TransportConfig::max_datagram_size`](crate::config::TransportConfig::max_datagram_size))
    /// and floors it at [`MIN_STRATEGY_DATAGRAM`]: smaller packets wait less behind each other
    /// on a slow link (a 1200-byte packet takes 96 ms at 100 kbit/s, a 512-byte one 41 ms).
    pub datagram_size: u16,
    /// Bytes that release a batch on lanes that coalesce
    /// ([`Coalesce::Hold`](crate::lanes::Coalesce::Hold)); `None` keeps each lane's own.
    pub batch_bytes: Option<u32>,
    /// Compression of the messages queued on the lanes that follow the strategy (every
    /// [`adaptive`](crate::lanes::LaneConfig::adaptive) lane whose
    /// [`compression`](crate::lanes::LaneConfig::compression) is
    /// [`Auto`](crate::lanes::LaneCompression::Auto)), with a codec the peer announced and only
    /// where it shrinks a message (see [`crate::lanes::compression`]).
    pub compression: CompressionChoice,
    /// The least forward error correction on the real-time lanes (every lane but the
    /// reliable-ordered and reliable-unordered ones, unless the lane opts out with
    /// [`LaneConfig::adaptive`](crate::lanes::LaneConfig::adaptive)); a lane configured with a
    /// stronger level keeps it.
    pub fec: FecLevel,
    /// Bound the queue the connection builds at the bottleneck to about two datagrams (at
    /// least 5 ms, an eighth of the base RTT on long paths) beyond the bandwidth-delay
    /// product, whatever the congestion controller would allow: real-time messages then wait
    /// behind little of the connection's own bulk data. The window is capped at `bandwidth ×
    /// base RTT + that allowance`, from the controller's bandwidth model (BBR) or the
    /// measured delivery rate, and the smallest RTT of the last 10 s.
    pub queue_guard: bool,
}

/// The smallest datagram a strategy may ask for (the seed's small packets for bad links).
pub const MIN_STRATEGY_DATAGRAM: u16 = 512;

impl Strategy {
    /// The strategy of a connection that adapts nothing: UDP, `controller`, full-size packets
    /// of `datagram_size`, no batching change, no compression, no FEC.
    pub fn plain(controller: ControllerKind, datagram_size: u16) -> Self {
        Self {
            transport: TransportChoice::Udp,
            controller,
            datagram_size,
            batch_bytes: None,
            compression: CompressionChoice::None,
            fec: FecLevel::None,
            queue_guard: false,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} B fec-{} {}",
            self.transport,
            self.controller,
            self.datagram_size,
            fec_name(self.fec),
            self.compression
        )?;
        if let Some(batch) = self.batch_bytes {
            write!(f, " batch {batch} B")?;
        }
        if self.queue_guard {
            f.write_str(" queue-guard")?;
        }
        Ok(())
    }
}

/// `none`, `low`, `medium`, `high`.
pub fn fec_name(level: FecLevel) -> &'static str {
    match level {
        FecLevel::None => "none",
        FecLevel::Low => "low",
        FecLevel::Medium => "medium",
        FecLevel::High => "high",
    }
}
