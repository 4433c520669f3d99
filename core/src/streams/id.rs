//! Stream identifiers: who opened a stream, and whether it carries data both ways.

use std::fmt;

use crate::wire::VarInt;

/// Which end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The end that initiated the connection.
    Client,
    /// The end that accepted it.
    Server,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }

    /// Whether this is the client.
    pub fn is_client(self) -> bool {
        self == Self::Client
    }
}

/// Whether a stream carries data both ways or only from its initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// Both ends send.
    Bi,
    /// Only the initiator sends.
    Uni,
}

impl Dir {
    /// Both directions, in index order.
    pub const ALL: [Dir; 2] = [Dir::Bi, Dir::Uni];

    /// 0 for bidirectional, 1 for unidirectional (for arrays indexed by direction).
    pub fn index(self) -> usize {
        match self {
            Self::Bi => 0,
            Self::Uni => 1,
        }
    }
}

/// A stream identifier (DESIGN.md §3, as RFC 9000 §2.1).
///
/// The lowest bit is the initiator (0 = client, 1 = server), the next bit the direction
/// (0 = bidirectional, 1 = unidirectional); the remaining 60 bits number the streams of each of the
/// four kinds from zero. So the client's bidirectional streams are 0, 4, 8, …, the server's 1, 5,
/// 9, …, the client's unidirectional streams 2, 6, 10, … and the server's 3, 7, 11, ….
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(u64);

impl StreamId {
    /// Largest stream index of one kind: 2^60 − 1 (RFC 9000 §4.6).
    pub const MAX_INDEX: u64 = (1 << 60) - 1;

    /// The `index`-th stream of the kind opened by `initiator` in direction `dir`; `None` if the
    /// index exceeds [`StreamId::MAX_INDEX`].
    pub fn new(initiator: Side, dir: Dir, index: u64) -> Option<Self> {
        if index > Self::MAX_INDEX {
            return None;
        }
        let side_bit = u64::from(initiator == Side::Server);
        let dir_bit = u64::from(dir == Dir::Uni) << 1;
        Some(Self((index << 2) | dir_bit | side_bit))
    }

    /// The stream id carried in a frame.
    pub fn from_varint(v: VarInt) -> Self {
        Self(v.into_inner())
    }

    /// The id as a varint for a frame.
    pub fn to_varint(self) -> VarInt {
        // Constructed ids are below 2^62 (index < 2^60, plus two bits); ids from the wire were
        // varints to begin with.
        VarInt::saturating_from_u64(self.0)
    }

    /// The raw value.
    pub fn into_inner(self) -> u64 {
        self.0
    }

    /// Who opened the stream.
    pub fn initiator(self) -> Side {
        if self.0 & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// The stream's direction.
    pub fn dir(self) -> Dir {
        if self.0 & 2 == 0 { Dir::Bi } else { Dir::Uni }
    }

    /// The stream's number among the streams of its kind.
    pub fn index(self) -> u64 {
        self.0 >> 2
    }

    /// Whether `side` may send on this stream.
    pub fn can_send(self, side: Side) -> bool {
        self.dir() == Dir::Bi || self.initiator() == side
    }

    /// Whether `side` may receive on this stream.
    pub fn can_receive(self, side: Side) -> bool {
        self.dir() == Dir::Bi || self.initiator() != side
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.initiator() {
            Side::Client => "client",
            Side::Server => "server",
        };
        let dir = match self.dir() {
            Dir::Bi => "bi",
            Dir::Uni => "uni",
        };
        write!(f, "StreamId({} {who} {dir} #{})", self.0, self.index())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_rfc_9000() {
        let c_bi = StreamId::new(Side::Client, Dir::Bi, 1).expect("index in range");
        assert_eq!(c_bi.into_inner(), 4);
        let s_uni = StreamId::new(Side::Server, Dir::Uni, 0).expect("index in range");
        assert_eq!(s_uni.into_inner(), 3);
        assert_eq!(s_uni.initiator(), Side::Server);
        assert_eq!(s_uni.dir(), Dir::Uni);
        assert!(s_uni.can_send(Side::Server) && !s_uni.can_send(Side::Client));
        assert!(s_uni.can_receive(Side::Client) && !s_uni.can_receive(Side::Server));
        assert!(c_bi.can_send(Side::Server) && c_bi.can_receive(Side::Client));
    }

    #[test]
    fn index_round_trips_and_is_bounded() {
        for side in [Side::Client, Side::Server] {
            for dir in Dir::ALL {
                let id = StreamId::new(side, dir, StreamId::MAX_INDEX).expect("max index");
                assert_eq!(id.index(), StreamId::MAX_INDEX);
                assert_eq!((id.initiator(), id.dir()), (side, dir));
                assert!(id.to_varint().into_inner() == id.into_inner());
            }
        }
        assert!(StreamId::new(Side::Client, Dir::Bi, StreamId::MAX_INDEX + 1).is_none());
    }
}
