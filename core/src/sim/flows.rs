//! Application flows for the simulator: a bulk transfer and a 60 Hz game flow, each a pair of
//! [`App`]s (sender on the client, receiver on the server), so that tests, benchmarks and
//! `weir sim --flow` measure the same thing. The game flow lives in [`super::game`] and is
//! re-exported here.

use std::time::{Duration, Instant};

use bytes::Bytes;

pub use super::game::{GameReceiver, GameSender, GameTransport};

use super::endpoint_node::App;
use crate::connection::{ConnectionError, ConnectionStats, Event};
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::streams::{ReadError, StreamEvent, StreamId};
use crate::wire::VarInt;

/// How much a bulk sender sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAmount {
    /// Exactly this many bytes, then finish the stream and close.
    Bytes(u64),
    /// As much as the connection takes until this long after connecting, then finish.
    For(Duration),
}

/// Client side of a bulk transfer: one stream kept full.
#[derive(Debug)]
pub struct BulkSender {
    amount: BulkAmount,
    priority: i32,
    chunk: Bytes,
    handle: Option<ConnectionHandle>,
    stream: Option<StreamId>,
    written: u64,
    finished: bool,
    close_when_done: bool,
    /// When the handshake completed.
    pub connected_at: Option<Instant>,
    /// When the peer acknowledged the whole stream.
    pub completed_at: Option<Instant>,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
    /// The connection's statistics, refreshed after every event and every tick.
    pub stats: Option<ConnectionStats>,
    sample_every: Option<Duration>,
    next_sample: Option<Instant>,
    /// Time series of the connection's state (see [`BulkSender::sample_every`]).
    pub samples: Vec<Sample>,
    epoch: Option<Instant>,
}

/// The sender's connection state at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Virtual time since the simulation's epoch.
    pub at: Duration,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Pacing rate, bytes per second.
    pub pacing_rate: u64,
    /// Smoothed RTT.
    pub srtt: Duration,
    /// Latest RTT sample.
    pub latest_rtt: Duration,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
}

impl BulkSender {
    /// A sender of `amount` on a stream of `priority`; it closes the connection once the peer
    /// has acknowledged everything if `close_when_done`.
    pub fn new(amount: BulkAmount, priority: i32, close_when_done: bool) -> Self {
        Self {
            amount,
            priority,
            chunk: Bytes::from(vec![0x42; 64 * 1024]),
            handle: None,
            stream: None,
            written: 0,
            finished: false,
            close_when_done,
            connected_at: None,
            completed_at: None,
            closed: None,
            stats: None,
            sample_every: None,
            next_sample: None,
            samples: Vec::new(),
            epoch: None,
        }
    }

    /// Records a [`Sample`] of the connection every `interval` of virtual time (counted from
    /// `epoch`), for plots.
    pub fn sample_every(mut self, epoch: Instant, interval: Duration) -> Self {
        self.sample_every = Some(interval.max(Duration::from_micros(100)));
        self.epoch = Some(epoch);
        self
    }

    /// Bytes handed to the connection.
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

impl App for BulkSender {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        self.handle = Some(handle);
        match event {
            Event::Connected => {
                self.connected_at = Some(now);
                if let Some(conn) = ep.connection(handle) {
                    self.stream = conn.open_uni(self.priority).ok();
                }
            }
            Event::Stream(StreamEvent::Finished { id }) if Some(id) == self.stream => {
                self.completed_at = Some(now);
                if self.close_when_done
                    && let Some(conn) = ep.connection(handle)
                {
                    conn.close(now, VarInt::from_u32(0), b"bulk done");
                }
            }
            Event::Closed(error) => self.closed = Some(error),
            _ => {}
        }
        if let Some(conn) = ep.connection(handle) {
            self.stats = Some(conn.stats());
        }
    }

