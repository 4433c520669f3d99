//! A fake path for model-level tests: one BBR sender with a delivery-rate estimator, an ideal
//! bottleneck (fixed rate, unlimited FIFO queue, fixed propagation delay, optional random loss
//! before the bottleneck) and a receiver that acknowledges every packet at once. Event-driven
//! over virtual time, deterministic from its seed.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::congestion::{
    AckEvent, AckedPacket, Bbr, BbrPhase, CongestionCause, CongestionEvent, Controller,
    DeliveryRateEstimator, PacketDeliveryState, test_epoch,
};
use crate::recovery::{PACKET_THRESHOLD, RttEstimator};

/// The path's parameters.
#[derive(Debug, Clone, Copy)]
pub(super) struct PathConfig {
    /// Bottleneck rate, bytes per second.
    pub rate: u64,
    /// Two-way propagation delay (half each way).
    pub propagation: Duration,
    /// Probability that a packet is dropped before the bottleneck.
    pub loss: f64,
    pub packet_size: u64,
    pub seed: u64,
}

impl PathConfig {
    pub(super) fn new(rate: u64, propagation: Duration) -> Self {
        Self {
            rate,
            propagation,
            loss: 0.0,
            packet_size: 1200,
            seed: 1,
        }
    }

    /// The time one packet takes through the bottleneck.
    pub(super) fn serialization(&self) -> Duration {
        Duration::from_nanos(self.packet_size * 1_000_000_000 / self.rate)
    }

    /// The RTT of a packet that finds the queue empty.
    pub(super) fn base_rtt(&self) -> Duration {
        self.propagation + self.serialization()
    }

    /// The path's bandwidth-delay product in bytes.
    pub(super) fn bdp(&self) -> u64 {
        (u128::from(self.rate) * self.base_rtt().as_nanos() / 1_000_000_000) as u64
    }
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    time: Instant,
    size: u64,
    snapshot: PacketDeliveryState,
}

/// One ACK on its way back.
#[derive(Debug, Clone, Copy)]
struct AckInFlight {
    arrival: Instant,
    pn: u64,
    received: Instant,
}

/// What the harness saw on one ACK, after BBR processed it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Point {
    pub time: Instant,
    pub phase: BbrPhase,
    pub round: u64,
    pub cwnd: u64,
    pub pacing_rate: u64,
    pub pacing_gain: u32,
    pub max_bw: u64,
    pub bw: u64,
    pub min_rtt: Option<Duration>,
    pub inflight: u64,
    pub rtt: Duration,
}

/// Sender, path and receiver.
pub(super) struct Harness {
    pub config: PathConfig,
    pub cc: Bbr,
    pub est: DeliveryRateEstimator,
    rtt: RttEstimator,
    rng: Pcg64Mcg,
    pub t0: Instant,
    pub now: Instant,
    next_pn: u64,
    in_flight: BTreeMap<u64, Sent>,
    pub bytes_in_flight: u64,
    acks: VecDeque<AckInFlight>,
    link_free: Instant,
    next_send: Instant,
    /// Bytes the application may still send (`u64::MAX`: a bulk transfer).
    pub app_budget: u64,
    /// Bytes received, with the time of each arrival at the receiver.
    received: Vec<(Instant, u64)>,
    received_total: u64,
    pub trace: Vec<Point>,
    pub losses: u64,
    steps: u64,
}

impl Harness {
    pub(super) fn new(config: PathConfig) -> Self {
        let t0 = test_epoch();
        Self::with_controller(config, Bbr::new(t0, config.packet_size), t0)
    }

    pub(super) fn with_controller(config: PathConfig, cc: Bbr, t0: Instant) -> Self {
        Self {
            config,
            cc,
            est: DeliveryRateEstimator::new(),
            rtt: RttEstimator::new(crate::recovery::INITIAL_RTT),
            rng: Pcg64Mcg::seed_from_u64(config.seed),
            t0,
            now: t0,
            next_pn: 0,
            in_flight: BTreeMap::new(),
            bytes_in_flight: 0,
            acks: VecDeque::new(),
            link_free: t0,
            next_send: t0,
            app_budget: u64::MAX,
            received: Vec::new(),
            received_total: 0,
            trace: Vec::new(),
            losses: 0,
            steps: 0,
        }
    }

