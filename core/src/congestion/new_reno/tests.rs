use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::congestion::{CongestionCause, RttSnapshot, test_epoch};

const MDS: u64 = 1200;
const RTT: Duration = Duration::from_millis(100);

fn rtt() -> RttSnapshot {
    RttSnapshot {
        latest: RTT,
        smoothed: RTT,
        min: RTT,
        rttvar: RTT / 2,
    }
}

fn acked(sent_time: Instant, bytes: u64) -> AckedPacket {
    AckedPacket {
        sent_time,
        bytes,
        rtt: rtt(),
        app_limited: false,
    }
}

fn loss(sent_time: Instant, persistent: bool) -> CongestionEvent {
    CongestionEvent {
        sent_time,
        lost_bytes: MDS,
        persistent,
        bytes_in_flight: 0,
        cause: CongestionCause::Loss,
    }
}

/// One round trip: sends a full window of `MDS` packets at `t` and acknowledges them all one
/// RTT later. Returns the time of the acknowledgements.
fn round(cc: &mut NewReno, t: Instant) -> Instant {
    let packets = cc.window() / MDS;
    for i in 0..packets {
        cc.on_packet_sent(t, MDS, (i + 1) * MDS);
    }
    let at = t + RTT;
    for _ in 0..packets {
        cc.on_packet_acked(at, &acked(t, MDS));
    }
    at
}

#[test]
fn initial_and_minimum_windows() {
    let cc = NewReno::new(MDS);
    assert_eq!(cc.window(), 12_000);
    assert_eq!(cc.minimum_window(), 2400);
    assert!(cc.in_slow_start());
    assert_eq!(cc.ssthresh(), None);
    assert_eq!(cc.kind(), ControllerKind::NewReno);
    assert_eq!(cc.pacing_rate(), None);
    assert_eq!(NewReno::new(1500).window(), 14_720);
}

#[test]
fn slow_start_adds_acknowledged_bytes() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    // One window acknowledged doubles it: 12000 → 24000 → 48000.
    let t = round(&mut cc, t0);
    assert_eq!(cc.window(), 24_000);
    round(&mut cc, t);
    assert_eq!(cc.window(), 48_000);
}

#[test]
fn loss_halves_the_window_and_starts_recovery() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    let t = round(&mut cc, t0);
    assert_eq!(cc.window(), 24_000);
    cc.on_congestion_event(t, &loss(t0, false));
    assert_eq!(cc.window(), 12_000);
    assert_eq!(cc.ssthresh(), Some(12_000));
    assert_eq!(cc.recovery_start(), Some(t));
    assert!(!cc.in_slow_start());
}

#[test]
fn one_reduction_per_recovery_period() {
    let t0 = test_epoch();
    let mut cc = NewReno::with_config(&ControllerConfig::default(), MDS);
    let start = t0 + RTT;
    cc.on_congestion_event(start, &loss(t0, false));
    assert_eq!(cc.window(), 6000);
    // Losses of packets sent before (or at) the recovery start: no further reduction.
    cc.on_congestion_event(start + RTT, &loss(t0 + RTT / 2, false));
    cc.on_congestion_event(start + RTT, &loss(start, false));
    assert_eq!(cc.window(), 6000);
    assert_eq!(cc.recovery_start(), Some(start));
    // A packet sent after the recovery started is lost: a new period, a new halving.
    let later = start + 2 * RTT;
    cc.on_congestion_event(later, &loss(start + Duration::from_millis(1), false));
    assert_eq!(cc.window(), 3000);
    assert_eq!(cc.recovery_start(), Some(later));
    // Floored at the minimum window, while ssthresh follows the RFC's halving.
    cc.on_congestion_event(later + RTT, &loss(later + Duration::from_millis(1), false));
    assert_eq!(cc.ssthresh(), Some(1500));
    assert_eq!(cc.window(), 2400);
}

#[test]
fn acks_of_packets_sent_before_recovery_do_not_grow_the_window() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    let start = t0 + RTT;
    cc.on_congestion_event(start, &loss(t0, false));
    let window = cc.window();
    cc.on_packet_acked(start + RTT, &acked(t0 + Duration::from_millis(50), MDS));
    cc.on_packet_acked(start + RTT, &acked(start, MDS));
    assert_eq!(cc.window(), window);
    // A packet sent after the start ends the period and counts (congestion avoidance).
    for _ in 0..5 {
        cc.on_packet_acked(start + RTT, &acked(start + Duration::from_millis(1), MDS));
    }
    assert_eq!(cc.window(), window + MDS);
}

