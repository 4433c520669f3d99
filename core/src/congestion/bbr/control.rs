//! BBR's control parameters: pacing rate, send quantum and congestion window
//! (draft-ietf-ccwg-bbr-06 §5.6).

use std::time::Duration;

use super::model::volume;
use super::params::{
    INITIAL_PACING_RTT, PROBE_RTT_CWND_GAIN, PROBE_UP_EXTRA_PACKETS, SEND_QUANTUM_INTERVAL,
    SEND_QUANTUM_MAX, SEND_QUANTUM_MIN_PACKETS, STARTUP_PACING_GAIN, UNIT_GAIN,
};
use super::{Bbr, BbrPhase, Gain, RateSample, rate};

impl Bbr {
    /// §5.2.3, UpdateControlParameters.
    pub(super) fn update_control_parameters(&mut self, rs: &RateSample) {
        if self.phase == BbrPhase::ProbeRtt {
            self.pacing_gain = self.probe_rtt_pacing_gain();
        }
        self.set_pacing_rate_with_gain(self.pacing_gain);
        self.set_send_quantum();
        self.set_cwnd(rs.newly_acked);
    }

    /// §5.6.2, InitPacingRate: BBR.StartupPacingGain × C.InitialCwnd / C.srtt (1 ms without
    /// an RTT).
    pub(super) fn init_pacing_rate(&mut self, srtt: Option<Duration>) {
        let rtt = srtt
            .filter(|rtt| !rtt.is_zero())
            .unwrap_or(INITIAL_PACING_RTT);
        self.pacing_rate = STARTUP_PACING_GAIN
            .apply(rate(self.initial_cwnd, rtt))
            .max(1);
    }

    /// `gain × BBR.bw × (100 − BBR.PacingMarginPercent) / 100` (§5.6.2), BBR.bw compensated
    /// for random loss in ProbeBW (`sending_rate_for`).
    pub(super) fn paced(&self, gain: Gain) -> u64 {
        let margin = 100 - u64::from(self.params.pacing_margin_percent.min(100));
        gain.apply(self.sending_rate_for(self.bw))
            .saturating_mul(margin)
            / 100
    }

    /// §5.6.2, SetPacingRateWithGain: until the pipe is full the rate only grows, so that
    /// application-limited samples cannot slow Startup.
    pub(super) fn set_pacing_rate_with_gain(&mut self, gain: Gain) {
        let rate = self.paced(gain);
        if rate > 0 && (self.full_bw_reached || rate > self.pacing_rate) {
            self.pacing_rate = rate;
        }
    }

    /// §5.6.3, SetSendQuantum: 1 ms at the pacing rate, between 2 × SMSS and 64 KB.
    pub(super) fn set_send_quantum(&mut self) {
        self.send_quantum = volume(self.pacing_rate, SEND_QUANTUM_INTERVAL)
            .min(SEND_QUANTUM_MAX)
            .max(
                self.max_datagram_size
                    .saturating_mul(SEND_QUANTUM_MIN_PACKETS),
            );
    }

    /// §5.6.4.2, BDPMultiple: `gain × bw × BBR.min_rtt`, or C.InitialCwnd before any RTT
    /// sample; `bw` compensated for random loss in ProbeBW (`sending_rate_for`), as what is in
    /// flight includes what the path will drop.
    pub(super) fn bdp_multiple(&self, bw: u64, gain: Gain) -> u64 {
        match self.min_rtt.min_rtt() {
            Some(min_rtt) => gain.apply(volume(self.sending_rate_for(bw), min_rtt)),
            None => self.initial_cwnd,
        }
    }

    /// §5.6.4.2, QuantizationBudget: room for the offload budget (QUIC: the send quantum,
    /// §5.5.8.2) and BBR.MinPipeCwnd, plus 2 × SMSS in ProbeBW_UP.
    fn quantization_budget(&self, inflight_cap: u64) -> u64 {
        let cap = inflight_cap
            .max(self.send_quantum)
            .max(self.min_pipe_cwnd());
        if self.phase == BbrPhase::ProbeBwUp {
            cap.saturating_add(PROBE_UP_EXTRA_PACKETS.saturating_mul(self.max_datagram_size))
        } else {
            cap
        }
    }

