//! weir's capacity-drop response (a departure from draft-ietf-ccwg-bbr-06; see
//! [`BbrConfig::capacity_drop`](super::BbrConfig::capacity_drop)).
//!
//! BBR.max_bw is a windowed maximum over two ProbeBW cycles (4–6 s), so when a radio link's
//! capacity falls tenfold the model keeps the old rate for seconds: the pacing rate and
//! `2 × BDP` of window pour into a bottleneck that now drains ten times slower, and the queue
//! grows to seconds before a loss (if the buffer is deep enough to ever overflow) cuts the
//! short-term model. What tells a drop apart from noise is that both signals move together:
//! while a queue stands at the bottleneck, the bottleneck never idles, so every delivery-rate
//! sample *is* the bottleneck's rate (or this flow's share of it), and when those samples stay
//! far below the model for a whole round trip, the model is stale.
//!
//! The new rate is the acknowledgement rate over the run (the rate samples themselves lag by a
//! queue-inflated round trip). On a confirmed drop BBR takes it as its new `max_bw` (the filter
//! restarts from it, and samples of packets sent before the drop no longer count), caps
//! inflight at one BDP of it so the standing queue drains at the bottleneck's own speed
//! (pacing alone would drain it at a tenth of that), and goes down to ProbeBW_DOWN. It
//! remembers the capacity it had: while `max_bw` is below 80 % of that memory (for 10 s),
//! bandwidth probes come four minimum RTTs after each drain rather than 2–3 s later, at a gain
//! of 2 and ended as short probes end, so a link that comes back (the cellular swing, a
//! tunnel's end) is found within a second; a probe into a link that did not come back queues
//! about one BDP of the *current*, small rate for a round trip.

use std::time::{Duration, Instant};

use super::params::UNIT_GAIN;
use super::{Bbr, BbrPhase, Gain, RateSample};

/// A sample counts towards a drop when its delivery rate is below this share of BBR.bw.
const DROP_RATE_SHARE: Gain = Gain::permille(500);

/// ... and its RTT above the lowest the connection saw by this share of it (a quarter) ...
const DROP_QUEUE_DIVISOR: u32 = 4;

/// ... and by at least this much, whatever the path's RTT (timer and ACK granularity).
const DROP_QUEUE_FLOOR: Duration = Duration::from_millis(2);

/// The shortest window over which the acknowledgement rate is measured (ACKs may be delayed
/// by up to 25 ms).
const DROP_MIN_WINDOW: Duration = Duration::from_millis(40);

/// A drop never takes the model below this share of BBR.bw at once (a twentieth): the next
/// probe finds the rest.
const DROP_RATE_FLOOR: Gain = Gain::permille(50);

/// How long the memory of the capacity before a drop speeds up probing.
const MEMORY: Duration = Duration::from_secs(10);

/// While the memory holds, a probe comes after this many minimum RTTs ...
const QUICK_PROBE_RTTS: u32 = 4;

/// ... and no sooner than this.
const QUICK_PROBE_FLOOR: Duration = Duration::from_millis(50);

/// While the memory holds, ProbeBW_UP paces at this gain: a link that came back tenfold is
/// found in a few round trips, and a probe into a link that did not queues one BDP of the
/// (small) current rate for about a round trip.
const QUICK_PROBE_GAIN: Gain = Gain::permille(2000);

/// The memory is spent once `max_bw` is back above this share of it.
const MEMORY_RECOVERED: Gain = Gain::permille(800);

/// The state of the capacity-drop watch (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct CapacityWatch {
    /// When the current run of low-rate, queued samples began.
    since: Option<Instant>,
    /// Bytes acknowledged since: over the run, the bottleneck's new rate.
    acked: u64,
    /// C.delivered when the last drop was confirmed: samples of packets sent before it span
    /// the old capacity and must not raise BBR.max_bw again.
    stale_until: u64,
    /// The model's bandwidth before the last drop, and until when it is remembered.
    memory: Option<(u64, Instant)>,
    /// Drops confirmed over the connection's life.
    drops: u64,
}

