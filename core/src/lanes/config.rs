//! What a lane is set up with ([`LaneConfig`]), and the connection's limits on lanes
//! ([`LanesConfig`], part of the transport configuration).

use std::time::{Duration, Instant};

pub use crate::wire::frame::{DeliveryMode, UnknownDeliveryMode};

use super::compression::{CodecSet, ZstdDictionary};
use super::compression::{Compression, LaneCompression, MAX_DICTIONARY_SIZE, MAX_ZSTD_LEVEL};
use super::fec::FecLevel;

/// How a lane groups small messages into packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coalesce {
    /// Every message leaves as soon as the congestion controller and the pacer allow (small
    /// messages still share a packet when they are queued together). The default.
    #[default]
    Off,
    /// Nagle-style: messages wait until `batch_bytes` are queued on the lane, the
    /// application calls `flush`, or the oldest has waited `max_delay`. Fewer, fuller packets
    /// for chatty lanes; the strategy selector drives `batch_bytes`.
    Hold {
        /// Bytes that release the batch.
        batch_bytes: usize,
        /// Longest a message waits.
        max_delay: Duration,
    },
}

/// How one lane sends: its delivery mode, its place in the scheduler, how it batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneConfig {
    /// Reliability and ordering (see [`DeliveryMode`]). The receiver learns it from the
    /// frames; it cannot change once the lane carried a message.
    pub mode: DeliveryMode,
    /// Higher is more urgent; strict across levels, shared with streams (DESIGN.md §3a): a
    /// lane with data always goes before every stream and lane of a lower priority.
    pub priority: i32,
    /// Share of the bandwidth among the lanes of one priority (deficit round-robin): a lane of
    /// weight 3 gets three times the bytes of a lane of weight 1 while both have data. At
    /// least 1.
    pub weight: u32,
    /// Small-message batching.
    pub coalesce: Coalesce,
    /// Loss repair without a round trip: each message that fits one packet is carried again,
    /// whole, in up to this many later packets (while unacknowledged and before its deadline),
    /// so that a lost packet is repaired by the next one (RFC 2198-style redundancy). 0 (the
    /// default) turns it off; at most [`MAX_REDUNDANCY`]. Copies ride in room left in packets
    /// that leave anyway, within [`LanesConfig::redundancy_budget`] bytes per packet; only when
    /// the lane goes quiet with copies owed (its last messages before a pause) do they leave
    /// in a packet of their own, a quarter RTT later. On a sequenced lane, where the next
    /// message makes the copy worthless, the copy leaves in a packet of its own a quarter of
    /// the lane's usual interval after its message. A packet of nothing but copies goes only
    /// when the congestion window has a full packet to spare.
    pub redundancy: u8,
    /// Loss repair without a round trip by forward error correction: what the lane puts in
    /// each packet is protected by Reed–Solomon repairs sent in later packets (see
    /// [`FecLevel`] for the levels and their overhead). [`FecLevel::None`] by default. It can
    /// change at any time (the open group closes with the old level).
    pub fec: FecLevel,
    /// Whether the connection's strategy selector may adjust this lane (on by default): raise
    /// its FEC level to the strategy's, and set the batch size of a [`Coalesce::Hold`] lane.
    /// `false` keeps the lane exactly as configured.
    ///
    /// FEC follows the strategy only on [`Unreliable`](DeliveryMode::Unreliable) lanes with no
    /// [`redundancy`](Self::redundancy) (a stronger configured level is kept): a reliable lane
    /// repairs by retransmission and may carry bulk data that would pay the overhead; on a
    /// sequenced lane the next message supersedes a lost one sooner than a repair arrives; a
    /// lane with redundant copies already has the repair its application chose.
    ///
    /// Compression follows the strategy on every adaptive lane whose
    /// [`compression`](Self::compression) is [`LaneCompression::Auto`].
    pub adaptive: bool,
    /// How the lane compresses its messages (see [`crate::lanes::compression`]):
    /// [`LaneCompression::Auto`] (the default) follows the strategy selector on an adaptive
    /// lane and compresses nothing on a pinned one; [`LaneCompression::Fixed`] keeps a level.
    /// A message is compressed only with a codec the peer announced, and sent as it is when
    /// that would not make it smaller. A message's own
    /// [`SendOptions::compression`] overrides it.
    pub compression: LaneCompression,
}

/// How one message is sent ([`Connection::send_message_with`]).
///
/// [`Connection::send_message_with`]: crate::connection::Connection::send_message_with
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendOptions {
    /// When to give the message up if it was not delivered (not sent in full, or not
    /// acknowledged on a reliable lane); `None`: never.
    pub deadline: Option<Instant>,
    /// This message's compression, in place of the lane's ([`LaneConfig::compression`]);
    /// `None`: the lane's. Still only with a codec the peer announced, and only when it
    /// shrinks the message.
    pub compression: Option<Compression>,
}

