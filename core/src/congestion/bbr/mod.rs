//! BBR congestion control, version 3, as draft-ietf-ccwg-bbr-06 (July 2026) specifies it.
//!
//! BBR ("Bottleneck Bandwidth and Round-trip propagation time") builds an explicit model of the
//! path from delivery-rate samples ([`RateSample`], produced by the connection's
//! [`DeliveryRateEstimator`](super::DeliveryRateEstimator)) and RTT samples, and sets a pacing
//! rate and a congestion window from it. Section numbers below are the draft's.
//!
//! ## Layout
//!
//! - `params`: the draft's constants and the few named parameters ([`BbrConfig`]).
//! - `filter`: the windowed max filter (BBR.max_bw, BBR.extra_acked) and the min-RTT filter.
//! - `model`: the path model — round counting, max_bw, min_rtt, ACK aggregation, the short- and
//!   long-term loss bounds (§5.5).
//! - `machine`: the state machine — Startup, Drain, ProbeBW_DOWN/CRUISE/REFILL/UP, ProbeRTT,
//!   restart from idle (§5.3, §5.4).
//! - `control`: pacing rate, send quantum and cwnd (§5.6).
//!
//! ## Constants (draft-ietf-ccwg-bbr-06)
//!
//! | Name | Value | Section |
//! |---|---|---|
//! | BBR.StartupPacingGain | 2.77 (4 ln 2) | §2.5 |
//! | BBR.DrainPacingGain | 0.5 | §2.5 |
//! | BBR.PacingMarginPercent | 1 % | §2.5 |
//! | BBR.DefaultCwndGain | 2 | §2.6 |
//! | ProbeBW_DOWN / CRUISE / REFILL / UP pacing gain | 0.90 / 1.0 / 1.0 / 1.25 (UP: [`BbrConfig::probe_up_gain`]) | §5.3.3, §5.6.1 |
//! | ProbeBW_UP cwnd gain | 2.25 | §5.3.3.5 |
//! | BBR.LossThresh | 2 % | §2.8 |
//! | BBR.Beta | 0.7 | §2.8 |
//! | BBR.Headroom | 0.15 | §2.8 |
//! | BBR.MinPipeCwnd | 4 × SMSS | §2.8 |
//! | BBR.MaxBwFilterLen | 2 ProbeBW cycles | §2.11 |
//! | BBR.ExtraAckedFilterLen | 10 round trips (1 in Startup) | §2.12, §5.5.9 |
//! | Full pipe: growth / rounds | < 25 % for 3 rounds | §5.3.1.2 |
//! | BBRStartupFullLossCnt | 6 | §5.3.1.3 |
//! | Drain time limit | 3 rounds | §5.3.2 |
//! | Bandwidth probe wait | 2–3 s, or 62–63 rounds (Reno coexistence) | §5.3.3.8.3 |
//! | BBR.MinRTTFilterLen | 10 s | §2.16.1 |
//! | BBR.ProbeRTTInterval | 5 s | §2.16.2 |
//! | BBR.ProbeRTTDuration | 200 ms (and one round) | §2.16.2 |
//! | BBR.ProbeRTTCwndGain | 0.5 | §2.16.2 |
//! | Send quantum | 1 ms at the pacing rate, 2 × SMSS ..= 64 KB | §5.6.3 |
//!
//! Gains are applied in integer thousandths ([`Gain`]); rates are bytes per second.
//!
//! ## Driving it
//!
//! Through the [`Controller`] trait, in the order the trait documents. BBR acts in
//! [`on_ack_event`](Controller::on_ack_event), once per ACK frame, and needs that event's
//! [`delivery_rate`](super::AckEvent::delivery_rate): without rate samples it keeps its initial
//! window and pacing rate. [`on_packet_sent`](Controller::on_packet_sent) handles restart from
//! idle and tracks whether the flow is cwnd-limited;
//! [`on_congestion_event`](Controller::on_congestion_event) notes losses and ECN-CE marks.
//!
//! ## Deviations from the draft
//!
//! - **Loss response per ACK, not per lost packet.** §5.5.10.2 evaluates each lost packet's own
//!   `tx_in_flight`/`lost` snapshot (HandleLostPacket). The [`Controller`] trait's
//!   [`CongestionEvent`] carries no per-packet snapshots, so BBR notes the loss (NoteLoss) when
//!   the event arrives and applies the "inflight too high" test to the rate sample of the next
//!   ACK — the newest acknowledged packet's `tx_in_flight` and the losses since it was sent, as
//!   the BBRv2-era drafts did. InflightAtLoss's refinement within an offload burst is not done.
//! - **Startup's loss exit** (§5.3.1.3, prose only): "6 discontiguous lost ranges" is counted
//!   as 6 congestion events (one per ACK frame or loss timer that declared losses) in the loss
//!   round; "in recovery for a full round" is the loss round that began with the first loss.
//! - **ProbeRTT's MarkConnectionAppLimited** (§5.3.4.3) acts on the connection's estimator,
//!   which BBR cannot reach; BBR instead treats samples of packets sent while ProbeRTT's mark
//!   would have been set (`prior_delivered` at or below it) as application-limited.
//! - **ProbeRTT paced at its window's share of the BDP** (0.5, or more where BBR.MinPipeCwnd
//!   is above half the BDP; not §5.3.4.3's 1.0). At 1.0 × bw the half-BDP window leaves in the
//!   first half of each round trip and nothing is sent in the second: a game message written
//!   then waits up to half a round trip for the window (43–51 ms one-way instead of 26 ms on a
//!   50 ms path, once every 5 s). Paced at 0.5 × bw the same inflight is spread over the round
//!   trip, acknowledgements open the window every few packets, and the delivery rate, the
//!   queue drain and the minimum-RTT sample are what they were.
//! - **Random loss is not congestion** ([`BbrConfig::loss_tolerant`], on by default). The
//!   draft counts a round that loses more than 2 % as congestion (Startup's exit, the
//!   bandwidth probes' `inflight_longterm`, §5.5.10.2) and any round with a loss for the
//!   short-term model (§5.5.10.3); on a radio link that loses a few percent at random that
//!   holds BBR far below the path's rate (9 % of it at 5 % loss on 100 Mbit/s × 100 ms in
//!   weir's simulator). weir's rule: more than 4 % of the round, at least three datagrams, and
//!   a standing queue — the smallest RTT since the losses began above the lowest RTT the
//!   connection ever saw by an eighth of it (at least 1 ms) — as a tail-drop buffer that
//!   overflows always shows. The baseline is the connection's lifetime minimum, not
//!   BBR.min_rtt: a queue that stands longer than the 10 s filter would otherwise become it.
//! - **A capacity drop is acted on within a round trip** ([`BbrConfig::capacity_drop`], on by
//!   default; the `capacity` module). BBR.max_bw's two-cycle window keeps a rate the link
//!   lost for 4–6 s, queueing seconds on a cellular link that falls tenfold. While a standing
//!   queue shows the bottleneck busy, its acknowledgement rate is its capacity: when every
//!   delivery-rate sample of a flow that keeps a BDP in flight stays under half of BBR.bw for
//!   a minimum RTT, the max_bw filter restarts from the acknowledgement rate of that window,
//!   inflight is capped at a BDP of it until ProbeBW_REFILL (the queue drains at the
//!   bottleneck's speed), samples of packets sent before the drop no longer raise max_bw, and
//!   for 10 s (or until 80 % of the old rate is back) ProbeBW_UP comes four minimum RTTs after
//!   each drain, paced at a gain of 2 and ended as `short_probes` ends it. After an outage (no
//!   ACK for a second) BBR.min_rtt restarts from the first packet sent after it (§5.3.4.4 keeps
//!   the old path's minimum for 10 s), and a longer round trip keeps the old BDP in bytes: the
//!   rate scaled down by the RTTs' ratio, probed back up as after a drop.
//! - **Lean probes** ([`BbrConfig::lean_probes`], on by default): ProbeBW_UP ends after one
//!   round of its own feedback without 25 % growth, when it did put its extra data in flight
//!   (§5.3.3.6 waits three rounds from the probe's start), and ProbeBW_DOWN paces at 0.75, not
//!   0.9 (§5.3.3.1): a probe queues at most about half a BDP and drains it in a few round trips.
//! - **ProbeRTT on demand** ([`BbrConfig::probe_rtt_on_demand`], on by default): an RTT sample
//!   within a thirty-second of BBR.probe_rtt_min_delay (at least 250 µs) restarts its 5 s
//!   interval (§5.3.4.4 needs a strictly lower one), so a flow whose queue empties every cycle
//!   skips ProbeRTT; one that never sees it empty still probes every 5 s.
//!   It stays on under the connection's queue guard, whose short queue lets the samples reach
//!   the minimum often: on a 600 ms path, each ProbeRTT costs a round trip and a half of
//!   application-limited samples, blind to a capacity drop.
//! - Lean probes are off while the connection caps the window from outside (the adaptive queue
//!   guard, [`Controller::set_window_capped`]): a capped probe cannot show growth in one round,
//!   and the guard already bounds the queue.
//! - **Startup ends on a standing queue** ([`BbrConfig::startup_queue_exit`], on in
//!   [`BbrConfig::low_latency`], off by default):
//!   a round whose smallest RTT stands above the connection's lowest by RFC 9406's delay
//!   threshold ends Startup as three rounds without growth do (§5.3.1.2); the draft's rule
//!   alone queues more than a BDP first.
//! - **Random loss is compensated** ([`BbrConfig::random_loss_compensation`], on by default;
//!   the `random_loss` module). BBR.bw is a delivery rate; a path that drops a share `p` at
//!   random takes `bw / (1 − p)` without a queue, and ProbeBW paces and sizes its window for
//!   that, with `p` measured over the recent rounds whose losses came without a standing
//!   queue (at most a quarter). The draft paces at BBR.bw and leaves `p` of the path idle.
//! - **Spurious-loss undo** (§5.5.11; the `undo` module): the connection reports a congestion
//!   event all of whose lost packets were acknowledged afterwards; when every event of the
//!   recovery period was one, the short-term bounds, `inflight_longterm` and the cwnd come
//!   back and the full-pipe count restarts. The draft's return to the state the loss left is
//!   not done.
//! - **ECN** (§3.7): a CE mark is congestion — it counts as a loss in the round for the
//!   short-term model, without lost bytes.
//! - **Initial pacing** (§5.6.2): with no smoothed RTT at start the rate assumes 1 ms, and it is
//!   recomputed from the smoothed RTT at the first ACK, as the draft's prose says.
//! - **Full-pipe check** (§5.3.1.2): a round-start sample without a reliable rate (0) is not
//!   counted as a round without growth.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use super::delivery_rate::rate;
use super::{
    AckEvent, AckedPacket, CongestionCause, CongestionEvent, Controller, ControllerConfig,
    ControllerKind, ControllerState, RateSample, SpuriousCongestion,
};

