//! Building datagrams: which packet-number spaces get a packet, what goes in each, and the
//! limits every datagram respects (congestion window, anti-amplification, padding rules).

use std::time::Instant;

use bytes::Bytes;

use super::migration::PATH_PROBE_DATAGRAM;
use super::pacing::Pacer;
use super::space::{SentFrames, TRACKED_PACKETS_RESERVE};
use super::timers::Timer;
use super::{CloseFrame, Connection, Phase};
use crate::Transmit;
use crate::lanes::Lanes;
use crate::recovery::{SentPacket, SpaceId};
use crate::streams::Side;
use crate::streams::StreamsState;
use crate::wire::frame::{ConnectionClose, Frame, FrameType};
use crate::wire::{Ack, Header, PacketBuilder, PacketNumber, VERSION_1, VarInt};

/// Datagrams that carry an Initial packet are padded to this size (RFC 9000 §14.1), so that the
/// server's anti-amplification budget and the path's MTU are both checked by the first flight.
const MIN_INITIAL_DATAGRAM: usize = 1200;
/// Smallest room worth starting a data frame in (a frame header and a few bytes).
const MIN_FRAME_ROOM: usize = 8;
/// The smallest packet sent in what is left of the congestion window (see
/// `congestion_allows`): room for a short header, an ACK and a small message.
const MIN_PARTIAL_PACKET: usize = 256;
/// Smallest room worth starting a packet in.
pub(super) const MIN_PACKET_ROOM: usize = 48;
/// RFC 9000 §19.3: ACK delays in Initial and Handshake packets use the default exponent.
const HANDSHAKE_ACK_DELAY_EXPONENT: u8 = 3;

/// A packet just written, for [`Connection::on_packet_built`].
pub(super) struct BuiltPacket {
    pub(super) id: SpaceId,
    pub(super) pn: u64,
    pub(super) size: usize,
    pub(super) eliciting: bool,
    pub(super) in_flight: bool,
    /// Whether it answered a probe timeout.
    pub(super) pto_probe: bool,
    /// Whether its datagram carried ECT(0) (see `ecn`).
    pub(super) marked: bool,
}

/// How a packet must be padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Padding {
    None,
    /// Pad the datagram to this size if the packet turns out ack-eliciting.
    IfEliciting(usize),
    /// Pad the datagram to this size if the packet is sent at all (ACK-only included).
    IfSent(usize),
    /// Pad the datagram to this size, sending a padding-only packet if need be.
    Always(usize),
}

