//! quinn's side of the game flow: the counterparts of weir's
//! [`GameSender`](weir_core::sim::flows::GameSender) and
//! [`GameReceiver`](weir_core::sim::flows::GameReceiver), measured by weir's
//! [`Freshness`].
//!
//! The sender writes a message of `size` bytes every tick (`rate_hz`) for `duration` after its
//! handshake, in weir's format: 8 bytes of sequence number, 8 bytes of send time in nanoseconds
//! since the simulation's epoch, padding. quinn offers a game two ways to carry it
//! ([`QuinnGameTransport`]): a new unidirectional stream per message, reliable but without
//! head-of-line blocking between messages, or unreliable QUIC datagrams (RFC 9221). The receiver
//! feeds every message to a [`Freshness`]: the age of the newest state it holds, sampled every
//! millisecond, and the share of messages on time.
//!
//! ## quinn's congestion control
//!
//! quinn counts datagrams against the congestion window like any other packet. Each loss
//! shrinks the window and an application-limited flow never grows it back (quinn's CUBIC skips
//! the increase when the sender was application-limited), so on a lossy path a game flow's window
//! settles at its floor of two full-sized packets (2400 bytes). That is about what a 60 Hz flow
//! keeps in flight over a 100 ms round trip: now and then the window is full, snapshots queue,
//! and leave together in one packet, which a single loss then takes all at once. The figures
//! show it as the age's tail; it is quinn's default behaviour and is kept.
//!
//! ## The measuring window
//!
//! Ages are sampled from the sender's handshake plus a warm-up (1 s by default: slow start and
//! quinn's 333 ms initial RTT estimate stay out of it) to the end of the sending window, the
//! handshake plus `duration`. The receiver needs no side channel to know when that was: message
//! `n` was sent `n` ticks after the handshake, so every message tells it. After the window the
//! run drains (2 s by default) so that messages still in flight count as received (and as on
//! time if they meet the deadline), without the age samples growing while nothing is sent.

use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn_proto::{
    Connection, ConnectionError, ConnectionHandle, Dir, Event, ReadError, StreamEvent, StreamId,
    WriteError,
};
use weir_core::config::TransportConfig;
use weir_core::sim::freshness::Freshness;
use weir_core::sim::{LinkConfig, LinkId, Simulator, header};

use crate::PeerError;
use crate::config::QuinnConfig;
use crate::echo::offered_bytes;
use crate::node::QuinnApp;
use crate::report::Stack;
use crate::run::{quinn_app, quinn_app_mut, quinn_pair};

/// Bytes at the start of every game message: sequence number and send time (as weir's).
const HEADER: usize = header::LEN;

/// Granularity at which a run checks whether the handshake completed; the flow's own times
/// come from the handshake's exact instant.
const SLICE: Duration = Duration::from_millis(10);

/// How a quinn game flow carries its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuinnGameTransport {
    /// A new unidirectional stream per message, finished after it: every message is delivered
    /// (retransmitted until acknowledged), none waits behind another's loss. quinn allows the
    /// peer 100 open streams at a time (its default, kept); a message that finds none free is
    /// refused.
    StreamPerMessage,
    /// One QUIC datagram per message (`Connection::datagrams().send`), never retransmitted; a
    /// full send buffer drops its oldest queued datagram to make room, a newer snapshot being
    /// worth more than an older one.
    Datagrams,
}

impl QuinnGameTransport {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::StreamPerMessage => "stream-per-message",
            Self::Datagrams => "datagrams",
        }
    }
}

/// Time between two ticks of a `rate_hz` flow (at least 1 Hz is assumed, as weir's sender).
fn tick_interval(rate_hz: u32) -> Duration {
    Duration::from_secs(1) / rate_hz.max(1)
}

