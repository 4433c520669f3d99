//! What a player sees through a jitter buffer: the game flow's receiver when it plays the
//! messages out at the pace they were sent instead of showing each one as it lands.
//!
//! [`Playout`] feeds every message the transport hands over into a [`JitterBuffer`] (with the
//! sequence number and the send time the message carries) and plays the messages out when the
//! buffer says. Inside the simulator it follows the buffer's driving loop through the
//! [`App`](super::App) contract:
//!
//! 1. a message arrives ([`App::on_event`](super::App::on_event)):
//!    [`on_message`](Playout::on_message) pushes it;
//! 2. after every input ([`App::on_tick`](super::App::on_tick), which also runs when the
//!    application's own timer fires): [`play`](Playout::play) drains everything due;
//! 3. [`App::poll_timeout`](super::App::poll_timeout) includes
//!    [`poll_timeout`](Playout::poll_timeout), so that the node is woken at the instant the
//!    next message is due and not at the next arrival.
//!
//! The invariant: a message plays at its due instant, never later.
//! [`max_pop_lag`](Playout::max_pop_lag) checks it: it stays zero when the timer is armed
//! right.
//!
//! What a player sees, recorded from [`measure_from`](Playout::measure_from) on:
//! - the *age at playout*: the playout instant minus the send time. Both ends share the
//!   simulator's epoch, so this is the real latency from the sender's tick to the screen: the
//!   path's one-way delay plus what the buffer holds a message for;
//! - the *spacing error* of the playout: for consecutive plays, `|Δplayout − Δsend|`. A perfect
//!   playout repeats the sender's rhythm (0); a skipped message is not an error (the send times
//!   skip too), a clock that slews at 0.9× adds a tenth of a tick;
//! - the same spacing error on arrival, between each message that is newer than any before and
//!   the previous such message: what a player who shows every message as it lands sees. The
//!   two side by side are what the buffer buys, the age at playout what it costs.
//!
//! What reaches the buffer depends on the transport. Datagrams and an unreliable lane hand over
//! every message that arrives, in any order, and the buffer puts them back in order; an
//! unreliable-sequenced lane drops a message that arrives after a newer one before the buffer
//! sees it, so there reordering costs the message even when the buffer could have waited for
//! it. A reliable lane or stream delivers everything, but a loss holds the messages behind it
//! back for a round trip and they arrive in a burst: late for the buffer, or a longer delay.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::stats::{micros, new_delay_histogram};
use crate::jitter::{JitterBuffer, JitterConfig, JitterConfigError, JitterStats, Pushed};

/// A distribution of durations: quantiles (microsecond histogram, three significant digits),
/// the exact maximum and the mean.
#[derive(Debug, Clone)]
pub struct Spread {
    us: Histogram<u64>,
    max: Duration,
}

impl Default for Spread {
    fn default() -> Self {
        Self {
            us: new_delay_histogram(),
            max: Duration::ZERO,
        }
    }
}

impl Spread {
    fn record(&mut self, d: Duration) {
        self.us.saturating_record(micros(d));
        self.max = self.max.max(d);
    }

    /// The value at quantile `q`, never above the exact maximum.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.us.value_at_quantile(q)).min(self.max)
    }

    /// The largest value (exact).
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The mean.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.us.mean() / 1e6)
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.us.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.us.is_empty()
    }
}

/// A message as the spacing measures see it: when it arrived or played, and when it was sent.
#[derive(Debug, Clone, Copy)]
struct Mark {
    sequence: u64,
    at: Instant,
    sent: Duration,
}

impl Mark {
    /// `|Δat − Δsent|` from `earlier` to `self`.
    fn spacing_error(&self, earlier: &Mark) -> Duration {
        let elapsed = self.at.saturating_duration_since(earlier.at);
        let sent = self.sent.saturating_sub(earlier.sent);
        elapsed.abs_diff(sent)
    }
}

