//! BBR's path model: round counting, BBR.max_bw, ACK aggregation and the loss bounds
//! (draft-ietf-ccwg-bbr-06 §5.5).

use std::time::{Duration, Instant};

use super::params::{EXTRA_ACKED_FILTER_LEN, MAX_BW_FILTER_LEN, UNIT_GAIN};
use super::{Bbr, BbrPhase, LossRound, RateSample};

/// Nanoseconds per second.
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The data `bw` bytes per second deliver in `interval`, saturating.
pub(super) fn volume(bw: u64, interval: Duration) -> u64 {
    u64::try_from(u128::from(bw) * interval.as_nanos() / NANOS_PER_SEC).unwrap_or(u64::MAX)
}

/// Loss-tolerant mode: the fewest lost datagrams that can count as congestion. Random loss of
/// 1 % over a 50-packet round trip loses three or more in under 2 % of rounds; a queue that
/// overflows loses many more.
pub(super) const MIN_CONGESTION_LOSSES: u64 = 3;

/// Loss-tolerant mode: the least standing queue, as a share of the minimum RTT (an eighth), that
/// makes losses congestion. A tail-drop queue drops only when full, and stays full for the
/// round trip the sender needs to react, so every RTT sample of that round carries the whole
/// buffer; a random loss leaves the queue as it was — near empty under BBR.
const QUEUE_EVIDENCE_DIVISOR: u32 = 8;

/// The least standing queue that counts as evidence on any path: below it, ACK and timer
/// granularity blur the difference.
const QUEUE_EVIDENCE_FLOOR: Duration = Duration::from_millis(1);
impl Bbr {
    /// §5.5.10.3, UpdateModelAndState: the per-ACK model and state-machine steps, in the
    /// draft's order.
    pub(super) fn update_model_and_state(&mut self, now: Instant, rs: &RateSample) {
        self.update_latest_delivery_signals(rs);
        self.update_congestion_signals(rs);
        self.update_ack_aggregation(now, rs.newly_acked);
        self.check_full_bw_reached(rs);
        self.check_startup_done(rs);
        self.check_drain_done(now);
        self.update_probe_bw_cycle_phase(now, rs);
        self.min_rtt.update(now, rs.rtt);
        self.check_probe_rtt(now, rs);
        self.advance_latest_delivery_signals(rs);
        self.check_capacity_drop(now, rs);
        self.bound_bw_for_model();
    }

    /// §5.5.1, UpdateRound: a packet-timed round trip ends when a packet sent after it began
    /// is acknowledged.
    fn update_round(&mut self, rs: &RateSample) {
        if rs.prior_delivered >= self.next_round_delivered {
            self.start_round();
            self.round_count += 1;
            self.rounds_since_probe_up += 1;
            self.round_start = true;
            self.cwnd_limited_last_round = std::mem::take(&mut self.cwnd_limited_this_round);
        } else {
            self.round_start = false;
        }
    }

    /// §5.5.1, StartRound.
    pub(super) fn start_round(&mut self) {
        self.next_round_delivered = self.delivered;
    }

    /// §2.2, C.is_cwnd_limited: the window was full at some point of the last round trip.
    pub(super) fn is_cwnd_limited(&self) -> bool {
        self.cwnd_limited_this_round || self.cwnd_limited_last_round
    }

    /// §5.5.5, UpdateMaxBw: application-limited samples count only if they raise the estimate
    /// (§5.5.4).
    fn update_max_bw(&mut self, rs: &RateSample) {
        self.update_round(rs);
        if rs.delivery_rate > 0
            && (rs.delivery_rate >= self.max_bw || !rs.is_app_limited)
            && !self.is_stale_sample(rs)
        {
            self.max_bw =
                self.max_bw_filter
                    .update(rs.delivery_rate, self.cycle_count, MAX_BW_FILTER_LEN);
        }
    }