mod capacity;
mod control;
mod filter;
mod machine;
mod model;
mod params;
mod random_loss;
mod undo;

pub use params::{BbrConfig, Gain};

use capacity::CapacityWatch;
use filter::{MinRttFilter, WindowedMax};
use params::{MIN_PIPE_CWND_PACKETS, MIN_RTT_FILTER_LEN, PROBE_RTT_INTERVAL};
use random_loss::RandomLossEstimate;

/// The states of BBR's state machine (§5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BbrPhase {
    /// Exponential search for the bottleneck bandwidth (§5.3.1).
    Startup,
    /// Draining the queue Startup built (§5.3.2).
    Drain,
    /// Deceleration: pacing at 0.9 × bw until inflight is at most the BDP (§5.3.3.1).
    ProbeBwDown,
    /// Cruising at the estimated bandwidth until the next probe (§5.3.3.2).
    ProbeBwCruise,
    /// One round at the estimated bandwidth to refill the pipe before probing (§5.3.3.3).
    ProbeBwRefill,
    /// Probing for more bandwidth at 1.25 × bw (§5.3.3.4–5.3.3.7).
    ProbeBwUp,
    /// Holding inflight at half the BDP for 200 ms and a round to measure the min RTT
    /// (§5.3.4).
    ProbeRtt,
}