/// Client side of a game flow over quinn: a message of `size` bytes every tick for `duration`
/// after the handshake.
#[derive(Debug)]
pub struct QuinnGameSender {
    epoch: Instant,
    interval: Duration,
    size: usize,
    transport: QuinnGameTransport,
    duration: Duration,
    /// Streams with bytes quinn has not taken yet (only while its send window is full); each is
    /// finished once written whole.
    pending: Vec<(StreamId, Bytes)>,
    /// When the handshake completed; the first message leaves then.
    pub connected_at: Option<Instant>,
    /// Messages handed to quinn.
    pub sent: u64,
    /// Messages quinn refused (no stream free, datagram too large or unsupported, connection
    /// closed). They count against delivery.
    pub refused: u64,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
}

impl QuinnGameSender {
    /// `rate_hz` messages of `size` bytes (at least 16) per second for `duration` after the
    /// handshake, over `transport`; send times count from `epoch`, shared with the
    /// [`QuinnGameReceiver`].
    pub fn new(
        epoch: Instant,
        rate_hz: u32,
        size: usize,
        transport: QuinnGameTransport,
        duration: Duration,
    ) -> Self {
        Self {
            epoch,
            interval: tick_interval(rate_hz),
            size: size.max(HEADER),
            transport,
            duration,
            pending: Vec::new(),
            connected_at: None,
            sent: 0,
            refused: 0,
            closed: None,
        }
    }

    /// The tick of the next message, as weir's sender schedules it: message `n` at `n` ticks
    /// after the handshake, while that is within `duration`.
    fn next_tick(&self) -> Option<Instant> {
        let start = self.connected_at?;
        let at = start + self.interval * u32::try_from(self.sent + self.refused).ok()?;
        (at < start + self.duration).then_some(at)
    }

    fn message(&self, seq: u64, at: Instant) -> Bytes {
        let mut msg = vec![0u8; self.size];
        header::write(&mut msg, seq, self.epoch, at);
        Bytes::from(msg)
    }

    /// Hands pending stream bytes to quinn and finishes the streams written whole.
    fn flush(&mut self, conn: &mut Connection) {
        self.pending.retain_mut(|(id, bytes)| {
            let mut stream = conn.send_stream(*id);
            match stream.write(bytes) {
                Ok(n) => {
                    let _ = bytes.split_to(n);
                }
                Err(WriteError::Blocked) => {}
                // Stopped by the peer, or gone with the connection: nothing more will leave.
                Err(WriteError::Stopped(_) | WriteError::ClosedStream) => return false,
            }
            if !bytes.is_empty() {
                return true;
            }
            // Finished in the same call as the write, so the FIN rides on the message's frame.
            let _ = stream.finish();
            false
        });
    }
}

impl QuinnApp for QuinnGameSender {
    fn on_event(
        &mut self,
        now: Instant,
        _handle: ConnectionHandle,
        _conn: &mut Connection,
        event: Event,
    ) {
        match event {
            Event::Connected => self.connected_at = Some(now),
            Event::ConnectionLost { reason } => self.closed = Some(reason),
            _ => {}
        }
    }

    fn on_tick(&mut self, now: Instant, _handle: ConnectionHandle, conn: &mut Connection) {
        while let Some(at) = self.next_tick().filter(|t| *t <= now) {
            let msg = self.message(self.sent + self.refused, at);
            let taken = self.closed.is_none()
                && match self.transport {
                    QuinnGameTransport::Datagrams => conn.datagrams().send(msg, true).is_ok(),
                    QuinnGameTransport::StreamPerMessage => match conn.streams().open(Dir::Uni) {
                        Some(id) => {
                            self.pending.push((id, msg));
                            true
                        }
                        None => false,
                    },
                };
            if taken {
                self.sent += 1;
            } else {
                self.refused += 1;
            }
        }
        self.flush(conn);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick()
    }
}