    /// §5.5.6, AdvanceMaxBwFilter: one ProbeBW cycle ends.
    pub(super) fn advance_max_bw_filter(&mut self) {
        self.cycle_count += 1;
    }

    /// §5.5.9, UpdateACKAggregation: BBR.extra_acked, the data acknowledged beyond what BBR.bw
    /// explains since the ACK rate last fell below it.
    fn update_ack_aggregation(&mut self, now: Instant, newly_acked: u64) {
        let interval = now.saturating_duration_since(self.extra_acked_interval_start);
        let mut expected = volume(self.bw, interval);
        if self.extra_acked_delivered <= expected {
            self.extra_acked_delivered = 0;
            self.extra_acked_interval_start = now;
            expected = 0;
        }
        self.extra_acked_delivered = self.extra_acked_delivered.saturating_add(newly_acked);
        let extra = self
            .extra_acked_delivered
            .saturating_sub(expected)
            .min(self.cwnd);
        // §5.5.9: 10 rounds in steady state, 1 in Startup.
        let window = if self.full_bw_reached {
            EXTRA_ACKED_FILTER_LEN
        } else {
            1
        };
        self.extra_acked = self
            .extra_acked_filter
            .update(extra, self.round_count, window);
    }

    /// §5.5.10.3, UpdateLatestDeliverySignals (near the start of ACK processing).
    fn update_latest_delivery_signals(&mut self, rs: &RateSample) {
        self.loss_round_start = false;
        self.ended_loss_round = None;
        self.bw_latest = self.bw_latest.max(rs.delivery_rate);
        self.inflight_latest = self.inflight_latest.max(rs.delivered);
        if self.is_loss_in_round && !rs.rtt.is_zero() {
            self.loss_round_min_rtt = self.loss_round_min_rtt.min(rs.rtt);
        }
        self.random_loss.on_rtt(rs.rtt);
        if rs.prior_delivered >= self.loss_round_delivered {
            self.end_random_loss_round();
            if self.is_loss_in_round {
                self.ended_loss_round = Some(LossRound {
                    lost: self.loss_round_lost,
                    delivered: self.delivered.saturating_sub(self.loss_round_base),
                    events: self.loss_round_events,
                    min_rtt: self.loss_round_min_rtt,
                });
            }
            self.loss_round_delivered = self.delivered;
            self.loss_round_start = true;
        }
    }

    /// Feeds the loss round that just ended (the rounds of §5.5.10.3, `loss_round_delivered`)
    /// to the random-loss estimate, judged as the loss rule judges it: lost with a standing
    /// queue (or marked CE) is congestion; Startup, bandwidth probes and ProbeBW_DOWN, which
    /// drains a probe's queue, say nothing either way.
    fn end_random_loss_round(&mut self) {
        use super::random_loss::RoundVerdict;
        let verdict =
            if self.is_probing_bw() || !self.full_bw_reached || self.phase == BbrPhase::ProbeBwDown
            {
                RoundVerdict::Probing
            } else if self.is_loss_in_round
                && (self.loss_round_lost == 0 || self.shows_standing_queue(self.loss_round_min_rtt))
            {
                RoundVerdict::Congested
            } else {
                RoundVerdict::Random
            };
        let lost = if self.is_loss_in_round {
            self.loss_round_lost
        } else {
            0
        };
        self.random_loss
            .end_round(self.delivered, lost, verdict, self.max_datagram_size);
        let round_min_rtt = self.random_loss.take_round_min_rtt();
        let queued = self.shows_compensation_queue(round_min_rtt.unwrap_or(Duration::MAX));
        self.random_loss.set_queued(queued);
    }

