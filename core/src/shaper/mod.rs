//! A traffic shaper for application-level rate limits (DESIGN.md §4): a token bucket in front
//! of priority queues with per-packet deadlines and a bounded size.
//!
//! The shaper is sans-IO like the rest of the core: it never reads a clock and never sleeps.
//! Every call that depends on time takes `now`, and [`Shaper::poll_timeout`] says when to come
//! back. Packets are any type that reports its size ([`PacketSize`]: byte vectors, [`Bytes`],
//! slices, or your own type).
//!
//! - **Rate**: a [`TokenBucket`] of `rate` bytes per second holding at most `burst` bytes (full
//!   at the start). Over any interval of length `d` the shaper releases at most
//!   `rate × d + burst` bytes.
//! - **Priorities**: `priorities` levels, the highest number first, FIFO within a level. The
//!   head of the highest non-empty level waits for its tokens; lower levels never overtake it
//!   (a small bulk packet does not delay a large game-state packet further).
//! - **Deadlines**: a packet may carry a deadline. A packet whose deadline passes before it
//!   can be released — because it expired while queued, or because the bucket cannot refill
//!   for it in time — is dropped and counted in [`ShaperStats::dropped_late`], never released
//!   late.
//! - **Bounds**: at most `max_queued_packets` packets and `max_queued_bytes` bytes wait;
//!   [`Shaper::enqueue`] returns [`ShaperError::QueueFull`] beyond that (after dropping expired
//!   packets to make room).
//!
//! ## The driving loop
//!
//! The invariant: after any input — a packet enqueued, or the timer returned by
//! [`poll_timeout`](Shaper::poll_timeout) fired — drain [`dequeue`](Shaper::dequeue) until it
//! returns `None`, hand each packet to the transport, then re-arm the timer to
//! `poll_timeout()` (`None`: nothing to wait for until the next enqueue). Calling `dequeue`
//! early or late is harmless: early it returns `None`, late it releases what is due (and drops
//! what expired).
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use weir_core::shaper::{Shaper, ShaperConfig, ShaperError};
//!
//! # fn main() -> Result<(), ShaperError> {
//! let start = Instant::now(); // any instant: the shaper only compares instants you pass in
//! // 10 kB/s with a 2 kB burst, two priority levels: 1 for game state, 0 for bulk.
//! let config = ShaperConfig {
//!     priorities: 2,
//!     ..ShaperConfig::new(10_000, 2_000)
//! };
//! let mut shaper = Shaper::new(config, start);
//! for _ in 0..4 {
//!     shaper.enqueue(start, vec![0u8; 1_000], 0, None)?; // bulk, no deadline
//! }
//! // Game state: first in line, and useless after 150 ms.
//! let deadline = start + Duration::from_millis(150);
//! shaper.enqueue(start, vec![1u8; 1_000], 1, Some(deadline))?;
//! shaper.enqueue(start, vec![1u8; 1_000], 1, Some(deadline))?;
//!
//! let mut now = start;
//! let mut sent = Vec::new();
//! loop {
//!     // 1. Release everything that is allowed now.
//!     while let Some(packet) = shaper.dequeue(now) {
//!         sent.push((now - start, packet[0])); // a real driver writes it to the socket here
//!     }
//!     // 2. Sleep until the next packet becomes eligible (or the next enqueue).
//!     match shaper.poll_timeout() {
//!         Some(at) => now = now.max(at), // a real driver arms a timer for `at`
//!         None => break,
//!     }
//! }
//! // The burst carries both game packets at once; the bulk packets follow at 10 kB/s.
//! let ms = Duration::from_millis;
//! assert_eq!(
//!     sent,
//!     [(ms(0), 1), (ms(0), 1), (ms(100), 0), (ms(200), 0), (ms(300), 0), (ms(400), 0)]
//! );
//! assert_eq!(shaper.stats().sent, 6);
//! # Ok(()) }
//! ```

