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

/// The slot of each client address, and when each slot was last active. Time is injected.
/// (The proxy keeps each slot's address with the rest of the client's state.)
#[derive(Debug)]
pub(crate) struct Admissions {
    max_clients: usize,
    idle_timeout: Duration,
    by_addr: HashMap<SocketAddr, usize>,
    last_active: Vec<Instant>,
}

impl Admissions {
    pub(crate) fn new(max_clients: usize, idle_timeout: Duration) -> Self {
        Self {
            max_clients,
            idle_timeout,
            by_addr: HashMap::new(),
            last_active: Vec::new(),
        }
    }

    /// Decides where a datagram from `addr` at `now` goes, and records the activity.
    pub(crate) fn admit(&mut self, addr: SocketAddr, now: Instant) -> Admission {
        if let Some(&index) = self.by_addr.get(&addr) {
            self.touch(index, now);
            return Admission::Known(index);
        }
        if self.last_active.len() < self.max_clients {
            let index = self.last_active.len();
            self.last_active.push(now);
            self.by_addr.insert(addr, index);
            return Admission::New(index);
        }
        let idlest = self
            .last_active
            .iter()
            .enumerate()
            .min_by_key(|(_, active)| **active)
            .map(|(index, active)| (index, *active));
        match idlest {
            Some((index, active)) if now.saturating_duration_since(active) >= self.idle_timeout => {
                // Rare (a place changes hands at most once per idle timeout): a scan is fine.
                self.by_addr.retain(|_, slot| *slot != index);
                self.by_addr.insert(addr, index);
                self.last_active[index] = now;
                Admission::Reused(index)
            }
            _ => Admission::Refused,
        }
    }

    /// Records that slot `index`'s client got traffic from the upstream at `now`.
    pub(crate) fn touch(&mut self, index: usize, now: Instant) {
        if let Some(active) = self.last_active.get_mut(index) {
            *active = now;
        }
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
        // The evicted address is a stranger now, and every slot is active again.
        assert_eq!(a.admit(addr(1), t0 + 12 * s), Admission::Refused);
        assert_eq!(a.admit(addr(3), t0 + 13 * s), Admission::Known(0));
        assert_eq!(a.admit(addr(2), t0 + 13 * s), Admission::Known(1));
    }
}