impl Connection {
    /// Appends the next datagram to `buf` (a driver may pass its send queue's buffer) and
    /// describes it; `None` when there is nothing to send now. Batches build on it (`batch`).
    pub(super) fn poll_datagram(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        match self.phase {
            Phase::Drained => return None,
            // Draining: only the one answer to the peer's close (`start_draining`).
            Phase::Closing | Phase::Draining => return self.transmit_close(now, buf),
            Phase::Handshaking | Phase::Established => {}
        }
        if let Some(transmit) = self.poll_off_path_response(now, buf) {
            return Some(transmit);
        }
        if let Some(transmit) = self.poll_mtu_probe(now, buf) {
            return Some(transmit);
        }
        let start = buf.len();
        let budget = self.datagram_budget();
        if budget < MIN_PACKET_ROOM {
            return None;
        }
        self.datagram_ecn = self.ecn.codepoint();
        self.update_keys_if_due();
        let data_usable = self.data_space_usable();
        let initial_pad = match self.side {
            // RFC 9000 §14.1: every datagram with an Initial from the client, and every one
            // with an ack-eliciting Initial from the server, is padded to 1200 bytes.
            Side::Client => Padding::Always(MIN_INITIAL_DATAGRAM),
            Side::Server => Padding::IfEliciting(MIN_INITIAL_DATAGRAM),
        };
        // The padding goes into the last packet with something in it: a Handshake or short
        // packet that will follow, else the Initial itself (a padding-only short packet would
        // hold the congestion window with bytes the peer may not be able to acknowledge yet).
        let data_follows = data_usable && self.data_space_has_something(now);
        let handshake_follows = self.handshake_space_has_something(now);
        let mut pad_left = false;
        if self.spaces[SpaceId::Initial.index()].discarded {
            // Nothing to coalesce with.
        } else if let Some(eliciting) = self.build_initial(
            now,
            buf,
            start,
            budget,
            data_follows || handshake_follows,
            initial_pad,
        ) {
            pad_left =
                (data_follows || handshake_follows) && (self.side == Side::Client || eliciting);
        }
        if handshake_follows {
            let room = budget.saturating_sub(buf.len() - start);
            let pad = if pad_left && !data_follows {
                pad_left = false;
                Padding::Always(MIN_INITIAL_DATAGRAM.min(budget))
            } else {
                Padding::None
            };
            if room >= MIN_PACKET_ROOM
                && self
                    .build_packet(now, SpaceId::Handshake, buf, start, room, pad)
                    .is_some()
                && self.side == Side::Client
            {
                // RFC 9001 §4.9.1: a client is done with Initial keys once it sends a
                // Handshake packet.
                self.discard_space(now, SpaceId::Initial);
            }
        }
        if data_usable {
            let room = budget.saturating_sub(buf.len() - start);
            let pad = if pad_left {
                Padding::Always(MIN_INITIAL_DATAGRAM.min(budget))
            } else if self.paths.has_pending() {
                // RFC 9000 §8.2.1: path probes travel in full-size datagrams where the
                // anti-amplification limit allows.
                Padding::IfEliciting(PATH_PROBE_DATAGRAM.min(budget))
            } else {
                Padding::None
            };
            if room >= MIN_PACKET_ROOM {
                self.build_packet(now, SpaceId::Data, buf, start, room, pad);
            }
        }
        let size = buf.len() - start;
        if size == 0 {
            return None;
        }
        self.on_datagram_sent(size);
        Some(Transmit {
            destination: self.remote,
            size,
            segment_size: None,
            ecn: self.datagram_ecn,
        })
    }

    /// Whether a short packet would carry something now: an acknowledgement, or ack-eliciting
    /// data the window (or a probe) lets out. A guess for padding only (the pacer may still
    /// hold the data back): when it is wrong, the short packet is padded, with a PING, all the
    /// same.
    fn data_space_has_something(&self, now: Instant) -> bool {
        if self.spaces[SpaceId::Data.index()].acks.has_news() {
            return true;
        }
        self.has_eliciting_data(now, SpaceId::Data)
            && (self.probing(SpaceId::Data) || self.congestion_allows(now))
    }

    /// Whether a Handshake packet would carry something now (TLS only: weir's own handshake
    /// uses no Handshake packets).
    fn handshake_space_has_something(&self, now: Instant) -> bool {
        let space = &self.spaces[SpaceId::Handshake.index()];
        if space.discarded || self.keys[SpaceId::Handshake.index()].is_none() {
            return false;
        }
        space.acks.has_news()
            || (self.has_eliciting_data(now, SpaceId::Handshake)
                && (self.probing(SpaceId::Handshake) || self.congestion_allows(now)))
    }

    /// Whether a probe timeout asked for packets in space `id` that are still owed.
    fn probing(&self, id: SpaceId) -> bool {
        self.probes > 0 && self.probe_space == id
    }

    /// The Initial packet of a datagram. When no short packet follows it in the same datagram,
    /// the Initial itself carries the padding. Returns whether it was ack-eliciting.
    fn build_initial(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        start: usize,
        budget: usize,
        data_follows: bool,
        pad: Padding,
    ) -> Option<bool> {
        let pad = match (data_follows, pad) {
            (false, Padding::Always(n)) => Padding::Always(n.min(budget)),
            (false, Padding::IfEliciting(n)) => Padding::IfEliciting(n.min(budget)),
            (true, _) | (_, Padding::None) | (_, Padding::IfSent(_)) => Padding::None,
        };
        // A client's Initial padding is only "always" when it sends an Initial at all.
        let pad = match pad {
            Padding::Always(n) => Padding::IfSent(n),
            other => other,
        };
        self.build_packet(now, SpaceId::Initial, buf, start, budget, pad)
    }

