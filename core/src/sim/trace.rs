//! Per-packet traces of a simulation, and a digest that proves two runs identical.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::time::Duration;

use super::LinkId;
use super::nat::{NatDrop, NatId};
use super::stats::DropCause;

/// What happened to a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceKind {
    /// A node sent it.
    Sent {
        /// Sender's address.
        from: SocketAddr,
        /// Destination address.
        to: SocketAddr,
    },
    /// It left a link's bottleneck queue after waiting `queue_delay`.
    Departed {
        /// The link.
        link: LinkId,
        /// Time spent waiting for the bottleneck.
        queue_delay: Duration,
    },
    /// It was dropped.
    Dropped {
        /// The link that dropped it (`None` when it had no route).
        link: Option<LinkId>,
        /// Why.
        cause: DropCause,
    },
    /// A link flipped bit `bit` of it.
    Corrupted {
        /// The link.
        link: LinkId,
        /// Index of the flipped bit from the start of the datagram.
        bit: usize,
    },
    /// A link made a copy of it, with id `copy`.
    Duplicated {
        /// The link.
        link: LinkId,
        /// Packet id of the copy.
        copy: u64,
    },
    /// A link held it back so that later datagrams overtake it.
    Reordered {
        /// The link.
        link: LinkId,
    },
    /// It created a mapping of a NAT on its way out.
    NatMapped {
        /// The NAT.
        nat: NatId,
        /// The sender's internal address.
        private: SocketAddr,
        /// The new public address.
        public: SocketAddr,
    },
    /// A NAT dropped it.
    NatDropped {
        /// The NAT.
        nat: NatId,
        /// Why.
        cause: NatDrop,
    },
    /// It reached its destination node, `one_way` after it was sent.
    Delivered {
        /// Time from sending to delivery.
        one_way: Duration,
    },
}

/// One trace record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceEvent {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    /// The simulator's id of the datagram (copies made by duplication get their own id).
    pub packet: u64,
    /// Size of the datagram in bytes.
    pub size: usize,
    /// What happened.
    pub kind: TraceKind,
}

/// A bounded record of trace events plus a digest of *all* events.
///
/// Storing every event of a long run would grow without bound, so the record keeps at most
/// `capacity` events (the first ones); the digest covers every event, so two runs can be compared
/// for identity whatever the capacity.
#[derive(Debug, Clone)]
pub struct Trace {
    events: Vec<TraceEvent>,
    capacity: usize,
    total: u64,
    hasher: DefaultHasher,
}

impl Trace {
    /// A trace that stores up to `capacity` events (0 keeps only the digest).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            events: Vec::new(),
            capacity,
            total: 0,
            hasher: DefaultHasher::new(),
        }
    }

    pub(crate) fn record(&mut self, event: TraceEvent) {
        event.hash(&mut self.hasher);
        self.total += 1;
        if self.events.len() < self.capacity {
            self.events.push(event);
        }
    }

    /// The stored events, in the order they happened.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Number of events that happened (stored or not).
    pub fn total_events(&self) -> u64 {
        self.total
    }

    /// Whether some events were not stored for lack of capacity.
    pub fn truncated(&self) -> bool {
        self.total > self.events.len() as u64
    }

    /// A digest of every event so far; equal digests mean (with overwhelming probability)
    /// identical traces.
    pub fn digest(&self) -> u64 {
        self.hasher.clone().finish() ^ self.total
    }
}

impl Default for Trace {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(packet: u64) -> TraceEvent {
        TraceEvent {
            at: Duration::from_millis(packet),
            packet,
            size: 100,
            kind: TraceKind::Delivered {
                one_way: Duration::from_millis(1),
            },
        }
    }

    #[test]
    fn capacity_bounds_storage_but_not_digest() {
        let mut a = Trace::with_capacity(2);
        let mut b = Trace::with_capacity(0);
        for p in 0..5 {
            a.record(event(p));
            b.record(event(p));
        }
        assert_eq!(a.events().len(), 2);
        assert!(a.truncated());
        assert_eq!(a.total_events(), 5);
        assert_eq!(a.digest(), b.digest());
        b.record(event(9));
        assert_ne!(a.digest(), b.digest());
    }
}
