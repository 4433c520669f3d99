//! An echo flow on a lane, for round-trip tests such as KCP's: the client sends a message
//! every interval, the server sends each one back on the same lane, and the client measures
//! every round trip from the send time carried in the message.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;

use super::endpoint_node::App;
use super::stats::{micros, new_delay_histogram};
use crate::connection::Event;
use crate::endpoint::{ConnectionHandle, Endpoint};
use crate::lanes::{LaneConfig, LaneEvent};

/// Bytes at the start of every echo message: its number and its send time.
const HEADER: usize = super::header::LEN;

/// The client of an echo flow: `count` messages of `size` bytes on `lane`, one every
/// `interval` after the handshake, each round trip recorded.
#[derive(Debug)]
pub struct EchoClient {
    epoch: Instant,
    lane: u64,
    config: LaneConfig,
    interval: Duration,
    size: usize,
    count: u64,
    handle: Option<ConnectionHandle>,
    started: Option<Instant>,
    /// Messages sent.
    pub sent: u64,
    /// Echoes received.
    pub echoed: u64,
    rtt_us: Histogram<u64>,
    rtt_sum: Duration,
    /// The longest round trip (exact).
    pub max_rtt: Duration,
    /// Every round trip, by message number.
    rtts: Vec<(u64, Duration)>,
}

impl EchoClient {
    /// `count` messages of `size` bytes (at least 16) on `lane` set up with `config`, one per
    /// `interval`; send times count from `epoch`.
    pub fn new(
        epoch: Instant,
        lane: u64,
        config: LaneConfig,
        interval: Duration,
        size: usize,
        count: u64,
    ) -> Self {
        Self {
            epoch,
            lane,
            config,
            interval,
            size: size.max(HEADER),
            count,
            handle: None,
            started: None,
            sent: 0,
            echoed: 0,
            rtt_us: new_delay_histogram(),
            rtt_sum: Duration::ZERO,
            max_rtt: Duration::ZERO,
            rtts: Vec::new(),
        }
    }

    /// The `n` slowest round trips, slowest first: (message number, round trip).
    pub fn slowest(&self, n: usize) -> Vec<(u64, Duration)> {
        let mut all = self.rtts.clone();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    fn next_send(&self) -> Option<Instant> {
        let start = self.started?;
        (self.sent < self.count)
            .then(|| start + self.interval * u32::try_from(self.sent).unwrap_or(u32::MAX))
    }

    /// Round trip at quantile `q`, never above the exact maximum.
    pub fn rtt_quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.rtt_us.value_at_quantile(q)).min(self.max_rtt)
    }

    /// The mean round trip.
    pub fn rtt_mean(&self) -> Duration {
        self.rtt_sum / u32::try_from(self.echoed.max(1)).unwrap_or(u32::MAX)
    }

    /// Whether every message came back.
    pub fn done(&self) -> bool {
        self.echoed >= self.count
    }
}

impl App for EchoClient {
    fn on_event(
        &mut self,
        now: Instant,
        ep: &mut Endpoint,
        handle: ConnectionHandle,
        event: Event,
    ) {
        match event {
            Event::Connected => {
                self.handle = Some(handle);
                self.started = Some(now);
                if let Some(conn) = ep.connection(handle) {
                    let _ = conn.configure_lane(self.lane, self.config);
                }
            }
            Event::Lane(LaneEvent::Readable { lane }) if lane == self.lane => {
                let Some(conn) = ep.connection(handle) else {
                    return;
                };
                while let Some(m) = conn.recv_message_on(now, self.lane) {
                    let Some((number, sent)) = super::header::read(&m.data) else {
                        continue;
                    };
                    let rtt = now.saturating_duration_since(self.epoch + sent);
                    self.rtt_us.saturating_record(micros(rtt));
                    self.rtt_sum += rtt;
                    self.max_rtt = self.max_rtt.max(rtt);
                    self.rtts.push((number, rtt));
                    self.echoed += 1;
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, now: Instant, ep: &mut Endpoint) {
        let Some(handle) = self.handle else {
            return;
        };
        while let Some(at) = self.next_send().filter(|t| *t <= now) {
            let mut msg = vec![0u8; self.size];
            if let Some(padding) = msg.get_mut(HEADER..) {
                super::game::incompressible_padding(self.sent, padding);
            }
            super::header::write(&mut msg, self.sent, self.epoch, at);
            let Some(conn) = ep.connection(handle) else {
                return;
            };
            if conn
                .send_message(now, self.lane, Bytes::from(msg), None)
                .is_err()
            {
                return;
            }
            self.sent += 1;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_send()
    }
}

/// The server of an echo flow: every message on `lane` goes back on it.
#[derive(Debug)]
pub struct EchoServer {
    lane: u64,
    config: LaneConfig,
    configured: bool,
    /// Messages sent back.
    pub echoed: u64,
}

impl EchoServer {
    /// Echoes `lane`, its sending side set up with `config`.
    pub fn new(lane: u64, config: LaneConfig) -> Self {
        Self {
            lane,
            config,
            configured: false,
            echoed: 0,
        }
    }
}

impl App for EchoServer {
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
        if !self.configured {
            self.configured = conn.configure_lane(self.lane, self.config).is_ok();
        }
        if let Event::Lane(LaneEvent::Readable { lane }) = event
            && lane == self.lane
        {
            while let Some(m) = conn.recv_message_on(now, self.lane) {
                if conn.send_message(now, self.lane, m.data, None).is_ok() {
                    self.echoed += 1;
                }
            }
        }
    }
}
