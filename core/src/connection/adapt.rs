//! The strategy selector inside the connection: asks it after ACKs and losses, applies what it
//! chooses (see [`crate::adapt`]).

use std::time::Instant;

use super::{Connection, Event};
use crate::adapt::{MIN_STRATEGY_DATAGRAM, PolicyInput, Strategy};

impl Connection {
    /// The strategy in force (what the selector chose, or the configuration's without
    /// adaptation).
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Asks the selector, if there is one and an evaluation is due, and applies its change.
    pub(super) fn adapt(&mut self, now: Instant) {
        // The handshake keeps its full-size packets and the initial controller.
        if !self.handshake_confirmed || self.is_closed() {
            return;
        }
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
            max_datagram_size: self.config.max_datagram_size,
            min_rtt,
            controller_bandwidth: self.congestion.state().bandwidth,
        };
        if let Some(change) = selector.evaluate(&input) {
            self.apply_strategy(now, change.new);
            self.stats.strategy_changes += 1;
            self.events.push_back(Event::StrategyChanged(change));
        }
    }

    /// Applies `strategy` to the controller, the packet size and the lanes.
    pub(super) fn apply_strategy(&mut self, now: Instant, strategy: Strategy) {
        if strategy.controller != self.congestion.kind() {
            let mut config = self.config.congestion.clone();
            config.kind = strategy.controller;
            let state = self.congestion.state();
            // Every kind builds (the configuration was validated with its own kind, and the
            // selector only names implemented ones); keep the old controller if one did not.
            if let Ok(controller) = config.build_from_state(now, &state) {
                self.congestion = controller;
            }
        }
        let size = strategy
            .datagram_size
            .clamp(
                MIN_STRATEGY_DATAGRAM,
                self.config.max_datagram_size.max(MIN_STRATEGY_DATAGRAM),
            )
            .min(self.config.max_datagram_size);
        if size != self.datagram_size {
            self.datagram_size = size;
            self.congestion.set_max_datagram_size(u64::from(size));
            self.lanes.set_packet_space(Self::packet_space(size));
            if let Ok(max) = self.max_datagram_size() {
                self.datagrams.drop_longer_than(max);
            }
        }
        let batch = strategy
            .batch_bytes
            .map(|b| usize::try_from(b).unwrap_or(usize::MAX));
        self.lanes.set_strategy(strategy.fec, batch);
        self.strategy = Strategy {
            datagram_size: size,
            ..strategy
        };
    }

    /// The most frame bytes a short-header packet of `datagram` bytes holds beside an ACK
    /// frame: flags, the longest connection ID, a 4-byte packet number, the tag, 32 bytes of
    /// ACK.
    pub(super) fn packet_space(datagram: u16) -> usize {
        usize::from(datagram).saturating_sub(1 + 20 + 4 + crate::protect::integrity::TAG_LEN + 32)
    }
}