    pub(super) fn datagram_budget(&self) -> usize {
        let max = usize::from(self.datagram_size);
        if self.address_validated {
            return max;
        }
        // RFC 9000 §8.1: at most three times what the unvalidated address sent us.
        let allowed = self
            .unvalidated_received
            .saturating_mul(3)
            .saturating_sub(self.unvalidated_sent);
        max.min(usize::try_from(allowed).unwrap_or(usize::MAX))
    }

    pub(super) fn on_datagram_sent(&mut self, size: usize) {
        if !self.address_validated {
            self.unvalidated_sent += size as u64;
        }
    }

    /// Whether short-header packets can be sent: the handshake has the peer's parameters (the
    /// client also learned the server's connection ID with them) and, under TLS, the 1-RTT
    /// keys.
    pub(super) fn data_space_usable(&self) -> bool {
        self.peer_params.is_some()
            && self.keys[SpaceId::Data.index()].is_some()
            && !self.spaces[SpaceId::Data.index()].discarded
    }

    /// Whether the pacer and the rate limit let a full-size packet leave now; if not, arms the
    /// pacing timer for when both will.
    fn pacer_allows(&mut self, now: Instant) -> bool {
        let datagram = u64::from(self.datagram_size);
        let rate = Pacer::rate(
            self.congestion.pacing_rate(),
            self.congestion.window(),
            self.rtt.smoothed(),
        );
        let paced = self.pacer.delay(now, datagram, rate, datagram);
        let limited = self.rate_limit.as_mut().and_then(|bucket| {
            bucket.refill(now);
            // The configuration keeps the burst at least a datagram; should it not, a packet
            // waits for a full bucket rather than for ever.
            let needed = datagram.min(bucket.burst());
            if bucket.has(needed) {
                None
            } else {
                bucket.ready_at(needed)
            }
        });
        match paced.max(limited) {
            None => {
                self.timers.stop(Timer::Pacing);
                true
            }
            Some(release) => {
                self.timers.set(Timer::Pacing, release);
                false
            }
        }
    }

    /// Bytes the congestion window leaves for ack-eliciting packets; none while the record of
    /// sent packets is at its bound.
    pub(super) fn congestion_room(&self) -> u64 {
        let span = self.spaces[SpaceId::Data.index()].recovery.sent().span();
        if span + TRACKED_PACKETS_RESERVE >= self.config.max_tracked_packets {
            return 0;
        }
        let window = self.congestion.window();
        // The queue guard caps what the path was measured to carry; after a probe timeout
        // nothing is getting through (an outage, a handover) and the packets counted in flight
        // are mostly lost: held to the cap, the connection would send nothing new until a
        // backed-off probe happened to find the path back, while the real-time messages sent
        // under the controller's window arrive the moment it is.
        let guarded = self.queue_cap.filter(|_| self.loss.pto_count() == 0);
        let window = guarded.map_or(window, |cap| window.min(cap));
        window.saturating_sub(self.bytes_in_flight())
    }

    /// Whether the congestion window lets an ack-eliciting packet leave: a full-size one, or,
    /// when no stream waits to send, a smaller one that fits what is left (RFC 9002 §7: a
    /// packet must not take bytes in flight over the window — not a full packet's worth).
    /// Messages are small: a game's lane at the minimum window (two full packets, where random
    /// loss keeps an app-limited flow) would otherwise have one packet in flight at a time and
    /// queue behind every acknowledgement. Streams keep the full-size rule, so that a bulk
    /// transfer never sends small packets at the edge of its window.
    fn congestion_allows(&self, now: Instant) -> bool {
        let room = self.congestion_room();
        room >= u64::from(self.datagram_size)
            || (room >= MIN_PARTIAL_PACKET as u64
                && !self.streams.has_pending()
                && !self.lanes.only_copies_pending(now))
    }

