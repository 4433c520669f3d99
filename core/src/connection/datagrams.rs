//! Unreliable messages: MESSAGE frames with a channel, a sequence number and a deadline hint.
//!
//! Messages are never retransmitted. Both queues are bounded in bytes; when the outgoing queue
//! is full the *oldest* message is dropped (for a game, the newest state matters most), and a
//! message whose deadline passed before it could be sent is dropped too.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::wire::VarInt;
use crate::wire::frame::{MessageFrame, MessageHeader};

/// Most distinct channels a connection numbers messages on (each keeps a sequence counter).
pub const MAX_CHANNELS: usize = 1024;

/// What a received message costs against the receive limit beyond its bytes: its place in
/// the queue. Without it empty MESSAGE frames would cost nothing and queue without bound.
const INCOMING_OVERHEAD: usize = 64;

/// An unreliable message received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The channel the sender put it on.
    pub channel: u64,
    /// Its number within the channel (the sender counts from 0 per channel), so a receiver can
    /// tell stale updates and gaps.
    pub sequence: u64,
    /// The message.
    pub data: Bytes,
    /// When it goes stale, from the sender's time-to-live hint minus half a round trip;
    /// `None` if the sender gave no deadline. Stale messages are dropped, not delivered.
    pub deadline: Option<Instant>,
}

/// A message the connection could not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendDatagramError {
    /// The peer does not accept messages (it announced no `max_datagram_frame_size`).
    #[error("the peer does not accept unreliable messages")]
    UnsupportedByPeer,
    /// The handshake has not told yet whether the peer accepts messages.
    #[error("the handshake is not complete")]
    NotConnected,
    /// The message is larger than one packet can carry.
    #[error("message of {size} bytes exceeds the current maximum of {max} bytes")]
    TooLarge {
        /// The message's size.
        size: usize,
        /// The largest message that fits now.
        max: usize,
    },
    /// The channel number is not a valid varint, or too many channels are in use.
    #[error("channel {0} is invalid or over the limit of {MAX_CHANNELS} channels")]
    Channel(u64),
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

#[derive(Debug)]
struct Outgoing {
    channel: VarInt,
    sequence: VarInt,
    deadline: Option<Instant>,
    data: Bytes,
}

/// Counters of the message queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatagramStats {
    /// Messages sent.
    pub sent: u64,
    /// Messages received and queued for the application.
    pub received: u64,
    /// Messages dropped because the outgoing queue was full.
    pub dropped_outgoing: u64,
    /// Messages dropped because the incoming queue was full.
    pub dropped_incoming: u64,
    /// Messages dropped because their deadline passed.
    pub expired: u64,
    /// Queued messages dropped because the strategy made the datagrams smaller than they
    /// need (see [`Connection::max_datagram_size`](super::Connection::max_datagram_size),
    /// which follows the strategy).
    pub dropped_resized: u64,
}

#[derive(Debug)]
pub(crate) struct Datagrams {
    outgoing: VecDeque<Outgoing>,
    outgoing_bytes: usize,
    send_limit: usize,
    incoming: VecDeque<Datagram>,
    /// What `incoming` costs: its messages' bytes plus [`INCOMING_OVERHEAD`] each.
    incoming_bytes: usize,
    receive_limit: usize,
    sequences: HashMap<u64, u64>,
    stats: DatagramStats,
}

fn ttl_ms(deadline: Instant, now: Instant) -> VarInt {
    let left = deadline.saturating_duration_since(now);
    let ms = u64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    VarInt::saturating_from_u64(ms.max(1))
}

