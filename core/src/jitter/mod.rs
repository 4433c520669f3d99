//! A jitter buffer: smooth playout of periodic messages that arrive out of order, late,
//! twice or not at all.
//!
//! A game client that receives state snapshots at 20–60 Hz wants to show them at the pace
//! they were taken, not at the pace the network delivers them: Wi-Fi and mobile paths bunch
//! packets, delay some by tens of milliseconds and swap neighbours. A [`JitterBuffer`] holds
//! each message for a short *playout delay* and hands it over when its time comes, in
//! sequence order. The delay is the price: the buffer measures the path's jitter and keeps the
//! delay just large enough that a chosen share of the messages (say 95 %) arrive in time.
//!
//! Like the rest of the core it is sans-IO: it never reads a clock. Every call that depends on
//! time takes `now`, and [`poll_timeout`](JitterBuffer::poll_timeout) says when to come back.
//!
//! ## How it works
//!
//! Each message carries its **send time** `sent_at` in the sender's clock: a `Duration` since
//! any epoch the sender keeps for the whole stream, typically `tick × tick_interval`. The
//! clocks are not synchronised and need not be.
//!
//! - **Offset.** A message's *transit* is its arrival time minus its send time (receiver clock
//!   minus sender clock: the one-way delay plus an unknown constant). The smallest transit among
//!   recent arrivals, the *floor*, is the path's fastest delivery; following the minimum over a
//!   sliding window also follows a slow drift between the clocks. This is the classic
//!   receiver-side estimate of RTP playout (Ramjee et al., "Adaptive playout mechanisms for
//!   packetized audio applications in wide-area networks", 1994; Moon, Kurose and Towsley,
//!   "Packet audio playout delay adjustment", 1998), which needs nothing from the sender but
//!   its timestamps.
//! - **Jitter percentile.** The *target* is the [`percentile`](JitterConfig::percentile)
//!   quantile of the transits in the window (the last [`window`](JitterConfig::window)
//!   arrivals, late ones included), so the delay above the floor covers that share of the
//!   measured jitter and about `1 − percentile` of the messages arrive late. It is clamped to
//!   `floor + [min_delay, max_delay]`. A quantile and not mean plus a multiple of the
//!   deviation: transit delay is skewed (a queue empties faster than it fills), so a mean and
//!   deviation misjudge the tail that decides lateness; the window is small enough to keep
//!   sorted, so the quantile is exact. Until the window holds `1 / (1 − percentile)` arrivals
//!   the target is at least [`initial_delay`](JitterConfig::initial_delay).
//! - **Smooth adaptation.** A message with send time `s` plays out at the receiver time `t`
//!   where `t − offset(t) = s`, and `offset` moves towards the target at a bounded rate: the
//!   playout runs at most [`max_slowdown`](JitterConfig::max_slowdown) slower than real time
//!   while the delay grows, and at most [`max_speedup`](JitterConfig::max_speedup) faster while
//!   it shrinks (0.9× and 1.05× by default). The played-out sender time never goes backwards,
//!   so adaptation never reorders or repeats the playout, and a snapshot interpolator sees a
//!   slightly faster or slower clock, never a jump. Growing is allowed to be quicker than
//!   shrinking: a late message is lost, an early one only costs latency. Before the first
//!   message is played (and after a start over, below) the clock simply jumps to the target:
//!   nobody has seen it yet.
//! - **Outliers and steps.** An arrival whose transit is more than
//!   [`max_delay`](JitterConfig::max_delay) from the current offset does not fit: it would
//!   wait longer than `max_delay`, or it is later than that. It is dropped and kept out of the
//!   window, so one wild timestamp cannot move the floor. If such arrivals persist for
//!   [`resync_after`](JitterConfig::resync_after), the sender's clock or the path really
//!   stepped: the buffer starts over from them (counted in [`JitterStats::resyncs`]). What it
//!   held from before is due at once, so it never holds up the new stream.
//!
//! The rest is bookkeeping. Messages are held by sequence number; [`pop`](JitterBuffer::pop)
//! returns the lowest one once it is due, skipping any gap before it (the missing messages
//! were lost, or will be too late when they come), so a loss never stalls the playout. A
//! message is dropped as **late** if it arrives after its playout time or after a newer one
//! was played, as a **duplicate** if it is held or was played (the last 128 sequence numbers
//! played are remembered), and the held messages are bounded by
//! [`max_depth`](JitterConfig::max_depth), the oldest dropped first. [`JitterStats`] counts
//! each of these.
//!
//! ## Use with lanes
//!
//! Send snapshots on an [`Unreliable`](crate::lanes::DeliveryMode::Unreliable) lane and put
//! the tick in the message. Use the lane's `sequence` (or the tick) as the sequence number.
//! An `UnreliableSequenced` lane works too, but it already drops every message that arrives
//! after a newer one, so the buffer cannot absorb reordering there.
//!
//! ## The driving loop
//!
//! After any input — a message pushed, or the timer from
//! [`poll_timeout`](JitterBuffer::poll_timeout) fired — drain [`pop`](JitterBuffer::pop)
//! until it returns `None`, then re-arm the timer to `poll_timeout()` (`None`: nothing held).
//! Calling `pop` early or late is harmless: early it returns `None`, late it returns what is
//! due, in order, each with the playout instant it was due at.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use weir_core::jitter::{JitterBuffer, JitterConfig, JitterConfigError};
//!
//! # fn main() -> Result<(), JitterConfigError> {
//! let start = Instant::now(); // any instant: the buffer only compares instants you pass in
//! let mut buffer = JitterBuffer::new(JitterConfig::default())?;
//!
//! // A 50 Hz sender: snapshot n is taken at n × 20 ms of its clock and reaches us 30 to 75 ms
//! // later, so a third of them overtake their predecessor. Snapshot 7 is lost.
//! let tick = Duration::from_millis(20);
//! let transit = |n: u32| Duration::from_millis(30 + u64::from(n * 17 % 46));
//! let mut arrivals: Vec<(Instant, u64)> = (0..200u32)
//!     .filter(|&n| n != 7)
//!     .map(|n| (start + tick * n + transit(n), n.into()))
//!     .collect();
//! arrivals.sort();
//! let mut arrivals = arrivals.into_iter().peekable();
//!
//! let mut now = start;
//! let mut played = Vec::new();
//! loop {
//!     // 1. Inputs: whatever arrived by `now` (a real driver reads its lane here).
//!     while let Some(&(_, n)) = arrivals.peek().filter(|(at, _)| *at <= now) {
//!         let snapshot = format!("state at tick {n}");
//!         let _ = buffer.push(now, n, tick * n as u32, snapshot);
//!         arrivals.next();
//!     }
//!     // 2. Play out everything due (a real game applies the snapshot here).
//!     while let Some(message) = buffer.pop(now) {
//!         assert!(message.at <= now);
//!         played.push(message.sequence);
//!     }
//!     // 3. Sleep until the next arrival or the next playout.
//!     let next_arrival = arrivals.peek().map(|&(at, _)| at);
//!     match next_arrival.into_iter().chain(buffer.poll_timeout()).min() {
//!         Some(at) => now = now.max(at),
//!         None => break,
//!     }
//! }
//! // Played in order, reordering absorbed, the lost snapshot skipped. The delay settled at
//! // the 95th percentile of the jitter (43 ms above the fastest transit), so about one
//! // snapshot in twenty came too late and was dropped.
//! assert!(played.windows(2).all(|w| w[0] < w[1]));
//! let stats = buffer.stats();
//! assert_eq!(stats.played + stats.late, 199);
//! assert!(stats.late < 12, "{stats:?}");
//! assert_eq!(stats.playout_delay, Duration::from_millis(43));
//! # Ok(()) }
//! ```