mod bucket;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use bucket::TokenBucket;

/// The number of priority levels of [`ShaperConfig::new`].
pub const DEFAULT_PRIORITIES: u8 = 4;
/// The packet bound of [`ShaperConfig::new`].
pub const DEFAULT_MAX_QUEUED_PACKETS: usize = 1024;

/// Anything the shaper can queue: it only needs the size in bytes.
pub trait PacketSize {
    /// The size that counts against the rate and the queue bound, in bytes.
    fn packet_size(&self) -> usize;
}

impl PacketSize for Vec<u8> {
    fn packet_size(&self) -> usize {
        self.len()
    }
}

impl PacketSize for Box<[u8]> {
    fn packet_size(&self) -> usize {
        self.len()
    }
}

impl PacketSize for std::sync::Arc<[u8]> {
    fn packet_size(&self) -> usize {
        self.len()
    }
}

impl PacketSize for Bytes {
    fn packet_size(&self) -> usize {
        self.len()
    }
}

impl PacketSize for BytesMut {
    fn packet_size(&self) -> usize {
        self.len()
    }
}

impl PacketSize for &[u8] {
    fn packet_size(&self) -> usize {
        self.len()
    }
}

impl<const N: usize> PacketSize for [u8; N] {
    fn packet_size(&self) -> usize {
        N
    }
}

/// The shaper's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShaperConfig {
    /// The long-term rate, bytes per second. 0 lets only the initial burst through.
    pub rate: u64,
    /// The bucket's capacity in bytes: the most that can leave at once, and the largest packet
    /// the shaper accepts.
    pub burst: u64,
    /// Priority levels, `0..priorities`; higher levels go first. At least 1.
    pub priorities: u8,
    /// The most bytes that may wait; `None` for no byte bound.
    pub max_queued_bytes: Option<u64>,
    /// The most packets that may wait; `None` for no packet bound.
    pub max_queued_packets: Option<usize>,
}

impl ShaperConfig {
    /// `rate` bytes per second with bursts of `burst` bytes, [`DEFAULT_PRIORITIES`] levels and
    /// at most [`DEFAULT_MAX_QUEUED_PACKETS`] packets waiting.
    pub fn new(rate: u64, burst: u64) -> Self {
        Self {
            rate,
            burst,
            priorities: DEFAULT_PRIORITIES,
            max_queued_bytes: None,
            max_queued_packets: Some(DEFAULT_MAX_QUEUED_PACKETS),
        }
    }
}

/// Why [`Shaper::enqueue`] refused a packet. The packet is dropped and counted in
/// [`ShaperStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShaperError {
    /// The packet would exceed the queue's byte or packet bound.
    #[error(
        "shaper queue full: a {size}-byte packet does not fit beside {queued_packets} packets \
         ({queued_bytes} bytes)"
    )]
    QueueFull {
        /// The refused packet's size, bytes.
        size: u64,
        /// Bytes waiting.
        queued_bytes: u64,
        /// Packets waiting.
        queued_packets: usize,
    },
    /// The packet is larger than the bucket, so it could never be released.
    #[error("a {size}-byte packet exceeds the shaper's {burst}-byte burst")]
    TooLarge {
        /// The refused packet's size, bytes.
        size: u64,
        /// The bucket's capacity, bytes.
        burst: u64,
    },
    /// The priority is not one of the shaper's levels.
    #[error("priority {priority} does not exist (the shaper has {priorities} levels)")]
    NoSuchPriority {
        /// The priority asked for.
        priority: u8,
        /// The number of levels.
        priorities: u8,
    },
}

/// What the shaper did so far. `enqueued = sent + dropped_late + queued` at all times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShaperStats {
    /// Packets accepted by [`Shaper::enqueue`].
    pub enqueued: u64,
    /// Packets released by [`Shaper::dequeue`].
    pub sent: u64,
    /// Bytes released by [`Shaper::dequeue`].
    pub sent_bytes: u64,
    /// Accepted packets dropped because their deadline passed before they could be released.
    pub dropped_late: u64,
    /// Packets refused with [`ShaperError::QueueFull`].
    pub rejected_full: u64,
    /// Packets refused as [`ShaperError::TooLarge`] or with [`ShaperError::NoSuchPriority`].
    pub rejected_invalid: u64,
}