/// What the ACKs being received say about bandwidth probing (§2.14, BBR.ack_phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckPhase {
    Init,
    Refilling,
    ProbeStarting,
    ProbeFeedback,
    ProbeStopping,
}

/// Losses of the loss round that ended on the current ACK (for Startup's loss exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LossRound {
    lost: u64,
    delivered: u64,
    events: u32,
    /// The smallest RTT sample of the round: how much queue stood at the bottleneck all round.
    min_rtt: Duration,
}

/// The BBR congestion controller (draft-ietf-ccwg-bbr-06); see the [module
/// documentation](self).
///
/// Fields are named after the draft's variables (`BBR.x` → `x`, `C.x` → `x`); "Infinity" is
/// `u64::MAX` for volumes and rates, `None` for times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bbr {
    config: ControllerConfig,
    params: BbrConfig,
    rng: Pcg64Mcg,
    /// C.SMSS.
    max_datagram_size: u64,
    /// C.InitialCwnd.
    initial_cwnd: u64,

    // Outputs (§2.4).
    cwnd: u64,
    pacing_rate: u64,
    send_quantum: u64,

    // The connection, as BBR sees it (§2.2).
    /// C.delivered as of the last rate sample.
    delivered: u64,
    /// C.inflight as of the last event.
    inflight: u64,
    /// Whether a send found the window full in this round / the previous one (C.is_cwnd_limited
    /// covers the last round trip).
    cwnd_limited_this_round: bool,
    cwnd_limited_last_round: bool,
    /// The connection's application-limited flag on the last ACK (for restart from idle).
    app_limited_hint: bool,
    /// ProbeRTT's application-limited mark, as a delivered count (0: none).
    app_limited_until: u64,
    /// When the current loss recovery period started (RFC 9002 §7.3.2).
    recovery_start: Option<Instant>,
    smoothed_rtt: Option<Duration>,
    has_rtt_sample: bool,
    /// No event yet: a datagram-size change recomputes the initial window.
    pristine: bool,

    // State machine (§2.5–2.7, §2.13–2.16).
    phase: BbrPhase,
    pacing_gain: Gain,
    cwnd_gain: Gain,
    round_count: u64,
    round_start: bool,
    next_round_delivered: u64,
    idle_restart: bool,
    drain_start_round: u64,
    full_bw_reached: bool,
    full_bw_now: bool,
    full_bw: u64,
    full_bw_count: u32,
    ack_phase: AckPhase,
    is_bw_probe_sample: bool,
    bw_probe_up_acked: u64,
    probe_up_acked_per_inc: u64,
    bw_probe_up_rounds: u32,
    rounds_since_probe_up: u64,
    bw_probe_wait: Duration,
    cycle_stamp: Instant,
    prev_probe_too_high: bool,
    prev_probe_precautionary: bool,
    probe_rtt_done_stamp: Option<Instant>,
    probe_rtt_round_done: bool,
    prior_cwnd: u64,

    // The path model (§2.9–2.12).
    max_bw_filter: WindowedMax,
    cycle_count: u64,
    max_bw: u64,
    bw_shortterm: u64,
    bw: u64,
    min_rtt: MinRttFilter,
    extra_acked_filter: WindowedMax,
    extra_acked: u64,
    extra_acked_interval_start: Instant,
    extra_acked_delivered: u64,
    max_inflight: u64,
    inflight_longterm: u64,
    inflight_shortterm: u64,
    bw_latest: u64,
    inflight_latest: u64,
    loss_round_delivered: u64,
    loss_round_start: bool,
    is_loss_in_round: bool,
    /// Losses were declared since the last ACK: test the next rate sample (HandleLostPacket).
    loss_since_last_ack: bool,
    /// C.delivered when the current loss round's first loss was noted.
    loss_round_base: u64,
    loss_round_lost: u64,
    loss_round_events: u32,
    /// The smallest RTT sample since the loss round began (`Duration::MAX` before one).
    loss_round_min_rtt: Duration,
    /// The smallest RTT the connection ever saw (RFC 9002's min_rtt, handed over with every
    /// ACK): the baseline of the standing-queue test of the loss rule. Not BBR.min_rtt, whose
    /// 10 s window forgets the empty path when a queue stands longer than ProbeRTT can drain
    /// (seconds, at 2 Mbit/s with a deep buffer); the queue would then become the baseline and
    /// every loss look random.
    path_min_rtt: Option<Duration>,
    ended_loss_round: Option<LossRound>,
    /// The connection caps the window from outside (see `set_window_capped`): lean probes are
    /// off meanwhile.
    window_capped: bool,
    /// The pacing gain of the current (or last) ProbeBW_UP.
    probe_gain: Gain,
    /// weir's capacity-drop watch (see `capacity`).
    capacity: CapacityWatch,
    /// weir's random-loss compensation (see `random_loss`).
    random_loss: RandomLossEstimate,
    /// What the current recovery period's losses may have reduced (see `undo`).
    undo: Option<undo::BbrUndo>,
    /// Recovery periods undone as spurious.
    spurious_undos: u64,
    /// The smallest RTT sample of the current round, in Startup (for the queue exit).
    startup_round_min_rtt: Option<Duration>,
    /// Startups ended by the queue exit.
    startup_queue_exits: u64,
}

