//! quinn's side of the echo flow (KCP's published test): the counterparts of weir's
//! [`EchoClient`](weir_core::sim::echo::EchoClient) and
//! [`EchoServer`](weir_core::sim::echo::EchoServer), on one bidirectional QUIC stream.
//!
//! weir carries the echo on a reliable-ordered lane; quinn's nearest equivalent is one
//! bidirectional stream, ordered and reliable like KCP and TCP. The client writes a message of
//! `size` bytes every `interval` (8 bytes of sequence number, 8 bytes of send time in
//! nanoseconds since the simulation's epoch, padding), the server writes every whole message
//! back on the same stream as soon as it has read it, and the client records each round trip
//! from the send time carried in the echo. quinn-proto has no Nagle-style coalescing of stream
//! writes: a message written between two transmissions leaves in the next packet.

use std::time::{Duration, Instant};

use quinn_proto::{
    Connection, ConnectionError, ConnectionHandle, Dir, Event, StreamEvent, StreamId, WriteError,
};
use weir_core::config::TransportConfig;
use weir_core::sim::{LinkConfig, Simulator, header};

use crate::PeerError;
use crate::config::QuinnConfig;
use crate::node::QuinnApp;
use crate::report::Stack;
use crate::run::{quinn_app, quinn_pair};

/// Bytes at the start of every echo message: its number and its send time (as weir's).
const HEADER: usize = header::LEN;

/// Client side of an echo flow over quinn: `count` messages on one bidirectional stream, one
/// every `interval` from the handshake on, each round trip recorded.
#[derive(Debug)]
pub struct QuinnEchoClient {
    epoch: Instant,
    interval: Duration,
    size: usize,
    count: u64,
    stream: Option<StreamId>,
    /// Bytes of messages not yet taken by quinn (only while its send window is full).
    outgoing: Vec<u8>,
    /// Bytes of an echo not yet read whole.
    incoming: Vec<u8>,
    round_trips: RoundTrips,
    /// When the handshake completed; the first message leaves then.
    pub connected_at: Option<Instant>,
    /// Messages written (to quinn, or to the buffer in front of it).
    pub sent: u64,
    /// Echoes read whole.
    pub echoed: u64,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
}

impl QuinnEchoClient {
    /// `count` messages of `size` bytes (at least 16), one per `interval`; send times count from
    /// `epoch`, the simulation's start.
    pub fn new(epoch: Instant, interval: Duration, size: usize, count: u64) -> Self {
        Self {
            epoch,
            interval,
            size: size.max(HEADER),
            count,
            stream: None,
            outgoing: Vec::new(),
            incoming: Vec::new(),
            round_trips: RoundTrips::default(),
            connected_at: None,
            sent: 0,
            echoed: 0,
            closed: None,
        }
    }

    fn next_send(&self) -> Option<Instant> {
        let start = self.connected_at?;
        (self.sent < self.count)
            .then(|| start + self.interval * u32::try_from(self.sent).unwrap_or(u32::MAX))
    }

    /// Whether every message came back.
    pub fn done(&self) -> bool {
        self.echoed >= self.count
    }

    /// Round trip at quantile `q` (0.0–1.0) of the echoes, exact (nearest rank); zero before the
    /// first echo.
    pub fn rtt_quantile(&self, q: f64) -> Duration {
        self.round_trips.quantile(q)
    }

    /// The mean round trip (zero before the first echo).
    pub fn rtt_mean(&self) -> Duration {
        self.round_trips.mean()
    }

    /// The longest round trip.
    pub fn rtt_max(&self) -> Duration {
        self.round_trips.max
    }

    fn read(&mut self, now: Instant, conn: &mut Connection, id: StreamId) {
        read_stream(conn, id, &mut self.incoming);
        let mut at = 0;
        while self.incoming.len() - at >= self.size {
            let msg = &self.incoming[at..at + self.size];
            at += self.size;
            if let Some((_, sent)) = header::read(msg) {
                self.round_trips
                    .record(now.saturating_duration_since(self.epoch + sent));
            }
            self.echoed += 1;
        }
        self.incoming.drain(..at);
    }
}