    fn has_eliciting_data(&self, now: Instant, id: SpaceId) -> bool {
        let space = &self.spaces[id.index()];
        match id {
            SpaceId::Initial | SpaceId::Handshake => space.has_handshake_data(),
            SpaceId::Data => {
                self.handshake_done_pending
                    || self.paths.has_pending()
                    || self.cids.has_pending()
                    || space.ping_pending
                    || space.handshake.has_pending()
                    || self.streams.has_pending()
                    || self.lanes.has_pending(now)
                    || self.datagrams.has_pending()
            }
        }
    }

    /// Builds one packet of space `id` at the end of `buf` (whose current datagram started at
    /// `datagram_start`) in at most `room` bytes. Returns whether it was ack-eliciting, or
    /// `None` if nothing was worth sending.
    pub(super) fn build_packet(
        &mut self,
        now: Instant,
        id: SpaceId,
        buf: &mut Vec<u8>,
        datagram_start: usize,
        room: usize,
        pad: Padding,
    ) -> Option<bool> {
        if self.spaces[id.index()].discarded || self.keys[id.index()].is_none() {
            return None;
        }
        let probe = self.probing(id);
        let window_room = self.congestion_allows(now);
        let may_elicit = probe || window_room;
        let has_data = self.has_eliciting_data(now, id);
        if id == SpaceId::Data && self.data_space_usable() {
            if window_room && !has_data {
                // Nothing to send with the window open: rate samples taken now measure the
                // application, not the path (delivery-rate estimation, app-limited marking).
                self.app_limited = true;
                self.delivery.on_app_limited(self.bytes_in_flight());
            } else if !window_room {
                self.app_limited = false;
            }
        }
        let mut eliciting_pending = may_elicit && has_data;
        if eliciting_pending && id == SpaceId::Data && !probe {
            // Probes leave at once; everything else new in the data space is paced.
            eliciting_pending = self.pacer_allows(now);
        }
        let ack_due = self.spaces[id.index()].acks.ack_due(now);
        if !eliciting_pending && !ack_due && !matches!(pad, Padding::Always(_)) {
            return None;
        }

        // What leaves under the window stays within it.
        let room = if eliciting_pending && !probe && id == SpaceId::Data {
            let window = usize::try_from(self.congestion_room()).unwrap_or(usize::MAX);
            room.min(window.max(MIN_PARTIAL_PACKET))
        } else {
            room
        };
        // Probe-timeout packets stay within the base size: if a black hole swallowed the large
        // packets, these still arrive and tell it from an outage (see `crate::pmtu`).
        let room = if probe && id == SpaceId::Data {
            room.min(usize::from(self.pmtu.base()))
        } else {
            room
        };
        let packet_start = buf.len();
        let (pn, header) = self.header_for(id);
        let mut builder = PacketBuilder::new(buf, &header, pn, room, self.tag_len).ok()?;
        let mut frames = SentFrames::default();
        let mut eliciting = false;
        let mut path_frames = false;

        let ecn_counts = self.ecn.ack_counts(id);
        let space = &mut self.spaces[id.index()];
        if space.acks.has_news() {
            let exponent = match id {
                SpaceId::Data => self.config.ack_delay_exponent,
                SpaceId::Initial | SpaceId::Handshake => HANDSHAKE_ACK_DELAY_EXPONENT,
            };
            let delay = u64::try_from(space.acks.ack_delay(now).as_micros() >> exponent)
                .unwrap_or(u64::MAX);
            let cap = builder.frame_space();
            if Ack::encode(
                space.acks.ranges(),
                delay,
                ecn_counts.as_ref(),
                cap,
                builder.buf(),
            )
            .is_some()
            {
                frames.ack_largest = space.acks.ranges().max();
                space.acks.on_ack_sent();
            }
        }

        if eliciting_pending {
            match id {
                SpaceId::Initial | SpaceId::Handshake => {
                    let room = builder.frame_space();
                    space
                        .handshake
                        .write_frames(builder.buf(), room, &mut frames.handshake);
                    eliciting |= !frames.handshake.is_empty();
                }
                SpaceId::Data => {
                    // TLS messages after the handshake (session tickets).
                    let room = builder.frame_space();
                    space
                        .handshake
                        .write_frames(builder.buf(), room, &mut frames.handshake);
                    eliciting |= !frames.handshake.is_empty();
                    if self.paths.has_pending() {
                        let room = builder.frame_space();
                        if self.paths.write_frames(builder.buf(), room) {
                            eliciting = true;
                            path_frames = true;
                        }
                    }
                    if self.handshake_done_pending && builder.frame_space() >= 1 {
                        builder.buf().push(FrameType::HANDSHAKE_DONE.value() as u8);
                        frames.handshake_done = true;
                        self.handshake_done_pending = false;
                        eliciting = true;
                    }
                    let room = builder.frame_space();
                    eliciting |= self
                        .cids
                        .write_frames(builder.buf(), room, &mut frames.cids);
                    let room = builder.frame_space();
                    self.streams
                        .write_control_frames(builder.buf(), room, &mut frames.streams);
                    let room = builder.frame_space();
                    self.lanes
                        .write_control_frames(builder.buf(), room, &mut frames.lanes);
                    let room = builder.frame_space();
                    eliciting |= self.datagrams.write_frames(now, builder.buf(), room) > 0;
                    self.lanes.set_rtt(self.rtt.smoothed());
                    eliciting |= write_data_frames(
                        &mut self.lanes,
                        &mut self.streams,
                        now,
                        &mut builder,
                        &mut frames,
                    );
                    if eliciting || self.lanes.tail_copies_due() {
                        // Room left in a packet that leaves anyway carries redundant copies
                        // (and a lane gone quiet sends the copies it owes on their own).
                        let room = builder.frame_space();
                        self.lanes
                            .write_copies(now, builder.buf(), room, &mut frames.lanes);
                        self.lanes.end_packet();
                    }
                    eliciting |= !frames.streams.is_empty() || !frames.lanes.is_empty();
                }
            }
            if (space.ping_pending || probe) && !eliciting && builder.frame_space() >= 1 {
                builder.buf().push(FrameType::PING.value() as u8);
                eliciting = true;
            }
            if eliciting {
                space.ping_pending = false;
            }
        }

        let padded = match pad {
            Padding::None => false,
            Padding::IfEliciting(_) => eliciting,
            Padding::IfSent(_) => eliciting || frames.ack_largest.is_some(),
            Padding::Always(_) => true,
        };
        if padded && !eliciting && builder.frame_space() >= 1 {
            // A padded packet counts in flight (RFC 9002 §2). Were it not ack-eliciting, the
            // peer need never acknowledge it and no probe timer would cover it: its bytes could
            // hold the congestion window shut for good (a lossy handshake left a server with
            // only such packets in flight, a full window and nothing armed).
            builder.buf().push(FrameType::PING.value() as u8);
            eliciting = true;
        }
        if padded {
            let target = match pad {
                Padding::IfEliciting(n) | Padding::IfSent(n) | Padding::Always(n) => n,
                Padding::None => 0,
            };
            builder.pad_to(target.saturating_sub(packet_start - datagram_start));
        }
        if !eliciting && frames.ack_largest.is_none() && !padded {
            buf.truncate(packet_start);
            return None;
        }
        let Some(size) = self.seal(id, pn, builder) else {
            buf.truncate(packet_start);
            return None;
        };
        let in_flight = eliciting || padded;
        self.on_packet_built(
            now,
            BuiltPacket {
                id,
                pn,
                size,
                eliciting,
                in_flight,
                pto_probe: probe,
                marked: self.datagram_ecn.is_some(),
            },
            frames,
        );
        if path_frames {
            self.on_path_frames_sent(now);
        }
        Some(eliciting)
    }