    /// §5.6.4.2, Inflight(bw, gain).
    pub(super) fn inflight_at(&self, bw: u64, gain: Gain) -> u64 {
        self.quantization_budget(self.bdp_multiple(bw, gain))
    }

    /// §5.6.4.2, UpdateMaxInflight: `cwnd_gain × BDP + extra_acked`, quantized.
    fn update_max_inflight(&mut self) {
        let cap = self
            .bdp_multiple(self.bw, self.cwnd_gain)
            .saturating_add(self.extra_acked);
        self.max_inflight = self.quantization_budget(cap);
    }

    /// §5.3.3.9, InflightWithHeadroom: BBR.inflight_longterm less BBR.Headroom (at least one
    /// SMSS), never below BBR.MinPipeCwnd; Infinity while unset.
    pub(super) fn inflight_with_headroom(&self) -> u64 {
        if self.inflight_longterm == u64::MAX {
            return u64::MAX;
        }
        let headroom = self
            .params
            .headroom
            .apply(self.inflight_longterm)
            .max(self.max_datagram_size);
        self.inflight_longterm
            .saturating_sub(headroom)
            .max(self.min_pipe_cwnd())
    }

    /// §5.6.4.5, ProbeRTTCwnd: half the BDP, at least BBR.MinPipeCwnd.
    /// weir's ProbeRTT pacing gain (the draft's is 1.0, see the module docs): the ProbeRTT
    /// cwnd's share of the BDP, so that the window is spread over the round trip — 0.5, or
    /// more where BBR.MinPipeCwnd is above half the BDP; at most 1.0.
    pub(super) fn probe_rtt_pacing_gain(&self) -> Gain {
        let bdp = self.bdp_multiple(self.bw, UNIT_GAIN);
        if bdp == 0 {
            return UNIT_GAIN;
        }
        let share = u128::from(self.probe_rtt_cwnd()) * 1000 / u128::from(bdp);
        let permille = u32::try_from(share).unwrap_or(u32::MAX);
        Gain::permille(permille.clamp(PROBE_RTT_CWND_GAIN.as_permille(), UNIT_GAIN.as_permille()))
    }

    pub(super) fn probe_rtt_cwnd(&self) -> u64 {
        self.bdp_multiple(self.bw, PROBE_RTT_CWND_GAIN)
            .max(self.min_pipe_cwnd())
    }

    /// §5.6.4.4, SaveCwnd: remember the last cwnd not reduced by loss recovery or ProbeRTT.
    pub(super) fn save_cwnd(&mut self) {
        if self.recovery_start.is_none() && self.phase != BbrPhase::ProbeRtt {
            self.prior_cwnd = self.cwnd;
        } else {
            self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
        }
    }

    /// §5.6.4.4, RestoreCwnd.
    pub(super) fn restore_cwnd(&mut self) {
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    /// §5.6.4.6, SetCwnd: up to BBR.max_inflight by at most the data acknowledged, then the
    /// ProbeRTT and model bounds.
    fn set_cwnd(&mut self, newly_acked: u64) {
        self.update_max_inflight();
        if self.full_bw_reached {
            self.cwnd = self.cwnd.saturating_add(newly_acked).min(self.max_inflight);
        } else if self.cwnd < self.max_inflight || self.delivered < self.initial_cwnd {
            self.cwnd = self.cwnd.saturating_add(newly_acked);
        }
        self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
        // §5.6.4.5, BoundCwndForProbeRTT.
        if self.phase == BbrPhase::ProbeRtt {
            self.cwnd = self.cwnd.min(self.probe_rtt_cwnd());
        }
        self.bound_cwnd_for_model();
    }

    /// §5.6.4.7, BoundCwndForModel: the volume caps of §5.6.1's table.
    fn bound_cwnd_for_model(&mut self) {
        let mut cap = u64::MAX;
        if self.is_in_probe_bw_state() && self.phase != BbrPhase::ProbeBwCruise {
            cap = self.inflight_longterm;
        } else if matches!(self.phase, BbrPhase::ProbeRtt | BbrPhase::ProbeBwCruise) {
            cap = self.inflight_with_headroom();
        }
        cap = cap.min(self.inflight_shortterm).max(self.min_pipe_cwnd());
        self.cwnd = self.cwnd.min(cap);
    }
}