/// Server side of a game flow over quinn: reads every datagram and every unidirectional stream
/// (one message each, delivered when the stream's end is read) into a [`Freshness`].
#[derive(Debug)]
pub struct QuinnGameReceiver {
    epoch: Instant,
    interval: Duration,
    duration: Duration,
    warmup: Duration,
    deadline: Option<Duration>,
    /// Created at the first message, which tells when the sender started.
    freshness: Option<Freshness>,
    /// End of the sending window (the sender's handshake plus `duration`): no age sample after.
    window_end: Option<Instant>,
    ages_done: bool,
    /// Messages received after the window, and how many of them were on time.
    late: (u64, u64),
    /// Streams being read, with their bytes so far.
    streams: Vec<(StreamId, Vec<u8>)>,
    /// Why the connection closed, if it did.
    pub closed: Option<ConnectionError>,
}

impl QuinnGameReceiver {
    /// A receiver of the messages of a [`QuinnGameSender`] of `rate_hz` for `duration` with the
    /// same `epoch`. A message is on time if it arrives within `deadline` of its send time
    /// (`None`: every arrival is). Ages are sampled from `warmup` after the sender's handshake
    /// to the end of its sending window.
    pub fn new(
        epoch: Instant,
        rate_hz: u32,
        duration: Duration,
        warmup: Duration,
        deadline: Option<Duration>,
    ) -> Self {
        Self {
            epoch,
            interval: tick_interval(rate_hz),
            duration,
            warmup,
            deadline,
            freshness: None,
            window_end: None,
            ages_done: false,
            late: (0, 0),
            streams: Vec::new(),
            closed: None,
        }
    }

    /// Messages received (each once: quinn delivers no duplicates).
    pub fn received(&self) -> u64 {
        self.freshness.as_ref().map_or(0, |f| f.received) + self.late.0
    }

    /// Messages received within the deadline of their send time.
    pub fn on_time(&self) -> u64 {
        self.freshness.as_ref().map_or(0, |f| f.on_time) + self.late.1
    }

    /// The age samples (none before the first message).
    pub fn freshness(&self) -> Option<&Freshness> {
        self.freshness.as_ref()
    }

    /// Ends the age samples at `now`, or at the end of the sending window if that came first.
    /// Call it at the end of the run; messages that arrive later still count as received.
    pub fn finish(&mut self, now: Instant) {
        if self.ages_done {
            return;
        }
        self.ages_done = true;
        if let (Some(freshness), Some(end)) = (&mut self.freshness, self.window_end) {
            freshness.finish(now.min(end));
        }
    }

    fn on_message(&mut self, now: Instant, msg: &[u8]) {
        let Some((seq, sent)) = header::read(msg) else {
            return;
        };
        if self.freshness.is_none() {
            // Message `seq` left `seq` ticks after the sender's handshake.
            let ticks = self
                .interval
                .checked_mul(u32::try_from(seq).unwrap_or(u32::MAX))
                .unwrap_or(Duration::MAX);
            let start = (self.epoch + sent)
                .checked_sub(ticks)
                .unwrap_or(self.epoch)
                .max(self.epoch);
            self.window_end = Some(start + self.duration);
            self.freshness =
                Some(Freshness::new(self.epoch, self.deadline).measure_from(start + self.warmup));
        }
        if self.window_end.is_some_and(|end| now > end) {
            self.finish(now);
        }
        if self.ages_done {
            self.late.0 += 1;
            let sent_at = self.epoch + sent;
            if self
                .deadline
                .is_none_or(|d| now.saturating_duration_since(sent_at) <= d)
            {
                self.late.1 += 1;
            }
        } else if let Some(freshness) = &mut self.freshness {
            freshness.on_message(now, seq, sent);
        }
    }

