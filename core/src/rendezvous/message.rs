//! The rendezvous protocol's datagrams.
//!
//! ```text
//! magic      4 bytes   00 'w' 'r' 01     (the first byte has QUIC's fixed bit clear)
//! type       1 byte
//! session   16 bytes   the secret two peers share (from the game's lobby)
//! body                 per type, below
//! ```
//!
//! | type | message    | body                                               | sent by        |
//! |------|------------|----------------------------------------------------|----------------|
//! | 1    | Register   | padding to [`REGISTER_SIZE`]                        | peer → server  |
//! | 2    | Registered | the sender's address as the server saw it           | server → peer  |
//! | 3    | Peer       | the other peer's address, then the receiver's own   | server → peer  |
//! | 4    | Punch      | 8-byte nonce                                        | peer → peer    |
//! | 5    | PunchAck   | the nonce of the Punch it answers                   | peer → peer    |
//! | 6    | Relay      | a datagram for (or from) the other peer             | peer ↔ server  |
//! | 7    | Refused    | 1-byte reason                                       | server → peer  |
//!
//! An address is a family byte (4 or 6), the IP address (4 or 16 bytes) and the port (2
//! bytes, big-endian). A Register is padded so that no answer to it is longer: a server never
//! sends an unregistered address more bytes than it received from it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The first four bytes of every rendezvous datagram. The first byte has the fixed bit (0x40)
/// clear, which no weir or QUIC v1 packet has: one socket carries both, told apart by
/// [`is_rendezvous`].
pub const MAGIC: [u8; 4] = [0x00, b'w', b'r', 0x01];
/// A Register's size: at least as long as the longest answer (a Peer with two IPv6 addresses).
pub const REGISTER_SIZE: usize = HEADER_SIZE + 2 * ADDR_V6_SIZE;
/// Magic, type and session.
pub const HEADER_SIZE: usize = MAGIC.len() + 1 + SESSION_SIZE;
/// A session's size in bytes.
pub const SESSION_SIZE: usize = 16;
const ADDR_V6_SIZE: usize = 1 + 16 + 2;

/// The secret two peers share to find each other (128 random bits from the game's lobby: a
/// stranger cannot guess it, so cannot join or relay into the session).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; SESSION_SIZE]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret: only enough of it to tell sessions apart in logs.
        write!(f, "SessionId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Why a server refused a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedReason {
    /// The session has two peers already.
    SessionFull,
    /// The server holds as many sessions as it is configured for.
    TooManySessions,
}

impl RefusedReason {
    fn code(self) -> u8 {
        match self {
            Self::SessionFull => 1,
            Self::TooManySessions => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::SessionFull),
            2 => Some(Self::TooManySessions),
            _ => None,
        }
    }
}

/// One rendezvous datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// A peer joins (or stays in) a session.
    Register,
    /// The server's answer while the other peer has not registered: the sender's address as
    /// the server saw it (its public address behind a NAT).
    Registered {
        /// The registering peer's address, as seen by the server.
        observed: SocketAddr,
    },
    /// Both peers registered: the other peer's public address.
    Peer {
        /// The other peer's address as the server saw it.
        peer: SocketAddr,
        /// The receiver's own address as the server saw it.
        observed: SocketAddr,
    },
    /// A hole-punching datagram, peer to peer.
    Punch {
        /// Matched by the answer.
        nonce: u64,
    },
    /// The answer to a Punch: the path works both ways.
    PunchAck {
        /// The Punch's nonce.
        nonce: u64,
    },
    /// A datagram relayed through the server when punching failed.
    Relay {
        /// The datagram.
        payload: &'a [u8],
    },
    /// The server refused a registration.
    Refused {
        /// Why.
        reason: RefusedReason,
    },
}

/// A datagram that is not a well-formed rendezvous message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Shorter than its type needs.
    #[error("truncated rendezvous message")]
    Truncated,
    /// Not the rendezvous magic.
    #[error("not a rendezvous message")]
    NotRendezvous,
    /// An unknown message type.
    #[error("unknown rendezvous message type {0}")]
    UnknownType(u8),
    /// An address family other than 4 or 6.
    #[error("unknown address family {0}")]
    AddressFamily(u8),
    /// An unknown refusal reason.
    #[error("unknown refusal reason {0}")]
    Reason(u8),
    /// Bytes after a message that has a fixed size.
    #[error("{0} bytes after the message")]
    Trailing(usize),
}

/// Whether `datagram` is a rendezvous message (as opposed to a weir packet) by its magic.
pub fn is_rendezvous(datagram: &[u8]) -> bool {
    datagram.starts_with(&MAGIC)
}

const REGISTER: u8 = 1;
const REGISTERED: u8 = 2;
const PEER: u8 = 3;
const PUNCH: u8 = 4;
const PUNCH_ACK: u8 = 5;
const RELAY: u8 = 6;
const REFUSED: u8 = 7;

impl Message<'_> {
    /// Appends the message for `session` to `out`.
    pub fn encode(&self, session: &SessionId, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.push(self.kind());
        out.extend_from_slice(&session.0);
        match self {
            Self::Register => out.resize(start + REGISTER_SIZE, 0),
            Self::Registered { observed } => put_addr(out, *observed),
            Self::Peer { peer, observed } => {
                put_addr(out, *peer);
                put_addr(out, *observed);
            }
            Self::Punch { nonce } | Self::PunchAck { nonce } => {
                out.extend_from_slice(&nonce.to_be_bytes());
            }
            Self::Relay { payload } => out.extend_from_slice(payload),
            Self::Refused { reason } => out.push(reason.code()),
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Self::Register => REGISTER,
            Self::Registered { .. } => REGISTERED,
            Self::Peer { .. } => PEER,
            Self::Punch { .. } => PUNCH,
            Self::PunchAck { .. } => PUNCH_ACK,
            Self::Relay { .. } => RELAY,
            Self::Refused { .. } => REFUSED,
        }
    }
}

