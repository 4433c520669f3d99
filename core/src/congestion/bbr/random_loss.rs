//! weir's random-loss compensation ([`BbrConfig::random_loss_compensation`](super::BbrConfig)):
//! BBR.bw is a *delivery* rate, and on a path that drops a share `p` of what it carries at
//! random (a radio link, after or before the bottleneck) the delivery rate is `(1 − p)` of the
//! sending rate the path can take. Pacing at BBR.bw then sends `(1 − p)` of the path's rate in
//! ProbeBW_CRUISE and delivers `(1 − p)²` of it: 72 % of a 10 Mbit/s link at 15 % loss, where
//! 85 % is there to take. Sending at `bw / (1 − p)` fills the path in both placements: loss
//! after the bottleneck leaves `(1 − p) × capacity` delivered, which is BBR.bw, so the
//! bottleneck is exactly busy; loss before it lets `bw` reach it, which is what it carries.
//! In neither case does a queue build, and BBR.bw (what is delivered) does not move, so the
//! compensation does not feed on itself.
//!
//! It must not compensate for congestion: a buffer that overflows drops a share that grows
//! with the sending rate, and compensating for it would hold that share up for ever. So the
//! loss rate is measured only over rounds that do not look congested — a round whose losses
//! come with a standing queue (the loss rule's test, `Bbr::shows_standing_queue`) clears the
//! estimate, and rounds of bandwidth probing (whose losses may be the probe's own queue
//! overflowing) are left out. The estimate is a byte-weighted average over the last few
//! hundred datagrams (at least [`MIN_SAMPLE_PACKETS`] before it counts). The compensation
//! also pauses for a round after one whose smallest RTT showed a standing queue, lost or not:
//! BBR.max_bw is the *largest* delivery-rate sample, and with random loss the samples scatter
//! (a round of 17 packets at 3 % loss: ±4 %), so the maximum overstates what is delivered and
//! pacing at it over `(1 − p)` would overfill the bottleneck a little, round after round; the
//! pause lets the queue drain. Its test is tighter than the loss rule's (a thirty-second of the
//! minimum RTT, or a datagram's time, at least 1 ms). The loss rate it
//! compensates is capped at [`MAX_COMPENSATED_LOSS`], and below [`MIN_COMPENSATED_LOSS`] it
//! compensates nothing.

use std::time::Duration;

use super::params::Gain;

/// The most loss compensated for: a quarter, so that the sending rate is at most 4/3 of the
/// delivery rate. A path losing more at random is rare, and a misjudged congestion costs at
/// most this much more load on the bottleneck.
pub(super) const MAX_COMPENSATED_LOSS: Gain = Gain::permille(250);

/// The least loss compensated for: 1 %. Below it the compensation is within the pacing margin
/// and the noise of the delivery-rate samples, and a path that loses that little (Wi-Fi, LTE)
/// is better left exactly as the draft drives it.
pub(super) const MIN_COMPENSATED_LOSS: Gain = Gain::permille(10);

/// The fewest datagrams' worth of bytes the estimate must rest on before it is used: below
/// that a single loss is a large share.
pub(super) const MIN_SAMPLE_PACKETS: u64 = 64;

/// Once the estimate rests on this many datagrams' worth of bytes, each round's end ages it by
/// [`DECAY`], so that it follows a path whose loss rate changed within a few hundred datagrams
/// or eight rounds, whichever is longer.
const WINDOW_PACKETS: u64 = 256;

/// The weight the past keeps at each round's end, once the window is full.
const DECAY: Gain = Gain::permille(875);

/// What a round that ended says about the losses in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoundVerdict {
    /// The round carried no probe and its losses (if any) came without a standing queue.
    Random,
    /// The round lost data with a standing queue: congestion, not noise.
    Congested,
    /// The round carried bandwidth probing (or Startup): its losses say nothing either way.
    Probing,
}

