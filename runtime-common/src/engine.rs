//! The protocol engine an endpoint drives: weir's core, or quinn-proto for the QUIC path.
//!
//! Both are sans-IO state machines with the same driving surface (datagrams and the timer in;
//! transmits, a deadline and events out), so one driver task and one set of application
//! objects serve both. The application objects reach a connection through [`ConnMut`], whose
//! operations carry weir's types either way.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use weir_core::connection::{Connection as WeirConnection, ConnectionStats, Datagram, Event};
use weir_core::endpoint::{ConnectionHandle, Endpoint as WeirEndpoint, EndpointStats};
use weir_core::streams::{ClosedStream, OpenError, ReadError, WriteError};
use weir_core::wire::VarInt;
use weir_core::{Dir, StreamId};
use weir_core::{EcnCodepoint, Transmit};

use crate::error::{ConnectError, SendDatagramError};
use crate::quic::{QuicConn, QuicEndpoint};

/// The engine behind an endpoint.
pub(crate) enum Engine {
    /// weir's own protocol.
    Weir(Box<WeirEndpoint>),
    /// Standard QUIC through quinn-proto.
    Quic(Box<QuicEndpoint>),
}

impl Engine {
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        match self {
            Self::Weir(e) => e.handle_datagram(now, from, ecn, data),
            Self::Quic(e) => e.handle_datagram(now, from, ecn, data),
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match self {
            Self::Weir(e) => e.handle_timeout(now),
            Self::Quic(e) => e.handle_timeout(now),
        }
    }

    /// The next datagram, or GSO batch of at most `max_datagrams`, appended to `buf`.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        match self {
            Self::Weir(e) => e.poll_transmit(now, max_datagrams, buf),
            Self::Quic(e) => e.poll_transmit(now, max_datagrams, buf),
        }
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Self::Weir(e) => e.poll_timeout(),
            Self::Quic(e) => e.poll_timeout(),
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        match self {
            Self::Weir(e) => e.poll_event(),
            Self::Quic(e) => e.poll_event(),
        }
    }

    pub(crate) fn connection(&mut self, handle: ConnectionHandle) -> Option<ConnMut<'_>> {
        match self {
            Self::Weir(e) => e.connection(handle).map(ConnMut::Weir),
            Self::Quic(e) => e.connection(handle).map(ConnMut::Quic),
        }
    }

    /// The driver now carries client connection `handle`'s datagrams another way (another
    /// transport): it moves to a spare connection ID and probes at once where it can (a
    /// confirmed handshake, a spare ID), and otherwise only probes. Nothing on the QUIC path.
    pub(crate) fn path_moved(&mut self, now: Instant, handle: ConnectionHandle) {
        let Self::Weir(endpoint) = self else {
            return;
        };
        let moved = endpoint.local_path_changed(
            now,
            handle,
            weir_core::connection::LocalPathChange::Network,
        );
        if !matches!(moved, Ok(true))
            && let Some(conn) = endpoint.connection(handle)
        {
            conn.probe_now(now);
        }
    }

    /// A weir connection (lanes are weir's alone); `None` on the QUIC path.
    pub(crate) fn weir_connection(
        &mut self,
        handle: ConnectionHandle,
    ) -> Option<&mut WeirConnection> {
        match self {
            Self::Weir(e) => e.connection(handle),
            Self::Quic(_) => None,
        }
    }

    /// Whether a server takes new connections (new clients are refused when it does not).
    pub(crate) fn set_accepting(&mut self, accepting: bool) {
        match self {
            Self::Weir(e) => e.set_accepting(accepting),
            Self::Quic(e) => e.set_accepting(accepting),
        }
    }

    /// Closes every connection, those still in their handshake included (the core's
    /// `close_all`; the QUIC engine's equivalent).
    pub(crate) fn close_all(&mut self, now: Instant, code: VarInt, reason: &[u8]) {
        match self {
            Self::Weir(e) => e.close_all(now, code, reason),
            Self::Quic(e) => e.close_all(now, code, reason),
        }
    }

    pub(crate) fn is_quic(&self) -> bool {
        matches!(self, Self::Quic(_))
    }

    pub(crate) fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        tls: Option<weir_core::crypto::ClientTls>,
    ) -> Result<ConnectionHandle, ConnectError> {
        match self {
            Self::Weir(e) => Ok(match tls {
                Some(tls) => e.connect_tls(now, remote, tls)?,
                None => e.connect(now, remote)?,
            }),
            Self::Quic(e) => e.connect(now, remote, tls.as_ref()),
        }
    }

    pub(crate) fn connection_count(&self) -> usize {
        match self {
            Self::Weir(e) => e.connection_count(),
            Self::Quic(e) => e.connection_count(),
        }
    }

    pub(crate) fn handshakes_in_progress(&self) -> usize {
        match self {
            Self::Weir(e) => e.handshakes_in_progress(),
            Self::Quic(e) => e.handshakes_in_progress(),
        }
    }

    /// weir's endpoint counters; zeros on the QUIC path (quinn-proto keeps none).
    pub(crate) fn stats(&self) -> EndpointStats {
        match self {
            Self::Weir(e) => e.stats(),
            Self::Quic(_) => EndpointStats::default(),
        }
    }
}