    /// Whether a round whose smallest RTT was `rtt` held a queue that the random-loss
    /// compensation must let drain: above the lowest RTT the connection saw by a
    /// thirty-second of it, or one datagram's time at BBR.bw, or 1 ms, whichever is most. A
    /// tighter test than the loss rule's eighth: the compensation's own excess would
    /// otherwise fill that eighth (25 ms on a 200 ms path) round after round.
    fn shows_compensation_queue(&self, rtt: Duration) -> bool {
        let datagram_time = if self.bw > 0 {
            Duration::from_nanos(
                u64::try_from(
                    u128::from(self.max_datagram_size) * 1_000_000_000 / u128::from(self.bw),
                )
                .unwrap_or(u64::MAX),
            )
        } else {
            Duration::ZERO
        };
        self.queued_above(rtt, |min_rtt| {
            (min_rtt / 32).max(datagram_time).max(QUEUE_EVIDENCE_FLOOR)
        })
    }

    /// The rate to send at for a delivery rate of `bw`: `bw / (1 − p)` in ProbeBW with weir's
    /// random-loss compensation (see the `random_loss` module), else `bw`.
    pub(super) fn sending_rate_for(&self, bw: u64) -> u64 {
        if self.params.random_loss_compensation
            && self.params.loss_tolerant
            && self.full_bw_reached
            && self.is_in_probe_bw_state()
        {
            self.random_loss.compensate(bw, self.max_datagram_size)
        } else {
            bw
        }
    }

    /// §5.5.10.3, AdvanceLatestDeliverySignals (near the end of ACK processing).
    fn advance_latest_delivery_signals(&mut self, rs: &RateSample) {
        if self.loss_round_start {
            self.bw_latest = rs.delivery_rate;
            self.inflight_latest = rs.delivered;
        }
    }

    /// §5.5.10.3, ResetCongestionSignals.
    pub(super) fn reset_congestion_signals(&mut self) {
        self.is_loss_in_round = false;
        self.bw_latest = 0;
        self.inflight_latest = 0;
    }

    /// §5.5.10.3, UpdateCongestionSignals.
    fn update_congestion_signals(&mut self, rs: &RateSample) {
        self.update_max_bw(rs);
        if !self.loss_round_start {
            return;
        }
        self.adapt_lower_bounds_from_congestion();
        self.is_loss_in_round = false;
    }

    /// §5.5.10.3, AdaptLowerBoundsFromCongestion: once per round with loss, when not probing,
    /// slow down towards the latest delivery process.
    fn adapt_lower_bounds_from_congestion(&mut self) {
        if self.is_probing_bw() {
            return;
        }
        let tolerated = self.params.loss_tolerant
            && self.ended_loss_round.is_none_or(|round| {
                let total = round.delivered.saturating_add(round.lost);
                !self.is_congestion_loss(round.lost, total, round.min_rtt)
            });
        if self.is_loss_in_round && !tolerated {
            // InitLowerBounds.
            if self.bw_shortterm == u64::MAX {
                self.bw_shortterm = self.max_bw;
            }
            if self.inflight_shortterm == u64::MAX {
                self.inflight_shortterm = self.cwnd;
            }
            // LossLowerBounds.
            self.bw_shortterm = self
                .bw_latest
                .max(self.params.beta.apply(self.bw_shortterm));
            self.inflight_shortterm = self
                .inflight_latest
                .max(self.params.beta.apply(self.inflight_shortterm));
        }
    }

    /// §5.5.10.3, ResetShortTermModel.
    pub(super) fn reset_short_term_model(&mut self) {
        self.bw_shortterm = u64::MAX;
        self.inflight_shortterm = u64::MAX;
    }

    /// §5.5.10.3, BoundBWForModel.
    pub(super) fn bound_bw_for_model(&mut self) {
        self.bw = self.max_bw.min(self.bw_shortterm);
    }

    /// §5.5.10.2, NoteLoss: a loss (or CE mark) of `lost` bytes; the first of a round starts
    /// the loss round and saves state (SaveStateUponLoss, §5.5.11.1: only the cwnd, as there is
    /// no undo).
    pub(super) fn note_loss(&mut self, lost: u64) {
        if !self.is_loss_in_round {
            self.loss_round_delivered = self.delivered;
            self.loss_round_base = self.delivered;
            self.loss_round_lost = 0;
            self.loss_round_events = 0;
            self.loss_round_min_rtt = Duration::MAX;
            self.save_cwnd();
        }
        self.is_loss_in_round = true;
        self.loss_round_lost = self.loss_round_lost.saturating_add(lost);
        if lost > 0 {
            self.loss_round_events = self.loss_round_events.saturating_add(1);
        }
    }