impl QuinnApp for QuinnEchoClient {
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
                self.stream = conn.streams().open(Dir::Bi);
            }
            Event::Stream(StreamEvent::Readable { id }) if Some(id) == self.stream => {
                self.read(now, conn, id);
            }
            Event::ConnectionLost { reason } => self.closed = Some(reason),
            _ => {}
        }
    }

    fn on_tick(&mut self, now: Instant, _handle: ConnectionHandle, conn: &mut Connection) {
        while let Some(at) = self.next_send().filter(|t| *t <= now) {
            let start = self.outgoing.len();
            self.outgoing.resize(start + self.size, 0);
            let msg = &mut self.outgoing[start..];
            header::write(msg, self.sent, self.epoch, at);
            self.sent += 1;
        }
        if let Some(id) = self.stream {
            write_out(conn, id, &mut self.outgoing);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // Nothing to wake for once the connection is gone: a message could not leave anyway.
        self.next_send().filter(|_| self.closed.is_none())
    }
}

/// Server side of an echo flow over quinn: accepts bidirectional streams and writes every whole
/// message read on one back on it.
#[derive(Debug)]
pub struct QuinnEchoServer {
    size: usize,
    streams: Vec<EchoStream>,
    /// Messages written back.
    pub echoed: u64,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
}

/// One echoed stream: bytes read and not yet a whole message, bytes to write back.
#[derive(Debug)]
struct EchoStream {
    id: StreamId,
    incoming: Vec<u8>,
    outgoing: Vec<u8>,
}

impl QuinnEchoServer {
    /// Echoes messages of `size` bytes (at least 16, as the client's).
    pub fn new(size: usize) -> Self {
        Self {
            size: size.max(HEADER),
            streams: Vec::new(),
            echoed: 0,
            closed: None,
        }
    }

    fn read(&mut self, conn: &mut Connection, index: usize) {
        let stream = &mut self.streams[index];
        read_stream(conn, stream.id, &mut stream.incoming);
        let whole = stream.incoming.len() / self.size * self.size;
        stream.outgoing.extend(stream.incoming.drain(..whole));
        self.echoed += (whole / self.size) as u64;
        // Written at once, so that the echo leaves in the packet that acknowledges the message.
        write_out(conn, stream.id, &mut stream.outgoing);
    }
}

impl QuinnApp for QuinnEchoServer {
    fn on_event(
        &mut self,
        _now: Instant,
        _handle: ConnectionHandle,
        conn: &mut Connection,
        event: Event,
    ) {
        match event {
            Event::Stream(StreamEvent::Opened { dir: Dir::Bi }) => {
                while let Some(id) = conn.streams().accept(Dir::Bi) {
                    self.streams.push(EchoStream {
                        id,
                        incoming: Vec::new(),
                        outgoing: Vec::new(),
                    });
                }
                // A stream may arrive with its data: "opened and might be readable".
                for index in 0..self.streams.len() {
                    self.read(conn, index);
                }
            }
            Event::Stream(StreamEvent::Readable { id }) => {
                if let Some(index) = self.streams.iter().position(|s| s.id == id) {
                    self.read(conn, index);
                }
            }
            Event::ConnectionLost { reason } => self.closed = Some(reason),
            _ => {}
        }
    }

    fn on_tick(&mut self, _now: Instant, _handle: ConnectionHandle, conn: &mut Connection) {
        for stream in &mut self.streams {
            write_out(conn, stream.id, &mut stream.outgoing);
        }
    }
}

/// Appends everything readable on stream `id` to `into`, in order.
fn read_stream(conn: &mut Connection, id: StreamId, into: &mut Vec<u8>) {
    let mut stream = conn.recv_stream(id);
    let Ok(mut chunks) = stream.read(true) else {
        return;
    };
    // Up to the end, a reset or the data not yet arrived, whichever comes first.
    while let Ok(Some(chunk)) = chunks.next(usize::MAX) {
        into.extend_from_slice(&chunk.bytes);
    }
    // Whether flow-control credit must leave at once does not matter: the simulator drains
    // `poll_transmit` after every input anyway.
    let _ = chunks.finalize();
}

/// Hands as much of `buf` to stream `id` as quinn takes and removes it from `buf`. Whatever
/// quinn cannot take now (send window full) waits for a later call; a stream the peer stopped
/// takes nothing, ever, and its bytes are dropped.
fn write_out(conn: &mut Connection, id: StreamId, buf: &mut Vec<u8>) {
    if buf.is_empty() {
        return;
    }
    match conn.send_stream(id).write(buf) {
        Ok(n) => {
            buf.drain(..n);
        }
        Err(WriteError::Blocked) => {}
        Err(WriteError::Stopped(_) | WriteError::ClosedStream) => buf.clear(),
    }
}

