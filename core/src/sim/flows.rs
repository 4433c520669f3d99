//! Application flows for the simulator: a bulk transfer and a 60 Hz game flow, each a pair of
//! [`App`]s (sender on the client, receiver on the server), so that tests, benchmarks and
//! `weir sim --flow` measure the same thing.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;

use super::endpoint_node::App;
use super::stats::{micros, new_delay_histogram};
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
    /// The connection's statistics, refreshed after every event.
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

/// How a game flow carries its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameTransport {
    /// Unreliable messages, dropped if older than the time to live.
    Datagrams {
        /// Time to live of each message.
        ttl: Duration,
    },
    /// A reliable stream of this priority.
    Stream {
        /// The stream's priority.
        priority: i32,
    },
}

/// Bytes at the start of every game message: sequence number and send time.
const GAME_HEADER: usize = 16;

/// Client side of a game flow: a message of `size` bytes every tick.
#[derive(Debug)]
pub struct GameSender {
    epoch: Instant,
    interval: Duration,
    size: usize,
    transport: GameTransport,
    duration: Duration,
    handle: Option<ConnectionHandle>,
    stream: Option<StreamId>,
    connected_at: Option<Instant>,
    /// Messages handed to the connection.
    pub sent: u64,
    /// Messages refused (too large, or the connection closed).
    pub refused: u64,
}

impl GameSender {
    /// `rate_hz` messages of `size` bytes (at least 16) per second for `duration` after
    /// connecting; send times count from `epoch`, shared with the [`GameReceiver`].
    pub fn new(
        epoch: Instant,
        rate_hz: u32,
        size: usize,
        transport: GameTransport,
        duration: Duration,
    ) -> Self {
        Self {
            epoch,
            interval: Duration::from_secs(1) / rate_hz.max(1),
            size: size.max(GAME_HEADER),
            transport,
            duration,
            handle: None,
            stream: None,
            connected_at: None,
            sent: 0,
            refused: 0,
        }
    }

    fn next_tick(&self) -> Option<Instant> {
        let start = self.connected_at?;
        let at = start + self.interval * u32::try_from(self.sent + self.refused).ok()?;
        (at < start + self.duration).then_some(at)
    }

    fn message(&self, seq: u64, now: Instant) -> Vec<u8> {
        let mut msg = vec![0u8; self.size];
        msg[..8].copy_from_slice(&seq.to_be_bytes());
        let sent =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        msg[8..16].copy_from_slice(&sent.to_be_bytes());
        msg
    }
}

impl App for GameSender {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        self.handle = Some(handle);
        if event == Event::Connected {
            self.connected_at = Some(now);
            if let (GameTransport::Stream { priority }, Some(conn)) =
                (self.transport, ep.connection(handle))
            {
                self.stream = conn.open_uni(priority).ok();
            }
        }
    }

    fn on_tick(&mut self, now: Instant, ep: &mut Endpoint) {
        let Some(handle) = self.handle else {
            return;
        };
        while let Some(at) = self.next_tick().filter(|t| *t <= now) {
            let seq = self.sent + self.refused;
            let msg = self.message(seq, at);
            let ok = match (self.transport, ep.connection(handle)) {
                (GameTransport::Datagrams { ttl }, Some(conn)) => conn
                    .send_datagram(now, 0, Bytes::from(msg), Some(ttl))
                    .is_ok(),
                (GameTransport::Stream { .. }, Some(conn)) => match self.stream {
                    // A stream message must go in whole: check the room first.
                    Some(id) => conn.write(id, &msg).is_ok_and(|n| n == msg.len()),
                    None => false,
                },
                (_, None) => false,
            };
            if ok {
                self.sent += 1;
            } else {
                self.refused += 1;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick()
    }
}

impl GameSender {
    /// The connection this flow runs on, once known.
    pub fn handle(&self) -> Option<ConnectionHandle> {
        self.handle
    }
}

/// Server side of a game flow: one-way delay of every message.
#[derive(Debug)]
pub struct GameReceiver {
    epoch: Instant,
    size: usize,
    partial: Vec<u8>,
    delay_us: Histogram<u64>,
    /// Messages received.
    pub received: u64,
    /// Bytes of messages received.
    pub bytes: u64,
    /// Highest sequence number received.
    pub highest: Option<u64>,
    /// Largest one-way delay (exact).
    pub max_delay: Duration,
    /// Read only this stream (when the connection carries other flows too).
    pub stream: Option<StreamId>,
    /// Only messages sent at or after this time count in the delay statistics (to leave out a
    /// warm-up such as the congestion controller's start).
    pub measure_from: Option<Instant>,
}

impl GameReceiver {
    /// A receiver of messages of `size` bytes sent by a [`GameSender`] with the same `epoch`.
    pub fn new(epoch: Instant, size: usize) -> Self {
        Self {
            epoch,
            size: size.max(GAME_HEADER),
            partial: Vec::new(),
            delay_us: new_delay_histogram(),
            received: 0,
            bytes: 0,
            highest: None,
            max_delay: Duration::ZERO,
            stream: None,
            measure_from: None,
        }
    }

    /// One-way delay at quantile `q`, never above the exact maximum.
    pub fn delay_quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.delay_us.value_at_quantile(q)).min(self.max_delay)
    }

    fn on_message(&mut self, now: Instant, msg: &[u8]) {
        let (Some(seq), Some(sent)) = (msg.get(..8), msg.get(8..16)) else {
            return;
        };
        let seq = u64::from_be_bytes(seq.try_into().unwrap_or_default());
        let sent = Duration::from_nanos(u64::from_be_bytes(sent.try_into().unwrap_or_default()));
        let delay = now.saturating_duration_since(self.epoch + sent);
        if self
            .measure_from
            .is_none_or(|from| self.epoch + sent >= from)
        {
            self.delay_us.saturating_record(micros(delay));
            self.max_delay = self.max_delay.max(delay);
        }
        self.received += 1;
        self.bytes += msg.len() as u64;
        self.highest = self.highest.max(Some(seq));
    }
}

impl App for GameReceiver {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        let Some(conn) = ep.connection(handle) else {
            return;
        };
        match event {
            Event::DatagramReceived => {
                while let Some(d) = conn.recv_datagram(now) {
                    self.on_message(now, &d.data);
                }
            }
            Event::Stream(StreamEvent::Opened { .. } | StreamEvent::Readable { .. }) => {
                while conn.accept_uni().is_some() {}
                let Event::Stream(StreamEvent::Readable { id }) = event else {
                    return;
                };
                if self.stream.is_some_and(|only| only != id) {
                    return;
                }
                while let Ok(Some(chunk)) = conn.read(now, id, usize::MAX) {
                    self.partial.extend_from_slice(&chunk);
                    while self.partial.len() >= self.size {
                        let msg: Vec<u8> = self.partial.drain(..self.size).collect();
                        self.on_message(now, &msg);
                    }
                }
            }
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