    /// §5.5.10.2, HandleLostPacket, applied to the sample of the ACK after the losses (see the
    /// module documentation): while bandwidth-probing samples arrive, too much loss caps
    /// inflight.
    pub(super) fn handle_lost_packets(&mut self, now: Instant, rs: &RateSample) {
        if !self.is_bw_probe_sample {
            return;
        }
        if self.is_inflight_too_high(rs) {
            self.handle_inflight_too_high(now, rs);
        }
    }

    /// §5.5.10.2, IsInflightTooHigh: the loss rate since the sample's packet was sent exceeds
    /// BBR.LossThresh (QUIC always has selective acknowledgements). Loss-tolerant (weir's
    /// default, see [`BbrConfig::loss_tolerant`](super::BbrConfig)): see
    /// [`is_congestion_loss`](Self::is_congestion_loss); the queue is judged by the smallest
    /// RTT since the losses began, this sample's included.
    pub(super) fn is_inflight_too_high(&self, rs: &RateSample) -> bool {
        let rtt = if rs.rtt.is_zero() {
            self.loss_round_min_rtt
        } else {
            self.loss_round_min_rtt.min(rs.rtt)
        };
        self.is_congestion_loss(rs.lost, rs.tx_in_flight, rtt)
    }

    /// Whether losing `lost` bytes out of `total`, with `rtt` the smallest RTT sample seen
    /// since the losses began, is congestion rather than noise. The draft: a loss rate above
    /// BBR.LossThresh. Loss-tolerant: a loss rate above twice that, at least
    /// [`MIN_CONGESTION_LOSSES`] datagrams, *and* a standing queue — `rtt` above the minimum RTT
    /// by an eighth of it (at least 1 ms). A tail-drop queue drops only when it is full and
    /// stays full until the sender reacts, so congestive losses come with every RTT sample of
    /// their round raised by the whole buffer; losses on a lossy radio link come with the
    /// queue as BBR keeps it, near empty. The baseline is the lowest RTT the connection ever
    /// saw (see `path_min_rtt`); without one yet, losses are congestion.
    pub(super) fn is_congestion_loss(&self, lost: u64, total: u64, rtt: Duration) -> bool {
        if self.params.loss_tolerant {
            lost > 2 * self.params.loss_thresh.apply(total)
                && lost >= MIN_CONGESTION_LOSSES * self.max_datagram_size
                && self.shows_standing_queue(rtt)
        } else {
            lost > self.params.loss_thresh.apply(total)
        }
    }

    /// Whether an RTT of `rtt` (the least of a round) means a standing queue at the
    /// bottleneck, against the lowest RTT the connection ever saw; see
    /// [`is_congestion_loss`](Self::is_congestion_loss). `Duration::MAX` (no sample) counts as
    /// one.
    fn shows_standing_queue(&self, rtt: Duration) -> bool {
        self.queued_above(rtt, |min_rtt| {
            (min_rtt / QUEUE_EVIDENCE_DIVISOR).max(QUEUE_EVIDENCE_FLOOR)
        })
    }

    /// Whether `rtt` stands above the lowest RTT the connection ever saw (BBR.min_rtt before
    /// the connection handed one over) by at least `threshold(lowest)`; with no baseline yet,
    /// it counts as a queue. The one baseline of the loss rule's and the compensation's tests.
    fn queued_above(&self, rtt: Duration, threshold: impl FnOnce(Duration) -> Duration) -> bool {
        let Some(min_rtt) = self.path_min_rtt.or(self.min_rtt.min_rtt()) else {
            return true;
        };
        rtt.saturating_sub(min_rtt) >= threshold(min_rtt)
    }