impl Bbr {
    /// BBR with RFC 9002's initial window and the draft's parameters, for a connection starting
    /// at `now` with datagrams of `max_datagram_size` bytes.
    pub fn new(now: Instant, max_datagram_size: u64) -> Self {
        Self::with_config(
            &ControllerConfig::new(ControllerKind::Bbr),
            BbrConfig::default(),
            now,
            max_datagram_size,
        )
    }

    /// BBR with the windows of `config` (its `kind` is ignored) and the parameters `params`,
    /// for a connection starting at `now` with datagrams of `max_datagram_size` bytes (clamped
    /// to at least 1) (§5.2.1, OnInit).
    pub fn with_config(
        config: &ControllerConfig,
        params: BbrConfig,
        now: Instant,
        max_datagram_size: u64,
    ) -> Self {
        let max_datagram_size = max_datagram_size.max(1);
        let initial_cwnd = config.initial_window(max_datagram_size);
        let mut bbr = Self {
            config: config.clone(),
            params,
            rng: Pcg64Mcg::seed_from_u64(params.seed),
            max_datagram_size,
            initial_cwnd,
            cwnd: initial_cwnd,
            pacing_rate: 0,
            send_quantum: 0,
            delivered: 0,
            inflight: 0,
            cwnd_limited_this_round: false,
            cwnd_limited_last_round: false,
            app_limited_hint: false,
            app_limited_until: 0,
            recovery_start: None,
            smoothed_rtt: None,
            has_rtt_sample: false,
            pristine: true,
            phase: BbrPhase::Startup,
            pacing_gain: params::STARTUP_PACING_GAIN,
            cwnd_gain: params::DEFAULT_CWND_GAIN,
            round_count: 0,
            round_start: false,
            next_round_delivered: 0,
            idle_restart: false,
            drain_start_round: 0,
            full_bw_reached: false,
            full_bw_now: false,
            full_bw: 0,
            full_bw_count: 0,
            ack_phase: AckPhase::Init,
            is_bw_probe_sample: false,
            bw_probe_up_acked: 0,
            probe_up_acked_per_inc: u64::MAX,
            bw_probe_up_rounds: 0,
            rounds_since_probe_up: 0,
            bw_probe_wait: Duration::ZERO,
            cycle_stamp: now,
            prev_probe_too_high: false,
            prev_probe_precautionary: false,
            probe_rtt_done_stamp: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            max_bw_filter: WindowedMax::new(),
            cycle_count: 0,
            max_bw: 0,
            bw_shortterm: u64::MAX,
            bw: 0,
            min_rtt: MinRttFilter::new(now, None, PROBE_RTT_INTERVAL, MIN_RTT_FILTER_LEN)
                .with_on_demand(params.probe_rtt_on_demand),
            extra_acked_filter: WindowedMax::new(),
            extra_acked: 0,
            extra_acked_interval_start: now,
            extra_acked_delivered: 0,
            max_inflight: 0,
            inflight_longterm: u64::MAX,
            inflight_shortterm: u64::MAX,
            bw_latest: 0,
            inflight_latest: 0,
            loss_round_delivered: 0,
            loss_round_start: false,
            is_loss_in_round: false,
            loss_since_last_ack: false,
            loss_round_base: 0,
            loss_round_lost: 0,
            loss_round_events: 0,
            loss_round_min_rtt: Duration::MAX,
            path_min_rtt: None,
            ended_loss_round: None,
            capacity: CapacityWatch::default(),
            random_loss: RandomLossEstimate::default(),
            undo: None,
            spurious_undos: 0,
            startup_round_min_rtt: None,
            startup_queue_exits: 0,
            probe_gain: params.effective_probe_up_gain(),
            window_capped: false,
        };
        bbr.init_pacing_rate(None);
        bbr.enter_startup();
        bbr.set_send_quantum();
        bbr
    }

