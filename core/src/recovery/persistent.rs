//! Persistent congestion (RFC 9002 §7.6).
//!
//! ## What is checked
//!
//! RFC 9002 §7.6.2 establishes persistent congestion when two ack-eliciting packets are declared
//! lost, every packet sent between them (across all packet-number spaces) is declared lost, the
//! time between their sending exceeds the persistent congestion duration, and an RTT sample
//! existed when both were sent. [`in_persistent_congestion`] checks, over the packets declared
//! lost by **one** loss-detection run in **one** space (as Appendix B.8's pseudocode does):
//!
//! 1. both packets are ack-eliciting;
//! 2. both were sent strictly after the first RTT sample;
//! 3. `time_sent(later) − time_sent(earlier) >` [`persistent_congestion_duration`];
//! 4. every packet of the space sent between them is in the same run's lost list. This is exact
//!    for the space, not a packet-number approximation: each tracked packet carries its
//!    position among the packets sent in the space, so a skipped packet number does not break a
//!    run while an acknowledged (or still outstanding) packet does. Packets lost by an
//!    *earlier* run cannot lie between two packets of this run: a run's losses are always the
//!    oldest outstanding packets.
//!
//! ## What is approximated
//!
//! - Packets of *other* spaces sent in between are not examined. Once the handshake is
//!   confirmed only the Data space remains, so this only matters during the handshake, where it
//!   could declare persistent congestion although a packet of another space sent in between was
//!   acknowledged.
//! - A period whose first packets were declared lost by an earlier run (an earlier ACK or loss
//!   timer) and last ones by this run is not recognised: the collapse waits until one run alone
//!   spans the duration. This errs towards not collapsing the window.

use std::time::{Duration, Instant};

use super::{PERSISTENT_CONGESTION_THRESHOLD, RttEstimator, SentPacket};

/// The persistent congestion duration, `(smoothed_rtt + max(4 × rttvar, kGranularity) +
/// max_ack_delay) × kPersistentCongestionThreshold` (RFC 9002 §7.6.1). Unlike the PTO, it
/// includes `max_ack_delay` whatever the space.
pub(crate) fn persistent_congestion_duration(
    rtt: &RttEstimator,
    max_ack_delay: Duration,
) -> Duration {
    rtt.pto_base()
        .saturating_add(max_ack_delay)
        .saturating_mul(PERSISTENT_CONGESTION_THRESHOLD)
}

