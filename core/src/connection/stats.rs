//! What a connection did, for applications and the `weir` tools.

use std::time::Duration;

use super::cids::CidStats;
use super::datagrams::DatagramStats;
use super::ecn::EcnStats;
use crate::adapt::Strategy;
use crate::congestion::ControllerKind;
use crate::estimate::PathEstimates;
use crate::pmtu::MtuStats;

/// Counters and estimates of one connection (a snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStats {
    /// Packets sent.
    pub packets_sent: u64,
    /// Bytes sent (UDP payload).
    pub bytes_sent: u64,
    /// Packets received and processed.
    pub packets_received: u64,
    /// Bytes received (UDP payload of the datagrams handed to the connection).
    pub bytes_received: u64,
    /// Packets dropped on receipt: failed integrity check, duplicate, or not processable now.
    pub packets_dropped: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Bytes of the packets declared lost.
    pub bytes_lost: u64,
    /// Packets declared lost because the record of sent packets reached
    /// [`TransportConfig::max_tracked_packets`](crate::config::TransportConfig::max_tracked_packets)
    /// (also counted in `packets_lost`): nonzero only when acknowledgements stopped coming.
    pub packets_evicted: u64,
    /// Stream bytes sent again after a loss or a probe timeout.
    pub stream_bytes_retransmitted: u64,
    /// Congestion events (reductions of the window).
    pub congestion_events: u64,
    /// Packets declared lost that the peer acknowledged afterwards (reordered or delayed, not
    /// lost; their retransmissions were needless).
    pub spurious_losses: u64,
    /// Congestion events all of whose lost packets were acknowledged afterwards: reported to
    /// the controller, which may undo its reduction.
    pub spurious_congestion_events: u64,
    /// Capacity drops the congestion controller acted on (weir's BBR: the bottleneck's rate
    /// fell, as a radio link's does, and the model followed it at once), over the connection's
    /// controllers.
    pub capacity_drops: u64,
    /// Probe timeouts that expired.
    pub pto_count: u64,
    /// Smoothed round-trip time.
    pub srtt: Duration,
    /// Round-trip time variation.
    pub rttvar: Duration,
    /// Smallest round-trip time seen.
    pub min_rtt: Duration,
    /// Latest round-trip sample.
    pub latest_rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Rate the pacer releases packets at, in bytes per second.
    pub pacing_rate: u64,
    /// Slow-start threshold, if the controller has one set.
    pub ssthresh: Option<u64>,
    /// Bytes sent and neither acknowledged nor declared lost.
    pub bytes_in_flight: u64,
    /// Packets remembered until they are acknowledged or declared lost, ACK-only ones
    /// included: the sender's recovery state, bounded however little the peer sends.
    pub packets_tracked: usize,
    /// The congestion controller in use.
    pub controller: ControllerKind,
    /// Streams currently open.
    pub open_streams: usize,
    /// Stream bytes written by the application and not yet acknowledged by the peer.
    pub stream_send_buffered: u64,
    /// Stream bytes received and not yet read by the application.
    pub stream_recv_buffered: u64,
    /// Unreliable-message counters.
    pub datagrams: DatagramStats,
    /// Stateless resets that ended the connection (0 or 1).
    pub stateless_resets_received: u64,
    /// The path's estimates (bandwidth statistics, jitter, loss rate, quality score) as of the
    /// last packet or timer the connection handled.
    pub path: PathEstimates,
    /// The strategy in force (see [`crate::adapt`]).
    pub strategy: Strategy,
    /// Changes of strategy so far.
    pub strategy_changes: u64,
    /// The queue guard's cap on bytes in flight, when the strategy sets the guard (see
    /// [`Strategy::queue_guard`]).
    pub queue_cap: Option<u64>,
    /// Path MTU discovery: the validated datagram size, probes, black holes (see
    /// [`crate::pmtu`]).
    pub mtu: MtuStats,
    /// The size of the datagrams sent now (UDP payload): the strategy's size, within the
    /// validated path MTU.
    pub datagram_size: u16,
    /// Whether the TLS handshake resumed an earlier session (no certificate exchanged).
    pub tls_resumed: bool,
    /// 1-RTT key updates so far, started by either end (RFC 9001 §6).
    pub key_updates: u64,
    /// Times the connection followed its peer to a new address (NAT rebinding, migration), or
    /// moved itself (a client's [`Endpoint::local_path_changed`]).
    ///
    /// [`Endpoint::local_path_changed`]: crate::endpoint::Endpoint::local_path_changed
    pub migrations: u64,
    /// New addresses that did not answer their PATH_CHALLENGE in time (the connection went
    /// back to the old one).
    pub path_validation_failures: u64,
    /// Explicit Congestion Notification: validation's state, marked packets sent, codepoints
    /// received, CE marks the peer reported (see [`EcnState`](super::EcnState)).
    pub ecn: EcnStats,
    /// Spare connection IDs issued, received and retired by each end, and changes of the ID
    /// this end addresses the peer with (RFC 9000 §5.1, §9.5).
    pub cids: CidStats,
}

impl ConnectionStats {
    /// Every counter and estimate at zero, under `strategy`: the start a driver fills when it
    /// reports another engine's connection in weir's terms (weir-tokio's QUIC path).
    pub fn zeroed(strategy: Strategy) -> Self {
        Self {
            packets_sent: 0,
            bytes_sent: 0,
            packets_received: 0,
            bytes_received: 0,
            packets_dropped: 0,
            packets_lost: 0,
            bytes_lost: 0,
            packets_evicted: 0,
            stream_bytes_retransmitted: 0,
            spurious_losses: 0,
            spurious_congestion_events: 0,
            congestion_events: 0,
            capacity_drops: 0,
            pto_count: 0,
            srtt: Duration::ZERO,
            rttvar: Duration::ZERO,
            min_rtt: Duration::ZERO,
            latest_rtt: Duration::ZERO,
            cwnd: 0,
            pacing_rate: 0,
            ssthresh: None,
            bytes_in_flight: 0,
            packets_tracked: 0,
            controller: strategy.controller,
            open_streams: 0,
            stream_send_buffered: 0,
            stream_recv_buffered: 0,
            datagrams: DatagramStats::default(),
            stateless_resets_received: 0,
            path: PathEstimates::default(),
            strategy,
            strategy_changes: 0,
            queue_cap: None,
            mtu: MtuStats::default(),
            datagram_size: strategy.datagram_size,
            tls_resumed: false,
            key_updates: 0,
            migrations: 0,
            path_validation_failures: 0,
            ecn: EcnStats::default(),
            cids: CidStats::default(),
        }
    }
}
