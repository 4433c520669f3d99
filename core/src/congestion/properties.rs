//! One property test over every controller: random scripts of sends, acknowledgements (some
//! application-limited), losses and persistent congestion, ECN marks and datagram-size
//! changes, driven through the [`Controller`] trait as a connection drives it; then the rules
//! every implementation owes the connection (RFC 9002 §7), and the stricter ones the
//! loss-reacting controllers (NewReno, CUBIC, Vegas) share through their window bookkeeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{
    AckEvent, AckedPacket, CongestionCause, CongestionEvent, Controller, ControllerConfig,
    ControllerKind, RateSample, RttSnapshot, SpuriousCongestion, test_epoch,
};

const MDS: u64 = 1200;

/// One step of a script.
#[derive(Debug, Clone)]
enum Step {
    /// Sends up to `packets` datagrams, as far as the window allows.
    Send { packets: u8 },
    /// `gap_ms` later, one ACK frame acknowledges the `count` oldest packets in flight.
    Ack {
        count: u8,
        gap_ms: u16,
        app_limited: bool,
    },
    /// The `count` oldest packets in flight are declared lost.
    Lose { count: u8, persistent: bool },
    /// The peer reports an ECN-CE mark.
    Ecn,
    /// Path MTU discovery changes the datagram size.
    Mtu { size: u16 },
    /// The `back`-th latest loss event turns out spurious (its packets were acknowledged).
    Spurious { back: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u8..40).prop_map(|packets| Step::Send { packets }),
        4 => (1u8..40, 0u16..300, any::<bool>())
            .prop_map(|(count, gap_ms, app_limited)| Step::Ack { count, gap_ms, app_limited }),
        1 => (1u8..10, prop::bool::weighted(0.1))
            .prop_map(|(count, persistent)| Step::Lose { count, persistent }),
        1 => Just(Step::Ecn),
        1 => (1200u16..1500).prop_map(|size| Step::Mtu { size }),
        1 => (0u8..3).prop_map(|back| Step::Spurious { back }),
    ]
}

/// A sender's view of its packets in flight, so that the events it hands the controller are
/// consistent (bytes in flight, send times, delivered counts).
struct Sender {
    cc: Box<dyn Controller>,
    now: Instant,
    mds: u64,
    in_flight: VecDeque<(Instant, u64, u64)>,
    bytes_in_flight: u64,
    delivered: u64,
    min_rtt: Duration,
    /// The loss events raised, oldest first.
    losses: Vec<SpuriousCongestion>,
    /// The largest window seen.
    max_window: u64,
}

impl Sender {
    fn new(kind: ControllerKind) -> Self {
        let now = test_epoch();
        let cc = ControllerConfig::new(kind)
            .build(now, MDS)
            .expect("every kind is implemented");
        Self {
            cc,
            now,
            mds: MDS,
            in_flight: VecDeque::new(),
            bytes_in_flight: 0,
            delivered: 0,
            min_rtt: Duration::MAX,
            losses: Vec::new(),
            max_window: 0,
        }
    }

    fn rtt(&self, latest: Duration) -> RttSnapshot {
        RttSnapshot {
            latest,
            smoothed: latest,
            min: self.min_rtt.min(latest),
            rttvar: latest / 4,
        }
    }

