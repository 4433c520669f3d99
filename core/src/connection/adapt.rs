//! The strategy selector inside the connection: asks it after ACKs and losses, applies what it
//! chooses (see [`crate::adapt`]).

use std::time::{Duration, Instant};

use super::{Connection, Event};
use crate::adapt::{MIN_STRATEGY_DATAGRAM, PolicyInput, Strategy};

/// How recently a real-time message must have been queued for the policy to see real-time
/// traffic.
const REALTIME_WINDOW: Duration = Duration::from_secs(2);

/// The least queue the guard allows, in time at the bottleneck rate.
const QUEUE_FLOOR: Duration = Duration::from_millis(5);

impl Connection {
    /// The strategy in force (what the selector chose, or the configuration's without
    /// adaptation).
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Whether the application queued a real-time message (an unreliable or sequenced lane, a
    /// deadline, an unreliable datagram) within the last two seconds.
    pub(super) fn realtime_flowing(&self, now: Instant) -> bool {
        self.lanes.realtime_within(now, REALTIME_WINDOW)
            || self
                .last_datagram_queued
                .is_some_and(|at| now.saturating_duration_since(at) <= REALTIME_WINDOW)
    }

    /// Asks the selector, if there is one and an evaluation is due, and applies its change.
    pub(super) fn adapt(&mut self, now: Instant) {
        // The handshake keeps its full-size packets and the initial controller.
        if !self.handshake_confirmed || self.is_closed() {
            return;
        }
        let realtime = self.realtime_flowing(now);
        let Some(selector) = self.selector.as_mut() else {
            return;
        };
        if !selector.due(now) {
            return;
        }
        let estimates = self.estimates.estimates(now);
        let min_rtt = self.rtt.has_samples().then(|| self.rtt.min());
        let input = PolicyInput {
            now,
            estimates: &estimates,
            current: &self.strategy,
            max_datagram_size: self.pmtu.stats().ceiling,
            min_rtt,
            smoothed_rtt: self.rtt.has_samples().then(|| self.rtt.smoothed()),
            controller_bandwidth: self.congestion.bandwidth_estimate(),
            realtime,
            realtime_rate: match (
                self.lanes.realtime_rate(now),
                self.realtime_demand.rate(now),
            ) {
                (Some(a), Some(b)) => Some(a.saturating_add(b)),
                (a, b) => a.or(b),
            },
        };
        self.measured_bandwidth = estimates
            .bandwidth
            .filter(|b| !b.app_limited)
            .map(|b| b.ewma);
        self.jitter_allowance = estimates.jitter.unwrap_or_default();
        if let Some(change) = selector.evaluate(&input) {
            self.apply_strategy(now, change.new);
            self.stats.strategy_changes += 1;
            self.events.push_back(Event::StrategyChanged(change));
        }
    }

    /// Applies `strategy` to the controller, the packet size and the lanes (FEC, batching,
    /// compression).
    pub(super) fn apply_strategy(&mut self, now: Instant, strategy: Strategy) {
        if strategy.controller != self.congestion.kind() {
            let mut config = self.config.congestion.clone();
            config.kind = strategy.controller;
            let state = self.congestion.state();
            // Every kind builds (the configuration was validated with its own kind, and the
            // selector only names implemented ones); keep the old controller if one did not.
            if let Ok(controller) = config.build_from_state(now, &state) {
                self.replace_controller(controller);
            }
        }
        let ceiling = self.pmtu.stats().ceiling;
        let size = strategy
            .datagram_size
            .clamp(MIN_STRATEGY_DATAGRAM, ceiling.max(MIN_STRATEGY_DATAGRAM))
            .min(ceiling);
        let batch = strategy
            .batch_bytes
            .map(|b| usize::try_from(b).unwrap_or(usize::MAX));
        self.lanes
            .set_strategy(strategy.fec, batch, strategy.compression);
        self.strategy = Strategy {
            datagram_size: size,
            ..strategy
        };
        self.refresh_datagram_size();
        self.update_queue_cap(now);
    }

    /// Sends the strategy's datagram size, or the validated path MTU if that is smaller (after
    /// a strategy change, a probe that raised the MTU, a black hole that lowered it).
    pub(super) fn refresh_datagram_size(&mut self) {
        let size = self.strategy.datagram_size.min(self.pmtu.current());
        if size == self.datagram_size {
            return;
        }
        self.datagram_size = size;
        self.congestion.set_max_datagram_size(u64::from(size));
        self.lanes
            .set_packet_space(Self::packet_space(size, self.tag_len));
        if let Ok(max) = self.max_datagram_size() {
            self.datagrams.drop_longer_than(max);
        }
    }

    /// Recomputes the queue guard's cap on the window (after every ACK frame): `bandwidth ×
    /// base RTT` plus the larger of two datagrams and `bandwidth × (max(5 ms, base RTT / 4) +
    /// 2 × jitter)`; at least four datagrams. No cap without the guard or without a bandwidth
    /// and a base RTT to compute it from.
    pub(super) fn update_queue_cap(&mut self, now: Instant) {
        self.compute_queue_cap(now);
        self.congestion.set_window_capped(self.queue_cap.is_some());
    }

    fn compute_queue_cap(&mut self, now: Instant) {
        self.queue_cap = None;
        if !self.strategy.queue_guard {
            return;
        }
        let (Some(bandwidth), Some(base)) = (self.bottleneck_rate(), self.estimates.base_rtt(now))
        else {
            return;
        };
        let datagram = u64::from(self.datagram_size);
        let at_rate = |d: Duration| bytes_at(bandwidth, d);
        // Room for the RTT's own variation (a radio's jitter), or the queue would starve the
        // pipe whenever a packet is late.
        let jitter = self.jitter_allowance;
        // And room for a quarter of a BDP more: the controller's probes for more bandwidth
        // (BBR's 1.25 × pacing gain) must be able to put more in flight than the rate it
        // measured, or the cap and the measured rate would hold each other down.
        let allowance = (2 * datagram).max(at_rate(
            QUEUE_FLOOR
                .max(base / 4)
                .saturating_add(jitter.saturating_mul(2)),
        ));
        let cap = at_rate(base).saturating_add(allowance).max(4 * datagram);
        self.queue_cap = Some(cap);
    }

    /// The bottleneck's rate in bytes per second: the controller's model where it keeps one
    /// (a measured delivery rate is bounded by the queue guard's cap itself and would talk it
    /// down), else the measured rate.
    fn bottleneck_rate(&self) -> Option<u64> {
        self.congestion
            .bandwidth_estimate()
            .or(self.measured_bandwidth)
    }

    /// How long a message queued at `now` takes to reach the peer, as far as this end can
    /// tell: half the path's base RTT, plus the queue this connection's own data stands in at
    /// the bottleneck — what is in flight beyond a bandwidth-delay product, at the
    /// controller's rate, but no more than the latest RTT sample stands above the base (a
    /// model that lags a link that came back would see a queue the RTT no longer shows). Not
    /// the smoothed RTT: the reverse path's queue does not delay the message, and a smoothed
    /// figure lags by seconds on a 2G link. Another flow's queue is not seen, so the estimate
    /// errs short. Zero before the base RTT is known.
    pub(super) fn send_transit(&self, now: Instant) -> Duration {
        let Some(base) = self.estimates.base_rtt(now) else {
            return Duration::ZERO;
        };
        let measured = self.rtt.latest().saturating_sub(base);
        let queue = self
            .bottleneck_rate()
            .filter(|&bw| bw > 0)
            .map_or(Duration::ZERO, |bw| {
                let excess = self.bytes_in_flight().saturating_sub(bytes_at(bw, base));
                let micros = u128::from(excess) * 1_000_000 / u128::from(bw);
                Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
            })
            .min(measured);
        (base / 2).saturating_add(queue)
    }

    /// The most frame bytes a short-header packet of `datagram` bytes holds beside an ACK
    /// frame: flags, the longest connection ID, a 4-byte packet number, the tag, 32 bytes of
    /// ACK.
    pub(super) fn packet_space(datagram: u16, tag_len: usize) -> usize {
        usize::from(datagram).saturating_sub(1 + 20 + 4 + tag_len + 32)
    }
}

/// The bytes `rate` bytes per second carry in `d` (to the microsecond), saturating.
fn bytes_at(rate: u64, d: Duration) -> u64 {
    u64::try_from(u128::from(rate) * d.as_micros() / 1_000_000).unwrap_or(u64::MAX)
}
