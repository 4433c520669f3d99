#![allow(clippy::single_range_in_vec_init)] // ACK frames are lists of ranges; one range is common

use std::time::{Duration, Instant};

use super::*;
use crate::recovery::{INITIAL_RTT, SentPacket, test_epoch};

const MAX_ACK_DELAY: Duration = Duration::from_millis(25);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Fixture {
    t0: Instant,
    spaces: [SpaceRecovery<()>; 3],
    rtt: RttEstimator,
    inputs: TimerInputs,
}

impl Fixture {
    /// A client before address validation, with an RTT sample of 100 ms (PTO base 300 ms).
    fn new() -> Self {
        let t0 = test_epoch();
        let mut rtt = RttEstimator::new(INITIAL_RTT);
        rtt.update(Duration::ZERO, ms(100), false, MAX_ACK_DELAY);
        Self {
            t0,
            spaces: SpaceId::ALL.map(SpaceRecovery::new),
            rtt,
            inputs: TimerInputs {
                now: t0,
                max_ack_delay: MAX_ACK_DELAY,
                handshake_confirmed: false,
                has_handshake_keys: false,
                peer_completed_address_validation: false,
                at_amplification_limit: false,
                max_pto: None,
            },
        }
    }

    fn send(&mut self, space: SpaceId, pn: u64, at: u64) {
        let packet = SentPacket::new(self.t0 + ms(at), 1000, true, true, ());
        self.spaces[space.index()].on_packet_sent(pn, packet);
    }

    fn timer(&self, pto_count: u32) -> Option<(Instant, LossTimer)> {
        let [a, b, c] = &self.spaces;
        loss_detection_timer([a, b, c], &self.rtt, pto_count, &self.inputs)
    }
}

#[test]
fn nothing_in_flight_after_address_validation_arms_nothing() {
    let mut f = Fixture::new();
    f.inputs.peer_completed_address_validation = true;
    assert_eq!(f.timer(0), None);
}

#[test]
fn anti_deadlock_pto_counts_from_now_in_initial_then_handshake() {
    let mut f = Fixture::new();
    f.inputs.now = f.t0 + ms(50);
    assert_eq!(
        f.timer(0),
        Some((f.t0 + ms(350), LossTimer::Pto(SpaceId::Initial)))
    );
    f.inputs.has_handshake_keys = true;
    // Backed off twice: 4 × 300 ms.
    assert_eq!(
        f.timer(2),
        Some((f.t0 + ms(1250), LossTimer::Pto(SpaceId::Handshake)))
    );
}

#[test]
fn initial_pto_before_any_rtt_sample_is_999_ms() {
    let mut f = Fixture::new();
    f.rtt = RttEstimator::new(INITIAL_RTT);
    f.send(SpaceId::Initial, 0, 0);
    assert_eq!(
        f.timer(0),
        Some((f.t0 + ms(999), LossTimer::Pto(SpaceId::Initial)))
    );
}

#[test]
fn pto_of_the_earliest_space_with_ack_eliciting_in_flight() {
    let mut f = Fixture::new();
    f.send(SpaceId::Initial, 0, 10);
    f.send(SpaceId::Handshake, 0, 5);
    assert_eq!(
        f.timer(0),
        Some((f.t0 + ms(305), LossTimer::Pto(SpaceId::Handshake)))
    );
    assert_eq!(
        f.timer(1),
        Some((f.t0 + ms(605), LossTimer::Pto(SpaceId::Handshake)))
    );
}

#[test]
fn data_pto_waits_for_handshake_confirmation_and_adds_max_ack_delay() {
    let mut f = Fixture::new();
    f.send(SpaceId::Data, 0, 0);
    // Only short packets in flight, handshake not confirmed: no Data PTO, but the handshake
    // space is probed from the last of them (weir's departure from Appendix A.8), so that
    // handshake data lost behind a window full of short packets is sent again.
    assert_eq!(
        f.timer(0),
        Some((f.t0 + ms(300), LossTimer::Pto(SpaceId::Initial)))
    );
    f.inputs.has_handshake_keys = true;
    assert_eq!(
        f.timer(1),
        Some((f.t0 + ms(600), LossTimer::Pto(SpaceId::Handshake)))
    );
    // Earlier spaces get their own PTO.
    f.send(SpaceId::Handshake, 0, 20);
    assert_eq!(
        f.timer(0),
        Some((f.t0 + ms(320), LossTimer::Pto(SpaceId::Handshake)))
    );
    let mut f = Fixture::new();
    f.inputs.handshake_confirmed = true;
    f.send(SpaceId::Data, 0, 0);
    // 300 + 25 ms; backed off once: (300 + 25) × 2.
    assert_eq!(
        f.timer(0),
        Some((f.t0 + ms(325), LossTimer::Pto(SpaceId::Data)))
    );
    assert_eq!(
        f.timer(1),
        Some((f.t0 + ms(650), LossTimer::Pto(SpaceId::Data)))
    );
}

