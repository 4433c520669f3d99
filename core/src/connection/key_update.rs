//! 1-RTT key updates (RFC 9001 §6): the key-phase bit of short headers names the key a packet
//! is sealed with; either end moves to the next keys, and the other follows when a packet
//! under the flipped phase opens with them.
//!
//! An end starts an update when its current key has sealed [`KeyUpdate::due`]'s count of
//! packets (7/8 of the AEAD's confidentiality limit, or the configured interval), and only once
//! the peer acknowledged a packet under the current keys (§6.5), so that two updates never
//! overlap. The previous receive key stays until the next update, for packets reordered across
//! it; the header-protection keys never change (§6).

use bytes::BytesMut;

use crate::crypto::keys::AeadPacketKey;
use crate::protect::{PacketKey, ProtectError};

/// Which key opened a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// The current key.
    Current,
    /// The previous phase's key (a packet reordered across an update).
    Previous,
    /// The next key: the peer updated, and this end must follow.
    Next,
}

pub(crate) struct KeyUpdate {
    secrets: rustls::quic::Secrets,
    /// The key-phase bit of the current keys.
    phase: bool,
    /// The next keys, derived on first need.
    next: Option<(Box<dyn PacketKey>, Box<dyn PacketKey>)>,
    /// The previous phase's receive key.
    previous_remote: Option<Box<dyn PacketKey>>,
    /// The first packet number received under the current phase: older packets with the other
    /// phase bit belong to the previous phase.
    phase_first_received: Option<u64>,
    /// The first packet number sent under the current phase.
    phase_first_sent: Option<u64>,
    /// Whether the peer acknowledged a packet sent under the current phase.
    phase_acknowledged: bool,
    /// Packets sealed with the current key.
    sealed: u64,
    /// Packets that failed to open under any 1-RTT key (the integrity limit, §6.6).
    failed: u64,
    /// Updates so far (both ends').
    updates: u64,
}

impl std::fmt::Debug for KeyUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyUpdate")
            .field("phase", &self.phase)
            .field("sealed", &self.sealed)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

impl KeyUpdate {
    pub(crate) fn new(secrets: rustls::quic::Secrets) -> Self {
        Self {
            secrets,
            phase: false,
            next: None,
            previous_remote: None,
            phase_first_received: None,
            phase_first_sent: None,
            // The handshake's completion stands for the first phase's acknowledgement.
            phase_acknowledged: true,
            sealed: 0,
            failed: 0,
            updates: 0,
        }
    }

    /// The key-phase bit to send.
    pub(crate) fn phase(&self) -> bool {
        self.phase
    }

    /// Key updates so far.
    pub(crate) fn updates(&self) -> u64 {
        self.updates
    }

    /// Packets that failed to open.
    pub(crate) fn failed(&self) -> u64 {
        self.failed
    }

    fn next_keys(&mut self) -> &mut (Box<dyn PacketKey>, Box<dyn PacketKey>) {
        let secrets = &mut self.secrets;
        self.next.get_or_insert_with(|| {
            let set = secrets.next_packet_keys();
            let local: Box<dyn PacketKey> = Box::new(AeadPacketKey(set.local));
            let remote: Box<dyn PacketKey> = Box::new(AeadPacketKey(set.remote));
            (local, remote)
        })
    }

    /// Opens a 1-RTT payload whose header carried `phase`, with `current` (the connection's
    /// receive key) or the previous or next key as the phase and number say.
    pub(crate) fn open(
        &mut self,
        current: &dyn PacketKey,
        phase: bool,
        number: u64,
        header: &[u8],
        payload: &mut BytesMut,
    ) -> Result<Opened, ProtectError> {
        let result = if phase == self.phase {
            current
                .open(number, header, payload)
                .map(|()| Opened::Current)
        } else if self.previous_remote.is_some()
            && self.phase_first_received.is_none_or(|first| number < first)
        {
            // The other phase and older than anything under the current one — or this end
            // started the update and the peer has not answered under it yet: the previous
            // key.
            match &self.previous_remote {
                Some(key) => key.open(number, header, payload).map(|()| Opened::Previous),
                None => Err(ProtectError::AuthenticationFailed),
            }
        } else {
            let (_, remote) = self.next_keys();
            remote.open(number, header, payload).map(|()| Opened::Next)
        };
        match result {
            Ok(Opened::Current) => {
                self.phase_first_received.get_or_insert(number);
            }
            Ok(_) => {}
            Err(_) => self.failed += 1,
        }
        result
    }

    /// Moves to the next keys: installs them in `local` and `remote` and keeps the replaced
    /// receive key as the previous one. `first_received` is the number of the packet that
    /// showed the peer's update (`None` when this end starts it).
    pub(crate) fn advance(
        &mut self,
        local: &mut Box<dyn PacketKey>,
        remote: &mut Box<dyn PacketKey>,
        first_received: Option<u64>,
    ) {
        self.next_keys();
        let Some((next_local, next_remote)) = self.next.take() else {
            return;
        };
        self.previous_remote = Some(std::mem::replace(remote, next_remote));
        *local = next_local;
        self.phase = !self.phase;
        self.phase_first_received = first_received;
        self.phase_first_sent = None;
        self.phase_acknowledged = false;
        self.sealed = 0;
        self.updates += 1;
    }

    /// A packet was sealed with the current key.
    pub(crate) fn on_sealed(&mut self, number: u64) {
        self.sealed += 1;
        self.phase_first_sent.get_or_insert(number);
    }

    /// The peer acknowledged packets up to `largest`.
    pub(crate) fn on_acked(&mut self, largest: u64) {
        if self.phase_first_sent.is_some_and(|first| largest >= first) {
            self.phase_acknowledged = true;
        }
    }

    /// Whether this end should start an update now: the current key sealed `interval` packets
    /// (at most 7/8 of its confidentiality limit) and the current phase was acknowledged.
    pub(crate) fn due(&self, interval: Option<u64>, confidentiality_limit: u64) -> bool {
        let limit = confidentiality_limit / 8 * 7;
        let threshold = interval.map_or(limit, |n| n.clamp(1, limit.max(1)));
        self.phase_acknowledged && self.sealed >= threshold
    }
}
