//! The sending side of a lane's FEC: groups its source symbols and computes their repairs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{FecLevel, shard_len, to_shard};
use crate::wire::VarInt;
use crate::wire::frame::FecRepair;

/// Time kept between a repair's expected arrival and its group's earliest deadline.
const DEADLINE_MARGIN: Duration = Duration::from_millis(2);
/// The shortest time a repair waits for a packet before it is dropped.
const MIN_REPAIR_LIFE: Duration = Duration::from_millis(20);
/// Repairs waiting to be sent, at most (older ones are dropped: they are the least useful).
const MAX_PENDING: usize = 2 * super::MAX_REPAIRS as usize;

/// A repair waiting for a packet.
#[derive(Debug, Clone)]
struct Pending {
    frame: FecRepair,
    /// When the group closed (the repair's age counts from its first source).
    first_sent: Instant,
    /// The packet that carried the group's last source, or another of its repairs: a repair
    /// never shares it (packets are numbered in order, so the latest is the one to avoid).
    not_in: u64,
    /// Past this the repair cannot help any more.
    expires: Instant,
}

/// One lane's FEC groups, as they are sent.
#[derive(Debug, Clone)]
pub(crate) struct FecEncoder {
    lane: u64,
    level: FecLevel,
    group: u64,
    symbols: Vec<Bytes>,
    first_sent: Option<Instant>,
    close_at: Option<Instant>,
    last_packet: Option<u64>,
    repairs: VecDeque<Pending>,
}

impl FecEncoder {
    pub(crate) fn new(lane: u64, level: FecLevel) -> Self {
        Self {
            lane,
            level,
            group: 0,
            symbols: Vec::new(),
            first_sent: None,
            close_at: None,
            last_packet: None,
            repairs: VecDeque::new(),
        }
    }

    pub(crate) fn level(&self) -> FecLevel {
        self.level
    }

    /// Switches to `level`; the open group closes with the old shape first (as if its time
    /// had come).
    pub(crate) fn set_level(&mut self, level: FecLevel, rtt: Duration) {
        if level != self.level {
            if let Some(at) = self.close_at.or(self.first_sent) {
                self.close(at, rtt);
            }
            self.level = level;
        }
    }

    /// Whether this lane already put a source symbol in packet `packet`.
    pub(crate) fn wrote_in(&self, packet: u64) -> bool {
        self.last_packet == Some(packet) && !self.symbols.is_empty()
    }

    /// The group and index the next source symbol gets.
    pub(crate) fn next_source(&self) -> (u64, u8) {
        (self.group, self.symbols.len() as u8)
    }

    /// A source symbol left in packet `packet`; `deadline` is the earliest deadline of its
    /// messages. Returns whether repairs were queued (the group closed).
    pub(crate) fn on_source(
        &mut self,
        now: Instant,
        symbol: Bytes,
        packet: u64,
        deadline: Option<Instant>,
        rtt: Duration,
    ) -> bool {
        let Some((sources, _)) = self.level.shape() else {
            return false;
        };
        self.symbols.push(symbol);
        self.last_packet = Some(packet);
        let first = *self.first_sent.get_or_insert(now);
        // Waiting longer than half an RTT makes a repair no faster than a retransmission; a
        // deadline less the one-way delay is the latest a repair is any use.
        let mut close_at = self.close_at.unwrap_or(first + rtt / 2);
        if let Some(d) = deadline {
            close_at = close_at.min(d.checked_sub(rtt / 2 + DEADLINE_MARGIN).unwrap_or(now));
        }
        self.close_at = Some(close_at);
        if self.symbols.len() >= usize::from(sources) || close_at <= now {
            self.close(now, rtt);
            return true;
        }
        false
    }

    /// The next time [`on_timeout`](Self::on_timeout) has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let expiry = self.repairs.iter().map(|r| r.expires).min();
        self.close_at.into_iter().chain(expiry).min()
    }

    /// Closes a group that waited long enough and drops repairs past use. Returns whether
    /// repairs were queued.
    pub(crate) fn on_timeout(&mut self, now: Instant, rtt: Duration) -> bool {
        self.repairs.retain(|r| r.expires > now);
        if self.close_at.is_some_and(|t| t <= now) {
            self.close(now, rtt);
            return !self.repairs.is_empty();
        }
        false
    }

    /// Computes the open group's repairs and starts a new group.
    fn close(&mut self, now: Instant, rtt: Duration) {
        let symbols = std::mem::take(&mut self.symbols);
        let first_sent = self.first_sent.take().unwrap_or(now);
        let close_at = self.close_at.take().unwrap_or(now);
        let Some(not_in) = self.last_packet else {
            return;
        };
        let (Some((_, repairs)), false) = (self.level.shape(), symbols.is_empty()) else {
            return;
        };
        let group = self.group;
        self.group += 1;
        let len = shard_len(symbols.iter().map(Bytes::len).max().unwrap_or(0));
        let shards: Option<Vec<Vec<u8>>> = symbols.iter().map(|s| to_shard(s, len)).collect();
        let Some(Ok(recovery)) = shards
            .map(|shards| reed_solomon_simd::encode(shards.len(), usize::from(repairs), shards))
        else {
            // Unreachable with symbols of packet size; the group then simply has no repairs.
            return;
        };
        // A repair is useful until its group's sources could have been sent again (at least a
        // few timer ticks: on a fast path it may wait for the window).
        let expires = close_at.max(now) + rtt.max(MIN_REPAIR_LIFE);
        for (index, shard) in recovery.into_iter().enumerate() {
            if self.repairs.len() >= MAX_PENDING {
                self.repairs.pop_front();
            }
            self.repairs.push_back(Pending {
                frame: FecRepair {
                    lane: VarInt::saturating_from_u64(self.lane),
                    group: VarInt::saturating_from_u64(group),
                    sources: symbols.len() as u8,
                    repairs,
                    index: index as u8,
                    age_ms: VarInt::ZERO,
                    shard: Bytes::from(shard),
                },
                first_sent,
                not_in,
                expires,
            });
        }
    }

    /// Whether a repair may go in packet `packet`.
    pub(crate) fn has_repair(&self, packet: u64) -> bool {
        self.repairs.iter().any(|r| r.not_in != packet)
    }

    /// Whether repairs wait (for this packet or a later one).
    pub(crate) fn has_repairs(&self) -> bool {
        !self.repairs.is_empty()
    }

    /// The oldest repair that may go in packet `packet` and fits `max_len` bytes, with its age
    /// set for `now`.
    pub(crate) fn take_repair(
        &mut self,
        now: Instant,
        packet: u64,
        max_len: usize,
    ) -> Option<FecRepair> {
        let at = self.repairs.iter().position(|r| {
            r.not_in != packet && r.frame.encoded_len() + VarInt::MAX_SIZE <= max_len
        })?;
        let pending = self.repairs.remove(at)?;
        // The group's other repairs go in other packets: one loss must not take two.
        for r in &mut self.repairs {
            if r.frame.group == pending.frame.group {
                r.not_in = packet;
            }
        }
        let age = now.saturating_duration_since(pending.first_sent);
        let mut frame = pending.frame;
        frame.age_ms = VarInt::saturating_from_u64(
            u64::try_from(age.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX),
        );
        Some(frame)
    }
}
