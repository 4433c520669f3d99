//! One NAT's state: the mapping table, its timers and filters, and port allocation.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::config::{FilteringBehavior, MappingBehavior, NatConfig, NatConfigError};
use super::stats::{NatDrop, NatStats};

/// Which outgoing datagrams of one internal address share a mapping, per the mapping
/// behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Any,
    Ip(IpAddr),
    Endpoint(SocketAddr),
}

#[derive(Debug)]
struct Binding {
    private: SocketAddr,
    scope: Scope,
    expires_at: Duration,
    /// Remote endpoints this mapping sent to, with the time of the last datagram to each.
    permissions: Vec<(SocketAddr, Duration)>,
}

/// The result of translating an outgoing datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// The public source address the datagram leaves with.
    pub public: SocketAddr,
    /// Whether the datagram created the mapping.
    pub created: bool,
}

/// A NAT's state machine, independent of the simulator: feed it the datagrams crossing it, it
/// answers with the translated address or the reason to drop.
///
/// Time is virtual time since the start, as the simulator counts it. Expired mappings are
/// removed whenever the NAT next handles a datagram; until then queries already treat them as
/// gone.
#[derive(Debug)]
pub struct Nat {
    config: NatConfig,
    rng: Pcg64Mcg,
    /// By public port; ordered so that nothing depends on hash order.
    bindings: BTreeMap<u16, Binding>,
    by_scope: HashMap<(SocketAddr, Scope), u16>,
    by_expiry: BTreeSet<(Duration, u16)>,
    /// Ports whose mapping timed out, oldest first (at most `max_mappings`): inbound datagrams
    /// to them count as [`NatDrop::Expired`], and new mappings avoid them while other ports are
    /// free so that late datagrams of the old mapping do not reach a new one.
    expired: VecDeque<u16>,
    expired_set: BTreeSet<u16>,
    stats: NatStats,
}