/// The player side of a game flow: a [`JitterBuffer`] fed with the messages received, played
/// out on time, and what the player saw (see the [module documentation](self) for the driving
/// loop and the measures).
#[derive(Debug)]
pub struct Playout {
    epoch: Instant,
    measure_from: Option<Instant>,
    buffer: JitterBuffer<()>,
    /// The newest message that arrived.
    newest_arrival: Option<Mark>,
    /// The last message played.
    last_played: Option<Mark>,
    age: Spread,
    arrival_spacing: Spread,
    playout_spacing: Spread,
    /// Sum of the playout delay at each measured play, nanoseconds, and how many.
    delay_total: u128,
    delay_samples: u64,
    max_pop_lag: Duration,
}

impl Playout {
    /// A player of messages whose send times count from `epoch`, through a buffer set up with
    /// `config`.
    pub fn new(epoch: Instant, config: JitterConfig) -> Result<Self, JitterConfigError> {
        Ok(Self {
            epoch,
            measure_from: None,
            buffer: JitterBuffer::new(config)?,
            newest_arrival: None,
            last_played: None,
            age: Spread::default(),
            arrival_spacing: Spread::default(),
            playout_spacing: Spread::default(),
            delay_total: 0,
            delay_samples: 0,
            max_pop_lag: Duration::ZERO,
        })
    }

    /// Leaves messages sent before `from` out of the ages, spacings and mean delay (a
    /// warm-up); the buffer's counters count every message.
    pub fn measure_from(mut self, from: Instant) -> Self {
        self.measure_from = Some(from);
        self
    }

    /// The buffer's configuration.
    pub fn config(&self) -> &JitterConfig {
        self.buffer.config()
    }

    fn measured(&self, sent: Duration) -> bool {
        self.measure_from
            .is_none_or(|from| self.epoch + sent >= from)
    }

    /// Message `sequence`, sent `sent` after the epoch, arrived at `now`: into the buffer.
    /// Then [`play`](Self::play) at `now` and re-arm the timer to
    /// [`poll_timeout`](Self::poll_timeout).
    pub fn on_message(&mut self, now: Instant, sequence: u64, sent: Duration) -> Pushed {
        let mark = Mark {
            sequence,
            at: now,
            sent,
        };
        if self.newest_arrival.is_none_or(|n| sequence > n.sequence) {
            if let Some(previous) = self.newest_arrival
                && self.measured(sent)
            {
                self.arrival_spacing.record(mark.spacing_error(&previous));
            }
            self.newest_arrival = Some(mark);
        }
        self.buffer.push(now, sequence, sent, ())
    }

    /// Plays every message due by `now`; returns how many.
    pub fn play(&mut self, now: Instant) -> u64 {
        let mut count = 0;
        while let Some(played) = self.buffer.pop(now) {
            count += 1;
            let mark = Mark {
                sequence: played.sequence,
                at: played.at,
                sent: played.sent_at,
            };
            self.max_pop_lag = self
                .max_pop_lag
                .max(now.saturating_duration_since(played.at));
            if self.measured(played.sent_at) {
                self.age.record(
                    played
                        .at
                        .saturating_duration_since(self.epoch + played.sent_at),
                );
                if let Some(previous) = self.last_played {
                    self.playout_spacing.record(mark.spacing_error(&previous));
                }
                self.delay_total += self.buffer.stats().playout_delay.as_nanos();
                self.delay_samples += 1;
            }
            self.last_played = Some(mark);
        }
        count
    }