mod clock;
mod config;
mod window;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use config::{JitterConfig, JitterConfigError, MAX_WINDOW};

use clock::PlayoutClock;
use window::TransitWindow;

/// Arrivals that must miss the estimate in a row (besides lasting
/// [`JitterConfig::resync_after`]) before the buffer starts over: a handful, so that a burst
/// from a stalled queue, which arrives within milliseconds, never counts as a step.
const RESYNC_MIN_MISFITS: u32 = 8;

/// How many sequence numbers up to the last one played are remembered, to tell a duplicate of
/// a played message from a late one: one bit each in a `u128`.
const PLAYED_MEMORY: u64 = u128::BITS as u64;

/// A message whose playout time has come, from [`JitterBuffer::pop`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Played<T> {
    /// Its sequence number.
    pub sequence: u64,
    /// Its send time, as pushed.
    pub sent_at: Duration,
    /// The message.
    pub payload: T,
    /// The receiver instant it was due to play out at (at or before the `now` of the pop
    /// that returned it; never before the previous message's). A driver that pops late can
    /// tell by how much.
    pub at: Instant,
    /// Sequence numbers passed over just before this one: lost, or dropped here as late,
    /// outliers or overflow. 0 for the first message played.
    pub skipped: u64,
}

/// What [`JitterBuffer::push`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Held until its playout time.
    Queued,
    /// Dropped: the same sequence number is held, or was played.
    Duplicate,
    /// Dropped: its playout time has passed, or a newer message was played.
    Late,
    /// Dropped: its send time is inconsistent with the others (it would wait longer than
    /// [`JitterConfig::max_delay`]).
    Outlier,
    /// Dropped: the buffer was full and this message was the oldest.
    Overflow,
}

