//! Property test: random sequences of quinn's calls — sends (within the window, loss probes
//! beyond it, pure ACKs that are never acknowledged), ACK frames (some application-limited,
//! some without their `on_end_acks`, as quinn's implicit acknowledgement of an Initial),
//! losses with and without persistent congestion, ECN-CE marks, MTU changes, time standing
//! still or jumping — into every algorithm through the adapter. No call panics, the window
//! never falls below the minimum window, a loss that opens a new recovery period cuts a
//! loss-based window, persistent congestion collapses it, and the same calls give the same
//! windows.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use quinn_proto::congestion::Controller as QuinnController;
use weir_core::congestion::ControllerKind;

use super::epoch;
use crate::{WeirController, WeirControllerFactory};

#[derive(Debug, Clone)]
enum Step {
    /// `gap_us` later, up to `packets` datagrams of `size` bytes while the window has room, or
    /// regardless of it for a loss probe.
    Send {
        packets: u8,
        size: u16,
        gap_us: u32,
        probe: bool,
    },
    /// A datagram quinn reports to `on_sent` but never counts in flight nor acknowledges.
    PureAck { size: u16 },
    /// `gap_ms` later, one ACK frame acknowledges the `count` oldest packets in flight;
    /// `end: false` leaves out its `on_end_acks`.
    Ack {
        count: u8,
        gap_ms: u16,
        app_limited: bool,
        end: bool,
    },
    /// `gap_ms` later, the `count` oldest packets in flight are declared lost.
    Lose {
        count: u8,
        gap_ms: u16,
        persistent: bool,
    },
    /// An ECN-CE mark.
    Ecn,
    /// Path MTU discovery changes the datagram size (0 and 65 535 included).
    Mtu { size: u16 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1u8..40, prop_oneof![Just(1200u16), 1u16..1500], 0u32..20_000, prop::bool::weighted(0.05))
            .prop_map(|(packets, size, gap_us, probe)| Step::Send { packets, size, gap_us, probe }),
        1 => (20u16..80).prop_map(|size| Step::PureAck { size }),
        5 => (1u8..40, 0u16..400, prop::bool::weighted(0.2), prop::bool::weighted(0.95))
            .prop_map(|(count, gap_ms, app_limited, end)| Step::Ack { count, gap_ms, app_limited, end }),
        2 => (1u8..10, 0u16..400, prop::bool::weighted(0.1))
            .prop_map(|(count, gap_ms, persistent)| Step::Lose { count, gap_ms, persistent }),
        1 => Just(Step::Ecn),
        1 => prop_oneof![8 => 1200u16..1500, 1 => Just(0u16), 1 => Just(u16::MAX)]
            .prop_map(|size| Step::Mtu { size }),
    ]
}

fn kind() -> impl Strategy<Value = ControllerKind> {
    prop::sample::select(ControllerKind::ALL.to_vec())
}

/// What quinn knows: the packets in flight, in send order.
struct Quinn {
    cc: WeirController,
    now: Instant,
    in_flight: VecDeque<(Instant, u64)>,
    bytes_in_flight: u64,
    newest_acked_sent: Option<Instant>,
    /// When the loss-based window's recovery period began (RFC 9002 §7.3.2), as the test
    /// expects it.
    recovery_start: Option<Instant>,
    srtt: Duration,
}

impl Quinn {
    fn new(kind: ControllerKind) -> Self {
        let now = epoch();
        Self {
            cc: WeirControllerFactory::new(kind).build_controller(now, 1200),
            now,
            in_flight: VecDeque::new(),
            bytes_in_flight: 0,
            newest_acked_sent: None,
            recovery_start: None,
            srtt: Duration::from_millis(333),
        }
    }

    fn window(&self) -> u64 {
        QuinnController::window(&self.cc)
    }

    fn loss_based(&self) -> bool {
        self.cc.kind() != ControllerKind::Bbr
    }