    /// When the next message is due, if one is held: the application's timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.buffer.poll_timeout()
    }

    /// The buffer's counters and its current estimates (the playout delay now, the target, the
    /// measured jitter).
    pub fn stats(&self) -> JitterStats {
        self.buffer.stats()
    }

    /// The share of the messages that reached the buffer (duplicates aside) that it dropped as
    /// late: about `1 − percentile` when the jitter stays put.
    pub fn late_share(&self) -> f64 {
        let stats = self.buffer.stats();
        let arrivals = stats.pushed - stats.duplicate;
        if arrivals == 0 {
            return 0.0;
        }
        stats.late as f64 / arrivals as f64
    }

    /// The mean playout delay (above the fastest transit) over the messages played.
    pub fn mean_playout_delay(&self) -> Duration {
        match self.delay_samples {
            0 => Duration::ZERO,
            n => Duration::from_nanos(
                u64::try_from(self.delay_total / u128::from(n)).unwrap_or(u64::MAX),
            ),
        }
    }

    /// Playout instant minus send time, over the messages played.
    pub fn age(&self) -> &Spread {
        &self.age
    }

    /// `|Δplayout − Δsend|` between consecutive plays.
    pub fn playout_spacing(&self) -> &Spread {
        &self.playout_spacing
    }

    /// `|Δarrival − Δsend|` between consecutive arrivals of a newer message than any before.
    pub fn arrival_spacing(&self) -> &Spread {
        &self.arrival_spacing
    }

    /// How long after its due instant a message was played at worst: zero when the driver arms
    /// its timer at [`poll_timeout`](Self::poll_timeout).
    pub fn max_pop_lag(&self) -> Duration {
        self.max_pop_lag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A 50 Hz flow whose transit alternates between 30 and 50 ms, driven as the simulator
    /// drives it: arrivals and the buffer's own timer.
    #[test]
    fn the_playout_is_steady_where_arrivals_are_not() {
        let t0 = crate::congestion::test_epoch();
        let tick = 20 * MS;
        let mut playout = Playout::new(t0, JitterConfig::default()).expect("valid");
        let mut arrivals: Vec<(Instant, u64)> = (0..500u32)
            .map(|n| {
                let transit = if n % 2 == 0 { 30 * MS } else { 50 * MS };
                (t0 + tick * n + transit, n.into())
            })
            .collect();
        arrivals.sort();
        let mut arrivals = arrivals.into_iter().peekable();
        let mut now = t0;
        loop {
            while let Some(&(_, n)) = arrivals.peek().filter(|(at, _)| *at <= now) {
                let sent = tick * u32::try_from(n).expect("small");
                assert_eq!(playout.on_message(now, n, sent), Pushed::Queued);
                arrivals.next();
            }
            playout.play(now);
            let next = arrivals.peek().map(|&(at, _)| at);
            match next.into_iter().chain(playout.poll_timeout()).min() {
                Some(at) => now = at,
                None => break,
            }
        }
        let stats = playout.stats();
        assert_eq!((stats.played, stats.late, stats.skipped), (500, 0, 0));
        assert_eq!(playout.late_share(), 0.0);
        assert_eq!(playout.max_pop_lag(), Duration::ZERO);
        // Arrivals swing by 20 ms against the send times (0 and 40 ms gaps for a 20 ms tick).
        assert_eq!(playout.arrival_spacing().quantile(0.5), 20 * MS);
        // The playout follows the send times but while its clock slews (by at most a tenth of
        // a tick: 2 ms).
        assert!(
            playout.playout_spacing().max() <= 2 * MS,
            "{:?}",
            playout.playout_spacing()
        );
        assert_eq!(playout.playout_spacing().quantile(0.5), Duration::ZERO);
        // Settled: every message plays 50 ms after it was sent, 20 ms above the fastest transit.
        assert_eq!(stats.playout_delay, 20 * MS);
        // (The histogram keeps three significant digits: 50 ms reads back up to 0.1 % high.)
        let age = playout.age().quantile(0.5);
        assert!((50 * MS..=50_050 * MS / 1000).contains(&age), "{age:?}");
        assert!(playout.mean_playout_delay() >= 20 * MS);
        assert_eq!(playout.age().len(), 500);
    }

    #[test]
    fn a_bad_configuration_is_refused() {
        let config = JitterConfig {
            percentile: 0.0,
            ..JitterConfig::default()
        };
        let err = Playout::new(crate::congestion::test_epoch(), config).expect_err("invalid");
        assert_eq!(err, JitterConfigError::Percentile(0.0));
    }
}
