//! weir's default policy: each knob from the measure that matters to it.

use std::borrow::Cow;
use std::time::Duration;

#[cfg(doc)]
use super::Strategy;
use super::{Decision, MIN_STRATEGY_DATAGRAM, Policy, PolicyInput, TransportChoice};
use crate::lanes::{Compression, FecLevel};

/// weir's default policy. Where [`SeedTiers`](super::SeedTiers) sets every knob from one
/// score, this one sets each knob from the measure that decides whether it pays:
///
/// - **FEC on the real-time lanes from the loss rate**: low from 0.1 % loss, medium from 3 %,
///   high from 8 %; a level is left when the loss falls below half its entry rate. Repair
///   without a round trip pays exactly when packets are lost, whatever the RTT or bandwidth;
///   on a path that loses nothing it only costs bytes. Low starts at the first sign of loss
///   because it costs an eighth of the real-time lanes' bytes — a game's small messages, not
///   the download — and on the named paths it turned a few messages lost in a thousand into
///   fewer (`weir sim --preset wifi --compare`: 4 → 2 of 601). The level moves only while
///   real-time messages flow, and is capped by the link: while the flow fills the path, the
///   real-time messages with their repairs (their wire rate as queued, times one plus the
///   level's overhead) stay within half the bottleneck, or the level steps down — to none on
///   a 100 kbit/s 2G link, where a 60 Hz game alone takes 60 kbit/s and repairs would only
///   queue its own messages.
/// - **Datagram size from the bottleneck rate**: a packet should take at most 20 ms to
///   serialise at the bottleneck (a game message queued behind a full packet waits that
///   long), so the size is `rate × 20 ms` between 512 bytes and the path's maximum — full size
///   from about 480 kbit/s up, 512 bytes on a 100 kbit/s 2G link (41 ms instead of 96 ms per
///   packet). The rate is the controller's model of the bottleneck (BBR's max_bw), taken only
///   while the flow fills the path (its bandwidth estimate is not application-limited): a
///   delivery rate alone cannot tell a slow link from a window that random loss holds down,
///   and smaller packets would shrink such a window further (its minimum is counted in
///   packets) — and only once the estimate holds half a second of samples. Without such a
///   model the size stays. It changes only when the target differs by a quarter from the size
///   in force.
/// - **The queue guard while real-time messages flow** (see [`Strategy::queue_guard`]): a
///   connection that carries a game's messages beside its own bulk data keeps the bottleneck
///   queue to about two datagrams, so the game's messages do not wait behind the download
///   (BBR's window alone allows a bandwidth-delay product of queue, hundreds of milliseconds
///   on a slow link). Off when no real-time message was sent for 2 s: a bulk transfer alone
///   keeps its controller's full window.
/// - **The congestion controller is kept** (BBR unless the application chose another): weir's
///   BBR holds its rate through random loss and keeps the queue short, which no other
///   controller does on the paths where the seed's tiers would switch (CUBIC and NewReno fall
///   to a few percent of the link at 5 % random loss).
/// - **Transport**: UDP; TCP is recommended when more than 30 % of packets are lost while the
///   RTT shows no standing queue (a network that throttles or drops UDP, not a congested
///   bottleneck, where TCP would lose as much). Reported only until transport switching
///   exists.
/// - **Compression from the bottleneck rate**: zstd at level 3 on the lanes that follow the
///   strategy when the controller's model of the bottleneck (the datagram size's input) is
///   below 1 Mbit/s, none again above 2 Mbit/s. Below 1 Mbit/s a byte takes at least 8 µs to
///   cross the bottleneck and every byte saved shortens the queue the game's messages wait in,
///   while zstd-3 spends a few nanoseconds per byte even on a phone's core; and however the
///   rate came to look low (a game flow alone can look like its own small bottleneck), the
///   CPU spent is bounded by it: at most 125 kB/s to compress, about a millisecond of CPU a
///   second. A message that does not shrink (a game's small bit-packed messages usually do
///   not, without a dictionary) goes as it is after a try that costs as much. Above 2 Mbit/s
///   the link is seldom what holds a message back, while a phone's CPU and battery pay for
///   every byte at rates that grow with the link: a lane that wants compression there sets it
///   ([`LaneConfig::compression`](crate::lanes::LaneConfig::compression)). lz4 is not chosen:
///   where bytes are worth saving, zstd saves more of them for CPU still negligible at those
///   rates. Only messages queued after a change are compressed with the new level.
#[derive(Debug, Clone, Copy, Default)]
pub struct WeirPolicy;

