//! BBR's state machine: Startup, Drain, the four ProbeBW states, ProbeRTT and restart from
//! idle (draft-ietf-ccwg-bbr-06 §5.3, §5.4).

use std::time::{Duration, Instant};

use rand::RngExt;

use super::params::{
    DEFAULT_CWND_GAIN, DRAIN_MAX_ROUNDS, DRAIN_PACING_GAIN, FULL_BW_COUNT, FULL_BW_GROWTH,
    LEAN_PROBE_DOWN_PACING_GAIN, LEAN_PROBE_FULL_BW_COUNT, PROBE_DOWN_PACING_GAIN,
    PROBE_RTT_CWND_GAIN, PROBE_RTT_DURATION, PROBE_UP_CWND_GAIN, PROBE_WAIT_BASE,
    PROBE_WAIT_RANDOM_MICROS, RENO_ROUNDS_MAX, STARTUP_FULL_LOSS_COUNT, STARTUP_PACING_GAIN,
    STARTUP_QUEUE_MAX, STARTUP_QUEUE_MIN, UNIT_GAIN,
};
use super::{AckPhase, Bbr, BbrPhase, Gain, RateSample};

impl Bbr {
    /// §5.3.1.1, EnterStartup.
    pub(super) fn enter_startup(&mut self) {
        self.phase = BbrPhase::Startup;
        self.pacing_gain = STARTUP_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    /// §5.3.1.2, ResetFullBW.
    pub(super) fn reset_full_bw(&mut self) {
        self.full_bw = 0;
        self.full_bw_count = 0;
        self.full_bw_now = false;
    }

    /// §5.3.1.2, CheckFullBWReached: three non-application-limited rounds in a row whose
    /// delivery rate grew less than 25 % mean the pipe is full.
    pub(super) fn check_full_bw_reached(&mut self, rs: &RateSample) {
        if self.full_bw_now || !self.round_start || rs.is_app_limited || rs.delivery_rate == 0 {
            return;
        }
        if rs.delivery_rate >= FULL_BW_GROWTH.apply(self.full_bw) {
            self.reset_full_bw();
            self.full_bw = rs.delivery_rate;
            return;
        }
        let lean_probe = self.lean_probes() && self.phase == BbrPhase::ProbeBwUp;
        if lean_probe && self.ack_phase != AckPhase::ProbeFeedback {
            // weir's lean probes: judge only rounds whose samples carry the probe's own rate.
            return;
        }
        self.full_bw_count += 1;
        // A lean probe is judged early only if it did put its extra data in flight: a window
        // capped from outside (the connection's queue guard) holds the rate flat whatever the
        // path could carry, and then the draft's three rounds apply.
        let needed =
            if lean_probe && self.inflight >= self.bdp_multiple(self.max_bw, self.probe_gain) {
                LEAN_PROBE_FULL_BW_COUNT
            } else {
                FULL_BW_COUNT
            };
        self.full_bw_now = self.full_bw_count >= needed;
        if self.full_bw_now {
            self.full_bw_reached = true;
        }
    }

    /// §5.3.1.1, CheckStartupDone.
    pub(super) fn check_startup_done(&mut self, rs: &RateSample) {
        if self.phase == BbrPhase::Startup && !rs.rtt.is_zero() {
            self.startup_round_min_rtt = Some(
                self.startup_round_min_rtt
                    .map_or(rs.rtt, |min| min.min(rs.rtt)),
            );
        }
        self.check_startup_high_loss();
        self.check_startup_queue();
        if self.phase == BbrPhase::Startup && self.full_bw_reached {
            self.enter_drain();
        }
    }

    /// §5.3.1.3, CheckStartupHighLoss: a full loss round in Startup with a loss rate above
    /// BBR.LossThresh and at least BBRStartupFullLossCnt loss events ends Startup.
    fn check_startup_high_loss(&mut self) {
        if self.phase != BbrPhase::Startup || self.full_bw_reached {
            return;
        }
        let Some(round) = self.ended_loss_round else {
            return;
        };
        let total = round.lost.saturating_add(round.delivered);
        if round.events < STARTUP_FULL_LOSS_COUNT
            || !self.is_congestion_loss(round.lost, total, round.min_rtt)
        {
            return;
        }
        self.full_bw_reached = true;
        self.full_bw_now = true;
        self.inflight_longterm = self
            .bdp_multiple(self.bw, UNIT_GAIN)
            .max(self.inflight_latest);
    }

    /// weir's Startup queue exit ([`BbrConfig::startup_queue_exit`](super::BbrConfig)): a
    /// round of Startup whose smallest RTT stands above the lowest the connection saw by
    /// `clamp(lowest / 8, 4 ms, 16 ms)` (RFC 9406's delay threshold) means the bottleneck has
    /// held a queue for the whole round: the sending rate passed the bottleneck's, so the
    /// delivery rate measured is its rate, and the pipe is full. Judged at each round's end,
    /// from the second round on (the first carries the initial window's burst).
    fn check_startup_queue(&mut self) {
        let round_min = self.startup_round_min_rtt.take_if(|_| self.round_start);
        if !self.params.startup_queue_exit
            || self.phase != BbrPhase::Startup
            || self.full_bw_reached
            || self.round_count < 2
        {
            return;
        }
        let (Some(round_min), Some(lowest)) = (round_min, self.path_min_rtt) else {
            return;
        };
        let threshold = (lowest / 8).clamp(STARTUP_QUEUE_MIN, STARTUP_QUEUE_MAX);
        if round_min.saturating_sub(lowest) >= threshold {
            self.full_bw_reached = true;
            self.full_bw_now = true;
            self.startup_queue_exits += 1;
        }
    }

    /// §5.3.2, EnterDrain.
    fn enter_drain(&mut self) {
        self.phase = BbrPhase::Drain;
        self.pacing_gain = DRAIN_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
        self.drain_start_round = self.round_count;
    }

    /// §5.3.2, CheckDrainDone: the queue is gone once inflight is at most the BDP, or after
    /// three rounds.
    pub(super) fn check_drain_done(&mut self, now: Instant) {
        if self.phase == BbrPhase::Drain
            && (self.inflight <= self.inflight_at(self.bw, UNIT_GAIN)
                || self.round_count > self.drain_start_round + DRAIN_MAX_ROUNDS)
        {
            self.enter_probe_bw(now);
        }
    }

    /// §5.3.3.9, EnterProbeBW.
    pub(super) fn enter_probe_bw(&mut self, now: Instant) {
        self.cwnd_gain = DEFAULT_CWND_GAIN;
        self.start_probe_bw_down(now);
    }

    /// §5.3.3.9, StartProbeBW_DOWN (gains from §5.6.1).
    pub(super) fn start_probe_bw_down(&mut self, now: Instant) {
        self.reset_congestion_signals();
        self.probe_up_acked_per_inc = u64::MAX;
        self.pick_probe_wait();
        self.cycle_stamp = now;
        self.ack_phase = AckPhase::ProbeStopping;
        self.start_round();
        self.phase = BbrPhase::ProbeBwDown;
        self.pacing_gain = if self.lean_probes() {
            LEAN_PROBE_DOWN_PACING_GAIN
        } else {
            PROBE_DOWN_PACING_GAIN
        };
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    /// §5.3.3.9, StartProbeBW_CRUISE.
    fn start_probe_bw_cruise(&mut self) {
        self.phase = BbrPhase::ProbeBwCruise;
        self.pacing_gain = UNIT_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    /// §5.3.3.9, StartProbeBW_REFILL.
    pub(super) fn start_probe_bw_refill(&mut self) {
        self.reset_short_term_model();
        self.bw_probe_up_rounds = 0;
        self.bw_probe_up_acked = 0;
        self.prev_probe_precautionary = false;
        self.ack_phase = AckPhase::Refilling;
        self.start_round();
        self.phase = BbrPhase::ProbeBwRefill;
        self.pacing_gain = UNIT_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    /// §5.3.3.9, StartProbeBW_UP.
    fn start_probe_bw_up(&mut self, now: Instant, rs: &RateSample) {
        self.ack_phase = AckPhase::ProbeStarting;
        self.start_round();
        self.reset_full_bw();
        self.full_bw = rs.delivery_rate;
        self.phase = BbrPhase::ProbeBwUp;
        self.probe_gain = self.probe_up_gain_at(now);
        self.pacing_gain = self.probe_gain;
        self.cwnd_gain = PROBE_UP_CWND_GAIN.max(Gain::permille(
            self.probe_gain
                .as_permille()
                .saturating_add(UNIT_GAIN.as_permille()),
        ));
        self.raise_inflight_longterm_slope();
    }

    /// §5.3.3.9, UpdateProbeBWCyclePhase: the ProbeBW state machine, on every ACK.
    pub(super) fn update_probe_bw_cycle_phase(&mut self, now: Instant, rs: &RateSample) {
        if !self.full_bw_reached {
            return;
        }
        if self.adapt_long_term_model(rs) {
            return;
        }
        match self.phase {
            BbrPhase::ProbeBwDown => {
                if !self.is_time_to_probe_bw(now) && self.is_time_to_cruise() {
                    self.start_probe_bw_cruise();
                }
            }
            BbrPhase::ProbeBwCruise => {
                self.is_time_to_probe_bw(now);
            }
            BbrPhase::ProbeBwRefill => {
                // One round of refilling, then probe.
                if self.round_start {
                    self.is_bw_probe_sample = true;
                    self.start_probe_bw_up(now, rs);
                }
            }
            BbrPhase::ProbeBwUp => {
                if self.is_time_to_go_down(now, rs) {
                    self.prev_probe_too_high = false;
                    self.start_probe_bw_down(now);
                }
            }
            BbrPhase::Startup | BbrPhase::Drain | BbrPhase::ProbeRtt => {}
        }
    }

    /// §5.3.3.9, IsInAProbeBWState.
    pub(super) fn is_in_probe_bw_state(&self) -> bool {
        matches!(
            self.phase,
            BbrPhase::ProbeBwDown
                | BbrPhase::ProbeBwCruise
                | BbrPhase::ProbeBwRefill
                | BbrPhase::ProbeBwUp
        )
    }

    /// §5.3.3.9, IsProbingBW.
    pub(super) fn is_probing_bw(&self) -> bool {
        matches!(
            self.phase,
            BbrPhase::Startup | BbrPhase::ProbeBwRefill | BbrPhase::ProbeBwUp
        )
    }

    /// §5.3.3.8.3, IsTimeToProbeBW: from DOWN or CRUISE to REFILL after the randomised wall
    /// clock wait or the Reno-coexistence number of rounds, whichever comes first.
    fn is_time_to_probe_bw(&mut self, now: Instant) -> bool {
        // weir: after a capacity drop, probe again as soon as the queue drained (CRUISE) and
        // a few round trips passed (see `capacity`).
        let wait = match self.quick_probe_wait(now) {
            Some(quick) if self.phase == BbrPhase::ProbeBwCruise => quick.min(self.bw_probe_wait),
            _ => self.bw_probe_wait,
        };
        let elapsed = now > self.cycle_stamp + wait;
        if elapsed || self.is_reno_coexistence_probe_time() {
            self.start_probe_bw_refill();
            return true;
        }
        false
    }

    /// §5.3.3.8.3, PickProbeWait: 0 or 1 rounds already counted, and 2 s plus 0–1 s.
    fn pick_probe_wait(&mut self) {
        self.rounds_since_probe_up = self.rng.random_range(0..=1u64);
        let random = self.rng.random_range(0..PROBE_WAIT_RANDOM_MICROS);
        self.bw_probe_wait = PROBE_WAIT_BASE + Duration::from_micros(random);
    }

    /// §5.3.3.8.3, IsRenoCoexistenceProbeTime: as many rounds as the BDP has packets, at most
    /// 63.
    fn is_reno_coexistence_probe_time(&self) -> bool {
        let reno_rounds = self.target_inflight() / self.max_datagram_size;
        self.rounds_since_probe_up >= reno_rounds.min(RENO_ROUNDS_MAX)
    }

    /// §5.3.3.9, IsTimeToCruise: DOWN has drained to the headroom target and the BDP.
    fn is_time_to_cruise(&self) -> bool {
        self.inflight <= self.inflight_with_headroom()
            && self.inflight <= self.inflight_at(self.max_bw, UNIT_GAIN)
    }

    /// §5.3.3.9, IsTimeToGoDown: UP ends at a bandwidth plateau, or early when a precautionary
    /// probe reaches the inflight that was too high last time.
    fn is_time_to_go_down(&mut self, now: Instant, rs: &RateSample) -> bool {
        let short = self.params.short_probes || self.remembered_capacity(now).is_some();
        if short
            && self.ack_phase == AckPhase::ProbeFeedback
            && self.inflight > self.bdp_multiple(self.max_bw, self.probe_gain)
        {
            // The probe has queued a quarter of a BDP without raising the bandwidth estimate
            // (which would have raised the target): see `BbrConfig::short_probes`.
            return true;
        }
        if self.prev_probe_too_high && self.inflight >= self.inflight_longterm {
            self.prev_probe_precautionary = true;
            return true;
        }
        if self.is_cwnd_limited() && self.cwnd >= self.inflight_longterm {
            // The bandwidth is limited by BBR.inflight_longterm, not the path: keep probing.
            self.reset_full_bw();
            self.full_bw = rs.delivery_rate;
        } else if self.full_bw_now {
            return true;
        }
        false
    }

    /// §5.3.4.3, CheckProbeRTT.
    pub(super) fn check_probe_rtt(&mut self, now: Instant, rs: &RateSample) {
        if self.phase != BbrPhase::ProbeRtt
            && self.min_rtt.probe_rtt_expired()
            && !self.idle_restart
        {
            self.enter_probe_rtt();
            self.save_cwnd();
            self.probe_rtt_done_stamp = None;
            self.ack_phase = AckPhase::ProbeStopping;
            self.start_round();
        }
        if self.phase == BbrPhase::ProbeRtt {
            self.handle_probe_rtt(now);
        }
        if rs.delivered > 0 {
            self.idle_restart = false;
        }
    }

    /// §5.3.4.3, EnterProbeRTT.
    fn enter_probe_rtt(&mut self) {
        self.phase = BbrPhase::ProbeRtt;
        // The draft paces at 1.0 here; weir spreads the window over the round trip:
        // `update_control_parameters`, which follows on the same ACK, sets the gain (see
        // `probe_rtt_pacing_gain` and the module docs' deviations).
        self.cwnd_gain = PROBE_RTT_CWND_GAIN;
    }

    /// §5.3.4.3, HandleProbeRTT: once inflight is down to the ProbeRTT cwnd, hold it for
    /// BBR.ProbeRTTDuration and a round.
    fn handle_probe_rtt(&mut self, now: Instant) {
        // MarkConnectionAppLimited: low samples of ProbeRTT must not lower max_bw.
        self.app_limited_until = self.delivered.saturating_add(self.inflight).max(1);
        if self.probe_rtt_done_stamp.is_none() && self.inflight <= self.probe_rtt_cwnd() {
            self.probe_rtt_done_stamp = Some(now + PROBE_RTT_DURATION);
            self.probe_rtt_round_done = false;
            self.start_round();
        } else if self.probe_rtt_done_stamp.is_some() {
            if self.round_start {
                self.probe_rtt_round_done = true;
            }
            if self.probe_rtt_round_done {
                self.check_probe_rtt_done(now);
            }
        }
    }

    /// §5.3.4.3, CheckProbeRTTDone.
    fn check_probe_rtt_done(&mut self, now: Instant) {
        if self.probe_rtt_done_stamp.is_some_and(|done| now > done) {
            self.min_rtt.schedule_next_probe(now);
            self.restore_cwnd();
            self.exit_probe_rtt(now);
        }
    }

    /// §5.3.4.4, ExitProbeRTT: back to ProbeBW (straight to CRUISE, inflight is already below
    /// the BDP), or to Startup if the pipe was never filled.
    fn exit_probe_rtt(&mut self, now: Instant) {
        self.reset_short_term_model();
        if self.full_bw_reached {
            self.start_probe_bw_down(now);
            self.start_probe_bw_cruise();
        } else {
            self.enter_startup();
        }
    }

    /// §5.4.1, HandleRestartFromIdle: before a send with nothing in flight after an
    /// application-limited period, pace at exactly BBR.bw in ProbeBW, or finish a ProbeRTT
    /// whose time has passed.
    pub(super) fn handle_restart_from_idle(&mut self, now: Instant, inflight_before: u64) {
        if inflight_before == 0 && self.app_limited_hint {
            self.idle_restart = true;
            self.extra_acked_interval_start = now;
            if self.is_in_probe_bw_state() {
                self.set_pacing_rate_with_gain(UNIT_GAIN);
            } else if self.phase == BbrPhase::ProbeRtt {
                self.check_probe_rtt_done(now);
            }
        }
    }
}
