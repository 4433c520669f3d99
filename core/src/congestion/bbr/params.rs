//! BBR's constants and the parameters a user may tune (draft-ietf-ccwg-bbr-06).

use std::time::Duration;

/// A dimensionless gain or fraction in thousandths, applied in integer arithmetic (no floats:
/// nothing to round differently across platforms, no NaN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gain(u32);

impl Gain {
    /// The gain `permille / 1000`.
    pub const fn permille(permille: u32) -> Self {
        Self(permille)
    }

    /// The gain in thousandths.
    pub const fn as_permille(self) -> u32 {
        self.0
    }

    /// `value × gain`, rounded down, saturating.
    pub const fn apply(self, value: u64) -> u64 {
        let product = value as u128 * self.0 as u128 / 1000;
        if product > u64::MAX as u128 {
            u64::MAX
        } else {
            product as u64
        }
    }
}

/// weir's lean probes ([`BbrConfig::lean_probes`]): ProbeBW_DOWN's pacing gain (BBR v1's
/// drain phase of its gain cycle), so that a probe's queue drains in a few round trips rather
/// than the ten that 0.9 takes.
pub(super) const LEAN_PROBE_DOWN_PACING_GAIN: Gain = Gain::permille(750);

/// weir's lean probes: ProbeBW_UP ends after this many rounds of the probe's own feedback
/// without 25 % growth (the draft: [`FULL_BW_COUNT`] rounds, counted from the probe's start).
pub(super) const LEAN_PROBE_FULL_BW_COUNT: u32 = 1;

/// weir's Startup queue exit: the least and the most standing queue that ends Startup (RFC
/// 9406's delay thresholds for HyStart++, 4 and 16 ms).
pub(super) const STARTUP_QUEUE_MIN: Duration = Duration::from_millis(4);
/// See [`STARTUP_QUEUE_MIN`].
pub(super) const STARTUP_QUEUE_MAX: Duration = Duration::from_millis(16);

/// §2.5: BBR.StartupPacingGain = 4 × ln 2 ≈ 2.77, the smallest pacing gain that doubles the
/// sending rate each round.
pub(super) const STARTUP_PACING_GAIN: Gain = Gain::permille(2770);
/// §2.5: BBR.DrainPacingGain = 0.5, drains Startup's queue in about a round.
pub(super) const DRAIN_PACING_GAIN: Gain = Gain::permille(500);
/// §2.6: BBR.DefaultCwndGain = 2, the cwnd gain of every state but ProbeBW_UP and ProbeRTT.
pub(super) const DEFAULT_CWND_GAIN: Gain = Gain::permille(2000);
/// §5.3.3.1: ProbeBW_DOWN paces at 0.90 × bw.
pub(super) const PROBE_DOWN_PACING_GAIN: Gain = Gain::permille(900);
/// §5.3.3.2–5.3.3.3: ProbeBW_CRUISE and ProbeBW_REFILL pace at 1.0 × bw; ProbeRTT too
/// (§5.3.4.3, EnterProbeRTT).
pub(super) const UNIT_GAIN: Gain = Gain::permille(1000);
/// §5.3.3.5: ProbeBW_UP paces at 1.25 × bw…
pub(super) const PROBE_UP_PACING_GAIN: Gain = Gain::permille(1250);
/// …with a cwnd gain of 2.25 (§5.3.3.5).
pub(super) const PROBE_UP_CWND_GAIN: Gain = Gain::permille(2250);
/// §2.16.2: BBR.ProbeRTTCwndGain = 0.5: ProbeRTT holds inflight to half the BDP.
pub(super) const PROBE_RTT_CWND_GAIN: Gain = Gain::permille(500);
/// §5.3.1.2: bandwidth still grows if a round's delivery rate is at least 1.25 × the baseline
/// (a 25 % increase).
pub(super) const FULL_BW_GROWTH: Gain = Gain::permille(1250);
/// §5.3.1.2: three rounds without that growth mean the pipe is full.
pub(super) const FULL_BW_COUNT: u32 = 3;
/// §5.3.1.3: BBRStartupFullLossCnt = 6 loss episodes in the round to leave Startup on loss.
pub(super) const STARTUP_FULL_LOSS_COUNT: u32 = 6;
/// §5.3.2: Drain gives up waiting for inflight ≤ BDP after 3 rounds.
pub(super) const DRAIN_MAX_ROUNDS: u64 = 3;
/// §2.8: BBR.MinPipeCwnd = 4 × SMSS.
pub(super) const MIN_PIPE_CWND_PACKETS: u64 = 4;
/// §2.11: BBR.MaxBwFilterLen = 2 ProbeBW cycles.
pub(super) const MAX_BW_FILTER_LEN: u64 = 2;
/// §2.12: BBR.ExtraAckedFilterLen = 10 packet-timed round trips (1 in Startup, §5.5.9).
pub(super) const EXTRA_ACKED_FILTER_LEN: u64 = 10;
/// §2.16.1: BBR.MinRTTFilterLen = 10 s.
pub(super) const MIN_RTT_FILTER_LEN: Duration = Duration::from_secs(10);
/// §2.16.2: BBR.ProbeRTTInterval = 5 s, which every flow MUST use (§5.3.4.2) — so not a knob.
pub(super) const PROBE_RTT_INTERVAL: Duration = Duration::from_secs(5);
/// §2.16.2: BBR.ProbeRTTDuration = 200 ms.
pub(super) const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// §5.3.3.8.3: the BBR-native wait between bandwidth probes is 2 s…
pub(super) const PROBE_WAIT_BASE: Duration = Duration::from_secs(2);
/// …plus a uniformly random 0–1 s (PickProbeWait), in microseconds.
pub(super) const PROBE_WAIT_RANDOM_MICROS: u64 = 1_000_000;
/// §5.3.3.8.3: the Reno-coexistence bound is 62 or 63 rounds: at most 63 (IsRenoCoexistence
/// ProbeTime), starting the count at 0 or 1 (PickProbeWait).
pub(super) const RENO_ROUNDS_MAX: u64 = 63;
/// §5.3.3.9, RaiseInflightLongtermSlope: the growth exponent stops at 30.
pub(super) const MAX_PROBE_UP_ROUNDS: u32 = 30;
/// §5.6.3: the send quantum is 1 ms of data at the pacing rate…
pub(super) const SEND_QUANTUM_INTERVAL: Duration = Duration::from_millis(1);
/// …at most 64 KB…
pub(super) const SEND_QUANTUM_MAX: u64 = 64 * 1024;
/// …and at least 2 × SMSS.
pub(super) const SEND_QUANTUM_MIN_PACKETS: u64 = 2;
/// §5.6.2, InitPacingRate: without an RTT sample the initial rate assumes 1 ms.
pub(super) const INITIAL_PACING_RTT: Duration = Duration::from_millis(1);
/// §5.6.4.2, QuantizationBudget: ProbeBW_UP may have 2 × SMSS more in flight.
pub(super) const PROBE_UP_EXTRA_PACKETS: u64 = 2;