#[derive(Debug)]
struct Entry<T> {
    packet: T,
    size: u64,
    deadline: Option<Instant>,
}

/// A traffic shaper: token bucket, priority queues, deadlines and a bounded queue; see the
/// [module documentation](self) for the behaviour and the driving loop.
#[derive(Debug)]
pub struct Shaper<T> {
    config: ShaperConfig,
    bucket: TokenBucket,
    /// One FIFO per level; index = priority.
    levels: Vec<VecDeque<Entry<T>>>,
    queued_bytes: u64,
    queued_packets: usize,
    stats: ShaperStats,
}

impl<T: PacketSize> Shaper<T> {
    /// An empty shaper whose bucket is full at `now`.
    pub fn new(config: ShaperConfig, now: Instant) -> Self {
        let config = ShaperConfig {
            priorities: config.priorities.max(1),
            ..config
        };
        Self {
            bucket: TokenBucket::new(config.rate, config.burst, now),
            levels: (0..config.priorities).map(|_| VecDeque::new()).collect(),
            config,
            queued_bytes: 0,
            queued_packets: 0,
            stats: ShaperStats::default(),
        }
    }

    /// The configuration (with `priorities` at least 1).
    pub fn config(&self) -> &ShaperConfig {
        &self.config
    }

    /// The statistics.
    pub fn stats(&self) -> ShaperStats {
        self.stats
    }

    /// The token bucket.
    pub fn bucket(&self) -> &TokenBucket {
        &self.bucket
    }

    /// Packets waiting (including expired ones not yet dropped).
    pub fn len(&self) -> usize {
        self.queued_packets
    }

    /// Whether no packet waits.
    pub fn is_empty(&self) -> bool {
        self.queued_packets == 0
    }