    /// Reads stream `streams[index]`; a stream read to its end is one message.
    fn read(&mut self, now: Instant, conn: &mut Connection, index: usize) {
        let (id, buf) = &mut self.streams[index];
        let mut stream = conn.recv_stream(*id);
        let Ok(mut chunks) = stream.read(true) else {
            return;
        };
        let mut ended = false;
        loop {
            match chunks.next(usize::MAX) {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(ReadError::Blocked) => break,
                Err(ReadError::Reset(_)) => {
                    // Abandoned by the sender (it never does): no message.
                    buf.clear();
                    ended = true;
                    break;
                }
            }
        }
        let _ = chunks.finalize();
        if ended {
            let (_, msg) = self.streams.swap_remove(index);
            self.on_message(now, &msg);
        }
    }
}

impl QuinnApp for QuinnGameReceiver {
    fn on_event(
        &mut self,
        now: Instant,
        _handle: ConnectionHandle,
        conn: &mut Connection,
        event: Event,
    ) {
        match event {
            Event::DatagramReceived => {
                while let Some(datagram) = conn.datagrams().recv() {
                    self.on_message(now, &datagram);
                }
            }
            Event::Stream(StreamEvent::Opened { dir: Dir::Uni }) => {
                while let Some(id) = conn.streams().accept(Dir::Uni) {
                    self.streams.push((id, Vec::new()));
                }
                // A stream may arrive with its data: "opened and might be readable". Backwards,
                // since reading a stream to its end removes it (`swap_remove`).
                for index in (0..self.streams.len()).rev() {
                    self.read(now, conn, index);
                }
            }
            Event::Stream(StreamEvent::Readable { id }) => {
                if let Some(index) = self.streams.iter().position(|(s, _)| *s == id) {
                    self.read(now, conn, index);
                }
            }
            Event::ConnectionLost { reason } => self.closed = Some(reason),
            _ => {}
        }
    }
}

/// What a game flow achieved at its receiver, in terms that hold for every stack and transport
/// ([`GameRun::quinn`] and [`GameRun::weir`] fill the same fields the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct GameReport {
    /// The stack that carried the flow.
    pub stack: Stack,
    /// How the stack carried the messages ([`QuinnGameTransport::name`] for quinn; for weir
    /// `datagrams`, `stream`, or `lane`, its delivery mode and its repair, e.g.
    /// `lane unreliable fec-medium`).
    pub transport: String,
    /// Seed of the simulator (the ends' seeds derive from it).
    pub seed: u64,
    /// When the sender saw the handshake complete, since the start; `None` if it never did.
    pub connected_at: Option<Duration>,
    /// Messages the sender handed to its stack.
    pub sent: u64,
    /// Messages the stack refused at the sender (they count as not delivered).
    pub refused: u64,
    /// Messages received by the end of the run (the sending window plus the drain).
    pub received: u64,
    /// Messages received within `deadline` of their send time.
    pub on_time: u64,
    /// `on_time` over every message generated (`sent + refused`); 1 when none was.
    pub on_time_share: f64,
    /// The deadline of `on_time`; `None` when every arrival counts as on time.
    pub deadline: Option<Duration>,
    /// Median age of the newest message held, over the time sampled (1 ms grid, from the
    /// handshake plus the warm-up to the end of the sending window).
    pub age_p50: Duration,
    /// 99th-percentile age of the newest message held.
    pub age_p99: Duration,
    /// Largest age sampled.
    pub age_max: Duration,
    /// Mean age of the newest message held.
    pub mean_age: Duration,
    /// Milliseconds of time sampled.
    pub age_samples: u64,
    /// UDP payload bytes offered to the links, both directions, handshake and acknowledgements
    /// included, over the whole run.
    pub bytes_on_wire: u64,
    /// Virtual time simulated.
    pub elapsed: Duration,
    /// Why the sender's connection closed, if it did.
    pub error: Option<String>,
}