#[test]
fn slow_start_to_threshold_then_one_datagram_per_round_trip() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    let mut t = t0;
    // Slow start: 12000 → 24000 → 48000 → 96000.
    for expected in [24_000, 48_000, 96_000] {
        t = round(&mut cc, t);
        assert_eq!(cc.window(), expected);
    }
    // Loss: ssthresh = window = 48000, in congestion avoidance.
    cc.on_congestion_event(t, &loss(t - RTT, false));
    assert_eq!((cc.window(), cc.ssthresh()), (48_000, Some(48_000)));
    assert!(!cc.in_slow_start());
    // Every later round trip acknowledges a full window and adds exactly one datagram.
    for k in 1..=20 {
        t = round(&mut cc, t + Duration::from_millis(1));
        assert_eq!(cc.window(), 48_000 + k * MDS);
    }
}

#[test]
fn avoidance_growth_is_exact_with_uneven_packet_sizes() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    cc.on_congestion_event(t0, &loss(t0, false));
    assert_eq!(cc.window(), 6000);
    let sent = t0 + Duration::from_millis(1);
    // 6000 bytes in 7-byte pieces: 857 × 7 = 5999, one more byte completes the window.
    for _ in 0..857 {
        cc.on_packet_acked(t0 + RTT, &acked(sent, 7));
    }
    assert_eq!(cc.window(), 6000);
    cc.on_packet_acked(t0 + RTT, &acked(sent, 1));
    assert_eq!(cc.window(), 7200);
}

#[test]
fn slow_start_threshold_reached_mid_round_switches_to_avoidance() {
    let t0 = test_epoch();
    let state = ControllerState {
        ssthresh: Some(18_000),
        ..ControllerState::new(12_000, MDS)
    };
    let mut cc = NewReno::from_state(&ControllerConfig::default(), &state);
    for _ in 0..5 {
        cc.on_packet_acked(t0, &acked(t0, MDS));
    }
    assert_eq!(cc.window(), 18_000);
    assert!(!cc.in_slow_start());
    // Now linear: 15 datagrams (one window) for one more datagram.
    for _ in 0..14 {
        cc.on_packet_acked(t0, &acked(t0, MDS));
    }
    assert_eq!(cc.window(), 18_000);
    cc.on_packet_acked(t0, &acked(t0, MDS));
    assert_eq!(cc.window(), 19_200);
}

#[test]
fn persistent_congestion_collapses_to_minimum_window() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    let mut t = t0;
    for _ in 0..3 {
        t = round(&mut cc, t);
    }
    cc.on_congestion_event(t, &loss(t - RTT, true));
    assert_eq!(cc.window(), 2400);
    assert_eq!(cc.ssthresh(), Some(48_000));
    // The recovery period ends: the next acknowledgement grows the window (slow start again).
    assert_eq!(cc.recovery_start(), None);
    cc.on_packet_acked(t + RTT, &acked(t0, MDS));
    assert_eq!(cc.window(), 3600);
    // Persistent congestion applies even within a recovery period.
    let mut cc = NewReno::new(MDS);
    cc.on_congestion_event(t, &loss(t0, false));
    assert_eq!((cc.window(), cc.recovery_start()), (6000, Some(t)));
    cc.on_congestion_event(t + RTT, &loss(t0, true));
    assert_eq!((cc.window(), cc.recovery_start()), (2400, None));
}

#[test]
fn ecn_ce_is_a_congestion_event() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    let event = CongestionEvent {
        lost_bytes: 0,
        cause: CongestionCause::EcnCe,
        ..loss(t0, false)
    };
    cc.on_congestion_event(t0 + RTT, &event);
    assert_eq!(cc.window(), 6000);
}

#[test]
fn application_limited_acks_do_not_grow_the_window() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    let limited = AckedPacket {
        app_limited: true,
        ..acked(t0, MDS)
    };
    for _ in 0..100 {
        cc.on_packet_acked(t0 + RTT, &limited);
    }
    assert_eq!(cc.window(), 12_000);
    // Nor in congestion avoidance.
    cc.on_congestion_event(t0 + RTT, &loss(t0, false));
    let later = AckedPacket {
        sent_time: t0 + 2 * RTT,
        ..limited
    };
    for _ in 0..100 {
        cc.on_packet_acked(t0 + 3 * RTT, &later);
    }
    assert_eq!(cc.window(), 6000);
}