impl Datagrams {
    pub(crate) fn new(send_limit: usize, receive_limit: usize) -> Self {
        Self {
            outgoing: VecDeque::new(),
            outgoing_bytes: 0,
            send_limit,
            incoming: VecDeque::new(),
            incoming_bytes: 0,
            receive_limit,
            sequences: HashMap::new(),
            stats: DatagramStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> DatagramStats {
        self.stats
    }

    /// Queues a message that was already checked against the size limit.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        channel: u64,
        data: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), SendDatagramError> {
        let channel_id =
            VarInt::from_u64(channel).map_err(|_| SendDatagramError::Channel(channel))?;
        if !self.sequences.contains_key(&channel) && self.sequences.len() >= MAX_CHANNELS {
            return Err(SendDatagramError::Channel(channel));
        }
        let next = self.sequences.entry(channel).or_insert(0);
        let sequence = VarInt::saturating_from_u64(*next);
        *next += 1;
        self.outgoing_bytes += data.len();
        self.outgoing.push_back(Outgoing {
            channel: channel_id,
            sequence,
            deadline: ttl.and_then(|t| now.checked_add(t)),
            data,
        });
        while self.outgoing_bytes > self.send_limit {
            let Some(old) = self.outgoing.pop_front() else {
                break;
            };
            self.outgoing_bytes -= old.data.len();
            self.stats.dropped_outgoing += 1;
        }
        Ok(())
    }

    /// Whether a message waits to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Writes as many queued messages as fit in `max_len` bytes; returns how many.
    pub(crate) fn write_frames(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        mut max_len: usize,
    ) -> usize {
        let mut written = 0;
        while let Some(front) = self.outgoing.front() {
            if front.deadline.is_some_and(|d| d <= now) {
                self.drop_front_expired();
                continue;
            }
            let header = MessageHeader {
                channel: front.channel,
                sequence: front.sequence,
                deadline_ms: front.deadline.map(|d| ttl_ms(d, now)),
                len: front.data.len(),
                explicit_len: true,
            };
            let size = header.encoded_len() + front.data.len();
            if size > max_len {
                break;
            }
            header.encode(buf);
            buf.extend_from_slice(&front.data);
            max_len -= size;
            self.outgoing_bytes -= front.data.len();
            self.outgoing.pop_front();
            self.stats.sent += 1;
            written += 1;
        }
        written
    }

    /// Drops the queued messages longer than `max` bytes (the datagrams became smaller);
    /// returns how many.
    pub(crate) fn drop_longer_than(&mut self, max: usize) -> u64 {
        let before = self.outgoing.len();
        let mut freed = 0;
        self.outgoing.retain(|m| {
            let keep = m.data.len() <= max;
            if !keep {
                freed += m.data.len();
            }
            keep
        });
        self.outgoing_bytes -= freed;
        let dropped = (before - self.outgoing.len()) as u64;
        self.stats.dropped_resized += dropped;
        dropped
    }

    fn drop_front_expired(&mut self) {
        if let Some(old) = self.outgoing.pop_front() {
            self.outgoing_bytes -= old.data.len();
            self.stats.expired += 1;
        }
    }

    /// A MESSAGE frame arrived; returns whether the incoming queue was empty before (the
    /// application is told once per batch).
    pub(crate) fn on_frame(
        &mut self,
        now: Instant,
        frame: MessageFrame,
        one_way: Duration,
    ) -> bool {
        let was_empty = self.incoming.is_empty();
        let deadline = frame
            .deadline_ms
            .map(|ms| now + Duration::from_millis(ms.into_inner()).saturating_sub(one_way));
        let cost = frame.data.len().saturating_add(INCOMING_OVERHEAD);
        if cost > self.receive_limit {
            self.stats.dropped_incoming += 1;
            return false;
        }
        self.incoming_bytes += cost;
        self.incoming.push_back(Datagram {
            channel: frame.channel.into_inner(),
            sequence: frame.sequence.into_inner(),
            // Copy small messages so they do not keep a whole datagram alive in the queue.
            data: if frame.data.len() < 256 {
                Bytes::copy_from_slice(&frame.data)
            } else {
                frame.data
            },
            deadline,
        });
        self.stats.received += 1;
        while self.incoming_bytes > self.receive_limit {
            let Some(old) = self.incoming.pop_front() else {
                break;
            };
            self.incoming_bytes -= old.data.len() + INCOMING_OVERHEAD;
            self.stats.dropped_incoming += 1;
        }
        was_empty
    }

    /// The next message that is still fresh.
    pub(crate) fn recv(&mut self, now: Instant) -> Option<Datagram> {
        while let Some(msg) = self.incoming.pop_front() {
            self.incoming_bytes -= msg.data.len() + INCOMING_OVERHEAD;
            if msg.deadline.is_some_and(|d| d <= now) {
                self.stats.expired += 1;
                continue;
            }
            return Some(msg);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Frame;

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn t0() -> Instant {
        Instant::now()
    }

    fn frames(buf: Vec<u8>) -> Vec<MessageFrame> {
        crate::wire::frame::Iter::new(Bytes::from(buf))
            .map(|f| match f.expect("valid") {
                Frame::Message(m) => m,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn sequences_count_per_channel_and_oldest_is_dropped() {
        let now = t0();
        let mut d = Datagrams::new(250, 10_000);
        for i in 0..3u8 {
            d.send(now, 7, Bytes::from(vec![i; 100]), None)
                .expect("queued");
        }
        d.send(now, 8, Bytes::from_static(b"x"), None)
            .expect("queued");
        // 301 bytes > 250: the first message of channel 7 was dropped.
        assert_eq!(d.stats().dropped_outgoing, 1);
        let mut buf = Vec::new();
        assert_eq!(d.write_frames(now, &mut buf, 10_000), 3);
        let got = frames(buf);
        let ids: Vec<(u64, u64)> = got
            .iter()
            .map(|m| (m.channel.into_inner(), m.sequence.into_inner()))
            .collect();
        assert_eq!(ids, vec![(7, 1), (7, 2), (8, 0)]);
    }

    #[test]
    fn expired_messages_are_not_sent_and_ttl_shrinks() {
        let now = t0();
        let mut d = Datagrams::new(10_000, 10_000);
        d.send(
            now,
            0,
            Bytes::from_static(b"old"),
            Some(Duration::from_millis(10)),
        )
        .expect("ok");
        d.send(
            now,
            0,
            Bytes::from_static(b"new"),
            Some(Duration::from_millis(100)),
        )
        .expect("ok");
        let later = now + Duration::from_millis(40);
        let mut buf = Vec::new();
        assert_eq!(d.write_frames(later, &mut buf, 10_000), 1);
        let got = frames(buf);
        assert_eq!(got[0].data, Bytes::from_static(b"new"));
        assert_eq!(got[0].deadline_ms, Some(VarInt::from_u32(60)));
        assert_eq!(d.stats().expired, 1);
    }

    #[test]
    fn messages_that_do_not_fit_wait_for_the_next_packet() {
        let now = t0();
        let mut d = Datagrams::new(10_000, 10_000);
        d.send(now, 0, Bytes::from(vec![1; 50]), None).expect("ok");
        let mut buf = Vec::new();
        assert_eq!(d.write_frames(now, &mut buf, 30), 0);
        assert!(buf.is_empty() && d.has_pending());
        assert_eq!(d.write_frames(now, &mut buf, 60), 1);
    }

    #[test]
    fn receive_queue_is_bounded_and_stale_messages_are_skipped() {
        let now = t0();
        // Room for two 40-byte messages and their overhead, not three.
        let mut d = Datagrams::new(10_000, 2 * (40 + INCOMING_OVERHEAD) + 20);
        let msg = |seq: u32, ttl: Option<u32>| MessageFrame {
            channel: VarInt::from_u32(1),
            sequence: VarInt::from_u32(seq),
            deadline_ms: ttl.map(VarInt::from_u32),
            data: Bytes::from(vec![0; 40]),
        };
        assert!(d.on_frame(now, msg(0, Some(5)), Duration::ZERO));
        assert!(!d.on_frame(now, msg(1, None), Duration::ZERO));
        d.on_frame(now, msg(2, None), Duration::ZERO); // three do not fit: drops seq 0
        assert_eq!(d.stats().dropped_incoming, 1);
        assert_eq!(d.recv(now).map(|m| m.sequence), Some(1));
        d.on_frame(now, msg(3, Some(5)), Duration::from_millis(2));
        assert_eq!(d.recv(now).map(|m| m.sequence), Some(2));
        // seq 3 had 5 ms to live minus 2 ms of one-way delay: stale 10 ms later.
        assert_eq!(d.recv(now + Duration::from_millis(10)), None);
        assert_eq!(d.stats().expired, 1);
    }

    #[test]
    fn channels_are_bounded() {
        let now = t0();
        let mut d = Datagrams::new(1 << 20, 1 << 20);
        for c in 0..MAX_CHANNELS as u64 {
            d.send(now, c, Bytes::new(), None).expect("within limit");
        }
        assert_eq!(
            d.send(now, 5000, Bytes::new(), None),
            Err(SendDatagramError::Channel(5000))
        );
        assert_eq!(
            d.send(now, 1 << 62, Bytes::new(), None),
            Err(SendDatagramError::Channel(1 << 62))
        );
    }

    /// Empty MESSAGE frames cost nothing against the receive limit: a peer could queue any
    /// number of them. Each costs its overhead now, so the queue holds at most
    /// `limit / INCOMING_OVERHEAD`, the newest.
    #[test]
    fn empty_messages_count_against_the_receive_limit() {
        let now = t0();
        let limit = 10_000;
        let mut d = Datagrams::new(10_000, limit);
        for i in 0..1_000_000u64 {
            d.on_frame(
                now,
                MessageFrame {
                    channel: VarInt::from_u32(0),
                    sequence: VarInt::saturating_from_u64(i),
                    deadline_ms: None,
                    data: Bytes::new(),
                },
                Duration::ZERO,
            );
            assert!(d.incoming_bytes <= limit);
        }
        assert!(
            d.incoming.len() <= limit / INCOMING_OVERHEAD,
            "{} queued",
            d.incoming.len()
        );
        let kept = d.incoming.len() as u64;
        assert_eq!(d.stats().dropped_incoming, 1_000_000 - kept);
        assert_eq!(d.recv(now).map(|m| m.sequence), Some(1_000_000 - kept));
        while d.recv(now).is_some() {}
        assert_eq!(d.incoming_bytes, 0);
    }
}