/// What a [`JitterBuffer`] did so far, and its current estimates (as of the latest `now`
/// passed in).
///
/// `pushed = played + late + duplicate + outliers + overflowed + held` at all times, where
/// `held` is [`JitterBuffer::len`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Messages given to [`push`](JitterBuffer::push).
    pub pushed: u64,
    /// Messages returned by [`pop`](JitterBuffer::pop).
    pub played: u64,
    /// Messages dropped because they arrived after their playout time or after a newer
    /// message was played.
    pub late: u64,
    /// Messages dropped because their sequence number was held or played already.
    pub duplicate: u64,
    /// Messages dropped because their send time did not fit the estimate (see
    /// [`JitterConfig::resync_after`]).
    pub outliers: u64,
    /// Held messages dropped because the buffer was full
    /// ([`JitterConfig::max_depth`]).
    pub overflowed: u64,
    /// Sequence numbers the playout passed over: lost in the network, or dropped here (so a
    /// message dropped as late or overflow may count here too).
    pub skipped: u64,
    /// Times the buffer started over after a step in the sender's clock or the path.
    pub resyncs: u64,
    /// The playout delay now: how long after the fastest recent transit (the floor) a message
    /// plays out.
    pub playout_delay: Duration,
    /// The playout delay the buffer is adapting towards.
    pub target_delay: Duration,
    /// The measured jitter: the configured percentile of the recent transits, above the
    /// floor (before the clamp to `[min_delay, max_delay]`).
    pub jitter: Duration,
}

/// A held message.
#[derive(Debug)]
struct Held<T> {
    /// Send time, nanoseconds.
    sent: i128,
    /// The number of start-overs before it arrived: one from before the latest is due at
    /// once (its send time means nothing to the new clock, and it must not hold up the
    /// messages after it).
    epoch: u64,
    sent_at: Duration,
    payload: T,
}

/// What an arrival's transit did to the estimate.
enum Fit {
    /// It is in the window.
    Sampled,
    /// It would wait longer than `max_delay`: kept out.
    Early,
    /// It is later than `max_delay` after its playout time: kept out.
    Late,
}

/// A run of arrivals that did not fit: since when, and how many.
#[derive(Debug, Clone, Copy)]
struct Misfits {
    since: i128,
    count: u32,
}

/// The receiver's timeline, from the first push on.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    /// The first `now` pushed: receiver times are nanoseconds since it.
    base: Instant,
    /// The latest `now` passed in (time never runs backwards for the buffer).
    now: i128,
    clock: PlayoutClock,
}

/// A jitter buffer for periodic messages of type `T` (see the [module documentation](self)
/// for the algorithm and the driving loop).
///
/// Inputs are [`push`](Self::push) (a message arrived) and the passing of time; outputs are
/// [`pop`](Self::pop) (a message is due) and [`poll_timeout`](Self::poll_timeout) (when the
/// next one will be). Every `now` is a receiver instant; an earlier `now` than one seen before
/// counts as that one. Memory is bounded by the configuration: at most
/// [`max_depth`](JitterConfig::max_depth) messages and two copies of a
/// [`window`](JitterConfig::window) of samples.
#[derive(Debug)]
pub struct JitterBuffer<T> {
    config: JitterConfig,
    /// `config.warmup()`, kept.
    warmup: usize,
    timeline: Option<Timeline>,
    window: TransitWindow,
    held: BTreeMap<u64, Held<T>>,
    /// The last sequence number played.
    last_played: Option<u64>,
    /// Bit `i` set: `last_played − i` was played.
    played_bits: u128,
    /// When the last message played was due.
    last_played_at: i128,
    /// Whether a message was played since the start (or the last start over): until then the
    /// clock may jump.
    playing: bool,
    misfits: Option<Misfits>,
    stats: JitterStats,
}

impl<T> JitterBuffer<T> {
    /// An empty buffer, if `config` is valid.
    pub fn new(config: JitterConfig) -> Result<Self, JitterConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            warmup: config.warmup(),
            timeline: None,
            window: TransitWindow::new(config.window),
            held: BTreeMap::new(),
            last_played: None,
            played_bits: 0,
            last_played_at: 0,
            playing: false,
            misfits: None,
            stats: JitterStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The counters, and the estimates as of the latest `now` passed in.
    pub fn stats(&self) -> JitterStats {
        let mut stats = self.stats;
        if let (Some(timeline), Some(floor)) = (&self.timeline, self.window.min()) {
            let above = |x: i128| duration(x - floor);
            stats.playout_delay = above(timeline.clock.offset(timeline.now));
            stats.target_delay = above(timeline.clock.target());
            stats.jitter = above(
                self.window
                    .quantile(self.config.percentile)
                    .unwrap_or(floor),
            );
        }
        stats
    }