    fn on_tick(&mut self, now: Instant, ep: &mut Endpoint) {
        let (Some(handle), Some(stream)) = (self.handle, self.stream) else {
            return;
        };
        let Some(conn) = ep.connection(handle) else {
            return;
        };
        // Kept current, not only at the last event: a sender that writes into a full buffer
        // hears of nothing for long stretches while its counters move.
        self.stats = Some(conn.stats());
        if let (Some(interval), Some(epoch)) = (self.sample_every, self.epoch) {
            let due = *self.next_sample.get_or_insert(now);
            if now >= due {
                let stats = conn.stats();
                self.samples.push(Sample {
                    at: now.saturating_duration_since(epoch),
                    cwnd: stats.cwnd,
                    pacing_rate: stats.pacing_rate,
                    srtt: stats.srtt,
                    latest_rtt: stats.latest_rtt,
                    bytes_in_flight: stats.bytes_in_flight,
                });
                self.next_sample = Some(
                    due + interval
                        * (1 + ((now - due).as_nanos() / interval.as_nanos().max(1)) as u32),
                );
            }
        }
        while self.want_more(now) {
            let left = match self.amount {
                BulkAmount::Bytes(total) => total - self.written,
                BulkAmount::For(_) => u64::MAX,
            };
            let n = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.chunk.len());
            match conn.write_chunk(stream, self.chunk.slice(..n)) {
                Ok(k) if k > 0 => self.written += k as u64,
                _ => break,
            }
        }
        if !self.finished && !self.want_more(now) && self.connected_at.is_some() {
            self.finished = conn.finish(stream).is_ok();
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // A timed transfer must wake up to finish its stream when the time is up.
        let finish = match (self.amount, self.connected_at, self.finished) {
            (BulkAmount::For(d), Some(t), false) => Some(t + d),
            _ => None,
        };
        let sample = self
            .next_sample
            .filter(|_| self.closed.is_none() && self.completed_at.is_none());
        match (finish, sample) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Server side of a bulk transfer: reads everything.
#[derive(Debug, Default)]
pub struct BulkReceiver {
    /// Bytes read.
    pub received: u64,
    /// When the first byte was read.
    pub first_byte: Option<Instant>,
    /// When the last byte was read.
    pub last_byte: Option<Instant>,
    /// When the end of the stream was read.
    pub finished_at: Option<Instant>,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
    /// Bytes read so far, recorded at most every [`HISTORY_INTERVAL`]: for throughput over a
    /// time window (fairness between flows).
    pub history: Vec<(Instant, u64)>,
    /// Read only this stream (when the connection carries other flows too).
    pub stream: Option<StreamId>,
}

/// How often a [`BulkReceiver`] records its progress.
pub const HISTORY_INTERVAL: Duration = Duration::from_millis(100);

impl BulkReceiver {
    /// Bytes read by `at` (from the recorded history, so to within [`HISTORY_INTERVAL`]).
    pub fn received_by(&self, at: Instant) -> u64 {
        self.history
            .iter()
            .take_while(|(t, _)| *t <= at)
            .last()
            .map_or(0, |(_, bytes)| *bytes)
    }

    fn record(&mut self, now: Instant) {
        if self
            .history
            .last()
            .is_none_or(|(t, _)| now >= *t + HISTORY_INTERVAL)
        {
            self.history.push((now, self.received));
        } else if let Some(last) = self.history.last_mut() {
            last.1 = self.received;
        }
    }
}

impl App for BulkReceiver {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        match event {
            Event::Stream(StreamEvent::Opened { .. } | StreamEvent::Readable { .. }) => {
                let Some(conn) = ep.connection(handle) else {
                    return;
                };
                while conn.accept_uni().is_some() {}
                if let Event::Stream(StreamEvent::Readable { id }) = event
                    && self.stream.is_none_or(|only| only == id)
                {
                    loop {
                        match conn.read(now, id, usize::MAX) {
                            Ok(Some(chunk)) => {
                                self.received += chunk.len() as u64;
                                self.first_byte.get_or_insert(now);
                                self.last_byte = Some(now);
                                self.record(now);
                            }
                            Ok(None) => {
                                self.finished_at = Some(now);
                                break;
                            }
                            Err(ReadError::Blocked) | Err(_) => break,
                        }
                    }
                }
            }
            Event::Closed(error) => self.closed = Some(error),
            _ => {}
        }
    }
}

/// Two applications on one endpoint: every event goes to both (each ignores what is not its
/// own — use the receivers' `stream` filters), every tick to both.
#[derive(Debug)]
pub struct Both<A, B>(pub A, pub B);

impl<A: App, B: App> App for Both<A, B> {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        self.0.on_event(now, ep, handle, event.clone());
        self.1.on_event(now, ep, handle, event);
    }

    fn on_tick(&mut self, now: Instant, ep: &mut Endpoint) {
        self.0.on_tick(now, ep);
        self.1.on_tick(now, ep);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.0.poll_timeout(), self.1.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