/// The byte-weighted loss rate of the recent rounds that did not look congested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RandomLossEstimate {
    /// C.delivered when the current round began.
    round_base: u64,
    /// The (decayed) bytes lost and delivered over the rounds counted.
    lost: u64,
    delivered: u64,
    /// The smallest RTT sample of the current round (`None` before one).
    round_min_rtt: Option<Duration>,
    /// The last round's smallest RTT showed a standing queue: compensation paused.
    queued: bool,
}

impl RandomLossEstimate {
    /// An RTT sample of the current round.
    pub(super) fn on_rtt(&mut self, rtt: Duration) {
        if !rtt.is_zero() {
            self.round_min_rtt = Some(self.round_min_rtt.map_or(rtt, |min| min.min(rtt)));
        }
    }

    /// The smallest RTT sample of the round that is ending, if any; the next round starts
    /// without one.
    pub(super) fn take_round_min_rtt(&mut self) -> Option<Duration> {
        self.round_min_rtt.take()
    }

    /// Whether the round that ended showed a standing queue (compensation pauses meanwhile).
    pub(super) fn set_queued(&mut self, queued: bool) {
        self.queued = queued;
    }

    /// A round ended with C.delivered at `delivered_now`, having lost `lost` bytes; `datagram`
    /// is the datagram size.
    pub(super) fn end_round(
        &mut self,
        delivered_now: u64,
        lost: u64,
        verdict: RoundVerdict,
        datagram: u64,
    ) {
        let delivered = delivered_now.saturating_sub(self.round_base);
        self.round_base = delivered_now;
        match verdict {
            RoundVerdict::Probing => {}
            RoundVerdict::Congested => {
                self.lost = 0;
                self.delivered = 0;
            }
            RoundVerdict::Random => {
                if self.total() >= WINDOW_PACKETS.saturating_mul(datagram) {
                    self.lost = DECAY.apply(self.lost);
                    self.delivered = DECAY.apply(self.delivered);
                }
                self.lost = self.lost.saturating_add(lost);
                self.delivered = self.delivered.saturating_add(delivered);
            }
        }
    }

    fn total(&self) -> u64 {
        self.lost.saturating_add(self.delivered)
    }

    /// The loss rate to compensate for (capped at [`MAX_COMPENSATED_LOSS`]), or zero below
    /// [`MIN_COMPENSATED_LOSS`] or while the estimate rests on fewer than
    /// [`MIN_SAMPLE_PACKETS`] datagrams.
    pub(super) fn rate(&self, datagram: u64) -> Gain {
        let total = self.total();
        if total == 0 || total < MIN_SAMPLE_PACKETS.saturating_mul(datagram) {
            return Gain::permille(0);
        }
        let permille = u128::from(self.lost) * 1000 / u128::from(total);
        let permille = u32::try_from(permille).unwrap_or(u32::MAX);
        if permille < MIN_COMPENSATED_LOSS.as_permille() {
            return Gain::permille(0);
        }
        Gain::permille(permille.min(MAX_COMPENSATED_LOSS.as_permille()))
    }

