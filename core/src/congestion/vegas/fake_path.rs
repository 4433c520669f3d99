//! A fake path for controller tests: one bottleneck of fixed rate with a FIFO queue (optionally
//! drop-tail) and a fixed base RTT, driven by an ACK-clocked sender that acknowledges every
//! packet in its own ACK frame.
//!
//! A packet sent at `s` leaves the bottleneck at `d = max(s, previous departure) + size / rate`
//! and is acknowledged at `d + base_rtt`, so its RTT is `base_rtt + size / rate + queued / rate`:
//! the queueing delay follows from the window. A packet that finds the queue full is dropped
//! and declared lost when the acknowledgement of a later packet arrives (packet threshold 1).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use crate::congestion::{
    AckEvent, AckedPacket, CongestionCause, CongestionEvent, Controller, RttSnapshot,
};

/// The path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FakePath {
    /// Bottleneck rate, bytes per second.
    pub rate: u64,
    /// Propagation round-trip time (excluding serialisation at the bottleneck).
    pub base_rtt: Duration,
    /// Packet size.
    pub packet: u64,
    /// Drop-tail limit of the bottleneck queue in bytes (excluding the packet in service);
    /// `None` for unlimited.
    pub queue_limit: Option<u64>,
}

/// One round trip as the path saw it: recorded when the acknowledgement of the first packet
/// sent after the previous round's end arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Round {
    /// Time since the run started.
    pub at: Duration,
    /// The window when the round ended.
    pub window: u64,
    /// Whether the controller was in slow start when the round ended.
    pub slow_start: bool,
    /// The round's minimum RTT.
    pub min_rtt: Duration,
    /// Packets queued at the bottleneck derived from the round's minimum RTT:
    /// `(min_rtt − base_rtt − packet / rate) × rate / packet`.
    pub queue_packets: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trace {
    pub rounds: Vec<Round>,
    pub packets_sent: u64,
    pub packets_lost: u64,
    pub congestion_events: u64,
    pub bytes_acked: u64,
}

impl FakePath {
    /// Serialisation time of one packet at the bottleneck.
    pub fn service_time(&self) -> Duration {
        Duration::from_nanos(self.packet * 1_000_000_000 / self.rate.max(1))
    }

    /// The RTT of a packet that finds the queue empty.
    pub fn rtt_floor(&self) -> Duration {
        self.base_rtt + self.service_time()
    }

    /// The path's bandwidth-delay product in packets (at the RTT floor).
    pub fn bdp_packets(&self) -> f64 {
        self.rtt_floor().as_secs_f64() * self.rate as f64 / self.packet as f64
    }

    /// Drives `cc` over the path from `t0` for `duration`.
    pub fn run<C: Controller + ?Sized>(
        &self,
        cc: &mut C,
        t0: Instant,
        duration: Duration,
    ) -> Trace {
        self.run_observed(cc, t0, duration, |_, _| {})
    }

    /// [`run`](Self::run), calling `on_round` with the controller at the end of every round.
    pub fn run_observed<C: Controller + ?Sized>(
        &self,
        cc: &mut C,
        t0: Instant,
        duration: Duration,
        mut on_round: impl FnMut(&C, &Round),
    ) -> Trace {
        let end = t0 + duration;
        let service = self.service_time();
        let mut trace = Trace::default();
        let mut now = t0;
        let mut bottleneck_free = t0;
        let mut next_pn = 0u64;
        let mut in_flight = 0u64;
        // pn → send time, for packets in flight (delivered or dropped).
        let mut outstanding: BTreeMap<u64, Instant> = BTreeMap::new();
        let mut dropped: BTreeMap<u64, Instant> = BTreeMap::new();
        let mut acks: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
        let mut rtt: Option<RttSnapshot> = None;
        let mut round_end_pn = 0u64;
        let mut round_min: Option<Duration> = None;
        loop {
            // Send while the window allows.
            while in_flight + self.packet <= cc.window() {
                let pn = next_pn;
                next_pn += 1;
                let backlog = bottleneck_free.saturating_duration_since(now);
                let backlog_bytes = backlog.as_nanos() * u128::from(self.rate) / 1_000_000_000;
                // The backlog includes the rest of the packet in service.
                let full = self
                    .queue_limit
                    .is_some_and(|limit| backlog_bytes > u128::from(limit));
                if full {
                    dropped.insert(pn, now);
                } else {
                    let departure = bottleneck_free.max(now) + service;
                    bottleneck_free = departure;
                    acks.push(Reverse((departure + self.base_rtt, pn)));
                }
                outstanding.insert(pn, now);
                in_flight += self.packet;
                trace.packets_sent += 1;
                cc.on_packet_sent(now, self.packet, in_flight);
            }
            let Some(Reverse((at, pn))) = acks.pop() else {
                break;
            };
            if at > end {
                break;
            }
            now = at;
            // Losses first (RFC 9002 Appendix A.7 order): every dropped packet sent before this
            // one.
            let lost: Vec<(u64, Instant)> = dropped.range(..pn).map(|(&p, &s)| (p, s)).collect();
            if let Some(&(_, newest)) = lost.last() {
                for (p, _) in &lost {
                    dropped.remove(p);
                    outstanding.remove(p);
                }
                let bytes = lost.len() as u64 * self.packet;
                in_flight -= bytes;
                trace.packets_lost += lost.len() as u64;
                trace.congestion_events += 1;
                cc.on_congestion_event(
                    now,
                    &CongestionEvent {
                        sent_time: newest,
                        lost_bytes: bytes,
                        persistent: false,
                        bytes_in_flight: in_flight,
                        cause: CongestionCause::Loss,
                    },
                );
            }
            let Some(sent) = outstanding.remove(&pn) else {
                continue;
            };
            in_flight -= self.packet;
            trace.bytes_acked += self.packet;
            let sample = now - sent;
            let snapshot = match rtt {
                None => RttSnapshot {
                    latest: sample,
                    smoothed: sample,
                    min: sample,
                    rttvar: sample / 2,
                },
                Some(prev) => {
                    let deviation = prev.smoothed.abs_diff(sample);
                    RttSnapshot {
                        latest: sample,
                        smoothed: (prev.smoothed * 7 + sample) / 8,
                        min: prev.min.min(sample),
                        rttvar: (prev.rttvar * 3 + deviation) / 4,
                    }
                }
            };
            rtt = Some(snapshot);
            round_min = Some(round_min.map_or(sample, |m| m.min(sample)));
            cc.on_packet_acked(
                now,
                &AckedPacket {
                    sent_time: sent,
                    bytes: self.packet,
                    rtt: snapshot,
                    app_limited: false,
                },
            );
            cc.on_ack_event(
                now,
                &AckEvent {
                    bytes_acked: self.packet,
                    bytes_in_flight: in_flight,
                    rtt: snapshot,
                    rtt_sampled: true,
                    largest_acked_sent_time: sent,
                    app_limited: false,
                    delivery_rate: None,
                },
            );
            if pn >= round_end_pn {
                let min_rtt = round_min.take().unwrap_or(sample);
                let queueing = min_rtt.saturating_sub(self.rtt_floor());
                let record = Round {
                    at: now - t0,
                    window: cc.window(),
                    slow_start: cc.in_slow_start(),
                    min_rtt,
                    queue_packets: queueing.as_secs_f64() * self.rate as f64 / self.packet as f64,
                };
                on_round(cc, &record);
                trace.rounds.push(record);
                round_end_pn = next_pn;
            }
        }
        trace
    }
}