    /// Bytes waiting (including expired packets not yet dropped).
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes
    }

    /// Changes the rate at `now`; tokens accrued until `now` count at the old rate.
    pub fn set_rate(&mut self, now: Instant, rate: u64) {
        self.config.rate = rate;
        self.bucket.set_rate(now, rate);
    }

    /// Queues `packet` at `priority` (`0..priorities`, higher first) at `now`, to be dropped
    /// if it cannot be released by `deadline`. A packet whose deadline has already passed is
    /// accepted and counted as dropped at once (it never takes queue space).
    pub fn enqueue(
        &mut self,
        now: Instant,
        packet: T,
        priority: u8,
        deadline: Option<Instant>,
    ) -> Result<(), ShaperError> {
        self.bucket.refill(now);
        let size = u64::try_from(packet.packet_size()).unwrap_or(u64::MAX);
        if priority >= self.config.priorities {
            self.stats.rejected_invalid += 1;
            return Err(ShaperError::NoSuchPriority {
                priority,
                priorities: self.config.priorities,
            });
        }
        if size > self.config.burst {
            self.stats.rejected_invalid += 1;
            return Err(ShaperError::TooLarge {
                size,
                burst: self.config.burst,
            });
        }
        if deadline.is_some_and(|d| d < now) {
            // Late on arrival: it never occupies the queue.
            self.stats.enqueued += 1;
            self.stats.dropped_late += 1;
            return Ok(());
        }
        if !self.fits(size) {
            self.drop_expired(now);
        }
        if !self.fits(size) {
            self.stats.rejected_full += 1;
            return Err(ShaperError::QueueFull {
                size,
                queued_bytes: self.queued_bytes,
                queued_packets: self.queued_packets,
            });
        }
        self.stats.enqueued += 1;
        self.queued_bytes += size;
        self.queued_packets += 1;
        self.levels[usize::from(priority)].push_back(Entry {
            packet,
            size,
            deadline,
        });
        Ok(())
    }

    /// The next packet allowed at `now`, if any: the head of the highest non-empty level, once
    /// the bucket holds its size. Drops (and counts) packets whose deadline has passed or will
    /// pass before the bucket can refill for them.
    pub fn dequeue(&mut self, now: Instant) -> Option<T> {
        self.bucket.refill(now);
        for level in (0..self.levels.len()).rev() {
            while let Some(head) = self.levels[level].front() {
                match self.verdict(head, now) {
                    Verdict::Drop => {
                        self.pop(level);
                        self.stats.dropped_late += 1;
                    }
                    Verdict::Release => {
                        let entry = self.pop(level)?;
                        let taken = self.bucket.try_take(entry.size);
                        debug_assert!(taken, "verdict checked the tokens");
                        self.stats.sent += 1;
                        self.stats.sent_bytes += entry.size;
                        return Some(entry.packet);
                    }
                    Verdict::Wait(_) | Verdict::Never => return None,
                }
            }
        }
        None
    }

    /// When [`dequeue`](Self::dequeue) will next release a packet, if nothing is enqueued
    /// meanwhile: an instant at or before the last `now` passed in means "now"; `None` means
    /// the queue is empty, or holds only packets that cannot be released until the rate is
    /// raised (a zero rate).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.bucket.updated();
        for level in self.levels.iter().rev() {
            for entry in level {
                match self.verdict(entry, now) {
                    Verdict::Drop => continue,
                    Verdict::Release => return Some(now),
                    Verdict::Wait(at) => return Some(at),
                    Verdict::Never => return None,
                }
            }
        }
        None
    }

    /// Drops every packet whose deadline is before `now` (they would be dropped when they
    /// reach the head anyway); returns how many.
    pub fn drop_expired(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        for level in &mut self.levels {
            level.retain(|entry| {
                let keep = entry.deadline.is_none_or(|d| d >= now);
                if !keep {
                    self.queued_bytes -= entry.size;
                    self.queued_packets -= 1;
                    dropped += 1;
                }
                keep
            });
        }
        self.stats.dropped_late += dropped as u64;
        dropped
    }

    /// What happens to `entry` at the head of the queue at `now` (with the bucket refilled to
    /// `now`).
    fn verdict(&self, entry: &Entry<T>, now: Instant) -> Verdict {
        if entry.deadline.is_some_and(|d| d < now) {
            return Verdict::Drop;
        }
        if self.bucket.has(entry.size) {
            return Verdict::Release;
        }
        match (self.bucket.ready_at(entry.size), entry.deadline) {
            // It would only become eligible after its deadline.
            (Some(at), Some(deadline)) if at > deadline => Verdict::Drop,
            (Some(at), _) => Verdict::Wait(at),
            // A zero rate: only a new rate can release it (or its deadline drop it).
            (None, _) => Verdict::Never,
        }
    }

    fn fits(&self, size: u64) -> bool {
        let packets_ok = self
            .config
            .max_queued_packets
            .is_none_or(|max| self.queued_packets < max);
        let bytes_ok = self
            .config
            .max_queued_bytes
            .is_none_or(|max| self.queued_bytes.saturating_add(size) <= max);
        packets_ok && bytes_ok
    }

    fn pop(&mut self, level: usize) -> Option<Entry<T>> {
        let entry = self.levels[level].pop_front()?;
        self.queued_bytes -= entry.size;
        self.queued_packets -= 1;
        Some(entry)
    }
}

/// The fate of a queue head.
enum Verdict {
    /// Its deadline passed, or will before the bucket can refill for it.
    Drop,
    /// The bucket holds its size.
    Release,
    /// The bucket will hold its size at this instant.
    Wait(Instant),
    /// The bucket will never hold its size at the current rate (a zero rate).
    Never,
}

#[cfg(test)]
mod tests;