#[test]
fn state_seeds_a_replacement() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    let t = round(&mut cc, t0);
    cc.on_congestion_event(t, &loss(t0, false));
    let state = cc.state();
    assert_eq!(
        state,
        ControllerState {
            window: 12_000,
            ssthresh: Some(12_000),
            max_datagram_size: MDS,
            recovery_start: Some(t),
            smoothed_rtt: Some(RTT),
            min_rtt: Some(RTT),
            bandwidth: None,
            // The window before the halving, for a CUBIC successor.
            w_max: Some(24_000),
        }
    );
    // Through the factory, as the strategy selector does it.
    let mut next = ControllerConfig::new(ControllerKind::NewReno)
        .build_from_state(t, &state)
        .unwrap();
    assert_eq!(next.state(), state);
    // The successor is still in the same recovery period.
    next.on_congestion_event(t + RTT, &loss(t0 + RTT / 2, false));
    assert_eq!(next.window(), 12_000);
    next.on_packet_acked(t + RTT, &acked(t0, MDS));
    assert_eq!(next.window(), 12_000);
    // A seed below the minimum window is raised to it.
    let tiny = NewReno::from_state(&ControllerConfig::default(), &ControllerState::new(1, MDS));
    assert_eq!(tiny.window(), 2400);
}

#[test]
fn datagram_size_change_recomputes_only_a_pristine_window() {
    let t0 = test_epoch();
    let mut cc = NewReno::new(MDS);
    cc.set_max_datagram_size(1472);
    assert_eq!(cc.window(), 14_720);
    cc.set_max_datagram_size(1200);
    assert_eq!(cc.window(), 12_000);
    cc.on_congestion_event(t0, &loss(t0, false));
    assert_eq!(cc.window(), 6000);
    // After an event only the minimum window follows the size.
    cc.set_max_datagram_size(4000);
    assert_eq!(cc.window(), 8000);
    cc.set_max_datagram_size(0);
    assert_eq!(cc.minimum_window(), 2);
}

#[derive(Debug, Clone)]
enum Event {
    Ack {
        sent_ms: u16,
        bytes: u16,
        app_limited: bool,
    },
    Loss {
        sent_ms: u16,
        persistent: bool,
    },
    Mds(u16),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (any::<u16>(), 1u16..=1500, any::<bool>())
            .prop_map(|(sent_ms, bytes, app_limited)| Event::Ack { sent_ms, bytes, app_limited }),
        2 => (any::<u16>(), any::<bool>())
            .prop_map(|(sent_ms, persistent)| Event::Loss { sent_ms, persistent }),
        1 => (1200u16..=1500).prop_map(Event::Mds),
    ]
}

proptest! {
    /// Whatever the events, the window stays at or above the minimum window, only acks grow it,
    /// and a loss never raises it.
    #[test]
    fn window_bounds_hold(events in prop::collection::vec(event(), 1..300)) {
        let t0 = test_epoch();
        let mut cc = NewReno::new(MDS);
        let mut now = t0;
        for e in events {
            now += Duration::from_millis(1);
            let before = cc.window();
            match e {
                Event::Ack { sent_ms, bytes, app_limited } => {
                    let sent_time = t0 + Duration::from_millis(u64::from(sent_ms));
                    let packet = AckedPacket { app_limited, ..acked(sent_time, u64::from(bytes)) };
                    cc.on_packet_acked(now, &packet);
                    prop_assert!(cc.window() >= before);
                    if app_limited {
                        prop_assert_eq!(cc.window(), before);
                    }
                }
                Event::Loss { sent_ms, persistent } => {
                    let sent_time = t0 + Duration::from_millis(u64::from(sent_ms));
                    cc.on_congestion_event(now, &loss(sent_time, persistent));
                    prop_assert!(cc.window() <= before.max(cc.minimum_window()));
                    if persistent {
                        prop_assert_eq!(cc.window(), cc.minimum_window());
                    }
                }
                Event::Mds(size) => cc.set_max_datagram_size(u64::from(size)),
            }
            prop_assert!(cc.window() >= cc.minimum_window());
            prop_assert_eq!(cc.in_slow_start(), cc.ssthresh().is_none_or(|s| cc.window() < s));
        }
    }
}