/// A game flow to run: the links, the seed, the messages, the measuring window and both
/// stacks' settings.
///
/// [`quinn`](Self::quinn) and [`weir`](Self::weir) run it over the same links with the same
/// simulator seed and measure it the same way (see the module docs, "The measuring window"):
/// ages sampled from the sender's handshake plus [`warmup`](Self::warmup) to the end of the
/// sending window, every arrival until the end of the [`drain`](Self::drain) counted as
/// received and, if within [`deadline`](Self::deadline) of its send time, as on time, and every
/// UDP payload byte offered to either link over the whole run.
#[derive(Debug, Clone)]
pub struct GameRun {
    /// The sender → receiver link.
    pub forward: LinkConfig,
    /// The receiver → sender link (acknowledgements).
    pub reverse: LinkConfig,
    /// Seed of the simulator; the server's and the client's are `seed + 1` and `seed + 2`.
    pub seed: u64,
    /// How quinn carries the messages ([`GameRun::weir`] takes weir's way as its argument).
    pub transport: QuinnGameTransport,
    /// Messages per second.
    pub rate_hz: u32,
    /// Bytes of every message (at least 16).
    pub size: usize,
    /// How long the sender sends after its handshake.
    pub duration: Duration,
    /// On-time deadline after the send time; `None`: every arrival is on time.
    pub deadline: Option<Duration>,
    /// Age samples start this long after the sender's handshake.
    pub warmup: Duration,
    /// How long the run goes on after the sending window, for the last messages to land.
    pub drain: Duration,
    /// A run whose handshake has not completed after this much virtual time gives up.
    pub handshake_limit: Duration,
    /// Both quinn peers' settings.
    pub quinn: QuinnConfig,
    /// Both weir peers' transport settings (the controller among them); how weir carries the
    /// messages is [`GameRun::weir`]'s argument.
    pub weir: TransportConfig,
}

impl GameRun {
    /// A flow over the given links with a 1 s warm-up and a 2 s drain, quinn with its baseline
    /// settings ([`QuinnConfig::default`]: CUBIC) and weir with its defaults
    /// ([`TransportConfig::default`]: BBR).
    #[allow(clippy::too_many_arguments)] // the flow's own parameters, as `quinn_game` takes them
    pub fn new(
        forward: LinkConfig,
        reverse: LinkConfig,
        seed: u64,
        transport: QuinnGameTransport,
        rate_hz: u32,
        size: usize,
        duration: Duration,
        deadline: Option<Duration>,
    ) -> Self {
        Self {
            forward,
            reverse,
            seed,
            transport,
            rate_hz,
            size,
            duration,
            deadline,
            warmup: Duration::from_secs(1),
            drain: Duration::from_secs(2),
            handshake_limit: Duration::from_secs(60),
            quinn: QuinnConfig::default(),
            weir: TransportConfig::default(),
        }
    }

    /// Runs the flow from a quinn client (the sender) to a quinn server (the receiver).
    pub fn quinn(&self) -> Result<GameReport, PeerError> {
        let epoch = Instant::now(); // any instant: the simulator only adds virtual time to it
        let sender = QuinnGameSender::new(
            epoch,
            self.rate_hz,
            self.size,
            self.transport,
            self.duration,
        );
        let receiver = QuinnGameReceiver::new(
            epoch,
            self.rate_hz,
            self.duration,
            self.warmup,
            self.deadline,
        );
        let (mut sim, c, s) = quinn_pair(&self.quinn, self.seed, epoch, sender, receiver)?;
        let (f, r) = sim.connect(c, s, self.forward.clone(), self.reverse.clone())?;
        const SENDER: &str = "game sender node";
        const RECEIVER: &str = "game receiver node";
        loop {
            let sender = quinn_app::<QuinnGameSender>(&sim, c, SENDER)?;
            if sender.connected_at.is_some()
                || sender.closed.is_some()
                || sim.elapsed() >= self.handshake_limit
            {
                break;
            }
            sim.run_for(SLICE)?;
        }
        if let Some(start) = quinn_app::<QuinnGameSender>(&sim, c, SENDER)?.connected_at {
            let end = (start + self.duration + self.drain).saturating_duration_since(epoch);
            sim.run_until(end)?;
        }
        let now = sim.now();
        quinn_app_mut::<QuinnGameReceiver>(&mut sim, s, RECEIVER)?.finish(now);
        let rx = quinn_app::<QuinnGameReceiver>(&sim, s, RECEIVER)?;
        let tx = quinn_app::<QuinnGameSender>(&sim, c, SENDER)?;
        self.report(
            &sim,
            [f, r],
            Outcome {
                stack: Stack::Quinn(self.quinn.controller),
                transport: self.transport.name().to_owned(),
                connected_at: tx.connected_at,
                sent: tx.sent,
                refused: tx.refused,
                received: rx.received(),
                on_time: rx.on_time(),
                ages: rx.freshness(),
                error: tx.closed.as_ref().map(ToString::to_string),
            },
        )
    }

