//! Spare connection IDs (RFC 9000 §5.1): the IDs each end hands its peer beyond the
//! handshake's, so that a connection that moves can change the ID it is addressed by and an
//! observer cannot link its paths (§9.5).
//!
//! Two halves, each bounded by `active_connection_id_limit`:
//!
//! - **Ours**: the endpoint creates them (it owns the generator, the routing table and the
//!   routable encoding, see [`crate::lb`]) when [`Cids::wanted`] says the peer has room for
//!   more, and hands them in with [`Cids::issue`]; this end announces each in a
//!   NEW_CONNECTION_ID frame. When the peer retires one (RETIRE_CONNECTION_ID), the endpoint
//!   takes it out of its routing table and issues a replacement.
//! - **The peer's**: the one in use and the spares its NEW_CONNECTION_ID frames brought.
//!   `retire_prior_to` retires old ones; a move takes a spare and retires the one in use.
//!
//! A peer cannot make this end hold more than it announced: more active IDs than our limit
//! close the connection (CONNECTION_ID_LIMIT_ERROR), and so do more retirements owed at once
//! than twice our limit (RFC 9000 §5.1.2 suggests that bound), which is what a flood of
//! NEW_CONNECTION_ID frames that retire each other would otherwise pile up.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::TransportError;
use crate::wire::frame::{Frame, FrameType, NewConnectionId};
use crate::wire::{ConnectionId, ResetToken, VarInt};

/// The peer's connection IDs this end retired on its own (a move) and still recognises, so that
/// a late copy of their NEW_CONNECTION_ID does not bring them back; older ones are forgotten.
const RETIRED_REMEMBERED: usize = 16;

/// What the connection IDs did (see [`ConnectionStats::cids`](super::ConnectionStats::cids)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CidStats {
    /// Spare connection IDs this end issued to the peer (NEW_CONNECTION_ID frames, not
    /// counting retransmissions).
    pub issued: u64,
    /// This end's connection IDs the peer retired.
    pub retired_by_peer: u64,
    /// Spare connection IDs the peer issued to this end.
    pub received: u64,
    /// The peer's connection IDs this end retired (a move, or the peer's `retire_prior_to`).
    pub retired: u64,
    /// Times this end changed the connection ID it addresses the peer with.
    pub switches: u64,
}

/// What one packet carried of connection-ID frames, by sequence number.
#[derive(Debug, Clone, Default)]
pub(crate) struct SentCids {
    new: Vec<u64>,
    retire: Vec<u64>,
}