    /// Runs one step; returns the bytes it newly acknowledged.
    fn run(&mut self, step: &Step) -> u64 {
        match *step {
            Step::Send { packets } => {
                for _ in 0..packets {
                    if self.bytes_in_flight + self.mds > self.cc.window() {
                        break;
                    }
                    self.bytes_in_flight += self.mds;
                    self.in_flight
                        .push_back((self.now, self.mds, self.delivered));
                    self.cc
                        .on_packet_sent(self.now, self.mds, self.bytes_in_flight);
                    self.now += Duration::from_micros(100);
                }
                0
            }
            Step::Ack {
                count,
                gap_ms,
                app_limited,
            } => {
                self.now += Duration::from_millis(u64::from(gap_ms) + 1);
                let count = usize::from(count).min(self.in_flight.len());
                if count == 0 {
                    return 0;
                }
                let acked: Vec<_> = self.in_flight.drain(..count).collect();
                let (last_sent, _, prior_delivered) = acked[count - 1];
                let latest = self.now - last_sent;
                self.min_rtt = self.min_rtt.min(latest);
                let rtt = self.rtt(latest);
                let mut bytes = 0;
                for &(sent_time, size, _) in &acked {
                    bytes += size;
                    self.bytes_in_flight -= size;
                    self.delivered += size;
                    self.cc.on_packet_acked(
                        self.now,
                        &AckedPacket {
                            sent_time,
                            bytes: size,
                            rtt,
                            app_limited,
                        },
                    );
                }
                let delivered = self.delivered - prior_delivered;
                self.cc.on_ack_event(
                    self.now,
                    &AckEvent {
                        bytes_acked: bytes,
                        bytes_in_flight: self.bytes_in_flight,
                        rtt,
                        rtt_sampled: true,
                        largest_acked_sent_time: last_sent,
                        app_limited,
                        delivery_rate: Some(RateSample {
                            delivery_rate: (delivered as f64 / latest.as_secs_f64()) as u64,
                            interval: latest,
                            send_elapsed: latest,
                            ack_elapsed: latest,
                            delivered,
                            prior_delivered,
                            is_app_limited: app_limited,
                            rtt: latest,
                            tx_in_flight: self.bytes_in_flight + bytes,
                            lost: 0,
                            newly_acked: bytes,
                            newly_lost: 0,
                        }),
                    },
                );
                bytes
            }
            Step::Lose { count, persistent } => {
                let count = usize::from(count).min(self.in_flight.len());
                if count == 0 {
                    return 0;
                }
                let lost: Vec<_> = self.in_flight.drain(..count).collect();
                let lost_bytes: u64 = lost.iter().map(|&(_, size, _)| size).sum();
                self.bytes_in_flight -= lost_bytes;
                self.losses.push(SpuriousCongestion {
                    declared_at: self.now,
                    sent_time: lost[count - 1].0,
                });
                self.cc.on_congestion_event(
                    self.now,
                    &CongestionEvent {
                        sent_time: lost[count - 1].0,
                        lost_bytes,
                        persistent,
                        bytes_in_flight: self.bytes_in_flight,
                        cause: CongestionCause::Loss,
                    },
                );
                0
            }
            Step::Ecn => {
                let sent_time = self.in_flight.back().map_or(self.now, |p| p.0);
                self.cc.on_congestion_event(
                    self.now,
                    &CongestionEvent {
                        sent_time,
                        lost_bytes: 0,
                        persistent: false,
                        bytes_in_flight: self.bytes_in_flight,
                        cause: CongestionCause::EcnCe,
                    },
                );
                0
            }
            Step::Mtu { size } => {
                self.mds = u64::from(size);
                self.cc.set_max_datagram_size(self.mds);
                0
            }
            Step::Spurious { back } => {
                let index = self.losses.len().checked_sub(usize::from(back) + 1);
                if let Some(event) = index.and_then(|i| self.losses.get(i)).copied() {
                    self.cc.on_spurious_congestion(self.now, &event);
                }
                0
            }
        }
    }
}

