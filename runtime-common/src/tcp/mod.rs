//! The TCP transport: weir's datagrams carried as length-prefixed records
//! ([`weir_core::records`]) over TCP streams, for networks that drop UDP.
//!
//! The core does not know TCP exists. Each TCP stream is a *link* the driver owns beside its UDP
//! socket, and a link stands for one peer address:
//!
//! - on a **client**, a link to a server replaces UDP for every datagram the core sends to that
//!   server's address (the stream goes to the same IP address and port number over TCP). The
//!   driver opens one when a handshake has not completed within
//!   [`TcpTransport::fallback_after`] (UDP goes first, TCP after a delay, as Happy Eyeballs
//!   races address families), or when the application switches a connection's transport
//!   ([`Connection::set_transport`](crate::Connection::set_transport)). Datagrams that arrive
//!   over either transport reach the core alike.
//! - on a **server** ([`TcpTransport::listen`]), each accepted stream is a link for the peer
//!   address TCP reports; the core sees that address as the client's, so a client that moves
//!   from UDP to TCP or back looks to the server like a NAT rebinding, and the server follows it
//!   with the connection migration it already does (validating the new path), losing nothing.
//!
//! Every link is bounded: records waiting for the stream beyond
//! [`TcpTransport::max_buffered`] bytes are dropped (the protocol's loss recovery resends what
//! they carried, and its congestion control slows down, as for a full UDP socket), a record
//! longer than the largest UDP payload breaks the stream, and an endpoint holds at most
//! [`TcpTransport::max_links`] links.

mod config;
pub(crate) mod links;
mod transport;

pub use config::{
    TcpConfig, TcpConfigError, TcpSettings, available_congestion_controls, read_settings,
};
pub(crate) use links::TcpLinks;
pub use links::TcpStats;
pub use transport::{TcpTransport, Transport};
