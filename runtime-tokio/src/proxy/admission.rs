//! Which proxy slot a datagram from a client address goes to: the client's own, a new one, or
//! the slot of a client that fell silent — so that a long-running proxy serves clients that
//! come and go (a game's players reconnecting from new ports) without growing without bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The decision for one datagram from a client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The address already has slot `index`.
    Known(usize),
    /// A new slot `index` (the next one) is to be created for the address.
    New(usize),
    /// Slot `index` belonged to a client silent for at least the idle timeout; it now belongs
    /// to the address and must be reset.
    Reused(usize),
    /// Every slot is taken by a client active within the idle timeout.
    Refused,
}

/// Client addresses by slot, with when each was last active. Time is injected.
#[derive(Debug)]
pub(crate) struct Admissions {
    max_clients: usize,
    idle_timeout: Duration,
    by_addr: HashMap<SocketAddr, usize>,
    slots: Vec<(SocketAddr, Instant)>,
}

impl Admissions {
    pub(crate) fn new(max_clients: usize, idle_timeout: Duration) -> Self {
        Self {
            max_clients,
            idle_timeout,
            by_addr: HashMap::new(),
            slots: Vec::new(),
        }
    }

    /// Decides where a datagram from `addr` at `now` goes, and records the activity.
    pub(crate) fn admit(&mut self, addr: SocketAddr, now: Instant) -> Admission {
        if let Some(&index) = self.by_addr.get(&addr) {
            self.slots[index].1 = now;
            return Admission::Known(index);
        }
        if self.slots.len() < self.max_clients {
            let index = self.slots.len();
            self.slots.push((addr, now));
            self.by_addr.insert(addr, index);
            return Admission::New(index);
        }
        let idlest = self
            .slots
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, active))| *active)
            .map(|(index, (old, active))| (index, *old, *active));
        match idlest {
            Some((index, old, active))
                if now.saturating_duration_since(active) >= self.idle_timeout =>
            {
                self.by_addr.remove(&old);
                self.by_addr.insert(addr, index);
                self.slots[index] = (addr, now);
                Admission::Reused(index)
            }
            _ => Admission::Refused,
        }
    }

    /// Records that slot `index`'s client got traffic from the upstream at `now`.
    pub(crate) fn touch(&mut self, index: usize, now: Instant) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.1 = now;
        }
    }

    /// The address slot `index` serves.
    #[cfg(test)]
    pub(crate) fn addr(&self, index: usize) -> Option<SocketAddr> {
        self.slots.get(index).map(|(addr, _)| *addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn clients_get_slots_up_to_the_limit_then_silent_ones_are_reused() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut a = Admissions::new(2, 10 * s);
        assert_eq!(a.admit(addr(1), t0), Admission::New(0));
        assert_eq!(a.admit(addr(2), t0 + s), Admission::New(1));
        assert_eq!(a.admit(addr(1), t0 + 2 * s), Admission::Known(0));
        // Both active within 10 s: a third client is refused.
        assert_eq!(a.admit(addr(3), t0 + 5 * s), Admission::Refused);
        // Traffic from the upstream keeps slot 1 alive; slot 0 falls silent.
        a.touch(1, t0 + 11 * s);
        assert_eq!(a.admit(addr(3), t0 + 11 * s), Admission::Refused);
        assert_eq!(a.admit(addr(3), t0 + 12 * s), Admission::Reused(0));
        assert_eq!(a.addr(0), Some(addr(3)));
        // The evicted address is a stranger now, and every slot is active again.
        assert_eq!(a.admit(addr(1), t0 + 12 * s), Admission::Refused);
        assert_eq!(a.admit(addr(3), t0 + 13 * s), Admission::Known(0));
        assert_eq!(a.admit(addr(2), t0 + 13 * s), Admission::Known(1));
    }
}