#[test]
fn loss_time_wins_over_pto_and_amplification_limit() {
    let mut f = Fixture::new();
    f.inputs.handshake_confirmed = true;
    for pn in 0..3 {
        f.send(SpaceId::Data, pn, pn);
    }
    let mut acked = Vec::new();
    let mut lost = Vec::new();
    let [_, _, data] = &mut f.spaces;
    data.on_ack_received(
        f.t0 + ms(100),
        2,
        [2..3],
        Duration::ZERO,
        &mut f.rtt,
        true,
        MAX_ACK_DELAY,
        &mut acked,
        &mut lost,
    )
    .unwrap();
    let loss_time = data.loss_time().unwrap();
    f.inputs.at_amplification_limit = true;
    assert_eq!(
        f.timer(0),
        Some((loss_time, LossTimer::LossTime(SpaceId::Data)))
    );
}

#[test]
fn amplification_limit_disarms_pto() {
    let mut f = Fixture::new();
    f.send(SpaceId::Initial, 0, 0);
    f.inputs.at_amplification_limit = true;
    assert_eq!(f.timer(0), None);
}

#[test]
fn earliest_loss_time_across_spaces() {
    let mut f = Fixture::new();
    for space in [SpaceId::Initial, SpaceId::Handshake] {
        // Handshake packets sent 5 ms earlier than the Initial ones.
        let at = if space == SpaceId::Initial { 10 } else { 5 };
        f.send(space, 0, at);
        f.send(space, 1, at);
        let mut acked = Vec::new();
        let mut lost = Vec::new();
        f.spaces[space.index()]
            .on_ack_received(
                // Both samples 200 ms, so both spaces use the same loss delay.
                f.t0 + ms(at + 200),
                1,
                [1..2],
                Duration::ZERO,
                &mut f.rtt,
                false,
                MAX_ACK_DELAY,
                &mut acked,
                &mut lost,
            )
            .unwrap();
    }
    let [a, b, c] = &f.spaces;
    let (t, space) = earliest_loss_time([a, b, c]).unwrap();
    assert_eq!(space, SpaceId::Handshake);
    assert_eq!(Some(t), b.loss_time());
}

#[test]
fn on_timeout_fires_once_and_backs_off_only_for_pto() {
    let mut f = Fixture::new();
    f.send(SpaceId::Initial, 0, 0);
    let mut ld = LossDetection::new();
    let [a, b, c] = &f.spaces;
    let deadline = ld.set_timer([a, b, c], &f.rtt, &f.inputs);
    assert_eq!(deadline, Some(f.t0 + ms(300)));
    assert_eq!(
        ld.timer(),
        Some((f.t0 + ms(300), LossTimer::Pto(SpaceId::Initial)))
    );
    assert_eq!(ld.on_timeout(f.t0 + ms(299)), None);
    assert_eq!(
        ld.on_timeout(f.t0 + ms(300)),
        Some(LossTimer::Pto(SpaceId::Initial))
    );
    assert_eq!(ld.on_timeout(f.t0 + ms(300)), None);
    assert_eq!(ld.pto_count(), 1);
    // Re-armed with the backoff.
    assert_eq!(
        ld.set_timer([a, b, c], &f.rtt, &f.inputs),
        Some(f.t0 + ms(600))
    );
    assert_eq!(ld.current_pto(&f.rtt, MAX_ACK_DELAY), ms(650));
    ld.reset_pto_count();
    assert_eq!(ld.pto_count(), 0);
    ld.cancel();
    assert_eq!(ld.deadline(), None);

    // A loss-time expiry does not count as a PTO.
    ld.armed = Some((f.t0, LossTimer::LossTime(SpaceId::Data)));
    assert_eq!(
        ld.on_timeout(f.t0),
        Some(LossTimer::LossTime(SpaceId::Data))
    );
    assert_eq!(ld.pto_count(), 0);
}

#[test]
fn huge_backoff_saturates_without_panicking() {
    let mut f = Fixture::new();
    f.send(SpaceId::Initial, 0, 0);
    // 2^30 × 300 ms is representable; a larger count is capped at the same exponent.
    let capped = f.timer(MAX_PTO_BACKOFF_EXPONENT);
    assert_eq!(f.timer(u32::MAX), capped);
}

#[test]
fn a_pto_cap_bounds_the_backoff_but_never_the_base() {
    let mut f = Fixture::new();
    f.send(SpaceId::Initial, 0, 0);
    // Base PTO 300 ms; backed off 2^4 = 4.8 s; capped at 1 s.
    f.inputs.max_pto = Some(ms(1000));
    assert_eq!(
        f.timer(4),
        Some((f.t0 + ms(1000), LossTimer::Pto(SpaceId::Initial)))
    );
    assert_eq!(
        f.timer(1),
        Some((f.t0 + ms(600), LossTimer::Pto(SpaceId::Initial)))
    );
    // A cap below the base PTO shortens it, down to twice the smallest RTT (100 ms here):
    // no answer could come sooner.
    f.inputs.max_pto = Some(ms(10));
    assert_eq!(
        f.timer(3),
        Some((f.t0 + ms(200), LossTimer::Pto(SpaceId::Initial)))
    );
    // A cap between the two applies as it is.
    f.inputs.max_pto = Some(ms(250));
    assert_eq!(
        f.timer(0),
        Some((f.t0 + ms(250), LossTimer::Pto(SpaceId::Initial)))
    );
}