/// One connection of either engine.
pub(crate) enum ConnMut<'a> {
    Weir(&'a mut WeirConnection),
    Quic(QuicConn<'a>),
}

impl ConnMut<'_> {
    pub(crate) fn remote_address(&self) -> SocketAddr {
        match self {
            Self::Weir(c) => c.remote_address(),
            Self::Quic(c) => c.remote_address(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Self::Weir(c) => c.is_closed(),
            Self::Quic(c) => c.is_closed(),
        }
    }

    pub(crate) fn stats(&self) -> ConnectionStats {
        match self {
            Self::Weir(c) => c.stats(),
            Self::Quic(c) => c.stats(),
        }
    }

    pub(crate) fn open(&mut self, dir: Dir, priority: i32) -> Result<StreamId, OpenError> {
        match (self, dir) {
            (Self::Weir(c), Dir::Bi) => c.open_bi(priority),
            (Self::Weir(c), Dir::Uni) => c.open_uni(priority),
            (Self::Quic(c), dir) => c.open(dir, priority),
        }
    }

    pub(crate) fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        match (self, dir) {
            (Self::Weir(c), Dir::Bi) => c.accept_bi(),
            (Self::Weir(c), Dir::Uni) => c.accept_uni(),
            (Self::Quic(c), dir) => c.accept(dir),
        }
    }

    pub(crate) fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        match self {
            Self::Weir(c) => c.write(id, data),
            Self::Quic(c) => c.write(id, data),
        }
    }

    pub(crate) fn write_chunk(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        match self {
            Self::Weir(c) => c.write_chunk(id, data),
            Self::Quic(c) => c.write_chunk(id, data),
        }
    }

    pub(crate) fn finish(&mut self, id: StreamId) -> Result<(), ClosedStream> {
        match self {
            Self::Weir(c) => c.finish(id),
            Self::Quic(c) => c.finish(id),
        }
    }

    /// The code of the peer's STOP_SENDING on `id`, if it stopped the stream.
    pub(crate) fn stopped(&mut self, id: StreamId) -> Option<VarInt> {
        match self {
            Self::Weir(c) => c.stopped(id),
            Self::Quic(c) => c.stopped(id),
        }
    }

    pub(crate) fn reset(&mut self, id: StreamId, code: VarInt) -> Result<(), ClosedStream> {
        match self {
            Self::Weir(c) => c.reset(id, code),
            Self::Quic(c) => c.reset(id, code),
        }
    }

    pub(crate) fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), ClosedStream> {
        match self {
            Self::Weir(c) => c.set_priority(id, priority),
            Self::Quic(c) => c.set_priority(id, priority),
        }
    }

    pub(crate) fn read(
        &mut self,
        now: Instant,
        id: StreamId,
        max: usize,
    ) -> Result<Option<Bytes>, ReadError> {
        match self {
            Self::Weir(c) => c.read(now, id, max),
            Self::Quic(c) => c.read(id, max),
        }
    }

    pub(crate) fn stop(&mut self, id: StreamId, code: VarInt) -> Result<(), ClosedStream> {
        match self {
            Self::Weir(c) => c.stop(id, code),
            Self::Quic(c) => c.stop(id, code),
        }
    }

    pub(crate) fn max_datagram_size(&mut self) -> Result<usize, SendDatagramError> {
        match self {
            Self::Weir(c) => c.max_datagram_size().map_err(SendDatagramError::Rejected),
            Self::Quic(c) => c.max_datagram_size(),
        }
    }

    pub(crate) fn send_datagram(
        &mut self,
        now: Instant,
        channel: u64,
        data: Bytes,
        ttl: Option<Duration>,
    ) -> Result<(), SendDatagramError> {
        match self {
            Self::Weir(c) => c
                .send_datagram(now, channel, data, ttl)
                .map_err(SendDatagramError::Rejected),
            Self::Quic(c) => c.send_datagram(channel, data, ttl),
        }
    }

    pub(crate) fn recv_datagram(&mut self, now: Instant) -> Option<Datagram> {
        match self {
            Self::Weir(c) => c.recv_datagram(now),
            Self::Quic(c) => c.recv_datagram(),
        }
    }

    pub(crate) fn close(&mut self, now: Instant, code: VarInt, reason: &[u8]) {
        match self {
            Self::Weir(c) => c.close(now, code, reason),
            Self::Quic(c) => c.close(now, code, reason),
        }
    }
}
