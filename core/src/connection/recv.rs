//! Receiving: opening packets, acting on their frames, and what acknowledgements and losses do
//! to the rest of the connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::space::SentFrames;
use super::{Connection, ConnectionError, Event, Phase};
use crate::EcnCodepoint;
use crate::congestion::{AckEvent, AckedPacket, CongestionCause, CongestionEvent};
use crate::error::TransportError;
use crate::protect::Crc32cKey;
use crate::recovery::{LossOutcome, SpaceId, in_persistent_congestion};
use crate::streams::{Side, StreamId, dir_from_wire};
use crate::wire::frame::{ConnectionClose, Frame};
use crate::wire::{Ack, Header, OpenedPacket, PacketType, PartialDecode, VERSION_1, open_packet};

impl Connection {
    /// Counts a datagram from `remote` (before its packets), for the anti-amplification limit:
    /// only datagrams from the peer's own address raise what may be sent to it.
    pub(crate) fn on_datagram_received(&mut self, remote: SocketAddr, len: usize) {
        if remote != self.remote {
            if self.may_migrate() {
                self.note_other_datagram(remote, len);
            }
            return;
        }
        self.stats.bytes_received += len as u64;
        if !self.address_validated {
            self.unvalidated_received += len as u64;
        }
    }

    /// One packet of a datagram from `remote`, split off by the endpoint.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        partial: PartialDecode,
    ) {
        let moved = remote != self.remote;
        if self.phase == Phase::Drained
            || (moved && (partial.packet_type() != PacketType::Short || !self.may_migrate()))
        {
            // Only an established server connection follows its client to another address, on
            // 1-RTT packets (see `migration`).
            self.stats.packets_dropped += 1;
            return;
        }
        let space = match partial.packet_type() {
            PacketType::Initial => SpaceId::Initial,
            PacketType::Handshake => SpaceId::Handshake,
            PacketType::Short => SpaceId::Data,
            PacketType::Retry => return self.handle_retry(now, partial),
            PacketType::VersionNegotiation => return self.handle_version_negotiation(partial),
        };
        let unreadable = space == SpaceId::Data && !self.may_read_data_space();
        if self.spaces[space.index()].discarded || unreadable {
            self.stats.packets_dropped += 1;
            return;
        }
        let largest = self.spaces[space.index()].acks.largest();
        let Some(packet) = self.open_in(now, space, partial, largest) else {
            // Corrupted in flight, forged, under keys this end does not have (yet), or not
            // ours: dropped, never delivered (DESIGN.md §3).
            self.stats.packets_dropped += 1;
            return;
        };
        // RFC 9001 §4.9.1: a server is done with Initial keys once a Handshake packet opened
        // (the client has them, and stopped sending Initials).
        if space == SpaceId::Handshake && self.side == Side::Server {
            self.discard_space(now, SpaceId::Initial);
        }
        if !moved {
            return self.handle_opened(now, space, packet, ecn);
        }
        if self.spaces[space.index()].acks.is_duplicate(packet.number) {
            self.stats.packets_dropped += 1;
            return;
        }
        let probing_only = packet.frames().all(|f| f.is_ok_and(|f| f.is_probing()));
        let newest = largest.is_none_or(|l| packet.number > l);
        self.on_packet_from_other_address(now, remote, probing_only, newest);
        self.handle_opened(now, space, packet, ecn);
        self.end_packet_from_other_address();
    }

    /// A packet that opened (its integrity checked) in `space`, from a datagram that arrived
    /// with the ECN codepoint `ecn`.
    pub(crate) fn handle_opened(
        &mut self,
        now: Instant,
        space: SpaceId,
        packet: OpenedPacket,
        ecn: Option<EcnCodepoint>,
    ) {
        let pn = packet.number;
        if self.spaces[space.index()].discarded || self.spaces[space.index()].acks.is_duplicate(pn)
        {
            self.stats.packets_dropped += 1;
            return;
        }
        if self.side == Side::Client
            && let Some(scid) = packet.header.scid()
        {
            if !self.remote_cid_confirmed {
                // RFC 9000 §7.2: the server's first packet fixes its connection ID…
                self.ids.remote = *scid;
                self.remote_cid_confirmed = true;
            } else if *scid != self.ids.remote {
                // …and packets with another source connection ID are discarded.
                self.stats.packets_dropped += 1;
                return;
            }
        }
        self.stats.packets_received += 1;
        // RFC 9000 §13.4.1: every packet processed counts its datagram's codepoint (a
        // duplicate was dropped above and counts nothing).
        let congestion_mark = self.ecn.on_packet_received(space, ecn);
        self.last_activity = now;
        self.eliciting_since_receive = false;
        // Only a client that received one of our packets knows the connection ID we chose
        // (RFC 9000 §8.1): such a packet validates its address and may complete the handshake.
        // The client's original destination ID also routes to us, but the client chose it.
        self.packet_dcid = *packet.header.dcid();
        let proves_receipt = self.side == Side::Client || self.cids.is_local(&self.packet_dcid);
        // The client's first address is validated by such proof; an address it moved to only
        // by a PATH_RESPONSE (see `migration`): its packets carry our connection ID as well.
        if self.side == Side::Server && proves_receipt && self.stats.migrations == 0 {
            self.address_validated = true;
        }
        self.packet_proves_receipt = proves_receipt;
        if self.side == Side::Server
            && space == SpaceId::Data
            && proves_receipt
            && self.handshake.assume_client_finished()
        {
            self.on_handshake_complete(now);
        }
        match self.phase {
            Phase::Closing => return self.on_packet_while_closing(now, &packet),
            Phase::Draining | Phase::Drained => return,
            Phase::Handshaking | Phase::Established => {}
        }
        let mut ack_eliciting = false;
        let result = self.process_frames(now, space, &packet, &mut ack_eliciting);
        let space_state = &mut self.spaces[space.index()];
        if !space_state.discarded {
            space_state.acks.on_packet(
                now,
                pn,
                ack_eliciting,
                self.config.max_ack_delay,
                self.config.ack_eliciting_threshold,
            );
            if congestion_mark {
                space_state.acks.on_congestion_mark();
            }
        }
        if let Err(error) = result {
            self.close_with_error(now, error);
        }
    }

    fn on_packet_while_closing(&mut self, now: Instant, packet: &OpenedPacket) {
        for frame in packet.frames().flatten() {
            if let Frame::ConnectionClose(close) = frame {
                let error = Self::peer_close_error(&close);
                self.start_draining(now, error);
                return;
            }
        }
        // RFC 9000 §10.2.1: answer with CONNECTION_CLOSE again, but not more than once a round
        // trip, so a flood of packets cannot make us flood back.
        let quiet = self.rtt.smoothed();
        if self
            .last_close_sent
            .is_none_or(|t| now.saturating_duration_since(t) >= quiet)
        {
            self.close_pending = true;
        }
    }

    fn process_frames(
        &mut self,
        now: Instant,
        space: SpaceId,
        packet: &OpenedPacket,
        ack_eliciting: &mut bool,
    ) -> Result<(), TransportError> {
        for frame in packet.frames() {
            let frame = frame.map_err(|e| {
                let error = TransportError::frame_encoding(e.to_string());
                match e.frame_type {
                    Some(ty) => error.in_frame(ty),
                    None => error,
                }
            })?;
            *ack_eliciting |= frame.is_ack_eliciting();
            let allowed = match space {
                // RFC 9000 §12.4: the handshake spaces carry only these.
                SpaceId::Initial | SpaceId::Handshake => matches!(
                    frame,
                    Frame::Padding(_)
                        | Frame::Ping
                        | Frame::Ack(_)
                        | Frame::Handshake(_)
                        | Frame::ConnectionClose(ConnectionClose::Transport { .. })
                ),
                // TLS sends session tickets after the handshake, in 1-RTT packets.
                SpaceId::Data => self.is_tls() || !matches!(frame, Frame::Handshake(_)),
            };
            if !allowed {
                let ty = frame.frame_type();
                return Err(TransportError::protocol_violation(format!(
                    "{ty} frame in a {space:?} packet"
                ))
                .in_frame(ty));
            }
            self.on_frame(now, space, frame)?;
            if self.is_closed() {
                break;
            }
        }
        Ok(())
    }

    fn on_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        frame: Frame,
    ) -> Result<(), TransportError> {
        match frame {
            Frame::Padding(_) | Frame::Ping => {}
            Frame::Ack(ack) => self.on_ack_frame(now, space, &ack)?,
            Frame::Handshake(data) => {
                self.spaces[space.index()].handshake.on_frame(data)?;
                self.advance_handshake(now, space)?;
            }
            Frame::Stream(frame) => self.streams.on_stream_frame(frame)?,
            Frame::ResetStream(frame) => self.streams.on_reset_stream(&frame)?,
            Frame::StopSending(frame) => self.streams.on_stop_sending(&frame)?,
            Frame::MaxData(max) => self.streams.on_max_data(max.into_inner()),
            Frame::MaxStreamData { id, max } => {
                self.streams
                    .on_max_stream_data(StreamId::from_varint(id), max.into_inner())?;
            }
            Frame::MaxStreams { dir, count } => {
                self.streams
                    .on_max_streams(dir_from_wire(dir), count.into_inner())?;
            }
            Frame::DataBlocked(limit) => self.streams.on_data_blocked(now, limit.into_inner()),
            Frame::StreamDataBlocked { id, limit } => {
                self.streams.on_stream_data_blocked(
                    now,
                    StreamId::from_varint(id),
                    limit.into_inner(),
                )?;
            }
            Frame::StreamsBlocked { dir, limit } => {
                self.streams
                    .on_streams_blocked(dir_from_wire(dir), limit.into_inner())?;
            }
            Frame::ConnectionClose(close) => {
                let error = Self::peer_close_error(&close);
                self.start_draining(now, error);
            }
            Frame::NewConnectionId(frame) => self.cids.on_new(&frame, &mut self.ids.remote)?,
            Frame::RetireConnectionId(sequence) => {
                self.cids.on_retire(sequence, &self.packet_dcid)?;
            }
            Frame::PathChallenge(data) => self.on_path_challenge(data),
            Frame::PathResponse(data) => self.on_path_response(data),
            Frame::HandshakeDone => {
                if self.side == Side::Server {
                    return Err(
                        TransportError::protocol_violation("a client sent HANDSHAKE_DONE")
                            .in_frame(crate::wire::FrameType::HANDSHAKE_DONE),
                    );
                }
                self.confirm_handshake(now);
            }
            Frame::Lane(frame) => self.lanes.on_frame(now, &frame, self.lane_transit())?,
            Frame::FecSource(source) => {
                self.lanes
                    .on_fec_source(now, &source, self.lane_transit())?;
            }
            Frame::FecRepair(repair) => {
                self.lanes
                    .on_fec_repair(now, &repair, self.lane_transit())?;
            }
            Frame::LaneSkip(skip) => self.lanes.on_skip(&skip)?,
            Frame::MaxLaneData { lane, max } => {
                self.lanes
                    .on_max_lane_data(lane.into_inner(), max.into_inner());
            }
            Frame::MaxLanesData(max) => self.lanes.on_max_lanes_data(max.into_inner()),
            Frame::Message(message) => {
                if self.config.datagram_receive_buffer.is_none() {
                    return Err(TransportError::protocol_violation(
                        "MESSAGE frame, but this end announced no max_datagram_frame_size",
                    )
                    .in_frame(message.header().frame_type()));
                }
                // The transit is at least half the minimum RTT; a larger guess (half the
                // smoothed RTT, which carries the reverse path's queue and the ACK delay) would
                // discard messages the application could still use on asymmetric paths.
                let one_way = if self.rtt.has_samples() {
                    self.rtt.min() / 2
                } else {
                    Duration::ZERO
                };
                if self.datagrams.on_frame(now, message, one_way) {
                    self.events.push_back(Event::DatagramReceived);
                }
            }
        }
        Ok(())
    }

    /// The transit a lane message's time to live is reduced by. A message's deadline must not
    /// be stretched by it: without an RTT sample yet, assume half the initial RTT
    /// (conservative: a deadline shorter than that is treated as already past).
    fn lane_transit(&self) -> Duration {
        if self.rtt.has_samples() {
            self.rtt.min() / 2
        } else {
            self.rtt.smoothed() / 2
        }
    }

    /// An ACK frame (RFC 9002 Appendix A.7): losses first, then what was acknowledged.
    fn on_ack_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        ack: &Ack,
    ) -> Result<(), TransportError> {
        let ack_delay = match space {
            SpaceId::Data => {
                let exponent = self
                    .peer_params
                    .as_ref()
                    .map_or(3, |p| p.ack_delay_exponent);
                Duration::from_micros(ack.delay().saturating_mul(1 << exponent))
            }
            SpaceId::Initial | SpaceId::Handshake => Duration::ZERO,
        };
        let max_ack_delay = self.peer_max_ack_delay();
        let previous_largest = self.spaces[space.index()].recovery.largest_acked();
        self.scratch_acked.clear();
        self.scratch_lost.clear();
        let outcome = self.spaces[space.index()].recovery.on_ack_received(
            now,
            ack.largest(),
            ack.iter(),
            ack_delay,
            &mut self.rtt,
            self.handshake_confirmed,
            max_ack_delay,
            &mut self.scratch_acked,
            &mut self.scratch_lost,
        )?;
        if space == SpaceId::Data {
            self.on_spurious_losses(now, ack.iter());
        }
        if outcome.newly_acked == 0 {
            return Ok(());
        }
        if space == SpaceId::Data
            && let Some(key_update) = self.key_update.as_mut()
            && let Some(largest) = self.scratch_acked.iter().map(|(pn, _)| *pn).max()
        {
            key_update.on_acked(largest);
        }
        if outcome.rtt_sampled && self.first_rtt_sample.is_none() {
            self.first_rtt_sample = Some(now);
        }
        // Losses before acknowledgements, so that packets acknowledged by the same frame do not
        // grow the window that the loss just reduced.
        self.on_packets_lost(now, space, outcome.loss);
        // A new CE mark comes after the losses and before the acknowledgements, like them a
        // reason not to grow the window (RFC 9002 Appendix A.7).
        let new_largest = previous_largest.is_none_or(|p| ack.largest() > p);
        self.on_ecn_feedback(
            now,
            space,
            ack,
            new_largest,
            outcome.largest_newly_acked_sent,
        );
        let rtt = self.rtt.snapshot();
        if outcome.rtt_sampled {
            self.estimates
                .on_rtt_sample(now, self.rtt.latest(), self.rtt.smoothed());
        }
        let acked = std::mem::take(&mut self.scratch_acked);
        let delivered = acked
            .iter()
            .filter(|(_, p)| p.in_flight && !p.data.mtu_probe)
            .count() as u64;
        self.estimates.on_packets(now, delivered, 0);
        for (_, packet) in &acked {
            if packet.in_flight {
                if let Some(delivery) = &packet.data.delivery {
                    self.delivery.on_packet_acked(
                        now,
                        delivery,
                        packet.time_sent,
                        u64::from(packet.size),
                    );
                }
                self.congestion.on_packet_acked(
                    now,
                    &AckedPacket {
                        sent_time: packet.time_sent,
                        bytes: u64::from(packet.size),
                        rtt,
                        app_limited: self.app_limited,
                    },
                );
            }
            self.on_frames_acked(space, &packet.data);
        }
        if space == SpaceId::Data {
            self.pmtu_on_acked(now, &acked);
        }
        self.scratch_acked = acked;
        // Before the first RTT sample the initial RTT would reject every rate sample.
        let min_rtt = if self.rtt.has_samples() {
            self.rtt.min()
        } else {
            Duration::ZERO
        };
        let delivery_rate = self.delivery.on_ack_event_end(now, min_rtt);
        if let Some(sample) = &delivery_rate {
            self.estimates
                .on_delivery_rate(now, sample.delivery_rate, sample.is_app_limited);
        }
        self.estimates.update_quality(now);
        if let Some(largest_acked_sent_time) = outcome.largest_newly_acked_sent {
            let event = AckEvent {
                bytes_acked: outcome.acked_bytes,
                bytes_in_flight: self.bytes_in_flight(),
                rtt,
                rtt_sampled: outcome.rtt_sampled,
                largest_acked_sent_time,
                app_limited: self.app_limited,
                delivery_rate,
            };
            self.congestion.on_ack_event(now, &event);
        }
        if self.side == Side::Server || self.handshake_confirmed {
            self.loss.reset_pto_count();
        }
        self.probes = 0;
        self.streams.set_rtt(self.rtt.smoothed());
        self.set_loss_timer(now);
        self.adapt(now);
        self.update_queue_cap(now);
        self.lanes.set_transit(self.send_transit(now));
        Ok(())
    }

    /// ECN validation of an ACK frame whose newly acknowledged packets are in
    /// `self.scratch_acked`; a CE increase is a congestion event: the window shrinks as on a
    /// loss (once per recovery period, which the controller keeps), nothing is retransmitted
    /// (RFC 9002 §7.1, Appendix B.7, OnEcnCongestion via OnCongestionEvent).
    fn on_ecn_feedback(
        &mut self,
        now: Instant,
        space: SpaceId,
        ack: &Ack,
        new_largest: bool,
        largest_sent: Option<Instant>,
    ) {
        let newly_marked = self
            .scratch_acked
            .iter()
            .filter(|(_, p)| p.data.marked)
            .count() as u64;
        let ce = self.ecn.on_ack(space, ack.ecn(), newly_marked, new_largest);
        if let (Some(_), Some(sent_time)) = (ce, largest_sent) {
            let event = CongestionEvent {
                sent_time,
                lost_bytes: 0,
                persistent: false,
                bytes_in_flight: self.bytes_in_flight(),
                cause: CongestionCause::EcnCe,
            };
            self.congestion.on_congestion_event(now, &event);
            self.stats.congestion_events += 1;
        }
    }

    /// Packets in `self.scratch_lost` were declared lost in `space`: one congestion event, then
    /// their frames are queued again.
    pub(super) fn on_packets_lost(
        &mut self,
        now: Instant,
        space: SpaceId,
        mut outcome: LossOutcome,
    ) {
        let mut lost = std::mem::take(&mut self.scratch_lost);
        if space == SpaceId::Data {
            let before = lost.len();
            self.pmtu_on_lost(now, &mut lost);
            if lost.len() != before {
                // Lost MTU probes left bytes in flight with the rest, but they are not the
                // path's congestion: the event counts only the others.
                let others = lost.iter().filter(|(_, p)| p.in_flight);
                outcome.bytes = others.clone().map(|(_, p)| u64::from(p.size)).sum();
                outcome.newest_sent = others.map(|(_, p)| p.time_sent).max();
            }
        }
        if !lost.is_empty() {
            let marked = lost.iter().filter(|(_, p)| p.data.marked).count() as u64;
            self.ecn.on_marked_lost(marked);
            self.stats.packets_lost += lost.len() as u64;
            let in_flight = lost.iter().filter(|(_, p)| p.in_flight).count() as u64;
            self.estimates.on_packets(now, 0, in_flight);
            self.stats.bytes_lost += outcome.bytes;
            if let Some(sent_time) = outcome.newest_sent {
                let persistent = in_persistent_congestion(
                    &lost,
                    &self.rtt,
                    self.peer_max_ack_delay(),
                    self.first_rtt_sample,
                );
                let event = CongestionEvent {
                    sent_time,
                    lost_bytes: outcome.bytes,
                    persistent,
                    bytes_in_flight: self.bytes_in_flight(),
                    cause: CongestionCause::Loss,
                };
                self.congestion.on_congestion_event(now, &event);
                self.stats.congestion_events += 1;
                if space == SpaceId::Data {
                    let pns = lost.iter().filter(|(_, p)| p.in_flight).map(|(pn, _)| *pn);
                    self.spurious.on_congestion_event(now, sent_time, pns);
                }
            }
            for (_, packet) in &lost {
                if packet.in_flight {
                    self.delivery.on_packet_lost(u64::from(packet.size));
                }
                self.cids.on_lost(&packet.data.cids);
                self.requeue_frames(space, &packet.data);
            }
        }
        self.scratch_lost = lost;
        self.scratch_lost.clear();
    }

    /// An ACK frame of the application space acknowledged `ranges`: packets declared lost
    /// among them were not lost, and a congestion event all of whose packets are now
    /// acknowledged goes back to the controller as spurious.
    fn on_spurious_losses(
        &mut self,
        now: Instant,
        ranges: impl IntoIterator<Item = std::ops::Range<u64>>,
    ) {
        let outcome = self.spurious.on_ack(ranges);
        self.stats.spurious_losses += outcome.packets;
        for event in &outcome.events {
            self.congestion.on_spurious_congestion(now, event);
            self.stats.spurious_congestion_events += 1;
        }
    }

    /// Queues what a lost (or probed) packet carried to be sent again, where still needed.
    pub(super) fn requeue_frames(&mut self, space: SpaceId, frames: &SentFrames) {
        let sp = &mut self.spaces[space.index()];
        for &(offset, len) in &frames.handshake {
            sp.handshake.on_lost(offset, len);
        }
        if !frames.streams.is_empty() {
            self.stats.stream_bytes_retransmitted += frames
                .streams
                .chunks
                .iter()
                .map(|c| u64::from(c.len))
                .sum::<u64>();
            self.streams.on_lost(&frames.streams);
        }
        if frames.handshake_done && !self.spaces[SpaceId::Data.index()].discarded {
            self.handshake_done_pending = true;
        }
        if !frames.lanes.is_empty() {
            self.lanes.on_lost(&frames.lanes);
        }
        if !frames.cids.is_empty() {
            self.cids.resend(&frames.cids);
        }
    }

    fn on_frames_acked(&mut self, space: SpaceId, frames: &SentFrames) {
        let sp = &mut self.spaces[space.index()];
        if let Some(largest) = frames.ack_largest {
            sp.acks.on_ack_acked(largest);
        }
        for &(offset, len) in &frames.handshake {
            sp.handshake.on_acked(offset, len);
        }
        if !frames.streams.is_empty() {
            self.streams.on_acked(&frames.streams);
        }
        if !frames.lanes.is_empty() {
            self.lanes.on_acked(&frames.lanes);
        }
        if !frames.cids.is_empty() {
            self.cids.on_acked(&frames.cids);
        }
    }

    /// A Retry (client only, once, before any other server packet; RFC 9000 §17.2.5.2).
    fn handle_retry(&mut self, now: Instant, partial: PartialDecode) {
        let acceptable = self.side == Side::Client
            && self.phase == Phase::Handshaking
            && !self.remote_cid_confirmed
            && self.ids.retry_scid.is_none();
        if !acceptable {
            self.stats.packets_dropped += 1;
            return;
        }
        // Retry packets keep the integrity tag under TLS too (see `crate::crypto`).
        let Ok(packet) = open_packet(partial, None, &Crc32cKey, None) else {
            self.stats.packets_dropped += 1;
            return;
        };
        let Some(scid) = packet.header.scid().copied() else {
            return;
        };
        if scid == self.ids.original_dcid || packet.payload.is_empty() {
            self.stats.packets_dropped += 1;
            return;
        }
        self.ids.retry_scid = Some(scid);
        self.ids.remote = scid;
        self.retry_token = packet.payload;
        self.rekey_initial(&scid);
        self.spaces[SpaceId::Initial.index()].restart(&mut self.scratch_lost);
        self.scratch_lost.clear();
        self.set_loss_timer(now);
    }

    /// A Version Negotiation packet: the server speaks none of our versions (RFC 9000 §6.2).
    fn handle_version_negotiation(&mut self, partial: PartialDecode) {
        if self.side != Side::Client
            || self.remote_cid_confirmed
            || self.phase != Phase::Handshaking
        {
            return;
        }
        // Version Negotiation packets are not protected.
        let Ok(packet) = open_packet(partial, None, &Crc32cKey, None) else {
            return;
        };
        if let Header::VersionNegotiation { versions, .. } = &packet.header
            && !versions.contains(VERSION_1)
        {
            self.report_closed(ConnectionError::VersionMismatch);
            self.drain_now();
        }
    }
}