/// FEC levels and the loss rate that turns each on.
const FEC_STEPS: [(FecLevel, f64); 3] = [
    (FecLevel::Low, 0.001),
    (FecLevel::Medium, 0.03),
    (FecLevel::High, 0.08),
];

/// The most of the bottleneck the real-time messages and their FEC repairs may take: repairs
/// that would push a game's traffic past half the link queue the game's own messages (and
/// starve whatever shares the connection) for less than they repair.
const FEC_BUDGET_SHARE: f64 = 0.5;

/// Longest a full packet should take to serialise at the bottleneck.
const SERIALISATION_TARGET: Duration = Duration::from_millis(20);

/// Below this bottleneck rate (bytes per second: 1 Mbit/s) compression turns on...
const COMPRESS_BELOW: u64 = 1_000_000 / 8;
/// ...and above this one (2 Mbit/s) it turns off again.
const COMPRESS_OFF_ABOVE: u64 = 2_000_000 / 8;
/// The level compression turns on at.
const COMPRESSION: Compression = Compression::Zstd(3);

/// Loss above which UDP looks hostile (without a standing queue).
const TCP_LOSS: f64 = 0.30;

/// A smoothed RTT this far above one and a half base RTTs means a standing queue.
const STANDING_QUEUE_SLACK: Duration = Duration::from_millis(10);

impl WeirPolicy {
    /// The policy.
    pub fn new() -> Self {
        Self
    }

    /// The FEC level for `loss`, with hysteresis around `current`.
    pub fn fec_for(loss: f64, current: FecLevel) -> FecLevel {
        let entered = FEC_STEPS
            .iter()
            .rev()
            .find(|(_, rate)| loss >= *rate)
            .map_or(FecLevel::None, |(level, _)| *level);
        if entered >= current {
            return entered;
        }
        // Falling: keep each level until the loss is below half the rate that turns it on.
        FEC_STEPS
            .iter()
            .rev()
            .filter(|(level, _)| *level <= current)
            .find(|(_, rate)| loss >= rate / 2.0)
            .map_or(FecLevel::None, |(level, _)| *level)
    }

    /// `wanted`, or the highest lower FEC level whose repairs keep the real-time messages
    /// (`realtime_rate` wire bytes per second) within half of the `bottleneck` (bytes per
    /// second). Without either figure, `wanted`.
    pub fn fec_within_budget(
        wanted: FecLevel,
        realtime_rate: Option<u64>,
        bottleneck: Option<u64>,
    ) -> FecLevel {
        let (Some(rate), Some(bottleneck)) = (realtime_rate, bottleneck) else {
            return wanted;
        };
        let budget = bottleneck as f64 * FEC_BUDGET_SHARE;
        [FecLevel::High, FecLevel::Medium, FecLevel::Low]
            .into_iter()
            .filter(|level| *level <= wanted)
            .find(|level| rate as f64 * (1.0 + level.nominal_overhead()) <= budget)
            .unwrap_or(FecLevel::None)
    }

    /// The compression for a bottleneck of `bandwidth` bytes per second, with hysteresis
    /// around `current`: zstd-3 below 1 Mbit/s, none above 2 Mbit/s, `current` between.
    pub fn compression_for(bandwidth: u64, current: Compression) -> Compression {
        if bandwidth < COMPRESS_BELOW {
            COMPRESSION
        } else if bandwidth > COMPRESS_OFF_ABOVE {
            Compression::None
        } else {
            current
        }
    }

    /// The datagram size for `bandwidth` bytes per second, between 512 bytes and `max`.
    pub fn datagram_for(bandwidth: u64, max: u16) -> u16 {
        let target = (bandwidth as u128 * SERIALISATION_TARGET.as_micros() / 1_000_000) as u64;
        let max = max.max(MIN_STRATEGY_DATAGRAM);
        u16::try_from(target)
            .unwrap_or(u16::MAX)
            .clamp(MIN_STRATEGY_DATAGRAM, max)
    }
}