/// Every round trip, for exact quantiles (a run has thousands, not millions).
///
/// weir's [`EchoClient`](weir_core::sim::echo::EchoClient) keeps an hdrhistogram of
/// microseconds with three significant digits for its own quantiles, and every round trip
/// besides ([`slowest`](weir_core::sim::echo::EchoClient::slowest)); [`EchoRun::weir`] feeds
/// those into a `RoundTrips` too, so that both stacks' figures are the same exact statistics.
#[derive(Debug, Default, Clone)]
pub(crate) struct RoundTrips {
    samples: Vec<Duration>,
    sum: Duration,
    pub(crate) max: Duration,
}

impl RoundTrips {
    pub(crate) fn record(&mut self, rtt: Duration) {
        self.samples.push(rtt);
        self.sum += rtt;
        self.max = self.max.max(rtt);
    }

    pub(crate) fn mean(&self) -> Duration {
        match u32::try_from(self.samples.len()) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.sum / n,
            Err(_) => Duration::from_secs_f64(self.sum.as_secs_f64() / self.samples.len() as f64),
        }
    }

    /// Nearest rank, as hdrhistogram ranks: the `⌈q·n⌉`-th smallest sample (at least the
    /// first).
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let n = self.samples.len();
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
        let mut sorted = self.samples.clone();
        let (_, nth, _) = sorted.select_nth_unstable(rank - 1);
        *nth
    }
}

/// What an echo flow measured, in terms that hold for every stack ([`EchoRun::quinn`] and
/// [`EchoRun::weir`] fill the same fields the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct EchoReport {
    /// The stack that carried the flow.
    pub stack: Stack,
    /// Seed of the simulator (the ends' seeds derive from it).
    pub seed: u64,
    /// When the client saw the handshake complete, since the start; `None` if it never did.
    pub connected_at: Option<Duration>,
    /// Messages the client sent.
    pub sent: u64,
    /// Echoes the client read back.
    pub echoed: u64,
    /// Mean round trip, from the message's send time to the echo read whole.
    pub mean: Duration,
    /// Median round trip.
    pub p50: Duration,
    /// 99th-percentile round trip.
    pub p99: Duration,
    /// Longest round trip.
    pub max: Duration,
    /// UDP payload bytes offered to the links, both directions, handshake and acknowledgements
    /// included, from the start to the end of the run.
    pub bytes_on_wire: u64,
    /// Virtual time simulated.
    pub elapsed: Duration,
    /// Why the client's connection closed, if it did.
    pub error: Option<String>,
}

/// An echo flow to run: the links, the seed, the messages and both stacks' settings.
///
/// [`quinn`](Self::quinn) and [`weir`](Self::weir) run it over the same links with the same
/// simulator seed, send on the same schedule (message `n` at `n × interval` after the client's
/// handshake, its send time in the message), stop by the same rule (every echo back or the
/// connection closed, checked every second, or the time limit) and measure it the same way:
/// exact round trips from the send time carried to the echo read whole, and every UDP payload
/// byte offered to either link from the start to the end of the run.
#[derive(Debug, Clone)]
pub struct EchoRun {
    /// The client → server link.
    pub forward: LinkConfig,
    /// The server → client link.
    pub reverse: LinkConfig,
    /// Seed of the simulator; the server's and the client's are `seed + 1` and `seed + 2`.
    pub seed: u64,
    /// Messages the client sends.
    pub count: u64,
    /// Time between two messages.
    pub interval: Duration,
    /// Bytes of every message (at least 16).
    pub size: usize,
    /// The run stops once every message came back, checked every second, or at this much
    /// virtual time.
    pub time_limit: Duration,
    /// Both quinn peers' settings.
    pub quinn: QuinnConfig,
    /// Both weir peers' transport settings (the controller among them); the lane's own
    /// settings are [`EchoRun::weir`]'s argument.
    pub weir: TransportConfig,
}

/// How often an echo run checks whether every message came back (as weir's KCP test does).
const ECHO_CHECK: Duration = Duration::from_secs(1);

impl EchoRun {
    /// `count` messages of `size` bytes every `interval` over the given links, quinn with its
    /// baseline settings ([`QuinnConfig::default`]: CUBIC) and weir with its defaults
    /// ([`TransportConfig::default`]: BBR), allowed the sending time plus 63 s.
    pub fn new(
        forward: LinkConfig,
        reverse: LinkConfig,
        seed: u64,
        count: u64,
        interval: Duration,
        size: usize,
    ) -> Self {
        Self {
            forward,
            reverse,
            seed,
            count,
            interval,
            size,
            time_limit: interval * u32::try_from(count).unwrap_or(u32::MAX)
                + Duration::from_secs(63),
            quinn: QuinnConfig::default(),
            weir: TransportConfig::default(),
        }
    }

