//! Whether and how an endpoint uses the TCP transport.

use std::net::SocketAddr;
use std::time::Duration;

use super::config::{TcpConfig, TcpConfigError};

/// Which transport carries a connection's datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams (the default, and what a game wants: no head-of-line blocking).
    Udp,
    /// Length-prefixed records on a TCP stream (for networks that drop UDP).
    Tcp,
}

/// The TCP transport of an endpoint ([`Config::tcp`](crate::Config::tcp); see
/// [`crate::tcp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTransport {
    /// The tuning of every TCP socket (nodelay, keep-alive, 2 × BDP buffers, congestion
    /// control).
    pub socket: TcpConfig,
    /// A server listens for TCP links: on `listen_addr`, or on the UDP socket's address (the
    /// same port number) when that is `None`. Ignored by an endpoint without a server role.
    pub listen: bool,
    /// Where a server listens for TCP, instead of the UDP socket's address. A listener here
    /// that cannot be set up fails `bind`; on the UDP socket's port number, a port taken on
    /// TCP only leaves the endpoint without the fallback (logged).
    pub listen_addr: Option<SocketAddr>,
    /// A client whose handshake has not completed this long after `connect` opens a TCP link
    /// to the server's address and sends over it from then on; `None` never falls back.
    /// `Duration::ZERO` uses TCP from the first packet.
    pub fallback_after: Option<Duration>,
    /// Links the endpoint holds at most (opened and accepted); connections beyond it are
    /// refused (accepted streams are closed at once).
    pub max_links: usize,
    /// Bytes of records waiting for one link's stream at most; records beyond it are dropped.
    pub max_buffered: usize,
    /// A client connection moves to TCP when its strategy recommends it (weir's policy does
    /// when UDP loses more than 30 % of its packets without a standing queue: a network that
    /// drops or throttles UDP). It does not move back on its own — over TCP the loss UDP
    /// suffered cannot be measured — the application can, with
    /// [`Connection::set_transport`](crate::Connection::set_transport).
    pub follow_recommendation: bool,
    /// A link that has carried no record for this long closes (a stranger's silent stream must
    /// not hold a slot for good); the default matches a connection's idle timeout.
    pub idle_timeout: Duration,
}

impl Default for TcpTransport {
    /// Servers listen on their UDP port number; a client falls back after 2 s — long enough
    /// for a UDP handshake to survive a lost first flight on a slow mobile link (its first
    /// retransmission is due after about 1 s), short enough that a player on a network that
    /// drops UDP is not left waiting.
    fn default() -> Self {
        Self {
            socket: TcpConfig::default(),
            listen: true,
            listen_addr: None,
            fallback_after: Some(Duration::from_secs(2)),
            // With a record's worth of reassembly each, 64 MiB at most for strangers' streams.
            max_links: 1024,
            max_buffered: 1 << 20,
            follow_recommendation: true,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl TcpTransport {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), TcpConfigError> {
        self.socket.validate()?;
        if self.max_links == 0 {
            return Err(TcpConfigError::Zero("max_links"));
        }
        if self.idle_timeout.is_zero() {
            return Err(TcpConfigError::Zero("idle_timeout"));
        }
        // A link must hold at least one whole record of the largest datagram.
        if self.max_buffered < weir_core::records::MAX_RECORD + weir_core::records::LENGTH_SIZE {
            return Err(TcpConfigError::BufferTooSmall(self.max_buffered));
        }
        Ok(())
    }
}
