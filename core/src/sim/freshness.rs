//! How fresh a real-time flow keeps its receiver: the age of the newest state it holds, over
//! time, and the share of messages that arrive by their deadline.
//!
//! A game shows the newest snapshot it has. What the player sees is not the delay of each
//! message but how old that newest snapshot is *at every moment*: a sawtooth that rises by a
//! tick between arrivals and jumps when a loss (or a head-of-line stall) skips a tooth.
//! [`Freshness`] samples that sawtooth on a 1 ms grid of virtual time, so its quantiles are
//! shares of time, the same for every transport measured with it (weir's lanes and streams,
//! quinn's streams and datagrams).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::stats::{micros, new_delay_histogram};

/// The sampling grid.
const GRID: Duration = Duration::from_millis(1);

/// Age of the newest state and delivery on time of one flow's receiver.
///
/// Feed it every message the application receives ([`on_message`](Self::on_message)) and call
/// [`finish`](Self::finish) at the end of the run. Samples start at the first arrival and, with
/// [`measure_from`](Self::measure_from), at that instant at the earliest; samples are computed
/// on each call for the grid points passed since the last one, so it needs no timer.
#[derive(Debug, Clone)]
pub struct Freshness {
    epoch: Instant,
    deadline: Option<Duration>,
    measure_from: Option<Instant>,
    newest: Option<(u64, Instant)>,
    next_sample: Option<Instant>,
    age_us: Histogram<u64>,
    max_age: Duration,
    /// Messages received (each sequence number counted once by the caller's transport).
    pub received: u64,
    /// Messages received no later than the deadline after they were sent.
    pub on_time: u64,
}

impl Freshness {
    /// A receiver of messages whose send times count from `epoch`; a message is on time if it
    /// arrives within `deadline` of being sent (`None`: every arrival is on time).
    pub fn new(epoch: Instant, deadline: Option<Duration>) -> Self {
        Self {
            epoch,
            deadline,
            measure_from: None,
            newest: None,
            next_sample: None,
            age_us: new_delay_histogram(),
            max_age: Duration::ZERO,
            received: 0,
            on_time: 0,
        }
    }

    /// Leaves the time before `from` out of the age samples (a warm-up).
    pub fn measure_from(mut self, from: Instant) -> Self {
        self.measure_from = Some(from);
        self
    }

    /// Message `sequence`, sent `sent` after the epoch, arrived at `now`. Messages older than
    /// the newest one held count for delivery but do not make the state fresher.
    pub fn on_message(&mut self, now: Instant, sequence: u64, sent: Duration) {
        self.sample_until(now);
        let sent_at = self.epoch + sent;
        self.received += 1;
        if self
            .deadline
            .is_none_or(|d| now.saturating_duration_since(sent_at) <= d)
        {
            self.on_time += 1;
        }
        if self.newest.is_none_or(|(seq, _)| sequence > seq) {
            self.newest = Some((sequence, sent_at));
        }
        if self.next_sample.is_none() {
            let first = self.measure_from.map_or(now, |from| from.max(now));
            self.next_sample = Some(first);
        }
    }

    /// Samples the age up to `now` (the end of the run).
    pub fn finish(&mut self, now: Instant) {
        self.sample_until(now);
    }

    fn sample_until(&mut self, now: Instant) {
        let (Some((_, sent_at)), Some(mut at)) = (self.newest, self.next_sample) else {
            return;
        };
        while at < now {
            let age = at.saturating_duration_since(sent_at);
            self.age_us.saturating_record(micros(age));
            self.max_age = self.max_age.max(age);
            at += GRID;
        }
        self.next_sample = Some(at);
    }

    /// The age of the newest state at quantile `q` of the time sampled.
    pub fn age_quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.age_us.value_at_quantile(q)).min(self.max_age)
    }

    /// The mean age of the newest state.
    pub fn mean_age(&self) -> Duration {
        Duration::from_secs_f64(self.age_us.mean() / 1e6)
    }

    /// The largest age sampled.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Milliseconds of time sampled.
    pub fn samples(&self) -> u64 {
        self.age_us.len()
    }

    /// The share of `sent` messages that arrived on time.
    pub fn on_time_share(&self, sent: u64) -> f64 {
        if sent == 0 {
            return 1.0;
        }
        self.on_time as f64 / sent as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 50 Hz flow with a 30 ms one-way delay: the age is a sawtooth from 30 to 50 ms.
    #[test]
    fn a_steady_flow_is_a_sawtooth() {
        let t0 = crate::congestion::test_epoch();
        let tick = Duration::from_millis(20);
        let mut f = Freshness::new(t0, Some(Duration::from_millis(40)));
        for n in 0..500u32 {
            let sent = tick * n;
            f.on_message(t0 + sent + Duration::from_millis(30), n.into(), sent);
        }
        f.finish(t0 + tick * 500 + Duration::from_millis(30));
        assert_eq!(f.samples(), 500 * 20);
        assert_eq!(f.age_quantile(0.0), Duration::from_millis(30));
        assert!(f.age_quantile(0.99) < Duration::from_millis(50));
        assert_eq!(f.max_age(), Duration::from_millis(49));
        assert_eq!(f.on_time_share(500), 1.0);
    }

    /// A lost message doubles the age for a tick; a late one counts as received, not on time,
    /// and an old one does not make the state fresher.
    #[test]
    fn losses_and_late_messages_show() {
        let t0 = crate::congestion::test_epoch();
        let tick = Duration::from_millis(20);
        let mut f = Freshness::new(t0, Some(Duration::from_millis(40)));
        let mut arrivals: Vec<_> = (0..100u32)
            .filter(|&n| n != 10)
            .map(|n| {
                let delay = if n == 20 { 90 } else { 30 };
                (tick * n + Duration::from_millis(delay), n)
            })
            .collect();
        arrivals.sort();
        for (at, n) in arrivals {
            f.on_message(t0 + at, n.into(), tick * n);
        }
        f.finish(t0 + tick * 100 + Duration::from_millis(30));
        assert_eq!((f.received, f.on_time), (99, 98));
        // Loss of 10: ages 50–69 for a tick; 20 arrives after 21 and 22 (no effect).
        assert_eq!(f.max_age(), Duration::from_millis(69));
        assert!((f.on_time_share(100) - 0.98).abs() < 1e-9);
    }
}