fn loss_based(kind: ControllerKind) -> bool {
    kind != ControllerKind::Bbr
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_controller_keeps_the_window_rules(script in prop::collection::vec(step(), 1..200)) {
        for kind in ControllerKind::ALL {
            let mut sender = Sender::new(kind);
            let mut replay = Sender::new(kind);
            for step in &script {
                let before = sender.cc.window();
                let recovery_start = sender.cc.state().recovery_start;
                let oldest_sent = sender.in_flight.front().map(|p| p.0);
                let newest_acked = match *step {
                    Step::Ack { count, .. } => sender
                        .in_flight
                        .get(usize::from(count).min(sender.in_flight.len()).wrapping_sub(1))
                        .map(|p| p.0),
                    _ => None,
                };
                sender.max_window = sender.max_window.max(before);
                let acked = sender.run(step);
                replay.run(step);
                let window = sender.cc.window();
                let minimum = ControllerConfig::new(kind).minimum_window(sender.mds);
                // Every controller: never below the minimum window, deterministic.
                prop_assert!(window >= minimum, "{kind}: {window} < {minimum} after {step:?}");
                prop_assert_eq!(window, replay.cc.window(), "{} is not deterministic", kind);
                prop_assert_eq!(sender.cc.kind(), kind);
                if !loss_based(kind) {
                    continue;
                }
                match *step {
                    // Growth is at most what was acknowledged (slow start's doubling is the
                    // fastest rule) or one datagram; an application-limited sender does not
                    // grow at all.
                    // Acknowledgements of packets sent before the recovery period began belong
                    // to the window it already cut (RFC 9002 §7.3.2).
                    Step::Ack { app_limited, .. } => {
                        let old = matches!(
                            (recovery_start, newest_acked),
                            (Some(start), Some(sent)) if sent <= start
                        );
                        // Vegas decides once per round, at the acknowledgement that ends it, for
                        // the round just gone: a round that was not application-limited may
                        // grow the window on an acknowledgement that is.
                        let frozen = old || (app_limited && kind != ControllerKind::Vegas);
                        // Congestion avoidance adds a whole datagram once enough bytes were
                        // acknowledged over earlier ACKs (and Vegas once per round), so one ACK
                        // may add a datagram of the current size even if it carried less.
                        let step_max = acked.max(sender.mds);
                        let limit = if frozen { before } else { before + step_max };
                        prop_assert!(window <= limit, "{kind}: {before} → {window} on {acked} B {step:?}");
                    }
                    // A congestion signal never raises the window; persistent congestion
                    // collapses it to the minimum.
                    Step::Lose { persistent, .. } => {
                        prop_assert!(window <= before, "{kind}: {before} → {window} on {step:?}");
                        if persistent && oldest_sent.is_some() {
                            prop_assert_eq!(window, minimum, "{} after persistent congestion", kind);
                        }
                    }
                    Step::Ecn => prop_assert!(window <= before, "{kind}: {before} → {window} on ECN"),
                    Step::Send { .. } => prop_assert_eq!(window, before),
                    Step::Mtu { .. } => {}
                    // An undo puts back a window the controller had, never a larger one, and
                    // never cuts.
                    Step::Spurious { .. } => prop_assert!(
                        window >= before && window <= sender.max_window.max(minimum),
                        "{kind}: {before} → {window} (max {}) on {step:?}",
                        sender.max_window
                    ),
                }
            }
            // The exported state seeds any successor at the same window (at least its minimum).
            let state = sender.cc.state();
            for next in ControllerKind::ALL.into_iter().filter(|&k| loss_based(k)) {
                let successor = ControllerConfig::new(next)
                    .build_from_state(sender.now, &state)
                    .expect("every kind is implemented");
                let minimum = ControllerConfig::new(next).minimum_window(state.max_datagram_size);
                prop_assert_eq!(successor.window(), state.window.max(minimum), "{} → {}", kind, next);
            }
        }
    }
}

/// The loss-reacting controllers undo a reduction whose every congestion event turned out
/// spurious, and only then: a real loss or an ECN-CE mark in the same recovery period keeps
/// it.
#[test]
fn a_spurious_reduction_is_undone_and_a_real_one_is_not() {
    for kind in ControllerKind::ALL.into_iter().filter(|&k| loss_based(k)) {
        let grown = |extra: Option<Step>| {
            let mut sender = Sender::new(kind);
            for _ in 0..6 {
                sender.run(&Step::Send { packets: 40 });
                sender.run(&Step::Ack {
                    count: 40,
                    gap_ms: 50,
                    app_limited: false,
                });
            }
            let before = sender.cc.window();
            sender.run(&Step::Send { packets: 20 });
            sender.run(&Step::Lose {
                count: 1,
                persistent: false,
            });
            let cut = sender.cc.window();
            assert!(cut < before, "{kind}: {before} → {cut}");
            if let Some(extra) = extra {
                sender.run(&extra);
            }
            sender.run(&Step::Spurious { back: 0 });
            (before, cut, sender)
        };
        let (before, _, sender) = grown(None);
        assert_eq!(sender.cc.window(), before, "{kind}: not undone");
        assert_eq!(sender.cc.state().recovery_start, None, "{kind}");
        // A second loss in the same period that is real: the reduction stands (the report
        // names the latest event, the first one is never reported).
        let (_, cut, sender) = grown(Some(Step::Lose {
            count: 1,
            persistent: false,
        }));
        assert!(
            sender.cc.window() <= cut,
            "{kind}: undone despite a real loss"
        );
        let (_, cut, sender) = grown(Some(Step::Ecn));
        assert!(
            sender.cc.window() <= cut,
            "{kind}: undone despite a CE mark"
        );
    }
}