/// Parses a datagram: its session and message (a Relay borrows its payload from `datagram`).
pub fn decode(datagram: &[u8]) -> Result<(SessionId, Message<'_>), MessageError> {
    if datagram.len() < MAGIC.len() || !is_rendezvous(datagram) {
        return Err(if is_rendezvous_prefix(datagram) {
            MessageError::Truncated
        } else {
            MessageError::NotRendezvous
        });
    }
    let header = datagram.get(..HEADER_SIZE).ok_or(MessageError::Truncated)?;
    let kind = header[MAGIC.len()];
    let mut session = [0u8; SESSION_SIZE];
    session.copy_from_slice(&header[MAGIC.len() + 1..]);
    let session = SessionId(session);
    let mut body = &datagram[HEADER_SIZE..];
    let message = match kind {
        REGISTER => {
            if datagram.len() < REGISTER_SIZE {
                return Err(MessageError::Truncated);
            }
            // The padding is not read: a longer Register only costs its sender.
            body = &[];
            Message::Register
        }
        REGISTERED => Message::Registered {
            observed: take_addr(&mut body)?,
        },
        PEER => Message::Peer {
            peer: take_addr(&mut body)?,
            observed: take_addr(&mut body)?,
        },
        PUNCH => Message::Punch {
            nonce: take_u64(&mut body)?,
        },
        PUNCH_ACK => Message::PunchAck {
            nonce: take_u64(&mut body)?,
        },
        RELAY => {
            let payload = body;
            body = &[];
            Message::Relay { payload }
        }
        REFUSED => {
            let (&code, rest) = body.split_first().ok_or(MessageError::Truncated)?;
            body = rest;
            Message::Refused {
                reason: RefusedReason::from_code(code).ok_or(MessageError::Reason(code))?,
            }
        }
        other => return Err(MessageError::UnknownType(other)),
    };
    if !body.is_empty() {
        return Err(MessageError::Trailing(body.len()));
    }
    Ok((session, message))
}

fn is_rendezvous_prefix(datagram: &[u8]) -> bool {
    !datagram.is_empty() && MAGIC.starts_with(datagram)
}

fn put_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

fn take<'a>(body: &mut &'a [u8], n: usize) -> Result<&'a [u8], MessageError> {
    if body.len() < n {
        return Err(MessageError::Truncated);
    }
    let (head, rest) = body.split_at(n);
    *body = rest;
    Ok(head)
}

fn take_u64(body: &mut &[u8]) -> Result<u64, MessageError> {
    let bytes = take(body, 8)?;
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    Ok(u64::from_be_bytes(array))
}

fn take_addr(body: &mut &[u8]) -> Result<SocketAddr, MessageError> {
    let family = take(body, 1)?[0];
    let ip = match family {
        4 => {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(take(body, 4)?);
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        6 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(take(body, 16)?);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        other => return Err(MessageError::AddressFamily(other)),
    };
    let port = take(body, 2)?;
    Ok(SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]])))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::new(Ipv4Addr::from(ip).into(), port)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::new(Ipv6Addr::from(ip).into(), port)),
        ]
    }

    fn owned() -> impl Strategy<Value = (u8, SocketAddr, SocketAddr, u64, Vec<u8>, bool)> {
        (
            1u8..=7,
            addr(),
            addr(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<bool>(),
        )
    }

    proptest! {
        #[test]
        fn every_message_round_trips(
            (kind, a, b, nonce, payload, full) in owned(),
            session in any::<[u8; 16]>(),
        ) {
            let message = match kind {
                1 => Message::Register,
                2 => Message::Registered { observed: a },
                3 => Message::Peer { peer: a, observed: b },
                4 => Message::Punch { nonce },
                5 => Message::PunchAck { nonce },
                6 => Message::Relay { payload: &payload },
                _ => Message::Refused {
                    reason: if full { RefusedReason::SessionFull } else { RefusedReason::TooManySessions },
                },
            };
            let mut out = Vec::new();
            message.encode(&SessionId(session), &mut out);
            prop_assert!(is_rendezvous(&out));
            let (got_session, got) = decode(&out).expect("decodes");
            prop_assert_eq!(got_session, SessionId(session));
            prop_assert_eq!(got, message.clone());
            // Every answer a server sends fits in a Register.
            if matches!(message, Message::Registered { .. } | Message::Peer { .. } | Message::Refused { .. }) {
                prop_assert!(out.len() <= REGISTER_SIZE);
            }
            // Every cut of a fixed-size message is a typed error.
            if !matches!(message, Message::Relay { .. }) {
                for cut in 0..out.len() {
                    prop_assert!(decode(&out[..cut]).is_err());
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = decode(&data);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&data);
            let _ = decode(&with_magic);
        }
    }

    #[test]
    fn weir_packets_are_not_rendezvous_messages() {
        // A short header (0x40 set) and a long header (0xc0) never start with the magic.
        for first in [0x40u8, 0x41, 0x7f, 0xc0, 0xff] {
            assert!(!is_rendezvous(&[first, b'w', b'r', 1, 0, 0]));
        }
        assert_eq!(decode(&[0x00, b'w']), Err(MessageError::Truncated));
        assert_eq!(decode(&[0x40; 40]), Err(MessageError::NotRendezvous));
    }
}
