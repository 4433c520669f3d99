//! quinn's side of the bulk flow: the counterparts of weir's
//! [`BulkSender`](weir_core::sim::flows::BulkSender) and
//! [`BulkReceiver`](weir_core::sim::flows::BulkReceiver), with the same semantics.

use std::time::Instant;

use bytes::Bytes;
use quinn_proto::{
    Connection, ConnectionError, ConnectionHandle, Dir, Event, ReadError, StreamEvent, StreamId,
    VarInt,
};
use weir_core::sim::flows::BulkAmount;

use crate::node::QuinnApp;

/// Size of the chunk the sender hands to quinn at a time (as weir's sender).
const CHUNK: usize = 64 * 1024;

/// Client side of a bulk transfer over quinn: one unidirectional stream kept full.
///
/// Once connected it writes as much as quinn takes (up to its send window), for
/// [`BulkAmount::For`] until that long after connecting, or exactly [`BulkAmount::Bytes`];
/// then it finishes the stream, and closes the connection when the peer has acknowledged all of
/// it.
#[derive(Debug)]
pub struct QuinnBulkSender {
    amount: BulkAmount,
    chunk: Bytes,
    stream: Option<StreamId>,
    written: u64,
    finish_tried: bool,
    /// When the handshake completed.
    pub connected_at: Option<Instant>,
    /// When the peer acknowledged the whole stream.
    pub completed_at: Option<Instant>,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
    /// The connection's statistics, refreshed after every input.
    pub stats: Option<quinn_proto::ConnectionStats>,
}

impl QuinnBulkSender {
    /// A sender of `amount`.
    pub fn new(amount: BulkAmount) -> Self {
        Self {
            amount,
            chunk: Bytes::from(vec![0x42; CHUNK]),
            stream: None,
            written: 0,
            finish_tried: false,
            connected_at: None,
            completed_at: None,
            closed: None,
            stats: None,
        }
    }

    /// Bytes handed to quinn.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn want_more(&self, now: Instant) -> bool {
        match self.amount {
            BulkAmount::Bytes(total) => self.written < total,
            BulkAmount::For(d) => self.connected_at.is_some_and(|t| now < t + d),
        }
    }
}

impl QuinnApp for QuinnBulkSender {
    fn on_event(
        &mut self,
        now: Instant,
        _handle: ConnectionHandle,
        conn: &mut Connection,
        event: Event,
    ) {
        match event {
            Event::Connected => {
                self.connected_at = Some(now);
                self.stream = conn.streams().open(Dir::Uni);
            }
            Event::Stream(StreamEvent::Finished { id }) if Some(id) == self.stream => {
                self.completed_at = Some(now);
                conn.close(now, VarInt::from_u32(0), Bytes::from_static(b"bulk done"));
            }
            Event::ConnectionLost { reason } => self.closed = Some(reason),
            _ => {}
        }
    }

    fn on_tick(&mut self, now: Instant, _handle: ConnectionHandle, conn: &mut Connection) {
        self.stats = Some(conn.stats());
        if let Some(id) = self.stream {
            let mut stream = conn.send_stream(id);
            while self.want_more(now) {
                let left = match self.amount {
                    BulkAmount::Bytes(total) => total - self.written,
                    BulkAmount::For(_) => u64::MAX,
                };
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
                match stream.write_chunks(&mut [self.chunk.slice(..n)]) {
                    Ok(written) if written.bytes > 0 => self.written += written.bytes as u64,
                    // Blocked by the send window (quinn reports `Writable` once there is room,
                    // and this runs again after that input), or the stream is gone.
                    _ => break,
                }
            }
        }
        if !self.finish_tried && self.connected_at.is_some() && !self.want_more(now) {
            // Tried once, stream or not: a stream that cannot be finished (never opened, or the
            // connection is gone) must not keep the deadline of `poll_timeout` alive.
            self.finish_tried = true;
            if let Some(id) = self.stream {
                let _ = conn.send_stream(id).finish();
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // A timed transfer must wake up to finish its stream when the time is up.
        match (self.amount, self.connected_at, self.finish_tried) {
            (BulkAmount::For(d), Some(t), false) => Some(t + d),
            _ => None,
        }
    }
}

/// Server side of a bulk transfer over quinn: accepts unidirectional streams and reads
/// everything.
#[derive(Debug, Default)]
pub struct QuinnBulkReceiver {
    streams: Vec<StreamId>,
    /// Bytes read.
    pub received: u64,
    /// When the first byte was read.
    pub first_byte: Option<Instant>,
    /// When the last byte was read.
    pub last_byte: Option<Instant>,
    /// When the end of a stream was read.
    pub finished_at: Option<Instant>,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
}

impl QuinnBulkReceiver {
    fn read(&mut self, now: Instant, conn: &mut Connection, id: StreamId) {
        let mut stream = conn.recv_stream(id);
        let Ok(mut chunks) = stream.read(true) else {
            return;
        };
        loop {
            match chunks.next(usize::MAX) {
                Ok(Some(chunk)) => {
                    self.received += chunk.bytes.len() as u64;
                    self.first_byte.get_or_insert(now);
                    self.last_byte = Some(now);
                }
                Ok(None) => {
                    self.finished_at = Some(now);
                    self.streams.retain(|s| *s != id);
                    break;
                }
                Err(ReadError::Blocked) => break,
                Err(ReadError::Reset(_)) => {
                    self.streams.retain(|s| *s != id);
                    break;
                }
            }
        }
        // Whether credit must be sent at once does not matter here: the simulator drains
        // `poll_transmit` after every input anyway.
        let _ = chunks.finalize();
    }
}

impl QuinnApp for QuinnBulkReceiver {
    fn on_event(
        &mut self,
        now: Instant,
        _handle: ConnectionHandle,
        conn: &mut Connection,
        event: Event,
    ) {
        match event {
            Event::Stream(StreamEvent::Opened { dir: Dir::Uni }) => {
                while let Some(id) = conn.streams().accept(Dir::Uni) {
                    self.streams.push(id);
                }
                // A stream may arrive with its data: "opened and might be readable".
                for id in self.streams.clone() {
                    self.read(now, conn, id);
                }
            }
            Event::Stream(StreamEvent::Readable { id }) => self.read(now, conn, id),
            Event::ConnectionLost { reason } => self.closed = Some(reason),
            _ => {}
        }
    }
}