    /// BBR taking over a live connection at `now` from a controller whose
    /// [`state`](Controller::state) was `state`.
    ///
    /// - The min-RTT filter starts from the predecessor's minimum (or smoothed) RTT.
    /// - The max-bandwidth filter starts from the predecessor's bandwidth estimate, or, from a
    ///   loss-based controller, from its delivery rate `window / smoothed RTT`.
    /// - A predecessor that had found the path's capacity — it reports a bandwidth estimate or
    ///   has left slow start — hands over to ProbeBW (DOWN, then CRUISE once inflight is at most
    ///   the BDP); one still in slow start hands over to Startup, which continues from the
    ///   seeded estimates.
    /// - The window (at least BBR.MinPipeCwnd) and the recovery period carry over.
    pub fn from_state(
        config: &ControllerConfig,
        params: BbrConfig,
        now: Instant,
        state: &ControllerState,
    ) -> Self {
        let mut bbr = Self::with_config(config, params, now, state.max_datagram_size);
        bbr.pristine = false;
        bbr.recovery_start = state.recovery_start;
        bbr.smoothed_rtt = state.smoothed_rtt;
        let rtt = state
            .min_rtt
            .or(state.smoothed_rtt)
            .filter(|rtt| !rtt.is_zero());
        if rtt.is_some() {
            bbr.min_rtt = MinRttFilter::new(now, rtt, PROBE_RTT_INTERVAL, MIN_RTT_FILTER_LEN)
                .with_on_demand(params.probe_rtt_on_demand);
            bbr.has_rtt_sample = true;
        }
        bbr.path_min_rtt = state.min_rtt.filter(|rtt| !rtt.is_zero());
        bbr.cwnd = state.window.max(bbr.min_pipe_cwnd());
        bbr.prior_cwnd = bbr.cwnd;
        let bandwidth = state.bandwidth.or_else(|| {
            let srtt = state.smoothed_rtt.or(state.min_rtt)?;
            Some(rate(state.window, srtt))
        });
        match bandwidth.filter(|&bw| bw > 0) {
            Some(bw) => {
                bbr.max_bw_filter.reset(bw, bbr.cycle_count);
                bbr.max_bw = bw;
                bbr.bw = bw;
                if state.bandwidth.is_some() || state.ssthresh.is_some() {
                    bbr.full_bw_reached = true;
                    bbr.enter_probe_bw(now);
                }
                bbr.pacing_rate = bbr.paced(bbr.pacing_gain).max(1);
            }
            None => bbr.init_pacing_rate(state.smoothed_rtt),
        }
        bbr.set_send_quantum();
        bbr
    }

