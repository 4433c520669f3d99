//! What the application gets from lanes: received messages, events, counters.

use std::time::Instant;

use bytes::Bytes;

use super::compression::DecompressError;

/// A message received on a lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The lane it came on.
    pub lane: u64,
    /// Its number within the lane (the sender counts from 0 per lane and direction).
    pub sequence: u64,
    /// The message (zero-copy when it came in one fragment).
    pub data: Bytes,
    /// When it goes stale, from the sender's time to live less half the minimum RTT; `None`
    /// without a deadline. A stale message is dropped, never delivered.
    pub deadline: Option<Instant>,
}

/// Something that happened on a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneEvent {
    /// Messages wait in [`recv_message`](crate::connection::Connection::recv_message): read
    /// until it returns `None`. One such event per lane waits to be polled at a time, however
    /// many messages arrive meanwhile; the next comes with the next message after it was
    /// polled.
    Readable {
        /// The lane.
        lane: u64,
    },
    /// Room in the send buffer again after a send was refused with `Blocked`.
    Writable,
    /// The sender gave up a message at its deadline: it was not sent in full, or (on a
    /// reliable lane) not acknowledged in full, and will not be sent again.
    Expired {
        /// The lane.
        lane: u64,
        /// The message's number.
        sequence: u64,
    },
    /// A compressed message that did not decompress (a bomb beyond `max_message_size`,
    /// corrupt data, a codec or dictionary this end never announced) was dropped when the
    /// application read its lane; the lane goes on. Counted in
    /// [`LaneStats::decompression_failed`].
    Undecodable {
        /// The lane.
        lane: u64,
        /// The message's number.
        sequence: u64,
        /// Why.
        error: DecompressError,
    },
}

/// Counters of one direction of the lanes of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneStats {
    /// Messages queued by the application.
    pub messages_sent: u64,
    /// Message bytes queued by the application (before compression).
    pub bytes_sent: u64,
    /// Messages sent compressed (see [`LaneConfig::compression`]).
    ///
    /// [`LaneConfig::compression`]: super::LaneConfig::compression
    pub compressed_messages_sent: u64,
    /// Bytes compression took off the messages sent: their length less their compressed
    /// envelopes' (what the lanes carried, before fragment headers).
    pub compression_saved_bytes: u64,
    /// Messages that compression did not shrink (or too short to try), sent as they were.
    pub compression_skipped: u64,
    /// Fragments sent again after a loss (reliable lanes).
    pub fragments_retransmitted: u64,
    /// Bytes of redundant copies sent (the cost of [`LaneConfig::redundancy`]), headers
    /// included.
    ///
    /// [`LaneConfig::redundancy`]: super::LaneConfig::redundancy
    pub redundant_bytes_sent: u64,
    /// Messages the receiver got from a redundant copy or an FEC rebuild: the original was
    /// lost or late, and no round trip was spent on repairing it.
    pub repaired_messages: u64,
    /// Bytes forward error correction added (the cost of [`LaneConfig::fec`]): FEC_REPAIR
    /// frames and the FEC_SOURCE headers around the protected frames.
    ///
    /// [`LaneConfig::fec`]: super::LaneConfig::fec
    pub fec_bytes_sent: u64,
    /// FEC repair shards sent.
    pub fec_repairs_sent: u64,
    /// Lost packets whose lane frames the receiver rebuilt from FEC repairs.
    pub fec_recovered: u64,
    /// FEC symbols, repairs or rebuilt frames the receiver dropped: inconsistent groups,
    /// stale groups, the FEC buffer full, or rebuilt frames it could not use.
    pub fec_dropped: u64,
    /// Messages given up at their deadline before they were sent (or acknowledged) in full.
    pub expired_sending: u64,
    /// Of [`expired_sending`](Self::expired_sending), the messages given up before their
    /// deadline, unsent, because the connection's estimate of the transit (half the base RTT
    /// and the queue its own data stands in) said they could not arrive by it.
    pub given_up_in_transit: u64,
    /// Messages given up because a newer one superseded them (sequenced lanes) or pushed them
    /// out of a full send buffer (unreliable lanes).
    pub superseded_sending: u64,
    /// Messages delivered to the application.
    pub messages_received: u64,
    /// Message bytes delivered to the application (after decompression).
    pub bytes_received: u64,
    /// Compressed messages delivered to the application (decompressed).
    pub compressed_messages_received: u64,
    /// Compressed messages dropped because they did not decompress within the bounds (see
    /// [`LaneEvent::Undecodable`]).
    pub decompression_failed: u64,
    /// Messages dropped at the receiver because their deadline passed.
    pub expired_receiving: u64,
    /// Messages dropped at the receiver because a newer one had been delivered (sequenced
    /// lanes), or duplicates.
    pub stale_receiving: u64,
    /// Incomplete messages dropped: their fragments did not all arrive in time, the
    /// reassembly buffer was full, or the sender gave them up.
    pub incomplete_dropped: u64,
    /// Complete unreliable messages dropped because the application did not read them and
    /// the receive buffer was full.
    pub overflow_dropped: u64,
}