/// Slots of the bandwidth estimator (100 ms each by default) that must hold samples before
/// the rate counts as the bottleneck's.
const MIN_FILLING_SLOTS: usize = 5;

impl Policy for WeirPolicy {
    fn name(&self) -> &str {
        "weir"
    }

    fn decide(&mut self, input: &PolicyInput<'_>) -> Decision {
        let mut strategy = *input.current;
        let mut reasons: Vec<String> = Vec::new();
        // At least half a second of measured slots: a connection's first delivery-rate sample
        // (its first packets, sent before it ever ran out of data) is not marked
        // application-limited, and a game flow alone, whose later samples all are, would
        // otherwise read as a bottleneck of its own rate (0.18 Mbit/s for a 60 Hz game).
        let filling = input
            .estimates
            .bandwidth
            .is_some_and(|b| !b.app_limited && b.samples >= MIN_FILLING_SLOTS);
        let bottleneck = input.controller_bandwidth.filter(|_| filling);
        if let Some(loss) = input.estimates.loss_rate {
            // FEC protects real-time lanes: without real-time traffic it stays as it is (no
            // change, no event, for a download alone).
            if input.realtime {
                let wanted = Self::fec_for(loss, input.current.fec);
                strategy.fec = Self::fec_within_budget(wanted, input.realtime_rate, bottleneck);
            }
            if strategy.fec != input.current.fec {
                reasons.push(format!(
                    "loss {:.1} %: FEC {}",
                    loss * 100.0,
                    super::fec_name(strategy.fec)
                ));
            }
            // Loss with a standing queue is the path's congestion, which TCP would meet too;
            // loss without one is a network that drops UDP.
            let queued = match (input.smoothed_rtt, input.estimates.base_rtt) {
                (Some(srtt), Some(base)) => srtt > base + base / 2 + STANDING_QUEUE_SLACK,
                _ => false,
            };
            strategy.transport = if loss > TCP_LOSS && !queued {
                TransportChoice::Tcp
            } else {
                TransportChoice::Udp
            };
            if strategy.transport != input.current.transport {
                reasons.push(format!(
                    "loss {:.1} %: {} recommended",
                    loss * 100.0,
                    strategy.transport
                ));
            }
        }
        if let Some(rate) = bottleneck {
            let target = Self::datagram_for(rate, input.max_datagram_size);
            let current = input.current.datagram_size.min(input.max_datagram_size);
            // A quarter's difference, or the cap moved under the size in force.
            let moved = u32::from(target.abs_diff(current)) * 4 > u32::from(current)
                || input.current.datagram_size > input.max_datagram_size;
            if moved {
                strategy.datagram_size = target;
                reasons.push(format!(
                    "bottleneck {:.2} Mbit/s: {target}-byte datagrams",
                    rate as f64 * 8.0 / 1e6
                ));
            }
            let compression = Self::compression_for(rate, input.current.compression);
            if compression != input.current.compression {
                strategy.compression = compression;
                reasons.push(format!(
                    "bottleneck {:.2} Mbit/s: compression {compression}",
                    rate as f64 * 8.0 / 1e6
                ));
            }
        }
        strategy.queue_guard = input.realtime;
        if strategy.queue_guard != input.current.queue_guard {
            reasons.push(
                if input.realtime {
                    "real-time messages: queue guard on"
                } else {
                    "no real-time messages: queue guard off"
                }
                .to_owned(),
            );
        }
        if reasons.is_empty() {
            return Decision::keep(input.current, "no change");
        }
        Decision {
            strategy,
            reason: Cow::Owned(reasons.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fec_rises_with_loss_and_falls_at_half_the_rate() {
        use FecLevel::*;
        assert_eq!(WeirPolicy::fec_for(0.0, None), None);
        assert_eq!(WeirPolicy::fec_for(0.0009, None), None);
        assert_eq!(WeirPolicy::fec_for(0.001, None), Low);
        assert_eq!(WeirPolicy::fec_for(0.01, None), Low);
        assert_eq!(WeirPolicy::fec_for(0.05, None), Medium);
        assert_eq!(WeirPolicy::fec_for(0.08, Low), High);
        // Falling from high: held down to 4 %, medium down to 1.5 %, low down to 0.05 %.
        assert_eq!(WeirPolicy::fec_for(0.045, High), High);
        assert_eq!(WeirPolicy::fec_for(0.035, High), Medium);
        assert_eq!(WeirPolicy::fec_for(0.016, Medium), Medium);
        assert_eq!(WeirPolicy::fec_for(0.012, Medium), Low);
        assert_eq!(WeirPolicy::fec_for(0.0006, Low), Low);
        assert_eq!(WeirPolicy::fec_for(0.0004, Low), None);
    }

    #[test]
    fn fec_is_capped_by_what_the_link_can_carry() {
        use FecLevel::*;
        // A 60 Hz game of 64-byte messages: 7.7 kB/s on the wire.
        let game = Some(60 * 128);
        // On 12 Mbit/s anything fits.
        let lte = Some(12_000_000 / 8);
        assert_eq!(WeirPolicy::fec_within_budget(High, game, lte), High);
        // 180 kbit/s: half is 11.25 kB/s; high (×1.5) does not fit, medium (×1.25) does.
        let edge = Some(180_000 / 8);
        assert_eq!(WeirPolicy::fec_within_budget(High, game, edge), Medium);
        assert_eq!(WeirPolicy::fec_within_budget(Low, game, edge), Low);
        // 100 kbit/s: the game alone is past half the link.
        let tunnel = Some(100_000 / 8);
        assert_eq!(WeirPolicy::fec_within_budget(High, game, tunnel), None);
        // Without a measured bottleneck (or demand) the loss decides alone.
        assert_eq!(
            WeirPolicy::fec_within_budget(High, game, Option::None),
            High
        );
        assert_eq!(
            WeirPolicy::fec_within_budget(Medium, Option::None, tunnel),
            Medium
        );
    }

    #[test]
    fn tcp_is_recommended_for_heavy_loss_without_a_queue_only() {
        use crate::congestion::ControllerKind;
        use crate::estimate::PathEstimates;
        let current = super::super::Strategy::plain(ControllerKind::Bbr, 1200);
        let estimates = PathEstimates {
            loss_rate: Some(0.4),
            base_rtt: Some(Duration::from_millis(50)),
            ..PathEstimates::default()
        };
        let decide = |srtt: u64| {
            WeirPolicy::new()
                .decide(&PolicyInput {
                    now: crate::congestion::test_epoch(),
                    estimates: &estimates,
                    current: &current,
                    max_datagram_size: 1200,
                    min_rtt: Some(Duration::from_millis(50)),
                    smoothed_rtt: Some(Duration::from_millis(srtt)),
                    controller_bandwidth: None,
                    realtime: false,
                    realtime_rate: None,
                })
                .strategy
                .transport
        };
        assert_eq!(decide(60), TransportChoice::Tcp);
        // 40 % loss behind a 450 ms queue is congestion: UDP stays.
        assert_eq!(decide(500), TransportChoice::Udp);
    }

    #[test]
    fn compression_turns_on_below_1_mbit_and_off_above_2() {
        let zstd = Compression::Zstd(3);
        let none = Compression::None;
        assert_eq!(WeirPolicy::compression_for(100_000 / 8, none), zstd);
        assert_eq!(WeirPolicy::compression_for(999_000 / 8, none), zstd);
        assert_eq!(WeirPolicy::compression_for(1_500_000 / 8, none), none);
        assert_eq!(WeirPolicy::compression_for(1_500_000 / 8, zstd), zstd);
        assert_eq!(WeirPolicy::compression_for(2_100_000 / 8, zstd), none);
        assert_eq!(WeirPolicy::compression_for(u64::MAX, zstd), none);
    }

    #[test]
    fn datagrams_take_at_most_20_ms_to_serialise() {
        // 100 kbit/s: 250 bytes in 20 ms, floored at 512.
        assert_eq!(WeirPolicy::datagram_for(100_000 / 8, 1200), 512);
        // 400 kbit/s: 1000 bytes.
        assert_eq!(WeirPolicy::datagram_for(400_000 / 8, 1200), 1000);
        assert_eq!(WeirPolicy::datagram_for(100_000_000 / 8, 1200), 1200);
        assert_eq!(WeirPolicy::datagram_for(u64::MAX, 1452), 1452);
        assert_eq!(WeirPolicy::datagram_for(0, 300), 512);
    }
}