    /// The state machine's current state.
    pub fn phase(&self) -> BbrPhase {
        self.phase
    }

    /// BBR.max_bw: the windowed maximum delivery rate, in bytes per second (0 before the first
    /// sample).
    pub fn max_bandwidth(&self) -> u64 {
        self.max_bw
    }

    /// BBR.bw: the bandwidth BBR paces from, BBR.max_bw bounded by recent losses, in bytes per
    /// second.
    pub fn bandwidth(&self) -> u64 {
        self.bw
    }

    /// BBR.min_rtt, if measured or seeded.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.min_rtt()
    }

    /// BBR.bdp = BBR.bw × BBR.min_rtt, in bytes, once BBR.min_rtt is known.
    pub fn bdp(&self) -> Option<u64> {
        self.min_rtt
            .min_rtt()
            .map(|rtt| model::volume(self.bw, rtt))
    }

    /// The loss rate weir's random-loss compensation currently paces for (see
    /// [`BbrConfig::random_loss_compensation`]), in thousandths; 0 when it is off or has no
    /// estimate yet.
    pub fn compensated_loss_permille(&self) -> u32 {
        if self.sending_rate_for(self.bw) == self.bw {
            return 0;
        }
        self.random_loss.rate(self.max_datagram_size).as_permille()
    }

    /// Startups ended by a standing queue ([`BbrConfig::startup_queue_exit`]).
    pub fn startup_queue_exits(&self) -> u64 {
        self.startup_queue_exits
    }

    /// Recovery periods undone because every congestion event in them was spurious.
    pub fn spurious_undos(&self) -> u64 {
        self.spurious_undos
    }

    /// BBR.inflight_longterm, the loss-derived bound on inflight, if set.
    pub fn inflight_longterm(&self) -> Option<u64> {
        (self.inflight_longterm != u64::MAX).then_some(self.inflight_longterm)
    }

    /// C.send_quantum: the most data to send as one burst, in bytes (§5.6.3).
    pub fn send_quantum(&self) -> u64 {
        self.send_quantum
    }

    /// BBR.full_bw_reached: whether BBR has ever estimated that it filled the pipe.
    pub fn full_bandwidth_reached(&self) -> bool {
        self.full_bw_reached
    }

    /// BBR.round_count: packet-timed round trips so far.
    pub fn round_count(&self) -> u64 {
        self.round_count
    }

    /// BBR.pacing_gain of the current state.
    pub fn pacing_gain(&self) -> Gain {
        self.pacing_gain
    }

    /// BBR.cwnd_gain of the current state.
    pub fn cwnd_gain(&self) -> Gain {
        self.cwnd_gain
    }

    /// BBR.MinPipeCwnd = 4 × SMSS (§2.8).
    fn min_pipe_cwnd(&self) -> u64 {
        self.max_datagram_size.saturating_mul(MIN_PIPE_CWND_PACKETS)
    }

    /// Whether weir's lean probes apply now ([`BbrConfig::lean_probes`], not while the
    /// connection caps the window).
    fn lean_probes(&self) -> bool {
        self.params.lean_probes && !self.window_capped
    }

    /// Treats samples of packets sent under ProbeRTT's application-limited mark as
    /// application-limited (see "Deviations" in the module documentation).
    fn classify(&self, mut rs: RateSample) -> RateSample {
        if self.app_limited_until != 0 && rs.prior_delivered <= self.app_limited_until {
            rs.is_app_limited = true;
        }
        rs
    }
}