    /// `bw / (1 − p)`: the sending rate that delivers `bw` when a share `p = rate(datagram)` is
    /// lost at random; `bw` while paused by a standing queue.
    pub(super) fn compensate(&self, bw: u64, datagram: u64) -> u64 {
        if self.queued {
            return bw;
        }
        let kept = 1000 - u64::from(self.rate(datagram).as_permille());
        u64::try_from(u128::from(bw) * 1000 / u128::from(kept)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1000;

    fn rounds(estimate: &mut RandomLossEstimate, n: usize, lost: u64, delivered: u64) {
        for _ in 0..n {
            end(estimate, lost, delivered, RoundVerdict::Random);
        }
    }

    /// Within a thousandth: the decay rounds down.
    fn assert_near(rate: Gain, permille: u32) {
        assert!(
            rate.as_permille().abs_diff(permille) <= 1,
            "{rate:?} against {permille}"
        );
    }

    fn end(estimate: &mut RandomLossEstimate, lost: u64, delivered: u64, verdict: RoundVerdict) {
        let now = estimate.round_base + delivered;
        estimate.end_round(now, lost, verdict, MSS);
    }

    #[test]
    fn nothing_is_compensated_before_enough_data() {
        let mut estimate = RandomLossEstimate::default();
        rounds(&mut estimate, 1, 5 * MSS, 40 * MSS);
        assert_eq!(estimate.rate(MSS), Gain::permille(0));
        assert_eq!(estimate.compensate(1_000_000, MSS), 1_000_000);
    }

    #[test]
    fn a_steady_random_loss_is_measured_and_compensated() {
        let mut estimate = RandomLossEstimate::default();
        // 10 % of each round lost, for many rounds.
        rounds(&mut estimate, 50, 10 * MSS, 90 * MSS);
        assert_near(estimate.rate(MSS), 100);
        let sending = estimate.compensate(900_000, MSS);
        assert!((998_000..=1_001_000).contains(&sending), "{sending}");
    }

    #[test]
    fn a_loss_below_one_percent_is_left_alone() {
        let mut estimate = RandomLossEstimate::default();
        rounds(&mut estimate, 50, MSS, 199 * MSS);
        assert_eq!(estimate.rate(MSS), Gain::permille(0));
        rounds(&mut estimate, 50, 2 * MSS, 98 * MSS);
        assert_near(estimate.rate(MSS), 20);
    }

    #[test]
    fn a_standing_queue_pauses_the_compensation() {
        let mut estimate = RandomLossEstimate::default();
        rounds(&mut estimate, 50, 10 * MSS, 90 * MSS);
        estimate.set_queued(true);
        assert_eq!(estimate.compensate(900_000, MSS), 900_000);
        assert_near(estimate.rate(MSS), 100);
        estimate.set_queued(false);
        assert!(estimate.compensate(900_000, MSS) > 990_000);
        estimate.on_rtt(Duration::from_millis(30));
        estimate.on_rtt(Duration::from_millis(20));
        estimate.on_rtt(Duration::ZERO);
        assert_eq!(
            estimate.take_round_min_rtt(),
            Some(Duration::from_millis(20))
        );
        assert_eq!(estimate.take_round_min_rtt(), None);
    }

    #[test]
    fn the_compensation_is_capped() {
        let mut estimate = RandomLossEstimate::default();
        rounds(&mut estimate, 50, 50 * MSS, 50 * MSS);
        assert_eq!(estimate.rate(MSS), MAX_COMPENSATED_LOSS);
        assert_eq!(estimate.compensate(750, MSS), 1000);
    }

    #[test]
    fn a_congested_round_clears_the_estimate() {
        let mut estimate = RandomLossEstimate::default();
        rounds(&mut estimate, 50, 5 * MSS, 95 * MSS);
        assert_near(estimate.rate(MSS), 50);
        end(&mut estimate, 20 * MSS, 80 * MSS, RoundVerdict::Congested);
        assert_eq!(estimate.rate(MSS), Gain::permille(0));
    }

    #[test]
    fn probing_rounds_are_left_out() {
        let mut estimate = RandomLossEstimate::default();
        rounds(&mut estimate, 50, 5 * MSS, 95 * MSS);
        end(&mut estimate, 50 * MSS, 50 * MSS, RoundVerdict::Probing);
        assert_near(estimate.rate(MSS), 50);
    }

    #[test]
    fn the_estimate_follows_a_change_within_a_few_windows() {
        let mut estimate = RandomLossEstimate::default();
        rounds(&mut estimate, 50, 20 * MSS, 80 * MSS);
        rounds(&mut estimate, 40, 0, 100 * MSS);
        assert!(
            estimate.rate(MSS) <= Gain::permille(5),
            "{:?}",
            estimate.rate(MSS)
        );
    }
}