    /// Records a packet just written: its number taken, tracked for loss detection, counted
    /// in flight, paced, timers re-armed.
    pub(super) fn on_packet_built(
        &mut self,
        now: Instant,
        packet: BuiltPacket,
        mut frames: SentFrames,
    ) {
        let BuiltPacket {
            id,
            pn,
            size,
            eliciting,
            in_flight,
            pto_probe: probe,
            marked,
        } = packet;
        frames.marked = marked;
        self.ecn.on_packet_sent(id, marked);
        // An MTU probe's delivery says nothing about the path's rate (it waits for no data).
        if in_flight && !frames.mtu_probe {
            let before = self.bytes_in_flight();
            frames.delivery = Some(self.delivery.on_packet_sent(now, size as u64, before));
        }
        let space = &mut self.spaces[id.index()];
        space.next_pn += 1;
        let size16 = u16::try_from(size).unwrap_or(u16::MAX);
        space.on_packet_sent(
            pn,
            SentPacket::new(now, size16, eliciting, in_flight, frames),
        );
        self.scratch_lost.clear();
        let evicted = space
            .recovery
            .evict_beyond(self.config.max_tracked_packets, &mut self.scratch_lost);
        if evicted.packets > 0 {
            self.stats.packets_evicted += evicted.packets as u64;
            self.on_packets_lost(now, id, evicted);
        }
        if in_flight {
            let in_flight_bytes = self.bytes_in_flight();
            self.congestion
                .on_packet_sent(now, size as u64, in_flight_bytes);
        }
        if eliciting {
            if id == SpaceId::Data {
                self.pacer.on_sent(size as u64);
                // Probes and MTU probes leave without asking: their bytes still count.
                if let Some(bucket) = &mut self.rate_limit {
                    bucket.refill(now);
                    bucket.take(size as u64);
                }
            }
            if !self.eliciting_since_receive {
                // RFC 9000 §10.1: sending the first ack-eliciting packet after receiving
                // restarts the idle timer.
                self.eliciting_since_receive = true;
                self.last_activity = now;
            }
            self.last_ack_eliciting_sent = Some(now);
            if probe {
                self.probes -= 1;
            }
        }
        if in_flight || evicted.packets > 0 {
            self.set_loss_timer(now);
        }
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
    }

