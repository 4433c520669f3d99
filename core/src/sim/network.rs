//! The simulator: nodes, links, routes and one virtual clock.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::config::{LinkConfig, LinkConfigError, Schedule};
use super::event::{EventKind, Events, InFlight};
use super::link::{Ctx, Link};
use super::nat::{Nat, NatConfig, NatConfigError, NatDrop, NatId, NatStats};
use super::stats::{DropCause, LinkStats, Volume};
use super::trace::{Trace, TraceEvent, TraceKind};
use super::{LinkId, Node, NodeId};

/// Default bound on the work done at one virtual instant (see [`SimError::Stalled`]).
const DEFAULT_MAX_ROUNDS_PER_INSTANT: usize = 100_000;
/// Golden-ratio increment that spreads link indices over the seed space.
const SEED_STRIDE: u64 = 0x9E37_79B9_7F4A_7C15;
/// Keeps NAT generators apart from link generators drawn from the same seed.
const NAT_SEED_SALT: u64 = 0x4E41_545F_504F_5254;

/// A misuse of the simulator, or a node that never lets virtual time advance.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// Two nodes were given the same address.
    #[error("address {0} is already taken by another node")]
    DuplicateAddress(SocketAddr),
    /// A node id that this simulator did not hand out.
    #[error("no node {0}")]
    UnknownNode(NodeId),
    /// A link id that this simulator did not hand out.
    #[error("no link {0}")]
    UnknownLink(LinkId),
    /// A route without links.
    #[error("a route from {from} to {to} needs at least one link")]
    EmptyRoute {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
    },
    /// A NAT id that this simulator did not hand out.
    #[error("no NAT {0}")]
    UnknownNat(NatId),
    /// NAT parameters that cannot work.
    #[error("invalid NAT parameters: {0}")]
    InvalidNat(#[from] NatConfigError),
    /// The IP address is a NAT's public address (nodes cannot share it), or a NAT's public
    /// address that a node or another NAT already has.
    #[error("IP address {0} is already taken by a NAT or a node")]
    NatAddressTaken(IpAddr),
    /// Link parameters out of range.
    #[error("invalid link parameters: {0}")]
    InvalidLink(#[from] LinkConfigError),
    /// Nodes kept producing work at one virtual instant (a timer that never moves forward,
    /// or endless transmissions); the simulation cannot make progress.
    #[error("no progress at t={at:?}: still busy after {rounds} rounds at that instant")]
    Stalled {
        /// Virtual time since the start.
        at: Duration,
        /// Rounds done at that instant.
        rounds: usize,
    },
}

struct NodeSlot {
    address: SocketAddr,
    /// The NAT the node is behind; its address is then private to that NAT.
    nat: Option<NatId>,
    node: Box<dyn Node>,
}

struct NatSlot {
    nat: Nat,
    /// The nodes behind it, by private address.
    inside: HashMap<SocketAddr, NodeId>,
}

/// A deterministic, event-driven network of sans-IO [`Node`]s joined by impaired links.
///
/// Virtual time starts at an `epoch` chosen by the caller and only moves when the simulator
/// advances it; nodes see `epoch + elapsed` as `now`. Every random decision is drawn from
/// generators seeded from the simulator's seed, one per link, so the same seed, topology and
/// node behaviour give the identical trace.
///
/// At each instant the simulator, in this order: delivers the packets due (in the order they were
/// scheduled), fires the node timers that are due (in node order), then drains every node's
/// `poll_transmit` and routes what they send — repeating until nothing more happens at that
/// instant. It also drains the nodes once before looking for the next instant, so data an
/// application queued between steps goes out at the current time.
///
/// Nodes may sit behind NATs ([`Simulator::add_nat`], [`Simulator::add_node_behind`]; the
/// models are described in [`super::nat`]).
pub struct Simulator {
    epoch: Instant,
    now: Duration,
    seed: u64,
    nodes: Vec<NodeSlot>,
    by_address: HashMap<SocketAddr, NodeId>,
    nats: Vec<NatSlot>,
    nat_by_ip: HashMap<IpAddr, NatId>,
    links: Vec<Link>,
    routes: Vec<Vec<LinkId>>,
    route_of: HashMap<(NodeId, NodeId), usize>,
    events: Events,
    next_packet_id: u64,
    trace: Trace,
    unroutable: Volume,
    nat_dropped: Volume,
    sent: Volume,
    delivered: Volume,
    buf: Vec<u8>,
    max_rounds_per_instant: usize,
}

impl Simulator {
    /// An empty network whose virtual time starts at `epoch`.
    pub fn new(seed: u64, epoch: Instant) -> Self {
        Self {
            epoch,
            now: Duration::ZERO,
            seed,
            nodes: Vec::new(),
            by_address: HashMap::new(),
            nats: Vec::new(),
            nat_by_ip: HashMap::new(),
            links: Vec::new(),
            routes: Vec::new(),
            route_of: HashMap::new(),
            events: Events::default(),
            next_packet_id: 0,
            trace: Trace::default(),
            unroutable: Volume::default(),
            nat_dropped: Volume::default(),
            sent: Volume::default(),
            delivered: Volume::default(),
            buf: Vec::with_capacity(64 * 1024),
            max_rounds_per_instant: DEFAULT_MAX_ROUNDS_PER_INSTANT,
        }
    }

    /// Keeps up to `capacity` trace events in memory (the digest always covers all of them).
    pub fn set_trace_capacity(&mut self, capacity: usize) {
        let mut trace = Trace::with_capacity(capacity);
        std::mem::swap(&mut trace, &mut self.trace);
        for event in trace.events() {
            self.trace.record(*event);
        }
    }

    /// Bounds the rounds of work at one instant before [`SimError::Stalled`] is reported.
    pub fn set_max_rounds_per_instant(&mut self, rounds: usize) {
        self.max_rounds_per_instant = rounds.max(1);
    }

    /// Adds a node reachable at `address`.
    pub fn add_node(&mut self, address: SocketAddr, node: impl Node) -> Result<NodeId, SimError> {
        self.check_public_address(address)?;
        let id = NodeId(self.nodes.len());
        self.nodes.push(NodeSlot {
            address,
            nat: None,
            node: Box::new(node),
        });
        self.by_address.insert(address, id);
        Ok(id)
    }

    /// Adds a NAT (see [`super::nat`]); nodes go behind it with [`Simulator::add_node_behind`].
    /// Its public IP address must not be any node's or another NAT's.
    pub fn add_nat(&mut self, config: NatConfig) -> Result<NatId, SimError> {
        let ip = config.public_ip;
        if self.nat_by_ip.contains_key(&ip) || self.by_address.keys().any(|a| a.ip() == ip) {
            return Err(SimError::NatAddressTaken(ip));
        }
        let id = NatId(self.nats.len());
        let seed =
            (self.seed ^ NAT_SEED_SALT).wrapping_add((id.0 as u64 + 1).wrapping_mul(SEED_STRIDE));
        self.nats.push(NatSlot {
            nat: Nat::new(config, seed)?,
            inside: HashMap::new(),
        });
        self.nat_by_ip.insert(ip, id);
        Ok(id)
    }

    /// Adds a node behind `nat` at `private`, an address only nodes behind the same NAT can
    /// send to (several NATs may use the same private addresses). What it sends elsewhere leaves
    /// through the NAT; links and routes join it to other nodes as usual.
    pub fn add_node_behind(
        &mut self,
        nat: NatId,
        private: SocketAddr,
        node: impl Node,
    ) -> Result<NodeId, SimError> {
        let id = NodeId(self.nodes.len());
        let slot = self.nats.get_mut(nat.0).ok_or(SimError::UnknownNat(nat))?;
        if slot.inside.contains_key(&private) {
            return Err(SimError::DuplicateAddress(private));
        }
        slot.inside.insert(private, id);
        self.nodes.push(NodeSlot {
            address: private,
            nat: Some(nat),
            node: Box::new(node),
        });
        Ok(id)
    }

    /// A NAT's state, to query its mappings.
    pub fn nat(&self, nat: NatId) -> Option<&Nat> {
        self.nats.get(nat.0).map(|slot| &slot.nat)
    }

    /// A NAT's counters now.
    pub fn nat_stats(&self, nat: NatId) -> Option<NatStats> {
        self.nat(nat).map(|n| n.stats(self.now))
    }

    /// The NAT a node is behind, if any.
    pub fn nat_of(&self, node: NodeId) -> Option<NatId> {
        self.nodes.get(node.0).and_then(|slot| slot.nat)
    }

    /// The address `remote` sees datagrams of `node` come from now: the node's own address, or
    /// for a node behind a NAT its mapping towards `remote` (`None` when it has none yet).
    pub fn public_address(&self, node: NodeId, remote: SocketAddr) -> Option<SocketAddr> {
        let slot = self.nodes.get(node.0)?;
        match slot.nat {
            None => Some(slot.address),
            Some(nat) => self.nats[nat.0].nat.mapping(self.now, slot.address, remote),
        }
    }

    fn check_public_address(&self, address: SocketAddr) -> Result<(), SimError> {
        if self.by_address.contains_key(&address) {
            return Err(SimError::DuplicateAddress(address));
        }
        if self.nat_by_ip.contains_key(&address.ip()) {
            return Err(SimError::NatAddressTaken(address.ip()));
        }
        Ok(())
    }

    /// Gives `node` another address, as a NAT rebinding or a move to another network does:
    /// what it sends from now on comes from `address`, and datagrams sent to its old address
    /// from now on find no node. Its links stay (the path is modelled by them, not by the
    /// address); datagrams already in flight to it still arrive. A node behind a NAT gets
    /// another private address behind the same NAT (its next datagram out needs a new mapping).
    pub fn rebind(&mut self, node: NodeId, address: SocketAddr) -> Result<(), SimError> {
        let slot = self.nodes.get(node.0).ok_or(SimError::UnknownNode(node))?;
        let old = slot.address;
        match slot.nat {
            None => {
                self.check_public_address(address)?;
                self.by_address.remove(&old);
                self.by_address.insert(address, node);
            }
            Some(nat) => {
                let inside = &mut self.nats[nat.0].inside;
                if inside.contains_key(&address) {
                    return Err(SimError::DuplicateAddress(address));
                }
                inside.remove(&old);
                inside.insert(address, node);
            }
        }
        self.nodes[node.0].address = address;
        Ok(())
    }

    /// Adds one direction of a link.
    pub fn add_link(&mut self, config: LinkConfig) -> Result<LinkId, SimError> {
        config.validate()?;
        let id = LinkId(self.links.len());
        let seed = self
            .seed
            .wrapping_add((id.0 as u64 + 1).wrapping_mul(SEED_STRIDE));
        self.links.push(Link::new(id, config, seed));
        Ok(id)
    }

    /// Makes datagrams from `from` to `to` cross `links` in order (a shared link in several
    /// routes is a shared bottleneck).
    pub fn route(&mut self, from: NodeId, to: NodeId, links: &[LinkId]) -> Result<(), SimError> {
        self.check_node(from)?;
        self.check_node(to)?;
        if links.is_empty() {
            return Err(SimError::EmptyRoute { from, to });
        }
        if let Some(bad) = links.iter().find(|l| l.0 >= self.links.len()) {
            return Err(SimError::UnknownLink(*bad));
        }
        let index = self.routes.len();
        self.routes.push(links.to_vec());
        self.route_of.insert((from, to), index);
        Ok(())
    }

    /// Joins `a` and `b` with one link each way; returns (a→b, b→a).
    pub fn connect(
        &mut self,
        a: NodeId,
        b: NodeId,
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> Result<(LinkId, LinkId), SimError> {
        let forward = self.add_link(a_to_b)?;
        let reverse = self.add_link(b_to_a)?;
        self.route(a, b, &[forward])?;
        self.route(b, a, &[reverse])?;
        Ok((forward, reverse))
    }

    /// Applies the changes of `schedule` to `link` at their times (changes already in the past
    /// apply at once).
    pub fn schedule(&mut self, link: LinkId, schedule: &Schedule) -> Result<(), SimError> {
        self.check_link(link)?;
        schedule.validate()?;
        for (at, config) in schedule.changes() {
            self.events.push(
                (*at).max(self.now),
                EventKind::Reconfigure(link, Box::new(config.clone())),
            );
        }
        Ok(())
    }

    /// Changes a link's parameters now.
    pub fn set_link_config(&mut self, link: LinkId, config: LinkConfig) -> Result<(), SimError> {
        config.validate()?;
        self.check_link(link)?;
        let mut ctx = Ctx {
            now: self.now,
            events: &mut self.events,
            trace: &mut self.trace,
            next_packet_id: &mut self.next_packet_id,
        };
        self.links[link.0].reconfigure(&mut ctx, config);
        Ok(())
    }

    /// The epoch passed to [`Simulator::new`].
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.epoch + self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    /// The address of a node.
    pub fn address(&self, node: NodeId) -> Option<SocketAddr> {
        self.nodes.get(node.0).map(|slot| slot.address)
    }

    /// A node, if it exists and is a `T`.
    pub fn node<T: Node>(&self, node: NodeId) -> Option<&T> {
        let slot = self.nodes.get(node.0)?;
        let any: &dyn std::any::Any = slot.node.as_ref();
        any.downcast_ref()
    }

    /// A node for mutation, if it exists and is a `T`. Whatever it queues is sent at the current
    /// time on the next step.
    pub fn node_mut<T: Node>(&mut self, node: NodeId) -> Option<&mut T> {
        let slot = self.nodes.get_mut(node.0)?;
        let any: &mut dyn std::any::Any = slot.node.as_mut();
        any.downcast_mut()
    }

    /// Parameters a link has now.
    pub fn link_config(&self, link: LinkId) -> Option<&LinkConfig> {
        self.links.get(link.0).map(Link::config)
    }

    /// What a link did so far.
    pub fn link_stats(&self, link: LinkId) -> Option<&LinkStats> {
        self.links.get(link.0).map(Link::stats)
    }

    /// Bytes waiting in a link's bottleneck queue now.
    pub fn queued_bytes(&self, link: LinkId) -> Option<usize> {
        self.links.get(link.0).map(Link::queued_bytes)
    }

    /// Datagrams the nodes sent.
    pub fn sent(&self) -> Volume {
        self.sent
    }

    /// Datagrams delivered to nodes (duplicates included).
    pub fn delivered(&self) -> Volume {
        self.delivered
    }

    /// Datagrams sent to an address that no route leads to.
    pub fn unroutable(&self) -> Volume {
        self.unroutable
    }

    /// Datagrams NATs dropped (see [`Simulator::nat_stats`] for why).
    pub fn nat_dropped(&self) -> Volume {
        self.nat_dropped
    }

    /// Datagrams sent that have not yet been delivered or dropped (in queues, on the wire).
    pub fn packets_in_flight(&self) -> u64 {
        let (duplicated, dropped) = self.links.iter().fold((0, 0), |(dup, drop), link| {
            let stats = link.stats();
            (dup + stats.duplicated, drop + stats.dropped.total().packets)
        });
        (self.sent.packets + duplicated).saturating_sub(
            self.delivered.packets + dropped + self.unroutable.packets + self.nat_dropped.packets,
        )
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// When something next happens (a packet event or a node timer), if anything is pending.
    pub fn next_event_time(&mut self) -> Option<Duration> {
        let timers = self
            .nodes
            .iter_mut()
            .filter_map(|slot| slot.node.poll_timeout())
            .map(|t| t.saturating_duration_since(self.epoch).max(self.now))
            .min();
        match (self.events.next_time(), timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to the next instant at which something happens and processes it. Returns
    /// `false`, without moving time, when nothing is pending.
    pub fn step(&mut self) -> Result<bool, SimError> {
        self.drain_transmits()?;
        let Some(next) = self.next_event_time() else {
            return Ok(false);
        };
        self.now = next;
        self.process_instant()?;
        Ok(true)
    }

    /// Processes everything that happens up to and including `until` (virtual time since the
    /// start), then leaves the clock at `until`.
    pub fn run_until(&mut self, until: Duration) -> Result<(), SimError> {
        loop {
            self.drain_transmits()?;
            match self.next_event_time() {
                Some(next) if next <= until => {
                    self.now = next;
                    self.process_instant()?;
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// Runs for `duration` of virtual time from now.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        self.run_until(self.now.saturating_add(duration))
    }

    fn process_instant(&mut self) -> Result<(), SimError> {
        let now_instant = self.epoch + self.now;
        for round in 0.. {
            if round >= self.max_rounds_per_instant {
                return Err(SimError::Stalled {
                    at: self.now,
                    rounds: round,
                });
            }
            let mut busy = false;
            while let Some(event) = self.events.pop_due(self.now) {
                busy = true;
                self.handle_event(event, now_instant);
            }
            for slot in &mut self.nodes {
                if slot.node.poll_timeout().is_some_and(|t| t <= now_instant) {
                    busy = true;
                    slot.node.handle_timeout(now_instant);
                }
            }
            busy |= self.drain_transmits()?;
            if !busy {
                return Ok(());
            }
        }
        Ok(())
    }

    fn handle_event(&mut self, event: EventKind, now_instant: Instant) {
        match event {
            EventKind::Arrive(mut packet) => {
                let next_hop = packet.hop + 1;
                if let Some(&link) = self.routes[packet.route].get(next_hop) {
                    packet.hop = next_hop;
                    self.enqueue(link, packet);
                } else {
                    self.deliver(packet, now_instant);
                }
            }
            EventKind::ServiceDone(link) => {
                let mut ctx = Ctx {
                    now: self.now,
                    events: &mut self.events,
                    trace: &mut self.trace,
                    next_packet_id: &mut self.next_packet_id,
                };
                self.links[link.0].service_done(&mut ctx);
            }
            EventKind::Opportunity(link, generation) => {
                let mut ctx = Ctx {
                    now: self.now,
                    events: &mut self.events,
                    trace: &mut self.trace,
                    next_packet_id: &mut self.next_packet_id,
                };
                self.links[link.0].opportunity(&mut ctx, generation);
            }
            EventKind::Reconfigure(link, config) => {
                let mut ctx = Ctx {
                    now: self.now,
                    events: &mut self.events,
                    trace: &mut self.trace,
                    next_packet_id: &mut self.next_packet_id,
                };
                self.links[link.0].reconfigure(&mut ctx, *config);
            }
        }
    }

    fn deliver(&mut self, packet: InFlight, now_instant: Instant) {
        let size = packet.data.len();
        if let Some((nat, port)) = packet.nat {
            let slot = &mut self.nats[nat.0];
            match slot.nat.inbound(self.now, port, packet.from) {
                // The mapping may have been replaced in flight by one of another node.
                Ok(private) if slot.inside.get(&private) == Some(&packet.to) => {}
                Ok(_) => return self.drop_unroutable(packet.id, size),
                Err(cause) => return self.drop_at_nat(nat, cause, packet.id, size),
            }
        }
        self.delivered.add(size);
        self.trace.record(TraceEvent {
            at: self.now,
            packet: packet.id,
            size,
            kind: TraceKind::Delivered {
                one_way: self.now.saturating_sub(packet.sent_at),
            },
        });
        self.nodes[packet.to.0].node.handle_datagram(
            now_instant,
            packet.from,
            packet.ecn,
            packet.data,
        );
    }

    fn enqueue(&mut self, link: LinkId, packet: InFlight) {
        let mut ctx = Ctx {
            now: self.now,
            events: &mut self.events,
            trace: &mut self.trace,
            next_packet_id: &mut self.next_packet_id,
        };
        self.links[link.0].enqueue(&mut ctx, packet);
    }

    /// Drains every node's `poll_transmit` and routes the datagrams; `true` if any was sent.
    fn drain_transmits(&mut self) -> Result<bool, SimError> {
        let now_instant = self.epoch + self.now;
        let mut any = false;
        for index in 0..self.nodes.len() {
            let mut sent_here = 0usize;
            loop {
                self.buf.clear();
                let slot = &mut self.nodes[index];
                let Some(transmit) = slot.node.poll_transmit(now_instant, &mut self.buf) else {
                    break;
                };
                let from = slot.address;
                any = true;
                let size = transmit.size.min(self.buf.len());
                let transmit = crate::Transmit { size, ..transmit };
                for segment in transmit.segments() {
                    let data = BytesMut::from(&self.buf[segment]);
                    self.send(
                        NodeId(index),
                        from,
                        transmit.destination,
                        transmit.ecn,
                        data,
                    );
                }
                sent_here += 1;
                if sent_here > self.max_rounds_per_instant {
                    return Err(SimError::Stalled {
                        at: self.now,
                        rounds: sent_here,
                    });
                }
            }
        }
        Ok(any)
    }

    fn send(
        &mut self,
        from_node: NodeId,
        from: SocketAddr,
        to: SocketAddr,
        ecn: Option<crate::EcnCodepoint>,
        data: BytesMut,
    ) {
        let id = self.next_packet_id;
        self.next_packet_id += 1;
        let size = data.len();
        self.sent.add(size);
        self.trace.record(TraceEvent {
            at: self.now,
            packet: id,
            size,
            kind: TraceKind::Sent { from, to },
        });
        let from_nat = self.nodes[from_node.0].nat;
        let lan = from_nat.and_then(|nat| self.nats[nat.0].inside.get(&to).copied());
        let mut from = from;
        if let (Some(nat), None) = (from_nat, lan) {
            match self.nats[nat.0].nat.outbound(self.now, from, to) {
                Ok(translation) => {
                    if translation.created {
                        self.trace.record(TraceEvent {
                            at: self.now,
                            packet: id,
                            size,
                            kind: TraceKind::NatMapped {
                                nat,
                                private: from,
                                public: translation.public,
                            },
                        });
                    }
                    from = translation.public;
                }
                Err(cause) => return self.drop_at_nat(nat, cause, id, size),
            }
        }
        let (to_node, via_nat) = match (lan, self.by_address.get(&to)) {
            (Some(node), _) | (None, Some(&node)) => (node, None),
            (None, None) => match self.nat_by_ip.get(&to.ip()).copied() {
                None => return self.drop_unroutable(id, size),
                Some(nat) => {
                    let slot = &mut self.nats[nat.0];
                    match slot.nat.lookup(self.now, to.port()) {
                        Some(private) => match slot.inside.get(&private) {
                            Some(&node) => (node, Some((nat, to.port()))),
                            // Its node moved to another private address since making it.
                            None => return self.drop_unroutable(id, size),
                        },
                        None => {
                            // Let the NAT say (and count) whether it expired or never was.
                            let cause = slot
                                .nat
                                .inbound(self.now, to.port(), from)
                                .err()
                                .unwrap_or(NatDrop::NoMapping);
                            return self.drop_at_nat(nat, cause, id, size);
                        }
                    }
                }
            },
        };
        let Some(&route) = self.route_of.get(&(from_node, to_node)) else {
            return self.drop_unroutable(id, size);
        };
        let first = self.routes[route][0];
        let packet = InFlight {
            id,
            from,
            to: to_node,
            route,
            hop: 0,
            sent_at: self.now,
            entered_link_at: self.now,
            ecn,
            data,
            nat: via_nat,
        };
        self.enqueue(first, packet);
    }

    fn drop_unroutable(&mut self, packet: u64, size: usize) {
        self.unroutable.add(size);
        self.trace.record(TraceEvent {
            at: self.now,
            packet,
            size,
            kind: TraceKind::Dropped {
                link: None,
                cause: DropCause::NoRoute,
            },
        });
    }

    fn drop_at_nat(&mut self, nat: NatId, cause: NatDrop, packet: u64, size: usize) {
        self.nat_dropped.add(size);
        self.trace.record(TraceEvent {
            at: self.now,
            packet,
            size,
            kind: TraceKind::NatDropped { nat, cause },
        });
    }

    fn check_node(&self, node: NodeId) -> Result<(), SimError> {
        if node.0 < self.nodes.len() {
            Ok(())
        } else {
            Err(SimError::UnknownNode(node))
        }
    }

    fn check_link(&self, link: LinkId) -> Result<(), SimError> {
        if link.0 < self.links.len() {
            Ok(())
        } else {
            Err(SimError::UnknownLink(link))
        }
    }

    /// Number of scheduled packet and link events (for tests and diagnostics).
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("elapsed", &self.now)
            .field("seed", &self.seed)
            .field("nodes", &self.nodes.len())
            .field("links", &self.links.len())
            .field("nats", &self.nats.len())
            .field("pending_events", &self.events.len())
            .finish()
    }
}
