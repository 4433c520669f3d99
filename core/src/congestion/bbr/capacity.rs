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
//! queue-inflated round trip), measured over at least a minimum RTT (40 ms) and three ACKs; a
//! run survives gaps between ACKs up to half the RTT sample, since on a 100 kbit/s link a full
//! packet is acknowledged only every 116 ms, and a drop of several hundredfold (Wi-Fi into a
//! 2G tunnel) is followed run after run, at most a sixtieth at a time. The queue is measured
//! above the path's base RTT — the lowest the connection saw, or BBR.min_rtt once that holds a
//! longer path's round trip — so that a window held down by losses on a path whose RTT grew
//! is not taken for a drop.
//!
//! An outage (no acknowledgement for a second) says nothing about the capacity: samples of the
//! packets sent before it ended are ignored, and BBR.min_rtt restarts from the first packet
//! sent after it, since the path may have changed under the same addresses (a handover from
//! Wi-Fi to LTE), and a minimum kept from the shorter old path would read the new round trip
//! as a standing queue. On a confirmed drop BBR takes it as its new `max_bw` (the filter
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

/// ... over at least this many acknowledgements after the run's first (one gap between two
/// ACKs is too noisy a rate on a slow link).
const DROP_MIN_ACKS: u32 = 3;

/// A drop never takes the model below this share of BBR.bw at once (about a sixtieth): the
/// next probe finds the rest.
const DROP_RATE_FLOOR: Gain = Gain::permille(16);

/// A silence of the acknowledgements this long is an outage, not a slow link (a 64 kbit/s 2G
/// link still acknowledges a full packet every 200 ms) nor a path whose round trip grew (from
/// Wi-Fi into a 2G tunnel the ACKs pause for the new path's 600 ms).
const OUTAGE: Duration = Duration::from_secs(1);

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
    /// The run's latest acknowledgement and how many came after its first.
    last_ack: Option<Instant>,
    acks: u32,
    /// The latest acknowledgement with a rate sample, run or not.
    latest: Option<Instant>,
    /// C.delivered when the ACKs came back after an outage: samples of packets sent before it
    /// ended are not evidence either way.
    outage_until: u64,
    /// Whether BBR.min_rtt restarts from the first sample of a packet sent after the outage.
    rtt_restart: bool,
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
        if !self.params.capacity_drop {
            return;
        }
        if self
            .capacity
            .latest
            .replace(now)
            .is_some_and(|at| now.saturating_duration_since(at) > OUTAGE)
        {
            // An outage (a handover, a radio fade): the window collapsed meanwhile and the
            // path after it may have a longer round trip, so what the packets sent before its
            // end deliver says nothing about the capacity.
            self.capacity.outage_until = self.delivered;
            self.capacity.rtt_restart = true;
            self.capacity.since = None;
        }
        if self.capacity.rtt_restart
            && rs.prior_delivered >= self.capacity.outage_until
            && !rs.rtt.is_zero()
        {
            // The path after an outage may be another one (a handover from Wi-Fi to LTE): its
            // round trip is what the first packet sent over it measured, and a minimum kept
            // from the old path would read the new one's longer RTT as a queue — as a capacity
            // drop, for a window sized to the old RTT (and a short BDP, too small a window).
            self.capacity.rtt_restart = false;
            let before = self.min_rtt.min_rtt();
            self.min_rtt.restart(now, rs.rtt);
            if let Some(before) = before.filter(|&b| rs.rtt > b && self.full_bw_reached) {
                // A longer round trip: the rate the old path carried is not known to hold on
                // this one, the window it needed is. Keep the old BDP in bytes (the rate
                // scaled down by the RTTs' ratio) and probe quickly for the rest, as after a
                // drop.
                let scaled = u128::from(self.max_bw) * before.as_nanos() / rs.rtt.as_nanos();
                self.on_capacity_drop(now, u64::try_from(scaled).unwrap_or(u64::MAX).max(1));
            }
        }
        if !self.full_bw_reached
            || self.phase == BbrPhase::ProbeRtt
            || rs.is_app_limited
            || rs.delivery_rate == 0
            || rs.rtt.is_zero()
            || rs.prior_delivered < self.capacity.outage_until
        {
            return;
        }
        let (Some(min_rtt), Some(path_min)) = (self.min_rtt.min_rtt(), self.path_min_rtt) else {
            return;
        };
        // The path's base RTT: the lowest RTT the connection saw, or BBR.min_rtt where that
        // is higher — after a path change to a longer round trip (a handover, a tunnel's 2G)
        // every sample is far above the old path's minimum, and a window that losses hold
        // down would read as a drop; once the min-RTT filter holds the new path's RTT, only a
        // real queue counts.
        let base = path_min.max(min_rtt);
        // The flow must have kept a BDP of the model in flight: a window collapsed by an
        // outage or persistent congestion delivers little on any link.
        let filled = rs.tx_in_flight >= super::model::volume(self.bw, base);
        let low = filled && rs.delivery_rate < DROP_RATE_SHARE.apply(self.bw);
        let queue = (base / DROP_QUEUE_DIVISOR).max(DROP_QUEUE_FLOOR);
        let queued = rs.rtt.saturating_sub(base) >= queue;
        if !(low && queued) {
            // A sample of a packet sent before the last drop spans the old capacity: its
            // rate does not break a run (a low one still extends it).
            if !self.is_stale_sample(rs) {
                self.capacity.since = None;
            }
            return;
        }
        let window = min_rtt.max(DROP_MIN_WINDOW);
        // A silence (an outage, a stalled ACK path) would make the run measure the silence,
        // not the link: measure again after a gap longer than two windows and half this
        // sample's RTT. On a slow link ACKs come a datagram's serialisation apart (116 ms for
        // 1452 bytes at 100 kbit/s), which a window of the old, fast path's RTT would take for
        // silence, but the RTT, inflated by the queue the drop built, is longer still.
        let silence = (2 * window).max(rs.rtt / 2);
        let restart = match (self.capacity.since, self.capacity.last_ack) {
            (Some(_), Some(last)) => now.saturating_duration_since(last) > silence,
            _ => true,
        };
        self.capacity.last_ack = Some(now);
        if restart {
            self.capacity.since = Some(now);
            self.capacity.acked = 0;
            self.capacity.acks = 0;
            return;
        }
        let Some(since) = self.capacity.since else {
            return;
        };
        let elapsed = now.saturating_duration_since(since);
        self.capacity.acked = self.capacity.acked.saturating_add(rs.newly_acked);
        self.capacity.acks = self.capacity.acks.saturating_add(1);
        if elapsed >= window && self.capacity.acks >= DROP_MIN_ACKS {
            // While the queue stands the bottleneck never idles: the data acknowledged over
            // the window is what it delivered (rate samples lag by a whole, queue-inflated
            // round trip).
            let rate = super::rate(self.capacity.acked, elapsed);
            if rate >= DROP_RATE_SHARE.apply(self.bw) {
                // The bottleneck delivered more than the samples said (they lag): no drop.
                self.capacity.since = None;
                return;
            }
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
            last_ack: None,
            acks: 0,
            latest: Some(now),
            outage_until: self.capacity.outage_until,
            rtt_restart: self.capacity.rtt_restart,
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
