//! Configuration of the streams layer, and the stream-related transport parameters.

use crate::wire::VarInt;
use crate::wire::frame::MAX_STREAM_COUNT;

/// Limits, windows and buffers of a connection's streams.
///
/// Every limit is enforced (DESIGN.md §2): what the peer may open and send is bounded by the
/// first six fields, what the application may buffer by the send buffers, and the memory a peer
/// can pin by reordering by [`max_fragments_per_stream`](Self::max_fragments_per_stream).
/// Byte counts are in bytes; windows above 2^62 − 1 are clamped to it, and a `max_*` window
/// below its initial window is raised to it.
///
/// ## Memory bound on the receive side
///
/// Buffered stream data is bounded by the connection window (every buffered byte was counted
/// against it and not yet read). Received data stays a zero-copy slice of its datagram unless
/// it is shorter than 512 bytes, in which case it is copied (and merged with small contiguous
/// neighbours), so one stored slice keeps at most a datagram alive for at least 512 bytes of
/// data: with 1500-byte datagrams a peer pins at most about 3 × `max_receive_window`, plus the
/// fragment records (≈ 100 bytes each): at most `max_fragments_per_stream` in one stream and
/// `max_fragments` in all streams together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Bidirectional streams the peer may have open at once (we raise its MAX_STREAMS as its
    /// streams close, RFC 9000 §4.6).
    pub max_concurrent_bidi: u64,
    /// Unidirectional streams the peer may have open at once.
    pub max_concurrent_uni: u64,
    /// Initial receive window of each stream, in bytes (RFC 9000 §4.1).
    pub stream_receive_window: u64,
    /// Largest receive window a stream auto-tunes to (DESIGN.md §3: toward 2 × BDP).
    pub max_stream_receive_window: u64,
    /// Initial receive window of the whole connection, in bytes.
    pub receive_window: u64,
    /// Largest connection receive window auto-tuning may reach.
    pub max_receive_window: u64,
    /// Bytes one stream may hold in its send buffer (written but not yet acknowledged).
    pub stream_send_buffer: u64,
    /// Bytes all streams together may hold in their send buffers.
    pub send_buffer: u64,
    /// Disjoint received ranges (that is, reassembly gaps + 1) one stream may hold before the
    /// peer's fragmentation is treated as an attack and the connection closed with
    /// PROTOCOL_VIOLATION. Data from acknowledged packets is never dropped, so exceeding the
    /// bound cannot be answered by discarding (RFC 9000 §21.8).
    pub max_fragments_per_stream: usize,
    /// Disjoint received ranges all streams together may hold (the same treatment beyond it).
    pub max_fragments: usize,
    /// Ranges of stream IDs in the record of how released streams ended (so that a write on a
    /// stream the peer stopped keeps returning its code, a read after a clean end keeps
    /// returning the end, and a reset keeps its code, after the stream's state is gone).
    /// Neighbouring streams that ended alike share a range, so streams finished in turn cost
    /// one; beyond the bound the oldest ranges are forgotten and their streams answer as
    /// unknown. About 50 bytes a range; at least 1.
    pub closed_stream_ranges: usize,
}

impl Default for StreamsConfig {
    /// Defaults for games over the Internet: 100 streams of each kind; windows start at
    /// 256 KiB per stream and 1 MiB per connection and grow to 8 MiB and 16 MiB (2 × BDP of
    /// 320 Mbit/s at 100 ms RTT for the connection); send buffers match the largest windows;
    /// 8192 reassembly ranges per stream and 16 384 in all: the worst a legitimate sender
    /// causes is a drop-tail queue overflowing in slow start and losing every other packet of a
    /// full window, one range per two datagrams — 3 500 for 8 MiB of 1200-byte datagrams;
    /// 256 ranges of closed streams (streams that end alike only need several ranges when
    /// streams still open, or ended otherwise, sit between them).
    fn default() -> Self {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        Self {
            max_concurrent_bidi: 100,
            max_concurrent_uni: 100,
            stream_receive_window: 256 * KIB,
            max_stream_receive_window: 8 * MIB,
            receive_window: MIB,
            max_receive_window: 16 * MIB,
            stream_send_buffer: 8 * MIB,
            send_buffer: 16 * MIB,
            max_fragments_per_stream: 8192,
            max_fragments: 16_384,
            closed_stream_ranges: 256,
        }
    }
}

impl StreamsConfig {
    /// The configuration with every value brought into its valid range (see the type docs).
    pub(super) fn normalized(&self) -> Self {
        let var = |x: u64| x.min(VarInt::MAX.into_inner());
        let stream_receive_window = var(self.stream_receive_window);
        let receive_window = var(self.receive_window);
        Self {
            max_concurrent_bidi: self.max_concurrent_bidi.min(MAX_STREAM_COUNT),
            max_concurrent_uni: self.max_concurrent_uni.min(MAX_STREAM_COUNT),
            stream_receive_window,
            max_stream_receive_window: var(self.max_stream_receive_window)
                .max(stream_receive_window),
            receive_window,
            max_receive_window: var(self.max_receive_window).max(receive_window),
            stream_send_buffer: self.stream_send_buffer,
            send_buffer: self.send_buffer,
            max_fragments_per_stream: self.max_fragments_per_stream.max(1),
            max_fragments: self.max_fragments.max(1),
            closed_stream_ranges: self.closed_stream_ranges.max(1),
        }
    }
}

/// The stream-related transport parameters of one side (RFC 9000 §18.2): what the peer told us
/// in the handshake, or what we tell it ([`StreamsState::local_limits`]).
///
/// "Local" and "remote" are from the point of view of the side that sends the parameters.
///
/// [`StreamsState::local_limits`]: super::StreamsState::local_limits
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PeerLimits {
    /// initial_max_data: the connection's flow-control limit.
    pub(crate) max_data: u64,
    /// initial_max_stream_data_bidi_local: limit for bidirectional streams the sender of the
    /// parameters opens.
    pub(crate) max_stream_data_bidi_local: u64,
    /// initial_max_stream_data_bidi_remote: limit for bidirectional streams its peer opens.
    pub(crate) max_stream_data_bidi_remote: u64,
    /// initial_max_stream_data_uni: limit for unidirectional streams its peer opens.
    pub(crate) max_stream_data_uni: u64,
    /// initial_max_streams_bidi: bidirectional streams its peer may open.
    pub(crate) max_streams_bidi: u64,
    /// initial_max_streams_uni: unidirectional streams its peer may open.
    pub(crate) max_streams_uni: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_clamps_into_range() {
        let c = StreamsConfig {
            max_concurrent_bidi: u64::MAX,
            stream_receive_window: u64::MAX,
            max_stream_receive_window: 1,
            receive_window: 10,
            max_receive_window: 5,
            max_fragments_per_stream: 0,
            ..StreamsConfig::default()
        }
        .normalized();
        assert_eq!(c.max_concurrent_bidi, MAX_STREAM_COUNT);
        assert_eq!(c.stream_receive_window, VarInt::MAX.into_inner());
        assert_eq!(c.max_stream_receive_window, VarInt::MAX.into_inner());
        assert_eq!((c.receive_window, c.max_receive_window), (10, 10));
        assert_eq!(c.max_fragments_per_stream, 1);
        assert_eq!(
            StreamsConfig::default().normalized(),
            StreamsConfig::default()
        );
    }
}