    /// The sender time that plays out at `now`: every message sent at or before it is due.
    /// A snapshot interpolator renders the state at this time. It never decreases while
    /// messages are played, and runs within the slew rates of real time; before the first
    /// message is played and at a start over it may jump. `None` before the first push, or
    /// if it is before the sender's epoch.
    pub fn playout_time(&self, now: Instant) -> Option<Duration> {
        let timeline = self.timeline.as_ref()?;
        let now = nanos(now.saturating_duration_since(timeline.base)).max(timeline.now);
        let media = timeline.clock.media(now);
        (media >= 0).then(|| duration(media))
    }

    /// A message arrived at `now`: number `sequence`, sent at `sent_at` in the sender's clock
    /// (a `Duration` since an epoch the sender keeps for the whole stream, such as
    /// `tick × tick_interval`). Says whether it is held or why it was dropped (the drops are
    /// counted in [`stats`](Self::stats) too, so the answer may be ignored).
    ///
    /// Afterwards, re-arm the timer to [`poll_timeout`](Self::poll_timeout): the message may
    /// be due earlier than what was held, and the playout delay may have changed.
    ///
    /// Sequence numbers and send times belong to one stream: a sender that starts counting
    /// again (a reconnect, a new match) starts a new stream, which wants a new buffer.
    pub fn push(&mut self, now: Instant, sequence: u64, sent_at: Duration, payload: T) -> Pushed {
        self.stats.pushed += 1;
        let sent = nanos(sent_at);
        let mut timeline = self.timeline.unwrap_or(Timeline {
            base: now,
            now: 0,
            clock: PlayoutClock::new(0, 0, self.config.max_slowdown, self.config.max_speedup),
        });
        let now = advance(&mut timeline, now);
        self.timeline = Some(timeline);
        if self.is_duplicate(sequence) {
            self.stats.duplicate += 1;
            return Pushed::Duplicate;
        }
        // Even a message that is too late to play tells how late messages are: it goes into
        // the estimate first.
        let fit = self.observe(&mut timeline.clock, now, now - sent);
        self.timeline = Some(timeline);
        let behind_playout = self.last_played.is_some_and(|last| sequence <= last);
        let late = match fit {
            Fit::Sampled => timeline.clock.due(sent) < now,
            Fit::Late => true,
            Fit::Early => false,
        };
        if behind_playout || late {
            self.stats.late += 1;
            return Pushed::Late;
        }
        if let Fit::Early = fit {
            self.stats.outliers += 1;
            return Pushed::Outlier;
        }
        self.held.insert(
            sequence,
            Held {
                sent,
                epoch: self.stats.resyncs,
                sent_at,
                payload,
            },
        );
        if self.held.len() > self.config.max_depth
            && let Some((oldest, _)) = self.held.pop_first()
        {
            self.stats.overflowed += 1;
            if oldest == sequence {
                return Pushed::Overflow;
            }
        }
        Pushed::Queued
    }

    /// The next message in sequence order if its playout time has come by `now`; any gap
    /// before it is skipped (and counted). `None` if nothing is due: see
    /// [`poll_timeout`](Self::poll_timeout) for when something will be.
    pub fn pop(&mut self, now: Instant) -> Option<Played<T>> {
        let timeline = self.timeline.as_mut()?;
        let now = advance(timeline, now);
        let (_, head) = self.held.first_key_value()?;
        let current = head.epoch == self.stats.resyncs;
        let due = due(&timeline.clock, head, self.stats.resyncs);
        if due > now {
            return None;
        }
        let base = timeline.base;
        let (sequence, held) = self.held.pop_first()?;
        let skipped = match self.last_played {
            // Held sequence numbers are above the last played (push checks).
            Some(last) => {
                let gap = sequence.saturating_sub(last);
                self.played_bits = if gap >= PLAYED_MEMORY {
                    0
                } else {
                    self.played_bits << gap
                };
                gap.saturating_sub(1)
            }
            None => 0,
        };
        self.played_bits |= 1;
        self.last_played = Some(sequence);
        // What was held from before a start over does not show the new clock to anyone.
        self.playing |= current;
        self.stats.played += 1;
        self.stats.skipped = self.stats.skipped.saturating_add(skipped);
        // `due ≤ now` and the previous one was ≤ an earlier `now`, so this is a past instant.
        let at = due.max(self.last_played_at);
        self.last_played_at = at;
        Some(Played {
            sequence,
            sent_at: held.sent_at,
            payload: held.payload,
            at: instant(base, at),
            skipped,
        })
    }