    /// Runs until `until` (time since the start).
    pub(super) fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        while self.now < end {
            self.steps += 1;
            assert!(self.steps < 50_000_000, "harness step bound");
            // Deliver every ACK due now, then send what the window and pacer allow.
            while self.acks.front().is_some_and(|a| a.arrival <= self.now) {
                let ack = self.acks.pop_front().unwrap_or_else(|| unreachable!());
                self.on_ack(ack);
            }
            while self.can_send() && self.next_send <= self.now {
                self.send();
            }
            // The next event: an ACK, or the pacer's release if the window has room.
            let mut next = self.acks.front().map_or(end, |a| a.arrival);
            if self.can_send() {
                next = next.min(self.next_send);
            }
            self.now = next.max(self.now).min(end);
        }
    }

    fn can_send(&self) -> bool {
        self.app_budget >= self.config.packet_size
            && self.bytes_in_flight + self.config.packet_size <= self.cc.window()
    }

    fn send(&mut self) {
        let size = self.config.packet_size;
        let now = self.now;
        let snapshot = self.est.on_packet_sent(now, size, self.bytes_in_flight);
        self.bytes_in_flight += size;
        self.app_budget -= size;
        self.cc.on_packet_sent(now, size, self.bytes_in_flight);
        let pn = self.next_pn;
        self.next_pn += 1;
        self.in_flight.insert(
            pn,
            Sent {
                time: now,
                size,
                snapshot,
            },
        );
        // Pacing (no burst allowance: the ideal pacer).
        let rate = self.cc.pacing_rate().unwrap_or(u64::MAX).max(1);
        let gap =
            Duration::from_nanos((u128::from(size) * 1_000_000_000 / u128::from(rate)) as u64);
        self.next_send = self.next_send.max(now) + gap;
        if self.config.loss > 0.0 && self.rng.random_bool(self.config.loss) {
            return;
        }
        // The bottleneck: FIFO at `rate`, then the propagation delay, half each way.
        let start = self.link_free.max(now);
        let done = start + self.config.serialization();
        self.link_free = done;
        let received = done + self.config.propagation / 2;
        let arrival = received + self.config.propagation / 2;
        self.acks.push_back(AckInFlight {
            arrival,
            pn,
            received,
        });
    }

    fn on_ack(&mut self, ack: AckInFlight) {
        let now = self.now;
        self.received_total += self.config.packet_size;
        self.received.push((ack.received, self.received_total));
        let Some(packet) = self.in_flight.remove(&ack.pn) else {
            return;
        };
        self.rtt.update(
            Duration::ZERO,
            now - packet.time,
            true,
            Duration::from_millis(25),
        );
        // RFC 9002 Appendix A.7 order: losses (packet threshold), then acknowledgements.
        let lost: Vec<u64> = self
            .in_flight
            .range(..ack.pn.saturating_sub(PACKET_THRESHOLD - 1))
            .map(|(&pn, _)| pn)
            .collect();
        if !lost.is_empty() {
            let mut lost_bytes = 0;
            let mut newest = self.t0;
            for pn in lost {
                let Some(p) = self.in_flight.remove(&pn) else {
                    continue;
                };
                self.est.on_packet_lost(p.size);
                self.bytes_in_flight -= p.size;
                lost_bytes += p.size;
                newest = newest.max(p.time);
                self.losses += 1;
            }
            self.cc.on_congestion_event(
                now,
                &CongestionEvent {
                    sent_time: newest,
                    lost_bytes,
                    persistent: false,
                    bytes_in_flight: self.bytes_in_flight,
                    cause: CongestionCause::Loss,
                },
            );
        }
        self.bytes_in_flight -= packet.size;
        self.est
            .on_packet_acked(now, &packet.snapshot, packet.time, packet.size);
        let rtt = self.rtt.snapshot();
        self.cc.on_packet_acked(
            now,
            &AckedPacket {
                sent_time: packet.time,
                bytes: packet.size,
                rtt,
                app_limited: false,
            },
        );
        let sample = self.est.on_ack_event_end(now, rtt.min);
        self.cc.on_ack_event(
            now,
            &AckEvent {
                bytes_acked: packet.size,
                bytes_in_flight: self.bytes_in_flight,
                rtt,
                rtt_sampled: true,
                largest_acked_sent_time: packet.time,
                app_limited: self.app_budget < self.config.packet_size,
                delivery_rate: sample,
            },
        );
        if self.app_budget < self.config.packet_size {
            // §4.1.2.4: nothing to send with room in the window.
            self.est.on_app_limited(self.bytes_in_flight);
        }
        self.trace.push(Point {
            time: now,
            phase: self.cc.phase(),
            round: self.cc.round_count(),
            cwnd: self.cc.window(),
            pacing_rate: self.cc.pacing_rate().unwrap_or(0),
            pacing_gain: self.cc.pacing_gain().as_permille(),
            max_bw: self.cc.max_bandwidth(),
            bw: self.cc.bandwidth(),
            min_rtt: self.cc.min_rtt(),
            inflight: self.bytes_in_flight,
            rtt: now - packet.time,
        });
    }

    /// Bytes that reached the receiver between `from` and `to` (times since the start).
    pub(super) fn received_between(&self, from: Duration, to: Duration) -> u64 {
        let count_until = |t: Instant| {
            let i = self.received.partition_point(|&(at, _)| at <= t);
            if i == 0 { 0 } else { self.received[i - 1].1 }
        };
        count_until(self.t0 + to) - count_until(self.t0 + from)
    }

    /// Goodput between `from` and `to` as a fraction of the bottleneck rate.
    pub(super) fn utilization(&self, from: Duration, to: Duration) -> f64 {
        let bytes = self.received_between(from, to) as f64;
        bytes / (self.config.rate as f64 * (to - from).as_secs_f64())
    }

    /// The phase transitions seen on ACKs: (time since start, round, new phase).
    pub(super) fn transitions(&self) -> Vec<(Duration, u64, BbrPhase)> {
        let mut out: Vec<(Duration, u64, BbrPhase)> = Vec::new();
        let mut last = BbrPhase::Startup;
        for p in &self.trace {
            if p.phase != last {
                out.push((p.time - self.t0, p.round, p.phase));
                last = p.phase;
            }
        }
        out
    }
}