/// The parameters of BBR that draft-ietf-ccwg-bbr-06 names as its core design parameters
/// (§2.8, §2.5), and the seed of its randomised probe timing.
///
/// The defaults are the draft's; change them only to experiment (the draft is Experimental,
/// §3.8). Everything else — gains, filter lengths, the 5 s ProbeRTT interval that every flow
/// must share — is fixed (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BbrConfig {
    /// BBR.LossThresh (§2.8): the highest per-round loss rate tolerated while probing for
    /// bandwidth; default 2 %.
    pub loss_thresh: Gain,
    /// BBR.Beta (§2.8): the multiplicative decrease per round trip with loss; default 0.7.
    pub beta: Gain,
    /// BBR.Headroom (§2.8): the share of BBR.inflight_longterm left free for other flows;
    /// default 0.15.
    pub headroom: Gain,
    /// BBR.PacingMarginPercent (§2.5): how far below the bandwidth estimate BBR paces, in
    /// percent; default 1.
    pub pacing_margin_percent: u8,
    /// Seeds the random parts of the bandwidth-probe timing (§5.3.3.8.3, PickProbeWait), so
    /// that a run is reproducible (DESIGN.md §2). Connections sharing a bottleneck should use
    /// different seeds, as the randomisation is there to desynchronise flows.
    pub seed: u64,
    /// weir's departure from the draft for lossy wireless paths. The draft treats any round
    /// with a loss as congestion for its short-term model (`bw_shortterm`,
    /// `inflight_shortterm`, §5.5.10.3) and a loss rate above `loss_thresh` as congestion for
    /// Startup's exit (§5.3.1.3) and the bandwidth probes (§5.5.10.2): random loss of 1 % then
    /// ratchets the rate down round after round and ends probes early. Loss-tolerant, all three
    /// need a loss rate above twice `loss_thresh`, at least three lost datagrams, and a
    /// standing queue: the smallest RTT sample since the losses began above the lowest RTT the
    /// connection ever saw by an eighth of it (at least 1 ms). A tail-drop queue drops only when full and stays full
    /// until the sender reacts, so its losses come with every RTT of the round raised by the
    /// buffer; a lossy radio link's come with the queue BBR keeps, near empty. In weir's
    /// simulator this keeps 87–94 % of `capacity·(1−p)` at 5 % random loss and 63–84 % at
    /// 25 % (2–100 Mbit/s, 50–100 ms, `weir sim --matrix`), where the rate rule alone fell to
    /// 9–65 % and 1–14 % from 10 Mbit/s up; losses from an overflowing buffer are still
    /// congestion. A policer
    /// (a token bucket that drops without queueing) is not recognised: BBR then settles at
    /// the policed delivery rate and loses what its probes send above it. Default `true`;
    /// `false` follows the draft.
    pub loss_tolerant: bool,
    /// weir's second departure, for latency: leave ProbeBW_UP once the probe's own packets
    /// have been acknowledged (a round of feedback) and the data in flight exceeds
    /// [`probe_up_gain`](Self::probe_up_gain) × the estimated BDP (a quarter of a BDP queued at
    /// the bottleneck with the default gain), rather than only once the
    /// bandwidth stopped growing for three rounds (§5.3.3.6), which queues up to three quarters
    /// of a BDP at every probe — tens of milliseconds of delay for the game flows sharing the
    /// path. A probe into more capacity raises `max_bw`, and with it the target, so it goes
    /// on. The price is slower convergence between flows sharing a bottleneck (in weir's
    /// simulator two such flows reach a Jain index of only 0.75 after 30 s, against 0.95+ with
    /// the draft's probes), so the default is `false`, which follows the draft; turn it on for
    /// a path the application has mostly to itself.
    pub short_probes: bool,
    /// The pacing gain of ProbeBW_UP (§5.3.3.5: 1.25, the default). Each probe queues up to
    /// `gain − 1` of a BDP at the bottleneck; a smaller gain finds new capacity more slowly and
    /// queues less. Values below 1.01 are taken as 1.01, so that a probe still probes.
    pub probe_up_gain: Gain,
    /// weir's third departure, for links whose capacity swings (cellular, a train's tunnel):
    /// a capacity drop is acted on within a round trip instead of when BBR.max_bw's window
    /// (two ProbeBW cycles, 4–6 s) forgets the old rate. While a queue stands at the
    /// bottleneck (RTT samples above the path's base — the lowest RTT the connection saw, or
    /// BBR.min_rtt where higher — by a quarter of it, at least 2 ms) the bottleneck never
    /// idles, so its acknowledgement rate measures it; when every delivery-rate sample stays
    /// under half of BBR.bw for a minimum RTT (at least 40 ms and three ACKs) and so does the
    /// acknowledgement rate, BBR restarts its bandwidth filter from the latter (never below a
    /// sixtieth of BBR.bw at once), caps inflight at one BDP of it until the
    /// queue drained, and, while the old capacity is remembered (10 s, until regained to
    /// 80 %), probes for it again a few round trips after each drain, with short probes.
    /// After an outage (a second without an ACK) BBR.min_rtt restarts from the first packet
    /// sent after it, keeping the old BDP in bytes if the round trip grew. See the `capacity`
    /// module for the reasoning. Default `true`; `false` follows the draft.
    pub capacity_drop: bool,
    /// weir's fourth departure, for latency: probes that queue less and for less long.
    /// ProbeBW_UP ends once one round of samples carrying the probe's own rate shows less than
    /// 25 % growth (the draft waits three rounds counted from the probe's start, queueing up to
    /// three quarters of a BDP at a gain of 1.25, §5.3.3.6), and ProbeBW_DOWN paces at 0.75
    /// rather than 0.9 (§5.3.3.1), so that the queue a probe built drains in a few round trips
    /// instead of ten. DOWN ends when inflight is back at the BDP, so the bottleneck stays busy
    /// and the rate is unchanged; a probe into more capacity keeps growing and goes on. Unlike
    /// [`short_probes`](Self::short_probes), a probe still lasts two rounds of its own
    /// feedback, long enough for a flow with the smaller share to see its delivery rate rise,
    /// so flows still converge. In weir's simulator (one bulk flow, 0 % loss, 1-BDP buffer,
    /// with [`probe_rtt_on_demand`](Self::probe_rtt_on_demand)) the mean queueing delay falls
    /// from 17.9 to 5.5 ms at 100 Mbit/s × 100 ms and from 6.0 to 1.8 ms at 10 Mbit/s × 50 ms.
    /// Default `true`; `false` follows the draft.
    pub lean_probes: bool,
    /// weir's fifth departure, for throughput: ProbeRTT only when it is needed. The draft
    /// enters ProbeRTT whenever no RTT sample *below* BBR.probe_rtt_min_delay came for 5 s
    /// (§5.3.4.4) — on a steady path, every 5 s, halving the window for 200 ms and a round
    /// trip (3–4 % of the rate at 100 ms RTT). A sample within a thirty-second of it (at least
    /// 250 µs) shows the queue empty just as well, and ProbeBW_DOWN empties it every cycle, so
    /// such a sample restarts the interval instead. A flow that never sees its queue empty
    /// (another flow keeps one) still probes every 5 s. Default `true`; `false` follows the
    /// draft.
    pub probe_rtt_on_demand: bool,
    /// weir's sixth departure, for lossy radio links: in ProbeBW, pace (and size the window)
    /// at `bw / (1 − p)`, where `p` is the loss rate of the recent rounds that showed no
    /// standing queue, at most a quarter. BBR.bw is what the path *delivers*; a path that
    /// drops `p` at random takes `bw / (1 − p)` without a queue, and pacing at BBR.bw leaves
    /// a share `p` of it idle in every ProbeBW_CRUISE. Rounds whose losses come with a
    /// standing queue (congestion) clear the estimate, and rounds of bandwidth probing and
    /// ProbeBW_DOWN are left out of it. See the `random_loss` module. Needs
    /// [`loss_tolerant`](Self::loss_tolerant), whose queue test it shares. Default `true`;
    /// `false` follows the draft.
    pub random_loss_compensation: bool,
    /// weir's seventh departure, for latency: Startup also ends after a round whose smallest
    /// RTT stands above the lowest the connection saw by `clamp(lowest / 8, 4 ms, 16 ms)` (RFC
    /// 9406's delay threshold): the bottleneck then held a queue all round, so the sending
    /// rate has passed its rate. The draft waits for three rounds without 25 % growth, by which
    /// time Startup's 2.77 pacing gain has queued more than a BDP — on a 2 Mbit/s link with a
    /// deep buffer a quarter of a second, which every packet sharing the link waits through.
    /// The price: beside a CUBIC flow that later fills a deep buffer, BBR's share fell (10
    /// Mbit/s × 50 ms, 4 BDP, seeds 1–12: 0.19–0.50 of the link, against 0.30–0.50 without),
    /// for a reason not yet found; so it is on in [`low_latency`](Self::low_latency) only.
    /// Default `false`, which follows the draft.
    pub startup_queue_exit: bool,
}