    /// The header of the next packet of space `id`, and its full packet number.
    pub(super) fn header_for(&self, id: SpaceId) -> (u64, Header) {
        let space = &self.spaces[id.index()];
        let pn = space.next_pn;
        let number = PacketNumber::new(pn, space.recovery.largest_acked());
        let header = match id {
            SpaceId::Initial => Header::Initial {
                version: VERSION_1,
                dcid: self.ids.remote,
                scid: self.ids.local,
                token: match self.side {
                    Side::Client => self.retry_token.clone(),
                    Side::Server => Bytes::new(),
                },
                number,
            },
            SpaceId::Handshake => Header::Handshake {
                version: VERSION_1,
                dcid: self.ids.remote,
                scid: self.ids.local,
                number,
            },
            SpaceId::Data => Header::Short {
                spin: false,
                key_phase: self.key_phase(),
                dcid: self.ids.remote,
                number,
            },
        };
        (pn, header)
    }

    /// While closing: one packet with CONNECTION_CLOSE, when one is owed (RFC 9000 §10.2.1).
    fn transmit_close(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if !self.close_pending {
            return None;
        }
        let frame = self.close_frame.clone()?;
        let start = buf.len();
        let budget = self.datagram_budget();
        // The peer can read short-header packets once it has our parameters; before that only
        // Initial packets reach it.
        let id = self.close_space();
        let (pn, header) = self.header_for(id);
        let mut builder = PacketBuilder::new(buf, &header, pn, budget, self.tag_len).ok()?;
        let room = builder.frame_space();
        let close = match (frame, id) {
            // RFC 9000 §10.2.3: an application close in an Initial packet reveals nothing of the
            // application: it becomes APPLICATION_ERROR without a reason.
            (CloseFrame::Application { .. }, SpaceId::Initial | SpaceId::Handshake) => {
                ConnectionClose::Transport {
                    error_code: VarInt::from_u32(0xc),
                    frame_type: VarInt::ZERO,
                    reason: Bytes::new(),
                }
            }
            (CloseFrame::Application { code, reason }, SpaceId::Data) => {
                ConnectionClose::Application {
                    error_code: code,
                    reason: truncate(reason, room.saturating_sub(24)),
                }
            }
            (
                CloseFrame::Transport {
                    code,
                    frame_type,
                    reason,
                },
                _,
            ) => ConnectionClose::Transport {
                error_code: code,
                frame_type,
                reason: truncate(reason, room.saturating_sub(32)),
            },
        };
        if !builder.write_frame(&Frame::ConnectionClose(close)) {
            buf.truncate(start);
            return None;
        }
        let Some(size) = self.seal(id, pn, builder) else {
            buf.truncate(start);
            return None;
        };
        self.spaces[id.index()].next_pn += 1;
        self.close_pending = false;
        self.last_close_sent = Some(now);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += size as u64;
        self.on_datagram_sent(size);
        Some(Transmit {
            destination: self.remote,
            size,
            segment_size: None,
            ecn: None,
        })
    }