/// Whether `lost` — the packets one loss-detection run of one space declared lost, in ascending
/// packet-number order, as [`SpaceRecovery`](super::SpaceRecovery) appends them — establishes
/// persistent congestion (RFC 9002 §7.6.2; see the [module docs](self) for exactly what is
/// checked). `first_rtt_sample` is when the connection took its first RTT sample; without one
/// there is no persistent congestion.
pub(crate) fn in_persistent_congestion<T>(
    lost: &[(u64, SentPacket<T>)],
    rtt: &RttEstimator,
    max_ack_delay: Duration,
    first_rtt_sample: Option<Instant>,
) -> bool {
    // RFC 9002 §7.6.2: the period does not start before the first RTT sample.
    let Some(first_rtt_sample) = first_rtt_sample else {
        return false;
    };
    let duration = persistent_congestion_duration(rtt, max_ack_delay);
    // Send time of the earliest eligible packet of the current run of consecutive losses.
    let mut run_start: Option<Instant> = None;
    let mut previous_seq: Option<u64> = None;
    for (_, packet) in lost {
        if previous_seq.is_some_and(|seq| packet.seq != seq.wrapping_add(1)) {
            // A packet sent in between was not lost in this run: the run ends.
            run_start = None;
        }
        previous_seq = Some(packet.seq);
        if !packet.ack_eliciting || packet.time_sent <= first_rtt_sample {
            continue;
        }
        match run_start {
            None => run_start = Some(packet.time_sent),
            Some(start) => {
                if packet.time_sent.saturating_duration_since(start) > duration {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::{INITIAL_RTT, test_epoch};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// RTT with smoothed 100 ms, rttvar 50 ms: PTO base 300 ms.
    fn rtt() -> RttEstimator {
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, ms(100), true, ms(25));
        rtt
    }

    /// Lost packets `(seq, sent at ms, ack_eliciting)`; packet numbers = 10 × seq.
    fn lost(t0: Instant, packets: &[(u64, u64, bool)]) -> Vec<(u64, SentPacket<()>)> {
        packets
            .iter()
            .map(|&(seq, at, ack_eliciting)| {
                let mut p = SentPacket::new(t0 + ms(at), 1000, ack_eliciting, true, ());
                p.seq = seq;
                (10 * seq, p)
            })
            .collect()
    }

    #[test]
    fn duration_is_three_ptos_with_max_ack_delay() {
        // (100 + 4 × 50 + 25) × 3 = 975 ms.
        assert_eq!(persistent_congestion_duration(&rtt(), ms(25)), ms(975));
        // RFC 9002 §7.6.3's example: smoothed_rtt 1 s, rttvar 0, max_ack_delay 0 → 3 PTOs of
        // 1 s (plus the granularity floor on the variation term, which the example ignores).
        let mut one = RttEstimator::new(INITIAL_RTT);
        for _ in 0..100 {
            one.update(Duration::ZERO, Duration::from_secs(1), true, Duration::ZERO);
        }
        assert_eq!(one.rttvar(), Duration::ZERO);
        assert_eq!(
            persistent_congestion_duration(&one, Duration::ZERO),
            ms(3003)
        );
    }

    #[test]
    fn span_beyond_duration_of_consecutive_losses() {
        let t0 = test_epoch();
        let sample = Some(t0);
        // Sent at 1 ms and 977 ms: 976 ms > 975 ms.
        let l = lost(t0, &[(0, 1, true), (1, 500, false), (2, 977, true)]);
        assert!(in_persistent_congestion(&l, &rtt(), ms(25), sample));
        // Exactly the duration is not enough.
        let l = lost(t0, &[(0, 1, true), (1, 976, true)]);
        assert!(!in_persistent_congestion(&l, &rtt(), ms(25), sample));
    }

    #[test]
    fn an_acknowledged_packet_in_between_breaks_the_period() {
        let t0 = test_epoch();
        // seq 1 is missing from the lost list: it was acknowledged.
        let l = lost(t0, &[(0, 1, true), (2, 1000, true)]);
        assert!(!in_persistent_congestion(&l, &rtt(), ms(25), Some(t0)));
        // A later run that is long enough on its own still counts.
        let l = lost(t0, &[(0, 1, true), (2, 10, true), (3, 986, true)]);
        assert!(in_persistent_congestion(&l, &rtt(), ms(25), Some(t0)));
    }

    #[test]
    fn endpoints_must_be_ack_eliciting() {
        let t0 = test_epoch();
        let l = lost(t0, &[(0, 1, false), (1, 500, true), (2, 1000, false)]);
        assert!(!in_persistent_congestion(&l, &rtt(), ms(25), Some(t0)));
    }

    #[test]
    fn packets_before_the_first_rtt_sample_do_not_start_the_period() {
        let t0 = test_epoch();
        let l = lost(t0, &[(0, 0, true), (1, 100, true), (2, 1000, true)]);
        // The first sample at 0 ms: packet 0 (sent at 0) is not after it; 1 → 2 is 900 ms.
        assert!(!in_persistent_congestion(&l, &rtt(), ms(25), Some(t0)));
        // No sample at all: never.
        let l = lost(t0, &[(0, 1, true), (1, 5000, true)]);
        assert!(!in_persistent_congestion(&l, &rtt(), ms(25), None));
        // A sample at 0 ms with packets sent after it: yes.
        assert!(in_persistent_congestion(&l, &rtt(), ms(25), Some(t0)));
    }

    #[test]
    fn fewer_than_two_packets_is_never_persistent() {
        let t0 = test_epoch();
        assert!(!in_persistent_congestion::<()>(
            &[],
            &rtt(),
            ms(25),
            Some(t0)
        ));
        let l = lost(t0, &[(0, 5000, true)]);
        assert!(!in_persistent_congestion(&l, &rtt(), ms(25), Some(t0)));
    }
}