impl SendOptions {
    /// Options with `deadline`.
    pub fn with_deadline(self, deadline: Option<Instant>) -> Self {
        Self { deadline, ..self }
    }

    /// Options compressing the message with `compression`.
    pub fn with_compression(self, compression: Compression) -> Self {
        Self {
            compression: Some(compression),
            ..self
        }
    }
}

/// The most copies [`LaneConfig::redundancy`] may ask for.
pub const MAX_REDUNDANCY: u8 = 4;

impl Default for LaneConfig {
    fn default() -> Self {
        Self {
            mode: DeliveryMode::ReliableOrdered,
            priority: 0,
            weight: 1,
            coalesce: Coalesce::Off,
            redundancy: 0,
            fec: FecLevel::None,
            adaptive: true,
            compression: LaneCompression::Auto,
        }
    }
}

impl LaneConfig {
    /// The default configuration with `mode`.
    pub fn new(mode: DeliveryMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// This configuration at `priority`.
    pub fn with_priority(self, priority: i32) -> Self {
        Self { priority, ..self }
    }

    /// This configuration with `weight`.
    pub fn with_weight(self, weight: u32) -> Self {
        Self { weight, ..self }
    }

    /// This configuration with `redundancy` extra copies of each message.
    pub fn with_redundancy(self, redundancy: u8) -> Self {
        Self { redundancy, ..self }
    }

    /// This configuration with forward error correction at `fec`.
    pub fn with_fec(self, fec: FecLevel) -> Self {
        Self { fec, ..self }
    }

    /// This configuration compressing every message with `compression` (a fixed level, not
    /// the strategy's).
    pub fn with_compression(self, compression: Compression) -> Self {
        Self {
            compression: LaneCompression::Fixed(compression),
            ..self
        }
    }

    /// The same configuration, kept exactly as it is by the strategy selector
    /// ([`adaptive`](Self::adaptive) off).
    pub fn pinned(self) -> Self {
        Self {
            adaptive: false,
            ..self
        }
    }

    /// The FEC level the lane uses when the strategy asks for at least `strategy`: only an
    /// adaptive [`Unreliable`](DeliveryMode::Unreliable) lane without redundant copies follows
    /// the strategy (see [`adaptive`](Self::adaptive)).
    pub(crate) fn effective_fec(&self, strategy: FecLevel) -> FecLevel {
        if self.adaptive && self.mode == DeliveryMode::Unreliable && self.redundancy == 0 {
            self.fec.max(strategy)
        } else {
            self.fec
        }
    }

    /// The compression the lane asks for when the strategy says `strategy` (see
    /// [`compression`](Self::compression)).
    pub(crate) fn effective_compression(&self, strategy: Compression) -> Compression {
        match self.compression {
            LaneCompression::Fixed(c) => c,
            LaneCompression::Auto if self.adaptive => strategy,
            LaneCompression::Auto => Compression::None,
        }
    }
}

/// The connection's limits on lanes: what this end accepts from the peer (announced in the
/// transport parameters) and what it buffers. Every limit bounds memory a peer could
/// otherwise make this end hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanesConfig {
    /// Lane numbers the peer may use: `0..max_lanes`. A frame for a higher lane is a
    /// PROTOCOL_VIOLATION.
    pub max_lanes: u64,
    /// Largest message this end accepts, and sends (the smaller of both ends' values applies
    /// to sending). Default 1 MiB.
    pub max_message_size: u64,
    /// Flow-control window of each reliable lane, in bytes of the lane's credit (a message of
    /// `n` bytes takes `n + 64` (`MESSAGE_OVERHEAD`): the receiver's bookkeeping for it). It must hold the largest
    /// message, which is only delivered whole. Default 2 MiB.
    pub lane_receive_window: u64,
    /// Flow-control window of all reliable lanes together. Default 8 MiB.
    pub receive_window: u64,
    /// Bytes of unreliable messages in reassembly (data plus 64 bytes per fragment); beyond
    /// it the oldest incomplete message is dropped. Default 1 MiB.
    pub reassembly_buffer: u64,
    /// Bytes of complete unreliable messages waiting for the application (data plus 64 bytes
    /// per message, so empty messages count too); beyond it the oldest is dropped. Default
    /// 1 MiB.
    pub unreliable_receive_buffer: u64,
    /// An incomplete unreliable message is dropped this long after its first fragment (or at
    /// its deadline, if sooner). Default 1 s.
    pub reassembly_timeout: Duration,
    /// Bytes of messages all lanes hold for sending (until sent, for unreliable lanes; until
    /// acknowledged, for reliable ones). Beyond it a reliable send is refused with
    /// `Blocked` (the application waits for `Writable`) and an unreliable one pushes out the
    /// lane's oldest unsent message. Default 4 MiB.
    pub send_buffer: u64,
    /// Most bytes of redundant copies ([`LaneConfig::redundancy`]) one packet carries, all
    /// lanes together. Default 600 (half a minimum-size packet).
    pub redundancy_budget: usize,
    /// Bytes of FEC symbols and repairs this end holds while their groups are incomplete
    /// (data plus 64 bytes each), all lanes together; beyond it the oldest group is
    /// forgotten. Default 256 KiB.
    pub fec_buffer: u64,
    /// The codecs this end decompresses, announced in the handshake: the peer compresses
    /// with no other (see [`crate::lanes::compression`]). Default: all ([`CodecSet::ALL`]).
    /// A decompressed message is at most `max_message_size` bytes, whatever the peer sends.
    pub decompress: CodecSet,
    /// A zstd dictionary for this end's messages both ways: used when the peer announces the
    /// same one (by its [`ZstdDictionary::id`]), ignored otherwise. At most
    /// [`MAX_DICTIONARY_SIZE`] bytes; each connection that compresses or decompresses with it
    /// keeps its own copy in its zstd contexts. Default none.
    pub zstd_dictionary: Option<ZstdDictionary>,
}

