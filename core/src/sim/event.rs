//! The simulator's event queue: what happens next, in virtual-time order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;

use super::config::LinkConfig;
use super::nat::NatId;
use super::{LinkId, NodeId};

/// A datagram travelling through the simulated network.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) id: u64,
    pub(crate) from: SocketAddr,
    pub(crate) to: NodeId,
    pub(crate) route: usize,
    pub(crate) hop: usize,
    pub(crate) sent_at: Duration,
    pub(crate) entered_link_at: Duration,
    /// The ECN codepoint of its IP header, as the sender set it and the links changed it.
    pub(crate) ecn: Option<crate::EcnCodepoint>,
    pub(crate) data: BytesMut,
    /// The NAT and public port it was sent to, when its destination is behind a NAT: the NAT
    /// translates and filters it on arrival.
    pub(crate) nat: Option<(NatId, u16)>,
}

#[derive(Debug)]
pub(crate) enum EventKind {
    /// A packet reaches the far end of the link at `hop` of its route.
    Arrive(InFlight),
    /// A link's bottleneck finishes serialising its current packet.
    ServiceDone(LinkId),
    /// A delivery opportunity of a trace-driven bottleneck; the number is the link's trace
    /// generation when it was armed (a reconfigured link ignores opportunities of its old trace).
    Opportunity(LinkId, u64),
    /// A link's parameters change.
    Reconfigure(LinkId, Box<LinkConfig>),
}

#[derive(Debug)]
struct Scheduled {
    at: Duration,
    /// Insertion order breaks ties, so that equal-time events run first-in first-out.
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A min-queue of events by (time, insertion order).
#[derive(Debug, Default)]
pub(crate) struct Events {
    heap: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
}

impl Events {
    pub(crate) fn push(&mut self, at: Duration, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Scheduled { at, seq, kind }));
    }

    pub(crate) fn next_time(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Removes and returns the earliest event if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<EventKind> {
        if self.next_time()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e.kind)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_pop_in_insertion_order() {
        let mut q = Events::default();
        let t = Duration::from_millis(5);
        q.push(t, EventKind::ServiceDone(LinkId(2)));
        q.push(Duration::from_millis(1), EventKind::ServiceDone(LinkId(0)));
        q.push(t, EventKind::ServiceDone(LinkId(3)));
        assert!(q.pop_due(Duration::ZERO).is_none());
        let order: Vec<usize> = std::iter::from_fn(|| q.pop_due(t))
            .map(|e| match e {
                EventKind::ServiceDone(link) => link.0,
                _ => usize::MAX,
            })
            .collect();
        assert_eq!(order, vec![0, 2, 3]);
    }
}