    /// A congestion event for packets (or an ECN mark) sent at `sent`: checks the response.
    fn congestion(
        &mut self,
        sent: Instant,
        persistent: bool,
        lost: u64,
    ) -> Result<(), TestCaseError> {
        // Deliver any frame left without its end first, as the adapter does, so that the
        // window compared against is the one the event cuts.
        self.cc.flush();
        let before = self.window();
        let minimum = self.cc.minimum_window();
        let new_episode = self.recovery_start.is_none_or(|start| sent > start);
        QuinnController::on_congestion_event(&mut self.cc, self.now, sent, persistent, lost);
        let after = self.window();
        // weir's window bookkeeping: a new episode starts a recovery period; persistent
        // congestion collapses the window and ends it (RFC 9002 §7.6.2: slow start again).
        if persistent {
            self.recovery_start = None;
        } else if new_episode {
            self.recovery_start = Some(self.now);
        }
        if self.loss_based() {
            if persistent {
                prop_assert_eq!(after, minimum, "persistent congestion collapses the window");
            } else if new_episode && before > minimum {
                prop_assert!(
                    after < before,
                    "a new congestion episode cuts {} to {}",
                    before,
                    after
                );
            } else if !new_episode {
                prop_assert!(
                    after <= before,
                    "the same episode does not cut twice, nor grow"
                );
            }
        } else if persistent {
            // BBR (draft §5.6.4.4, OnEnterRTO): room for one datagram more than in flight.
            let bound = (self.cc.bytes_in_flight() + self.cc.max_datagram_size()).max(minimum);
            prop_assert!(
                after <= bound,
                "BBR after persistent congestion: {} > {}",
                after,
                bound
            );
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match *step {
            Step::Send {
                packets,
                size,
                gap_us,
                probe,
            } => {
                self.now += Duration::from_micros(u64::from(gap_us));
                for _ in 0..packets {
                    let bytes = u64::from(size);
                    if !probe && self.bytes_in_flight + bytes > self.window() {
                        break;
                    }
                    QuinnController::on_sent(&mut self.cc, self.now, bytes, 0);
                    self.in_flight.push_back((self.now, bytes));
                    self.bytes_in_flight += bytes;
                }
            }
            Step::PureAck { size } => {
                QuinnController::on_sent(&mut self.cc, self.now, u64::from(size), 0);
            }
            Step::Ack {
                count,
                gap_ms,
                app_limited,
                end,
            } => {
                self.now += Duration::from_millis(u64::from(gap_ms));
                let n = usize::from(count).min(self.in_flight.len());
                for (sent, bytes) in self.in_flight.drain(..n) {
                    self.bytes_in_flight -= bytes;
                    self.cc.acked(self.now, sent, bytes, app_limited, self.srtt);
                    self.newest_acked_sent = Some(sent);
                }
                if end {
                    QuinnController::on_end_acks(
                        &mut self.cc,
                        self.now,
                        self.bytes_in_flight,
                        app_limited,
                        None,
                    );
                    prop_assert_eq!(self.cc.bytes_in_flight(), self.bytes_in_flight);
                }
                if let Some(sent) = self.newest_acked_sent {
                    self.srtt = (self.srtt * 7 + self.now.saturating_duration_since(sent)) / 8;
                }
            }
            Step::Lose {
                count,
                gap_ms,
                persistent,
            } => {
                self.now += Duration::from_millis(u64::from(gap_ms));
                let n = usize::from(count).min(self.in_flight.len());
                let lost: Vec<_> = self.in_flight.drain(..n).collect();
                if let Some(&(sent, _)) = lost.last() {
                    let bytes: u64 = lost.iter().map(|(_, b)| b).sum();
                    self.bytes_in_flight -= bytes;
                    // quinn reports a loss only when its bytes leave the flight.
                    if bytes > 0 {
                        self.congestion(sent, persistent, bytes)?;
                    }
                }
            }
            Step::Ecn => {
                if let Some(sent) = self.newest_acked_sent {
                    self.congestion(sent, false, 0)?;
                }
            }
            Step::Mtu { size } => QuinnController::on_mtu_update(&mut self.cc, size),
        }
        let window = self.window();
        prop_assert!(window > 0);
        prop_assert!(
            window >= self.cc.minimum_window(),
            "window {} below the minimum {}",
            window,
            self.cc.minimum_window()
        );
        Ok(())
    }
}

fn run(kind: ControllerKind, steps: &[Step]) -> Result<Vec<u64>, TestCaseError> {
    let mut quinn = Quinn::new(kind);
    let mut windows = Vec::with_capacity(steps.len());
    for step in steps {
        quinn.step(step)?;
        windows.push(quinn.window());
    }
    Ok(windows)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_sequence_of_quinn_calls_keeps_the_window_sound(
        kind in kind(),
        steps in prop::collection::vec(step(), 1..200),
    ) {
        let first = run(kind, &steps)?;
        // Deterministic: the same calls, the same windows (the test epoch differs).
        let second = run(kind, &steps)?;
        prop_assert_eq!(first, second);
    }
}