impl BbrConfig {
    /// The setting for a latency-sensitive flow on a path it mostly has to itself (a game
    /// beside its own downloads): [`short_probes`](Self::short_probes) with a probe gain of
    /// 1.1, so that a probe queues at most a tenth of a BDP, and
    /// [`startup_queue_exit`](Self::startup_queue_exit). In weir's simulator a 60 Hz game
    /// stream beside a bulk stream on a 10 Mbit/s, 50 ms path with a 4-BDP buffer sees a p99
    /// one-way delay of 31 ms (base 25 ms) against 69 ms with the draft's probes; two such
    /// flows sharing a 10 Mbit/s bottleneck reach a Jain index of only 0.75 after 30 s and
    /// 0.80 after 60 s (0.99+ with the draft's probes).
    pub fn low_latency() -> Self {
        Self {
            short_probes: true,
            probe_up_gain: Gain::permille(1100),
            startup_queue_exit: true,
            ..Self::default()
        }
    }

    /// The ProbeBW_UP pacing gain in effect (at least 1.01).
    pub(super) fn effective_probe_up_gain(&self) -> Gain {
        self.probe_up_gain.max(Gain::permille(1010))
    }
}

impl Default for BbrConfig {
    fn default() -> Self {
        Self {
            // §2.8: BBR.LossThresh = 2 %.
            loss_thresh: Gain::permille(20),
            // §2.8: BBR.Beta = 0.7.
            beta: Gain::permille(700),
            // §2.8: BBR.Headroom = 0.15.
            headroom: Gain::permille(150),
            // §2.5: BBR.PacingMarginPercent = 1.
            pacing_margin_percent: 1,
            seed: 0x6262_725f_7765_6972,
            loss_tolerant: true,
            short_probes: false,
            probe_up_gain: PROBE_UP_PACING_GAIN,
            capacity_drop: true,
            lean_probes: true,
            probe_rtt_on_demand: true,
            random_loss_compensation: true,
            startup_queue_exit: false,
        }
    }
}
