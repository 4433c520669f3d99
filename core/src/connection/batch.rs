//! GSO batches: consecutive datagrams of one connection handed to the driver in one
//! [`Transmit`], so that it sends them with one system call (UDP generic segmentation
//! offload) without coalescing anything itself.
//!
//! A batch holds datagrams to one destination with one ECN codepoint, all of the first one's
//! size but the last, which may be shorter (what GSO sends). Every datagram after the first is
//! built as it would be by a call of its own: each one passes the pacer and the congestion
//! window, so a batch never sends earlier or more than single datagrams would. Only ordinary
//! full-size data datagrams batch: the handshake (whose padding rules make datagrams of their
//! own sizes), path probes, MTU probes and CONNECTION_CLOSE always travel alone.

use std::time::Instant;

use super::send::{MIN_PACKET_ROOM, Padding};
use super::{Connection, Phase};
use crate::Transmit;
use crate::recovery::SpaceId;

impl Connection {
    /// Appends the next datagram, or a batch of at most `max_datagrams` (see the
    /// [module docs](self)), to `buf`; `None` when there is nothing to send now.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        let first = self.poll_datagram(now, buf)?;
        // The cheap path: a driver that sends one datagram at a time.
        if max_datagrams <= 1 || !self.may_batch(&first) {
            return Some(first);
        }
        let segment = first.size;
        let mut size = segment;
        let mut count = 1;
        while count < max_datagrams
            && size + segment <= Transmit::MAX_BATCH_BYTES
            && self.ecn.codepoint() == first.ecn
        {
            let Some(next) = self.poll_batched(now, buf, segment) else {
                break;
            };
            size += next;
            count += 1;
            if next < segment {
                // Only the last datagram of a batch may be shorter.
                break;
            }
        }
        Some(Transmit {
            size,
            segment_size: (count > 1).then_some(segment),
            ..first
        })
    }

    /// Whether datagrams may follow `first` in a batch: a full-size data datagram to the peer,
    /// with no handshake space left to pad for and no path being validated.
    fn may_batch(&self, first: &Transmit) -> bool {
        self.phase == Phase::Established
            && first.destination == self.remote
            && first.size == usize::from(self.datagram_size)
            && first.segment_size.is_none()
            && self.spaces[SpaceId::Initial.index()].discarded
            && (self.spaces[SpaceId::Handshake.index()].discarded
                || self.keys[SpaceId::Handshake.index()].is_none())
            && !self.paths.has_pending()
    }

    /// The next datagram of a batch, at most `cap` bytes, appended to `buf`: a short-header
    /// packet exactly as [`poll_datagram`](Self::poll_datagram) would build it in this state
    /// (pacer, window, anti-amplification budget all apply). Returns its size.
    fn poll_batched(&mut self, now: Instant, buf: &mut Vec<u8>, cap: usize) -> Option<usize> {
        if self.phase != Phase::Established || !self.data_space_usable() {
            return None;
        }
        let budget = self.datagram_budget().min(cap);
        if budget < MIN_PACKET_ROOM {
            return None;
        }
        self.datagram_ecn = self.ecn.codepoint();
        self.update_keys_if_due();
        let start = buf.len();
        self.build_packet(now, SpaceId::Data, buf, start, budget, Padding::None)?;
        let size = buf.len() - start;
        self.on_datagram_sent(size);
        Some(size)
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
