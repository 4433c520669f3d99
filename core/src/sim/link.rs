//! One direction of a simulated link: MTU, bottleneck queue, medium, propagation.
//!
//! The bottleneck runs in one of three modes, picked by the link's current [`LinkConfig`]:
//! unlimited (no queue), a fixed `rate` (one packet in service, the rest waiting), or a
//! Mahimahi `trace` (every packet waits for delivery opportunities; the head of the queue is the
//! packet in service and may be carried over several opportunities).

use std::collections::VecDeque;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::LinkId;
use super::config::{LinkConfig, LinkEcn};
use super::delivery::{DeliveryTrace, OPPORTUNITY_BYTES};
use super::event::{EventKind, Events, InFlight};
use super::loss::{LossState, LossVerdict};
use super::stats::{DropCause, LinkStats};
use super::trace::{Trace, TraceEvent, TraceKind};
use crate::EcnCodepoint;

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

/// Trace mode's progress through the delivery opportunities.
#[derive(Default)]
struct Opportunities {
    /// Index of the next opportunity not yet spent (over the repeated trace).
    next: u64,
    /// Bytes of the head packet already carried by earlier opportunities.
    head_sent: usize,
    /// An `Opportunity` event of this generation is in the event queue.
    armed: bool,
    /// Bumped whenever the bottleneck changes, so that events armed before are ignored.
    generation: u64,
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
    /// Trace mode: where the link is in its trace.
    opportunities: Opportunities,
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
            opportunities: Opportunities::default(),
            last_arrival: Duration::ZERO,
            stats: LinkStats::default(),
        }
    }

    pub(crate) fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Replaces the parameters; see [`super::Schedule`] for what a change affects. A change of
    /// bottleneck (another trace, or between a trace and a rate) abandons the old trace's
    /// opportunities and carries on with what waits under the new one.
    pub(crate) fn reconfigure(&mut self, ctx: &mut Ctx<'_>, config: LinkConfig) {
        let same_bottleneck = match (&self.config.trace, &config.trace) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        self.config = config;
        if same_bottleneck {
            return;
        }
        let o = &mut self.opportunities;
        o.generation += 1;
        o.armed = false;
        o.next = 0;
        o.head_sent = 0;
        if self.in_service.is_some() {
            // `service_done` hands the queue to the new bottleneck.
            return;
        }
        match self.config.trace.clone() {
            Some(trace) if !self.waiting.is_empty() => self.arm(ctx, &trace),
            Some(_) => {}
            None => self.serve_next(ctx),
        }
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
        if self.config.ecn == LinkEcn::Bleach {
            packet.ecn = None;
        }
        if let Some(trace) = self.config.trace.clone() {
            self.enqueue_traced(ctx, packet, &trace);
        } else if self.config.rate.is_none() {
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

    /// Trace mode: the head of the queue is in service and does not count against
    /// `queue_bytes` (as the packet being serialised at a fixed rate does not).
    fn enqueue_traced(&mut self, ctx: &mut Ctx<'_>, packet: InFlight, trace: &DeliveryTrace) {
        let size = packet.data.len();
        let head = self.waiting.front().map_or(0, |p| p.data.len());
        let waiting = self.waiting_bytes - head;
        if !self.waiting.is_empty() && waiting + size > self.config.queue_bytes {
            self.drop_packet(ctx, &packet, DropCause::QueueFull);
            return;
        }
        if !self.waiting.is_empty() {
            self.stats.peak_queue_bytes = self.stats.peak_queue_bytes.max(waiting + size);
        }
        self.waiting_bytes += size;
        self.waiting.push_back(packet);
        if !self.opportunities.armed {
            self.arm(ctx, trace);
        }
    }

    /// Trace mode: waits for the first opportunity after now that is not spent yet.
    fn arm(&mut self, ctx: &mut Ctx<'_>, trace: &DeliveryTrace) {
        let o = &mut self.opportunities;
        o.next = o.next.max(trace.first_after(ctx.now));
        o.armed = true;
        ctx.events.push(
            trace.time_of(o.next),
            EventKind::Opportunity(self.id, o.generation),
        );
    }

    /// Trace mode: a delivery opportunity carries up to [`OPPORTUNITY_BYTES`] of the queue's
    /// head, byte by byte as Mahimahi counts: several small packets, or part of a large one that
    /// the next opportunities finish. Bytes nobody waits for are wasted.
    pub(crate) fn opportunity(&mut self, ctx: &mut Ctx<'_>, generation: u64) {
        if generation != self.opportunities.generation {
            return;
        }
        self.opportunities.armed = false;
        let Some(trace) = self.config.trace.clone() else {
            return;
        };
        self.opportunities.next += 1;
        let mut budget = OPPORTUNITY_BYTES;
        let mut carried = 0;
        while let Some(head) = self.waiting.front() {
            let remaining = head.data.len() - self.opportunities.head_sent;
            let take = remaining.min(budget);
            budget -= take;
            carried += take;
            if take < remaining {
                self.opportunities.head_sent += take;
                break;
            }
            self.opportunities.head_sent = 0;
            let Some(mut packet) = self.waiting.pop_front() else {
                break;
            };
            self.waiting_bytes -= packet.data.len();
            self.record_departure(ctx, &mut packet);
            self.depart(ctx, packet);
            if budget == 0 {
                break;
            }
        }
        // Utilisation: the share of the trace's mean capacity the carried bytes used.
        self.stats.busy += trace.mean_rate().transmit_time(carried);
        if !self.waiting.is_empty() {
            // The next opportunity may share this instant (a repeated timestamp).
            let o = &mut self.opportunities;
            o.armed = true;
            ctx.events.push(
                trace.time_of(o.next).max(ctx.now),
                EventKind::Opportunity(self.id, o.generation),
            );
        }
    }

    /// The bottleneck finished serialising the packet in service.
    pub(crate) fn service_done(&mut self, ctx: &mut Ctx<'_>) {
        let Some(done) = self.in_service.take() else {
            return;
        };
        self.stats.busy += done.transmit_time;
        self.depart(ctx, done.packet);
        match self.config.trace.clone() {
            // A schedule switched the link to a trace while this packet was in service.
            Some(trace) if !self.waiting.is_empty() => self.arm(ctx, &trace),
            Some(_) => {}
            None => self.serve_next(ctx),
        }
    }

    /// Rate or unlimited mode: the next waiting packet, if any, enters service.
    fn serve_next(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(next) = self.waiting.pop_front() {
            self.waiting_bytes -= next.data.len();
            self.start_service(ctx, next);
        }
    }

    /// `packet` leaves the bottleneck queue now: its queueing delay goes into the statistics
    /// and the trace, and a step-marking link marks it CE if the delay was over the threshold.
    fn record_departure(&mut self, ctx: &mut Ctx<'_>, packet: &mut InFlight) {
        let queue_delay = ctx.now.saturating_sub(packet.entered_link_at);
        if let LinkEcn::MarkAbove(threshold) = self.config.ecn
            && queue_delay > threshold
            && packet.ecn.is_some()
        {
            if packet.ecn != Some(EcnCodepoint::Ce) {
                self.stats.ce_marked += 1;
            }
            packet.ecn = Some(EcnCodepoint::Ce);
        }
        self.stats.record_queue_delay(queue_delay);
        ctx.trace(
            packet,
            TraceKind::Departed {
                link: self.id,
                queue_delay,
            },
        );
    }

    fn start_service(&mut self, ctx: &mut Ctx<'_>, mut packet: InFlight) {
        // A link can lose its rate limit to a schedule while packets wait: serve them at once.
        let transmit_time = self
            .config
            .rate
            .map_or(Duration::ZERO, |rate| rate.transmit_time(packet.data.len()));
        self.record_departure(ctx, &mut packet);
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
