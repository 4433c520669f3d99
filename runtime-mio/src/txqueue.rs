//! Datagrams waiting for the socket, batched for segmentation offload (GSO).
//!
//! The core appends each datagram to a caller-owned buffer
//! ([`poll_transmit`](weir_core::endpoint::Endpoint::poll_transmit)); here that buffer *is* the
//! queue's, so a datagram is written once, by the core, and read once, by the kernel.
//! Consecutive datagrams to one destination with one ECN marking and one size share a batch
//! that goes out in one send (the last datagram of a batch may be shorter).

use std::collections::VecDeque;
use std::net::SocketAddr;

use weir_core::{EcnCodepoint, Transmit};

/// Largest GSO send: the payload must fit one (IPv4) UDP datagram.
const MAX_GSO_BYTES: usize = 65_000;

#[derive(Debug, Default)]
pub(crate) struct TxQueue {
    buf: Vec<u8>,
    batches: VecDeque<Batch>,
    datagrams: usize,
}

#[derive(Debug, Clone, Copy)]
struct Batch {
    destination: SocketAddr,
    ecn: Option<EcnCodepoint>,
    start: usize,
    len: usize,
    segment_size: usize,
    segments: usize,
    /// Whether another datagram may join (the last one was full size).
    open: bool,
}

/// The batch at the head of the queue, as the socket sends it.
pub(crate) struct BatchRef<'a> {
    pub(crate) destination: SocketAddr,
    pub(crate) ecn: Option<EcnCodepoint>,
    pub(crate) contents: &'a [u8],
    pub(crate) segment_size: usize,
    pub(crate) segments: usize,
}