    /// When the next message becomes due, if nothing is pushed meanwhile: then
    /// [`pop`](Self::pop) returns it. An instant at or before the latest `now` passed in means
    /// "now". `None` if nothing is held.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timeline = self.timeline.as_ref()?;
        let (_, head) = self.held.first_key_value()?;
        let due = due(&timeline.clock, head, self.stats.resyncs);
        Some(instant(timeline.base, due))
    }

    /// Whether `sequence` is held or was played.
    fn is_duplicate(&self, sequence: u64) -> bool {
        if self.held.contains_key(&sequence) {
            return true;
        }
        match self.last_played {
            Some(last) if sequence <= last => {
                let age = last - sequence;
                age < PLAYED_MEMORY && self.played_bits & (1 << age) != 0
            }
            _ => false,
        }
    }

    /// Takes an arrival's transit into the estimate (or not, if it does not fit) and steers
    /// the playout `clock`.
    fn observe(&mut self, clock: &mut PlayoutClock, now: i128, transit: i128) -> Fit {
        if self.playing {
            let max_delay = nanos(self.config.max_delay);
            let offset = clock.offset(now);
            let early = transit < offset - max_delay;
            let late = transit > offset + max_delay;
            if early || late {
                let run = self.misfits.get_or_insert(Misfits {
                    since: now,
                    count: 0,
                });
                run.count += 1;
                let lasted = now - run.since >= nanos(self.config.resync_after);
                if !(lasted && run.count >= RESYNC_MIN_MISFITS) {
                    return if early { Fit::Early } else { Fit::Late };
                }
                // A step, not an outlier: start over from this arrival (the clock jumps
                // below, as at the start).
                self.stats.resyncs += 1;
                self.playing = false;
                self.window.clear();
            }
            self.misfits = None;
        }
        self.window.push(transit);
        let target = self.target();
        if self.playing {
            clock.retarget(now, target);
        } else {
            // Nothing played yet (since the start, or a start over): nobody has seen the
            // clock, so it goes straight to the target.
            clock.jump(now, target);
        }
        Fit::Sampled
    }

    /// The offset the estimate asks for: the percentile of the window's transits (at least
    /// floor + `initial_delay` while warming up), clamped to floor + `[min_delay, max_delay]`.
    fn target(&self) -> i128 {
        let (Some(floor), Some(quantile)) = (
            self.window.min(),
            self.window.quantile(self.config.percentile),
        ) else {
            return 0;
        };
        let mut target = quantile;
        if self.window.len() < self.warmup {
            target = target.max(floor + nanos(self.config.initial_delay));
        }
        target.clamp(
            floor + nanos(self.config.min_delay),
            floor + nanos(self.config.max_delay),
        )
    }

    /// The held sequence numbers, lowest first (tests).
    #[cfg(test)]
    fn held_sequences(&self) -> Vec<u64> {
        self.held.keys().copied().collect()
    }

    /// Samples in the estimator's window (tests).
    #[cfg(test)]
    fn window_len(&self) -> usize {
        self.window.len()
    }
}

/// When `held` is due by `clock`, if it arrived in epoch `epoch`; at once if it arrived
/// before.
fn due<T>(clock: &PlayoutClock, held: &Held<T>, epoch: u64) -> i128 {
    if held.epoch == epoch {
        clock.due(held.sent)
    } else {
        i128::MIN
    }
}

/// Moves the timeline to `now` (never backwards); the receiver time in nanoseconds.
fn advance(timeline: &mut Timeline, now: Instant) -> i128 {
    let now = nanos(now.saturating_duration_since(timeline.base));
    timeline.now = timeline.now.max(now);
    timeline.now
}

/// A duration in nanoseconds (exact: at most about 1.8 × 10²⁸).
fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

/// Nanoseconds as a duration, 0 if negative, saturating.
fn duration(nanos: i128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
}

/// The receiver instant `nanos` after `base` (`base` if negative, saturating far ahead).
fn instant(base: Instant, nanos: i128) -> Instant {
    let mut offset = duration(nanos);
    loop {
        if let Some(at) = base.checked_add(offset) {
            return at;
        }
        // Beyond the platform's range (centuries ahead): the farthest we can say.
        offset /= 2;
    }
}