    /// Runs the flow between two quinn peers.
    pub fn quinn(&self) -> Result<EchoReport, PeerError> {
        let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
        let client = QuinnEchoClient::new(epoch, self.interval, self.size, self.count);
        let server = QuinnEchoServer::new(self.size);
        let (mut sim, c, s) = quinn_pair(&self.quinn, self.seed, epoch, client, server)?;
        let (f, r) = sim.connect(c, s, self.forward.clone(), self.reverse.clone())?;
        const CLIENT: &str = "echo client node";
        self.run_until_done(&mut sim, |sim| {
            let client = quinn_app::<QuinnEchoClient>(sim, c, CLIENT)?;
            Ok(client.done() || client.closed.is_some())
        })?;
        let client = quinn_app::<QuinnEchoClient>(&sim, c, CLIENT)?;
        Ok(EchoReport {
            stack: Stack::Quinn(self.quinn.controller),
            seed: self.seed,
            connected_at: client
                .connected_at
                .map(|t| t.saturating_duration_since(epoch)),
            sent: client.sent,
            echoed: client.echoed,
            mean: client.rtt_mean(),
            p50: client.rtt_quantile(0.5),
            p99: client.rtt_quantile(0.99),
            max: client.rtt_max(),
            bytes_on_wire: offered_bytes(&sim, [f, r])?,
            elapsed: sim.elapsed(),
            error: client.closed.as_ref().map(ToString::to_string),
        })
    }

    /// Runs `sim` until `done` says every message came back or the connection closed, looking
    /// every [`ECHO_CHECK`], or until [`time_limit`](Self::time_limit): the same schedule for
    /// every stack, so that the bytes on the wire count over the same span.
    pub(crate) fn run_until_done(
        &self,
        sim: &mut Simulator,
        done: impl Fn(&Simulator) -> Result<bool, PeerError>,
    ) -> Result<(), PeerError> {
        while sim.elapsed() < self.time_limit {
            sim.run_for(ECHO_CHECK.min(self.time_limit - sim.elapsed()))?;
            if done(sim)? {
                break;
            }
        }
        Ok(())
    }
}

/// UDP payload bytes offered to `links` since the start.
pub(crate) fn offered_bytes(
    sim: &Simulator,
    links: [weir_core::sim::LinkId; 2],
) -> Result<u64, PeerError> {
    links.iter().try_fold(0, |sum, link| {
        let stats = sim
            .link_stats(*link)
            .ok_or(PeerError::Harness("installed link"))?;
        Ok(sum + stats.offered.bytes)
    })
}

/// KCP's echo test carried by quinn-proto (baseline settings: CUBIC, 1200-byte datagrams, flow
/// control out of the way): `count` messages of `size` bytes, one every `interval`, on one
/// bidirectional stream from client to server and back, over `forward` (client → server) and
/// `reverse`.
pub fn quinn_echo(
    forward: LinkConfig,
    reverse: LinkConfig,
    seed: u64,
    count: u64,
    interval: Duration,
    size: usize,
) -> Result<EchoReport, PeerError> {
    EchoRun::new(forward, reverse, seed, count, interval, size).quinn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_rank_as_hdrhistogram_does() {
        let mut r = RoundTrips::default();
        assert_eq!(r.quantile(0.5), Duration::ZERO);
        assert_eq!(r.mean(), Duration::ZERO);
        for ms in [40, 10, 30, 20] {
            r.record(Duration::from_millis(ms));
        }
        let ms = Duration::from_millis;
        // ⌈q·4⌉-th smallest: 0 → 1st, 0.5 → 2nd, 0.51 → 3rd, 0.99 and 1 → 4th.
        assert_eq!(r.quantile(0.0), ms(10));
        assert_eq!(r.quantile(0.5), ms(20));
        assert_eq!(r.quantile(0.51), ms(30));
        assert_eq!(r.quantile(0.99), ms(40));
        assert_eq!(r.quantile(1.0), ms(40));
        assert_eq!(r.mean(), ms(25));
        assert_eq!(r.max, ms(40));
    }
}