    /// §5.5.10.2, HandleInflightTooHigh.
    fn handle_inflight_too_high(&mut self, now: Instant, rs: &RateSample) {
        self.prev_probe_too_high = true;
        self.is_bw_probe_sample = false;
        if !rs.is_app_limited {
            self.inflight_longterm = rs
                .tx_in_flight
                .max(self.params.beta.apply(self.target_inflight()));
        }
        if self.phase == BbrPhase::ProbeBwUp {
            self.start_probe_bw_down(now);
        }
    }

    /// §5.3.3.8.3, TargetInflight: the BDP, unless congestion cut the cwnd below it.
    pub(super) fn target_inflight(&self) -> u64 {
        self.bdp_multiple(self.bw, UNIT_GAIN).min(self.cwnd)
    }

    /// §5.3.3.9, ProbeInflightLongtermUpward: while the cwnd is limited by
    /// BBR.inflight_longterm in ProbeBW_UP, raise it by one SMSS per BBR.probe_up_acked_per_inc
    /// acknowledged.
    pub(super) fn probe_inflight_longterm_upward(&mut self, rs: &RateSample) {
        if !self.is_cwnd_limited() || self.cwnd < self.inflight_longterm {
            return;
        }
        self.bw_probe_up_acked = self.bw_probe_up_acked.saturating_add(rs.newly_acked);
        if self.bw_probe_up_acked >= self.probe_up_acked_per_inc {
            let delta = self.bw_probe_up_acked / self.probe_up_acked_per_inc;
            self.bw_probe_up_acked -= delta * self.probe_up_acked_per_inc;
            self.inflight_longterm = self
                .inflight_longterm
                .saturating_add(delta.saturating_mul(self.max_datagram_size));
        }
        if self.round_start {
            self.raise_inflight_longterm_slope();
        }
    }

    /// §5.3.3.9, RaiseInflightLongtermSlope: the increments double every round of ProbeBW_UP.
    pub(super) fn raise_inflight_longterm_slope(&mut self) {
        let growth_this_round = 1u64 << self.bw_probe_up_rounds;
        self.bw_probe_up_rounds =
            (self.bw_probe_up_rounds + 1).min(super::params::MAX_PROBE_UP_ROUNDS);
        self.probe_up_acked_per_inc = (self.cwnd / growth_this_round).max(self.max_datagram_size);
    }

    /// §5.3.3.9, AdaptLongTermModel: tracks the ACK phase, advances the max_bw filter's cycle
    /// and raises BBR.inflight_longterm while losses are tolerable. Returns whether it decided a
    /// state transition.
    pub(super) fn adapt_long_term_model(&mut self, rs: &RateSample) -> bool {
        use super::AckPhase;
        if self.ack_phase == AckPhase::ProbeStarting && self.round_start {
            self.ack_phase = AckPhase::ProbeFeedback;
        }
        if self.ack_phase == AckPhase::ProbeStopping && self.round_start {
            self.is_bw_probe_sample = false;
            self.ack_phase = AckPhase::Init;
            if self.is_in_probe_bw_state() && !rs.is_app_limited {
                self.advance_max_bw_filter();
            }
            // §5.3.3.6: precautionary probing succeeded; probe again at once.
            if self.is_in_probe_bw_state()
                && self.prev_probe_precautionary
                && !self.prev_probe_too_high
            {
                self.start_probe_bw_refill();
                return true;
            }
        }
        if !self.is_inflight_too_high(rs) {
            if self.inflight_longterm == u64::MAX {
                return false;
            }
            if rs.tx_in_flight > self.inflight_longterm {
                self.inflight_longterm = rs.tx_in_flight;
            }
            if self.phase == BbrPhase::ProbeBwUp {
                self.probe_inflight_longterm_upward(rs);
            }
        }
        false
    }
}