impl SentCids {
    pub(crate) fn is_empty(&self) -> bool {
        self.new.is_empty() && self.retire.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
struct LocalCid {
    id: ConnectionId,
    /// `None` for the handshake's ID, which no NEW_CONNECTION_ID announces.
    token: Option<ResetToken>,
}

#[derive(Debug, Clone, Copy)]
struct RemoteCid {
    id: ConnectionId,
    token: ResetToken,
}

/// Both ends' connection IDs beyond the handshake (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct Cids {
    /// Our `active_connection_id_limit`.
    limit: u64,
    /// Our IDs the peer may use, by sequence number.
    local: BTreeMap<u64, LocalCid>,
    next_local: u64,
    /// NEW_CONNECTION_ID frames to send (again).
    send_new: BTreeSet<u64>,
    /// Our IDs the peer retired, for the endpoint to stop routing.
    retired_local: Vec<ConnectionId>,
    /// The sequence number of the peer's ID in use (the ID itself is the connection's
    /// `ids.remote`), and its reset token once known.
    current: u64,
    current_token: Option<ResetToken>,
    /// The peer's spare IDs.
    remote: BTreeMap<u64, RemoteCid>,
    /// The largest `retire_prior_to` received.
    retire_below: u64,
    /// The peer's IDs at or above `retire_below` that this end retired on its own.
    retired_remote: BTreeSet<u64>,
    /// RETIRE_CONNECTION_ID frames to send (again).
    send_retire: BTreeSet<u64>,
    /// RETIRE_CONNECTION_ID frames sent and not yet acknowledged or lost.
    retires_in_flight: usize,
    stats: CidStats,
}

impl Cids {
    /// The IDs of a connection whose handshake ID (sequence 0) is `local`, under our `limit`.
    pub(crate) fn new(limit: u64, local: ConnectionId) -> Self {
        let mut locals = BTreeMap::new();
        locals.insert(
            0,
            LocalCid {
                id: local,
                token: None,
            },
        );
        Self {
            limit,
            local: locals,
            next_local: 1,
            send_new: BTreeSet::new(),
            retired_local: Vec::new(),
            current: 0,
            current_token: None,
            remote: BTreeMap::new(),
            retire_below: 0,
            retired_remote: BTreeSet::new(),
            send_retire: BTreeSet::new(),
            retires_in_flight: 0,
            stats: CidStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> CidStats {
        self.stats
    }

    // ----- Ours -----

    /// How many more of our IDs the peer has room for, given its `active_connection_id_limit`:
    /// both ends' limits bound the IDs active at once, the one in use included.
    pub(crate) fn wanted(&self, peer_limit: u64) -> usize {
        let target = usize::try_from(peer_limit.min(self.limit)).unwrap_or(usize::MAX);
        target.saturating_sub(self.local.len())
    }

    /// A fresh ID from the endpoint (already routed to this connection), to announce.
    pub(crate) fn issue(&mut self, id: ConnectionId, token: ResetToken) {
        let sequence = self.next_local;
        self.next_local += 1;
        self.local.insert(
            sequence,
            LocalCid {
                id,
                token: Some(token),
            },
        );
        self.send_new.insert(sequence);
        self.stats.issued += 1;
    }

    /// Whether `id` is one of our IDs the peer may use.
    pub(crate) fn is_local(&self, id: &ConnectionId) -> bool {
        self.local.values().any(|l| l.id == *id)
    }

    /// Every ID of ours that routes to this connection.
    pub(crate) fn local_ids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.local.values().map(|l| l.id)
    }

    /// Our IDs the peer retired since the last call, for the endpoint to stop routing.
    pub(crate) fn take_retired_local(&mut self, mut f: impl FnMut(ConnectionId)) {
        for id in self.retired_local.drain(..) {
            f(id);
        }
    }

    /// RETIRE_CONNECTION_ID from the peer, in a packet addressed to `packet_dcid`.
    pub(crate) fn on_retire(
        &mut self,
        sequence: VarInt,
        packet_dcid: &ConnectionId,
    ) -> Result<(), TransportError> {
        let sequence = sequence.into_inner();
        let error = |reason: String| {
            Err(TransportError::protocol_violation(reason)
                .in_frame(FrameType::RETIRE_CONNECTION_ID))
        };
        if sequence >= self.next_local {
            return error(format!("retires connection ID {sequence}, never issued"));
        }
        let Some(local) = self.local.get(&sequence).copied() else {
            // Retired already: a retransmission.
            return Ok(());
        };
        if local.id == *packet_dcid {
            // RFC 9000 §19.16: the packet's own destination cannot be retired by it.
            return error(format!(
                "retires connection ID {sequence}, the packet's own destination"
            ));
        }
        self.local.remove(&sequence);
        self.send_new.remove(&sequence);
        self.retired_local.push(local.id);
        self.stats.retired_by_peer += 1;
        Ok(())
    }

    // ----- The peer's -----

    /// The reset token of the peer's ID in use, if known: the only one a stateless reset is
    /// checked against (RFC 9000 §10.3.1: never the tokens of unused or retired IDs).
    pub(crate) fn current_token(&self) -> Option<ResetToken> {
        self.current_token
    }

    /// The token the server announced in its transport parameters for its handshake ID.
    pub(crate) fn set_handshake_token(&mut self, token: Option<ResetToken>) {
        if self.current == 0 {
            self.current_token = token;
        }
    }

    /// Whether a spare of the peer's IDs is there to move to.
    #[cfg(test)]
    pub(crate) fn has_spare(&self) -> bool {
        !self.remote.is_empty()
    }

    /// NEW_CONNECTION_ID from the peer; `current` is the peer's ID in use, replaced if
    /// `retire_prior_to` retires it.
    pub(crate) fn on_new(
        &mut self,
        frame: &NewConnectionId,
        current: &mut ConnectionId,
    ) -> Result<(), TransportError> {
        let sequence = frame.sequence.into_inner();
        let violation = |reason: String| {
            TransportError::protocol_violation(reason).in_frame(FrameType::NEW_CONNECTION_ID)
        };
        if current.is_empty() {
            // RFC 9000 §19.15: a peer addressed by a zero-length ID has none to spare.
            return Err(violation(
                "NEW_CONNECTION_ID from a peer with a zero-length connection ID".into(),
            ));
        }
        let known = if sequence == self.current {
            Some((*current, self.current_token))
        } else {
            self.remote.get(&sequence).map(|r| (r.id, Some(r.token)))
        };
        match known {
            Some((id, token)) => {
                // A retransmission must repeat itself exactly (RFC 9000 §19.15).
                if id != frame.id || token.is_some_and(|t| t != frame.reset_token) {
                    return Err(violation(format!(
                        "connection ID {sequence} announced twice, differently"
                    )));
                }
            }
            None if sequence < self.retire_below || self.retired_remote.contains(&sequence) => {
                // Retired before it arrived (or a late copy): retire it (again; harmless).
                self.queue_retire(sequence)?;
            }
            None => {
                if *current == frame.id || self.remote.values().any(|r| r.id == frame.id) {
                    return Err(violation(format!(
                        "connection ID {sequence} repeats an ID under another sequence number"
                    )));
                }
                self.remote.insert(
                    sequence,
                    RemoteCid {
                        id: frame.id,
                        token: frame.reset_token,
                    },
                );
                self.stats.received += 1;
            }
        }
        let retire_prior_to = frame.retire_prior_to.into_inner();
        if retire_prior_to > self.retire_below {
            self.retire_below = retire_prior_to;
            self.retired_remote.retain(|s| *s >= retire_prior_to);
            let old: Vec<u64> = self
                .remote
                .range(..retire_prior_to)
                .map(|(s, _)| *s)
                .collect();
            for s in old {
                self.remote.remove(&s);
                self.stats.retired += 1;
                self.queue_retire(s)?;
            }
            if self.current < retire_prior_to {
                if !self.switch(current) {
                    return Err(violation(
                        "retire_prior_to retires every connection ID this end knows".into(),
                    ));
                }
                self.check_owed()?;
            }
        }
        // RFC 9000 §5.1.1: after adding and retiring, at most our limit may be active.
        if 1 + self.remote.len() as u64 > self.limit {
            return Err(TransportError::connection_id_limit(format!(
                "more than the {} active connection IDs this end announced",
                self.limit
            ))
            .in_frame(FrameType::NEW_CONNECTION_ID));
        }
        Ok(())
    }

    /// Moves to the lowest spare of the peer's IDs and retires the one in use; returns whether
    /// there was a spare.
    pub(crate) fn switch(&mut self, current: &mut ConnectionId) -> bool {
        let Some((&sequence, &next)) = self.remote.iter().next() else {
            return false;
        };
        self.remote.remove(&sequence);
        let old = self.current;
        if old >= self.retire_below {
            self.retired_remote.insert(old);
            if self.retired_remote.len() > RETIRED_REMEMBERED {
                self.retired_remote.pop_first();
            }
        }
        // Our own retirement: over the bound it is sent all the same (the bound is for what a
        // peer makes us owe).
        if self.send_retire.insert(old) {
            self.stats.retired += 1;
        }
        self.current = sequence;
        self.current_token = Some(next.token);
        *current = next.id;
        self.stats.switches += 1;
        true
    }

    fn queue_retire(&mut self, sequence: u64) -> Result<(), TransportError> {
        self.send_retire.insert(sequence);
        self.check_owed()
    }

    /// RFC 9000 §5.1.2: retirements owed at once are bounded (twice our limit); a peer that
    /// makes this end owe more is closed rather than remembered.
    fn check_owed(&self) -> Result<(), TransportError> {
        let owed = self.send_retire.len() + self.retires_in_flight;
        if owed as u64 > 2 * self.limit {
            return Err(TransportError::connection_id_limit(format!(
                "{owed} connection IDs to retire at once"
            ))
            .in_frame(FrameType::NEW_CONNECTION_ID));
        }
        Ok(())
    }

    // ----- Frames -----

    /// Whether a NEW_CONNECTION_ID or RETIRE_CONNECTION_ID frame waits.
    pub(crate) fn has_pending(&self) -> bool {
        !self.send_new.is_empty() || !self.send_retire.is_empty()
    }

    /// Writes the frames that wait, within `room` bytes; returns whether it wrote any.
    pub(crate) fn write_frames(
        &mut self,
        buf: &mut Vec<u8>,
        mut room: usize,
        sent: &mut SentCids,
    ) -> bool {
        let start = buf.len();
        while let Some(&sequence) = self.send_retire.first() {
            let frame = Frame::RetireConnectionId(VarInt::saturating_from_u64(sequence));
            if frame.encoded_len() > room {
                break;
            }
            frame.encode(buf);
            room -= frame.encoded_len();
            self.send_retire.pop_first();
            self.retires_in_flight += 1;
            sent.retire.push(sequence);
        }
        while let Some(&sequence) = self.send_new.first() {
            let Some(LocalCid {
                id,
                token: Some(reset_token),
            }) = self.local.get(&sequence).copied()
            else {
                self.send_new.pop_first();
                continue;
            };
            let frame = Frame::NewConnectionId(NewConnectionId {
                sequence: VarInt::saturating_from_u64(sequence),
                // Nothing is retired early: the peer retires what it no longer uses.
                retire_prior_to: VarInt::ZERO,
                id,
                reset_token,
            });
            if frame.encoded_len() > room {
                break;
            }
            frame.encode(buf);
            room -= frame.encoded_len();
            self.send_new.pop_first();
            sent.new.push(sequence);
        }
        buf.len() > start
    }

    /// A packet with these frames was lost: its RETIRE_CONNECTION_ID frames are no longer in
    /// flight ([`resend`](Self::resend) queues them again).
    pub(crate) fn on_lost(&mut self, sent: &SentCids) {
        self.retires_in_flight = self.retires_in_flight.saturating_sub(sent.retire.len());
    }

    /// Queues what a lost (or probed) packet carried again, where it still matters: a probe
    /// resends without the packet leaving flight, so the count of retirements in flight is left
    /// to its acknowledgement or loss.
    pub(crate) fn resend(&mut self, sent: &SentCids) {
        for &sequence in &sent.new {
            if self.local.contains_key(&sequence) {
                self.send_new.insert(sequence);
            }
        }
        for &sequence in &sent.retire {
            self.send_retire.insert(sequence);
        }
    }

    /// A packet with these frames was acknowledged.
    pub(crate) fn on_acked(&mut self, sent: &SentCids) {
        self.retires_in_flight = self.retires_in_flight.saturating_sub(sent.retire.len());
    }
}

#[cfg(test)]
#[path = "cids_tests.rs"]
mod tests;
