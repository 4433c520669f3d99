//! The errors of the async API. Every one is typed; the `AsyncRead`/`AsyncWrite` impls wrap
//! them in [`std::io::Error`] (recover them with [`std::io::Error::get_ref`] and `downcast_ref`).

use std::io;
use std::net::SocketAddr;

use weir_core::config::ConfigError;
use weir_core::connection::ConnectionError;
use weir_core::wire::VarInt;

/// Why a connection can no longer carry data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionLost {
    /// The connection closed: by either application, by a protocol error, or by its idle
    /// timeout ([`ConnectionError::TimedOut`]) when the peer vanished.
    #[error(transparent)]
    Closed(#[from] ConnectionError),
    /// The endpoint's driver stopped (the endpoint was shut down, its runtime dropped, or its
    /// task aborted) before the connection closed.
    #[error("the endpoint driving this connection stopped")]
    EndpointStopped,
}

/// Why [`Endpoint::connect`](crate::Endpoint::connect) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The core refused to start the connection (too many connections, bad transport config).
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
    /// The endpoint is shutting down or its driver stopped.
    #[error("the endpoint is closed")]
    EndpointClosed,
    /// The handshake did not complete.
    #[error("the handshake failed: {0}")]
    Handshake(ConnectionLost),
    /// A QUIC endpoint without a client configuration
    /// ([`QuicConfig::client`](crate::QuicConfig::client)) cannot connect.
    #[error("this QUIC endpoint has no client configuration")]
    NoQuicClient,
    /// quinn-proto refused to start the QUIC connection (bad address, transport parameters,
    /// no connection IDs left).
    #[error(transparent)]
    QuicRefused(quinn_proto::ConnectError),
    /// The TLS trust given to `connect_tls` cannot protect QUIC packets (its crypto provider
    /// lacks TLS_AES_128_GCM_SHA256, which QUIC's Initial packets use).
    #[error("the TLS client configuration cannot protect QUIC packets")]
    QuicUnsuitableTls,
}

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The peer asked us to stop sending (STOP_SENDING) with this application error code.
    #[error("the peer stopped the stream with error code {0}")]
    Stopped(VarInt),
    /// The connection is gone.
    #[error(transparent)]
    ConnectionLost(#[from] ConnectionLost),
    /// The stream was finished or reset already.
    #[error("the stream is finished or reset")]
    ClosedStream,
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The peer abandoned the stream (RESET_STREAM) with this application error code.
    #[error("the peer reset the stream with error code {0}")]
    Reset(VarInt),
    /// The connection is gone.
    #[error(transparent)]
    ConnectionLost(#[from] ConnectionLost),
    /// The stream was stopped by us, or its state is gone.
    #[error("the stream is stopped or unknown")]
    ClosedStream,
}

/// Why a lane could not be set up or a message not sent on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaneSendError {
    /// The core refused the message (too large, beyond the peer's lanes, not connected).
    #[error(transparent)]
    Rejected(weir_core::lanes::SendMessageError),
    /// The lane configuration is invalid, or changes the mode of a lane in use.
    #[error(transparent)]
    Config(weir_core::lanes::LaneError),
    /// The connection is gone.
    #[error(transparent)]
    ConnectionLost(#[from] ConnectionLost),
    /// Lanes are weir's own; a QUIC connection has none.
    #[error("lanes are weir's own: a QUIC connection has none")]
    NotOnQuic,
}

/// Why an unreliable message was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendDatagramError {
    /// The core rejected the message (too large, unsupported by the peer, bad channel).
    #[error(transparent)]
    Rejected(weir_core::connection::SendDatagramError),
    /// The connection is gone.
    #[error(transparent)]
    ConnectionLost(#[from] ConnectionLost),
    /// What was asked has no QUIC equivalent.
    #[error(transparent)]
    NotOnQuic(#[from] UnsupportedOnQuic),
}

/// What weir's unreliable messages have and QUIC's DATAGRAM frames (RFC 9221) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsupportedOnQuic {
    /// QUIC datagrams have no channels: only channel 0.
    #[error("QUIC datagrams have no channels (only channel 0)")]
    Channels,
    /// QUIC datagrams carry no time-to-live.
    #[error("QUIC datagrams carry no time-to-live")]
    TimeToLive,
    /// This endpoint's QUIC transport configuration disables DATAGRAM frames.
    #[error("DATAGRAM frames are disabled by the QUIC transport configuration")]
    DatagramsDisabled,
}

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
    /// Zero shards asked of [`Endpoint::bind_shards`](crate::Endpoint::bind_shards).
    #[error("at least one shard is needed")]
    NoShards,
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
    /// The TCP transport's configuration is invalid, or its listener could not be set up.
    #[error("TCP transport: {0}")]
    Tcp(#[from] crate::tcp::TcpConfigError),
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

impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> Self {
        let kind = match &e {
            WriteError::Stopped(_) => io::ErrorKind::BrokenPipe,
            WriteError::ConnectionLost(_) => io::ErrorKind::ConnectionAborted,
            WriteError::ClosedStream => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        let kind = match &e {
            ReadError::Reset(_) => io::ErrorKind::ConnectionReset,
            ReadError::ConnectionLost(_) => io::ErrorKind::ConnectionAborted,
            ReadError::ClosedStream => io::ErrorKind::NotConnected,
        };
        io::Error::new(kind, e)
    }
}