impl TxQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Datagrams queued since the queue was last empty.
    pub(crate) fn datagrams(&self) -> usize {
        self.datagrams
    }

    /// Lets `poll` (the core's `poll_transmit`) append one datagram to the queue's buffer and
    /// queues it, joining the last batch where it can (at most `max_segments` datagrams per
    /// batch). Returns whether there was a datagram.
    pub(crate) fn fill(
        &mut self,
        max_segments: usize,
        poll: impl FnOnce(&mut Vec<u8>) -> Option<Transmit>,
    ) -> bool {
        if self.batches.is_empty() {
            self.buf.clear();
            self.datagrams = 0;
        }
        let before = self.buf.len();
        let Some(transmit) = poll(&mut self.buf) else {
            self.buf.truncate(before);
            return false;
        };
        // The datagram is the last `size` bytes of the buffer.
        let end = self.buf.len();
        let start = end - transmit.size.min(end - before);
        self.push(&transmit, start, end - start, max_segments);
        true
    }

    fn push(&mut self, transmit: &Transmit, start: usize, len: usize, max_segments: usize) {
        // The core may hand over a batch of its own: keep it as one.
        let (segment_size, segments) = match transmit.segment_size {
            Some(seg) if seg > 0 && seg < len => (seg, len.div_ceil(seg)),
            _ => (len, 1),
        };
        self.datagrams += segments;
        if segments == 1
            && let Some(last) = self.batches.back_mut()
            && last.open
            && last.destination == transmit.destination
            && last.ecn == transmit.ecn
            && len <= last.segment_size
            // A shorter datagram ends only a batch of equal ones: after a lone datagram of
            // another size (a path MTU probe, larger than the data) it starts its own, so that
            // a router or the kernel refusing the probe (EMSGSIZE) never takes data with it.
            && (len == last.segment_size || last.segments > 1)
            && last.segments < max_segments
            && last.len + len <= MAX_GSO_BYTES
            && last.start + last.len == start
        {
            last.len += len;
            last.segments += 1;
            last.open = len == last.segment_size;
            return;
        }
        self.batches.push_back(Batch {
            destination: transmit.destination,
            ecn: transmit.ecn,
            start,
            len,
            segment_size,
            segments,
            open: segments == 1 && max_segments > 1,
        });
    }

    /// The batch to send next.
    pub(crate) fn front(&self) -> Option<BatchRef<'_>> {
        let batch = self.batches.front()?;
        Some(BatchRef {
            destination: batch.destination,
            ecn: batch.ecn,
            contents: self.buf.get(batch.start..batch.start + batch.len)?,
            segment_size: batch.segment_size,
            segments: batch.segments,
        })
    }

    /// The head batch left (sent, or dropped on an error).
    pub(crate) fn pop_front(&mut self) {
        self.batches.pop_front();
        if self.batches.is_empty() {
            self.buf.clear();
            self.datagrams = 0;
        }
    }

    /// Replaces the head batch by its datagrams, one batch each.
    pub(crate) fn split_front(&mut self) {
        let Some(batch) = self.batches.pop_front() else {
            return;
        };
        let end = batch.start + batch.len;
        let singles: Vec<Batch> = (batch.start..end)
            .step_by(batch.segment_size.max(1))
            .map(|start| Batch {
                start,
                len: batch.segment_size.min(end - start),
                segments: 1,
                open: false,
                ..batch
            })
            .collect();
        for single in singles.into_iter().rev() {
            self.batches.push_front(single);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(q: &mut TxQueue, to: &str, bytes: &[u8], max_segments: usize) {
        let destination = to.parse().expect("literal address");
        assert!(q.fill(max_segments, |buf| {
            buf.extend_from_slice(bytes);
            Some(Transmit {
                destination,
                size: bytes.len(),
                segment_size: None,
                ecn: None,
            })
        }));
    }

    fn shape(q: &TxQueue) -> Vec<(usize, usize)> {
        q.batches.iter().map(|b| (b.segments, b.len)).collect()
    }

    #[test]
    fn same_size_same_destination_batches() {
        let mut q = TxQueue::default();
        let a = "127.0.0.1:1";
        for _ in 0..3 {
            fill(&mut q, a, &[1; 1200], 64);
        }
        // A shorter one closes the batch; the next starts a new one.
        fill(&mut q, a, &[2; 500], 64);
        fill(&mut q, a, &[3; 1200], 64);
        // Another destination never joins.
        fill(&mut q, "127.0.0.1:2", &[4; 1200], 64);
        assert_eq!(shape(&q), vec![(4, 4100), (1, 1200), (1, 1200)]);
        assert_eq!(q.datagrams(), 6);
    }

    #[test]
    fn a_lone_datagram_of_another_size_leaves_alone() {
        let mut q = TxQueue::default();
        let a = "127.0.0.1:1";
        fill(&mut q, a, &[1; 1452], 64);
        fill(&mut q, a, &[2; 1200], 64);
        fill(&mut q, a, &[3; 1200], 64);
        assert_eq!(shape(&q), vec![(1, 1452), (2, 2400)]);
    }

    #[test]
    fn batches_respect_segment_and_byte_limits() {
        let mut q = TxQueue::default();
        for _ in 0..5 {
            fill(&mut q, "127.0.0.1:1", &[0; 1200], 2);
        }
        assert_eq!(shape(&q), vec![(2, 2400), (2, 2400), (1, 1200)]);
        let mut q = TxQueue::default();
        for _ in 0..60 {
            fill(&mut q, "127.0.0.1:1", &[0; 1452], 64);
        }
        assert!(q.batches.iter().all(|b| b.len <= MAX_GSO_BYTES));
        assert!(q.batches.len() >= 2);
    }

    #[test]
    fn nothing_to_send_leaves_the_queue_as_it_was() {
        let mut q = TxQueue::default();
        fill(&mut q, "127.0.0.1:1", &[1; 10], 8);
        assert!(!q.fill(8, |buf| {
            buf.push(99);
            None
        }));
        assert_eq!(q.buf.len(), 10);
    }

    #[test]
    fn split_and_pop_keep_every_byte_in_order() {
        let mut q = TxQueue::default();
        fill(&mut q, "127.0.0.1:1", &[1, 2, 3], 8);
        fill(&mut q, "127.0.0.1:1", &[4, 5, 6], 8);
        fill(&mut q, "127.0.0.1:1", &[7], 8);
        q.split_front();
        let mut parts = Vec::new();
        while let Some(batch) = q.front() {
            parts.push(batch.contents.to_vec());
            q.pop_front();
        }
        assert_eq!(parts, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
        assert!(q.is_empty() && q.buf.is_empty());
    }
}
