//! Probing at once after the driver moved a connection's datagrams to another path: another
//! transport (UDP to TCP or back) or another local socket.
//!
//! What was in flight on the old path may never arrive, and the probe timeout that would find
//! out may be a second or more away (it backs off while a path drops everything, as a UDP path
//! that a network blocks does). The driver knows the path changed; the connection does not.

use std::time::Instant;

use super::{Connection, Phase};

impl Connection {
    /// The driver now sends this connection's datagrams another way (another transport or local
    /// socket): sends one or two ack-eliciting probes at once, as a probe timeout would — the
    /// oldest unacknowledged handshake or stream data, or a PING — without counting a timeout
    /// in the backoff. Returns whether it probed: only while something ack-eliciting is in
    /// flight (a probe timeout is armed) and the connection is neither closing nor closed.
    pub fn probe_now(&mut self, now: Instant) -> bool {
        if !matches!(self.phase, Phase::Handshaking | Phase::Established) {
            return false;
        }
        let Some(space) = self.loss.pto_space() else {
            return false;
        };
        self.on_pto(now, space);
        // on_pto counted a probe timeout for the statistics; this one was not a timeout.
        self.stats.pto_count = self.stats.pto_count.saturating_sub(1);
        true
    }
}