    /// The report of a run of this flow over links `links` of `sim`, whatever the stack: the
    /// on-time share over every message generated, the ages from `outcome.ages` (sampled over
    /// the measuring window only), the bytes offered to both links over the whole run.
    pub(crate) fn report(
        &self,
        sim: &Simulator,
        links: [LinkId; 2],
        outcome: Outcome<'_>,
    ) -> Result<GameReport, PeerError> {
        let epoch = sim.epoch();
        let ages = outcome.ages;
        let quantile = |q| ages.map_or(Duration::ZERO, |f| f.age_quantile(q));
        let generated = outcome.sent + outcome.refused;
        Ok(GameReport {
            stack: outcome.stack,
            transport: outcome.transport,
            seed: self.seed,
            connected_at: outcome
                .connected_at
                .map(|t| t.saturating_duration_since(epoch)),
            sent: outcome.sent,
            refused: outcome.refused,
            received: outcome.received,
            on_time: outcome.on_time,
            on_time_share: if generated == 0 {
                1.0
            } else {
                outcome.on_time as f64 / generated as f64
            },
            deadline: self.deadline,
            age_p50: quantile(0.5),
            age_p99: quantile(0.99),
            age_max: ages.map_or(Duration::ZERO, Freshness::max_age),
            mean_age: ages.map_or(Duration::ZERO, Freshness::mean_age),
            age_samples: ages.map_or(0, Freshness::samples),
            bytes_on_wire: offered_bytes(sim, links)?,
            elapsed: sim.elapsed(),
            error: outcome.error,
        })
    }
}

/// What one stack's run of a [`GameRun`] left at its two ends, for [`GameRun::report`].
pub(crate) struct Outcome<'a> {
    pub(crate) stack: Stack,
    pub(crate) transport: String,
    /// When the sender saw the handshake complete.
    pub(crate) connected_at: Option<Instant>,
    pub(crate) sent: u64,
    pub(crate) refused: u64,
    /// Messages received by the end of the run, and how many of them were on time.
    pub(crate) received: u64,
    pub(crate) on_time: u64,
    /// The age samples of the measuring window.
    pub(crate) ages: Option<&'a Freshness>,
    pub(crate) error: Option<String>,
}

/// A game flow carried by quinn-proto (baseline settings: CUBIC, 1200-byte datagrams, flow
/// control out of the way): `rate_hz` messages of `size` bytes per second over `transport` for
/// `duration` after the handshake, client → server over `forward`, acknowledgements over
/// `reverse`; on time means within `deadline` of the send time. Ages are sampled from 1 s after
/// the handshake; the run drains 2 s after the sending window (see [`GameRun`]).
#[allow(clippy::too_many_arguments)] // the flow's own parameters, each a different quantity
pub fn quinn_game(
    forward: LinkConfig,
    reverse: LinkConfig,
    seed: u64,
    transport: QuinnGameTransport,
    rate_hz: u32,
    size: usize,
    duration: Duration,
    deadline: Option<Duration>,
) -> Result<GameReport, PeerError> {
    GameRun::new(
        forward, reverse, seed, transport, rate_hz, size, duration, deadline,
    )
    .quinn()
}
