//! What the core handed out and the socket has not taken yet.
//!
//! The core appends each datagram, or each GSO batch it built
//! ([`poll_transmit`](weir_core::endpoint::Endpoint::poll_transmit) with the socket's segment
//! count), to a caller-owned buffer; here that buffer *is* the queue's, so a datagram is written
//! once, by the core, and read once, by the kernel. Each entry is one transmit as the core
//! described it and goes out in one send: the queue batches nothing itself.

use std::collections::VecDeque;
use std::net::SocketAddr;

use weir_core::{EcnCodepoint, Transmit};

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

    /// Lets `poll` (the core's `poll_transmit`) append its next datagram or batch to the
    /// queue's buffer, and queues it. Returns whether there was one.
    pub(crate) fn fill(&mut self, poll: impl FnOnce(&mut Vec<u8>) -> Option<Transmit>) -> bool {
        if self.batches.is_empty() {
            self.buf.clear();
            self.datagrams = 0;
        }
        let before = self.buf.len();
        let Some(transmit) = poll(&mut self.buf) else {
            self.buf.truncate(before);
            return false;
        };
        // The transmit is the last `size` bytes of the buffer.
        let end = self.buf.len();
        let len = transmit.size.min(end - before);
        let (segment_size, segments) = match transmit.segment_size {
            Some(seg) if seg > 0 && seg < len => (seg, len.div_ceil(seg)),
            _ => (len, 1),
        };
        self.datagrams += segments;
        self.batches.push_back(Batch {
            destination: transmit.destination,
            ecn: transmit.ecn,
            start: end - len,
            len,
            segment_size,
            segments,
        });
        true
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

    /// Replaces the head batch by its datagrams, one batch each (the platform refused to
    /// segment it).
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

    fn fill(q: &mut TxQueue, to: &str, bytes: &[u8], segment_size: Option<usize>) {
        let destination = to.parse().expect("literal address");
        assert!(q.fill(|buf| {
            buf.extend_from_slice(bytes);
            Some(Transmit {
                destination,
                size: bytes.len(),
                segment_size,
                ecn: None,
            })
        }));
    }

    fn shape(q: &TxQueue) -> Vec<(usize, usize)> {
        q.batches.iter().map(|b| (b.segments, b.len)).collect()
    }

    #[test]
    fn each_transmit_is_one_send() {
        let mut q = TxQueue::default();
        let a = "127.0.0.1:1";
        // Single datagrams of one size are not joined: batching is the core's.
        fill(&mut q, a, &[1; 1200], None);
        fill(&mut q, a, &[2; 1200], None);
        // The core's batch stays whole.
        fill(&mut q, a, &[3; 2500], Some(1200));
        assert_eq!(shape(&q), vec![(1, 1200), (1, 1200), (3, 2500)]);
        assert_eq!(q.datagrams(), 5);
    }

    #[test]
    fn nothing_to_send_leaves_the_queue_as_it_was() {
        let mut q = TxQueue::default();
        fill(&mut q, "127.0.0.1:1", &[1; 10], None);
        assert!(!q.fill(|buf| {
            buf.push(99);
            None
        }));
        assert_eq!(q.buf.len(), 10);
    }

    #[test]
    fn split_and_pop_keep_every_byte_in_order() {
        let mut q = TxQueue::default();
        fill(&mut q, "127.0.0.1:1", &[1, 2, 3, 4, 5, 6, 7], Some(3));
        fill(&mut q, "127.0.0.1:1", &[8], None);
        q.split_front();
        let mut parts = Vec::new();
        while let Some(batch) = q.front() {
            parts.push(batch.contents.to_vec());
            q.pop_front();
        }
        assert_eq!(parts, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7], vec![8]]);
        assert!(q.buf.is_empty());
    }
}