impl Bbr {
    /// Per ACK, after the model's bandwidth was updated: extends or breaks the run of samples
    /// that say the capacity fell, and acts once it lasted a minimum RTT.
    pub(super) fn check_capacity_drop(&mut self, now: Instant, rs: &RateSample) {
        if !self.params.capacity_drop
            || !self.full_bw_reached
            || self.phase == BbrPhase::ProbeRtt
            || rs.is_app_limited
            || rs.delivery_rate == 0
            || rs.rtt.is_zero()
        {
            return;
        }
        let (Some(min_rtt), Some(path_min)) = (self.min_rtt.min_rtt(), self.path_min_rtt) else {
            return;
        };
        // The flow must have kept a BDP of the model in flight: a window collapsed by an
        // outage or persistent congestion delivers little on any link.
        let filled = rs.tx_in_flight >= self.bdp_multiple(self.bw, UNIT_GAIN);
        let low = filled && rs.delivery_rate < DROP_RATE_SHARE.apply(self.bw);
        let queue = (path_min / DROP_QUEUE_DIVISOR).max(DROP_QUEUE_FLOOR);
        let queued = rs.rtt.saturating_sub(path_min) >= queue;
        if !(low && queued) {
            self.capacity.since = None;
            return;
        }
        let Some(since) = self.capacity.since else {
            self.capacity.since = Some(now);
            self.capacity.acked = 0;
            return;
        };
        let window = min_rtt.max(DROP_MIN_WINDOW);
        let elapsed = now.saturating_duration_since(since);
        if elapsed > 2 * window {
            // A silence (an outage, a stalled ACK path) stretched the run: its rate would
            // measure the silence, not the link. Measure again from here.
            self.capacity.since = Some(now);
            self.capacity.acked = 0;
            return;
        }
        self.capacity.acked = self.capacity.acked.saturating_add(rs.newly_acked);
        if elapsed >= window {
            // While the queue stands the bottleneck never idles: the data acknowledged over
            // the window is what it delivered (rate samples lag by a whole, queue-inflated
            // round trip).
            let rate = super::rate(self.capacity.acked, elapsed);
            self.on_capacity_drop(now, rate.max(DROP_RATE_FLOOR.apply(self.bw)));
        }
    }

    /// A confirmed drop: the model restarts from the measured rate, the standing queue drains
    /// under a one-BDP cap, and the old capacity is remembered for quick probes.
    fn on_capacity_drop(&mut self, now: Instant, rate: u64) {
        let remembered = self.remembered_capacity(now).unwrap_or(0).max(self.max_bw);
        self.capacity = CapacityWatch {
            since: None,
            acked: 0,
            stale_until: self.delivered,
            memory: Some((remembered, now + MEMORY)),
            drops: self.capacity.drops.saturating_add(1),
        };
        self.max_bw_filter.reset(rate, self.cycle_count);
        self.max_bw = rate;
        // BBR.bw follows at the end of this ACK's model update (BoundBWForModel).
        self.bw_shortterm = u64::MAX;
        self.inflight_shortterm = self.inflight_at(rate, UNIT_GAIN);
        self.start_probe_bw_down(now);
    }

    /// Whether `rs` describes a packet sent before the last drop was confirmed.
    pub(super) fn is_stale_sample(&self, rs: &RateSample) -> bool {
        rs.prior_delivered < self.capacity.stale_until
    }

    /// The capacity before the last drop, while it is remembered and not yet regained.
    pub(super) fn remembered_capacity(&self, now: Instant) -> Option<u64> {
        let (bw, until) = self.capacity.memory?;
        (now < until && self.max_bw < MEMORY_RECOVERED.apply(bw)).then_some(bw)
    }

    /// The wait before the next bandwidth probe while a drop's memory holds (see the [module
    /// documentation](self)); `None` otherwise.
    pub(super) fn quick_probe_wait(&self, now: Instant) -> Option<Duration> {
        self.remembered_capacity(now)?;
        let min_rtt = self.min_rtt.min_rtt()?;
        Some((min_rtt * QUICK_PROBE_RTTS).max(QUICK_PROBE_FLOOR))
    }

    /// The pacing gain of a ProbeBW_UP starting at `now`: the configured one, or, while a
    /// drop's memory holds, [`QUICK_PROBE_GAIN`] (at least the configured one).
    pub(super) fn probe_up_gain_at(&self, now: Instant) -> Gain {
        let gain = self.params.effective_probe_up_gain();
        if self.remembered_capacity(now).is_some() {
            gain.max(QUICK_PROBE_GAIN)
        } else {
            gain
        }
    }

    /// Capacity drops confirmed over the connection's life.
    pub fn capacity_drops(&self) -> u64 {
        self.capacity.drops
    }
}