impl Nat {
    /// A NAT with no mapping; `seed` drives its port choices.
    pub fn new(config: NatConfig, seed: u64) -> Result<Self, NatConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            rng: Pcg64Mcg::seed_from_u64(seed),
            bindings: BTreeMap::new(),
            by_scope: HashMap::new(),
            by_expiry: BTreeSet::new(),
            expired: VecDeque::new(),
            expired_set: BTreeSet::new(),
            stats: NatStats::default(),
        })
    }

    /// The NAT's parameters.
    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// The public IP address.
    pub fn public_ip(&self) -> IpAddr {
        self.config.public_ip
    }

    /// Counters at `now` (mappings that timed out by then count as expired even if no datagram
    /// has removed them yet).
    pub fn stats(&self, now: Duration) -> NatStats {
        let pending = self.by_expiry.range(..=(now, u16::MAX)).count();
        NatStats {
            mappings_expired: self.stats.mappings_expired + pending as u64,
            active_mappings: self.bindings.len().saturating_sub(pending),
            ..self.stats
        }
    }

    /// The public address a datagram from `private` to `remote` would leave with at `now`, if
    /// its mapping exists.
    pub fn mapping(
        &self,
        now: Duration,
        private: SocketAddr,
        remote: SocketAddr,
    ) -> Option<SocketAddr> {
        let port = *self.by_scope.get(&(private, self.scope(remote)))?;
        self.live(now, port)?;
        Some(SocketAddr::new(self.config.public_ip, port))
    }

    /// The internal address of the live mapping on public port `port` at `now`, without
    /// filtering (where an inbound datagram would go if the filter lets it).
    pub fn lookup(&self, now: Duration, port: u16) -> Option<SocketAddr> {
        self.live(now, port).map(|b| b.private)
    }

    /// Translates a datagram from the internal `private` address to `remote`: finds or creates
    /// its mapping, refreshes the mapping's timer and lets `remote` answer through it.
    pub fn outbound(
        &mut self,
        now: Duration,
        private: SocketAddr,
        remote: SocketAddr,
    ) -> Result<Translation, NatDrop> {
        self.expire(now);
        if remote.ip() == self.config.public_ip && !self.config.hairpinning {
            return Err(self.drop(NatDrop::Hairpin));
        }
        let scope = self.scope(remote);
        let (port, created) = match self.by_scope.get(&(private, scope)) {
            Some(port) => (*port, false),
            None => (self.create(now, private, scope)?, true),
        };
        let expires_at = now.saturating_add(self.config.binding_timeout);
        let max_permissions = self.config.max_permissions;
        if let Some(binding) = self.bindings.get_mut(&port) {
            self.by_expiry.remove(&(binding.expires_at, port));
            binding.expires_at = expires_at;
            self.by_expiry.insert((expires_at, port));
            permit(&mut binding.permissions, remote, now, max_permissions);
        }
        self.stats.outbound += 1;
        Ok(Translation {
            public: SocketAddr::new(self.config.public_ip, port),
            created,
        })
    }

    /// Admits (or not) a datagram from `remote` to public port `port`; returns the internal
    /// address to deliver it to.
    pub fn inbound(
        &mut self,
        now: Duration,
        port: u16,
        remote: SocketAddr,
    ) -> Result<SocketAddr, NatDrop> {
        self.expire(now);
        let filtering = self.config.filtering;
        let Some(binding) = self.bindings.get_mut(&port) else {
            let cause = if self.expired_set.contains(&port) {
                NatDrop::Expired
            } else {
                NatDrop::NoMapping
            };
            return Err(self.drop(cause));
        };
        let admitted = match filtering {
            FilteringBehavior::EndpointIndependent => true,
            FilteringBehavior::AddressDependent => binding
                .permissions
                .iter()
                .any(|(p, _)| p.ip() == remote.ip()),
            FilteringBehavior::AddressAndPortDependent => {
                binding.permissions.iter().any(|(p, _)| *p == remote)
            }
        };
        if !admitted {
            return Err(self.drop(NatDrop::Filtered));
        }
        let private = binding.private;
        if self.config.refresh_on_inbound {
            let expires_at = now.saturating_add(self.config.binding_timeout);
            self.by_expiry.remove(&(binding.expires_at, port));
            binding.expires_at = expires_at;
            self.by_expiry.insert((expires_at, port));
        }
        self.stats.inbound += 1;
        Ok(private)
    }

    /// Counts a drop and returns its cause.
    fn drop(&mut self, cause: NatDrop) -> NatDrop {
        self.stats.count(cause);
        cause
    }

    fn scope(&self, remote: SocketAddr) -> Scope {
        match self.config.mapping {
            MappingBehavior::EndpointIndependent => Scope::Any,
            MappingBehavior::AddressDependent => Scope::Ip(remote.ip()),
            MappingBehavior::AddressAndPortDependent => Scope::Endpoint(remote),
        }
    }

    fn live(&self, now: Duration, port: u16) -> Option<&Binding> {
        self.bindings.get(&port).filter(|b| b.expires_at > now)
    }

    /// Removes the mappings whose timer ran out by `now`.
    fn expire(&mut self, now: Duration) {
        while let Some(&(at, port)) = self.by_expiry.first() {
            if at > now {
                break;
            }
            self.by_expiry.pop_first();
            if let Some(binding) = self.bindings.remove(&port) {
                self.by_scope.remove(&(binding.private, binding.scope));
            }
            self.stats.mappings_expired += 1;
            if self.expired.len() >= self.config.max_mappings
                && let Some(old) = self.expired.pop_front()
            {
                self.expired_set.remove(&old);
            }
            self.expired.push_back(port);
            self.expired_set.insert(port);
        }
    }

    fn create(&mut self, now: Duration, private: SocketAddr, scope: Scope) -> Result<u16, NatDrop> {
        if self.bindings.len() >= self.config.max_mappings {
            return Err(self.drop(NatDrop::TableFull));
        }
        let Some(port) = self.allocate(private.port()) else {
            return Err(self.drop(NatDrop::TableFull));
        };
        if self.expired_set.remove(&port) {
            self.expired.retain(|p| *p != port);
        }
        self.bindings.insert(
            port,
            Binding {
                private,
                scope,
                expires_at: now,
                permissions: Vec::new(),
            },
        );
        self.by_expiry.insert((now, port));
        self.by_scope.insert((private, scope), port);
        self.stats.mappings_created += 1;
        Ok(port)
    }

    /// A free public port: the internal one if preserving ports and it is free, else one drawn
    /// at random, avoiding recently expired ports while others are free.
    fn allocate(&mut self, preferred: u16) -> Option<u16> {
        let (start, count) = (*self.config.ports.start(), self.config.port_count());
        if self.config.port_preservation
            && self.config.ports.contains(&preferred)
            && !self.bindings.contains_key(&preferred)
        {
            return Some(preferred);
        }
        if count == 0 {
            return None;
        }
        let first = self.rng.random_range(0..count);
        let candidate = |i: usize| -> u16 {
            // `count` ports from `start` fit in u16, so the sum does too.
            let offset = (first + i) % count;
            start.wrapping_add(u16::try_from(offset).unwrap_or(0))
        };
        let free = |port: &u16| !self.bindings.contains_key(port);
        (0..count)
            .map(candidate)
            .find(|p| free(p) && !self.expired_set.contains(p))
            .or_else(|| (0..count).map(candidate).find(free))
    }
}

/// Lets `remote` answer through a mapping, forgetting the least recently used remote when the
/// mapping already remembers `max` of them.
fn permit(
    permissions: &mut Vec<(SocketAddr, Duration)>,
    remote: SocketAddr,
    now: Duration,
    max: usize,
) {
    if let Some(entry) = permissions.iter_mut().find(|(p, _)| *p == remote) {
        entry.1 = now;
        return;
    }
    if permissions.len() >= max
        && let Some(oldest) = permissions
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(i, _)| i)
    {
        permissions.swap_remove(oldest);
    }
    permissions.push((remote, now));
}