    /// The space a CONNECTION_CLOSE goes in: the highest the peer can read for certain.
    fn close_space(&self) -> SpaceId {
        let has =
            |id: SpaceId| self.keys[id.index()].is_some() && !self.spaces[id.index()].discarded;
        if self.is_tls() {
            // The server reads 1-RTT packets once the handshake is complete; the client once
            // it has the 1-RTT keys, which the server has when its handshake is complete.
            let peer_reads_data = self.handshake_confirmed || self.tls_complete;
            return if has(SpaceId::Data) && peer_reads_data {
                SpaceId::Data
            } else if has(SpaceId::Handshake) {
                SpaceId::Handshake
            } else if has(SpaceId::Initial) {
                SpaceId::Initial
            } else {
                SpaceId::Data
            };
        }
        if self.data_space_usable() && self.remote_can_read_short() {
            SpaceId::Data
        } else if !self.spaces[SpaceId::Initial.index()].discarded {
            SpaceId::Initial
        } else {
            SpaceId::Data
        }
    }

    /// Whether the peer can already process our short-header packets.
    fn remote_can_read_short(&self) -> bool {
        match self.side {
            // The server reads short packets as soon as it has our ClientHello.
            Side::Client => true,
            // The client needs our ServerHello first: only certain once a packet proved it
            // (handshake confirmed); a ClientFinished from a client that never heard from us
            // must be refused in an Initial packet the client can read and attribute.
            Side::Server => self.handshake_confirmed,
        }
    }
}

fn truncate(reason: Bytes, max: usize) -> Bytes {
    if reason.len() > max {
        reason.slice(..max)
    } else {
        reason
    }
}

/// Fills the packet with STREAM and LANE frames under one priority order (DESIGN.md §3a):
/// whichever of the next stream and the next lane has the higher priority goes first; at
/// equal priority they take turns frame by frame. Returns whether a frame was written.
fn write_data_frames(
    lanes: &mut Lanes,
    streams: &mut StreamsState,
    now: Instant,
    builder: &mut PacketBuilder<'_>,
    frames: &mut SentFrames,
) -> bool {
    let mut wrote = false;
    loop {
        let room = builder.frame_space();
        if room < MIN_FRAME_ROOM {
            return wrote;
        }
        let lanes_first = match (lanes.front_priority(now), streams.front_priority()) {
            (None, None) => return wrote,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(s)) if l != s => l > s,
            (Some(_), Some(_)) => {
                lanes.lanes_turn = !lanes.lanes_turn;
                lanes.lanes_turn
            }
        };
        // The chosen kind first; if it has nothing after all, the other.
        let order = if lanes_first {
            [true, false]
        } else {
            [false, true]
        };
        let step = order.into_iter().any(|lane| {
            if lane {
                lanes.write_frame(now, builder.buf(), room, &mut frames.lanes)
            } else {
                streams.write_stream_frame(builder.buf(), room, &mut frames.streams)
            }
        });
        if !step {
            return wrote;
        }
        wrote = true;
    }
}
