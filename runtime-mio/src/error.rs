//! The typed errors of the mio adapter.

use std::io;
use std::net::SocketAddr;

use weir_core::config::ConfigError;

/// A socket configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketConfigError {
    /// A buffer size, a rate or an RTT of zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// The buffer floor is above its ceiling.
    #[error("min_buffer ({min} B) is above max_buffer ({max} B)")]
    BufferBounds {
        /// The floor.
        min: usize,
        /// The ceiling.
        max: usize,
    },
    /// `only_v6` asked of an IPv4 address.
    #[error("only_v6 is set but {0} is an IPv4 address")]
    OnlyV6OnIpv4(SocketAddr),
}

/// Why [`Endpoint::bind`](crate::Endpoint::bind) failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The weir configuration (endpoint, server or client transport) is invalid.
    #[error("invalid weir configuration: {0}")]
    Config(#[from] ConfigError),
    /// The socket configuration is invalid.
    #[error("invalid socket configuration: {0}")]
    Socket(#[from] SocketConfigError),
    /// The endpoint's security is `InsecureIntegrityOnly` and
    /// [`Config::allow_insecure`](crate::Config::allow_insecure) is not set.
    #[error(
        "refusing the integrity-only protection (no encryption, no authentication): set \
         Config::allow_insecure to ask for it, or configure TLS"
    )]
    InsecureRefused,
    /// The operating system could not provide the randomness that seeds the endpoint
    /// (`Seed::FromOs`).
    #[error("cannot draw the endpoint's seed from the operating system: {0}")]
    Entropy(getrandom::Error),
    /// The operating system refused a socket operation.
    #[error("cannot {op} a UDP socket on {addr}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// Why [`Endpoint::connect`](crate::Endpoint::connect) failed at once. A handshake that fails
/// later is reported as the connection's `Event::Closed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The core refused to start the connection (too many connections, bad transport config,
    /// no TLS client configuration).
    #[error(transparent)]
    Refused(#[from] weir_core::endpoint::ConnectError),
    /// The socket cannot reach an address of that family (an IPv6 address from an IPv4
    /// socket, or an IPv4 address from an IPv6-only socket).
    #[error("cannot reach {remote} from the socket bound to {local} (address family mismatch)")]
    AddressFamily {
        /// The address asked for.
        remote: SocketAddr,
        /// The endpoint's socket address.
        local: SocketAddr,
    },
    /// [`close_all`](crate::Endpoint::close_all) was called: the endpoint is shutting down.
    #[error("the endpoint is shutting down")]
    ShuttingDown,
}