impl Controller for Bbr {
    fn on_packet_sent(&mut self, now: Instant, bytes: u64, bytes_in_flight: u64) {
        // §5.2.2: before transmitting, check for a restart from idle.
        self.handle_restart_from_idle(now, bytes_in_flight.saturating_sub(bytes));
        self.inflight = bytes_in_flight;
        // §2.2, C.is_cwnd_limited: the window had no room for another full packet.
        if bytes_in_flight.saturating_add(self.max_datagram_size) > self.cwnd {
            self.cwnd_limited_this_round = true;
        }
    }

    fn on_packet_acked(&mut self, _now: Instant, _acked: &AckedPacket) {
        // BBR works on whole ACK frames (§5.2.3), in on_ack_event.
        self.pristine = false;
    }

    fn on_ack_event(&mut self, now: Instant, event: &AckEvent) {
        self.pristine = false;
        self.inflight = event.bytes_in_flight;
        self.app_limited_hint = event.app_limited;
        self.smoothed_rtt = Some(event.rtt.smoothed);
        let lowest = [event.rtt.min, event.rtt.latest]
            .into_iter()
            .filter(|rtt| !rtt.is_zero())
            .chain(self.path_min_rtt)
            .min();
        self.path_min_rtt = lowest;
        // §5.6.4.4: leaving loss recovery restores the last known good cwnd (RFC 9002 §7.3.2:
        // recovery ends with the acknowledgement of a packet sent after it started).
        if self
            .recovery_start
            .is_some_and(|start| event.largest_acked_sent_time > start)
        {
            self.recovery_start = None;
            self.restore_cwnd();
        }
        let Some(sample) = event.delivery_rate else {
            return;
        };
        if !self.has_rtt_sample {
            // §5.6.2: the initial pacing rate uses the smoothed RTT once there is one.
            self.has_rtt_sample = true;
            if self.max_bw == 0 {
                self.init_pacing_rate(Some(event.rtt.smoothed));
            }
        }
        let rs = self.classify(sample);
        self.delivered = rs.prior_delivered.saturating_add(rs.delivered);
        if std::mem::take(&mut self.loss_since_last_ack) {
            self.handle_lost_packets(now, &rs);
        }
        // §5.2.3, UpdateOnACK.
        self.update_model_and_state(now, &rs);
        self.update_control_parameters(&rs);
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent) {
        self.pristine = false;
        self.inflight = event.bytes_in_flight;
        let lost = match event.cause {
            CongestionCause::Loss => event.lost_bytes,
            // §3.7: CE marks are congestion, without lost data.
            CongestionCause::EcnCe => 0,
        };
        self.note_loss(lost);
        if lost > 0 {
            self.loss_since_last_ack = true;
        }
        // RFC 9002 §7.3.2: losses of packets sent before the current recovery period started
        // belong to it.
        let new_episode = self
            .recovery_start
            .is_none_or(|start| event.sent_time > start);
        self.note_undo_event(now, new_episode);
        if new_episode {
            // §5.6.4.4, OnEnterFastRecovery.
            self.save_cwnd();
            self.recovery_start = Some(now);
        }
        if event.persistent {
            // Persistent congestion is no false alarm to take back.
            self.undo = None;
            // §5.6.4.4, OnEnterRTO (QUIC's persistent congestion, RFC 9002 §7.6): room for one
            // packet more than in flight, then the usual per-ACK growth.
            self.save_cwnd();
            self.cwnd = self
                .inflight
                .saturating_add(self.max_datagram_size)
                .max(self.config.minimum_window(self.max_datagram_size));
        }
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn pacing_rate(&self) -> Option<u64> {
        Some(self.pacing_rate)
    }

    fn bandwidth_estimate(&self) -> Option<u64> {
        // The rate the path takes, which is what a window cap or a budget is computed from:
        // BBR.bw and what random loss drops of it.
        (self.bw > 0).then(|| self.sending_rate_for(self.bw))
    }

    fn in_slow_start(&self) -> bool {
        self.phase == BbrPhase::Startup
    }

    fn ssthresh(&self) -> Option<u64> {
        None
    }

    fn kind(&self) -> ControllerKind {
        ControllerKind::Bbr
    }

    fn set_max_datagram_size(&mut self, size: u64) {
        self.max_datagram_size = size.max(1);
        self.initial_cwnd = self.config.initial_window(self.max_datagram_size);
        if self.pristine {
            // RFC 9002 §7.2: the initial window follows the datagram size.
            self.cwnd = self.initial_cwnd;
            self.init_pacing_rate(None);
        }
        self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
        self.set_send_quantum();
    }

    fn capacity_drops(&self) -> u64 {
        Bbr::capacity_drops(self)
    }

    fn on_spurious_congestion(&mut self, _now: Instant, event: &SpuriousCongestion) {
        self.undo_spurious(event);
    }

    fn set_window_capped(&mut self, capped: bool) {
        // Under the connection's queue guard a probe's growth is bounded by the cap, so the
        // draft's three rounds judge it better than one, and the guard already keeps the queue
        // short; lean probes are for flows that own their window.
        self.window_capped = capped;
    }

    fn state(&self) -> ControllerState {
        ControllerState {
            window: self.cwnd,
            ssthresh: None,
            max_datagram_size: self.max_datagram_size,
            recovery_start: self.recovery_start,
            smoothed_rtt: self.smoothed_rtt,
            min_rtt: self.min_rtt.min_rtt(),
            bandwidth: (self.max_bw > 0).then_some(self.max_bw),
            w_max: None,
        }
    }
}

#[cfg(test)]
mod tests;
