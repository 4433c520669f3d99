//! A one-bottleneck path that drives a [`WeirController`] in quinn's call order: acknowledgements
//! (`on_ack` per packet, `on_end_acks`), then the losses they reveal (`on_congestion_event`).
//!
//! The sender sends whenever the window has room for a datagram (no pacing: each burst leaves
//! at one instant, as the adapter's send log must handle); the bottleneck serialises at `rate`
//! behind a tail-drop buffer of `buffer` bytes, then a deterministic generator drops
//! `loss_per_10k` in 10 000 datagrams; each delivered datagram is acknowledged one RTT after
//! it leaves the bottleneck. A datagram is declared lost when a later one is acknowledged, or
//! after 200 ms with nothing acknowledged.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use quinn_proto::congestion::Controller as QuinnController;

use super::MDS;
use crate::WeirController;

#[derive(Debug, Clone, Copy)]
struct Packet {
    sent: Instant,
    bytes: u64,
    /// When its acknowledgement arrives; `None` if it was dropped.
    ack_at: Option<Instant>,
}

pub(crate) struct FakePath {
    pub(crate) cc: WeirController,
    now: Instant,
    rate: u64,
    rtt: Duration,
    buffer: u64,
    loss_per_10k: u64,
    rng: u64,
    link_free_at: Instant,
    packets: VecDeque<Packet>,
    bytes_in_flight: u64,
    srtt: Option<Duration>,
    delivered: Vec<(Instant, u64)>,
    pub(crate) lost_bytes: u64,
    pub(crate) congestion_events: u64,
    pub(crate) min_window_seen: u64,
}

impl FakePath {
    pub(crate) fn new(
        cc: WeirController,
        now: Instant,
        rate: u64,
        rtt: Duration,
        buffer: u64,
        loss_per_10k: u64,
    ) -> Self {
        Self {
            min_window_seen: QuinnController::window(&cc),
            cc,
            now,
            rate,
            rtt,
            buffer,
            loss_per_10k,
            rng: 0x2545_f491_4f6c_dd1d,
            link_free_at: now,
            packets: VecDeque::new(),
            bytes_in_flight: 0,
            srtt: None,
            delivered: Vec::new(),
            lost_bytes: 0,
            congestion_events: 0,
        }
    }

    /// Bytes acknowledged in `[from, to)`.
    pub(crate) fn delivered_between(&self, from: Instant, to: Instant) -> u64 {
        self.delivered
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
            .map(|(_, b)| b)
            .sum()
    }

    fn random_drop(&mut self) -> bool {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        x % 10_000 < self.loss_per_10k
    }

    fn send_what_the_window_allows(&mut self) {
        let bytes = u64::from(MDS);
        while self.bytes_in_flight + bytes <= QuinnController::window(&self.cc) {
            let now = self.now;
            self.cc.on_sent(now, bytes, 0);
            self.bytes_in_flight += bytes;
            let backlog = self.link_free_at.saturating_duration_since(now);
            let queued = u64::try_from(u128::from(self.rate) * backlog.as_nanos() / 1_000_000_000)
                .unwrap_or(u64::MAX);
            let ack_at = if queued + bytes > self.buffer || self.random_drop() {
                None
            } else {
                let transmit = Duration::from_nanos(bytes * 1_000_000_000 / self.rate);
                self.link_free_at = self.link_free_at.max(now) + transmit;
                Some(self.link_free_at + self.rtt)
            };
            self.packets.push_back(Packet {
                sent: now,
                bytes,
                ack_at,
            });
        }
    }

    pub(crate) fn run_until(&mut self, end: Instant) {
        loop {
            self.send_what_the_window_allows();
            let next_ack = self.packets.iter().filter_map(|p| p.ack_at).next();
            let next = next_ack.unwrap_or(self.now + Duration::from_millis(200));
            if next > end {
                break;
            }
            self.now = next;
            self.feedback(next_ack.is_none());
            self.min_window_seen = self.min_window_seen.min(QuinnController::window(&self.cc));
        }
    }

    /// One ACK frame at `self.now` (or a loss timeout, when nothing is acknowledged).
    fn feedback(&mut self, timeout: bool) {
        let now = self.now;
        let last_acked = if timeout {
            self.packets.len().checked_sub(1)
        } else {
            self.packets
                .iter()
                .rposition(|p| p.ack_at.is_some_and(|t| t <= now))
        };
        let Some(last) = last_acked else { return };
        let (mut acked, mut lost, mut newest_lost) = (0, 0, None);
        for packet in self.packets.drain(..=last) {
            match packet.ack_at {
                Some(_) => {
                    let sample = now.saturating_duration_since(packet.sent);
                    let srtt = self.srtt.map_or(sample, |s| (s * 7 + sample) / 8);
                    self.cc.on_ack_sample(now, packet.sent, packet.bytes, srtt);
                    acked += packet.bytes;
                }
                None => {
                    lost += packet.bytes;
                    newest_lost = Some(packet.sent);
                }
            }
        }
        if acked > 0 {
            let sample = self.srtt.get_or_insert(self.rtt);
            *sample = (*sample * 7 + self.rtt) / 8;
            self.bytes_in_flight -= acked;
            self.cc.on_end_acks(now, self.bytes_in_flight, false, None);
            self.delivered.push((now, acked));
        }
        if let Some(sent) = newest_lost {
            self.bytes_in_flight -= lost;
            self.lost_bytes += lost;
            self.congestion_events += 1;
            self.cc.on_congestion_event(now, sent, false, lost);
        }
    }
}

impl WeirController {
    /// quinn's `on_ack` with its RTT estimator reduced to its smoothed RTT.
    pub(crate) fn on_ack_sample(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        srtt: Duration,
    ) {
        self.acked(now, sent, bytes, false, srtt);
    }
}