impl Default for LanesConfig {
    fn default() -> Self {
        Self {
            max_lanes: 64,
            max_message_size: 1 << 20,
            lane_receive_window: 2 << 20,
            receive_window: 8 << 20,
            reassembly_buffer: 1 << 20,
            unreliable_receive_buffer: 1 << 20,
            reassembly_timeout: Duration::from_secs(1),
            send_buffer: 4 << 20,
            redundancy_budget: 600,
            fec_buffer: 256 << 10,
            decompress: CodecSet::ALL,
            zstd_dictionary: None,
        }
    }
}

/// A lane configuration value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LaneConfigError {
    /// A weight of zero.
    #[error("a lane's weight must be at least 1")]
    ZeroWeight,
    /// More redundant copies than [`MAX_REDUNDANCY`].
    #[error("a lane may ask for at most {MAX_REDUNDANCY} redundant copies, not {0}")]
    Redundancy(u8),
    /// A batch of zero bytes, or a hold of zero time.
    #[error("a Nagle hold needs a positive batch size and delay")]
    EmptyHold,
    /// A limit that must be positive is zero.
    #[error("lanes: {0} must not be zero")]
    Zero(&'static str),
    /// The lane windows cannot hold one message of the largest size.
    #[error("lane windows of {window} bytes cannot hold a message of {max_message_size} bytes")]
    WindowBelowMessage {
        /// The smaller window.
        window: u64,
        /// The largest message.
        max_message_size: u64,
    },
    /// A zstd level above [`MAX_ZSTD_LEVEL`], or zero.
    #[error("zstd levels run from 1 to {MAX_ZSTD_LEVEL}, not {0}")]
    ZstdLevel(u8),
    /// A zstd dictionary larger than [`MAX_DICTIONARY_SIZE`], or empty.
    #[error("a zstd dictionary must hold 1 to {MAX_DICTIONARY_SIZE} bytes, not {0}")]
    DictionarySize(usize),
}

impl LaneConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), LaneConfigError> {
        if self.weight == 0 {
            return Err(LaneConfigError::ZeroWeight);
        }
        if self.redundancy > MAX_REDUNDANCY {
            return Err(LaneConfigError::Redundancy(self.redundancy));
        }
        if let Coalesce::Hold {
            batch_bytes,
            max_delay,
        } = self.coalesce
            && (batch_bytes == 0 || max_delay.is_zero())
        {
            return Err(LaneConfigError::EmptyHold);
        }
        if let LaneCompression::Fixed(Compression::Zstd(level)) = self.compression
            && !(1..=MAX_ZSTD_LEVEL).contains(&level)
        {
            return Err(LaneConfigError::ZstdLevel(level));
        }
        Ok(())
    }
}

impl LanesConfig {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), LaneConfigError> {
        for (name, value) in [
            ("max_message_size", self.max_message_size),
            ("lane_receive_window", self.lane_receive_window),
            ("receive_window", self.receive_window),
            ("reassembly_buffer", self.reassembly_buffer),
            ("unreliable_receive_buffer", self.unreliable_receive_buffer),
            ("send_buffer", self.send_buffer),
            ("fec_buffer", self.fec_buffer),
        ] {
            if value == 0 {
                return Err(LaneConfigError::Zero(name));
            }
        }
        if self.reassembly_timeout.is_zero() {
            return Err(LaneConfigError::Zero("reassembly_timeout"));
        }
        let window = self.lane_receive_window.min(self.receive_window);
        if window < self.max_message_size + super::MESSAGE_OVERHEAD {
            return Err(LaneConfigError::WindowBelowMessage {
                window,
                max_message_size: self.max_message_size,
            });
        }
        if let Some(dictionary) = &self.zstd_dictionary
            && !(1..=MAX_DICTIONARY_SIZE).contains(&dictionary.bytes().len())
        {
            return Err(LaneConfigError::DictionarySize(dictionary.bytes().len()));
        }
        Ok(())
    }
}
