//! One direction of a simulated link: MTU, bottleneck queue, medium, propagation.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::LinkId;
use super::config::LinkConfig;
use super::event::{EventKind, Events, InFlight};
use super::loss::{LossState, LossVerdict};
use super::stats::{DropCause, LinkStats};
use super::trace::{Trace, TraceEvent, TraceKind};

/// What a link needs from the simulator while it handles a packet.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Duration,
    pub(crate) events: &'a mut Events,
    pub(crate) trace: &'a mut Trace,
    pub(crate) next_packet_id: &'a mut u64,
}

impl Ctx<'_> {
    fn trace(&mut self, packet: &InFlight, kind: TraceKind) {
        self.trace.record(TraceEvent {
            at: self.now,
            packet: packet.id,
            size: packet.data.len(),
            kind,
        });
    }
}

/// A packet being serialised by the bottleneck.
struct InService {
    packet: InFlight,
    transmit_time: Duration,
}

pub(crate) struct Link {
    id: LinkId,
    config: LinkConfig,
    rng: Pcg64Mcg,
    loss: LossState,
    /// Packets waiting for the bottleneck, in arrival order.
    waiting: VecDeque<InFlight>,
    waiting_bytes: usize,
    in_service: Option<InService>,
    /// Latest arrival time handed out to a packet that was not picked for reordering: jitter
    /// alone never lets a packet overtake an earlier one.
    last_arrival: Duration,
    stats: LinkStats,
}

impl Link {
    pub(crate) fn new(id: LinkId, config: LinkConfig, seed: u64) -> Self {
        Self {
            id,
            config,
            rng: Pcg64Mcg::seed_from_u64(seed),
            loss: LossState::default(),
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            in_service: None,
            last_arrival: Duration::ZERO,
            stats: LinkStats::default(),
        }
    }

    pub(crate) fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Replaces the parameters; see [`super::Schedule`] for what a change affects.
    pub(crate) fn reconfigure(&mut self, config: LinkConfig) {
        self.config = config;
    }

    pub(crate) fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Bytes waiting for the bottleneck right now.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.waiting_bytes
    }

    /// A packet enters the link.
    pub(crate) fn enqueue(&mut self, ctx: &mut Ctx<'_>, mut packet: InFlight) {
        let size = packet.data.len();
        self.stats.offered.add(size);
        if size > self.config.mtu {
            self.drop_packet(ctx, &packet, DropCause::TooBig);
            return;
        }
        packet.entered_link_at = ctx.now;
        if self.config.rate.is_none() {
            self.depart(ctx, packet);
        } else if self.in_service.is_none() {
            self.start_service(ctx, packet);
        } else if self.waiting_bytes + size > self.config.queue_bytes {
            self.drop_packet(ctx, &packet, DropCause::QueueFull);
        } else {
            self.waiting_bytes += size;
            self.stats.peak_queue_bytes = self.stats.peak_queue_bytes.max(self.waiting_bytes);
            self.waiting.push_back(packet);
        }
    }

    /// The bottleneck finished serialising the packet in service.
    pub(crate) fn service_done(&mut self, ctx: &mut Ctx<'_>) {
        let Some(done) = self.in_service.take() else {
            return;
        };
        self.stats.busy += done.transmit_time;
        self.depart(ctx, done.packet);
        if let Some(next) = self.waiting.pop_front() {
            self.waiting_bytes -= next.data.len();
            self.start_service(ctx, next);
        }
    }

    fn start_service(&mut self, ctx: &mut Ctx<'_>, packet: InFlight) {
        // A link can lose its rate limit to a schedule while packets wait: serve them at once.
        let transmit_time = self
            .config
            .rate
            .map_or(Duration::ZERO, |rate| rate.transmit_time(packet.data.len()));
        let queue_delay = ctx.now.saturating_sub(packet.entered_link_at);
        self.stats.record_queue_delay(queue_delay);
        ctx.trace(
            &packet,
            TraceKind::Departed {
                link: self.id,
                queue_delay,
            },
        );
        ctx.events.push(
            ctx.now.saturating_add(transmit_time),
            EventKind::ServiceDone(self.id),
        );
        self.in_service = Some(InService {
            packet,
            transmit_time,
        });
    }

    /// The packet is on the medium: loss, corruption, duplication, then propagation.
    fn depart(&mut self, ctx: &mut Ctx<'_>, mut packet: InFlight) {
        match self.loss.decide(&self.config.loss, &mut self.rng) {
            LossVerdict::Kept => {}
            LossVerdict::Random => return self.drop_packet(ctx, &packet, DropCause::RandomLoss),
            LossVerdict::Burst => return self.drop_packet(ctx, &packet, DropCause::BurstLoss),
            LossVerdict::Outage => return self.drop_packet(ctx, &packet, DropCause::Outage),
        }
        if chance(&mut self.rng, self.config.corrupt) && !packet.data.is_empty() {
            let bit = self.rng.random_range(0..packet.data.len() * 8);
            packet.data[bit / 8] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
            ctx.trace(&packet, TraceKind::Corrupted { link: self.id, bit });
        }
        let copy = chance(&mut self.rng, self.config.duplicate).then(|| {
            let mut copy = packet.clone();
            copy.id = *ctx.next_packet_id;
            *ctx.next_packet_id += 1;
            self.stats.duplicated += 1;
            ctx.trace(
                &packet,
                TraceKind::Duplicated {
                    link: self.id,
                    copy: copy.id,
                },
            );
            copy
        });
        self.propagate(ctx, packet);
        if let Some(copy) = copy {
            self.propagate(ctx, copy);
        }
    }

    fn propagate(&mut self, ctx: &mut Ctx<'_>, packet: InFlight) {
        let jitter = if self.config.jitter.is_zero() {
            Duration::ZERO
        } else {
            let max = u64::try_from(self.config.jitter.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(self.rng.random_range(0..=max))
        };
        let natural = ctx
            .now
            .saturating_add(self.config.delay)
            .saturating_add(jitter);
        let arrival = if chance(&mut self.rng, self.config.reorder) {
            self.stats.reordered += 1;
            ctx.trace(&packet, TraceKind::Reordered { link: self.id });
            natural.saturating_add(self.config.reorder_delay)
        } else {
            let arrival = natural.max(self.last_arrival);
            self.last_arrival = arrival;
            arrival
        };
        self.stats.delivered.add(packet.data.len());
        ctx.events.push(arrival, EventKind::Arrive(packet));
    }

    fn drop_packet(&mut self, ctx: &mut Ctx<'_>, packet: &InFlight, cause: DropCause) {
        self.stats.dropped.add(cause, packet.data.len());
        ctx.trace(
            packet,
            TraceKind::Dropped {
                link: Some(self.id),
                cause,
            },
        );
    }
}

/// `true` with probability `p`; draws nothing from the generator when `p` is 0 or 1, so that
/// enabling one impairment does not shift the random stream of a link that lacks it.
fn chance(rng: &mut Pcg64Mcg, p: f64) -> bool {
    if p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.random_bool(p)
    }
}
