//! Path MTU discovery inside the connection (see [`crate::pmtu`]): sending probes, and
//! feeding the discovery what happened to them and to every other packet.

use std::time::Instant;

use super::send::BuiltPacket;
use super::space::SentFrames;
use super::{Connection, Phase};
use crate::Transmit;
use crate::recovery::{SentPacket, SpaceId};
use crate::wire::PacketBuilder;
use crate::wire::frame::FrameType;

impl Connection {
    /// A datagram holding one MTU probe, when the discovery wants one and the congestion
    /// window has room for it.
    pub(super) fn poll_mtu_probe(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        // Probe-timeout probes go first: they are owed for data already in flight.
        if self.phase != Phase::Established
            || !self.handshake_confirmed
            || !self.address_validated
            || self.probes > 0
        {
            return None;
        }
        let size = self.pmtu.probe_due(now)?;
        if self.congestion_room() < u64::from(size) {
            return None;
        }
        let start = buf.len();
        let (pn, header) = self.header_for(SpaceId::Data);
        let size = usize::from(size);
        let mut builder = PacketBuilder::new(buf, &header, pn, size, self.tag_len).ok()?;
        // A PING for the acknowledgement, padding for the size: nothing in it is worth
        // retransmitting, so losing it costs only the probe.
        builder.buf().push(FrameType::PING.value() as u8);
        builder.pad_to(size);
        let Some(written) = self.seal(SpaceId::Data, pn, builder) else {
            buf.truncate(start);
            return None;
        };
        if written != size {
            // The packet could not reach the probed size (never with a valid size): a probe of
            // another size would teach the discovery something false.
            buf.truncate(start);
            return None;
        }
        self.pmtu
            .on_probe_sent(pn, u16::try_from(size).unwrap_or(u16::MAX));
        let frames = SentFrames {
            mtu_probe: true,
            ..SentFrames::default()
        };
        self.on_packet_built(
            now,
            BuiltPacket {
                id: SpaceId::Data,
                pn,
                size,
                eliciting: true,
                in_flight: true,
                pto_probe: false,
                marked: false,
            },
            frames,
        );
        Some(Transmit {
            destination: self.remote,
            size,
            segment_size: None,
            ecn: None,
        })
    }

    /// Tells the discovery about acknowledged data-space packets: a probe may raise the size,
    /// and the black-hole check runs here, once the whole ACK frame was taken in — its losses
    /// first, then what it acknowledged, so that a large packet acknowledged by the same frame
    /// clears losses that were only congestion.
    pub(super) fn pmtu_on_acked(&mut self, now: Instant, acked: &[(u64, SentPacket<SentFrames>)]) {
        let mut grew = false;
        for (pn, packet) in acked {
            if packet.data.mtu_probe {
                grew |= self.pmtu.on_probe_acked(now, *pn);
            } else if packet.ack_eliciting {
                self.pmtu.on_packet_acked(packet.size, packet.time_sent);
            }
        }
        if grew || self.pmtu.check_black_hole(now) {
            self.refresh_datagram_size();
        }
    }

    /// Takes the lost MTU probes out of `lost` (their loss is not congestion: RFC 9000 §14.4)
    /// and tells the discovery about them and the other lost packets (judged at the next
    /// acknowledgement: see `pmtu_on_acked`).
    pub(super) fn pmtu_on_lost(
        &mut self,
        now: Instant,
        lost: &mut Vec<(u64, SentPacket<SentFrames>)>,
    ) {
        lost.retain(|(pn, packet)| {
            if packet.data.mtu_probe {
                self.pmtu.on_probe_lost(now, *pn);
                return false;
            }
            if packet.ack_eliciting {
                self.pmtu.on_packet_lost(packet.size, packet.time_sent);
            }
            true
        });
    }
}
